"""What carries a credential and where images travel, per provider (VENDORS.md §1.2, §2.2, §3.2, §4.2, plus
the local engine's bearer token), and how an image is recognised and replaced by its digest.

The scrubber (``_scrub.py``) applies the union of every provider's rules to every interaction; the matchers
(``_matchers.py``) ignore every credential-named parameter; the guard (``_guard.py``) checks those names hold
the placeholder. Add a provider here and all three cover it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

__all__ = [
    "IMAGE_PARAMS",
    "PLACEHOLDER",
    "PROVIDER_RULES",
    "SECRET_HEADERS",
    "SECRET_PARAMS",
    "ProviderRules",
    "decode_base64_image",
    "image_digest",
    "is_digest",
    "is_secret_header",
    "is_secret_param",
    "looks_like_image",
]

PLACEHOLDER = "REDACTED"


@dataclass(frozen=True)
class ProviderRules:
    """Where one provider's credentials and images travel (names are compared case-insensitively)."""

    headers: frozenset[str] = frozenset()
    """Request or response headers whose value is a credential."""
    params: frozenset[str] = frozenset()
    """Query, form, multipart and JSON field names whose value is a credential."""
    images: frozenset[str] = frozenset()
    """Form, multipart and JSON field names that carry image bytes (base64 in form and JSON)."""
    origin: str | None = None
    """The vendor's canonical origin, which a recording against a loopback fake is rewritten to."""


def _names(*names: str) -> frozenset[str]:
    return frozenset(n.lower() for n in names)


PROVIDER_RULES: dict[str, ProviderRules] = {
    "common": ProviderRules(
        headers=_names(
            "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"
        ),
        params=_names("token", "access_token", "api_token", "refresh_token", "password", "client_secret"),
    ),
    # The local engine served by ``visualsearch serve --token``: ``Authorization: Bearer <token>``.
    "local": ProviderRules(images=_names("image"), origin="http://127.0.0.1:8765"),
    # §1.2: Basic base64(access_key:secret_key); the JS SDK's client-side ``access_key=`` app key; the
    # ProductSearch ``app_key``. §1.3: uploadsearch sends the file as multipart part ``image``.
    "visearch": ProviderRules(
        params=_names("access_key", "secret_key", "app_key"),
        images=_names("image"),
        origin="https://visearch.visenze.com",
    ),
    # §2.2: Authorization: Token|JWT <token>. §2.3: images as ``_base64`` (bare or a data URI).
    "ximilar": ProviderRules(images=_names("_base64"), origin="https://api.ximilar.com"),
    # §3.2: Authorization: VSHMAC <public>:<signature> over METHOD, PATH and Date. §3.3: raw image bodies.
    "visualsnoop": ProviderRules(origin="http://visualsnoop.com"),
    # §4.2.1 ACS3 (Authorization, x-acs-security-token, x-acs-accesskey-id), §4.2.2 RPC V2 (AccessKeyId,
    # Signature, SecurityToken in the query), §4.2.3 ROA (Authorization: acs <id>:<sig>), §4.8 the OSS upload
    # (OSSAccessKeyId, Signature, x-oss-security-token; AuthorizeFileUpload answers AccessKeyId, Signature,
    # EncodedPolicy). §4.3/§4.4: PicContent (and CompareSimilarByImage's two) carry base64 images.
    "alibaba": ProviderRules(
        headers=_names("x-acs-security-token", "x-acs-accesskey-id", "x-oss-security-token"),
        params=_names(
            "AccessKeyId",
            "AccessKeySecret",
            "SecurityToken",
            "Signature",
            "OSSAccessKeyId",
            "EncodedPolicy",
            "x-oss-security-token",
        ),
        images=_names("PicContent", "PrimaryPicContent", "SecondaryPicContent"),
        origin="https://imagesearch.cn-shanghai.aliyuncs.com",
    ),
}
"""Per-provider rules; ``common`` applies to all. Add a provider here and it is scrubbed everywhere."""

# Names no table lists but that can only hold a credential (defence in depth for headers and parameters).
_SECRET_NAME = re.compile(
    r"(authori[sz]ation|token|secret|passw(or)?d|signature|credential|cookie|access_?key|api_?key|app_?key)",
    re.IGNORECASE,
)
# ...but a paging cursor named like one (``page_token``, ``nextToken``) is data a replay must match on.
_CURSOR_NAME = re.compile(r"(page|next|cursor|continuation)", re.IGNORECASE)
_NOT_SECRET = _names(
    "SignatureMethod",
    "SignatureVersion",
    "SignatureType",
    "SignatureNonce",
    "x-acs-signature-nonce",
    "x-acs-signature-method",
    "x-acs-signature-version",
)

_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_DATA_URI = re.compile(r"data:image/[a-z0-9.+-]+;base64,", re.IGNORECASE)


_ALL = tuple(PROVIDER_RULES.values())
SECRET_HEADERS = frozenset().union(*(r.headers for r in _ALL))
SECRET_PARAMS = frozenset().union(*(r.params for r in _ALL))
IMAGE_PARAMS = frozenset().union(*(r.images for r in _ALL))


def is_secret_header(name: str) -> bool:
    """True for a header that carries a credential, in any provider's table or by its name."""
    low = name.lower()
    return low in SECRET_HEADERS or _named_like_a_secret(low)


def is_secret_param(name: str) -> bool:
    """True for a query, form or multipart field that carries a credential (table or name)."""
    low = name.lower()
    return low in SECRET_PARAMS or _named_like_a_secret(low)


def _named_like_a_secret(low: str) -> bool:
    return low not in _NOT_SECRET and bool(_SECRET_NAME.search(low)) and not _CURSOR_NAME.search(low)


def looks_like_image(data: bytes) -> bool:
    """True when ``data`` starts like a JPEG, PNG, GIF, WebP, BMP or TIFF file."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return True
    return any(data.startswith(magic) for magic in _IMAGE_MAGIC) and len(data) > 16


def is_digest(data: bytes) -> bool:
    """True for what :func:`image_digest` returns (so scrubbing twice changes nothing)."""
    return bool(re.fullmatch(rb"sha256:[0-9a-f]{64}", data))


def image_digest(data: bytes) -> str:
    """``sha256:<hex>`` of image bytes: what a cassette keeps instead of them."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def decode_base64_image(text: str, *, any_bytes: bool = False) -> bytes | None:
    """The image bytes behind a base64 string or ``data:image/...;base64,`` URI, else None (with
    ``any_bytes``, whatever bytes it decodes to: for fields known to carry images)."""
    payload = _DATA_URI.sub("", text.strip(), count=1)
    if len(payload) < 24 or not _BASE64.fullmatch(payload):
        return None
    altchars = b"-_" if "-" in payload or "_" in payload else None
    try:
        data = base64.b64decode(payload + "=" * (-len(payload) % 4), altchars=altchars)
    except (binascii.Error, ValueError):
        return None
    return data if any_bytes or looks_like_image(data) else None
