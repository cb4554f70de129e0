"""A picture of where two images differ, for people to look at (not for hashing).

Three panels side by side at one common scale: image A, image B, and a heatmap of their
differences drawn over the larger of the two. The smaller image is first placed where it
fits the larger one best: as a crop of it at the same scale (found by normalised
cross-correlation), or stretched over all of it (a resized copy), whichever differs less.

Bounded: the whole picture is at most ``MAX_WIDTH`` x ``MAX_HEIGHT``; JPEGs are decoded in
draft mode straight to about that size (fine for eyes; never for the stored hash), and every
computation runs on the picture-sized pixels. No ORM, no HTTP: callers pass open files.
"""

import io
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from .imaging import open_image

MAX_WIDTH = 1500
MAX_HEIGHT = 900
GAP = 12
HEADER = 52
FONT_SIZE = 14
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
    top. ``size_a``/``size_b`` are the images' full sizes (as stored), which fix the common
    scale before anything is decoded."""
    scale = picture_scale(size_a, size_b)
    a = _decoded(fp_a, size_a, scale, max_pixels)
    b = _decoded(fp_b, size_b, scale, max_pixels)
    found = difference(a, b)
    heat = heatmap(a if found.a_is_base else b, found)
    return _compose(a, b, heat, found.placement, found.a_is_base, labels, caption)


def picture_scale(size_a: tuple[int, int], size_b: tuple[int, int]) -> float:
    """One scale for both images, so that the three panels fit the picture (never > 1)."""
    base = max(size_a, size_b, key=lambda size: size[0] * size[1])
    width = size_a[0] + size_b[0] + base[0]
    height = max(size_a[1], size_b[1])
    return min(1.0, (MAX_WIDTH - 4 * GAP) / width, (MAX_HEIGHT - HEADER - 2 * GAP) / height)


@dataclass(frozen=True)
class Difference:
    a_is_base: bool  # the larger image, the heatmap's ground, is A (else B)
    placement: Placement  # where the smaller image lies on the larger one
    level: np.ndarray  # per pixel of placement.box: 0 (same) to 1 (fully different)


def difference(a: Image.Image, b: Image.Image) -> Difference:
    """How two RGB images at the same scale differ, pixel by pixel, once placed."""
    a_is_base = a.width * a.height >= b.width * b.height
    base, other = (a, b) if a_is_base else (b, a)
    placement, placed = _place(np.asarray(base, dtype=np.float32), other)
    # Both softened a little first: a sharp edge resampled at a sub-pixel offset is no change.
    soft_base = _soft(base.crop(placement.box))
    soft_other = _soft(Image.fromarray(placed.astype(np.uint8), "RGB"))
    diff = np.abs(soft_base - soft_other).max(axis=2)
    heat = Image.fromarray(diff.clip(0, 255).astype(np.uint8), "L")
    heat = heat.filter(ImageFilter.GaussianBlur(max(1.0, min(heat.size) / 200)))
    level = np.clip((np.asarray(heat, np.float32) - NOISE) / (FULL_HEAT - NOISE), 0, 1)
    return Difference(a_is_base, placement, level)


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


def _place(base: np.ndarray, other: Image.Image) -> tuple[Placement, np.ndarray]:
    """The placement of ``other`` on ``base`` that differs least, and other's pixels there."""
    height, width = base.shape[:2]
    stretched = np.asarray(other.resize((width, height), Image.Resampling.BILINEAR), np.float32)
    if other.size == (width, height):
        return Placement((0, 0, width, height), "same size"), stretched
    best = Placement((0, 0, width, height), "resized"), stretched
    best_error = _error(base, stretched)
    if other.width <= width and other.height <= height and min(other.size) >= 8:
        pixels = np.asarray(other, np.float32)
        left, top = _locate(base.mean(axis=2), pixels.mean(axis=2))
        box = left, top, left + other.width, top + other.height
        error = _error(base[top : box[3], left : box[2]], pixels)
        if error < best_error:
            best = Placement(box, "crop"), pixels
    return best


def _locate(big: np.ndarray, small: np.ndarray) -> tuple[int, int]:
    """Top-left offset of ``small`` in ``big`` by normalised cross-correlation (FFT)."""
    h, w = small.shape
    template = small - small.mean()
    spectrum = np.fft.rfft2(big) * np.fft.rfft2(template[::-1, ::-1], s=big.shape)
    correlation = np.fft.irfft2(spectrum, s=big.shape)[h - 1 :, w - 1 :]
    # Sums of big (and of its squares) over every h x w window, from integral images.
    sums = _window_sums(big, h, w)
    squares = _window_sums(big * big, h, w)
    spread = np.sqrt(np.maximum(squares - sums * sums / (h * w), 1e-6))
    score = correlation / (spread * (np.sqrt((template * template).sum()) + 1e-6))
    top, left = np.unravel_index(np.argmax(score), score.shape)
    return int(left), int(top)


def _window_sums(values: np.ndarray, h: int, w: int) -> np.ndarray:
    integral = np.zeros((values.shape[0] + 1, values.shape[1] + 1))
    integral[1:, 1:] = values.cumsum(axis=0).cumsum(axis=1)
    return integral[h:, w:] - integral[:-h, w:] - integral[h:, :-w] + integral[:-h, :-w]


def _soft(image: Image.Image) -> np.ndarray:
    return np.asarray(image.filter(ImageFilter.GaussianBlur(1.2)), np.float32)


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
    heat: Image.Image,
    placement: Placement,
    a_is_base: bool,
    labels: tuple[str, str],
    caption: str,
) -> bytes:
    panels = [a, b, heat]
    width = sum(panel.width for panel in panels) + GAP * (len(panels) + 1)
    height = HEADER + max(panel.height for panel in panels) + GAP
    picture = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(FONT_SIZE)
    base = a if a_is_base else b
    base_name, other_name = ("A", "B") if a_is_base else ("B", "A")
    how = {
        "crop": f": {other_name} found in {base_name}",
        "resized": f": {other_name} stretched over {base_name}",
    }.get(placement.how, "")
    titles = [f"A: {labels[0]}", f"B: {labels[1]}", f"Where they differ{how}"]
    x = GAP
    for panel, title in zip(panels, titles, strict=True):
        picture.paste(panel, (x, HEADER))
        draw.text((x, HEADER - FONT_SIZE - 6), _fit(draw, title, font, panel.width), TEXT, font)
        if placement.how == "crop" and panel in (base, heat):
            left, top, right, bottom = placement.box
            box = [x + left, HEADER + top, x + right - 1, HEADER + bottom - 1]
            draw.rectangle(box, outline=OUTLINE, width=2)
        x += panel.width + GAP
    if caption:
        draw.text((GAP, 8), caption, TEXT, font)
    out = io.BytesIO()
    picture.save(out, "PNG", compress_level=3)
    return out.getvalue()


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """The text, cut with an ellipsis to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
