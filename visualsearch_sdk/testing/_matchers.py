"""vcrpy request matchers that survive signing, random boundaries and a replay pointed anywhere.

A recorded request matches a live one on: the method, the path, the query as a multiset minus volatile
parameters, the body compared by meaning (JSON parsed, forms as sorted pairs, multipart part by part), and
the few headers that select an operation (Alibaba's ``x-acs-action``). Scheme, host and port are never
compared, so a cassette recorded against a fake on a random loopback port replays against the vendor's host.
Signatures, nonces, timestamps, dates and credentials are ignored wherever they travel. Both sides have been
through the same scrubbing (``_scrub.py``) before they are compared, so image bytes compare as their SHA-256.

Matchers follow vcrpy's protocol: they take two ``vcr.request.Request`` and raise ``AssertionError``
naming the difference.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from visualsearch_sdk.testing._bodies import (
    body_bytes,
    boundary_of,
    header_value,
    media_type,
    parse_multipart,
)
from visualsearch_sdk.testing._rules import is_secret_param

__all__ = ["ACTION_HEADERS", "MATCHERS", "MATCH_ON", "VOLATILE_PARAMS", "canonical_body"]

VOLATILE_PARAMS = frozenset(
    {
        # Alibaba RPC V2 (VENDORS §4.2.2): new for every request, or derived from what is.
        "signature", "signaturenonce", "timestamp",
        # generic signing leftovers of other APIs
        "nonce", "date", "expires", "x-date",
    }
)  # fmt: skip
"""Query and form parameters (lower case) that change on every request and are never compared."""

ACTION_HEADERS = ("x-acs-action", "x-acs-version")
"""Headers that name the operation (Alibaba RPC posts every action to ``/``, VENDORS §4.2.1): compared."""

ImageMatch = Literal["exact", "any"]


class _Request(Protocol):
    method: str
    uri: str
    headers: Mapping[str, str]

    @property
    def body(self) -> Any: ...


def _is_json(kind: str) -> bool:
    return kind == "application/json" or kind.endswith("+json")


def _pairs(text: str, ignore: frozenset[str]) -> list[tuple[str, str]]:
    """Sorted pairs without volatile and credential parameters (a replay may carry other credentials)."""
    pairs = parse_qsl(text, keep_blank_values=True)
    return sorted((k, v) for k, v in pairs if k.lower() not in ignore and not is_secret_param(k))


def _image_free(value: Any, images: ImageMatch) -> Any:
    """With ``images="any"``, every image digest compares equal to every other."""
    if images == "exact":
        return value
    if isinstance(value, str):
        return "sha256:*" if value.startswith("sha256:") else value
    if isinstance(value, bytes):
        return b"sha256:*" if value.startswith(b"sha256:") else value
    if isinstance(value, list):
        return [_image_free(v, images) for v in value]
    if isinstance(value, dict):
        return {k: _image_free(v, images) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_image_free(v, images) for v in value)
    return value


def canonical_body(
    request: _Request, *, ignore: frozenset[str] = VOLATILE_PARAMS, images: ImageMatch = "exact"
) -> tuple[str, Any]:
    """The body as ``(media type, comparable value)``: parsed JSON, sorted form pairs, parts, or bytes."""
    raw = body_bytes(request.body)
    kind = media_type(request.headers)
    if not raw:
        return "", b""
    if _is_json(kind):
        try:
            return kind, _image_free(json.loads(raw), images)
        except ValueError:
            pass
    elif kind == "application/x-www-form-urlencoded":
        try:
            return kind, _image_free(_pairs(raw.decode("utf-8"), ignore), images)
        except UnicodeDecodeError:
            pass
    elif kind == "multipart/form-data":
        boundary = boundary_of(request.headers)
        parts = parse_multipart(raw, boundary) if boundary else None
        if parts is not None:
            described = [
                (p.name, p.filename, (p.header("content-type") or "").lower(), p.content)
                for p in parts
                if (p.name or "").lower() not in ignore and not is_secret_param(p.name or "")
            ]
            return kind, _image_free(described, images)
    return kind, _image_free(raw, images)


# -- the matchers ----------------------------------------------------------------------------------------


def vs_path(r1: _Request, r2: _Request) -> None:
    """The percent-decoded path; ``""`` is ``/``."""
    p1, p2 = (unquote(urlsplit(r.uri).path) or "/" for r in (r1, r2))
    if p1 != p2:
        raise AssertionError(f"path {p1!r} != {p2!r}")


def vs_query(r1: _Request, r2: _Request) -> None:
    """The query parameters as a multiset, without volatile ones (signature, nonce, timestamp...)."""
    q1, q2 = (Counter(_pairs(urlsplit(r.uri).query, VOLATILE_PARAMS)) for r in (r1, r2))
    if q1 != q2:
        only1, only2 = sorted((q1 - q2).elements()), sorted((q2 - q1).elements())
        raise AssertionError(f"query differs: {only1} != {only2}")


def _body_matcher(images: ImageMatch) -> Callable[[_Request, _Request], None]:
    def vs_body(r1: _Request, r2: _Request) -> None:
        (k1, b1), (k2, b2) = (canonical_body(r, images=images) for r in (r1, r2))
        if k1 != k2:
            raise AssertionError(f"body media type {k1!r} != {k2!r}")
        if k1 == "multipart/form-data" and isinstance(b1, list) and isinstance(b2, list):
            if len(b1) != len(b2):
                raise AssertionError(f"multipart: {len(b1)} parts != {len(b2)} parts")
            for i, (p1, p2) in enumerate(zip(b1, b2)):
                if p1 != p2:
                    raise AssertionError(f"multipart part {i} ({p1[0]!r}): {_short(p1)} != {_short(p2)}")
            return
        if b1 != b2:
            raise AssertionError(f"{k1 or 'raw'} body differs: {_short(b1)} != {_short(b2)}")

    vs_body.__name__ = "vs_body" if images == "exact" else "vs_body_any_image"
    return vs_body


def vs_action(r1: _Request, r2: _Request) -> None:
    """The operation-selecting headers (``x-acs-action``, ``x-acs-version``)."""
    a1, a2 = ([header_value(r.headers, h) for h in ACTION_HEADERS] for r in (r1, r2))
    if a1 != a2:
        raise AssertionError(f"action headers {a1} != {a2}")


def _short(value: object, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def vs_method(r1: _Request, r2: _Request) -> None:
    """The HTTP method."""
    if r1.method.upper() != r2.method.upper():
        raise AssertionError(f"method {r1.method} != {r2.method}")


MATCHERS: dict[str, Callable[[_Request, _Request], None]] = {
    "vs_method": vs_method,
    "vs_path": vs_path,
    "vs_query": vs_query,
    "vs_body": _body_matcher("exact"),
    "vs_body_any_image": _body_matcher("any"),
    "vs_action": vs_action,
}
"""Our matchers by the name vcrpy knows them under (``register`` adds them to a ``vcr.VCR``)."""

MATCH_ON: dict[ImageMatch, tuple[str, ...]] = {
    "exact": ("vs_method", "vs_path", "vs_query", "vs_body", "vs_action"),
    "any": ("vs_method", "vs_path", "vs_query", "vs_body_any_image", "vs_action"),
}
"""``match_on`` for each way of comparing images: by digest, or any image matching any other."""
