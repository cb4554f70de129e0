"""The 16-bit rule (images/imaging/hashing.py): by hand, decoder-independent, and what it
is for (exposures of one plate hash near)."""

import io

import imagehash
import numpy as np
from PIL import Image

from images.imaging import decode as imaging
from images.imaging import hashing
from tests.instrument_files import (
    LIMIT,
    plate16,
    reference_8bit,
    tif,
)


def test_the_16_bit_rule_matches_a_hand_computation():
    # 4000 samples: three dark outliers (0), three hot ones (65535), and 1000..4993.
    values = np.array([0] * 3 + [65535] * 3 + list(range(1000, 4994)), dtype=np.uint16)
    samples = values.reshape(40, 100)

    # ranks ceil(4000 * 0.001) = 4 and ceil(4000 * 0.999) = 3996 of the sorted samples
    assert hashing.stretch_range(samples) == (1000, 4992)
    out = hashing.to_8bit(samples).reshape(-1)
    # (v - 1000) * 255 + 1996, floor-divided by 3992, clamped to 0..255
    assert out[0] == 0
    assert out[3] == 255
    assert out[6] == 0  # 1000 -> 1996 // 3992
    assert out[6 + 1996] == 128  # 2996 -> (1996 * 255 + 1996) // 3992 = 128 exactly
    assert out[6 + 3992] == 255  # 4992
    assert out[6 + 100] == (100 * 255 + 1996) // 3992  # 1100 -> 6
    assert np.array_equal(hashing.to_8bit(samples), reference_8bit(samples))


def test_a_flat_16_bit_image_keeps_its_top_8_bits():
    assert hashing.to_8bit(np.full((4, 4), 0x8123, np.uint16)).max() == 0x81


def test_16_bit_phash_is_the_same_whatever_reads_the_file_and_not_the_clipped_one():
    samples = plate16()
    pillow_read = imaging.analyze(io.BytesIO(tif(samples)), max_pixels=LIMIT).phash
    clipped = str(imagehash.phash(Image.open(io.BytesIO(tif(samples)))))  # Pillow's "L"

    assert pillow_read == str(imagehash.phash(Image.fromarray(reference_8bit(samples))))
    assert pillow_read != clipped


def test_two_exposures_of_one_plate_hash_near():
    short = imaging.analyze(io.BytesIO(tif(plate16(gain=6, offset=100))), max_pixels=LIMIT)
    long = imaging.analyze(io.BytesIO(tif(plate16(gain=40, offset=900))), max_pixels=LIMIT)

    assert hashing.hamming(int(short.phash, 16), int(long.phash, 16)) <= 2
