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
import multiprocessing
import time
import uuid
from pathlib import Path

import imagehash
from PIL import Image

from images.imaging import encoder_options


def upload_floor(source: Path, storage: Path) -> tuple[float, float]:
    """Seconds (wall, CPU) to ingest the photo in ``source`` into a new file in ``storage``."""
    start, cpu = time.perf_counter(), time.process_time()
    data = source.read_bytes()
    hashlib.sha256(data).hexdigest()
    with Image.open(io.BytesIO(data)) as image:
        str(imagehash.phash(image))
    target = storage / uuid.uuid4().hex
    target.write_bytes(data)
    elapsed = time.perf_counter() - start, time.process_time() - cpu
    target.unlink()
    return elapsed


def crop_floor(source: Path, box: tuple[int, int, int, int]) -> tuple[float, float]:
    """Seconds (wall, CPU) to crop the photo in ``source`` to ``box`` and hash the result."""
    start, cpu = time.perf_counter(), time.process_time()
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
    return time.perf_counter() - start, time.process_time() - cpu


def upload_floor_rate(sources: list[Path], storage: Path, processes: int) -> float:
    """Photos per second when ``processes`` processes run the upload floor over ``sources``
    side by side: what the machine's cores give right now, other load included."""
    context = multiprocessing.get_context("spawn")
    ready, start, done = context.Queue(), context.Event(), context.Queue()
    workers = [
        context.Process(target=_floor_loop, args=(sources, storage, ready, start, done))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        for _ in workers:
            ready.get(timeout=60)  # imported and warmed up
        began = time.perf_counter()
        start.set()
        for _ in workers:
            done.get(timeout=120)
        return processes * len(sources) / (time.perf_counter() - began)
    finally:
        for worker in workers:
            worker.join(timeout=10)


def _floor_loop(sources: list[Path], storage: Path, ready, start, done) -> None:
    upload_floor(sources[0], storage)
    ready.put(True)
    start.wait()
    for source in sources:
        upload_floor(source, storage)
    done.put(True)
