"""``cassette()`` / ``vcr_config()``: record modes, the header comment, placeholder credentials in replay,
compressed answers, and a replay that never touches the network."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import vcr  # type: ignore[import-untyped]

from visualsearch_sdk import VisualSearch
from visualsearch_sdk._exceptions import ConfigurationError
from visualsearch_sdk._serve import LoopbackServer
from visualsearch_sdk.local.app import LocalApp
from visualsearch_sdk.testing import cassette, make_vcr, record_mode, register, vcr_config
from visualsearch_sdk.testing.cassettes import REPLAY_CREDENTIALS, cassette_path, read_header, safe_name

TOKEN = "unit-local-token-0042"


@pytest.fixture
def served() -> Iterator[str]:
    """A local engine on loopback with a bearer token; yields its provider URL."""
    app = LocalApp(None, token=TOKEN)
    with LoopbackServer(app) as server:
        yield f"local://:{TOKEN}@127.0.0.1:{server.port}"
    app.close()


def test_record_mode_defaults_to_none_and_reads_the_environment() -> None:
    assert record_mode({}) == "none"
    assert record_mode({"VISUALSEARCH_RECORD": " ONCE "}) == "once"
    assert record_mode({"VISUALSEARCH_RECORD": "all"}, given="new_episodes") == "new_episodes"
    with pytest.raises(ConfigurationError, match="none, once, new_episodes, all"):
        record_mode({"VISUALSEARCH_RECORD": "yes"})


def test_vcr_config_is_complete_for_a_registered_vcr(tmp_path: Path) -> None:
    config = vcr_config("ximilar", environ={})
    assert config["record_mode"] == "none"
    assert config["decode_compressed_response"] is True
    instance = register(vcr.VCR(**config))
    assert set(config["match_on"]) <= set(instance.matchers)
    assert config["serializer"] in instance.serializers
    assert make_vcr("alibaba", environ={"VISUALSEARCH_RECORD": "once"}).record_mode == "once"


def test_names_and_paths() -> None:
    assert cassette_path("ximilar/search", "tests/cassettes") == Path("tests/cassettes/ximilar/search.yaml")
    assert cassette_path("/abs/x.yml", "ignored") == Path("/abs/x.yml")
    assert safe_name("test_x[sync-ximilar fake]") == "test_x-sync-ximilar-fake"


def test_record_then_replay_offline_with_a_header(
    tmp_path: Path, served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "local" / "count.yaml"
    with cassette(path, provider="local", record_mode="once", environ={}) as tape:
        assert tape.recording and tape.environ == {}
        with VisualSearch(served) as vs:
            vs.index([{"id": "a", "image": _jpeg()}])
            recorded = vs.count()
    header = read_header(path)
    assert header is not None and header.startswith(
        "visualsearch_sdk cassette: local traffic recorded against"
    )
    assert "a server on loopback" in header and "http://127.0.0.1:8765" in header
    assert TOKEN not in path.read_text(encoding="utf-8")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the replay opened a socket")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    with cassette(path, provider="local", environ={"VISUALSEARCH_LOCAL_TOKEN": "a-real-one"}) as tape:
        assert not tape.recording
        assert (
            tape.environ["VISUALSEARCH_LOCAL_TOKEN"]
            == REPLAY_CREDENTIALS["local"]["VISUALSEARCH_LOCAL_TOKEN"]
        )
        with tape.client("local://127.0.0.1:8765") as vs:
            vs.index([{"id": "a", "image": _jpeg()}])
            assert vs.count() == recorded == 1
        assert tape.all_played


def test_a_header_is_kept_when_new_episodes_are_added(tmp_path: Path, served: str) -> None:
    path = tmp_path / "c.yaml"
    with (
        cassette(path, record_mode="once", header="Hand-made header\nsecond line", environ={}),
        VisualSearch(served) as vs,
    ):
        vs.count()
    assert path.read_text(encoding="utf-8").startswith("# Hand-made header\n# second line\ninteractions:")
    with cassette(path, record_mode="new_episodes", environ={}) as tape:
        with VisualSearch(served) as vs:
            vs.count()
            vs.index([{"id": "b", "image": _jpeg()}])
        assert tape.recording
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Hand-made header\n# second line\n")
    assert text.count("- request:") == 2


def test_replay_of_a_missing_cassette_refuses_every_request(tmp_path: Path) -> None:
    with (
        cassette(tmp_path / "absent.yaml", environ={}) as tape,
        tape.client("local://127.0.0.1:8765") as vs,
        pytest.raises(vcr.errors.CannotOverwriteExistingCassetteException),
    ):
        vs.count()
    assert not (tmp_path / "absent.yaml").exists()


def test_placeholders_per_provider_only_when_replaying(tmp_path: Path) -> None:
    with cassette(tmp_path / "x.yaml", provider="alibaba", environ={"HOME": "/h"}) as tape:
        assert tape.environ == {"HOME": "/h", **REPLAY_CREDENTIALS["alibaba"]}
    with cassette(tmp_path / "y.yaml", environ={}) as tape:  # no provider: every provider's placeholders
        assert set(tape.placeholders) == {k for creds in REPLAY_CREDENTIALS.values() for k in creds}
    with cassette(tmp_path / "z.yaml", provider="alibaba", record_mode="all", environ={"A": "1"}) as tape:
        assert tape.environ == {"A": "1"}


def test_a_gzipped_answer_is_decoded_before_it_is_scrubbed() -> None:
    secret = "gzip-echoed-token-123"
    hooks = make_vcr("ximilar", secrets=[secret], environ={}).get_merged_config(path="unused.yaml")
    body = gzip.compress(json.dumps({"echo": f"Token {secret}"}).encode())
    response = hooks["before_record_response"](
        {
            "status": {"code": 200, "message": "OK"},
            "headers": {"content-encoding": ["gzip"], "content-type": ["application/json"]},
            "body": {"string": body},
        }
    )
    assert json.loads(response["body"]["string"]) == {"echo": "Token REDACTED"}
    assert "content-encoding" not in response["headers"]


def _jpeg() -> bytes:
    from tests.conftest import jpeg, solid

    return jpeg(solid((120, 40, 200), (120, 120)))
