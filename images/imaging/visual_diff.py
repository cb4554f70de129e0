"""A picture of where two images differ, for people to look at (not for hashing).

Three panels side by side at one common scale: image A, image B, and a heatmap of their
differences drawn over the larger of the two. The smaller image is first placed where it
fits the larger one best: as a crop of it at the same scale (found by normalised
cross-correlation), or stretched over all of it (a resized copy of the same aspect ratio),
whichever differs less.

A placement is believed only when the smaller image matches what lies under it (correlation
of at least ``MIN_SCORE``) and has the texture to be matched on at all (``MIN_TEXTURE``): a
featureless patch, such as a crop of a plate's flat corner, correlates with noise wherever
it is put. Without a placement it can believe, the picture says so in its caption, shows A
and B as they are and draws no heatmap: a heatmap of a wrong placement paints differences
that are not there.

Bounded: the whole picture is at most ``MAX_WIDTH`` x ``MAX_HEIGHT``; JPEGs are decoded in
draft mode straight to about that size (fine for eyes; never for the stored hash), and every
computation runs on the picture-sized pixels. No ORM, no HTTP: callers pass open files.
"""

import io
import math
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps, PngImagePlugin

from images.imaging.decode import open_image

MAX_WIDTH = 1500
MAX_HEIGHT = 900
GAP = 12
HEADER = 52
NOTE_LINE = 20  # a second caption line, below the first, when no placement is believed
FONT_SIZE = 14
# Normalised cross-correlation runs from -1 to 1 (1: the same picture up to brightness and
# contrast); a crop scores above 0.95 through JPEG noise. Of 40 crops of a photo-like plate
# with a change over 8-13% of each, all 23 that scored 0.6 or more were found where they were
# cut, and 7 of the 17 below were placed wrong: below this no placement is believed.
MIN_SCORE = 0.6
# Texture: the grey levels' standard deviation (of 255) at the scale of a few pixels, once
# sensor noise (a slight blur) and lighting (a wide blur, subtracted) are taken out; a lit
# corner's smooth vignetting matches anywhere along it, so it must not count. Flat corners
# of the shared sample photos and of the tests' plates measure 0.7-2.1; crops holding a
# well, a colony or the dish's rim 4.5 and more.
MIN_TEXTURE = 3.0
# A resized copy keeps its aspect ratio; stretching to another one is never a placement.
ASPECT_TOLERANCE = 0.02
NOISE = 14  # a channel difference up to this (of 255) is compression noise: no heat
FULL_HEAT = 110  # from this difference on, full heat
BACKGROUND = (24, 26, 30)
TEXT = (235, 235, 235)
OUTLINE = (0, 200, 255)


@dataclass(frozen=True)
class Placement:
    """Where the smaller image lies on the larger one, in picture pixels."""

    box: tuple[int, int, int, int]  # left, top, right, bottom
    how: str  # "same size", "crop" or "resized"


@dataclass(frozen=True)
class Confidence:
    """How far the best placement tried can be believed (``MIN_SCORE``, ``MIN_TEXTURE``)."""

    score: float | None  # its correlation; None: neither a crop nor a resized copy could be
    texture: float  # of the smaller image

    @property
    def enough(self) -> bool:
        return self.score is not None and self.score >= MIN_SCORE and self.texture >= MIN_TEXTURE


def render(
    fp_a: BinaryIO,
    fp_b: BinaryIO,
    *,
    size_a: tuple[int, int],
    size_b: tuple[int, int],
    max_pixels: int,
    labels: tuple[str, str] = ("", ""),
    caption: str = "",
) -> bytes:
    """The PNG of A, B and the heatmap, titled "A: label", "B: label" and ``caption`` on
    top (and in its ``Description`` text chunk, with the note of a missing placement).
    ``size_a``/``size_b`` are the images' full sizes (as stored), which fix the common scale
    before anything is decoded."""
    font = ImageFont.load_default(FONT_SIZE)  # one per picture: renders run in threads
    titles = [f"A: {labels[0]}", f"B: {labels[1]}", "Where they differ"]
    title_widths = [font.getlength(title) for title in titles]
    scale = picture_scale(size_a, size_b, title_widths=title_widths)
    a = _decoded(fp_a, size_a, scale, max_pixels)
    b = _decoded(fp_b, size_b, scale, max_pixels)
    found = difference(a, b)
    heat = heatmap(a if found.a_is_base else b, found) if found.placement else None
    return _compose(a, b, heat, found, labels, caption, font)


def picture_scale(
    size_a: tuple[int, int],
    size_b: tuple[int, int],
    *,
    title_widths: tuple[float, ...] | list[float] = (),
) -> float:
    """One scale for both images, so that the three panels fit the picture (never > 1).

    A panel's column is as wide as its title when the title is the wider: the scale is the
    largest at which the columns still fit, so that no title is cut while there is room (a
    small crop beside a large photo has a panel much narrower than its title)."""
    base = max(size_a, size_b, key=lambda size: size[0] * size[1])
    widths = [size_a[0], size_b[0], base[0]]
    height = max(size_a[1], size_b[1])
    room = MAX_WIDTH - 4 * GAP
    scale = min(1.0, room / sum(widths), (MAX_HEIGHT - HEADER - NOTE_LINE - 2 * GAP) / height)
    titles = [*title_widths, 0, 0, 0][:3]

    def columns(at: float) -> float:
        return sum(max(width * at, title) for width, title in zip(widths, titles, strict=True))

    if columns(scale) <= room or columns(0) >= room:
        return scale  # the titles fit as it is, or cannot fit at any scale
    low, high = 0.0, scale  # columns() grows with the scale: the largest that fits
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if columns(middle) <= room else (low, middle)
    return low


@dataclass(frozen=True)
class Difference:
    a_is_base: bool  # the larger image, the heatmap's ground, is A (else B)
    # Where the smaller image lies on the larger one; None if no placement can be believed.
    placement: Placement | None
    # Per pixel of placement.box: 0 (same) to 1 (fully different); None without a placement.
    level: np.ndarray | None
    confidence: Confidence | None = None  # of the placement tried (None: same size)


def difference(a: Image.Image, b: Image.Image) -> Difference:
    """How two RGB images at the same scale differ, pixel by pixel, once placed."""
    a_is_base = a.width * a.height >= b.width * b.height
    base, other = (a, b) if a_is_base else (b, a)
    placement, placed, confidence = _place(np.asarray(base, dtype=np.float32), other)
    if placement is None:
        return Difference(a_is_base, None, None, confidence)
    # Both softened a little first: a sharp edge resampled at a sub-pixel offset is no change.
    soft_base = _soft(base.crop(placement.box))
    soft_other = _soft(Image.fromarray(placed.astype(np.uint8), "RGB"))
    diff = np.abs(soft_base - soft_other).max(axis=2)
    heat = Image.fromarray(diff.clip(0, 255).astype(np.uint8), "L")
    heat = heat.filter(ImageFilter.GaussianBlur(max(1.0, min(heat.size) / 200)))
    level = np.clip((np.asarray(heat, np.float32) - NOISE) / (FULL_HEAT - NOISE), 0, 1)
    return Difference(a_is_base, placement, level, confidence)


def heatmap(base: Image.Image, difference: Difference) -> Image.Image:
    """The larger image in grey, darker where the smaller one does not reach, with the
    differences in yellow (slight) to red (strong) over it."""
    left, top, right, bottom = difference.placement.box
    grey = np.asarray(ImageOps.grayscale(base), np.float32)
    picture = np.repeat((grey * 0.35)[:, :, None], 3, axis=2)
    inside = picture[top:bottom, left:right]
    inside[:] = (grey[top:bottom, left:right] * 0.6 + 40)[:, :, None]
    alpha = np.clip(difference.level * 1.6, 0, 0.9)[:, :, None]
    inside[:] = inside * (1 - alpha) + _hot(difference.level) * alpha
    return Image.fromarray(picture.clip(0, 255).astype(np.uint8), "RGB")


def _place(
    base: np.ndarray, other: Image.Image
) -> tuple[Placement | None, np.ndarray | None, Confidence | None]:
    """The believable placement of ``other`` on ``base`` that differs least, other's pixels
    there and how believable it is; no placement if none is (``Confidence.enough``)."""
    height, width = base.shape[:2]
    full = (0, 0, width, height)
    if other.size == (width, height):
        return Placement(full, "same size"), np.asarray(other, np.float32), None
    texture = _texture(other)
    grey = base.mean(axis=2)
    tried: list[tuple[float, Placement, np.ndarray, float]] = []  # error, where, pixels, score
    if abs(other.width * height / (other.height * width) - 1) <= ASPECT_TOLERANCE:
        stretched = np.asarray(other.resize((width, height), Image.Resampling.BILINEAR), np.float32)
        score = _correlation(grey, stretched.mean(axis=2))
        tried.append((_error(base, stretched), Placement(full, "resized"), stretched, score))
    if other.width <= width and other.height <= height and min(other.size) >= 8:
        pixels = np.asarray(other, np.float32)
        left, top, score = _locate(grey, pixels.mean(axis=2))
        box = left, top, left + other.width, top + other.height
        error = _error(base[top : box[3], left : box[2]], pixels)
        tried.append((error, Placement(box, "crop"), pixels, score))
    believed = [t for t in tried if Confidence(t[3], texture).enough]
    if believed:
        _, placement, pixels, score = min(believed, key=lambda t: t[0])
        return placement, pixels, Confidence(score, texture)
    best_score = max((t[3] for t in tried), default=None)
    return None, None, Confidence(best_score, texture)


def _locate(big: np.ndarray, small: np.ndarray) -> tuple[int, int, float]:
    """Top-left offset of ``small`` in ``big`` by normalised cross-correlation (FFT), and
    the correlation there (-1 to 1)."""
    # In float64, about big's mean: in float32 the window sums of squares of a 651 x 651
    # picture lose the digits their differences need, and windows came out flat that were not.
    big = big.astype(np.float64) - float(big.mean())
    small = small.astype(np.float64)
    h, w = small.shape
    template = small - small.mean()
    spectrum = np.fft.rfft2(big) * np.fft.rfft2(template[::-1, ::-1], s=big.shape)
    correlation = np.fft.irfft2(spectrum, s=big.shape)[h - 1 :, w - 1 :]
    # Sums of big (and of its squares) over every h x w window, from integral images.
    sums = _window_sums(big, h, w)
    squares = _window_sums(big * big, h, w)
    spread = np.sqrt(np.maximum(squares - sums * sums / (h * w), 0))
    score = correlation / (spread * np.sqrt((template * template).sum()) + 1e-6)
    # A window far flatter than the template (a dish's black inside) cannot be where it was
    # cut, and there the division by a spread near zero makes a score of rounding noise.
    flat = spread < max(1.0, 0.25 * float(small.std())) * np.sqrt(h * w)
    score = np.where(flat, -1.0, np.clip(score, -1.0, 1.0))
    top, left = np.unravel_index(np.argmax(score), score.shape)
    return int(left), int(top), float(score[top, left])


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two arrays of one shape (-1 to 1)."""
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-6))


def _window_sums(values: np.ndarray, h: int, w: int) -> np.ndarray:
    integral = np.zeros((values.shape[0] + 1, values.shape[1] + 1))
    integral[1:, 1:] = values.cumsum(axis=0).cumsum(axis=1)
    return integral[h:, w:] - integral[:-h, w:] - integral[h:, :-w] + integral[:-h, :-w]


def _soft(image: Image.Image) -> np.ndarray:
    return np.asarray(image.filter(ImageFilter.GaussianBlur(1.2)), np.float32)


def _texture(image: Image.Image) -> float:
    """See MIN_TEXTURE: detail at the scale of a few pixels, noise and lighting removed."""
    grey = ImageOps.grayscale(image)
    lighting = grey.filter(ImageFilter.GaussianBlur(max(3.0, min(grey.size) / 16)))
    return float((_soft(grey) - np.asarray(lighting, np.float32)).std())


def _error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def _hot(level: np.ndarray) -> np.ndarray:
    """Yellow for small differences through orange to red for large ones."""
    red = np.full_like(level, 255.0)
    green = 230 * (1 - level)
    return np.stack([red, green, np.zeros_like(level)], axis=2)


def _decoded(fp: BinaryIO, size: tuple[int, int], scale: float, max_pixels: int) -> Image.Image:
    target = max(1, round(size[0] * scale)), max(1, round(size[1] * scale))
    with open_image(fp, max_pixels=max_pixels, draft_size=target) as image:
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(flat, rgba)
        rgb = image.convert("RGB")
    return rgb.resize(target, Image.Resampling.LANCZOS, reducing_gap=2.0)


def _compose(
    a: Image.Image,
    b: Image.Image,
    heat: Image.Image | None,
    found: Difference,
    labels: tuple[str, str],
    caption: str,
    font: ImageFont.FreeTypeFont,
) -> bytes:
    base = a if found.a_is_base else b
    base_name, other_name = ("A", "B") if found.a_is_base else ("B", "A")
    placement = found.placement
    panels = [a, b] if heat is None else [a, b, heat]
    titles = [f"A: {labels[0]}", f"B: {labels[1]}"]
    if heat is not None:
        how = {
            "crop": f": {other_name} found in {base_name}",
            "resized": f": {other_name} stretched over {base_name}",
        }.get(placement.how, "")
        titles.append(f"Where they differ{how}")
    notes = [caption] if caption else []
    if placement is None:
        notes.append(_unplaced_note(found.confidence, other_name, base_name))
    columns = _columns(panels, titles, notes, font)
    width = sum(columns) + GAP * (len(panels) + 1)
    header = HEADER + (NOTE_LINE if len(notes) > 1 else 0)
    height = header + max(panel.height for panel in panels) + GAP
    picture = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(picture)
    x = GAP
    for panel, title, column in zip(panels, titles, columns, strict=True):
        picture.paste(panel, (x, header))
        draw.text((x, header - FONT_SIZE - 6), _fit(draw, title, font, column), TEXT, font)
        if placement is not None and placement.how == "crop" and panel in (base, heat):
            left, top, right, bottom = placement.box
            box = [x + left, header + top, x + right - 1, header + bottom - 1]
            draw.rectangle(box, outline=OUTLINE, width=2)
        x += column + GAP
    for line, note in enumerate(notes):
        draw.text((GAP, 8 + line * NOTE_LINE), _fit(draw, note, font, width - 2 * GAP), TEXT, font)
    # What the caption says, also as text: for screen readers, scripts and tests.
    text = PngImagePlugin.PngInfo()
    text.add_text("Description", "\n".join(notes))
    out = io.BytesIO()
    picture.save(out, "PNG", compress_level=3, pnginfo=text)
    return out.getvalue()


def _unplaced_note(confidence: Confidence, other: str, base: str) -> str:
    why = []
    if confidence.score is None:
        why.append(f"neither inside {base} nor of its aspect ratio")
    elif confidence.score < MIN_SCORE:
        why.append(f"best match {confidence.score:.2f}, needs {MIN_SCORE:.2f}")
    if confidence.texture < MIN_TEXTURE:
        why.append(f"texture {confidence.texture:.1f}, needs {MIN_TEXTURE:.1f}")
    return (
        f"{other} could not be placed on {base} with confidence ({'; '.join(why)}): "
        "both shown as they are, no heatmap"
    )


def _columns(panels: list[Image.Image], titles: list[str], notes: list[str], font) -> list[int]:
    """Each panel's column: as wide as the panel, wider where its title needs it while the
    picture stays within MAX_WIDTH; the last one wider still where a caption line needs it."""
    columns = [panel.width for panel in panels]
    room = MAX_WIDTH - sum(columns) - GAP * (len(panels) + 1)
    for i, title in enumerate(titles):
        extra = min(max(0, math.ceil(font.getlength(title)) - columns[i]), max(0, room))
        columns[i] += extra
        room -= extra
    widest_note = max((math.ceil(font.getlength(note)) for note in notes), default=0)
    short = widest_note - (sum(columns) + GAP * (len(panels) - 1))
    columns[-1] += min(max(0, short), max(0, room))
    return columns


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """The text, cut with an ellipsis to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
