"""Upload rows for what instruments and phones write besides JPEG and PNG: a 16-bit
greyscale TIFF (a 12-bit microscope camera's 2048x2048 frame, Deflate) and a HEIC (a
phone's 4032x3024 photo), each against its floor.

The floor is the least any correct ingest does: hash the bytes, decode them with the
library (Pillow; pillow-heif for HEIC), map 16 bits to 8 by the documented rule (the phash
needs it), phash, write the bytes once.
"""

import hashlib
import io
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

from bench import client
from bench.photos import photo_like
from images.imaging import decode, hashing  # decode registers the HEIF opener

API = "/api/v1/images"
TIFF_SIZE = (2048, 2048)
HEIC_SIZE = (4032, 3024)


@dataclass(frozen=True)
class Source:
    name: str
    data: bytes
    content_type: str


def sources() -> list[Source]:
    grey = np.asarray(photo_like(TIFF_SIZE, seed=11).convert("L"), dtype=np.uint16)
    tiff = io.BytesIO()
    Image.fromarray(grey * 16 + 40).save(tiff, "TIFF", compression="tiff_adobe_deflate")
    heic = io.BytesIO()
    # x265's fastest preset: its default takes over a minute on a noisy 12-megapixel frame;
    # the decoder's work, which the row measures, is alike.
    photo_like(HEIC_SIZE, seed=12).save(
        heic, "HEIF", quality=60, enc_params={"preset": "ultrafast"}
    )
    return [
        Source("16-bit grey TIFF 2048x2048", tiff.getvalue(), decode.CONTENT_TYPES["TIFF"]),
        Source("HEIC 4032x3024", heic.getvalue(), decode.CONTENT_TYPES["HEIF"]),
    ]


def upload_floor(data: bytes, storage: Path) -> tuple[float, float]:
    """Seconds (wall, CPU) of the least work of an ingest of ``data``."""
    start, cpu = time.perf_counter(), time.process_time()
    hashlib.sha256(data).hexdigest()
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        if image.mode.startswith("I;16"):
            image = Image.fromarray(hashing.to_8bit(np.asarray(image)))
        str(imagehash.phash(image))
    target = storage / uuid.uuid4().hex
    target.write_bytes(data)
    elapsed = time.perf_counter() - start, time.process_time() - cpu
    target.unlink()
    return elapsed


def upload_rows(bench, rounds: int, row_type) -> list:
    """One row per source: rounds of its floor then one upload from 1 client, then four
    uploads from 4 clients."""
    rows = []
    for source in sources():
        request = client.multipart_request(
            f"{API}/upload",
            filename=source.name,
            content_type=source.content_type,
            data=source.data,
            expect=201,
        )
        floor, one, four = client.Timing(), client.Timing(), client.Timing()
        for _ in range(rounds):
            floor.measured(*upload_floor(source.data, bench.data / "floor"))
            one.add(bench.http([replace(request)], 1))
            four.add(bench.http([replace(request) for _ in range(4)], 4))
        rows.append(row_type(f"upload {source.name}", "upload", floor, one, four))
    return rows
