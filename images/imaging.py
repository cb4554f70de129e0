"""Pure image work: decode, check limits, hash, crop, encode.

No ORM, no HTTP, no settings: callers pass the limits. Every image goes through
``open_image``, which lets only Pillow's JPEG and PNG decoders near the pixels, decides the
format from the content (never a name or a client's content type), refuses oversized
images from their header before any pixel is decoded, and turns every decoder failure into
a domain error with a stable code.
"""

import io
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

import imagehash
from PIL import Image, JpegImagePlugin

from .errors import (
    ImageServiceError,
    ImageTooLarge,
    InvalidCrop,
    InvalidImage,
    UnsupportedImageFormat,
)

ALLOWED_FORMATS = ("JPEG", "PNG")
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png"}
JPEG_QUALITY = 95  # crops are re-encoded without visible loss
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHUNK = 64 * 1024


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
    fp: BinaryIO, *, max_pixels: int, draft_size: tuple[int, int] | None = None
) -> Iterator[Image.Image]:
    """Open, check and fully decode a JPEG or PNG; yield the loaded image.

    ``draft_size`` lets the JPEG decoder scale down while decoding (for previews only).
    """
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
            if image.format == "PNG":
                _check_png_chunks(fp)
            elif draft_size:
                image.draft(image.mode, draft_size)
            image.load()
        except ImageServiceError:
            raise
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge(str(exc)) from exc
        except Exception as exc:
            raise InvalidImage(f"The image could not be decoded ({exc}).") from exc
        yield image


def analyze(fp: BinaryIO, *, max_pixels: int) -> ImageInfo:
    """Decode once; return format, dimensions and phash."""
    with open_image(fp, max_pixels=max_pixels) as image:
        return _info(image)


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


def crop(fp: BinaryIO, out: BinaryIO, *, box: tuple[int, int, int, int], max_pixels: int) -> str:
    """Crop the image in ``fp`` to ``box`` and encode it into ``out`` in its own format."""
    with open_image(fp, max_pixels=max_pixels) as image:
        fmt = image.format
        options = _save_options(image)
        try:
            image.crop(box).save(out, fmt, **options)
        except Exception as exc:
            raise InvalidImage(f"The cropped image could not be encoded ({exc}).") from exc
    return fmt


def thumbnail(fp: BinaryIO, *, size: int, max_pixels: int) -> tuple[bytes, str]:
    """A small preview for people (the admin); returns bytes and content type."""
    with open_image(fp, max_pixels=max_pixels, draft_size=(size, size)) as image:
        preview = image.copy()
    preview.thumbnail((size, size))
    has_alpha = preview.mode in ("RGBA", "LA", "PA") or "transparency" in preview.info
    buffer = io.BytesIO()
    if has_alpha:
        preview.convert("RGBA").save(buffer, "PNG")
        return buffer.getvalue(), CONTENT_TYPES["PNG"]
    preview.convert("RGB").save(buffer, "JPEG", quality=85)
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


def _info(image: Image.Image) -> ImageInfo:
    width, height = image.size
    return ImageInfo(
        format=image.format, width=width, height=height, phash=str(imagehash.phash(image))
    )


def _save_options(image: Image.Image) -> dict:
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
    """Walk every chunk and check its CRC (Pillow's decoder skips the IDAT checksums)."""
    fp.seek(len(PNG_SIGNATURE))
    while True:
        header = fp.read(8)
        if len(header) < 8:
            raise InvalidImage("The PNG file is truncated (no IEND chunk).")
        length, kind = struct.unpack(">I4s", header)
        crc = zlib.crc32(kind)
        remaining = length
        while remaining:
            block = fp.read(min(remaining, _CHUNK))
            if not block:
                raise InvalidImage("The PNG file is truncated.")
            crc = zlib.crc32(block, crc)
            remaining -= len(block)
        stored = fp.read(4)
        if len(stored) < 4 or struct.unpack(">I", stored)[0] != crc:
            raise InvalidImage(f"The PNG file is corrupt (bad {kind!r} chunk checksum).")
        if kind == b"IEND":
            break
    fp.seek(0)
