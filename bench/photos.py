"""The photos the benchmark sends: the real ones in ``shared/samples`` beside the repo (or
in BENCH_SAMPLES) when that folder exists, and generated photo-like images for what it
lacks.

A generated photo has what makes real ones cost what they cost: smooth regions, detail at
several scales and sensor-like noise, so it compresses like a photo (a flat test pattern
decodes and compresses far faster than a photo of the same size).
"""

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops

REPO = Path(__file__).resolve().parents[1]
# A worktree beside others has no shared/ beside it: BENCH_SAMPLES names the folder then.
SAMPLES = Path(os.environ.get("BENCH_SAMPLES") or REPO.parent / "shared" / "samples")
MIN_PHOTO_PIXELS = 1_000_000  # logos and icons in the samples are not photos
BIG = (6000, 4000)  # a 24-megapixel camera frame


@dataclass(frozen=True)
class Photo:
    name: str
    data: bytes
    format: str
    width: int
    height: int
    generated: bool

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def content_type(self) -> str:
        return "image/png" if self.format == "PNG" else "image/jpeg"


def load_photos(samples: Path = SAMPLES) -> list[Photo]:
    """Real JPEG and PNG photos from ``samples``, plus generated ones for what they lack:
    a 2850x2850 PNG and a 6000x4000 JPEG (and a 2850x2850 JPEG when there are no samples).

    No 6000x4000 PNG: a photo of that size as PNG is about 40 MB, over the service's default
    upload limit (25 MiB), so it would measure a refusal, not an ingest.
    """
    photos = _real_photos(samples) if samples.is_dir() else []
    wanted = [("PNG", (2850, 2850)), ("JPEG", BIG)]
    if not any(p.format == "JPEG" for p in photos):
        wanted.insert(0, ("JPEG", (2850, 2850)))
    for seed, (fmt, size) in enumerate(wanted):
        photos.append(_generated(fmt, size, seed))
    return photos


def _real_photos(samples: Path) -> list[Photo]:
    photos = []
    for path in sorted(samples.iterdir()):
        if not path.is_file():
            continue
        data = path.read_bytes()
        try:
            with Image.open(io.BytesIO(data)) as image:
                fmt, (width, height) = image.format, image.size
        except Exception:
            continue
        if fmt in ("JPEG", "PNG") and width * height >= MIN_PHOTO_PIXELS:
            photos.append(Photo(path.name, data, fmt, width, height, generated=False))
    return photos


def _generated(fmt: str, size: tuple[int, int], seed: int) -> Photo:
    width, height = size
    buffer = io.BytesIO()
    options = {"quality": 90} if fmt == "JPEG" else {"compress_level": 1}
    photo_like(size, seed).save(buffer, fmt, **options)
    extension = "jpg" if fmt == "JPEG" else "png"
    name = f"generated-{width}x{height}.{extension}"
    return Photo(name, buffer.getvalue(), fmt, width, height, generated=True)


def photo_like(size: tuple[int, int], seed: int = 0, noise: int = 16) -> Image.Image:
    """Broad colour fields, mid-scale detail and per-pixel noise, deterministic per seed."""
    width, height = size
    rng = np.random.default_rng(seed)

    def layer(step: int, resample: Image.Resampling) -> Image.Image:
        cells = rng.integers(0, 256, (height // step + 2, width // step + 2, 3), dtype=np.uint8)
        return Image.fromarray(cells).resize(size, resample)

    image = Image.blend(
        layer(300, Image.Resampling.BICUBIC), layer(40, Image.Resampling.BILINEAR), 0.3
    )
    grain = Image.fromarray(rng.integers(0, noise, (height, width, 3), dtype=np.uint8))
    return ImageChops.add(image, grain, 1.0, -(noise // 2))
