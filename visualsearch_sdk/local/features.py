"""Image features of the local reference engine: Pillow + numpy, deterministic, versioned.

A feature vector concatenates three parts, each L2-normalised and then weighted so the whole vector has unit
norm (the cosine of two vectors is the weighted sum of the parts' cosines):

1. **colour**: a soft (trilinear) CIELAB histogram, square-rooted (Hellinger), so a dot product of two colour
   parts is their Bhattacharyya coefficient. Colour survives rescaling, JPEG, crops and mirroring.
2. **layout**: the low-frequency 2-D DCT of a grey thumbnail, DC dropped. The part is signed and
   contrast-free, so unrelated images land near cosine 0 while a resized or recompressed copy stays near 1.
3. **shape**: a gradient-orientation histogram (HOG-like) over a coarse grid with soft spatial and angular
   binning, magnitude-weighted and square-rooted; it ignores brightness and most colour shifts.

Everything is computed on one small square thumbnail, so extraction costs about a millisecond whatever the
input size. Bump :data:`FEATURE_VERSION` whenever a vector could change: an index built with another version
is refused by the engine.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt
from PIL import Image

from visualsearch_sdk._exceptions import InvalidQueryError

__all__ = [
    "COLOR_SLICE",
    "DIM",
    "FEATURE_VERSION",
    "color_features",
    "color_scores",
    "image_features",
    "index_views",
    "mirror_map",
    "parse_hex_color",
    "query_features",
]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.intp]

FEATURE_VERSION = "vsf-2"
"""Identifies the feature recipe; stored with an index and checked when it is opened."""

_THUMB = 64  # every part is computed from one _THUMB x _THUMB RGB thumbnail

# Colour: bins along L*, a*, b* and the ranges they cover (values outside are clamped to the edge bins).
_L_BINS, _A_BINS, _B_BINS = 3, 9, 9  # lightness coarse: brightness edits move L* most
_L_RANGE = (0.0, 100.0)
_AB_RANGE = (-60.0, 60.0)
_COLOR_DIM = _L_BINS * _A_BINS * _B_BINS

# Layout: keep the DCT coefficients (u, v) with u, v < _DCT_K, minus DC, damped by 1 / (1 + (u + v) / 4)
# because the higher of these frequencies move most under crops and small rotations.
_DCT_K = 8
_DCT_DAMPING = 4.0
_DCT_DIM = _DCT_K * _DCT_K - 1

# Shape: _HOG_GRID x _HOG_GRID cells of _HOG_BINS unsigned orientations.
_HOG_GRID = 4
_HOG_BINS = 9
_HOG_DIM = _HOG_GRID * _HOG_GRID * _HOG_BINS

# Squared weights add up to 1, so they are the parts' shares of the cosine. The shape part carries the most
# because it is the most tolerant of crops (vsf-1's 0.35/0.35/0.30 lost off-centre 85 % crops to the layout).
_W_COLOR, _W_DCT, _W_HOG = np.sqrt(np.array([0.30, 0.25, 0.45], dtype=np.float64))

DIM: int = _COLOR_DIM + _DCT_DIM + _HOG_DIM
"""Total dimension of a feature vector."""

COLOR_SLICE = slice(0, _COLOR_DIM)
"""Where the colour histogram lives inside a feature vector."""
_DCT_SLICE = slice(_COLOR_DIM, _COLOR_DIM + _DCT_DIM)
_HOG_SLICE = slice(_COLOR_DIM + _DCT_DIM, DIM)

_MULTI_VIEW_CROP = 0.8  # side of each corner view, as a fraction of the image's side

_HEX_RE = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")


def _srgb_to_linear_lut() -> FloatArray:
    c = np.arange(256, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin.astype(np.float32)


def _dct_matrix(n: int, k: int) -> FloatArray:
    """The first ``k`` rows of the orthonormal DCT-II matrix of size ``n``."""
    x = np.arange(n, dtype=np.float64)
    u = np.arange(k, dtype=np.float64)[:, None]
    m = np.cos(np.pi * (2.0 * x[None, :] + 1.0) * u / (2.0 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    out: FloatArray = m.astype(np.float32)
    return out


_LINEAR_LUT = _srgb_to_linear_lut()
# Linear sRGB -> XYZ, with the D65 white point divided out (so white maps to (1, 1, 1)).
_RGB_TO_XYZN = (
    np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ],
        dtype=np.float64,
    )
    / np.array([0.95047, 1.0, 1.08883])[:, None]
).T.astype(np.float32)
_DCT = _dct_matrix(_THUMB, _DCT_K)
_DCT_KEEP = np.ones((_DCT_K, _DCT_K), dtype=bool)
_DCT_KEEP[0, 0] = False
_FREQ = np.add.outer(np.arange(_DCT_K), np.arange(_DCT_K))
_DCT_WEIGHTS = (1.0 / (1.0 + _FREQ / _DCT_DAMPING)).astype(np.float32)


def _thumbnail(img: Image.Image) -> npt.NDArray[np.uint8]:
    """Resize to the square working thumbnail (antialiased), as a uint8 (H, W, 3) array."""
    if img.mode != "RGB":
        img = img.convert("RGB")
    small = img.resize((_THUMB, _THUMB), Image.Resampling.BILINEAR, reducing_gap=3.0)
    return np.asarray(small, dtype=np.uint8)


def _lab(rgb: npt.NDArray[np.uint8]) -> FloatArray:
    """CIELAB (D65) of uint8 sRGB pixels, shape (..., 3) -> (..., 3)."""
    xyz = _LINEAR_LUT[rgb] @ _RGB_TO_XYZN
    eps = 216.0 / 24389.0
    f = np.where(xyz > eps, np.cbrt(np.maximum(xyz, eps)), xyz * (24389.0 / 27.0 / 116.0) + 16.0 / 116.0)
    lab: FloatArray = np.empty(f.shape, dtype=np.float32)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def _soft_coords(
    values: FloatArray, lo: float, hi: float, bins: int
) -> tuple[IntArray, IntArray, FloatArray]:
    """Linear-interpolation binning: lower bin, upper bin, weight of the upper bin."""
    c = np.clip((values - lo) * (bins / (hi - lo)) - 0.5, 0.0, bins - 1.0)
    i0 = np.minimum(c.astype(np.intp), bins - 1)
    i1 = np.minimum(i0 + 1, bins - 1)
    return i0, i1, (c - i0).astype(np.float32)


def _color_hist(lab: FloatArray) -> FloatArray:
    """Soft L*a*b* histogram of pixels (N, 3), square-rooted and L2-normalised."""
    li0, li1, lw = _soft_coords(lab[:, 0], *_L_RANGE, _L_BINS)
    ai0, ai1, aw = _soft_coords(lab[:, 1], *_AB_RANGE, _A_BINS)
    bi0, bi1, bw = _soft_coords(lab[:, 2], *_AB_RANGE, _B_BINS)
    hist = np.zeros(_COLOR_DIM, dtype=np.float64)
    for li, lwt in ((li0, 1.0 - lw), (li1, lw)):
        for ai, awt in ((ai0, 1.0 - aw), (ai1, aw)):
            base = (li * _A_BINS + ai) * _B_BINS
            lawt = lwt * awt
            hist += np.bincount(base + bi0, lawt * (1.0 - bw), minlength=_COLOR_DIM)
            hist += np.bincount(base + bi1, lawt * bw, minlength=_COLOR_DIM)
    return _unit(np.sqrt(hist))


def _dct_part(grey: FloatArray) -> FloatArray:
    """Low-frequency DCT of the grey thumbnail, DC dropped; brightness and contrast are normalised away."""
    g = grey - grey.mean()
    coeffs = (_DCT @ g @ _DCT.T) * _DCT_WEIGHTS
    return _unit(coeffs[_DCT_KEEP])


def _hog_part(grey: FloatArray) -> FloatArray:
    """Magnitude-weighted, softly binned gradient orientations over a coarse grid, square-rooted."""
    gx = np.zeros_like(grey)
    gy = np.zeros_like(grey)
    gx[:, 1:-1] = grey[:, 2:] - grey[:, :-2]
    gy[1:-1, :] = grey[2:, :] - grey[:-2, :]
    mag = np.sqrt(gx * gx + gy * gy).ravel()
    # Unsigned orientation in [0, pi), as a continuous bin coordinate (bins wrap around).
    ang = np.arctan2(gy, gx).ravel() % np.pi
    o = ang * (_HOG_BINS / np.pi) - 0.5
    o0f = np.floor(o)
    ow = (o - o0f).astype(np.float32)
    o0 = o0f.astype(np.intp) % _HOG_BINS
    o1 = (o0 + 1) % _HOG_BINS
    # Soft spatial assignment: pixel centres to cell coordinates, clamped at the border cells.
    pos = (np.arange(_THUMB, dtype=np.float32) + 0.5) * (_HOG_GRID / _THUMB)
    y0, y1, yw = _soft_coords(pos, 0.0, float(_HOG_GRID), _HOG_GRID)
    x0, x1, xw = y0, y1, yw
    hist = np.zeros(_HOG_DIM, dtype=np.float64)
    for yi, ywt in ((y0, 1.0 - yw), (y1, yw)):
        for xi, xwt in ((x0, 1.0 - xw), (x1, xw)):
            cell = (yi[:, None] * _HOG_GRID + xi[None, :]).ravel() * _HOG_BINS
            w = (ywt[:, None] * xwt[None, :]).ravel() * mag
            hist += np.bincount(cell + o0, w * (1.0 - ow), minlength=_HOG_DIM)
            hist += np.bincount(cell + o1, w * ow, minlength=_HOG_DIM)
    return _unit(np.sqrt(hist))


def _unit(v: npt.NDArray[np.floating]) -> FloatArray:
    """``v`` scaled to unit L2 norm (a zero vector stays zero), as float32."""
    v32 = np.asarray(v, dtype=np.float32)
    n = float(np.linalg.norm(v32))
    return v32 / n if n > 1e-12 else v32


def _features_from_thumb(rgb: npt.NDArray[np.uint8]) -> FloatArray:
    lab = _lab(rgb)
    grey = lab[..., 0]  # L* is a perceptual grey, already computed
    out = np.empty(DIM, dtype=np.float32)
    out[COLOR_SLICE] = _W_COLOR * _color_hist(lab.reshape(-1, 3))
    out[_DCT_SLICE] = _W_DCT * _dct_part(grey)
    out[_HOG_SLICE] = _W_HOG * _hog_part(grey)
    return _unit(out)


def image_features(img: Image.Image) -> FloatArray:
    """The feature vector of one image.

    Args:
        img: an upright image of any size and mode (converted to RGB).

    Returns:
        float32 array of shape ``(DIM,)`` with unit L2 norm.
    """
    return _features_from_thumb(_thumbnail(img))


def query_features(img: Image.Image) -> FloatArray:
    """Flip-aware query rows: the image and its horizontal mirror, shape ``(2, DIM)``.

    Score a stored vector by the maximum over the rows, so a mirrored copy is found as well as the original.
    """
    thumb = _thumbnail(img)
    return np.stack([_features_from_thumb(thumb), _features_from_thumb(np.ascontiguousarray(thumb[:, ::-1]))])


def index_views(img: Image.Image, *, multi_view: bool = False) -> FloatArray:
    """Rows to store for one image: ``(1, DIM)``, or with ``multi_view`` the image plus its 4 corner crops.

    The corner crops (each side :data:`_MULTI_VIEW_CROP` of the image's) make a stored record findable from a
    cropped query; the engine scores a record by its best view.
    """
    if not multi_view:
        return image_features(img)[None, :]
    if img.mode != "RGB":
        img = img.convert("RGB")
    w, h = img.size
    cw, ch = max(1, round(w * _MULTI_VIEW_CROP)), max(1, round(h * _MULTI_VIEW_CROP))
    boxes = [(0, 0), (w - cw, 0), (0, h - ch), (w - cw, h - ch)]
    views = [image_features(img)]
    views += [image_features(img.crop((x, y, x + cw, y + ch))) for x, y in boxes]
    return np.stack(views)


def mirror_map() -> tuple[IntArray, FloatArray]:
    """How a horizontal mirror acts on features: ``features(mirror(img)) == sign * features(img)[perm]``.

    The action is a signed permutation that is its own inverse: the colour part is unchanged, a DCT
    coefficient of odd horizontal frequency changes sign, and the gradient histogram swaps cells left to right
    while reflecting each orientation bin (theta -> pi - theta). The engine uses it to score a query and its
    mirror in one pass over the matrix (see ``local/engine.py``).
    """
    perm = np.arange(DIM, dtype=np.intp)
    sign = np.ones(DIM, dtype=np.float32)
    keep = np.flatnonzero(_DCT_KEEP.ravel())
    u = (np.arange(_DCT_K * _DCT_K) % _DCT_K)[keep]  # horizontal frequency of each kept coefficient
    sign[_DCT_SLICE] = np.where(u % 2 == 1, -1.0, 1.0)
    cell_y, cell_x, b = np.unravel_index(np.arange(_HOG_DIM), (_HOG_GRID, _HOG_GRID, _HOG_BINS))
    mirrored = np.ravel_multi_index(
        (cell_y, _HOG_GRID - 1 - cell_x, (_HOG_BINS - 1 - b) % _HOG_BINS), (_HOG_GRID, _HOG_GRID, _HOG_BINS)
    )
    perm[_HOG_SLICE] = _HOG_SLICE.start + mirrored
    return perm, sign


def color_features(rgb: tuple[int, int, int]) -> FloatArray:
    """A solid colour's soft histogram: zero outside :data:`COLOR_SLICE`, unit norm inside it.

    Raises:
        InvalidQueryError: a channel is not an integer in 0..255.
    """
    if len(rgb) != 3 or any(not isinstance(c, int) or isinstance(c, bool) or not 0 <= c <= 255 for c in rgb):
        raise InvalidQueryError(f"a colour is three integers in 0..255, got {rgb!r}")
    lab = _lab(np.array([rgb], dtype=np.uint8))
    out = np.zeros(DIM, dtype=np.float32)
    out[COLOR_SLICE] = _color_hist(lab)
    return out


def color_scores(matrix_color_part: npt.NDArray[np.float32], rgb: tuple[int, int, int]) -> FloatArray:
    """Similarity in [0, 1] of each stored colour part to a solid colour.

    Args:
        matrix_color_part: stored vectors restricted to :data:`COLOR_SLICE`, shape ``(N, COLOR_SLICE width)``
            (their scale does not matter: each row is normalised here).
        rgb: the colour.

    Returns:
        float32 array of shape ``(N,)``: the Bhattacharyya coefficient of each image's colour distribution and
        the colour's (1 for an image of exactly that colour).
    """
    m = np.asarray(matrix_color_part, dtype=np.float32)
    if m.ndim != 2 or m.shape[1] != _COLOR_DIM:
        raise ValueError(f"expected shape (N, {_COLOR_DIM}), got {m.shape}")
    q = color_features(rgb)[COLOR_SLICE]
    norms = np.linalg.norm(m, axis=1)
    dots = m @ q
    scores: FloatArray = np.zeros(len(m), dtype=np.float32)
    np.divide(dots, norms, out=scores, where=norms > 1e-12)
    return np.clip(scores, 0.0, 1.0, out=scores)


def parse_hex_color(value: str) -> tuple[int, int, int]:
    """Parse ``"#fa4d4d"``, ``"fa4d4d"`` or ``"#f4d"`` (case-insensitive) into an RGB triple.

    Raises:
        InvalidQueryError: ``value`` is not a 3- or 6-digit hex colour.
    """
    match = _HEX_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidQueryError(f"expected a hex colour like '#fa4d4d' or '#f4d', got {value!r}")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    r, g, b = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    return (r, g, b)
