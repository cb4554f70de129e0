"""The picture of where two images differ (images/visual_diff.py), on photo-like plates."""

import io

import numpy as np
import pytest
from PIL import Image

from images import visual_diff
from tests.factories import encode, plate_photo, with_changed_region

CHANGED = (300, 60, 360, 120)  # left, top, right, bottom
CROP = (100, 80, 420, 320)


def through_jpeg(image: Image.Image) -> Image.Image:
    """As a camera would hand it over: JPEG-compressed, with its noise."""
    return Image.open(io.BytesIO(encode(image, "JPEG", quality=90))).convert("RGB")


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return plate_photo()


def outside(level: np.ndarray, box: tuple[int, int, int, int], margin: int = 20) -> np.ndarray:
    left, top, right, bottom = box
    mask = np.ones(level.shape, bool)
    mask[max(0, top - margin) : bottom + margin, max(0, left - margin) : right + margin] = False
    return level[mask]


def test_a_changed_region_is_where_the_heat_is(photo):
    a, b = through_jpeg(photo), through_jpeg(with_changed_region(photo, CHANGED))

    found = visual_diff.difference(a, b)

    assert found.placement.how == "same size"
    left, top, right, bottom = CHANGED
    assert found.level[top:bottom, left:right].mean() > 0.5
    assert outside(found.level, CHANGED).max() < 0.05  # JPEG noise is no difference


@pytest.mark.parametrize("crop_first", [False, True])
def test_a_crop_is_found_where_it_was_cut_and_shows_no_difference(photo, crop_first):
    whole, part = through_jpeg(photo), through_jpeg(photo.crop(CROP))
    a, b = (part, whole) if crop_first else (whole, part)

    found = visual_diff.difference(a, b)

    assert found.placement == visual_diff.Placement(CROP, "crop")
    assert found.a_is_base is not crop_first
    assert found.level.max() < 0.05


def test_a_crop_of_a_changed_photo_shows_the_change_in_place(photo):
    a = through_jpeg(photo)
    b = through_jpeg(with_changed_region(photo, CHANGED).crop(CROP))

    found = visual_diff.difference(a, b)

    assert found.placement.box == CROP
    # The change, in the crop's coordinates: rows 80..120 (the crop starts at 80).
    changed_in_crop = (CHANGED[0] - CROP[0], 0, CHANGED[2] - CROP[0], CHANGED[3] - CROP[1])
    left, top, right, bottom = changed_in_crop
    assert found.level[top:bottom, left:right].mean() > 0.5
    assert outside(found.level, changed_in_crop).max() < 0.05


def test_a_resized_copy_is_stretched_over_the_original(photo):
    found = visual_diff.difference(through_jpeg(photo), through_jpeg(photo.resize((240, 180))))

    assert found.placement == visual_diff.Placement((0, 0, 480, 360), "resized")
    assert np.percentile(found.level, 99) < 0.05


def test_different_photos_differ_all_over(photo):
    found = visual_diff.difference(through_jpeg(photo), through_jpeg(plate_photo(seed=3)))

    assert (found.level > 0.5).mean() > 0.05


def render(a: bytes, b: bytes, size_a, size_b) -> Image.Image:
    png = visual_diff.render(
        io.BytesIO(a), io.BytesIO(b), size_a=size_a, size_b=size_b, max_pixels=100_000_000
    )
    picture = Image.open(io.BytesIO(png))
    assert picture.format == "PNG"
    return picture


@pytest.mark.parametrize(
    ("size_a", "size_b"),
    [
        ((6000, 4000), (3000, 2000)),  # a large photo and its quarter
        ((3000, 200), (3000, 200)),  # wide
        ((200, 4000), (150, 3000)),  # tall
        ((40, 30), (40, 30)),  # small: never enlarged
    ],
)
def test_the_picture_fits_a_screen_whatever_the_sizes(size_a, size_b):
    a = encode(Image.new("RGB", size_a, (90, 120, 150)), "JPEG")
    b = encode(Image.new("RGB", size_b, (90, 120, 150)), "PNG")

    picture = render(a, b, size_a, size_b)

    assert picture.width <= visual_diff.MAX_WIDTH
    assert picture.height <= visual_diff.MAX_HEIGHT
    if size_a == (40, 30):
        assert picture.width == 3 * 40 + 4 * visual_diff.GAP


def test_transparent_pngs_are_shown_on_white():
    clear = Image.new("RGBA", (64, 48), (0, 0, 0, 0))

    picture = render(encode(clear, "PNG"), encode(clear, "PNG"), (64, 48), (64, 48))

    x, y = visual_diff.GAP + 10, visual_diff.HEADER + 10
    assert picture.convert("RGB").getpixel((x, y)) == (255, 255, 255)
