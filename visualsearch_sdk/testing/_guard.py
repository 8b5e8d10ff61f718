"""The leak guard: does a cassette hold a credential, or anything shaped like one?

A cassette is read the way an attacker would: the raw file, every string of the parsed YAML (``!!binary``
bodies decoded), each of those URL-decoded, and every base64 run in them decoded. In all of that it looks for
the exact secrets it is given (the credentials used to record, the ``VISUALSEARCH_*`` credential variables of
the environment) and for the shapes of vendor credentials: Basic credentials, Token/JWT/Bearer tokens,
JWTs, VSHMAC and ACS signatures, Alibaba AccessKey ids and STS tokens, hex and base64 signatures. It also
checks, field by field, that every header, query, form and JSON field named like a credential holds the
placeholder.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote_plus, urlsplit

from visualsearch_sdk.testing._bodies import media_type
from visualsearch_sdk.testing._rules import PLACEHOLDER, SECRET_PARAMS, is_secret_header, is_secret_param

__all__ = ["PATTERNS", "Leak", "assert_no_leaks", "env_secrets", "find_leaks"]

_P = PLACEHOLDER
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Basic credential", re.compile(rf"\bBasic\s+(?!{_P}\b)[A-Za-z0-9+/]{{6,}}={{0,2}}")),
    ("Token/JWT/Bearer token", re.compile(rf"\b(?:Token|JWT|Bearer)\s+(?!{_P}\b)[A-Za-z0-9._~+/=-]{{8,}}")),
    ("JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}")),
    ("VSHMAC signature", re.compile(rf"\bVSHMAC\s+(?!{_P}\b)\S+")),
    ("ACS3 signature", re.compile(rf"\bACS3-HMAC-SHA256\s+(?!{_P}\b)\S+")),
    ("ACS (ROA) signature", re.compile(r"\bacs\s+[A-Za-z0-9._-]+:[A-Za-z0-9+/]{20,}={0,2}")),
    ("Alibaba AccessKey id", re.compile(r"\bLTAI[0-9A-Za-z]{12,30}\b")),
    ("Alibaba STS token", re.compile(r"\bSTS\.[0-9A-Za-z]{12,}")),
    ("hex signature", re.compile(rf"(?i)signature[\"'\s]*[=:]\s*[\"']?(?!{_P})[0-9a-f]{{40,64}}\b")),
    ("base64 signature", re.compile(rf"(?i)signature[\"'\s]*[=:]\s*[\"']?(?!{_P})[A-Za-z0-9+/%]{{26,}}")),
)
"""Shapes of credentials (name, pattern); the placeholder never matches them."""

_SECRET_ENV = re.compile(r"(TOKEN|SECRET|KEY|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")


@dataclass(frozen=True)
class Leak:
    """One finding: the file, where in it, what kind, and a masked excerpt (never the secret itself)."""

    file: str
    where: str
    kind: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.file}: {self.kind} at {self.where}: {self.excerpt}"


def env_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of ``VISUALSEARCH_*`` variables whose name says credential (token, secret, key, password)."""
    environ = os.environ if environ is None else environ
    return [
        value
        for key, value in environ.items()
        if key.upper().startswith("VISUALSEARCH_") and _SECRET_ENV.search(key[13:]) and len(value) >= 6
    ]


def _mask(text: str) -> str:
    return (text[:4] + "…") if len(text) > 4 else "…"


def _decoded_runs(text: str) -> Iterator[str]:
    for run in _BASE64_RUN.findall(text):
        altchars = b"-_" if ("-" in run or "_" in run) else None
        try:
            raw = base64.b64decode(run + "=" * (-len(run) % 4), altchars=altchars)
        except (binascii.Error, ValueError):
            continue
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if decoded and sum(c.isprintable() for c in decoded) >= 0.9 * len(decoded):
            yield decoded


def _views(text: str) -> list[str]:
    """The text, URL-decoded, and its base64 runs decoded (one level deep, then URL-decoded too)."""
    views = [text, unquote_plus(text)]
    for decoded in list(_decoded_runs(text)) + list(_decoded_runs(views[1])):
        views += [decoded, unquote_plus(decoded)]
    return views


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _strings(item, f"{where}[{i}]")
    elif isinstance(value, bytes):
        yield where, value.decode("utf-8", "replace")
    elif isinstance(value, str):
        yield where, value


def _redacted(value: str) -> bool:
    return value == PLACEHOLDER or value.endswith(f" {PLACEHOLDER}") or not value


def _field_leaks(data: Any) -> Iterator[tuple[str, str, str]]:
    """Credential-named fields whose value is not the placeholder: (where, kind, value)."""
    interactions = data.get("interactions") if isinstance(data, dict) else None
    for i, interaction in enumerate(interactions or []):
        for side in ("request", "response"):
            message = interaction.get(side) or {}
            headers = message.get("headers") or {}
            for name, values in headers.items():
                for value in values if isinstance(values, list) else [values]:
                    if is_secret_header(name) and not _redacted(str(value)):
                        yield f"interactions[{i}].{side}.headers.{name}", "credential header", str(value)
            query = urlsplit(str(message.get("uri", ""))).query
            for name, value in parse_qsl(query, keep_blank_values=True):
                if is_secret_param(name) and not _redacted(value):
                    yield f"interactions[{i}].{side}.uri?{name}", "credential query parameter", value
            body = message.get("body")
            text = body.get("string") if isinstance(body, dict) else body
            if isinstance(text, bytes):
                text = text.decode("utf-8", "replace")
            if not isinstance(text, str) or not text:
                continue
            flat = {k: (v[0] if isinstance(v, list) and v else v) for k, v in headers.items()}
            kind = media_type(flat)
            where = f"interactions[{i}].{side}.body"
            if kind == "application/x-www-form-urlencoded":
                for name, value in parse_qsl(text, keep_blank_values=True):
                    if is_secret_param(name) and not _redacted(value):
                        yield f"{where}:{name}", "credential form field", value
            elif kind == "application/json" or kind.endswith("+json"):
                try:
                    parsed = json.loads(text)
                except ValueError:
                    continue
                yield from _json_leaks(parsed, where)


def _json_leaks(value: Any, where: str) -> Iterator[tuple[str, str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and key.lower() in SECRET_PARAMS and not _redacted(item):
                yield f"{where}:{key}", "credential JSON field", item
            yield from _json_leaks(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _json_leaks(item, f"{where}[{i}]")


def find_leaks(
    source: str | os.PathLike[str],
    *,
    secrets: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> list[Leak]:
    """Every credential, or credential-shaped value, in one cassette file.

    Args:
        source: the cassette's path.
        secrets: exact values that must not appear (e.g. the credentials used to record it); the
            ``VISUALSEARCH_*`` credential variables of ``environ`` (default ``os.environ``) are added.
    """
    path = Path(source)
    text = path.read_text(encoding="utf-8")
    known = [s for s in {*secrets, *env_secrets(environ)} if s and len(s) >= 4]
    variants = {v: s for s in known for v in (s, quote(s, safe=""), quote_plus(s))}
    variants.update({base64.b64encode(s.encode()).decode().rstrip("="): s for s in known if len(s) >= 6})
    leaks: list[Leak] = []
    seen: set[tuple[str, str]] = set()

    def report(where: str, kind: str, value: str) -> None:
        if (where, kind) not in seen:
            seen.add((where, kind))
            leaks.append(Leak(str(path), where, kind, _mask(value)))

    yaml = importlib.import_module("yaml")  # PyYAML comes with vcrpy (the ``testing`` extra)
    try:
        data = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        return [Leak(str(path), "file", "unreadable YAML (cannot be checked)", str(exc)[:60])]
    pieces = [("file", text), *_strings(data, "")]
    for where, piece in pieces:
        for view in _views(piece):
            for variant, secret in variants.items():
                if variant in view:
                    report(where, "a credential used to record", secret)
            for kind, pattern in PATTERNS:
                found = pattern.search(view)
                if found:
                    report(where, kind, found.group(0))
    for where, kind, value in _field_leaks(data):
        report(where, kind, value)
    return leaks


def assert_no_leaks(
    paths: Iterable[str | os.PathLike[str]],
    *,
    secrets: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> None:
    """Raise ``AssertionError`` listing every leak found in these cassettes (secrets are masked)."""
    wanted = list(secrets)
    leaks = [leak for p in paths for leak in find_leaks(p, secrets=wanted, environ=environ)]
    if leaks:
        listing = "\n".join(f"  {leak}" for leak in leaks[:50])
        raise AssertionError(f"{len(leaks)} credential leak(s) in cassettes:\n{listing}")
