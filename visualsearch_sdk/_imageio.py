"""Private Pillow helpers for :mod:`visualsearch_sdk.preprocess`: open, map errors, orient, normalise, encode.

Nothing here changes Pillow's global state: ``LOAD_TRUNCATED_IMAGES`` and ``MAX_IMAGE_PIXELS`` are left
alone, and Pillow's ``DecompressionBombWarning`` is silenced only inside a lock-guarded
``warnings.catch_warnings`` block (our own, explicit ``max_pixels`` limit applies instead).
"""

from __future__ import annotations

import io
import os
import struct
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Final, TypeAlias

import numpy as np
from PIL import Image, UnidentifiedImageError

from ._exceptions import ImageError

__all__ = [
    "TRANSPOSE",
    "ImageSource",
    "Source",
    "decode_errors",
    "encode_jpeg",
    "open_source",
    "orientation_of",
    "prepare_mode",
    "quiet_bomb_warning",
    "to_rgb",
    "to_stored_rect",
]

ImageSource: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO | Image.Image"

# EXIF orientation -> the transpose that makes the stored pixels upright (as ImageOps.exif_transpose does).
TRANSPOSE: Final[dict[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ORIENTATION_TAG: Final = 0x0112
_WHITE: Final = (255, 255, 255)
# Modes Pillow resamples well as they are; everything else is converted before resizing.
_RESAMPLE_MODES: Final = frozenset({"L", "LA", "RGB", "RGBA", "RGBX", "RGBa", "La", "CMYK", "I", "I;16", "F"})
_TRUNCATED_HINTS: Final = (
    "truncated",
    "broken data stream",
    "premature end",
    "unexpected end",
    "not enough data",
)
_UNSUPPORTED_HINTS: Final = ("not available", "not supported", "unsupported", "cannot find loader", "unknown")
_DECODE_ERRORS: Final = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
)
_WARN_LOCK: Final = threading.Lock()


@dataclass
class Source:
    """An opened image: lazy (not yet decoded) when we own it, plus its original bytes when we have them."""

    image: Image.Image
    data: bytes | None
    owned: bool
    orientation: int = 1

    @property
    def upright_size(self) -> tuple[int, int]:
        """The size once EXIF orientation is applied."""
        w, h = self.image.size
        return (h, w) if self.orientation >= 5 else (w, h)


@contextmanager
def quiet_bomb_warning() -> Iterator[None]:
    """Silence Pillow's DecompressionBombWarning locally (our own ``max_pixels`` check applies instead).

    ``catch_warnings`` swaps process-wide state, so concurrent blocks are serialised by a lock.
    """
    with _WARN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


@contextmanager
def decode_errors(what: str) -> Iterator[None]:
    """Turn anything Pillow raises while parsing or decoding into an ImageError with a reason."""
    try:
        yield
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{what}: too many pixels ({exc})", reason="decompression_bomb") from exc
    except _DECODE_ERRORS as exc:
        text = str(exc).lower()
        if isinstance(exc, EOFError) or any(hint in text for hint in _TRUNCATED_HINTS):
            raise ImageError(f"{what} is truncated or corrupt: {exc}", reason="truncated") from exc
        if any(hint in text for hint in _UNSUPPORTED_HINTS):
            raise ImageError(
                f"{what} uses an unsupported encoding: {exc}", reason="unsupported_format"
            ) from exc
        raise ImageError(f"{what} cannot be decoded: {exc}", reason="unreadable") from exc


def _sniff_unsupported(head: bytes) -> str | None:
    """Name a known non-raster or undecodable container, from its first bytes."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"%pdf"):
        return "PDF"
    if text.startswith((b"<svg", b"<?xml")):
        return "SVG"
    if head[4:8] == b"ftyp":
        return "HEIF/AVIF"
    return None


def open_source(source: ImageSource) -> Source:
    """Open ``source`` lazily (header only) and read its EXIF orientation; raise ImageError if unreadable."""
    if isinstance(source, Image.Image):
        return Source(image=source, data=None, owned=False, orientation=orientation_of(source))
    return open_bytes(*read_source(source))


def read_source(source: ImageSource) -> tuple[bytes, str]:
    """The encoded bytes of a path, bytes or binary file object, and how to name it in errors."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError as exc:
            raise ImageError(f"image file {path!r} is missing (no such file)", reason="unreadable") from exc
        except OSError as exc:
            raise ImageError(f"image file {path!r} cannot be read: {exc}", reason="unreadable") from exc
        return data, f"image file {path!r}"
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "image data"
    read = getattr(source, "read", None)
    if not callable(read):
        raise TypeError(f"cannot read an image from {type(source).__name__}")
    text_mode = "image file objects must be opened in binary mode (open(path, 'rb'))"
    try:
        raw = read()
    except UnicodeDecodeError as exc:  # a text-mode file holding image bytes
        raise ImageError(text_mode, reason="unreadable") from exc
    except (OSError, ValueError) as exc:  # closed, unreadable
        raise ImageError(f"the image stream cannot be read: {exc}", reason="unreadable") from exc
    if not isinstance(raw, (bytes, bytearray)):
        raise ImageError(text_mode, reason="unreadable")
    return bytes(raw), "image stream"


def open_bytes(data: bytes, what: str) -> Source:
    """Open encoded bytes lazily (header only); ``what`` names them in errors."""
    if not data:
        raise ImageError(f"{what} is empty", reason="unreadable")
    with decode_errors(what):
        try:
            with quiet_bomb_warning():
                image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError as exc:
            kind = _sniff_unsupported(data[:64])
            if kind is None:
                raise ImageError(f"{what} is not a recognised image", reason="unreadable") from exc
            msg = f"{what} is {kind}, which cannot be decoded here: convert it to JPEG or PNG first"
            raise ImageError(msg, reason="unsupported_format") from exc
    return Source(image=image, data=data, owned=True)


def orientation_of(image: Image.Image) -> int:
    """The EXIF orientation (1..8) of ``image``; 1 when absent or invalid."""
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except _DECODE_ERRORS:  # a corrupt EXIF block must not make a good image unusable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def to_stored_rect(
    orientation: int, rect: tuple[float, float, float, float], stored: tuple[int, int]
) -> tuple[float, float, float, float]:
    """Map a rectangle in upright coordinates to the stored (pre-orientation) pixel grid."""
    ws, hs = stored

    def point(xu: float, yu: float) -> tuple[float, float]:
        return {
            1: (xu, yu),
            2: (ws - xu, yu),
            3: (ws - xu, hs - yu),
            4: (xu, hs - yu),
            5: (yu, xu),
            6: (yu, hs - xu),
            7: (ws - yu, hs - xu),
            8: (ws - yu, xu),
        }[orientation]

    (ax, ay), (bx, by) = point(rect[0], rect[1]), point(rect[2], rect[3])
    return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)


def prepare_mode(image: Image.Image) -> Image.Image:
    """Convert modes Pillow cannot resample well (P, 1, PA, tRNS, exotic) to one it can; else unchanged."""
    mode = image.mode
    has_key = "transparency" in image.info
    if mode in ("P", "PA"):
        return image.convert("RGBA" if has_key or mode == "PA" else "RGB")
    if mode in ("RGB", "L") and has_key:  # a tRNS colour key: make it real alpha
        return image.convert("RGBA" if mode == "RGB" else "LA")
    if mode == "1":
        return image.convert("L")
    if mode.startswith("I;16"):  # Pillow cannot reduce() 16-bit modes: widen to 32-bit, values unchanged
        return image.convert("I")
    if mode not in _RESAMPLE_MODES:
        try:
            return image.convert("RGBA" if "A" in image.getbands() else "RGB")
        except ValueError as exc:
            raise ImageError(
                f"image mode {mode} cannot be converted to RGB", reason="unsupported_format"
            ) from exc
    return image


def _to_8bit(image: Image.Image, sixteen_bit: bool) -> Image.Image:
    """Scale an I;16, I or F image to L: 16-bit data by 1/256, floats in 0..1 by 255, else clip."""
    arr = np.asarray(image)
    if image.mode == "F":
        hi = float(arr.max()) if arr.size else 0.0
        arr = arr * 255.0 if hi <= 1.0 else arr
    elif sixteen_bit or (arr.size and int(arr.max()) > 255):
        arr = np.clip(arr, 0, 65535) / 256.0
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")


def to_rgb(image: Image.Image, *, sixteen_bit: bool = False) -> Image.Image:
    """Normalise any mode to RGB; alpha is composited on white."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("RGBa", "La", "LA"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        canvas = Image.new("RGB", image.size, _WHITE)
        canvas.paste(image, mask=image.getchannel("A"))
        return canvas
    if mode in ("I", "I;16", "F"):
        image = _to_8bit(image, sixteen_bit or mode == "I;16")
    return image.convert("RGB")


def encode_jpeg(image: Image.Image, quality: int, icc_profile: bytes | None) -> bytes:
    """Encode an RGB image as baseline JPEG without EXIF (so no orientation tag) or comment."""
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality, exif=b"", comment=b"", icc_profile=icc_profile)
    return buf.getvalue()
