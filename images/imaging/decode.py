"""Pure image work: decode, check limits, hash, crop, encode.

No ORM, no HTTP, no settings: callers pass the limits. Every image goes through
``open_image``, which lets only Pillow's JPEG and PNG decoders near the pixels, decides the
format from the content (never a name or a client's content type), refuses oversized
images from their header before any pixel is decoded, and turns every decoder failure into
a domain error with a stable code.

Before Pillow parses anything, the file's structure is walked: every PNG chunk's checksum,
the decompressed size of PNG text and ICC chunks (zlib bombs), the number of scans of a
JPEG (each progressive scan makes the decoder pass over every block of the image again, so
a file of many tiny scans costs minutes of CPU per megabyte). What is over a limit is
refused as too large (413), as the pixel limit is.
"""

import io
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

import imagehash
from PIL import Image, JpegImagePlugin, PngImagePlugin

from images.errors import ImageTooLarge, InvalidCrop, InvalidImage, UnsupportedImageFormat

ALLOWED_FORMATS = ("JPEG", "PNG")
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png"}
JPEG_QUALITY = 95  # crops are re-encoded without visible loss
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
# Pillow's own limits on PNG metadata, enforced here first so that an excess is a clear
# 413 rather than a decoder error: each compressed text or ICC chunk may inflate to 1 MiB,
# all text chunks together to 64 MiB.
PNG_INFLATED_CHUNK_LIMIT = PngImagePlugin.MAX_TEXT_CHUNK
PNG_TEXT_TOTAL_LIMIT = PngImagePlugin.MAX_TEXT_MEMORY
# Encoders write about ten scans (libjpeg's progressive script) and rarely a few dozen; 256
# is the limit other decoders adopted after libjpeg-turbo's security audit.
JPEG_MAX_SCANS = 256
_CHUNK = 64 * 1024
_PNG_METADATA = (b"tEXt", b"zTXt", b"iTXt", b"iCCP")
# In entropy-coded data a 0xFF byte is followed by 0x00 (stuffing) or a restart marker;
# anything else is the next marker, which ends the scan.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    phash: str  # 16 lowercase hex digits: str(imagehash.phash(image))

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


@contextmanager
def open_image(
    fp: BinaryIO,
    *,
    max_pixels: int,
    draft_size: tuple[int, int] | Callable[[Image.Image], tuple[int, int] | None] | None = None,
) -> Iterator[Image.Image]:
    """Open, check and fully decode a JPEG or PNG; yield the loaded image. ``draft_size``
    (previews, renditions: a size, or a function of the undecoded image giving one) lets a
    JPEG decode at the smallest DCT scale (1/2, 1/4, 1/8) at least that large."""
    fp.seek(0)
    head = fp.read(len(PNG_SIGNATURE))
    if head == PNG_SIGNATURE:
        _check_png_chunks(fp)
    elif head.startswith(JPEG_SOI):
        _check_jpeg_scans(fp)
    fp.seek(0)
    try:
        image = Image.open(fp, formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"The image has too many pixels ({exc}).") from exc
    except Exception as exc:
        fp.seek(0)
        other = _identify(fp)
        if other:
            raise UnsupportedImageFormat(
                f"{other} images are not accepted; send a JPEG or PNG."
            ) from exc
        raise InvalidImage() from exc
    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise ImageTooLarge(
                f"The image is {width}x{height} pixels; at most {max_pixels} pixels are accepted."
            )
        if getattr(image, "n_frames", 1) > 1 or image.format not in ALLOWED_FORMATS:
            raise ImageTooLarge("Images with more than one frame are not accepted.")
        try:
            size = draft_size(image) if callable(draft_size) else draft_size
            if size and image.format == "JPEG":
                image.draft(image.mode, size)
            image.load()
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge(str(exc)) from exc
        except Exception as exc:
            raise InvalidImage(f"The image could not be decoded ({exc}).") from exc
        if image.mode == "P" and image.palette is None:
            # PLTE missing or after the image data: Pillow decodes the indices anyway, but
            # they name no colours (and with tRNS the phash's convert fails).
            raise InvalidImage("The PNG image has no colour palette before its image data.")
        yield image


def analyze(fp: BinaryIO, *, max_pixels: int) -> ImageInfo:
    """Decode once; return format, dimensions and phash."""
    with open_image(fp, max_pixels=max_pixels) as image:
        return _info(image, image.format)


def crop_box(
    *,
    image_width: int,
    image_height: int,
    width: int,
    height: int,
    left: int | None = None,
    top: int | None = None,
) -> tuple[int, int, int, int]:
    """The (left, top, right, bottom) box of a crop; centred unless left and top are given."""
    if width < 1 or height < 1:
        raise InvalidCrop("Crop width and height must be positive integers.")
    if (left is None) != (top is None):
        raise InvalidCrop("Give both left and top for a box crop, or neither for a centre crop.")
    if left is None or top is None:
        left, top = (image_width - width) // 2, (image_height - height) // 2
    if left < 0 or top < 0 or left + width > image_width or top + height > image_height:
        raise InvalidCrop(
            f"The crop {width}x{height} at ({left}, {top}) is not inside the "
            f"{image_width}x{image_height} image."
        )
    return left, top, left + width, top + height


def crop(
    fp: BinaryIO, out: BinaryIO, *, box: tuple[int, int, int, int], max_pixels: int
) -> ImageInfo:
    """Crop the image in ``fp`` to ``box`` and encode it into ``out`` in its own format.

    Returns what ``analyze`` would say of the bytes written: the phash must be what a client
    computes from the stored file. A re-encoded JPEG decodes to other pixels than the crop,
    so it is decoded again; PNG is lossless, so the file decodes to exactly the cropped
    pixels (same mode, same values: a test checks every mode a PNG opens as) and their
    phash is the file's, without a second decode.
    """
    with open_image(fp, max_pixels=max_pixels) as image:
        fmt = image.format
        try:
            options = encoder_options(image)
            cropped = image.crop(box)
        except Exception as exc:
            raise InvalidImage(f"The cropped image could not be encoded ({exc}).") from exc
        image.close()  # frees the full image's pixels before the encoder's buffers
    try:
        cropped.save(out, fmt, **options)
    except Exception as exc:
        raise InvalidImage(f"The cropped image could not be encoded ({exc}).") from exc
    if fmt == "PNG":
        return _info(cropped, fmt)
    cropped.close()
    return analyze(out, max_pixels=max_pixels)


def dimensions(fp: BinaryIO) -> tuple[int, int]:
    """Width and height of a stored JPEG or PNG, from its header alone (nothing decoded):
    for showing, never for checking an image that was not validated when stored."""
    fp.seek(0)
    try:
        with Image.open(fp, formats=ALLOWED_FORMATS) as image:
            return image.size
    except Exception as exc:
        raise InvalidImage() from exc


def thumbnail(fp: BinaryIO, *, size: int, max_pixels: int) -> tuple[bytes, str]:
    """A small preview for people (the admin); returns bytes and content type."""
    with open_image(fp, max_pixels=max_pixels, draft_size=(size, size)) as image:
        preview = image.copy()
    buffer = io.BytesIO()
    try:
        preview.thumbnail((size, size))
        if preview.mode in ("RGBA", "LA", "PA") or "transparency" in preview.info:
            preview.convert("RGBA").save(buffer, "PNG")
            return buffer.getvalue(), CONTENT_TYPES["PNG"]
        preview.convert("RGB").save(buffer, "JPEG", quality=85)
    except Exception as exc:
        raise InvalidImage(f"No preview could be made ({exc}).") from exc
    return buffer.getvalue(), CONTENT_TYPES["JPEG"]


def phash_to_int(phash: str) -> int:
    """The phash as a signed 64-bit integer, the form databases index and compare."""
    value = int(phash, 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def int_to_phash(value: int) -> str:
    return f"{value & 0xFFFFFFFFFFFFFFFF:016x}"


def hamming(a: int, b: int) -> int:
    """Bits that differ between two 64-bit hashes (signed or unsigned ints)."""
    return ((a ^ b) & 0xFFFFFFFFFFFFFFFF).bit_count()


def _info(image: Image.Image, fmt: str) -> ImageInfo:
    width, height = image.size
    try:
        phash = str(imagehash.phash(image))
    except Exception as exc:  # an odd mode the hash cannot take: the image's fault
        raise InvalidImage(f"The image could not be hashed ({exc}).") from exc
    return ImageInfo(format=fmt, width=width, height=height, phash=phash)


def encoder_options(image: Image.Image) -> dict:
    """How a crop of ``image`` is encoded: its metadata kept, JPEG at high quality."""
    options = {
        key: image.info[key] for key in ("icc_profile", "exif", "dpi") if image.info.get(key)
    }
    if image.format == "JPEG":
        options["quality"] = JPEG_QUALITY
        sampling = JpegImagePlugin.get_sampling(image)
        if sampling != -1:
            options["subsampling"] = sampling
    return options


def _identify(fp: BinaryIO) -> str | None:
    """The format name of an image Pillow knows but we refuse (GIF, WebP, ...), if any."""
    try:
        with Image.open(fp) as other:
            return other.format
    except Exception:
        return None


def _check_png_chunks(fp: BinaryIO) -> None:
    """Walk every chunk: check its CRC (Pillow's decoder skips the IDAT checksums) and how
    far its metadata inflates, before Pillow reads any of it."""
    fp.seek(len(PNG_SIGNATURE))
    text_total = 0
    while True:
        header = fp.read(8)
        if len(header) < 8:
            raise InvalidImage("The PNG file is truncated (no IEND chunk).")
        length, kind = struct.unpack(">I4s", header)
        if kind in _PNG_METADATA:  # read whole, as Pillow does; the byte limit bounds it
            data = fp.read(length)
            if len(data) < length:
                raise InvalidImage("The PNG file is truncated.")
            crc = zlib.crc32(kind + data)
        else:
            data, crc = b"", _crc_of_next(fp, length, zlib.crc32(kind))
        stored = fp.read(4)
        if len(stored) < 4 or struct.unpack(">I", stored)[0] != crc:
            raise InvalidImage(f"The PNG file is corrupt (bad {kind!r} chunk checksum).")
        if data:
            size, inflated = _png_metadata_size(kind, data)
            if inflated and size > PNG_INFLATED_CHUNK_LIMIT:
                raise ImageTooLarge(
                    f"The PNG's {kind.decode()} chunk inflates to more than "
                    f"{PNG_INFLATED_CHUNK_LIMIT} bytes."
                )
            if kind != b"iCCP":
                text_total += size
                if text_total > PNG_TEXT_TOTAL_LIMIT:
                    raise ImageTooLarge(
                        f"The PNG's text chunks hold more than {PNG_TEXT_TOTAL_LIMIT} bytes."
                    )
        if kind == b"IEND":
            break
    fp.seek(0)


def _crc_of_next(fp: BinaryIO, length: int, crc: int) -> int:
    while length:
        block = fp.read(min(length, _CHUNK))
        if not block:
            raise InvalidImage("The PNG file is truncated.")
        crc = zlib.crc32(block, crc)
        length -= len(block)
    return crc


def _png_metadata_size(kind: bytes, data: bytes) -> tuple[int, bool]:
    """The size of a text or ICC chunk's value once inflated (at most the limit + 1), and
    whether it was compressed. Layouts as in the PNG specification; a malformed chunk
    counts as empty, as Pillow skips it."""
    _, _, value = data.partition(b"\0")
    if kind == b"tEXt":
        return len(value), False
    if kind == b"iTXt":
        compressed, value = value[:1] == b"\1", value[2:]
        parts = value.split(b"\0", 2)
        if len(parts) < 3:
            return 0, False
        value = parts[2]
        if not compressed:
            return len(value), False
    else:  # zTXt, iCCP: a compression method byte, then zlib data
        value = value[1:]
    try:
        return len(zlib.decompressobj().decompress(value, PNG_INFLATED_CHUNK_LIMIT + 1)), True
    except zlib.error:
        return 0, True


def _check_jpeg_scans(fp: BinaryIO) -> None:
    """Count the scans by walking the markers; stop quietly at anything unexpected and let
    the decoder judge it."""
    fp.seek(len(JPEG_SOI))
    data = fp.read()  # the byte limit bounds it
    position, scans = 0, 0
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0xD9:  # EOI
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            position += 2
            continue
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if marker == 0xDA:  # SOS: the scan's header, then its entropy-coded data
            scans += 1
            if scans > JPEG_MAX_SCANS:
                raise ImageTooLarge(
                    f"The JPEG has more than {JPEG_MAX_SCANS} scans; each one costs a pass "
                    "over the whole image."
                )
            end = _SCAN_END.search(data, position)
            if end is None:
                break
            position = end.start()
    fp.seek(0)
