"""The perceptual hash, and the rule that maps 16-bit images to the 8 bits it is taken of.

``imagehash.phash`` converts to Pillow's 8-bit "L", which clips every 16-bit value over
255: a 16-bit plate image becomes almost all white and its hash says nothing. So every
image whose samples are 16 bits (greyscale TIFF or PNG, RGB TIFF) is first mapped to 8 bits
by one rule, the same for the hash, renditions, thumbnails and the diff picture:

    lo = the sample value at the 0.1th percentile, hi = the one at the 99.9th (of all
    samples, all channels together, counted exactly with a histogram: the smallest value v
    with at least ceil(N * 0.001), resp. ceil(N * 0.999), of the N samples <= v);
    out = clamp(floor(((v - lo) * 255 + floor((hi - lo) / 2)) / (hi - lo)), 0, 255)
    and when hi == lo (a flat image): out = v >> 8, the top 8 bits.

Why a stretch and not the top 8 bits: instruments use a small part of the 16-bit range (a
12-bit camera's values end at 4095, and a short exposure far below), so the top 8 bits are
a nearly black picture whose hash is as empty as the clipped one. A linear stretch makes
two exposures of one plate (values scaled by the exposure time) the same picture, which is
what a perceptual hash should see; the 0.1% tails keep a few hot pixels or dust from
setting the range. Integer arithmetic over the decoded samples: any decoder that reads the
same samples gives the same 8 bits and so the same hash.
"""

import imagehash
import numpy as np
from PIL import Image

from images.errors import InvalidImage

DEEP_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
LOW, HIGH = 1, 999  # per mille: the 0.1th and 99.9th percentiles
_BLOCK = 1 << 20  # samples per histogram step: a few MiB over the image itself


def stretch_range(samples: np.ndarray) -> tuple[int, int]:
    """(lo, hi): the 0.1th and 99.9th percentile sample values, exactly."""
    flat = samples.reshape(-1)
    counts = np.zeros(65536, dtype=np.int64)
    for start in range(0, flat.size, _BLOCK):
        counts += np.bincount(flat[start : start + _BLOCK], minlength=65536)
    total = int(flat.size)
    cumulative = np.cumsum(counts)
    rank_low = max(1, -(-total * LOW // 1000))
    rank_high = max(1, -(-total * HIGH // 1000))
    return int(np.searchsorted(cumulative, rank_low)), int(np.searchsorted(cumulative, rank_high))


def to_8bit(samples: np.ndarray) -> np.ndarray:
    """16-bit samples (any shape, uint16) mapped to uint8 by the stretch rule above."""
    samples = np.ascontiguousarray(samples, dtype=np.uint16)
    lo, hi = stretch_range(samples)
    # The rule for each of the 65536 values once, then one table lookup per sample: a
    # tenth of the time of the arithmetic per sample, and no 8-byte temporaries.
    values = np.arange(65536, dtype=np.int64)
    span = hi - lo
    if span == 0:
        return (values >> 8).astype(np.uint8)[samples]
    return np.clip(((values - lo) * 255 + span // 2) // span, 0, 255).astype(np.uint8)[samples]


def eight_bit(image: Image.Image) -> Image.Image:
    """A 16-bit greyscale image as 8-bit "L" by the rule; any other image as it is."""
    if image.mode not in DEEP_MODES:
        return image
    values = np.asarray(image)
    if image.mode == "I":  # 16-bit PNGs in some Pillow versions; values are 0..65535
        values = np.clip(values, 0, 65535)
    return Image.fromarray(to_8bit(values.astype(np.uint16)), "L")


def phash(image: Image.Image) -> str:
    """16 lowercase hex digits: ``str(imagehash.phash(...))`` of the image in 8 bits."""
    try:
        return str(imagehash.phash(eight_bit(image)))
    except Exception as exc:  # an odd mode the hash cannot take: the image's fault
        raise InvalidImage(f"The image could not be hashed ({exc}).") from exc


def phash_to_int(phash: str) -> int:
    """The phash as a signed 64-bit integer, the form databases index and compare."""
    value = int(phash, 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def int_to_phash(value: int) -> str:
    return f"{value & 0xFFFFFFFFFFFFFFFF:016x}"


def hamming(a: int, b: int) -> int:
    """Bits that differ between two 64-bit hashes (signed or unsigned ints)."""
    return ((a ^ b) & 0xFFFFFFFFFFFFFFFF).bit_count()
