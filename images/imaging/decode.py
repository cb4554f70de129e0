"""Opening an image: the one door every image's bytes go through.

No ORM, no HTTP, no settings: callers pass the limits, and the app installs the gate a full
decode passes before it allocates (``set_memory_gate``: the machine's decode memory budget,
images/infra/decode_budget.py), given the decode's estimate (``decode_bytes``).
``open_image`` lets only the JPEG, PNG, TIFF, WebP and HEIF decoders near the pixels,
decides the format from the content (never a name or a client's content type), has the
file's structure walked before a decoder parses anything (PNG and JPEG: checks.py; TIFF:
tiff.py; WebP and HEIF: containers.py), refuses oversized images from their header before
any pixel is decoded, and turns every decoder failure into a domain error with a stable
code. 16-bit images come out mapped to 8 bits by the rule of hashing.py, except for a crop
(crop.py), which keeps their depth.
"""

import contextlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import pillow_heif
from PIL import Image

from images.errors import ImageTooLarge, InvalidImage, UnsupportedImageFormat
from images.imaging import checks, containers, hashing, tiff

# One decoding thread: requests already run in parallel; no thumbnails, depth or auxiliary
# images: only the primary image is ever read.
pillow_heif.register_heif_opener(
    thumbnails=False, depth_images=False, aux_images=False, decode_threads=1
)

ALLOWED_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP", "HEIF")
ACCEPTED = "JPEG, PNG, TIFF, WebP or HEIC"
CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "TIFF": "image/tiff",
    "WEBP": "image/webp",
    "HEIF": "image/heic",  # every HEIF accepted is HEVC-coded: a HEIC
}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "TIFF": "tif", "WEBP": "webp", "HEIF": "heic"}
TIFF_HEADS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
# HEIF's brands in the `ftyp` box that opens the file (ISO/IEC 23008-12).
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")
HEAD_BYTES = 12  # what starts_as_image needs to see


def starts_as_image(head: bytes) -> bool:
    """Whether a file's first ``HEAD_BYTES`` bytes are those of a format accepted here: a
    cheap choice of the files worth sending (an import's folder holds CSVs and notes too);
    decoding still decides."""
    return (
        head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", *TIFF_HEADS))
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or (head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS)
    )


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    phash: str  # 16 lowercase hex digits: images/imaging/hashing.py

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


@contextlib.contextmanager
def open_image(
    fp: BinaryIO,
    *,
    max_pixels: int,
    draft_size: tuple[int, int] | Callable[[Image.Image], tuple[int, int] | None] | None = None,
    keep_depth: bool = False,
) -> Iterator[Image.Image]:
    """Open, check and fully decode an image; yield the loaded image. ``draft_size``
    (previews, renditions: a size, or a function of the undecoded image giving one) lets a
    JPEG decode at the smallest DCT scale (1/2, 1/4, 1/8) at least that large.

    16-bit images come out mapped to 8 bits by the rule of images/imaging/hashing.py, unless
    ``keep_depth`` (crops): then 16-bit grey stays "I;16", and a 16-bit RGB TIFF, which
    Pillow has no mode for, comes as its 8-bit RGB with the samples in ``samples16``."""
    fp.seek(0)
    head = fp.read(16)
    tiff_layout = tiff_data = None
    if head.startswith(checks.PNG_SIGNATURE):
        checks.check_png_chunks(fp)
    elif head.startswith(checks.JPEG_SOI):
        checks.check_jpeg_scans(fp)
    elif head[:4] in TIFF_HEADS:
        fp.seek(0)
        tiff_data = fp.read()  # the byte limit bounds it
        tiff_layout = tiff.check(tiff_data, max_pixels=max_pixels)
        if not tiff_layout.rgb16:
            tiff_data = None  # only a 16-bit RGB one is read again
    elif containers.is_webp(head):
        fp.seek(0)
        containers.check_webp(fp.read(), max_pixels=max_pixels)
    elif containers.is_heif(head):
        fp.seek(0)
        containers.check_heif(fp.read(), max_pixels=max_pixels)
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
                f"{other} images are not accepted; send a {ACCEPTED}."
            ) from exc
        raise InvalidImage() from exc
    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise ImageTooLarge(
                f"The image is {width}x{height} pixels; at most {max_pixels} pixels are accepted."
            )
        try:
            frames = getattr(image, "n_frames", 1)  # TIFF and WebP look through the file
        except Exception as exc:
            raise InvalidImage(f"The image's frames could not be read ({exc}).") from exc
        if frames > 1 and image.format in ("TIFF", "WEBP", "HEIF"):
            raise UnsupportedImageFormat(
                f"Images of {frames} frames or pages are not accepted; send one still image "
                "per upload."
            )
        if frames > 1 or image.format not in ALLOWED_FORMATS:
            raise ImageTooLarge("Images with more than one frame are not accepted.")
        try:
            size = draft_size(image) if callable(draft_size) else draft_size
            if size and image.format == "JPEG":
                image.draft(image.mode, size)
        except Exception as exc:
            raise InvalidImage(f"The image could not be decoded ({exc}).") from exc
        rgb16 = tiff_layout is not None and tiff_data is not None
        with _memory_gate(decode_bytes(image, rgb16=rgb16)):
            try:
                if rgb16:
                    loaded = _rgb16(tiff_data, tiff_layout, image, keep_depth=keep_depth)
                else:
                    image.load()
                    loaded = image if keep_depth else _in_8_bits(image)
            except Image.DecompressionBombError as exc:
                raise ImageTooLarge(str(exc)) from exc
            except Exception as exc:
                raise InvalidImage(f"The image could not be decoded ({exc}).") from exc
            if loaded.mode == "P" and loaded.palette is None:
                # PLTE missing or after the image data: Pillow decodes the indices anyway,
                # but they name no colours (and with tRNS the phash's convert fails).
                raise InvalidImage("The PNG image has no colour palette before its image data.")
            try:
                yield loaded
            finally:
                # The pixels are freed here, before the reservation ends (a ``with`` of a
                # Pillow image closes its file only; the pixels would go with the last
                # reference, after the budget's share went to another decode). Image's own
                # close: ImageFile's would close the caller's file too.
                loaded.__dict__.pop("samples16", None)
                Image.Image.close(loaded)
                Image.Image.close(image)


# Bytes a pixel of each mode takes once decoded (Pillow keeps 3-channel modes in 4 bytes);
# other modes take 4.
MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
# A 16-bit RGB TIFF (tiff.py): its 16-bit samples (6 bytes), their 8-bit map (3), and the
# RGB image made of it (4).
RGB16_BYTES = 13


def decode_bytes(image: Image.Image, *, rgb16: bool = False) -> int:
    """About the most memory decoding ``image`` (opened, its draft chosen, not loaded)
    holds at once: its pixels as decoded, and 1 byte a pixel for the greyscale copy the
    phash makes, or the 8-bit map of a 16-bit image."""
    width, height = image.size
    per_pixel = RGB16_BYTES if rgb16 else MODE_BYTES.get(image.mode, 4)
    return width * height * (per_pixel + 1)


def _no_gate(nbytes: int) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


# What a full decode holds while it runs, its estimated bytes given before it allocates:
# the machine's decode memory budget once the app is ready (images/apps.py); until then
# (this module used alone), nothing.
_memory_gate: Callable[[int], contextlib.AbstractContextManager] = _no_gate


def set_memory_gate(gate: Callable[[int], contextlib.AbstractContextManager] | None):
    """Install ``gate`` (None: no gate); returns the one it replaces."""
    global _memory_gate
    replaced, _memory_gate = _memory_gate, gate or _no_gate
    return replaced


def _in_8_bits(image: Image.Image) -> Image.Image:
    """A 16-bit grey image mapped to 8 bits, with its format and metadata (ICC, EXIF
    orientation); any other image unchanged."""
    if image.mode not in hashing.DEEP_MODES:
        return image
    mapped = hashing.eight_bit(image)
    _carry(image, mapped)
    return mapped


def _rgb16(data: bytes, layout: tiff.Layout, image: Image.Image, *, keep_depth: bool):
    """A 16-bit RGB TIFF read at full depth; its 8-bit RGB by the rule, the samples kept
    on it (``samples16``) for a crop."""

    def open_grey(patched: bytearray) -> Image.Image:
        with Image.open(io.BytesIO(patched), formats=["TIFF"]) as grey:
            grey.load()
            return grey.copy()

    samples = tiff.read_rgb16(data, layout, open_grey)
    rgb = Image.fromarray(hashing.to_8bit(samples), "RGB")
    _carry(image, rgb)
    if keep_depth:
        rgb.samples16 = samples
    return rgb


def _carry(source: Image.Image, target: Image.Image) -> None:
    target.format = source.format
    target.info = {key: source.info[key] for key in ("icc_profile", "dpi") if key in source.info}
    exif = source.getexif()
    # Pillow turns a TIFF upright as it loads it (a 16-bit RGB one is turned in tiff.py):
    # its orientation is done. Other formats' is applied by renditions, so it is kept.
    if exif.get(0x0112) and source.format != "TIFF":
        target.info["exif"] = _orientation_exif(exif[0x0112]).tobytes()


def _orientation_exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def analyze(fp: BinaryIO, *, max_pixels: int) -> ImageInfo:
    """Decode once; return format, dimensions and phash."""
    with open_image(fp, max_pixels=max_pixels) as image:
        return info_of(image, image.format)


def dimensions(fp: BinaryIO) -> tuple[int, int]:
    """Width and height of a stored image, from its header alone (nothing decoded): for
    showing, never for checking an image that was not validated when stored."""
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
        if preview.mode in ("RGBA", "LA", "PA", "RGBa") or "transparency" in preview.info:
            preview.convert("RGBA").save(buffer, "PNG")
            return buffer.getvalue(), CONTENT_TYPES["PNG"]
        preview.convert("RGB").save(buffer, "JPEG", quality=85)
    except Exception as exc:
        raise InvalidImage(f"No preview could be made ({exc}).") from exc
    return buffer.getvalue(), CONTENT_TYPES["JPEG"]


def info_of(image: Image.Image, fmt: str) -> ImageInfo:
    width, height = image.size
    return ImageInfo(format=fmt, width=width, height=height, phash=hashing.phash(image))


def _identify(fp: BinaryIO) -> str | None:
    """The format name of an image Pillow knows but we refuse (GIF, AVIF, ...), if any."""
    try:
        with Image.open(fp) as other:
            return other.format
    except Exception:
        return None
