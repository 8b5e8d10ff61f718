"""A JPEG that already fits the preset is sent as is: pixels untouched, metadata stripped, still verified."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from visualsearch_sdk import ImageError
from visualsearch_sdk._jpeg import read_jpeg
from visualsearch_sdk.preprocess import ImageLimits, prepare_image


def _photo(
    size: tuple[int, int] = (200, 150), *, quality: int = 85, noise: bool = False, **save: object
) -> bytes:
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    pixels = np.stack([x * 255 // size[0], y * 255 // size[1], (x + y) % 256], axis=-1).astype(np.uint8)
    if noise:
        pixels = rng.integers(0, 256, pixels.shape, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=quality, **save)
    return buf.getvalue()


def _exif(orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0131] = "secret-software"  # Software
    if orientation is not None:
        exif[0x0112] = orientation
    return exif.tobytes()


def test_a_fitting_jpeg_keeps_its_pixels_and_loses_its_metadata() -> None:
    original = _photo(exif=_exif(), comment=b"shot at home")
    prepared = prepare_image(original)
    assert prepared.data != original and len(prepared.data) < len(original)
    assert b"secret-software" not in prepared.data and b"shot at home" not in prepared.data
    sent = Image.open(io.BytesIO(prepared.data))
    assert not sent.getexif() and "comment" not in sent.info
    assert np.array_equal(np.asarray(sent.convert("RGB")), np.asarray(Image.open(io.BytesIO(original))))
    assert (prepared.size, prepared.original_size, prepared.scale) == ((200, 150), (200, 150), (1.0, 1.0))


def test_a_box_on_a_fitting_jpeg_stays_in_original_pixels() -> None:
    prepared = prepare_image(_photo(), box=(10.4, 20, 110, 90))
    assert prepared.box == (10, 20, 110, 90)
    assert prepared.to_original((10, 20, 110, 90)) == (10, 20, 110, 90)


def test_an_icc_profile_survives_the_strip() -> None:
    icc = b"\x00\x00\x02\x0cfake-icc-profile-bytes" * 4
    prepared = prepare_image(_photo(icc_profile=icc))
    assert Image.open(io.BytesIO(prepared.data)).info.get("icc_profile") == icc


@pytest.mark.parametrize(
    ("why", "image", "limits"),
    [
        ("EXIF rotation must be applied", _photo(exif=_exif(orientation=6)), None),
        ("larger than the preset", _photo((700, 300)), None),
        ("heavier than a quality-90 encode", _photo(quality=100, noise=True), None),
        ("above the provider's byte cap", _photo(), ImageLimits(max_bytes=2_000)),
        ("above the provider's side cap", _photo(), ImageLimits(max_side=100)),
        ("a format the provider refuses", _photo(), ImageLimits(formats=frozenset({"PNG"}))),
    ],
)
def test_anything_else_is_re_encoded(why: str, image: bytes, limits: ImageLimits | None) -> None:
    prepared = prepare_image(image, limits=limits)
    info = read_jpeg(image)
    assert info is None or prepared.data != info.stripped, why  # not sent as is
    assert Image.open(io.BytesIO(prepared.data)).getexif().get(0x0112) is None, why


def test_a_cmyk_jpeg_is_converted_to_rgb() -> None:
    buf = io.BytesIO()
    Image.new("CMYK", (64, 64), (10, 200, 30, 0)).save(buf, "JPEG")
    assert Image.open(io.BytesIO(prepare_image(buf.getvalue()).data)).mode == "RGB"


def test_a_truncated_fitting_jpeg_is_still_refused() -> None:
    data = _photo()
    with pytest.raises(ImageError) as info:
        prepare_image(data[: len(data) * 2 // 3])
    assert info.value.reason == "truncated"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff\xe1\x00",
        b"\xff\xd8\xff\xe1\xff\xff" + b"x" * 10,
        b"\xff\xd8\x00\x01",
    ],
)
def test_the_header_reader_gives_up_on_what_it_cannot_walk(data: bytes) -> None:
    assert read_jpeg(data) is None
