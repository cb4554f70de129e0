"""Crops: the box, and the cropped image encoded in its own format and depth."""

from typing import BinaryIO

import numpy as np
import pillow_heif
from PIL import Image, JpegImagePlugin

from images.errors import InvalidCrop, InvalidImage
from images.imaging import tiff
from images.imaging.decode import ImageInfo, analyze, info_of, open_image

JPEG_QUALITY = 95  # crops are re-encoded without visible loss
HEIF_QUALITY = 95
# Whether this libheif can encode HEVC; without, a HEIC's crop is a PNG (lossless).
HEIF_WRITABLE = bool(pillow_heif.libheif_info().get("HEIF"))
# Formats whose crops decode to exactly the cropped pixels: hashed without a second decode.
LOSSLESS_CROPS = ("PNG", "TIFF", "WEBP")


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
    """Crop the image in ``fp`` to ``box`` and encode it into ``out`` in its own format and
    depth (a HEIC where no HEVC encoder is available: a PNG, which the returned format says).

    Returns what ``analyze`` would say of the bytes written: the phash must be what a client
    computes from the stored file. A re-encoded JPEG or HEIC decodes to other pixels than
    the crop, so it is decoded again; PNG, TIFF and WebP crops are lossless, so the file
    decodes to exactly the cropped pixels (same mode, same values: a test checks every mode
    a PNG opens as) and their phash is the file's, without a second decode. A 16-bit RGB
    crop is hashed from its file too: its 8 bits depend on its own samples' range.
    """
    deep = None
    with open_image(fp, max_pixels=max_pixels, keep_depth=True) as image:
        fmt = image.format
        samples = getattr(image, "samples16", None)
        try:
            fmt, options = encoder_options(image)
            if samples is not None:
                left, top, right, bottom = box
                deep = np.ascontiguousarray(samples[top:bottom, left:right])
            else:
                cropped = image.crop(box)
        except Exception as exc:
            raise InvalidImage(f"The cropped image could not be encoded ({exc}).") from exc
        samples = None  # the full image's pixels go as open_image ends: before the encoder's
    try:
        if deep is not None:
            out.write(tiff.write(deep, icc_profile=options.get("icc_profile")))
            return analyze(out, max_pixels=max_pixels)
        cropped.save(out, fmt, **options)
    except Exception as exc:
        raise InvalidImage(f"The cropped image could not be encoded ({exc}).") from exc
    if fmt in LOSSLESS_CROPS:
        return info_of(cropped, fmt)
    cropped.close()
    return analyze(out, max_pixels=max_pixels)


def encoder_options(image: Image.Image) -> tuple[str, dict]:
    """The format a crop of ``image`` is encoded in, and how: its metadata kept, JPEG and
    HEIC at high quality, TIFF with lossless Deflate, WebP lossless (a crop of a lossy
    WebP loses nothing more)."""
    fmt = image.format
    options = {key: image.info[key] for key in ("icc_profile", "exif") if image.info.get(key)}
    if image.info.get("dpi") and fmt in ("JPEG", "PNG", "TIFF"):
        options["dpi"] = image.info["dpi"]
    if fmt == "JPEG":
        options["quality"] = JPEG_QUALITY
        sampling = JpegImagePlugin.get_sampling(image)
        if sampling != -1:
            options["subsampling"] = sampling
    elif fmt == "TIFF":
        # Pillow turns a TIFF upright as it loads it: the crop is upright and says nothing
        # of an orientation (the source's other TIFF tags describe the source, not it).
        options["compression"] = "tiff_adobe_deflate"
        options.pop("exif", None)
    elif fmt == "WEBP":
        options.update(lossless=True, exact=True)
    elif fmt == "HEIF":
        if not HEIF_WRITABLE:
            return "PNG", {key: options[key] for key in ("icc_profile",) if key in options}
        options["quality"] = HEIF_QUALITY
    return fmt, options
