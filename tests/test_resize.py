import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from images.errors import ImageTooLarge, InvalidImage, InvalidRendition
from images.imaging import resize
from images.imaging.resize import Spec
from tests.factories import encode, image_bytes, linear_rgb_icc, pattern, png_16bit_rgb

LIMIT = 64_000_000
MAX = 4096


def render(data: bytes, spec: str, *, source_format: str | None = None, accept: str = ""):
    parsed = resize.parse_spec(spec, max_size=MAX)
    source_format = source_format or Image.open(io.BytesIO(data)).format
    fmt = resize.output_format(parsed, source_format=source_format, accept=accept)
    rendered = resize.render(io.BytesIO(data), spec=parsed, format=fmt, max_pixels=LIMIT)
    return rendered, Image.open(io.BytesIO(rendered.data))


def colour(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    return image.convert("RGBA").getpixel(xy)


def near(a, b, tolerance: int = 12) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("max-256x256", Spec("max", 256, 256)),
        ("fill-640x480.jpg", Spec("fill", 640, 480, "JPEG")),
        ("width-1", Spec("width", 1, None)),
        ("height-4096.png", Spec("height", None, 4096, "PNG")),
        ("max-10x20.webp", Spec("max", 10, 20, "WEBP")),
        ("fill-5x5.avif", Spec("fill", 5, 5, "AVIF")),
        ("max-256x256.auto", Spec("max", 256, 256, None, auto=True)),
    ],
)
def test_spec_parses_each_kind_and_format(text, spec):
    parsed = resize.parse_spec(text, max_size=MAX)

    assert parsed == spec
    assert parsed.name == text.split(".")[0]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "max",
        "max-256",  # max and fill take W x H
        "fill-256",
        "width-10x10",  # width and height take one number
        "height-10x10",
        "thumb-10x10",
        "Max-10x10",
        "max-0x10",
        "max-10x0",
        "width-0",
        "max-010x10",  # one spec, one name: no leading zeros
        "max-4097x10",  # over IMAGES_RENDITION_MAX_SIZE
        "height-4097",
        "width-9999999999999999999999",
        "max--1x10",
        "max-1.5x10",
        "max-10x10.gif",
        "max-10x10.jpeg",
        "max-10x10.JPG",
        "max-10x10.",
        "max-10x10.jpg.png",
        "max-10x10 ",
        "max-\u0661\u0660x10",  # Arabic-Indic digits are digits to \d, not to us
        "max-10x10/",
    ],
)
def test_malformed_or_out_of_range_spec_is_invalid_rendition(text):
    with pytest.raises(InvalidRendition) as raised:
        resize.parse_spec(text, max_size=MAX)
    assert raised.value.code == "invalid_rendition"


def test_the_size_limit_is_the_callers():
    assert resize.parse_spec("max-100x100", max_size=100).width == 100
    with pytest.raises(InvalidRendition):
        resize.parse_spec("max-101x100", max_size=100)


@pytest.mark.parametrize(
    ("spec", "source", "size"),
    [
        ("max-256x256", (1000, 500), (256, 128)),
        ("max-256x256", (500, 1000), (128, 256)),
        ("max-300x100", (1000, 500), (200, 100)),
        ("max-256x256", (100, 50), (100, 50)),  # never enlarged
        ("max-256x256", (256, 256), (256, 256)),
        ("max-1x1", (1000, 10), (1, 1)),  # never 0 pixels
        ("width-100", (1000, 500), (100, 50)),
        ("width-2000", (1000, 500), (1000, 500)),
        ("height-100", (1000, 500), (200, 100)),
        ("height-600", (1000, 500), (1000, 500)),
        ("fill-256x256", (1000, 500), (256, 256)),
        ("fill-300x100", (1000, 500), (300, 100)),
        ("fill-256x256", (256, 256), (256, 256)),
        # Smaller than W x H: the largest centred box of W:H the source holds, unscaled.
        ("fill-256x256", (100, 50), (50, 50)),
        ("fill-256x128", (100, 100), (100, 50)),
        ("fill-256x256", (1000, 200), (200, 200)),
        ("fill-400x100", (300, 200), (300, 75)),
    ],
)
def test_layout_sizes_never_enlarge(spec, source, size):
    assert resize.layout(resize.parse_spec(spec, max_size=MAX), source).size == size


@pytest.mark.parametrize(
    ("spec", "source_format", "size", "fmt"),
    [
        ("max-40x40", "JPEG", (40, 30), "JPEG"),
        ("max-40x40", "PNG", (40, 30), "PNG"),
        ("fill-20x20.jpg", "PNG", (20, 20), "JPEG"),
        ("width-50.png", "JPEG", (50, 38), "PNG"),
        ("height-15.webp", "JPEG", (20, 15), "WEBP"),
        ("max-64x64.avif", "PNG", (64, 48), "AVIF"),
        ("max-640x640.webp", "JPEG", (64, 48), "WEBP"),  # never enlarged
    ],
)
def test_rendition_decodes_as_its_format_at_the_promised_size(spec, source_format, size, fmt):
    rendered, image = render(image_bytes(source_format, (64, 48)), spec)

    assert (image.format, image.size) == (fmt, size)
    assert (rendered.format, rendered.width, rendered.height) == (fmt, *size)
    assert rendered.content_type == resize.CONTENT_TYPES[fmt] == f"image/{fmt.lower()}"


def test_rendition_shows_the_source_scaled_down():
    source = pattern((400, 300))
    _, image = render(encode(source, "PNG"), "max-200x200")

    expected = source.resize((200, 150), Image.Resampling.LANCZOS)
    difference = np.abs(np.asarray(image, int) - np.asarray(expected, int))
    assert difference.mean() < 2


def test_fill_crops_the_centre():
    source = Image.new("RGB", (300, 100), "red")
    ImageDraw.Draw(source).rectangle([100, 0, 199, 99], fill="lime")
    ImageDraw.Draw(source).rectangle([200, 0, 299, 99], fill="blue")

    _, image = render(encode(source, "PNG"), "fill-50x50")

    assert image.size == (50, 50)
    assert all(near(image.getpixel((x, y)), (0, 255, 0), 3) for x in (1, 48) for y in (1, 48))


def test_shrink_on_load_still_gives_the_exact_size_and_picture():
    source = pattern((2000, 1500))
    _, image = render(encode(source, "JPEG", quality=95), "fill-256x256")

    expected = ImageOps.fit(source, (256, 256), Image.Resampling.LANCZOS)
    assert image.size == (256, 256)
    difference = np.abs(np.asarray(image, int) - np.asarray(expected, int))
    assert difference.mean() < 6


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        ("image/avif,image/webp,image/apng,image/*,*/*;q=0.8", "AVIF"),  # Chrome's <img>
        ("image/webp,*/*", "WEBP"),
        ("image/avif;q=0,image/webp", "WEBP"),
        ("image/avif;q=0.5, image/webp;q=0.9", "WEBP"),
        ("IMAGE/AVIF", "AVIF"),
        ("image/avif;q=x", "JPEG"),  # a malformed weight counts as 0
        ("image/*,*/*", "JPEG"),  # only a named format is taken
        ("", "JPEG"),
    ],
)
def test_auto_takes_avif_or_webp_when_accept_names_them(accept, fmt):
    spec = resize.parse_spec("max-10x10.auto", max_size=MAX)

    assert resize.output_format(spec, source_format="JPEG", accept=accept) == fmt


def test_an_explicit_format_or_none_ignores_accept():
    accept = "image/avif,image/webp"
    for text, fmt in [("max-10x10.png", "PNG"), ("max-10x10", "JPEG")]:
        spec = resize.parse_spec(text, max_size=MAX)
        assert resize.output_format(spec, source_format="JPEG", accept=accept) == fmt


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_is_applied(orientation, fmt):
    """Each orientation of a picture with one red corner: the rendition shows it upright,
    as a viewer would, and is sized upright."""
    upright = Image.new("RGB", (80, 40), "white")
    ImageDraw.Draw(upright).rectangle([0, 0, 19, 9], fill="red")
    stored = _stored_for(upright, orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation

    _, image = render(encode(stored, fmt, exif=exif.tobytes()), "width-40")

    assert image.size == (40, 20)
    assert near(colour(image, (2, 2)), (255, 0, 0, 255), 40)
    assert near(colour(image, (37, 17)), (255, 255, 255, 255), 40)


def _stored_for(upright: Image.Image, orientation: int) -> Image.Image:
    """The pixels a camera stores for ``upright`` with this orientation tag."""
    undo = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_270,
    }
    return upright.transpose(undo[orientation]) if orientation in undo else upright


def test_orientation_with_shrink_on_load_gives_the_upright_size():
    stored = pattern((1200, 600)).transpose(Image.Transpose.ROTATE_90)  # 600 x 1200
    exif = Image.Exif()
    exif[0x0112] = 6

    _, image = render(encode(stored, "JPEG", exif=exif.tobytes()), "max-300x300")

    assert image.size == (300, 150)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_cmyk_jpeg_is_converted_to_rgb(fmt):
    source = Image.new("CMYK", (40, 40), (0, 255, 255, 0))  # full magenta and yellow: red

    _rendered, image = render(encode(source, "JPEG"), f"max-20x20.{resize.EXTENSIONS[fmt]}")

    assert image.mode == "RGB"
    assert near(colour(image, (10, 10))[:3], (255, 0, 0), 20)


def test_16_bit_grey_is_scaled_not_clipped():
    values = np.full((20, 20), 40000, dtype=np.uint16)  # 61% grey
    _, image = render(encode(Image.fromarray(values), "PNG"), "max-10x10")

    assert image.mode == "L"
    assert abs(image.getpixel((5, 5)) - 40000 // 257) <= 1


def test_16_bit_colour_is_rendered():
    _, image = render(png_16bit_rgb((40, 30)), "max-20x20.jpg")

    assert (image.format, image.size, image.mode) == ("JPEG", (20, 15), "RGB")
    assert image.getpixel((19, 0))[0] > 200  # the red ramp's bright end


def half_transparent() -> Image.Image:
    """Red on the left, fully transparent on the right."""
    image = Image.new("RGBA", (40, 20), (255, 0, 0, 255))
    ImageDraw.Draw(image).rectangle([20, 0, 39, 19], fill=(0, 0, 255, 0))
    return image


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "AVIF"])
def test_alpha_is_kept_where_the_format_has_it(fmt):
    _, image = render(encode(half_transparent(), "PNG"), f"max-20x20.{resize.EXTENSIONS[fmt]}")

    assert image.mode == "RGBA"
    assert colour(image, (17, 5))[3] == 0
    assert near(colour(image, (2, 5)), (255, 0, 0, 255), 20)


def palette_with_transparency() -> Image.Image:
    image = half_transparent().quantize(4)
    image.info["transparency"] = image.getpixel((30, 10))
    return image


@pytest.mark.parametrize(
    "source",
    [half_transparent(), palette_with_transparency(), half_transparent().convert("LA")],
    ids=["RGBA", "P", "LA"],
)
def test_alpha_is_flattened_on_white_for_jpeg(source):
    _, image = render(encode(source, "PNG"), "max-20x20.jpg")

    assert image.format == "JPEG"
    assert image.mode in ("RGB", "L")
    assert near(colour(image, (17, 5))[:3], (255, 255, 255), 12)
    assert colour(image, (2, 5))[:3] != (255, 255, 255)


def test_opaque_alpha_is_dropped():
    opaque = pattern((40, 30)).convert("RGBA")
    _, image = render(encode(opaque, "PNG"), "max-20x20")

    assert image.mode == "RGB"


def test_icc_profile_is_converted_to_srgb():
    grey = Image.new("RGB", (20, 20), (128, 128, 128))
    data = encode(grey, "PNG", icc_profile=linear_rgb_icc())

    _, image = render(data, "max-10x10")

    # 128 in linear light is sRGB's 188: the colour a managed viewer shows for the source.
    assert near(image.getpixel((5, 5)), (188, 188, 188), 2)
    assert "icc_profile" not in image.info


def test_icc_profile_of_a_jpeg_with_alpha_free_output_formats():
    data = encode(Image.new("RGB", (20, 20), (128, 128, 128)), "JPEG", quality=100,
                  icc_profile=linear_rgb_icc())  # fmt: skip
    for ext in ("jpg", "png", "webp", "avif"):
        _, image = render(data, f"max-10x10.{ext}")
        assert near(image.convert("RGB").getpixel((5, 5)), (188, 188, 188), 6), ext


def test_an_unreadable_icc_profile_is_ignored():
    data = encode(Image.new("RGB", (20, 20), (128, 128, 128)), "PNG", icc_profile=b"junk" * 40)

    _, image = render(data, "max-10x10")

    assert image.getpixel((5, 5)) == (128, 128, 128)


def exif_with_place() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretScope Inc"  # Make
    exif[0x0110] = "Model X-1"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (52.0, 31.0, 12.0)
    return exif.tobytes()


@pytest.mark.parametrize("ext", ["jpg", "png", "webp", "avif"])
@pytest.mark.parametrize("source_format", ["JPEG", "PNG"])
def test_no_metadata_goes_into_a_rendition(source_format, ext):
    extra = {"comment": b"lab 4, bench 2"} if source_format == "JPEG" else {}
    data = encode(pattern((64, 48)), source_format, exif=exif_with_place(),
                  icc_profile=linear_rgb_icc(), **extra)  # fmt: skip

    rendered, image = render(data, f"max-32x32.{ext}")

    assert not set(image.info) & {"exif", "icc_profile", "xmp", "comment", "dpi"}
    assert not image.getexif()
    assert b"SecretScope" not in rendered.data
    assert b"lab 4" not in rendered.data
    assert b"Exif" not in rendered.data


def test_grey_jpeg_stays_grey_in_jpeg_and_becomes_rgb_in_webp():
    data = image_bytes("JPEG", (40, 30), mode="L")

    assert render(data, "max-20x20")[1].mode == "L"
    assert render(data, "max-20x20.webp")[1].mode == "RGB"


@pytest.mark.parametrize("mode", ["1", "P", "L", "LA", "RGB", "RGBA", "I;16"])
@pytest.mark.parametrize("ext", ["jpg", "png", "webp", "avif"])
def test_every_png_mode_renders_in_every_format(mode, ext):
    _, image = render(image_bytes("PNG", (30, 20), mode=mode), f"fill-10x10.{ext}")

    assert image.size == (10, 10)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"not an image", InvalidImage),
        (image_bytes("JPEG", (64, 64))[:200], InvalidImage),
    ],
)
def test_a_source_that_does_not_decode_is_refused(data, error):
    spec = resize.parse_spec("max-10x10", max_size=MAX)
    with pytest.raises(error):
        resize.render(io.BytesIO(data), spec=spec, format="JPEG", max_pixels=LIMIT)


def test_the_pixel_limit_holds_for_renditions_too():
    spec = resize.parse_spec("max-10x10", max_size=MAX)
    with pytest.raises(ImageTooLarge):
        resize.render(io.BytesIO(image_bytes("PNG", (100, 100))), spec=spec, format="JPEG",
                      max_pixels=1000)  # fmt: skip
