"""The fake ViSearch server's image handling: decoding what it downloads or receives, and boxes.

``fetch_loopback`` is the only network code of the fakes: ``visualsearch serve --face visearch`` uses it to
download ``im_url``s from loopback hosts, and nowhere else.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

import httpx
from PIL import Image

from visualsearch_sdk._config import is_loopback
from visualsearch_sdk._exceptions import ImageError
from visualsearch_sdk.local.app import FEATURE_SIDE
from visualsearch_sdk.preprocess import ImageLimits, load_upright
from visualsearch_sdk.testing.fakes._visearch_wire import WireError

__all__ = ["decode", "fetch_loopback", "fit", "query_box", "words_match"]

_FORMATS = frozenset({"BMP", "DIB", "JPEG", "MPO", "JPEG2000", "PNG", "WEBP", "PPM", "SUN", "TIFF", "GIF"})
"""VENDORS §1.5: bmp, dib, jpeg, jp2, png, webp, pbm/pgm/ppm, sr/ras, tiff, gif."""


def fetch_loopback(url: str) -> bytes:
    """Download ``url`` if its host is a loopback address (what ``visualsearch serve`` fakes may reach)."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not is_loopback(parsed.host):
        raise ValueError(f"the served fake fetches im_url from loopback hosts only, not {parsed.host!r}")
    with httpx.Client(timeout=10.0, follow_redirects=False, trust_env=False) as client:
        response = client.get(url)
        response.raise_for_status()
        if len(response.content) > 20 * 1024 * 1024:
            raise ValueError("image over 20 MB")
        return response.content


def decode(raw: bytes, *, min_side: int) -> Image.Image:
    """Upright RGB pixels of an accepted format (VENDORS §1.5), at most 10 MB; raises ``ImageError``."""
    if len(raw) > 10 * 1024 * 1024:
        raise ImageError("image over 10 MB", reason="too_large")
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            fmt = probe.format
    except Exception as exc:
        raise ImageError("unreadable image", reason="unreadable") from exc
    if fmt not in _FORMATS:
        raise ImageError(f"format {fmt} is not accepted", reason="unsupported_format")
    return load_upright(raw, limits=ImageLimits(min_side=min_side))


def fit(image: Image.Image) -> Image.Image:
    if max(image.size) > FEATURE_SIDE:
        image = image.copy()
        image.thumbnail((FEATURE_SIDE, FEATURE_SIDE))
    return image


def query_box(value: str | None, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """``box=x1,y1,x2,y2`` (integer pixels of the query image, VENDORS §1.3), clamped; None when absent."""
    if value is None:
        return None
    try:
        x1, y1, x2, y2 = (int(float(v)) for v in value.split(","))
    except ValueError:
        raise WireError(None, f"Invalid box: {value!r}.") from None
    w, h = size
    x1, x2 = max(0, min(x1, w)), max(0, min(x2, w))
    y1, y2 = max(0, min(y1, h)), max(0, min(y2, h))
    if x2 <= x1 or y2 <= y1:
        raise WireError(None, f"Invalid box: {value!r} is outside the {w}x{h} image.")
    return x1, y1, x2, y2


def words_match(metadata: Mapping[str, Any], words: list[tuple[str, list[str]]]) -> bool:
    """Full-text ``fq`` on text fields: any of the words appears in the field (doc 002)."""
    for name, wanted in words:
        have = set(re.findall(r"\w+", str(metadata.get(name, "")).lower()))
        if not have.intersection(wanted):
            return False
    return True
