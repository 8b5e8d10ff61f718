"""Unit and property tests for visualsearch_sdk.preprocess (images are made with Pillow at run time)."""

from __future__ import annotations

import io
import math
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps, JpegImagePlugin

from visualsearch_sdk._exceptions import ImageError
from visualsearch_sdk.preprocess import (
    PRESETS,
    ImageLimits,
    PreparedImage,
    load_upright,
    parse_box,
    prepare_image,
    prepare_many,
)

ORIENTATION = 0x0112
RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)
# The transpose that turns an upright picture into the stored pixels for each EXIF orientation.
TO_STORED = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def encode(im: Image.Image, fmt: str = "JPEG", orientation: int = 1, **kw: object) -> bytes:
    buf = io.BytesIO()
    if orientation != 1:
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        kw["exif"] = exif.tobytes()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def stored_jpeg(upright: Image.Image, orientation: int, quality: int = 92) -> bytes:
    """A JPEG whose stored pixels plus the EXIF orientation show ``upright``."""
    stored = upright if orientation == 1 else upright.transpose(TO_STORED[orientation])
    return encode(stored, "JPEG", orientation, quality=quality)


def photo(w: int, h: int, seed: int = 0) -> Image.Image:
    """Photographic-ish content: gradients, mild noise and a few shapes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    arr = np.stack([x / w * 255, y / h * 255, (x + y) / (w + h) * 255], -1)
    arr += rng.normal(0, 6, (h, w, 3)).astype(np.float32)
    im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    im.paste((250, 240, 20), (w // 5, h // 5, w // 2, h // 2))
    return im


def decoded(prepared: PreparedImage) -> Image.Image:
    out = Image.open(io.BytesIO(prepared.data))
    out.load()
    return out


def corner_image(w: int = 64, h: int = 40) -> Image.Image:
    im = Image.new("RGB", (w, h), BLUE)
    im.paste(RED, (0, 0, w // 4, h // 4))
    return im


def close(a: object, b: tuple[int, ...], tol: int = 40) -> bool:
    assert isinstance(a, tuple), a
    return all(abs(x - y) <= tol for x, y in zip(a, b))


# --- property tests ---------------------------------------------------------------------------------------

MODES = ["RGB", "RGBA", "L", "LA", "P", "CMYK", "I;16", "1"]


@st.composite
def cases(draw: st.DrawFn) -> tuple[bytes | Image.Image, tuple[int, int], tuple[float, float, float, float]]:
    w, h = draw(st.integers(1, 2000)), draw(st.integers(1, 2000))
    mode = draw(st.sampled_from(MODES))
    orientation = draw(st.integers(1, 8))
    im = Image.new(mode, (w, h), 200 if mode in ("L", "I;16", "1", "P") else None)
    if mode not in ("L", "I;16", "1", "P"):
        im.paste(tuple(range(40, 40 + 40 * len(im.getbands()), 40)), (0, 0, w, h))
    kinds = {"RGB": ["png", "jpeg", "pil"], "L": ["png", "jpeg", "pil"], "CMYK": ["jpeg", "pil"]}
    kind = draw(st.sampled_from(kinds.get(mode, ["png", "pil"])))
    if kind == "pil":
        if orientation != 1:
            im.getexif()[ORIENTATION] = orientation
        source: bytes | Image.Image = im
    elif kind == "jpeg":
        source = encode(im, "JPEG", orientation, quality=80)
    else:
        source = encode(im, "PNG", orientation, compress_level=1)
    uw, uh = (h, w) if orientation >= 5 else (w, h)
    fx = sorted(draw(st.tuples(st.floats(0, 1), st.floats(0, 1))))
    fy = sorted(draw(st.tuples(st.floats(0, 1), st.floats(0, 1))))
    x1, y1 = min(fx[0] * uw, uw - 1), min(fy[0] * uh, uh - 1)
    box = (x1, y1, max(fx[1] * uw, x1 + 1), max(fy[1] * uh, y1 + 1))
    return source, (uw, uh), box


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), preset=st.sampled_from(["STANDARD", "HIGH", (300, 200, 80)]), crop=st.booleans())
def test_property_fit_box_and_roundtrip(case, preset, crop) -> None:
    source, (uw, uh), box = case
    max_w, max_h, _ = PRESETS[preset] if isinstance(preset, str) else preset
    p = prepare_image(source, preset=preset, box=box, crop=crop)
    assert p.original_size == (uw, uh)
    if crop:
        assert p.box is None
        assert p.crop_box is not None
        rw, rh = p.crop_box[2] - p.crop_box[0], p.crop_box[3] - p.crop_box[1]
        assert p.origin == (p.crop_box[0], p.crop_box[1])
    else:
        assert p.crop_box is None
        rw, rh = uw, uh
    ow, oh = p.size
    assert ow <= max_w and oh <= max_h and ow <= rw and oh <= rh  # within preset, never upscaled
    s = min(1.0, max_w / rw, max_h / rh)
    assert abs(ow - rw * s) <= 1 and abs(oh - rh * s) <= 1  # aspect ratio kept within rounding
    # Each edge is off by at most 1.5 output pixels (rounding half up, then a box that rounded to nothing is
    # widened to one pixel), so 1.5 / scale original pixels, plus 1 for rounding back.
    tol_x, tol_y = 1.5 / p.scale[0] + 1, 1.5 / p.scale[1] + 1
    if crop:
        back = p.to_original((0, 0, ow, oh))
        crop_box: tuple[int, ...] = p.crop_box or ()
        assert all(
            abs(a - b) <= t for a, b, t in zip(back, crop_box, (tol_x, tol_y, tol_x, tol_y), strict=True)
        )
    else:
        assert p.box is not None
        bx1, by1, bx2, by2 = p.box
        assert 0 <= bx1 < bx2 <= ow and 0 <= by1 < by2 <= oh
        back = p.to_original(p.box)
        assert all(abs(a - b) <= t for a, b, t in zip(back, box, (tol_x, tol_y, tol_x, tol_y)))
    out = decoded(p)
    assert (out.format, out.mode, out.size) == ("JPEG", "RGB", p.size)
    assert ORIENTATION not in out.getexif()


@settings(max_examples=12, deadline=None)
@given(
    orientation=st.integers(1, 8),
    w=st.integers(900, 1700),
    h=st.integers(900, 1700),
    frac=st.tuples(st.floats(0, 0.4), st.floats(0, 0.4), st.floats(0.6, 1), st.floats(0.6, 1)),
)
def test_property_fast_path_matches_naive_pipeline(orientation, w, h, frac) -> None:
    upright = photo(w, h)
    data = stored_jpeg(upright, orientation)
    box = (frac[0] * w, frac[1] * h, frac[2] * w, frac[3] * h)
    p = prepare_image(data, box=box, crop=True)
    assert p.crop_box is not None
    full = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    naive = full.crop(p.crop_box).resize(p.size, Image.Resampling.LANCZOS)
    diff = np.abs(np.asarray(decoded(p), np.int16) - np.asarray(naive, np.int16)).mean()
    assert diff < 3.0


# --- orientation, modes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("kind", ["jpeg", "png", "pil"])
def test_exif_orientation_puts_the_red_corner_top_left(orientation: int, kind: str) -> None:
    upright = corner_image(64, 40)
    stored = upright if orientation == 1 else upright.transpose(TO_STORED[orientation])
    if kind == "pil":
        stored.getexif()[ORIENTATION] = orientation
        source: bytes | Image.Image = stored
    else:
        source = encode(stored, kind.upper(), orientation, **({"quality": 95} if kind == "jpeg" else {}))
    p = prepare_image(source, box=(0, 0, 16, 10))
    out = decoded(p)
    assert p.size == p.original_size == (64, 40)
    assert close(out.getpixel((3, 3)), RED)
    assert close(out.getpixel((60, 36)), BLUE) and close(out.getpixel((60, 3)), BLUE)
    assert p.box == (0, 0, 16, 10)
    assert ORIENTATION not in out.getexif()
    up = load_upright(source)
    assert up.mode == "RGB" and up.size == (64, 40) and close(up.getpixel((3, 3)), RED)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_large_oriented_jpeg_with_crop(orientation: int) -> None:
    upright = corner_image(2000, 1200)
    p = prepare_image(stored_jpeg(upright, orientation), box=(0, 0, 500, 300), crop=True)
    assert p.crop_box == (0, 0, 500, 300) and p.size == (500, 300)
    out = decoded(p)
    assert close(out.getpixel((250, 150)), RED)
    p2 = prepare_image(stored_jpeg(upright, orientation), box=(1500, 900, 2000, 1200), crop=True)
    assert close(decoded(p2).getpixel((250, 150)), BLUE)
    assert p2.to_original((0, 0, *p2.size)) == (1500, 900, 2000, 1200)


def test_alpha_is_composited_on_white() -> None:
    im = Image.new("RGBA", (40, 40), (255, 0, 0, 0))
    im.paste((255, 0, 0, 255), (0, 0, 20, 40))
    out = decoded(prepare_image(encode(im, "PNG")))
    assert close(out.getpixel((30, 20)), WHITE, 6) and close(out.getpixel((5, 20)), RED, 6)
    la = Image.new("LA", (20, 20), (0, 0))
    assert close(decoded(prepare_image(la)).getpixel((10, 10)), WHITE, 6)


def test_palette_with_transparency() -> None:
    im = Image.new("P", (30, 30), 1)
    im.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    im.paste(0, (0, 0, 15, 30))
    out = decoded(prepare_image(encode(im, "PNG", transparency=0)))
    assert close(out.getpixel((5, 15)), WHITE, 8) and close(out.getpixel((25, 15)), (0, 255, 0), 8)
    gif = decoded(prepare_image(encode(im, "GIF", transparency=0)))
    assert close(gif.getpixel((5, 15)), WHITE, 8)


@pytest.mark.parametrize(
    ("im", "expected"),
    [
        (Image.new("CMYK", (32, 32), (255, 0, 0, 0)), (0, 255, 255)),
        (Image.fromarray(np.full((32, 32), 32768, np.uint16)), (128, 128, 128)),
        (Image.new("I", (32, 32), 40000), (156, 156, 156)),
        (Image.new("F", (32, 32), 0.5), (128, 128, 128)),
        (Image.new("1", (32, 32), 1), (255, 255, 255)),
        (Image.new("L", (32, 32), 77), (77, 77, 77)),
    ],
)
def test_modes_are_normalised_to_rgb(im: Image.Image, expected: tuple[int, int, int]) -> None:
    assert close(decoded(prepare_image(im)).getpixel((16, 16)), expected, 4)


def test_cmyk_jpeg_and_16_bit_png() -> None:
    cmyk = encode(Image.new("CMYK", (64, 64), (0, 255, 0, 0)), "JPEG", quality=95)
    assert close(decoded(prepare_image(cmyk)).getpixel((32, 32)), (255, 0, 255), 12)
    png16 = encode(Image.fromarray(np.full((16, 16), 65535, np.uint16)), "PNG")
    assert close(decoded(prepare_image(png16)).getpixel((8, 8)), WHITE, 3)


# --- fitting ----------------------------------------------------------------------------------------------


def test_presets_fit_and_never_upscale() -> None:
    data = encode(photo(1600, 900), quality=85)
    assert prepare_image(data).size == (512, 288)
    assert prepare_image(data, preset="HIGH").size == (1024, 576)
    assert prepare_image(data, preset=(100, 100, 60)).size == (100, 56)
    small = prepare_image(encode(photo(200, 100)), preset="HIGH")
    assert small.size == (200, 100) and small.scale == (1.0, 1.0)
    assert prepare_image(data, limits=ImageLimits(max_side=300)).size == (300, 169)


def test_quality_ladder_then_downscale_under_max_bytes() -> None:
    data = encode(photo(512, 512, seed=3), "PNG")
    q75 = len(prepare_image(data).data)
    q35 = len(prepare_image(data, preset=(512, 512, 35)).data)
    fitted = prepare_image(data, limits=ImageLimits(max_bytes=(q75 + q35) // 2))
    assert fitted.size == (512, 512) and len(fitted.data) <= (q75 + q35) // 2
    smaller = prepare_image(data, limits=ImageLimits(max_bytes=q35 // 2))
    assert smaller.size[0] < 512 and len(smaller.data) <= q35 // 2
    assert smaller.size[0] == smaller.size[1]


def test_pass_through_returns_identical_bytes() -> None:
    for fmt in ("JPEG", "PNG", "WEBP"):
        data = encode(photo(300, 200), fmt)
        p = prepare_image(data, preset=None)
        assert p.data == data and p.format == fmt and p.scale == (1.0, 1.0)
        assert p.media_type == f"image/{fmt.lower()}"
    oriented = stored_jpeg(corner_image(), 6)
    kept = prepare_image(oriented, preset=None)
    assert kept.data == oriented and kept.size == (64, 40)


def test_pass_through_falls_back_to_reencoding() -> None:
    oriented = stored_jpeg(corner_image(), 6)
    no_exif = prepare_image(oriented, preset=None, limits=ImageLimits(keep_exif_orientation=False))
    assert no_exif.data != oriented and no_exif.size == (64, 40) and no_exif.format == "JPEG"
    assert close(decoded(no_exif).getpixel((3, 3)), RED)
    with_box = prepare_image(oriented, preset=None, box=(0, 0, 16, 10))
    assert with_box.data != oriented and with_box.box == (0, 0, 16, 10)
    bmp = encode(photo(100, 80), "BMP")
    refused = prepare_image(bmp, preset=None, limits=ImageLimits(formats=frozenset({"JPEG"})))
    assert refused.format == "JPEG" and refused.size == (100, 80)
    assert prepare_image(bmp, preset=None).data == bmp
    big = encode(photo(600, 300))
    assert prepare_image(big, preset=None, limits=ImageLimits(max_side=300)).size == (300, 150)
    capped = prepare_image(big, preset=None, limits=ImageLimits(max_bytes=len(big) - 1))
    assert capped.format == "JPEG" and len(capped.data) < len(big)


def test_sources_path_file_and_memoryview(tmp_path: Path) -> None:
    data = encode(photo(80, 60))
    path = tmp_path / "a.jpg"
    path.write_bytes(data)
    for source in (path, str(path), io.BytesIO(data), memoryview(data), bytearray(data)):
        assert prepare_image(source, preset=None).data == data


# --- boxes ------------------------------------------------------------------------------------------------


def test_box_clamped_mapped_and_mapping_helpers() -> None:
    p = prepare_image(encode(photo(1000, 500)), box=(-50, 100, 500, 900))
    assert p.box == (0, 51, 256, 256) and p.scale == (0.512, 0.512)
    assert p.to_original(p.box) == (0, 100, 500, 500)
    assert p.to_output((100, 100, 200, 200)) == (51, 51, 102, 102)
    c = prepare_image(encode(photo(1000, 500)), box=(100.4, 50.6, 300.2, 250.9), crop=True)
    assert c.crop_box == (100, 50, 301, 251) and c.origin == (100.0, 50.0) and c.size == (201, 201)
    assert c.to_original((0, 0, 201, 201)) == (100, 50, 301, 251)
    assert c.to_output((100, 50, 301, 251)) == (0, 0, 201, 201)


@pytest.mark.parametrize(
    "box",
    [
        (2000, 0, 2100, 10),
        (10, 10, 10, 20),
        (5, 5, 1, 9),
        (0, 0, math.nan, 5),
        (0, 0, 5),
        ("a", 0, 1, 1),
        "abcd",
    ],
)
def test_bad_box(box: object) -> None:
    with pytest.raises(ImageError) as info:
        prepare_image(encode(photo(100, 100)), box=box)  # type: ignore[arg-type]
    assert info.value.reason == "bad_box"


def test_parse_box() -> None:
    assert parse_box([1, 2, 3, 4]) == (1.0, 2.0, 3.0, 4.0)
    with pytest.raises(ImageError, match="finite"):
        parse_box((0, 0, math.inf, 1))


# --- errors -----------------------------------------------------------------------------------------------


def png_header(w: int, h: int) -> bytes:
    """A PNG whose header claims ``w``×``h`` (no pixel data follows)."""
    ihdr = b"IHDR" + w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    chunk = len(ihdr[4:]).to_bytes(4, "big") + ihdr + zlib.crc32(ihdr).to_bytes(4, "big")
    idat = (0).to_bytes(4, "big") + b"IDAT" + zlib.crc32(b"IDAT").to_bytes(4, "big")
    return b"\x89PNG\r\n\x1a\n" + chunk + idat


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (b"", "unreadable"),
        (b"definitely not an image", "unreadable"),
        (b"%PDF-1.7\n%\xe2\xe3\n1 0 obj", "unsupported_format"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "unsupported_format"),
        (b"<svg width='10' height='10'></svg>", "unsupported_format"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "unsupported_format"),
        (png_header(10_000, 10_000), "decompression_bomb"),
        (png_header(20_000, 20_000), "decompression_bomb"),
    ],
)
def test_error_reasons(source: bytes, reason: str) -> None:
    with pytest.raises(ImageError) as info:
        prepare_image(source, limits=ImageLimits(max_pixels=50_000_000))
    assert info.value.reason == reason


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("preset", ["STANDARD", None])
def test_truncated(fmt: str, preset: str | None) -> None:
    data = encode(photo(400, 300), fmt)
    with pytest.raises(ImageError) as info:
        prepare_image(data[: len(data) // 2], preset=preset)  # type: ignore[arg-type]
    assert info.value.reason == "truncated"
    assert isinstance(info.value.__cause__, OSError)


def test_missing_path_too_small_too_large_and_bomb(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="missing") as info:
        prepare_image(tmp_path / "nope.jpg")
    assert info.value.reason == "unreadable" and "nope.jpg" in str(info.value)
    with pytest.raises(ImageError) as info:
        prepare_image(encode(photo(40, 10)), limits=ImageLimits(min_side=16))
    assert info.value.reason == "too_small"
    with pytest.raises(ImageError) as info:
        prepare_image(encode(photo(400, 300)), limits=ImageLimits(max_bytes=200))
    assert info.value.reason == "too_large"
    with pytest.raises(ImageError) as info:
        load_upright(encode(photo(40, 30)), limits=ImageLimits(max_pixels=1000))
    assert info.value.reason == "decompression_bomb"


def test_unsupported_mode_conversion_and_bad_arguments() -> None:
    with pytest.raises(ValueError, match="preset"):
        prepare_image(encode(photo(10, 10)), preset="HUGE")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        prepare_image(12345)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="workers"):
        prepare_many([], workers=0)


# --- batch, load_upright, fast path ---------------------------------------------------------------------


def test_prepare_many_keeps_order_and_isolates_errors() -> None:
    good = [encode(photo(100 + 10 * i, 80)) for i in range(5)]
    sources: list[bytes] = [good[0], b"junk", good[1], good[2][:300], good[3], good[4]]
    results = prepare_many(sources, workers=2, preset=(64, 64, 70))
    kinds = [type(r).__name__ for r in results]
    assert kinds == [
        "PreparedImage",
        "ImageError",
        "PreparedImage",
        "ImageError",
        "PreparedImage",
        "PreparedImage",
    ]
    widths = [r.original_size[0] for r in results if isinstance(r, PreparedImage)]
    assert widths == [100, 110, 130, 140]
    assert [getattr(r, "reason", None) for r in results][1::2] == ["unreadable", "truncated", None]
    assert prepare_many(sources, workers=1, preset=(64, 64, 70))[0] == results[0]


def test_load_upright_uses_draft_and_fits() -> None:
    upright = photo(1200, 2000)
    im = load_upright(stored_jpeg(upright, 8), max_side=300)
    assert im.mode == "RGB" and im.size == (180, 300)
    ref = upright.resize((180, 300), Image.Resampling.LANCZOS)
    assert np.abs(np.asarray(im, np.int16) - np.asarray(ref, np.int16)).mean() < 3.0


def test_jpeg_draft_picks_the_smallest_sufficient_dct_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int]] = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self: JpegImagePlugin.JpegImageFile, mode: str | None, size: tuple[int, int] | None):
        result = original(self, mode, size)
        seen.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    data = stored_jpeg(photo(2400, 1800), 6)
    assert prepare_image(data).size == (512, 384)
    assert seen[-1] == (450, 600)  # stored 1800×2400 at 1/4 is still ≥ 384×512 (the rotated target)
    prepare_image(data, box=(0, 0, 1200, 900), crop=True)
    assert seen[-1] == (900, 1200)  # the crop is half as wide: only 1/2 scale keeps 512 px across it
    big = prepare_image(data, preset="HIGH")
    assert big.size == (1024, 768) and seen[-1] == (900, 1200)


def test_a_tall_16_bit_greyscale_png_is_resized() -> None:
    """Found by hypothesis: Pillow cannot reduce() an I;16 image, so 16-bit input is widened first."""
    import numpy as np

    buf = io.BytesIO()
    ramp = (np.arange(1200, dtype=np.uint16) * 50).reshape(1200, 1)
    Image.fromarray(ramp).save(buf, "PNG")
    assert Image.open(io.BytesIO(buf.getvalue())).mode.startswith("I;16")
    prepared = prepare_image(buf.getvalue(), preset=(300, 200, 80), box=(0, 0, 1, 1))
    out = Image.open(io.BytesIO(prepared.data))
    assert out.mode == "RGB" and out.size == prepared.size and prepared.size[1] == 200


def test_a_text_mode_or_closed_file_is_an_image_error_for_that_record_only(tmp_path: Path) -> None:
    from visualsearch_sdk import ImageRecord, VisualSearch

    good = tmp_path / "good.jpg"
    Image.new("RGB", (64, 48), (200, 40, 40)).save(good)
    closed = open(good, "rb")  # noqa: SIM115
    closed.close()
    with open(good, encoding="utf-8") as text, VisualSearch("memory://") as vs:
        report = vs.index(
            [
                ImageRecord(id="text", image=text),
                ImageRecord(id="closed", image=closed),
                ImageRecord(id="good", image=good),
            ]
        )
    assert report.succeeded == ("good",)
    failures = {f.id: f for f in report.failed}
    assert isinstance(failures["text"].error, ImageError) and "binary mode" in str(failures["text"].error)
    assert isinstance(failures["closed"].error, ImageError) and failures["closed"].reason == "unreadable"
