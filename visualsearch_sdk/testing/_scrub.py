"""What a cassette must never hold, per provider, and the scrubber that removes it before anything is saved.

The table in ``_rules.py`` says, for every provider (VENDORS.md §1.2, §2.2, §3.2, §4.2, plus the local
engine's bearer token), which headers and parameters carry credentials and where image bytes travel. The
scrubber applies the union of all of them to every interaction, whatever the provider: a credential is never
legitimate in another vendor's traffic, so scrubbing more names costs nothing, and an adapter not landed yet
is covered.

On each request it:

* learns the credentials it sees (Basic user and password, tokens, AccessKey ids, signatures, URL userinfo,
  secret parameters) so it can scrub them from wherever they are echoed: response bodies and headers included;
* redacts credential headers, query, form, multipart and JSON fields, case-insensitively (an ``Authorization``
  keeps its scheme: ``Basic REDACTED``);
* replaces image bytes with ``sha256:<hex>`` of the bytes: JSON strings holding base64 images (``_base64``,
  ``image``, data URIs), form fields (``PicContent``), multipart file parts and raw image bodies;
* rewrites a loopback origin (a fake on a random port) to the provider's canonical origin, in the URL, the
  ``Host`` header and in response bodies that echo it, so re-recording gives the same file;
* gives multipart bodies a fixed boundary.

Matching (``_matchers.py``) sees both sides after this, so digests compare and credentials never matter.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit, urlunsplit

from visualsearch_sdk._config import is_loopback
from visualsearch_sdk.testing._bodies import (
    Part,
    body_bytes,
    boundary_of,
    build_multipart,
    media_type,
    parse_multipart,
)
from visualsearch_sdk.testing._rules import (
    IMAGE_PARAMS,
    PLACEHOLDER,
    PROVIDER_RULES,
    SECRET_PARAMS,
    decode_base64_image,
    image_digest,
    is_digest,
    is_secret_header,
    is_secret_param,
    looks_like_image,
)

__all__ = ["BOUNDARY", "PLACEHOLDER", "Scrubber"]

BOUNDARY = "visualsearch-sdk-cassette-boundary"
_MIN_SECRET = 6  # shorter learned values are redacted where they stand, but not swept from free text


@dataclass
class Scrubber:
    """The ``before_record_request`` / ``before_record_response`` pair of one configuration.

    Args:
        provider: picks the canonical origin a loopback recording is rewritten to (None: keep loopback hosts
            but drop their random port).
        secrets: values to scrub from everything, in addition to what is learned from requests.
        origin: overrides the canonical origin (e.g. an Alibaba region's endpoint).
        scrub: False keeps credentials (only to prove the guard test can fail); images are still hashed.
    """

    provider: str | None = None
    secrets: Iterable[str] = ()
    origin: str | None = None
    scrub: bool = True
    _learned: set[str] = field(default_factory=set, init=False, repr=False)
    _origins: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _seen: set[str] = field(default_factory=set, init=False, repr=False)
    _last: threading.local = field(default_factory=threading.local, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        known = PROVIDER_RULES.get(self.provider or "")
        self._canonical = self.origin or (known.origin if known else None)
        for value in self.secrets:
            self._learn(value)

    # -- what counts as a credential --------------------------------------------------------------------

    def _learn(self, value: str | None) -> None:
        if value and value != PLACEHOLDER:
            with self._lock:
                self._learned.add(value)

    def _learn_authorization(self, value: str) -> None:
        scheme, _, rest = value.strip().partition(" ")
        rest = rest.strip()
        if rest == PLACEHOLDER:
            return
        if not rest:
            self._learn(scheme)
            return
        self._learn(rest)
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(rest, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, ValueError):
                return
            for value in (user, password, f"{user}:{password}"):
                self._learn(value)
        # VSHMAC pub:sig, acs id:sig, ACS3 Credential=ID,SignedHeaders=a;b,Signature=hex
        for piece in re.split(r"[\s,:=]+", rest):
            if (
                len(piece) >= _MIN_SECRET
                and piece not in {"Credential", "SignedHeaders", "Signature"}
                and not re.fullmatch(r"[a-z0-9-]+(;[a-z0-9-]+)+", piece)  # a SignedHeaders list is no secret
            ):
                self._learn(piece)

    def _sweep_text(self, text: str) -> str:
        if not self.scrub:
            return text
        with self._lock:
            values = sorted((s for s in self._learned if len(s) >= _MIN_SECRET), key=len, reverse=True)
        for value in values:
            for variant in {value, quote(value, safe=""), quote_plus(value)}:
                text = text.replace(variant, PLACEHOLDER)
        return text

    def _sweep(self, data: bytes) -> bytes:
        if not self.scrub or not data:
            return data
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return data
        return self._sweep_text(text).encode("utf-8")

    # -- origins ----------------------------------------------------------------------------------------

    def origins(self) -> str | None:
        """Where the requests seen went, for a cassette's header ("a server on loopback ...", a host)."""
        with self._lock:
            seen = sorted(self._seen)
        loopback = [o for o in seen if is_loopback(urlsplit(o).hostname or "")]
        named = [o for o in seen if o not in loopback]
        parts = [*named]
        if loopback:
            target = self._canonical or "its loopback host"
            parts.insert(0, f"a server on loopback (e.g. a fake vendor; origin rewritten to {target})")
        return " and ".join(parts) or None

    def _rewrite_origin(self, uri: str) -> str:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        # vcrpy scrubs a request, then its response, in one call when it records the pair (and requests
        # alone when it matches): the origin counts as "recorded against" once its response arrives.
        self._last.origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        if not is_loopback(host):
            return uri
        loopback = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        target = self._canonical or f"{parts.scheme}://{'[::1]' if ':' in host else host}"
        with self._lock:
            self._origins[loopback] = target
        new = urlsplit(target)
        return urlunsplit((new.scheme, new.netloc, parts.path, parts.query, parts.fragment))

    def _rewrite_origins(self, data: bytes) -> bytes:
        with self._lock:
            pairs = list(self._origins.items())
        for loopback, target in pairs:
            data = data.replace(loopback.encode(), target.encode())
        return data

    # -- fields -----------------------------------------------------------------------------------------

    def _redact_authorization(self, value: str) -> str:
        scheme, _, rest = value.strip().partition(" ")
        if rest.strip() and re.fullmatch(r"[A-Za-z0-9._-]+", scheme):
            return f"{scheme} {PLACEHOLDER}"
        return PLACEHOLDER

    def _pairs(self, text: str) -> str:
        """A query string or form body with credentials redacted and base64 images hashed, segment by
        segment, so untouched segments keep their exact encoding."""
        out = []
        for segment in text.split("&"):
            raw_name, eq, raw_value = segment.partition("=")
            name, value = unquote_plus(raw_name), unquote_plus(raw_value)
            if eq and is_secret_param(name):
                self._learn(value)
                segment = f"{raw_name}={PLACEHOLDER}" if self.scrub else segment
            elif eq:
                image = decode_base64_image(value, any_bytes=name.lower() in IMAGE_PARAMS)
                if image is not None:
                    segment = f"{raw_name}={quote(image_digest(image), safe=':')}"
            out.append(segment)
        return "&".join(out)

    def _json(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: self._json(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self._json(v, key) for v in value]
        if isinstance(value, str):
            if key is not None and key.lower() in SECRET_PARAMS:
                self._learn(value)
                return PLACEHOLDER if self.scrub else value
            known = key is not None and key.lower() in IMAGE_PARAMS
            image = decode_base64_image(value, any_bytes=known) if len(value) >= 24 else None
            if image is not None:
                return image_digest(image)
        return value

    def _parts(self, parts: list[Part]) -> list[Part]:
        out = []
        for part in parts:
            content = part.content
            if is_digest(content):
                pass  # scrubbed already (vcrpy scrubs loaded interactions again)
            elif (part.filename is not None and content) or looks_like_image(content):
                content = image_digest(content).encode()  # a file part is a blob, image or not
            elif part.name and is_secret_param(part.name):
                self._learn(content.decode("utf-8", "replace"))
                content = PLACEHOLDER.encode() if self.scrub else content
            else:
                image = decode_base64_image(content.decode("latin-1"))
                if image is not None:
                    content = image_digest(image).encode()
            out.append(Part(part.headers, content))
        return out

    def _body(self, body: bytes, headers: Mapping[str, Any]) -> tuple[bytes, str | None]:
        """The scrubbed body, and the new ``Content-Type`` when it changed (a fixed multipart boundary)."""
        if not body:
            return body, None
        kind = media_type(headers)
        if looks_like_image(body):
            return image_digest(body).encode(), None
        if kind == "application/json" or kind.endswith("+json"):
            try:
                parsed = json.loads(body)
            except ValueError:
                return body, None
            scrubbed = self._json(parsed)
            return (body if scrubbed == parsed else json.dumps(scrubbed).encode()), None
        if kind == "application/x-www-form-urlencoded":
            try:
                return self._pairs(body.decode("utf-8")).encode("utf-8"), None
            except UnicodeDecodeError:
                return body, None
        if kind == "multipart/form-data":
            boundary = boundary_of(headers)
            parts = parse_multipart(body, boundary) if boundary else None
            if parts is not None:
                new_type = f"multipart/form-data; boundary={BOUNDARY}"
                return build_multipart(self._parts(parts), BOUNDARY), new_type
        return body, None

    # -- the vcrpy hooks --------------------------------------------------------------------------------

    def before_record_request(self, request: Any) -> Any:
        """Scrub a ``vcr.request.Request`` (vcrpy passes a copy; we change it in place and return it)."""
        headers = request.headers
        for name in list(headers):
            value = str(headers[name])
            if name.lower() in {"authorization", "proxy-authorization"}:
                self._learn_authorization(value)
                if self.scrub:
                    headers[name] = self._redact_authorization(value)
            elif is_secret_header(name):
                self._learn(value)
                if self.scrub:
                    headers[name] = PLACEHOLDER
        parts = urlsplit(request.uri)
        self._learn(parts.username)
        self._learn(parts.password)
        query = self._pairs(parts.query) if parts.query else ""
        netloc = parts.netloc.rpartition("@")[2] if self.scrub else parts.netloc
        uri = self._rewrite_origin(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))
        if "host" in {h.lower() for h in headers}:
            for name in [h for h in headers if h.lower() == "host"]:
                headers[name] = urlsplit(uri).netloc
        original = body_bytes(request.body)
        body, new_type = self._body(original, headers)
        body = self._sweep(body)
        if new_type is not None:
            for name in [h for h in headers if h.lower() == "content-type"]:
                del headers[name]
            headers["content-type"] = new_type
        if body != original:
            request.body = body
            for name in [h for h in headers if h.lower() == "content-length"]:
                headers[name] = str(len(body))
        request.uri = self._sweep_text(uri)
        for name in list(headers):
            headers[name] = self._sweep_text(str(headers[name]))
        return request

    def before_record_response(self, response: dict[str, Any]) -> dict[str, Any]:
        """Scrub a vcrpy response dict (``status``, ``headers`` name -> list, ``body`` -> ``string``)."""
        origin = getattr(self._last, "origin", None)
        if origin is not None:
            with self._lock:
                self._seen.add(origin)
        headers: dict[str, list[str]] = response.get("headers") or {}
        for name in list(headers):
            values = [str(v) for v in headers[name]]
            if is_secret_header(name):
                for value in values:
                    self._learn(value)
                values = [PLACEHOLDER] * len(values) if self.scrub else values
            rewritten = self._rewrite_origins("\n".join(values).encode()).decode()
            headers[name] = self._sweep_text(rewritten).split("\n")
        body = response.get("body") or {}
        raw = body.get("string")
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        if raw:
            flat = {k: v[0] for k, v in headers.items() if v}
            new, _ = self._body(raw, flat)
            new = self._sweep(self._rewrite_origins(new))
            if new != raw:
                body["string"] = new
                for name in [h for h in headers if h.lower() == "content-length"]:
                    headers[name] = [str(len(new))]
        return response
