"""Sample "product photos" for ``visualsearch demo``, drawn with Pillow (deterministic, no files shipped).

Each sample is a textured studio-like scene: a coloured product silhouette (dress, shoe, bag, shirt, lamp,
mug) on a soft background with lighting and noise, so the local engine has real colour, shape and texture
to rank, and the metadata (brand, category, colour, price) gives filters something to bite on.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = ["Sample", "make_samples"]

_COLOURS = {
    "red": (200, 40, 45),
    "navy": (30, 45, 110),
    "green": (40, 130, 70),
    "yellow": (225, 190, 40),
    "black": (30, 30, 32),
    "pink": (230, 120, 160),
}
_BRANDS = ("Aurora", "Boreal", "Cirrus")


@dataclass(frozen=True)
class Sample:
    """One sample image (JPEG bytes) with its id and metadata."""

    id: str
    jpeg: bytes
    metadata: dict[str, str | float]


def _shape(draw: ImageDraw.ImageDraw, kind: str, colour: tuple[int, int, int], rng: random.Random) -> None:
    cx, cy = 200 + rng.randint(-20, 20), 200 + rng.randint(-15, 15)
    dark = tuple(max(0, c - 60) for c in colour)
    if kind == "dress":
        draw.polygon(
            [(cx - 40, cy - 120), (cx + 40, cy - 120), (cx + 110, cy + 130), (cx - 110, cy + 130)], colour
        )
        draw.rectangle([cx - 40, cy - 150, cx + 40, cy - 120], fill=dark)
    elif kind == "shoe":
        draw.ellipse([cx - 140, cy + 10, cx + 140, cy + 80], fill=colour)
        draw.polygon(
            [(cx - 140, cy + 40), (cx - 60, cy - 70), (cx, cy - 70), (cx + 10, cy + 30)], fill=colour
        )
        draw.line([(cx - 140, cy + 75), (cx + 140, cy + 75)], fill=dark, width=10)
    elif kind == "bag":
        draw.rounded_rectangle([cx - 110, cy - 60, cx + 110, cy + 110], 25, fill=colour)
        draw.arc([cx - 70, cy - 150, cx + 70, cy - 10], 180, 360, fill=dark, width=14)
    elif kind == "shirt":
        draw.polygon(
            [
                (cx - 70, cy - 120),
                (cx + 70, cy - 120),
                (cx + 150, cy - 60),
                (cx + 110, cy - 20),
                (cx + 80, cy - 50),
                (cx + 80, cy + 130),
                (cx - 80, cy + 130),
                (cx - 80, cy - 50),
                (cx - 110, cy - 20),
                (cx - 150, cy - 60),
            ],
            fill=colour,
        )
        draw.ellipse([cx - 25, cy - 130, cx + 25, cy - 100], fill=dark)
    elif kind == "lamp":
        draw.polygon(
            [(cx - 90, cy - 20), (cx + 90, cy - 20), (cx + 50, cy - 130), (cx - 50, cy - 130)], fill=colour
        )
        draw.rectangle([cx - 8, cy - 20, cx + 8, cy + 110], fill=dark)
        draw.ellipse([cx - 70, cy + 100, cx + 70, cy + 130], fill=dark)
    else:  # mug
        draw.rounded_rectangle([cx - 80, cy - 90, cx + 60, cy + 100], 18, fill=colour)
        draw.ellipse([cx + 30, cy - 40, cx + 120, cy + 50], outline=colour, width=18)


def _render(kind: str, colour: tuple[int, int, int], seed: int) -> Image.Image:
    rng = random.Random(seed)
    base = np.array([rng.randint(200, 245) for _ in range(3)], dtype=np.float32)
    yy, xx = np.mgrid[0:400, 0:400].astype(np.float32)
    light = 1.0 - 0.25 * ((xx - 120 - rng.randint(0, 160)) ** 2 + (yy - 80) ** 2) / 400.0**2
    noise = np.random.default_rng(seed).normal(0, 4, (400, 400, 1))
    background = np.clip(base * light[..., None] + noise, 0, 255).astype(np.uint8)
    image = Image.fromarray(background, "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(3):  # a few background props, so no two scenes are alike
        x, y = rng.randint(0, 380), rng.randint(0, 380)
        tone = tuple(int(c) for c in base - rng.randint(20, 60))
        draw.ellipse([x, y, x + rng.randint(20, 70), y + rng.randint(20, 70)], fill=tone)
    _shape(draw, kind, colour, rng)
    texture = np.asarray(image, dtype=np.float32) + np.random.default_rng(seed + 1).normal(
        0, 6, (400, 400, 3)
    )
    return Image.fromarray(np.clip(texture, 0, 255).astype(np.uint8), "RGB").filter(ImageFilter.SMOOTH)


def make_samples() -> list[Sample]:
    """24 sample products: 6 kinds x 4 colours, three brands, prices from 19 to 199."""
    kinds = ("dress", "shoe", "bag", "shirt", "lamp", "mug")
    names = list(_COLOURS)
    samples = []
    for i, kind in enumerate(kinds):
        for j in range(4):
            colour_name = names[(i + j) % len(names)]
            image = _render(kind, _COLOURS[colour_name], seed=100 * i + j)
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=88)
            samples.append(
                Sample(
                    id=f"{kind}-{colour_name}",
                    jpeg=buffer.getvalue(),
                    metadata={
                        "category": kind,
                        "colour": colour_name,
                        "brand": _BRANDS[(i + j) % len(_BRANDS)],
                        "price": float(19 + 15 * ((i * 4 + j) % 13)),
                    },
                )
            )
    return samples
