import io

import imagehash
import numpy as np
import pytest
from PIL import Image

from images.errors import (
    ImageServiceError,
    ImageTooLarge,
    InvalidCrop,
    InvalidImage,
    UnsupportedImageFormat,
)
from images.imaging import crop, hashing
from images.imaging import decode as imaging
from tests.factories import (
    apng_bytes,
    corrupt_png_crc,
    decoder_cases,
    encode,
    image_bytes,
    pattern,
    png_16bit_rgb,
    png_chunk,
    png_with_chunks,
    png_with_header,
)

LIMIT = 64_000_000


def _exif_with_huge_dpi() -> bytes:
    from PIL.TiffImagePlugin import IFDRational

    exif = Image.Exif()
    exif[0x011A] = exif[0x011B] = IFDRational(2**32 - 1, 1)  # X and Y resolution
    exif[0x0128] = 2  # in inches
    return exif.tobytes()


HUGE_DPI = _exif_with_huge_dpi()


@pytest.mark.parametrize(
    ("fmt", "mode"),
    [("JPEG", "RGB"), ("JPEG", "L"), ("JPEG", "CMYK"), ("PNG", "RGB"), ("PNG", "RGBA"),
     ("PNG", "P"), ("PNG", "L"), ("PNG", "1"), ("PNG", "I;16")],
)  # fmt: skip
def test_analyze_gives_format_size_and_the_phash_imagehash_gives(fmt, mode):
    data = image_bytes(fmt, (70, 50), mode=mode)

    info = imaging.analyze(io.BytesIO(data), max_pixels=LIMIT)

    assert (info.format, info.width, info.height) == (fmt, 70, 50)
    # 16-bit grey through the 16-bit rule (images/imaging/hashing.py), every other mode as it is
    assert info.phash == str(imagehash.phash(hashing.eight_bit(Image.open(io.BytesIO(data)))))
    assert len(info.phash) == 16


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (encode(pattern((8, 8)), "GIF"), UnsupportedImageFormat),
        (b"", InvalidImage),
        (b"\x89PNG\r\n\x1a\n", InvalidImage),
        (corrupt_png_crc(), InvalidImage),
        (image_bytes("JPEG", (64, 64))[:200], InvalidImage),
        (png_with_header(20_000, 20_000), ImageTooLarge),
        (apng_bytes(), ImageTooLarge),
    ],
)
def test_analyze_refuses_with_the_matching_domain_error(data, error):
    with pytest.raises(error) as raised:
        imaging.analyze(io.BytesIO(data), max_pixels=LIMIT)
    assert raised.value.code == error.code


def test_pixel_limit_is_decided_from_the_header_before_decoding():
    # 9000x9000 exceeds a 1000-pixel limit; its IDAT is far too short to decode, so only a
    # header check can answer image_too_large rather than invalid_image.
    with pytest.raises(ImageTooLarge):
        imaging.analyze(io.BytesIO(png_with_header(9000, 9000)), max_pixels=1000)


def test_unsupported_format_error_names_the_format():
    with pytest.raises(UnsupportedImageFormat, match="GIF"):
        imaging.analyze(io.BytesIO(encode(pattern((8, 8)), "GIF")), max_pixels=LIMIT)


@pytest.mark.parametrize(
    ("kwargs", "box"),
    [
        ({"width": 100, "height": 100}, (78, 78, 178, 178)),
        ({"width": 256, "height": 256}, (0, 0, 256, 256)),
        ({"width": 1, "height": 1}, (127, 127, 128, 128)),
        ({"width": 10, "height": 20, "left": 0, "top": 236}, (0, 236, 10, 256)),
    ],
)
def test_crop_box_is_centred_unless_left_and_top_are_given(kwargs, box):
    assert crop.crop_box(image_width=256, image_height=256, **kwargs) == box


@pytest.mark.parametrize(
    "kwargs",
    [
        {"width": 0, "height": 10},
        {"width": 10, "height": -1},
        {"width": 257, "height": 10},
        {"width": 10, "height": 10, "left": 250, "top": 0},
        {"width": 10, "height": 10, "left": 0},
        {"width": 10, "height": 10, "left": -1, "top": 0},
    ],
)
def test_crop_box_outside_the_image_is_refused(kwargs):
    with pytest.raises(InvalidCrop):
        crop.crop_box(image_width=256, image_height=256, **kwargs)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_crop_keeps_the_format_and_the_icc_profile(fmt):
    source = pattern((40, 40))
    icc = b"\x00" * 128 + b"fake-profile-for-test"
    data = encode(source, fmt, icc_profile=icc)
    out = io.BytesIO()

    info = crop.crop(io.BytesIO(data), out, box=(5, 5, 25, 35), max_pixels=LIMIT)
    assert (info.format, info.width, info.height) == (fmt, 20, 30)

    cropped = Image.open(io.BytesIO(out.getvalue()))
    assert cropped.format == fmt
    assert cropped.size == (20, 30)
    assert cropped.info.get("icc_profile") == icc


def test_png_crop_is_lossless_and_keeps_transparency():
    source = pattern((40, 40), mode="RGBA")
    source.putpixel((10, 10), (1, 2, 3, 0))
    out = io.BytesIO()

    crop.crop(io.BytesIO(encode(source, "PNG")), out, box=(0, 0, 20, 20), max_pixels=LIMIT)

    assert Image.open(out).tobytes() == source.crop((0, 0, 20, 20)).tobytes()


def png_in_mode(mode: str) -> bytes:
    """A 64x48 PNG that Pillow opens in ``mode`` (16-bit grey opens as I;16; a palette
    image with a transparent index keeps it)."""
    if mode == "I;16":
        grey = np.asarray(pattern((64, 48), "L"), dtype=np.uint16) * 257 + 3
        return encode(Image.fromarray(grey), "PNG")
    if mode == "RGB;16":  # 48-bit colour, which Pillow opens as 8-bit RGB
        return png_16bit_rgb((64, 48))
    if mode == "P+transparency":
        return encode(pattern((64, 48)).quantize(17), "PNG", transparency=b"\xff\x00")
    return encode(pattern((64, 48), mode), "PNG")


@pytest.mark.filterwarnings("ignore:Palette images with Transparency:UserWarning")
@pytest.mark.parametrize(
    "mode", ["1", "L", "LA", "I;16", "RGB", "RGB;16", "RGBA", "P", "P+transparency"]
)
def test_png_crop_phash_is_the_phash_of_the_stored_file(mode):
    """The PNG crop is hashed from the pixels in memory, not by decoding the file again:
    it must be bit-identical to imagehash.phash of the file, in every mode."""
    out = io.BytesIO()

    info = crop.crop(io.BytesIO(png_in_mode(mode)), out, box=(3, 5, 50, 41), max_pixels=LIMIT)

    stored = Image.open(io.BytesIO(out.getvalue()))
    assert info == imaging.ImageInfo("PNG", 47, 36, str(imagehash.phash(hashing.eight_bit(stored))))
    assert info == imaging.analyze(io.BytesIO(out.getvalue()), max_pixels=LIMIT)


def test_jpeg_crop_phash_is_the_phash_of_the_stored_file_not_of_the_pixels_cropped():
    source = encode(pattern((64, 48)), "JPEG", quality=60)
    out = io.BytesIO()

    info = crop.crop(io.BytesIO(source), out, box=(3, 5, 50, 41), max_pixels=LIMIT)

    assert info.phash == str(imagehash.phash(Image.open(io.BytesIO(out.getvalue()))))


@pytest.mark.parametrize(("fmt", "content_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png")])
def test_thumbnail_is_small(fmt, content_type):
    mode = "RGBA" if fmt == "PNG" else "RGB"
    data = image_bytes(fmt, (800, 400), mode=mode)

    body, kind = imaging.thumbnail(io.BytesIO(data), size=96, max_pixels=LIMIT)

    assert kind == content_type
    assert max(Image.open(io.BytesIO(body)).size) <= 96


@pytest.mark.parametrize("value", ["0000000000000000", "ffffffffffffffff", "8000000000000000",
                                   "7fffffffffffffff", "c3a5e1f00f1e5a3c"])  # fmt: skip
def test_phash_int_round_trips_and_fits_a_signed_64_bit_column(value):
    number = hashing.phash_to_int(value)

    assert -(2**63) <= number < 2**63
    assert hashing.int_to_phash(number) == value


def test_hamming_counts_differing_bits_of_signed_values():
    ones, zeros = hashing.phash_to_int("f" * 16), hashing.phash_to_int("0" * 16)

    assert hashing.hamming(ones, zeros) == 64
    assert hashing.hamming(ones, ones) == 0
    assert hashing.hamming(hashing.phash_to_int("8000000000000001"), zeros) == 2


MIB = 1024 * 1024
ERRORS = {error.code: error for error in (InvalidImage, ImageTooLarge, UnsupportedImageFormat)}


@pytest.mark.parametrize(
    ("data", "code"), [pytest.param(data, code, id=label) for label, data, code in decoder_cases()]
)
def test_hostile_and_odd_files_end_in_their_documented_error(data, code):
    if code is None:
        assert imaging.analyze(io.BytesIO(data), max_pixels=LIMIT).format in ("JPEG", "PNG")
    else:
        with pytest.raises(ERRORS[code]):
            imaging.analyze(io.BytesIO(data), max_pixels=LIMIT)


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("CMYK jpeg", encode(pattern((60, 40), "CMYK"), "JPEG")),
        ("16-bit grey png", encode(pattern((60, 40), "I;16"), "PNG")),
        ("16-bit colour png", png_16bit_rgb((60, 40))),
        ("grey+alpha png", encode(pattern((60, 40), "LA"), "PNG")),
        ("jpeg with a 3 MiB ICC profile in 49 APP2 segments",
         encode(pattern((60, 40)), "JPEG", icc_profile=bytes(range(256)) * (3 * MIB // 256))),
        ("png with a 900 KiB ICC profile",
         encode(pattern((60, 40)), "PNG", icc_profile=bytes(range(256)) * 3600)),
        ("png with a 5 MiB eXIf chunk",
         png_with_chunks(png_chunk(b"eXIf", b"MM\0*" + bytes(5 * MIB)))),
        ("jpeg whose EXIF claims 4294967295 dpi", encode(pattern((60, 40)), "JPEG", exif=HUGE_DPI)),
    ],
)  # fmt: skip
def test_unusual_accepted_images_hash_and_crop_and_keep_their_metadata(label, data):
    source = Image.open(io.BytesIO(data))
    info = imaging.analyze(io.BytesIO(data), max_pixels=LIMIT)
    assert info.phash == str(imagehash.phash(hashing.eight_bit(source)))

    out = io.BytesIO()
    crop.crop(io.BytesIO(data), out, box=(2, 3, 22, 13), max_pixels=LIMIT)

    cropped = Image.open(io.BytesIO(out.getvalue()))
    assert (cropped.format, cropped.size, cropped.mode) == (source.format, (20, 10), source.mode)
    assert cropped.info.get("icc_profile") == source.info.get("icc_profile")
    assert cropped.info.get("exif") == source.info.get("exif")
    assert imaging.analyze(io.BytesIO(out.getvalue()), max_pixels=LIMIT).width == 20


@pytest.mark.parametrize("mode", ["CMYK", "I;16"])
def test_crop_keeps_the_pixels_of_cmyk_and_16_bit_images(mode):
    source = pattern((60, 40), mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    out = io.BytesIO()

    crop.crop(io.BytesIO(encode(source, fmt)), out, box=(10, 10, 40, 30), max_pixels=LIMIT)

    cropped = Image.open(out)
    expected = Image.open(io.BytesIO(encode(source, fmt))).crop((10, 10, 40, 30))
    if fmt == "PNG":
        assert cropped.tobytes() == expected.tobytes()  # lossless, all 16 bits
    else:
        differences = [
            abs(a - b) for a, b in zip(cropped.tobytes(), expected.tobytes(), strict=True)
        ]
        assert max(differences) < 40  # re-encoded at quality 95


@pytest.mark.parametrize(
    "data",
    [
        image_bytes("PNG", (48, 40)),
        image_bytes("JPEG", (48, 40)),
        image_bytes("JPEG", (48, 40), progressive=True),
    ],
)
def test_every_truncation_of_an_image_is_an_invalid_image(data):
    """Pillow raises many kinds of exceptions on broken input; all must become our errors."""

    def outcome(end: int) -> str:
        try:
            imaging.analyze(io.BytesIO(data[:end]), max_pixels=LIMIT)
        except ImageServiceError as exc:
            return exc.code
        return "accepted"

    assert {outcome(end) for end in range(0, len(data), max(1, len(data) // 60))} == {
        "invalid_image"
    }


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_dimensions_are_read_from_the_header(fmt):
    assert imaging.dimensions(io.BytesIO(image_bytes(fmt, (70, 30)))) == (70, 30)


def test_dimensions_of_what_is_not_a_jpeg_or_png_is_an_invalid_image():
    with pytest.raises(InvalidImage):
        imaging.dimensions(io.BytesIO(b"not an image"))
