"""The cost floors, measured in this process on the same photos as the service.

upload floor: read the bytes from a file, sha256 them, ``imagehash.phash`` (one full
decode), write them to a new file: the least any service must do to ingest a photo.
crop floor: decode, crop, encode in the photo's format with the service's encoder options,
and phash the result as a client would compute it from the stored bytes: a JPEG's encoded
crop has other pixels than the crop in memory, so it is decoded again; a PNG is lossless,
so the crop in memory is what the file decodes to.
"""

import hashlib
import io
import time
import uuid
from pathlib import Path

import imagehash
from PIL import Image, JpegImagePlugin

from images.imaging import JPEG_QUALITY


def upload_floor(source: Path, storage: Path) -> float:
    """Seconds to ingest the photo in ``source`` into a new file under ``storage``."""
    start = time.perf_counter()
    data = source.read_bytes()
    hashlib.sha256(data).hexdigest()
    with Image.open(io.BytesIO(data)) as image:
        str(imagehash.phash(image))
    target = storage / uuid.uuid4().hex
    target.write_bytes(data)
    elapsed = time.perf_counter() - start
    target.unlink()
    return elapsed


def crop_floor(source: Path, box: tuple[int, int, int, int]) -> float:
    """Seconds to crop the photo in ``source`` to ``box`` and hash the result."""
    start = time.perf_counter()
    with Image.open(source) as image:
        image.load()
        fmt = image.format
        options = encoder_options(image)
        cropped = image.crop(box)
    out = io.BytesIO()
    cropped.save(out, fmt, **options)
    if fmt == "JPEG":
        out.seek(0)
        cropped = Image.open(out)
    str(imagehash.phash(cropped))
    return time.perf_counter() - start


def encoder_options(image: Image.Image) -> dict:
    """What the service passes to the encoder for a crop (same quality, same work)."""
    options = {
        key: image.info[key] for key in ("icc_profile", "exif", "dpi") if image.info.get(key)
    }
    if image.format == "JPEG":
        options["quality"] = JPEG_QUALITY
        sampling = JpegImagePlugin.get_sampling(image)
        if sampling != -1:
            options["subsampling"] = sampling
    return options
