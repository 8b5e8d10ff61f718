"""The local engine's image features: shapes, determinism, near-duplicate ranking, colour search."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from visualsearch_sdk._exceptions import InvalidQueryError
from visualsearch_sdk.local.features import (
    COLOR_SLICE,
    DIM,
    FEATURE_VERSION,
    color_features,
    color_scores,
    image_features,
    index_views,
    parse_hex_color,
    query_features,
)


def _scene(seed: int, size: tuple[int, int] = (240, 180)) -> Image.Image:
    """A deterministic photographic-ish picture: a gradient and a few soft shapes."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1 = rng.uniform(30, 220, size=(2, 3))
    t = (xx / w * rng.uniform(-1, 1) + yy / h * rng.uniform(-1, 1))[..., None]
    img = Image.fromarray(np.clip(c0 + (c1 - c0) * t, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        bw, bh = rng.uniform(20, w / 2), rng.uniform(20, h / 2)
        fill = tuple(int(v) for v in rng.integers(0, 256, size=3))
        draw.ellipse((x0, y0, x0 + bw, y0 + bh), fill=fill)
    return img.filter(ImageFilter.GaussianBlur(1.5))


def _solid(rgb: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", (64, 48), rgb)


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as decoded:
        out: Image.Image = decoded.convert("RGB")
    return out


def test_constants_are_consistent() -> None:
    assert FEATURE_VERSION
    assert 300 <= DIM <= 700
    assert 0 == COLOR_SLICE.start < COLOR_SLICE.stop < DIM
    assert COLOR_SLICE.step is None


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P"])
@pytest.mark.parametrize("size", [(512, 384), (37, 90), (1, 1)])
def test_image_features_shape_dtype_and_unit_norm(mode: str, size: tuple[int, int]) -> None:
    img = _scene(1).resize(size).convert(mode)
    v = image_features(img)
    assert v.shape == (DIM,)
    assert v.dtype == np.float32
    assert np.isfinite(v).all()
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)


def test_flat_image_is_finite_unit_vector() -> None:
    v = image_features(_solid((128, 128, 128)))
    assert np.isfinite(v).all()
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)


def test_deterministic() -> None:
    img = _scene(2)
    assert np.array_equal(image_features(img), image_features(img.copy()))
    assert np.array_equal(query_features(img), query_features(img))
    assert np.array_equal(index_views(img, multi_view=True), index_views(img, multi_view=True))


def test_near_duplicates_score_higher_than_unrelated() -> None:
    original = _scene(3)
    ref = image_features(original)
    w, h = original.size
    duplicates = [
        original.resize((w // 2, h // 2), Image.Resampling.LANCZOS),
        _jpeg(original, 30),
        original.crop((8, 6, w - 8, h - 6)),
    ]
    unrelated = [_scene(seed) for seed in range(10, 20)]
    best_unrelated = max(float(ref @ image_features(u)) for u in unrelated)
    for dup in duplicates:
        cos = float(ref @ image_features(dup))
        assert cos > 0.9
        assert cos > best_unrelated + 0.05


def test_query_features_mirror_row() -> None:
    img = _scene(4)
    q = query_features(img)
    assert q.shape == (2, DIM)
    assert q.dtype == np.float32
    np.testing.assert_allclose(q[0], image_features(img), atol=1e-6)
    np.testing.assert_allclose(q[1], image_features(ImageOps.mirror(img)), atol=1e-6)
    # A mirrored copy is found through the mirror row.
    mirrored = image_features(ImageOps.mirror(img))
    assert float((q @ mirrored).max()) == pytest.approx(1.0, abs=1e-5)


def test_index_views_shapes() -> None:
    img = _scene(5)
    single = index_views(img)
    assert single.shape == (1, DIM)
    np.testing.assert_allclose(single[0], image_features(img), atol=1e-6)
    multi = index_views(img, multi_view=True)
    assert multi.shape[0] > 1
    assert multi.shape[1] == DIM
    assert multi.dtype == np.float32
    np.testing.assert_allclose(multi[0], image_features(img), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(multi, axis=1), 1.0, atol=1e-5)


def test_color_features_live_in_color_slice() -> None:
    v = color_features((250, 77, 77))
    assert v.shape == (DIM,)
    assert v.dtype == np.float32
    outside = np.delete(v, np.arange(DIM)[COLOR_SLICE])
    assert not outside.any()
    assert np.linalg.norm(v[COLOR_SLICE]) == pytest.approx(1.0, abs=1e-5)
    assert (v >= 0).all()


def test_color_scores_rank_red_above_blue() -> None:
    images = [_solid((0, 0, 255)), _solid((230, 20, 25)), _scene(6)]
    matrix = np.stack([image_features(im) for im in images])
    scores = color_scores(matrix[:, COLOR_SLICE], parse_hex_color("#ff0000"))
    assert scores.shape == (3,)
    assert scores.dtype == np.float32
    assert ((scores >= 0) & (scores <= 1)).all()
    assert scores[1] > scores[0]
    assert scores[1] > 0.5
    assert scores[0] < 0.2
    # A solid image of exactly the query colour scores 1.
    exact = color_scores(image_features(_solid((255, 0, 0)))[None, COLOR_SLICE], (255, 0, 0))
    assert exact[0] == pytest.approx(1.0, abs=1e-4)


def test_color_scores_zero_rows_and_bad_shape() -> None:
    width = COLOR_SLICE.stop - COLOR_SLICE.start
    assert color_scores(np.zeros((2, width), dtype=np.float32), (1, 2, 3)).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="expected shape"):
        color_scores(np.zeros((2, width + 1), dtype=np.float32), (1, 2, 3))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("#fa4d4d", (250, 77, 77)),
        ("fa4d4d", (250, 77, 77)),
        ("#FA4D4D", (250, 77, 77)),
        ("#f4d", (255, 68, 221)),
        ("000", (0, 0, 0)),
        ("#ffffff", (255, 255, 255)),
    ],
)
def test_parse_hex_color_accepts(value: str, expected: tuple[int, int, int]) -> None:
    assert parse_hex_color(value) == expected


@pytest.mark.parametrize(
    "value",
    ["", "#", "#ff", "#ffff", "#fffffff", "#gggggg", "##ffffff", "red", " #ffffff", "#ffffff\n", "0xffffff"],
)
def test_parse_hex_color_refuses(value: str) -> None:
    with pytest.raises(InvalidQueryError):
        parse_hex_color(value)


def test_parse_hex_color_refuses_non_strings() -> None:
    with pytest.raises(InvalidQueryError):
        parse_hex_color(0xFFFFFF)  # type: ignore[arg-type]


@pytest.mark.parametrize("rgb", [(256, 0, 0), (-1, 0, 0), (1, 2), (1.0, 2, 3)])
def test_color_features_refuses_bad_channels(rgb: tuple[int, int, int]) -> None:
    with pytest.raises(InvalidQueryError):
        color_features(rgb)
