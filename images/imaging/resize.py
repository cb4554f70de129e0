"""Renditions, the pure part: what a spec asks for, which format answers, and the resize.

No ORM, no HTTP, no settings: callers pass the limits. The source goes through
``imaging.open_image`` (the same checks and limits as an upload), and a JPEG decodes at the
smallest DCT scale that still covers the rendition (shrink-on-load, as ``Image.thumbnail``
does). The picture is then made to look as the original does in a colour-managed viewer:
EXIF orientation applied, palette, 1-bit and CMYK converted, 16-bit mapped to 8 by the
hash's rule (hashing.py), an embedded ICC profile converted to sRGB; alpha is kept where
the output format has it and flattened on white for JPEG. Nothing of the source's metadata
(EXIF, XMP, comments, ICC, text chunks) is written into a rendition: nothing about the
instrument or the place leaks into thumbnails.
"""

import functools
import io
import math
import re
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageCms

from images.errors import InvalidImage, InvalidRendition
from images.imaging import decode as imaging
from images.imaging import hashing

KINDS = ("max", "fill", "width", "height")
# The format suffixes of a spec, and what the formats are called, sent and saved as.
SUFFIXES = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF"}
AUTO = "auto"
CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "AVIF": "image/avif",
}
EXTENSIONS = {fmt: suffix for suffix, fmt in SUFFIXES.items()}
# A rendition without a format suffix is in the source's format, unless browsers cannot
# show that: a TIFF's is a PNG (lossless, like the TIFF; grey or 16-bit mapped to 8 bits),
# a HEIC's a JPEG (a photo, as a phone's HEIC is).
SOURCE_RENDITION_FORMATS = {"TIFF": "PNG", "HEIF": "JPEG"}
# Chosen by measurement on 1024x1024 photos (docs/guide/renditions.md): JPEG and WebP at the
# qualities Wagtail and imgproxy default to; PNG level 3 is a third of level 6's time for
# 12% more bytes; AVIF speed 8 is a third of speed 6's time, and quality 60 about matches
# the others to the eye at fewer bytes than WebP.
ENCODER_OPTIONS = {
    "JPEG": {"quality": 85},
    "PNG": {"compress_level": 3},
    "WEBP": {"quality": 80, "method": 4},
    "AVIF": {"quality": 60, "speed": 8},
}
# Each step of a downscale beyond 3x is first done by averaging whole pixels (Image.reduce):
# Pillow's measure of where the result stops differing from a full Lanczos resample.
REDUCING_GAP = 3.0
WHITE = (255, 255, 255)
# Which transpose puts an image upright, by its EXIF orientation (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ORIENTATION_TAG = 0x0112
# ASCII digits only (\d would take other scripts' digits), no leading zero: one spec, one
# name. At most 9 digits, so that any number parses; the range is checked after.
# A size of 0 matches, to be told the range; other leading zeros do not (one spelling each).
_SPEC = re.compile(r"([a-z]+)-(0|[1-9][0-9]{0,8})(?:x(0|[1-9][0-9]{0,8}))?(?:\.([a-z]+))?")


@dataclass(frozen=True)
class Spec:
    kind: str  # one of KINDS
    width: int | None  # None for height-{H}
    height: int | None  # None for width-{W}
    format: str | None = None  # JPEG, PNG, WEBP or AVIF; None: the source's (or auto)
    auto: bool = False  # .auto: AVIF or WebP if the client accepts them

    @property
    def name(self) -> str:
        """The spec without its format: ``max-256x256``, ``width-640``."""
        if self.kind == "width":
            return f"width-{self.width}"
        if self.kind == "height":
            return f"height-{self.height}"
        return f"{self.kind}-{self.width}x{self.height}"


@dataclass(frozen=True)
class Layout:
    """Where a rendition comes from in the upright source, and its size."""

    box: tuple[float, float, float, float]  # left, top, right, bottom in source pixels
    size: tuple[int, int]

    @property
    def scaled(self) -> bool:
        return self.size != (self.box[2] - self.box[0], self.box[3] - self.box[1])


@dataclass(frozen=True)
class Rendered:
    data: bytes
    format: str
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def parse_spec(text: str, *, max_size: int) -> Spec:
    """``max-{W}x{H}``, ``fill-{W}x{H}``, ``width-{W}`` or ``height-{H}``, each with an
    optional ``.jpg``, ``.png``, ``.webp``, ``.avif`` or ``.auto``; sizes 1 to ``max_size``."""
    match = _SPEC.fullmatch(text)
    if match is None or match[1] not in KINDS:
        raise InvalidRendition(f"{text!r} is not a rendition spec.")
    kind, first, second, suffix = match.groups()
    if (kind in ("max", "fill")) != (second is not None):
        form = f"{kind}-{{W}}x{{H}}" if kind in ("max", "fill") else f"{kind}-{{N}}"
        raise InvalidRendition(f"A {kind} rendition is written {form}.")
    if suffix is not None and suffix != AUTO and suffix not in SUFFIXES:
        raise InvalidRendition(
            f"Unknown rendition format {suffix!r}; use jpg, png, webp, avif or auto."
        )
    sizes = [int(first)] + ([int(second)] if second else [])
    if min(sizes) < 1 or max(sizes) > max_size:
        raise InvalidRendition(f"Rendition sizes are 1 to {max_size} pixels.")
    width, height = {
        "width": (sizes[0], None),
        "height": (None, sizes[0]),
    }.get(kind, (sizes[0], sizes[-1]))
    return Spec(
        kind=kind,
        width=width,
        height=height,
        format=SUFFIXES.get(suffix or ""),
        auto=suffix == AUTO,
    )


def output_format(spec: Spec, *, source_format: str, accept: str = "") -> str:
    """The format a rendition is made in: see ``requested_format``; else the source's (see
    ``default_format``)."""
    return requested_format(spec, accept=accept) or default_format(source_format)


def default_format(source_format: str) -> str:
    """The format of a rendition that names none: the source's, or what browsers show in
    its place (``SOURCE_RENDITION_FORMATS``)."""
    return SOURCE_RENDITION_FORMATS.get(source_format, source_format)


def requested_format(spec: Spec, *, accept: str = "") -> str | None:
    """The spec's format; for ``.auto`` AVIF or WebP when the client's Accept header names
    them (AVIF first, unless WebP is weighted higher); None: the source's."""
    if spec.format or not spec.auto:
        return spec.format
    weights = _accepted(accept)
    avif, webp = weights.get("image/avif", 0.0), weights.get("image/webp", 0.0)
    if avif > 0 and avif >= webp:
        return "AVIF"
    if webp > 0:
        return "WEBP"
    return None


def layout(spec: Spec, source: tuple[int, int]) -> Layout:
    """The box of the upright source a rendition shows and the rendition's size; never
    larger than the source. ``fill`` covers W x H and crops the centre; on a source smaller
    than W x H it is the largest centred box of the W:H ratio, unscaled."""
    width, height = source
    whole = (0.0, 0.0, float(width), float(height))
    if spec.kind != "fill":
        return Layout(whole, _fit(source, spec.width, spec.height))
    want_w, want_h = spec.width, spec.height
    assert want_w is not None
    assert want_h is not None
    if width >= want_w and height >= want_h:
        scale = max(want_w / width, want_h / height)
        box_w, box_h = min(width, want_w / scale), min(height, want_h / scale)
        left, top = (width - box_w) / 2, (height - box_h) / 2
        return Layout((left, top, left + box_w, top + box_h), (want_w, want_h))
    if width * want_h >= height * want_w:  # the source is wider than W:H
        box_w, box_h = max(1, min(width, round(height * want_w / want_h))), height
    else:
        box_w, box_h = width, max(1, min(height, round(width * want_h / want_w)))
    left, top = (width - box_w) // 2, (height - box_h) // 2
    return Layout((left, top, left + box_w, top + box_h), (box_w, box_h))


def render(fp: BinaryIO, *, spec: Spec, format: str, max_pixels: int) -> Rendered:
    """Make the rendition of the image in ``fp`` in ``format`` (see ``output_format``)."""
    decode = _ShrinkOnLoad(spec)
    with imaging.open_image(fp, max_pixels=max_pixels, draft_size=decode) as image:
        try:
            picture = _resized(image, spec=spec, source=decode.size)
            picture = _for_format(_to_srgb(picture, image.info.get("icc_profile")), format)
            picture.info.clear()  # nothing of the source's metadata goes out
            out = io.BytesIO()
            picture.save(out, format, **ENCODER_OPTIONS[format])
        except Exception as exc:
            raise InvalidImage(f"The rendition could not be made ({exc}).") from exc
    return Rendered(out.getvalue(), format, picture.width, picture.height)


class _ShrinkOnLoad:
    """Told the opened (undecoded) image, says how small a JPEG may decode; remembers the
    image's full size, which the decoded one no longer shows."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.size = (0, 0)

    def __call__(self, image: Image.Image) -> tuple[int, int] | None:
        self.size = image.size
        if image.format != "JPEG":
            return None
        turned = _orientation(image) in (5, 6, 7, 8)
        upright = self.size[::-1] if turned else self.size
        need = least_decode_size(layout(self.spec, upright), upright)
        return need[::-1] if turned and need else need


def least_decode_size(plan: Layout, source: tuple[int, int]) -> tuple[int, int] | None:
    """The least size the whole source may be decoded at for ``plan`` to lose nothing:
    the source at the rendition's scale (None: at its full size)."""
    if not plan.scaled:
        return None
    box_w, box_h = plan.box[2] - plan.box[0], plan.box[3] - plan.box[1]
    return (
        math.ceil(source[0] * plan.size[0] / box_w),
        math.ceil(source[1] * plan.size[1] / box_h),
    )


def _resized(image: Image.Image, *, spec: Spec, source: tuple[int, int]) -> Image.Image:
    """The image upright, in a mode that resizes right, cut and scaled to the spec."""
    orientation = _orientation(image)
    upright = source[::-1] if orientation in (5, 6, 7, 8) else source
    plan = layout(spec, upright)
    picture = _workable(image)
    if orientation in _UPRIGHT:
        picture = picture.transpose(_UPRIGHT[orientation])
    # Shrink-on-load decoded the source at 1/2, 1/4 or 1/8 (rounded up): the box, in
    # source pixels, in the decoded image's.
    scale_x, scale_y = picture.width / upright[0], picture.height / upright[1]
    left, top, right, bottom = plan.box
    box = (
        left * scale_x,
        top * scale_y,
        min(picture.width, right * scale_x),
        min(picture.height, bottom * scale_y),
    )
    if not plan.scaled and picture.size == upright:
        return picture.crop(tuple(round(edge) for edge in box))
    return picture.resize(plan.size, Image.Resampling.LANCZOS, box=box, reducing_gap=REDUCING_GAP)


def _workable(image: Image.Image) -> Image.Image:
    """The image in L, LA, RGB, RGBA or CMYK: modes that resize (alpha premultiplied by
    Pillow) and convert to every output format."""
    mode = image.mode
    transparent = "transparency" in image.info
    if mode in hashing.DEEP_MODES:
        # open_image maps 16 bits to 8 by the hash's rule; Pillow's convert("L") would clip
        # every value over 255 (all but black turns white).
        return hashing.eight_bit(image)
    if mode in ("P", "PA"):
        return image.convert("RGBA" if transparent or mode == "PA" else "RGB")
    if mode == "1":
        return image.convert("L")
    if transparent and mode in ("L", "RGB"):
        return image.convert({"L": "LA", "RGB": "RGBA"}[mode])
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return image
    return image.convert("RGBA" if "A" in mode else "RGB")


def _to_srgb(picture: Image.Image, icc: bytes | None) -> Image.Image:
    """Colour converted from the embedded profile to sRGB (after the resize: far fewer
    pixels). A profile that cannot be read or does not fit the mode is ignored, as viewers
    ignore it; grey images keep their values (a grey profile is close to sRGB's curve)."""
    out_mode = {"RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB"}.get(picture.mode)
    if not icc or out_mode is None:
        return picture
    try:
        transform = _transform(icc, picture.mode, out_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return picture
    return ImageCms.applyTransform(picture, transform)


@functools.lru_cache(maxsize=16)
def _transform(icc: bytes, in_mode: str, out_mode: str) -> ImageCms.ImageCmsTransform:
    # NOCACHE: without it, littleCMS keeps the last pixel in the transform, and one transform
    # is used by several request threads at once.
    return ImageCms.buildTransform(
        ImageCms.ImageCmsProfile(io.BytesIO(icc)),
        _SRGB,
        in_mode,
        out_mode,
        flags=ImageCms.Flags.NOCACHE,
    )


_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _for_format(picture: Image.Image, format: str) -> Image.Image:
    """The picture in a mode ``format`` holds: alpha flattened on white for JPEG, grey as
    RGB for WebP and AVIF, CMYK as RGB everywhere (browsers show CMYK wrongly or not)."""
    mode = picture.mode
    if mode == "CMYK":
        return picture.convert("RGB")
    if mode in ("LA", "RGBA"):
        alpha = picture.getchannel("A")
        if alpha.getextrema()[0] == 255:  # opaque throughout: the alpha adds only bytes
            picture, mode = picture.convert(mode[:-1]), mode[:-1]
        elif format == "JPEG":
            flat = Image.new(mode[:-1], picture.size, 255 if mode == "LA" else WHITE)
            flat.paste(picture.convert(mode[:-1]), mask=alpha)
            return flat
    if format in ("WEBP", "AVIF") and mode in ("L", "LA"):
        return picture.convert("RGBA" if mode == "LA" else "RGB")
    return picture


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # a malformed EXIF block: viewers show the image as stored
        return 1


def _accepted(accept: str) -> dict[str, float]:
    """Media ranges of an Accept header with their weights (q); a malformed q counts 0."""
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *parameters = part.split(";")
        weight = 1.0
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        media = media.strip().lower()
        weights[media] = max(weights.get(media, 0.0), weight if weight == weight else 0.0)
    return weights


def _fit(source: tuple[int, int], width: int | None, height: int | None) -> tuple[int, int]:
    """The source's size scaled down, aspect kept, to fit within width x height (either
    may be unbounded); the source's own size if it already fits."""
    src_w, src_h = source
    scale_w = width / src_w if width else math.inf
    scale_h = height / src_h if height else math.inf
    if min(scale_w, scale_h) >= 1:
        return source
    if scale_w <= scale_h:
        assert width is not None
        return width, max(1, min(src_h, round(src_h * width / src_w)))
    assert height is not None
    return max(1, min(src_w, round(src_w * height / src_h))), height
