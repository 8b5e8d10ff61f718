"""The leak guard finds credentials however a cassette holds them, and leaves placeholders alone."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml  # type: ignore[import-untyped]

from visualsearch_sdk.testing import Leak, assert_no_leaks, find_leaks

HEX_SIG = "ab" * 32


def cassette(
    tmp_path: Path,
    *,
    headers: dict[str, str] | None = None,
    uri: str = "https://api.example.test/x",
    body: Any = "",
    response: Any = '{"ok": true}',
    content_type: str = "application/json",
    comment: str = "",
) -> Path:
    data = {
        "interactions": [
            {
                "request": {
                    "method": "POST",
                    "uri": uri,
                    "body": body,
                    "headers": {k: [v] for k, v in {"content-type": content_type, **(headers or {})}.items()},
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {"content-type": ["application/json"]},
                    "body": {"string": response},
                },
            }
        ],
        "version": 1,
    }
    path = tmp_path / "c.yaml"
    path.write_text(comment + yaml.safe_dump(data), encoding="utf-8")
    return path


def kinds(leaks: list[Leak]) -> set[str]:
    return {leak.kind for leak in leaks}


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("Basic " + base64.b64encode(b"access:secret-key").decode(), "Basic credential"),
        ("Token 1af538baa90abcdef", "Token/JWT/Bearer token"),
        ("Bearer local-bearer-123", "Token/JWT/Bearer token"),
        ("VSHMAC pub:c2lnbmF0dXJlLW9mLWEtdmVyeQ==", "VSHMAC signature"),
        (
            f"ACS3-HMAC-SHA256 Credential=LTAI5tAbCdEfGh12,SignedHeaders=host,Signature={HEX_SIG}",
            "ACS3 signature",
        ),
        ("acs LTAI5tAbCdEfGh12:c2lnbmF0dXJlLW9mLWEtdmVyeQ==", "ACS (ROA) signature"),
    ],
)
def test_authorization_shapes_are_found(tmp_path: Path, value: str, kind: str) -> None:
    found = find_leaks(cassette(tmp_path, headers={"authorization": value}), environ={})
    assert kind in kinds(found)
    assert "credential header" in kinds(found)  # and the field check: it is not a placeholder


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("key LTAI5tAbCdEfGh1234XYZ in a message", "Alibaba AccessKey id"),
        ("token STS.NUgYrLnoC37mZZCNnAbCdEfG", "Alibaba STS token"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2ln", "JSON web token"),
        (f'"Signature": "{HEX_SIG}"', "hex signature"),
        ("Signature=Zm9vYmFyYmF6cXV4cXV1eHF1dXo%3D&x=1", "base64 signature"),
    ],
)
def test_value_shapes_are_found_anywhere(tmp_path: Path, text: str, kind: str) -> None:
    assert kind in kinds(find_leaks(cassette(tmp_path, response=text, content_type="text/plain"), environ={}))


def test_placeholders_pass(tmp_path: Path) -> None:
    path = cassette(
        tmp_path,
        headers={"authorization": "ACS3-HMAC-SHA256 REDACTED", "x-acs-security-token": "REDACTED"},
        uri="https://h/?AccessKeyId=REDACTED&Signature=REDACTED&SignatureNonce=abc",
        body="AccessKeyId=REDACTED&PicContent=sha256:" + "0" * 64,
        content_type="application/x-www-form-urlencoded",
        response=json.dumps({"Signature": "REDACTED", "token": "REDACTED", "note": "Token REDACTED"}),
        comment="# Authorization: Basic REDACTED in the header comment is fine\n",
    )
    assert find_leaks(path, environ={}) == []


def test_credential_named_fields_must_hold_the_placeholder(tmp_path: Path) -> None:
    path = cassette(
        tmp_path,
        headers={"x-api-key": "k"},  # too short for any pattern: only the field check sees it
        uri="https://h/?access_key=abc",
        body=json.dumps({"password": "p"}),
    )
    assert kinds(find_leaks(path, environ={})) >= {
        "credential header",
        "credential query parameter",
        "credential JSON field",
    }


def test_known_secrets_are_found_encoded_in_any_way(tmp_path: Path) -> None:
    secret = "my-very-own-token/42+x"
    encoded_body = base64.b64encode(json.dumps({"note": f"is {secret}"}).encode()).decode()
    for body in (secret, quote(secret, safe=""), encoded_body, secret.encode()):
        found = find_leaks(
            cassette(tmp_path, body=body, content_type="text/plain"), secrets=[secret], environ={}
        )
        assert "a credential used to record" in kinds(found), body


def test_a_header_comment_is_checked_too(tmp_path: Path) -> None:
    path = cassette(tmp_path, comment="# recorded with token my-very-own-token\n")
    assert kinds(find_leaks(path, secrets=["my-very-own-token"], environ={})) == {
        "a credential used to record"
    }


def test_credential_variables_of_the_environment_are_secrets(tmp_path: Path) -> None:
    path = cassette(
        tmp_path, body="hello env-token-value-1 and https://api.ximilar.com", content_type="text/plain"
    )
    environ = {
        "VISUALSEARCH_XIMILAR_TOKEN": "env-token-value-1",
        "VISUALSEARCH_URL": "https://api.ximilar.com",
    }
    found = find_leaks(path, environ=environ)
    assert kinds(found) == {"a credential used to record"}
    assert find_leaks(path, environ={"VISUALSEARCH_URL": "https://api.ximilar.com"}) == []  # no credential


def test_a_leak_never_prints_the_secret(tmp_path: Path) -> None:
    secret = "do-not-print-me-please"
    path = cassette(tmp_path, body=secret, content_type="text/plain")
    (leak, *_) = find_leaks(path, secrets=[secret], environ={})
    assert secret not in str(leak)
    with pytest.raises(AssertionError) as caught:
        assert_no_leaks([path], secrets=[secret], environ={})
    assert secret not in str(caught.value)


def test_an_unreadable_cassette_is_a_finding(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("interactions: [\n", encoding="utf-8")
    assert kinds(find_leaks(path, environ={})) == {"unreadable YAML (cannot be checked)"}
