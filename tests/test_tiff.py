"""TIFF and the containers at the imaging level: 16-bit RGB read and turned as Pillow reads
every other TIFF, renditions and previews by the 16-bit rule, bombs refused from the
header, WebP's lossless flag, the HEIC crop's PNG fallback."""

import io
import tracemalloc

import imagehash
import numpy as np
import pytest
import tifffile
from PIL import Image

from images.errors import ImageTooLarge
from images.imaging import containers, resize, tiff
from images.imaging import decode as imaging
from tests.factories import encode, pattern
from tests.instrument_files import (
    KINDS,
    LIMIT,
    heic_claiming,
    plate16,
    reference_8bit,
    rgb16,
    tif,
    tiff_header,
    webp_canvas,
)


def test_a_16_bit_tiff_rendition_and_thumbnail_follow_the_hash_rule():
    samples = plate16()
    data = tif(samples)

    body, kind = imaging.thumbnail(io.BytesIO(data), size=200, max_pixels=LIMIT)

    assert kind == "image/jpeg"
    thumb = np.asarray(Image.open(io.BytesIO(body)).convert("L"), dtype=np.int16)
    assert np.abs(thumb - reference_8bit(samples).astype(np.int16)).mean() < 5  # JPEG noise


def test_a_tiff_rendition_is_turned_upright_by_its_orientation_tag():
    data = tif(plate16((60, 40)), extratags=[(274, "H", 1, 6, True)])  # rotate 90 clockwise
    spec = resize.parse_spec("max-100x100.png", max_size=4000)

    rendered = resize.render(io.BytesIO(data), spec=spec, format="PNG", max_pixels=LIMIT)

    assert (rendered.width, rendered.height) == (40, 60)
    assert Image.open(io.BytesIO(rendered.data)).info.get("exif") is None


@pytest.mark.parametrize(
    "data",
    [tiff_header(100_000, 100_000), webp_canvas(16384, 16384), heic_claiming(60000, 60000)],
    ids=["tiff", "webp", "heic"],
)
def test_bombs_are_refused_from_the_header_with_little_memory(data):
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLarge):
            imaging.analyze(io.BytesIO(data), max_pixels=LIMIT)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 1024 * 1024


def test_the_checks_say_lossless_for_a_lossless_webp():
    lossless = encode(pattern((16, 16)), "WEBP", lossless=True)
    lossy = encode(pattern((16, 16)), "WEBP", quality=50)

    assert containers.check_webp(lossless, max_pixels=LIMIT) is True
    assert containers.check_webp(lossy, max_pixels=LIMIT) is False


def test_without_a_hevc_encoder_a_heic_crop_is_a_png_and_says_so(monkeypatch):
    from images.imaging import crop as cropping

    # As on a libheif built without x265: the capability is read once, at import.
    monkeypatch.setattr(cropping, "HEIF_WRITABLE", False)
    out = io.BytesIO()

    info = cropping.crop(io.BytesIO(KINDS["heic"]()), out, box=(4, 4, 24, 14), max_pixels=LIMIT)

    assert (info.format, info.width, info.height) == ("PNG", 20, 10)
    assert Image.open(io.BytesIO(out.getvalue())).format == "PNG"
    assert info.phash == str(imagehash.phash(Image.open(io.BytesIO(out.getvalue()))))


def test_a_16_bit_rgb_tiff_is_turned_upright_as_pillow_turns_the_others_and_keeps_its_icc():
    from images.imaging import crop as cropping
    from tests.factories import linear_rgb_icc

    icc = linear_rgb_icc()
    source = tiff.write(rgb16(), orientation=6, icc_profile=icc)  # 90 degrees clockwise
    upright = np.rot90(rgb16(), -1)
    out = io.BytesIO()

    info = cropping.crop(io.BytesIO(source), out, box=(3, 4, 33, 24), max_pixels=LIMIT)

    assert imaging.analyze(io.BytesIO(source), max_pixels=LIMIT).width == 72  # as Pillow's
    assert (info.width, info.height) == (30, 20)
    with tifffile.TiffFile(io.BytesIO(out.getvalue())) as file:
        page = file.pages[0]
        assert "Orientation" not in page.tags  # the pixels are upright now
        assert page.tags["InterColorProfile"].value == icc
        assert np.array_equal(page.asarray(), upright[4:24, 3:33])
    spec = resize.parse_spec("max-200x200.png", max_size=4000)
    rendered = resize.render(io.BytesIO(source), spec=spec, format="PNG", max_pixels=LIMIT)
    assert (rendered.width, rendered.height) == (72, 96)  # turned once, not twice


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_16_bit_rgb_tiff_is_turned_as_pillow_turns_a_grey_one(orientation):
    samples = rgb16((30, 20))
    rgb = tiff.write(samples, orientation=orientation)
    grey = Image.open(io.BytesIO(tiff.write(samples[..., 0].copy(), orientation=orientation)))
    grey.load()  # Pillow turns it here

    with imaging.open_image(io.BytesIO(rgb), max_pixels=LIMIT, keep_depth=True) as image:
        assert image.size == grey.size
        assert np.array_equal(image.samples16[..., 0], np.asarray(grey))
