"""Files as instruments and phones write them, made in memory: TIFF (8 and 16 bit, strips
and tiles, every compression accepted), WebP, HEIC; the 16-bit rule computed the obvious
way; headers that claim what a bomb claims."""

import io
import struct

import imagehash
import numpy as np
import tifffile
from PIL import Image

from images.imaging import decode as imaging
from images.imaging import tiff
from tests.factories import encode, pattern, plate_photo

LIMIT = 64_000_000


# --- Files ----------------------------------------------------------------


def plate16(size=(96, 72), gain=12, offset=300, seed=7) -> np.ndarray:
    """A plate as a 12-bit camera writes it: 16-bit samples, most of the range unused."""
    grey = np.asarray(plate_photo(size, seed=seed).convert("L"), dtype=np.uint32)
    return (grey * gain + offset).astype(np.uint16)


def rgb16(size=(96, 72)) -> np.ndarray:
    rgb = np.asarray(plate_photo(size), dtype=np.uint32)
    return (rgb * 15 + 200).astype(np.uint16)


def tif(samples: np.ndarray, **options) -> bytes:
    out = io.BytesIO()
    photometric = "rgb" if samples.ndim == 3 else "minisblack"
    tifffile.imwrite(out, samples, photometric=photometric, **options)
    return out.getvalue()


def pil_tiff(image: Image.Image, compression: str) -> bytes:
    return encode(image, "TIFF", compression=compression)


KINDS = {
    "tiff grey 8 uncompressed": lambda: pil_tiff(pattern((64, 48), "L"), "raw"),
    "tiff grey 16 LZW": lambda: pil_tiff(Image.fromarray(plate16()), "tiff_lzw"),
    "tiff grey 16 Deflate tiles": lambda: tif(plate16(), tile=(32, 32), compression="zlib"),
    "tiff grey 16 big-endian": lambda: tif(plate16().astype(">u2"), byteorder=">"),
    "tiff rgb 8 PackBits": lambda: pil_tiff(pattern((64, 48)), "packbits"),
    "tiff rgba 8 LZW": lambda: pil_tiff(pattern((64, 48), "RGBA"), "tiff_lzw"),
    "tiff rgb 16 uncompressed": lambda: tif(rgb16()),
    "tiff rgb 16 Deflate tiles": lambda: tif(rgb16(), tile=(16, 32), compression="zlib"),
    "tiff rgb 16 predictor": lambda: tiff.write(rgb16()),
    "webp lossy": lambda: encode(pattern((64, 48)), "WEBP", quality=80),
    "webp lossless": lambda: encode(pattern((64, 48), "RGBA"), "WEBP", lossless=True),
    "heic": lambda: encode(pattern((64, 48)), "HEIF", quality=80),
}
SHOWN = ["tiff grey 16 LZW", "tiff rgb 16 uncompressed", "heic", "webp lossy"]
FORMATS = {
    "tiff": ("TIFF", "image/tiff"),
    "webp": ("WEBP", "image/webp"),
    "heic": ("HEIF", "image/heic"),
}


def reference_8bit(samples: np.ndarray) -> np.ndarray:
    """The documented 16-bit rule computed the slow, obvious way: sort, pick the ranks."""
    ordered = np.sort(samples.reshape(-1).astype(np.int64))
    n = ordered.size
    lo = int(ordered[max(1, -(-n // 1000)) - 1])
    hi = int(ordered[max(1, -(-n * 999 // 1000)) - 1])
    values = samples.astype(np.int64)
    if hi == lo:
        return (values >> 8).astype(np.uint8)
    return np.clip(((values - lo) * 255 + (hi - lo) // 2) // (hi - lo), 0, 255).astype(np.uint8)


def samples_of(data: bytes) -> np.ndarray:
    """A TIFF's samples as tifffile reads them (Pillow for LZW, which tifffile reads only
    with imagecodecs; Pillow reads 8-bit and 16-bit grey exactly)."""
    try:
        return tifffile.imread(io.BytesIO(data))
    except ValueError:
        return np.asarray(Image.open(io.BytesIO(data)))


def expected_phash(data: bytes) -> str:
    """The phash as the docs define it, reading 16-bit TIFFs with tifffile, not Pillow."""
    if data[:4] in imaging.TIFF_HEADS:
        samples = samples_of(data)
        if samples.dtype == np.uint16:
            mode = "RGB" if samples.ndim == 3 else "L"
            return str(imagehash.phash(Image.fromarray(reference_8bit(samples), mode)))
    return str(imagehash.phash(Image.open(io.BytesIO(data))))


def body_of(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def tiff_header(width: int, height: int, *, strips: int = 1, magic: int = 42) -> bytes:
    """A little-endian TIFF of one 8-bit grey page whose header claims these sizes."""
    rows = max(1, -(-height // strips))
    entries = [
        (256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
        (273, 4, 0), (277, 3, 1), (278, 4, rows), (279, 4, 1),
    ]  # fmt: skip
    if strips > 1:  # offsets and counts out of line
        table = 8 + 2 + 12 * len(entries) + 4
        entries[5] = (273, 4, table)
        entries[8] = (279, 4, table)
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        count = strips if tag in (273, 279) else 1
        ifd += struct.pack("<HHII", tag, kind, count, value)
    ifd += struct.pack("<I", 0)
    return b"II" + struct.pack("<HI", magic, 8) + ifd + struct.pack("<I", 8) * strips + b"\0" * 64


def webp_canvas(width: int, height: int) -> bytes:
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes(4)
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def heic_claiming(width: int, height: int) -> bytes:
    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload

    ispe = box(b"ispe", bytes(4) + struct.pack(">II", width, height))
    meta = box(b"meta", bytes(4) + box(b"iprp", box(b"ipco", ispe)))
    return box(b"ftyp", b"heic" + bytes(4) + b"mif1heic") + meta


def multi_page_tiff() -> bytes:
    out = io.BytesIO()
    pattern((16, 16)).save(out, "TIFF", save_all=True, append_images=[pattern((16, 16), variant=2)])
    return out.getvalue()


def animated_webp() -> bytes:
    out = io.BytesIO()
    frames = [pattern((16, 16), variant=2)]
    pattern((16, 16)).save(out, "WEBP", save_all=True, append_images=frames)
    return out.getvalue()
