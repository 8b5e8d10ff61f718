"""The near-duplicate evaluation set: real photographs shipped inside PyPI packages, tiled, plus synthetics.

Nothing here downloads anything: the photographs are read from the installed packages' own data folders
(scikit-image's ``skimage/data``, matplotlib's ``mpl-data/sample_data``, scikit-learn's
``sklearn/datasets/images``). Each photograph is cut into a grid of non-overlapping cells. Some cells become
query *bases*; distractors are only ever cut from cells that hold no base (whole cells, their quadrants, and
2x2 blocks of base-free cells), so no distractor shares a pixel with a base. Procedurally generated
photographic-like images (smooth colour fields, soft shapes, grain) make up the rest of the distractors.
Everything is deterministic for a given seed.
"""

from __future__ import annotations

import importlib.util
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

__all__ = ["TRANSFORMS", "EvalSet", "MissingDataError", "build_evalset", "fit_512"]

# (pip package, import name, path inside the package): real photographs only. motorcycle_right is left out
# on purpose: it is the other half of a stereo pair with motorcycle_left, hence a near-duplicate of it.
_PHOTOS: tuple[tuple[str, str, str], ...] = (
    *(
        ("scikit-image", "skimage", f"data/{name}")
        for name in (
            "astronaut.png",
            "brick.png",
            "camera.png",
            "cell.png",
            "chelsea.png",
            "coffee.png",
            "coins.png",
            "grass.png",
            "gravel.png",
            "hubble_deep_field.jpg",
            "ihc.png",
            "moon.png",
            "motorcycle_left.png",
            "retina.jpg",
            "rocket.jpg",
        )
    ),
    ("matplotlib", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    ("scikit-learn", "sklearn", "datasets/images/china.jpg"),
    ("scikit-learn", "sklearn", "datasets/images/flower.jpg"),
)

CELL = 128  # side of a grid cell, in pixels of the original photograph
_MIN_STD = 8.0  # cells flatter than this (grey std) are left out: black fundus corners, empty sky


class MissingDataError(RuntimeError):
    """A package that ships the evaluation photographs is not installed."""


@dataclass
class EvalSet:
    """Bases (the images queried for) and distractors (index-only images)."""

    bases: list[Image.Image]
    distractors: list[Image.Image]
    base_names: list[str]
    n_photo_distractors: int
    n_photos: int


def _package_dir(import_name: str) -> Path | None:
    # find_spec on a top-level name locates the package without importing it (no scipy import cost).
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def load_photos() -> list[tuple[str, Image.Image]]:
    """Read every evaluation photograph from its installed package, as RGB.

    Raises:
        MissingDataError: naming the packages to install.
    """
    missing: set[str] = set()
    photos: list[tuple[str, Image.Image]] = []
    for dist, import_name, rel in _PHOTOS:
        root = _package_dir(import_name)
        path = root / rel if root is not None else None
        if path is None or not path.is_file():
            missing.add(dist)
            continue
        with Image.open(path) as im:
            photos.append((f"{import_name}/{Path(rel).name}", im.convert("RGB")))
    if missing:
        names = " ".join(sorted(missing))
        raise MissingDataError(
            f"the evaluation photographs ship inside these packages, which are not installed: {names}; "
            f"run `pip install {names}` (or install the project's `eval` extra)"
        )
    return photos


def fit_512(img: Image.Image) -> Image.Image:
    """Downsize to fit 512x512 (LANCZOS), as the engine's preprocessing does; smaller images are kept."""
    if img.width <= 512 and img.height <= 512:
        return img
    out = img.copy()
    out.thumbnail((512, 512), Image.Resampling.LANCZOS)
    return out


def _is_flat(tile: Image.Image) -> bool:
    return float(np.asarray(tile.convert("L"), dtype=np.float32).std()) < _MIN_STD


def _synthetic(rng: np.random.Generator, size: int) -> Image.Image:
    """A photographic-like procedural image: smooth colour field, soft shapes, blur and grain."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    field = np.zeros((size, size, 3), dtype=np.float32)
    for c in range(3):
        base = rng.uniform(30, 220)
        acc = np.full((size, size), base, dtype=np.float32)
        for _ in range(3):
            fx, fy = rng.uniform(0.3, 3.0, size=2)
            phase = rng.uniform(0, 2 * math.pi)
            acc += rng.uniform(10, 50) * np.cos(2 * math.pi * (fx * xx + fy * yy) + phase)
        field[..., c] = acc
    img = Image.fromarray(np.clip(field, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img, "RGBA")
    for _ in range(int(rng.integers(3, 12))):
        x0, y0 = rng.uniform(-0.2, 1.0, size=2) * size
        w, h = rng.uniform(0.05, 0.6, size=2) * size
        colour = (*(int(v) for v in rng.integers(0, 256, size=3)), int(rng.integers(90, 256)))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            draw.ellipse((x0, y0, x0 + w, y0 + h), fill=colour)
        elif kind == 1:
            draw.rectangle((x0, y0, x0 + w, y0 + h), fill=colour)
        else:
            pts = [
                (float(px), float(py))
                for px, py in rng.uniform(-0.1, 1.1, size=(int(rng.integers(3, 7)), 2)) * size
            ]
            draw.polygon(pts, fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 3.0))))
    grain = rng.normal(0.0, rng.uniform(2.0, 10.0), size=(size, size, 1)).astype(np.float32)
    arr = np.asarray(img, dtype=np.float32) + grain
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def build_evalset(*, n_bases: int = 160, n_distractors: int = 2200, seed: int = 0) -> EvalSet:
    """Tile the photographs into bases and photo distractors, then top up with synthetic distractors."""
    rng = np.random.default_rng(seed)
    photos = load_photos()
    grids: list[tuple[str, Image.Image, int, int, np.ndarray]] = []  # name, photo, rows, cols, flat mask
    candidates: list[tuple[int, int, int]] = []  # (photo index, row, col)
    for p, (name, photo) in enumerate(photos):
        rows, cols = photo.height // CELL, photo.width // CELL
        flat = np.zeros((rows, cols), dtype=bool)
        for r in range(rows):
            for c in range(cols):
                flat[r, c] = _is_flat(photo.crop((c * CELL, r * CELL, (c + 1) * CELL, (r + 1) * CELL)))
                if not flat[r, c]:
                    candidates.append((p, r, c))
        grids.append((name, photo, rows, cols, flat))

    # Bases: at most ~55% of each photo's usable cells, so every photo keeps distractors of its own.
    order = rng.permutation(len(candidates))
    per_photo: dict[int, int] = {}
    usable = {p: int((~g[4]).sum()) for p, g in enumerate(grids)}
    is_base = [np.zeros((g[2], g[3]), dtype=bool) for g in grids]
    bases: list[Image.Image] = []
    names: list[str] = []
    for i in order:
        p, r, c = candidates[i]
        if len(bases) >= n_bases or per_photo.get(p, 0) >= math.ceil(0.55 * usable[p]):
            continue
        per_photo[p] = per_photo.get(p, 0) + 1
        is_base[p][r, c] = True
        bases.append(grids[p][1].crop((c * CELL, r * CELL, (c + 1) * CELL, (r + 1) * CELL)))
        names.append(f"{grids[p][0]}@r{r}c{c}")

    distractors: list[Image.Image] = []
    half = CELL // 2
    for p, (_, photo, rows, cols, flat) in enumerate(grids):
        for r in range(rows):
            for c in range(cols):
                if is_base[p][r, c] or flat[r, c]:
                    continue
                x, y = c * CELL, r * CELL
                distractors.append(photo.crop((x, y, x + CELL, y + CELL)))
                for dy in (0, half):
                    for dx in (0, half):
                        q = photo.crop((x + dx, y + dy, x + dx + half, y + dy + half))
                        if not _is_flat(q):
                            distractors.append(q)
        for r in range(rows - 1):  # windows over 2x2 base-free cells: a coarser scale, and a shifted grid
            for c in range(cols - 1):
                if is_base[p][r : r + 2, c : c + 2].any() or flat[r : r + 2, c : c + 2].all():
                    continue
                x, y = c * CELL, r * CELL
                distractors.append(photo.crop((x, y, x + 2 * CELL, y + 2 * CELL)))
                shifted = photo.crop((x + half, y + half, x + half + CELL, y + half + CELL))
                if not _is_flat(shifted):
                    distractors.append(shifted)
    n_photo = len(distractors)
    while len(distractors) < n_distractors:
        distractors.append(_synthetic(rng, int(rng.choice([96, 128, 160]))))
    return EvalSet(bases, distractors, names, n_photo, len(photos))


# --- query transforms -------------------------------------------------------------------------------------


def _rescale(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    s = float(rng.uniform(0.3, 0.7))
    return img.resize((max(8, round(img.width * s)), max(8, round(img.height * s))), Image.Resampling.LANCZOS)


def _jpeg30(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=30)
    buf.seek(0)
    with Image.open(buf) as decoded:
        out: Image.Image = decoded.convert("RGB")
    return out


def _crop(img: Image.Image, fx: float, fy: float, frac: float = 0.85) -> Image.Image:
    cw, ch = round(img.width * frac), round(img.height * frac)
    x, y = round((img.width - cw) * fx), round((img.height - ch) * fy)
    return img.crop((x, y, x + cw, y + ch))


def _off_centre_crop(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    # Anywhere in the frame, but clearly away from the centre on at least one axis.
    while True:
        fx, fy = (float(v) for v in rng.uniform(0.0, 1.0, size=2))
        if max(abs(fx - 0.5), abs(fy - 0.5)) >= 0.3:
            return _crop(img, fx, fy)


def _rotate(angle: float) -> Callable[[Image.Image, np.random.Generator], Image.Image]:
    def apply(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        rot = img.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False)
        # Keep the largest centred upright rectangle free of the rotated corners, as a photo editor does.
        t = math.radians(abs(angle))
        k = 1.0 / (math.cos(t) + math.sin(t) * max(img.width, img.height) / min(img.width, img.height))
        return _crop(rot, 0.5, 0.5, frac=k)

    return apply


def _brightness(factor: float) -> Callable[[Image.Image, np.random.Generator], Image.Image]:
    return lambda img, rng: ImageEnhance.Brightness(img).enhance(factor)


def _watermark(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(8, img.width // 7)
    font = ImageFont.load_default(size=size)
    text = "© SAMPLE"
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = float(rng.uniform(0, max(1, img.width - (right - left))))
    y = float(rng.uniform(0, max(1, img.height - (bottom - top))))
    draw.text((x, y), text, font=font, fill=(255, 255, 255, 110), stroke_width=1, stroke_fill=(0, 0, 0, 60))
    return Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")


TRANSFORMS: dict[str, Callable[[Image.Image, np.random.Generator], Image.Image]] = {
    "rescale 30-70%": _rescale,
    "jpeg q30": _jpeg30,
    "centre crop 85%": lambda img, rng: _crop(img, 0.5, 0.5),
    "off-centre crop 85%": _off_centre_crop,
    "rotate +5°": _rotate(5.0),
    "rotate -5°": _rotate(-5.0),
    "brightness +20%": _brightness(1.2),
    "brightness -20%": _brightness(0.8),
    "horizontal flip": lambda img, rng: ImageOps.mirror(img),
    "text watermark": _watermark,
}
"""Query transforms, each applied to every base; ``rng`` draws the per-image randomness."""
