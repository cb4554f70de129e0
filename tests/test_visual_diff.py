"""The picture of where two images differ (images/imaging/visual_diff.py), on photo-like plates."""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from images.imaging import visual_diff
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


def dark_dish(size: int) -> Image.Image:
    """A plate whose dish photographs black inside, as real ones do, with a well in it."""
    plate = plate_photo((size, size))
    centre, radius = size / 2, size * 0.45
    ImageDraw.Draw(plate).ellipse(
        [centre - radius, centre - radius, centre + radius, centre + radius], fill=(3, 3, 4)
    )
    plate.paste(plate_photo((size // 5, size // 5), seed=11), (size * 2 // 5, size * 2 // 5))
    return plate


@pytest.mark.parametrize("size", [480, 651, 900])
def test_a_crop_is_found_beside_a_black_expanse_not_in_it(size):
    """The scores of windows inside the black used to run into the hundreds, so every crop
    was 'found' in the black: a heatmap red all over."""
    plate = through_jpeg(dark_dish(size))
    box = (size * 2 // 5, size * 2 // 5, size * 3 // 5 - 5, size * 3 // 5 - 20)

    found = visual_diff.difference(plate, plate.crop(box))

    assert found.placement == visual_diff.Placement(box, "crop")
    assert found.confidence.score == pytest.approx(1, abs=0.01)
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
        assert [box[2] - box[0] for box in panels(picture)] == [40, 40, 40]


def test_transparent_pngs_are_shown_on_white():
    clear = Image.new("RGBA", (64, 48), (0, 0, 0, 0))

    picture = render(encode(clear, "PNG"), encode(clear, "PNG"), (64, 48), (64, 48))

    x, y = visual_diff.GAP + 10, visual_diff.HEADER + 10
    assert picture.convert("RGB").getpixel((x, y)) == (255, 255, 255)


def panels(picture: Image.Image) -> list[tuple[int, int, int, int]]:
    """The boxes of the panels below the header: runs of columns that are not background."""
    pixels = np.asarray(picture.convert("RGB"), np.int16)
    top = visual_diff.HEADER + (visual_diff.NOTE_LINE if len(captions(picture)) > 1 else 0)
    body = np.abs(pixels[top:] - visual_diff.BACKGROUND).max(axis=2) > 0
    columns = body.any(axis=0)
    boxes, x = [], 0
    while x < picture.width:
        if not columns[x]:
            x += 1
            continue
        start = x
        while x < picture.width and columns[x]:
            x += 1
        rows = np.flatnonzero(body[:, start:x].any(axis=1))
        boxes.append((start, top + int(rows[0]), x, top + int(rows[-1]) + 1))
    return boxes


def captions(picture: Image.Image) -> list[str]:
    return picture.info.get("Description", "").splitlines()


def textured_crop(photo):
    return through_jpeg(photo), through_jpeg(photo.crop(CROP))


def flat_corner(photo):
    """The lit background in a corner of the plate: light falling off, sensor noise."""
    return through_jpeg(photo), through_jpeg(photo.crop((0, 0, 80, 60)))


def crop_of_another_plate(photo):
    return through_jpeg(photo), through_jpeg(plate_photo(seed=3).crop(CROP))


def wider_strip(photo):
    """Wider than the photo and of another aspect ratio: neither a crop nor a resized copy."""
    return through_jpeg(photo), through_jpeg(plate_photo((600, 60), seed=5))


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (flat_corner, "texture"),
        (crop_of_another_plate, "best match"),
        (wider_strip, "neither inside"),
    ],
)
def test_a_smaller_image_that_cannot_be_placed_with_confidence_gets_no_heatmap(photo, make, why):
    a, b = make(photo)

    found = visual_diff.difference(a, b)
    picture = render(encode(a, "PNG"), encode(b, "PNG"), a.size, b.size)

    assert found.placement is None
    assert found.level is None
    assert not found.confidence.enough
    assert len(panels(picture)) == 2  # A and B only: no heatmap
    note = captions(picture)[-1]
    assert note.startswith("B could not be placed on A with confidence")
    assert why in note
    assert "no heatmap" in note


@pytest.mark.parametrize(
    ("make", "how"),
    [
        (textured_crop, "crop"),
        (lambda photo: (through_jpeg(photo), through_jpeg(photo.resize((240, 180)))), "resized"),
    ],
)
def test_a_smaller_image_placed_with_confidence_gets_its_heatmap(photo, make, how):
    a, b = make(photo)

    found = visual_diff.difference(a, b)
    picture = render(encode(a, "PNG"), encode(b, "PNG"), a.size, b.size)

    assert found.placement.how == how
    assert found.confidence.score >= visual_diff.MIN_SCORE
    assert found.confidence.texture >= visual_diff.MIN_TEXTURE
    assert len(panels(picture)) == 3
    assert captions(picture) == []


def test_a_flat_crop_beside_a_large_plate_keeps_true_shapes_and_a_whole_label():
    """The case met in use: a 400 x 300 crop of a flat corner of a 2850 x 2850 plate was
    stretched to a square and painted red all over, and its label cut to "A: plate 7 (40…".
    Here at half that size: a 200 x 150 corner, outside the dish, of a 1400 x 1400 plate."""
    plate = plate_photo((1400, 1400))
    corner = plate.crop((0, 0, 200, 150))
    label = "plate 7 (200x150)"

    png = visual_diff.render(
        io.BytesIO(encode(corner, "JPEG", quality=90)),
        io.BytesIO(encode(plate, "JPEG", quality=90)),
        size_a=(200, 150),
        size_b=(1400, 1400),
        max_pixels=100_000_000,
        labels=(label, "plate 7 (1400x1400)"),
        caption="phash distance 30 of 64 bits",
    )
    picture = Image.open(io.BytesIO(png))

    assert captions(picture)[0] == "phash distance 30 of 64 bits"
    assert captions(picture)[1].startswith("A could not be placed on B with confidence")
    (a_left, a_top, a_right, a_bottom), (b_left, b_top, b_right, b_bottom) = panels(picture)
    assert (a_right - a_left) / (a_bottom - a_top) == pytest.approx(200 / 150, abs=0.03)
    assert (b_right - b_left) / (b_bottom - b_top) == pytest.approx(1, abs=0.01)
    assert (a_right - a_left) / (b_right - b_left) == pytest.approx(200 / 1400, abs=0.01)
    # B's column starts after the whole of A's title, which is wider than A's panel.
    title_width = ImageFont.load_default(visual_diff.FONT_SIZE).getlength(f"A: {label}")
    assert a_right - a_left < title_width
    assert b_left >= visual_diff.GAP + title_width
    assert ink_right_edge(picture, a_top, b_left) > a_right + (title_width - (a_right - a_left)) / 2


def ink_right_edge(picture: Image.Image, panel_top: int, before: int) -> int:
    """The rightmost column of text in the title line above the panels, left of ``before``."""
    band = np.asarray(picture.convert("L"), np.int16)[
        panel_top - visual_diff.FONT_SIZE - 6 : panel_top - 2, :before
    ]
    return int(np.flatnonzero((band > 128).any(axis=0))[-1])


def test_labels_are_cut_only_when_the_picture_has_no_room_left():
    long = "x" * 400
    png = visual_diff.render(
        io.BytesIO(encode(plate_photo(), "PNG")),
        io.BytesIO(encode(plate_photo(), "PNG")),
        size_a=(480, 360),
        size_b=(480, 360),
        max_pixels=100_000_000,
        labels=(long, long),
    )
    picture = Image.open(io.BytesIO(png))

    assert picture.width <= visual_diff.MAX_WIDTH
    assert len(panels(picture)) == 3
