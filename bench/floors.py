"""The cost floors, measured in this process on the same photos as the service.

upload floor: read the bytes from a file, sha256 them, ``imagehash.phash`` (one full
decode), write them to a new file: the least any service must do to ingest a photo.
crop floor: decode, crop, encode in the photo's format with the service's encoder options,
and phash the result as a client would compute it from the stored bytes: a JPEG's encoded
crop has other pixels than the crop in memory, so it is decoded again; a PNG is lossless,
so the crop in memory is what the file decodes to.
rendition floor: decode with shrink-on-load (a JPEG at the smallest DCT scale covering the
rendition), resize with the service's resampling, encode with its encoder options: the
least any service must do to make a rendition. Beside it, pyvips' ``thumbnail_buffer`` of
the same size and format: libvips, which imgproxy and sharp build on.
"""

import hashlib
import io
import multiprocessing
import time
import uuid
from pathlib import Path

import imagehash
import pyvips
from PIL import Image

from images.imaging import resize
from images.imaging.crop import encoder_options

# Every call must do the work: libvips otherwise answers a repeated operation from its cache.
pyvips.cache_set_max(0)


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
        fmt, options = encoder_options(image)
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


def rendition_floor(source: Path, spec: str) -> tuple[float, float]:
    """Seconds (wall, CPU) to make the rendition ``spec`` of the photo in ``source``."""
    start, cpu = time.perf_counter(), time.process_time()
    parsed = resize.parse_spec(spec, max_size=1 << 20)
    with Image.open(io.BytesIO(source.read_bytes())) as image:
        fmt = resize.output_format(parsed, source_format=image.format)
        size = image.size
        plan = resize.layout(parsed, size)
        if image.format == "JPEG" and (need := resize.least_decode_size(plan, size)):
            image.draft(image.mode, need)
        image.load()
        scale_x, scale_y = image.width / size[0], image.height / size[1]
        left, top, right, bottom = plan.box
        box = (left * scale_x, top * scale_y, right * scale_x, bottom * scale_y)
        box = (*box[:2], min(box[2], image.width), min(box[3], image.height))
        out = image.resize(
            plan.size, Image.Resampling.LANCZOS, box=box, reducing_gap=resize.REDUCING_GAP
        )
    out.save(io.BytesIO(), fmt, **resize.ENCODER_OPTIONS[fmt])
    return time.perf_counter() - start, time.process_time() - cpu


# pyvips' savers by format, with the service's encoder options; strip: no metadata.
_VIPS_SAVE = {
    "JPEG": (".jpg", {"Q": 85, "strip": True}),
    "PNG": (".png", {"compression": 3, "strip": True}),
    "WEBP": (".webp", {"Q": 80, "effort": 4, "strip": True}),
}


def vips_rendition(source: Path, spec: str) -> tuple[float, float]:
    """Seconds (wall, CPU of all its threads) for pyvips to make the same rendition."""
    start, cpu = time.perf_counter(), time.process_time()
    parsed = resize.parse_spec(spec, max_size=1 << 20)
    data = source.read_bytes()
    fmt = parsed.format or Image.open(io.BytesIO(data)).format
    options = {"crop": "centre"} if parsed.kind == "fill" else {"size": "down"}
    unbounded = 10_000_000
    image = pyvips.Image.thumbnail_buffer(
        data, parsed.width or unbounded, height=parsed.height or unbounded, **options
    )
    suffix, save = _VIPS_SAVE[fmt]
    image.write_to_buffer(suffix, **save)
    return time.perf_counter() - start, time.process_time() - cpu
