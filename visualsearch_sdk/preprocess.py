"""Pure Pillow functions that turn any image source into bytes a provider accepts.

``prepare_image`` loads an image, makes it upright (EXIF orientation), optionally crops it to a box, fits it
within a preset and the provider's :class:`ImageLimits`, and encodes it as a JPEG without EXIF. It returns a
:class:`PreparedImage` that also knows how to map boxes between original and output pixels.

JPEGs take a fast path: ``Image.draft`` makes libjpeg decode at the smallest DCT scale (1/2, 1/4, 1/8) that is
still at least the target size, the result is resized once with LANCZOS, and the EXIF rotation is applied to
that small image. A 12-megapixel photo never exists at full size in memory.

Every failure is an :class:`~visualsearch_sdk._exceptions.ImageError` with a machine-readable ``reason``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal, TypeAlias, TypedDict

from PIL import Image

from . import _imageio, _jpeg
from ._exceptions import ImageError
from ._imageio import TRANSPOSE, Source

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "PRESETS",
    "Box",
    "ImageLimits",
    "ImageSource",
    "PreparedImage",
    "Preset",
    "load_upright",
    "parse_box",
    "prepare_image",
    "prepare_many",
]

Preset: TypeAlias = 'Literal["STANDARD", "HIGH"] | tuple[int, int, int] | None'
"""``"STANDARD"``, ``"HIGH"``, a custom ``(max_w, max_h, jpeg_quality)``, or ``None`` for the original."""
Box: TypeAlias = "tuple[float, float, float, float]"
"""``(x1, y1, x2, y2)`` in original upright pixels."""
ImageSource: TypeAlias = _imageio.ImageSource
"""A path, encoded bytes, a binary file object, or a ``PIL.Image.Image``."""

PRESETS: Final[Mapping[str, tuple[int, int, int]]] = MappingProxyType(
    {"STANDARD": (512, 512, 75), "HIGH": (1024, 1024, 75)}
)
"""Named presets: ``(max_w, max_h, jpeg_quality)``."""

_PASS_THROUGH_QUALITY: Final = 95
_AS_IS_BYTES_PER_PIXEL: Final = 0.6
"""A JPEG within the preset's size is sent as is up to this weight (about quality 90 for photos)."""
_AS_IS_HEADER_BYTES: Final = 4096
_QUALITY_LADDER: Final = (85, 75, 65, 55, 45, 35)
_DOWNSCALE_STEP: Final = 0.8
_MIN_DOWNSCALED_SIDE: Final = 16
_MEDIA_TYPES: Final = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


@dataclass(frozen=True)
class ImageLimits:
    """What one provider accepts, as data; ``prepare_image`` fits images within it."""

    max_bytes: int | None = None
    """Cap on the encoded output; met with a JPEG quality ladder, then downscale steps."""
    min_side: int = 1
    """An original whose smaller upright side is below this is refused (``too_small``); we never upscale."""
    max_side: int | None = None
    """Each output side must be at most this."""
    formats: frozenset[str] = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"})
    """Formats the provider accepts as-is, for ``preset=None`` pass-through."""
    keep_exif_orientation: bool = True
    """Whether the provider honours EXIF orientation; if not, oriented originals are re-encoded upright."""
    max_pixels: int = 120_000_000
    """Decompression-bomb limit, checked from the header before decoding."""


@dataclass(frozen=True)
class PreparedImage:
    """Encoded bytes to send, plus the geometry that maps boxes between original and output pixels."""

    data: bytes = field(repr=False)
    format: str
    size: tuple[int, int]
    original_size: tuple[int, int]
    box: tuple[int, int, int, int] | None = None
    scale: tuple[float, float] = (1.0, 1.0)
    origin: tuple[float, float] = (0.0, 0.0)
    crop_box: tuple[int, int, int, int] | None = field(default=None)

    @property
    def media_type(self) -> str:
        """The MIME type of ``data``, e.g. ``"image/jpeg"``."""
        return _MEDIA_TYPES.get(self.format) or Image.MIME.get(self.format, "application/octet-stream")

    def to_original(self, box: Sequence[float]) -> tuple[int, int, int, int]:
        """Map a box in output pixels back to original upright pixels (rounded, clamped).

        Raises:
            ImageError: ``bad_box`` if ``box`` is not four finite numbers with x1 < x2 and y1 < y2.
        """
        x1, y1, x2, y2 = _clamp(parse_box(box), self.size)
        (ox, oy), (sx, sy) = self.origin, self.scale
        mapped = (ox + x1 / sx, oy + y1 / sy, ox + x2 / sx, oy + y2 / sy)
        return _round_box(mapped, self.original_size)

    def to_output(self, box: Sequence[float]) -> tuple[int, int, int, int]:
        """Map a box in original upright pixels into output pixels (rounded, clamped; empty if outside).

        Raises:
            ImageError: ``bad_box`` if ``box`` is not four finite numbers with x1 < x2 and y1 < y2.
        """
        x1, y1, x2, y2 = parse_box(box)
        (ox, oy), (sx, sy) = self.origin, self.scale
        mapped = ((x1 - ox) * sx, (y1 - oy) * sy, (x2 - ox) * sx, (y2 - oy) * sy)
        return _round_box(mapped, self.size)


class _PrepareOptions(TypedDict, total=False):
    preset: Preset
    box: Sequence[float] | None
    limits: ImageLimits | None
    crop: bool


def parse_box(box: Sequence[float]) -> Box:
    """Validate a box: four finite numbers with x1 < x2 and y1 < y2.

    Raises:
        ImageError: ``bad_box`` otherwise.
    """
    if isinstance(box, (str, bytes)) or len(box) != 4:
        raise ImageError(f"a box must be four numbers (x1, y1, x2, y2), got {box!r}", reason="bad_box")
    try:
        x1, y1, x2, y2 = (float(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise ImageError(
            f"a box must be four numbers (x1, y1, x2, y2), got {box!r}", reason="bad_box"
        ) from exc
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise ImageError(f"box coordinates must be finite, got {box!r}", reason="bad_box")
    if x2 <= x1 or y2 <= y1:
        raise ImageError(f"a box needs x1 < x2 and y1 < y2, got {box!r}", reason="bad_box")
    return x1, y1, x2, y2


def prepare_image(
    source: ImageSource,
    *,
    preset: Preset = "STANDARD",
    box: Sequence[float] | None = None,
    limits: ImageLimits | None = None,
    crop: bool = False,
) -> PreparedImage:
    """Load, orient, optionally crop, fit and encode an image for upload.

    Args:
        source: a path, encoded bytes, a binary file object, or a ``PIL.Image.Image``.
        preset: ``"STANDARD"`` (512×512), ``"HIGH"`` (1024×1024), ``(max_w, max_h, quality)``, or ``None``
            to send the original bytes untouched when ``limits`` allow it (else re-encode at full size).
        box: ``(x1, y1, x2, y2)`` in original upright pixels, clamped to the image; mapped into the output.
        limits: the provider's limits; defaults to ``ImageLimits()``.
        crop: crop to ``box`` before fitting (``box`` is then ``None`` and ``crop_box`` is set).

    Raises:
        ImageError: with ``reason`` unreadable, truncated, unsupported_format, too_small, too_large,
            decompression_bomb or bad_box.
    """
    lim = limits or ImageLimits()
    spec = resolve_preset(preset)
    wanted = parse_box(box) if box is not None else None
    if isinstance(source, Image.Image):
        src = _checked(_imageio.open_source(source), lim)
    else:
        data, what = _imageio.read_source(source)
        if spec is not None and not (crop and wanted is not None):
            fitting = _as_is(data, spec, lim)
            if fitting is not None:
                size = (fitting.width, fitting.height)
                out_box = _round_box(_clamp_box(wanted, size), size) if wanted is not None else None
                return PreparedImage(fitting.stripped, "JPEG", size, size, out_box)
        src = _checked(_imageio.open_bytes(data, what), lim)
    upright = src.upright_size
    clamped = _clamp_box(wanted, upright) if wanted is not None else None
    if spec is None and _can_pass_through(src, lim, has_box=clamped is not None, crop=crop):
        with _imageio.decode_errors("image"), _bomb_guard(src.image):
            _verify(src.image)
        out_box = _round_box(clamped, upright) if clamped is not None else None
        fmt = "JPEG" if src.image.format == "MPO" else str(src.image.format)
        return PreparedImage(
            data=src.data or b"", format=fmt, size=upright, original_size=upright, box=out_box
        )
    if crop and clamped is not None:
        x1, y1, x2, y2 = clamped
        region = (math.floor(x1), math.floor(y1), math.ceil(x2), math.ceil(y2))
    else:
        region = (0, 0, *upright)
    rw, rh = region[2] - region[0], region[3] - region[1]
    max_w, max_h, quality = spec if spec is not None else (rw, rh, _PASS_THROUGH_QUALITY)
    if lim.max_side is not None:
        max_w, max_h = min(max_w, lim.max_side), min(max_h, lim.max_side)
    factor = min(1.0, max_w / rw, max_h / rh)
    decoded = _decode(src, region, _scaled((rw, rh), factor))
    data, size = _encode_within(decoded, region, factor, quality, lim)
    sx, sy = size[0] / rw, size[1] / rh
    if crop and clamped is not None:
        return PreparedImage(data, "JPEG", size, upright, None, (sx, sy), (region[0], region[1]), region)
    out_box = None
    if clamped is not None:
        out_box = _round_box((clamped[0] * sx, clamped[1] * sy, clamped[2] * sx, clamped[3] * sy), size)
    return PreparedImage(data, "JPEG", size, upright, out_box, (sx, sy))


def prepare_many(
    sources: Iterable[ImageSource], *, workers: int = 2, **same_kwargs: Unpack[_PrepareOptions]
) -> list[PreparedImage | ImageError]:
    """Run :func:`prepare_image` over many sources in a thread pool (Pillow releases the GIL).

    Order is kept; a bad image yields its ImageError in place and never aborts the rest.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")

    def one(source: ImageSource) -> PreparedImage | ImageError:
        try:
            return prepare_image(source, **same_kwargs)
        except ImageError as exc:
            return exc

    items = list(sources)
    if workers == 1 or len(items) <= 1:
        return [one(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="preprocess") as pool:
        return list(pool.map(one, items))


def load_upright(
    source: ImageSource, *, max_side: int | None = None, limits: ImageLimits | None = None
) -> Image.Image:
    """Decode an image upright (EXIF applied) in RGB, downsized to fit ``max_side`` if given.

    JPEGs decode at a reduced DCT scale when ``max_side`` allows, so this stays cheap for large photos.

    Raises:
        ImageError: as :func:`prepare_image` does.
    """
    lim = limits or ImageLimits()
    src = _checked(_imageio.open_source(source), lim)
    w, h = src.upright_size
    factor = 1.0 if max_side is None else min(1.0, max_side / w, max_side / h)
    region = (0, 0, w, h)
    decoded = _decode(src, region, _scaled((w, h), factor))
    image = _resample(decoded, region, _scaled((w, h), factor))
    return image.copy() if image is source else image  # never hand back the caller's own object


# --- internals ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Decoded:
    image: Image.Image  # stored orientation, possibly at a reduced DCT scale, in a mode we can resample
    step: float  # stored pixels per decoded pixel (1, 2, 4 or 8)
    stored_size: tuple[int, int]
    orientation: int
    sixteen_bit: bool
    icc_profile: bytes | None


def resolve_preset(preset: Preset) -> tuple[int, int, int] | None:
    if preset is None:
        return None
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}: use one of {sorted(PRESETS)}, a tuple, or None")
        return PRESETS[preset]
    max_w, max_h, quality = preset
    if max_w < 1 or max_h < 1 or not 1 <= quality <= 100:
        raise ValueError(f"a custom preset is (max_w >= 1, max_h >= 1, 1 <= quality <= 100), got {preset!r}")
    return int(max_w), int(max_h), int(quality)


def _checked(src: Source, lim: ImageLimits) -> Source:
    """Check an image opened from its header only: the pixel budget and minimum side, before any decoding."""
    w, h = src.image.size
    if w * h > lim.max_pixels:
        raise ImageError(
            f"image has {w}×{h} = {w * h} pixels, above the limit of {lim.max_pixels}",
            reason="decompression_bomb",
        )
    if min(w, h) < lim.min_side:
        raise ImageError(
            f"image is {w}×{h}; each side must be at least {lim.min_side} px", reason="too_small"
        )
    if src.owned:
        # JPEG EXIF is in the header; other formats may keep it after the pixels, so decode those now.
        if src.image.format not in ("JPEG", "MPO"):
            with _imageio.decode_errors("image"), _bomb_guard(src.image):
                src.image.load()
        src.orientation = _imageio.orientation_of(src.image)
    return src


def _bomb_guard(image: Image.Image) -> AbstractContextManager[None]:
    """Silence Pillow's own bomb warning while decoding images it would warn about (ours already passed)."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and image.size[0] * image.size[1] > limit:
        return _imageio.quiet_bomb_warning()
    return nullcontext()


def _verify(image: Image.Image) -> None:
    """Decode once (JPEG at 1/8 scale) so a truncated original is refused rather than passed through."""
    if image.format in ("JPEG", "MPO"):
        image.draft(image.mode, (1, 1))
    image.load()


def _can_pass_through(src: Source, lim: ImageLimits, *, has_box: bool, crop: bool) -> bool:
    if not src.owned or src.data is None or crop:
        return False
    fmt = "JPEG" if src.image.format == "MPO" else src.image.format
    if fmt not in lim.formats:
        return False
    if src.orientation != 1 and (has_box or not lim.keep_exif_orientation):
        return False
    if lim.max_bytes is not None and len(src.data) > lim.max_bytes:
        return False
    return lim.max_side is None or max(src.upright_size) <= lim.max_side


def _as_is(data: bytes, spec: tuple[int, int, int], lim: ImageLimits) -> _jpeg.JpegInfo | None:
    """The JPEG's header, with its metadata stripped, when re-encoding it would gain nothing; else None.

    That is: a complete, upright, 8-bit RGB or greyscale JPEG within the preset's and the provider's sides and
    pixel budget, no heavier than about a quality-90 encode (``_AS_IS_BYTES_PER_PIXEL``), and within
    ``max_bytes``. Its EXIF, XMP, IPTC and comments are dropped byte-wise (no generation loss); the JFIF, ICC
    and Adobe segments stay. Its structure and end-of-image marker are checked (a truncated download takes the
    general path, which refuses it as ``truncated``); its entropy-coded pixels are not decoded here.
    """
    if "JPEG" not in lim.formats:
        return None
    info = _jpeg.read_jpeg(data)
    if info is None or not info.complete or info.orientation != 1 or info.components not in (1, 3):
        return None
    w, h = info.width, info.height
    max_w, max_h, _ = spec
    if lim.max_side is not None:
        max_w, max_h = min(max_w, lim.max_side), min(max_h, lim.max_side)
    if not (lim.min_side <= min(w, h) and w <= max_w and h <= max_h and w * h <= lim.max_pixels):
        return None
    if len(data) > _AS_IS_HEADER_BYTES + _AS_IS_BYTES_PER_PIXEL * w * h:
        return None
    if lim.max_bytes is not None and len(info.stripped) > lim.max_bytes:
        return None
    return info


def _decode(src: Source, region: tuple[int, int, int, int], target: tuple[int, int]) -> _Decoded:
    """Decode the stored pixels, letting libjpeg shrink by the largest DCT scale that keeps ``target``."""
    image, orientation = src.image, src.orientation
    stored = image.size
    step = 1.0
    if src.owned and image.format in ("JPEG", "MPO"):
        x1, y1, x2, y2 = _imageio.to_stored_rect(orientation, region, stored)
        tw, th = (target[1], target[0]) if orientation >= 5 else target
        request = (
            max(1, math.ceil(stored[0] * tw / (x2 - x1))),
            max(1, math.ceil(stored[1] * th / (y2 - y1))),
        )
        drafted = image.draft("RGB", request)
        if drafted is not None:
            step = stored[0] / drafted[1][2]
    with _imageio.decode_errors("image"), _bomb_guard(image):
        image.load()
    mode = image.mode
    icc = image.info.get("icc_profile")
    keep_icc = isinstance(icc, bytes) and icc[16:20] == b"RGB " and mode in ("RGB", "RGBA")
    return _Decoded(
        image=_imageio.prepare_mode(image),
        step=step,
        stored_size=stored,
        orientation=orientation,
        sixteen_bit=mode.startswith("I;16"),
        icc_profile=icc if keep_icc and isinstance(icc, bytes) else None,
    )


def _resample(decoded: _Decoded, region: tuple[int, int, int, int], size: tuple[int, int]) -> Image.Image:
    """Resize the region to ``size`` (upright) in one LANCZOS pass, then orient and normalise it (small)."""
    o = decoded.orientation
    x1, y1, x2, y2 = (v / decoded.step for v in _imageio.to_stored_rect(o, region, decoded.stored_size))
    stored_size = (size[1], size[0]) if o >= 5 else size
    image = decoded.image
    if (x1, y1, x2, y2) != (0, 0, *image.size) or stored_size != image.size:
        # reducing_gap=3 is indistinguishable from a plain LANCZOS pass (Pillow docs) and only kicks in
        # for factors >= 6, i.e. non-JPEG sources that had no DCT-scale reduction.
        image = image.resize(stored_size, Image.Resampling.LANCZOS, box=(x1, y1, x2, y2), reducing_gap=3.0)
    if o != 1:
        image = image.transpose(TRANSPOSE[o])
    return _imageio.to_rgb(image, sixteen_bit=decoded.sixteen_bit)


def _encode_within(
    decoded: _Decoded, region: tuple[int, int, int, int], factor: float, quality: int, lim: ImageLimits
) -> tuple[bytes, tuple[int, int]]:
    """Encode at ``quality``; over ``max_bytes``, walk the quality ladder, then downscale by 0.8 steps."""
    ladder = (quality, *(q for q in _QUALITY_LADDER if q < quality))
    natural = (region[2] - region[0], region[3] - region[1])
    size = _scaled(natural, factor)
    while True:
        image = _resample(decoded, region, size)
        for q in ladder if lim.max_bytes is not None else ladder[:1]:
            data = _imageio.encode_jpeg(image, q, decoded.icc_profile)
            if lim.max_bytes is None or len(data) <= lim.max_bytes:
                return data, image.size
        factor *= _DOWNSCALE_STEP
        smaller = _scaled(natural, factor)
        if min(smaller) < max(_MIN_DOWNSCALED_SIDE, lim.min_side) or smaller == size:
            raise ImageError(
                f"image does not fit in {lim.max_bytes} bytes, even at quality {ladder[-1]} "
                f"and {size[0]}×{size[1]} px: raise max_bytes or send a smaller image",
                reason="too_large",
            )
        size = smaller


def _scaled(size: tuple[int, int], factor: float) -> tuple[int, int]:
    """Scale a size, rounding half up, never below 1 px and never above the original."""
    w, h = size
    return max(1, min(w, math.floor(w * factor + 0.5))), max(1, min(h, math.floor(h * factor + 0.5)))


def _clamp(box: Box, size: tuple[int, int]) -> Box:
    w, h = size
    return (
        max(0.0, min(box[0], w)),
        max(0.0, min(box[1], h)),
        max(0.0, min(box[2], w)),
        max(0.0, min(box[3], h)),
    )


def _clamp_box(box: Box, size: tuple[int, int]) -> Box:
    """Clamp a box to the image; one that is outside or degenerate once clamped is a ``bad_box``."""
    x1, y1, x2, y2 = _clamp(box, size)
    if x2 <= x1 or y2 <= y1:
        raise ImageError(f"box {box!r} lies outside the {size[0]}×{size[1]} image", reason="bad_box")
    return x1, y1, x2, y2


def _round_box(box: Box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Round half up and clamp to ``size``; a box overlapping the image keeps at least one pixel."""
    x1, x2 = _round_span(box[0], box[2], size[0])
    y1, y2 = _round_span(box[1], box[3], size[1])
    return x1, y1, x2, y2


def _round_span(lo: float, hi: float, limit: int) -> tuple[int, int]:
    a, b = (max(0, min(math.floor(v + 0.5), limit)) for v in (lo, hi))
    if b <= a and lo < hi and lo < limit and hi > 0:  # a sliver that rounded away
        a = min(a, limit - 1)
        b = a + 1
    return a, b
