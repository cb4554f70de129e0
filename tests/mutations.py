"""A small corpus of real image files and the mutations the upload fuzzer applies.

Every function takes a seeded ``random.Random``, so a case is reproduced from its seed.
Mutations know the formats' structure: PNG chunks (length, type, data, CRC), JPEG segments
(marker, length, payload; a scan runs on to the next marker), WebP's RIFF chunks, HEIF's
boxes, and a TIFF's IFD entries (moved, dropped, repeated; its width and height
rewritten). After a PNG mutation the CRCs are sometimes recomputed, so that the decoder, not
the checksum test, meets the damage.
"""

import io
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tifffile
from PIL import Image

from images.imaging import tiff
from tests.factories import encode, pattern

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
SIZE = (48, 32)

# Adam7 passes: first column, first row, column step, row step.
ADAM7 = [
    (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)
]  # fmt: skip


# --- The corpus -----------------------------------------------------------------------


def corpus() -> dict[str, bytes]:
    """Real files in the modes and encodings uploads come in, made with Pillow."""
    rgb = pattern(SIZE)
    exif = Image.Exif()
    exif[0x010F] = "Lab camera"  # Make
    return {
        "jpeg-rgb": encode(rgb, "JPEG", quality=90, exif=exif.tobytes()),
        "jpeg-l": encode(pattern(SIZE, "L"), "JPEG"),
        "jpeg-cmyk": encode(pattern(SIZE, "CMYK"), "JPEG"),
        "jpeg-progressive": encode(rgb, "JPEG", progressive=True, optimize=True),
        "jpeg-restart-markers": encode(rgb, "JPEG", restart_marker_blocks=1),
        "png-rgb": encode(rgb, "PNG"),
        "png-l": encode(pattern(SIZE, "L"), "PNG"),
        "png-rgba": encode(pattern(SIZE, "RGBA"), "PNG"),
        "png-p-transparent": encode(pattern(SIZE, "P"), "PNG", transparency=0),
        "png-16-bit-grey": encode(pattern(SIZE, "L").convert("I;16"), "PNG"),
        "png-16-bit-rgb": raw_png(rgb, bit_depth=16),
        "png-interlaced": raw_png(rgb, bit_depth=8, interlace=True),
        "png-text-chunks": encode(rgb, "PNG", pnginfo=_text_info()),
        "tiff-grey-16-lzw": encode(
            pattern(SIZE, "L").convert("I;16"), "TIFF", compression="tiff_lzw"
        ),
        "tiff-rgb-8-packbits": encode(rgb, "TIFF", compression="packbits"),
        "tiff-rgb-16-tiles": _tiled_rgb16(rgb),
        "tiff-rgb-16-predictor-turned": tiff.write(
            np.asarray(rgb, dtype=np.uint16) * 257, orientation=6
        ),
        "webp-lossy": encode(rgb, "WEBP", quality=80),
        "webp-lossless-rgba": encode(pattern(SIZE, "RGBA"), "WEBP", lossless=True),
        "heic": encode(rgb, "HEIF", quality=80),
    }


def _tiled_rgb16(image: Image.Image) -> bytes:
    out = io.BytesIO()
    samples = np.asarray(image, dtype=np.uint16) * 257
    tifffile.imwrite(out, samples, photometric="rgb", tile=(16, 16), compression="zlib")
    return out.getvalue()


def _text_info():
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "plate 7")
    info.add_text("Compressed", "x" * 200, zip=True)
    info.add_itxt("Title", "Platte", lang="de", tkey="Title")
    return info


def raw_png(image: Image.Image, *, bit_depth: int, interlace: bool = False) -> bytes:
    """An RGB PNG written by hand: Pillow writes neither 16-bit RGB nor Adam7 interlacing."""
    width, height = image.size
    pixels = image.convert("RGB").load()
    scale = 257 if bit_depth == 16 else 1  # 0..255 onto 0..65535
    fmt = ">3H" if bit_depth == 16 else "3B"

    def rows(x0: int, y0: int, dx: int, dy: int) -> bytes:
        out = bytearray()
        for y in range(y0, height, dy):
            out.append(0)  # filter type None
            for x in range(x0, width, dx):
                out += struct.pack(fmt, *(channel * scale for channel in pixels[x, y]))
        return bytes(out)

    if interlace:
        raw = b"".join(rows(*p) for p in ADAM7 if p[0] < width and p[1] < height)
    else:
        raw = rows(0, 0, 1, 1)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 2, 0, 0, int(interlace))
    compressed = zlib.compress(raw)
    # Several IDAT chunks, as encoders write them, so that mutations can move them.
    idats = [png_chunk(b"IDAT", compressed[i : i + 100]) for i in range(0, len(compressed), 100)]
    return PNG_SIGNATURE + png_chunk(b"IHDR", header) + b"".join(idats) + png_chunk(b"IEND", b"")


# --- Structure ------------------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc & 0xFFFFFFFF)


def png_chunks(data: bytes) -> tuple[list[bytes], bytes]:
    """The whole chunks after the signature, and whatever trails them (truncated bytes)."""
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        end = pos + 12 + length
        if end > len(data):
            break
        chunks.append(data[pos:end])
        pos = end
    return chunks, data[pos:]


def fix_png_crcs(data: bytes) -> bytes:
    chunks, rest = png_chunks(data)
    fixed = [png_chunk(chunk[4:8], chunk[8:-4]) for chunk in chunks]
    return data[: len(PNG_SIGNATURE)] + b"".join(fixed) + rest


def jpeg_segments(data: bytes) -> list[bytes]:
    """Marker segments whose concatenation is ``data``; a scan keeps its entropy-coded data."""
    segments, pos = [data[:2]], 2
    while pos < len(data):
        if data[pos] != 0xFF or pos + 1 >= len(data):
            segments.append(data[pos:])
            break
        marker = data[pos + 1]
        if marker in (0xD8, 0xD9, 0x01) or 0xD0 <= marker <= 0xD7:
            end = pos + 2
        else:
            end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
            if marker == 0xDA:  # the scan's data runs on to the next marker but RSTn
                while end + 1 < len(data) and not (
                    data[end] == 0xFF and data[end + 1] != 0 and not 0xD0 <= data[end + 1] <= 0xD7
                ):
                    end += 1
        end = min(max(end, pos + 2), len(data))
        segments.append(data[pos:end])
        pos = end
    return segments


def riff_chunks(data: bytes) -> tuple[list[bytes], bytes]:
    """WebP: the chunks after the 12-byte RIFF header (each padded to an even length)."""
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        end = pos + 8 + struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        end += end & 1
        if end > len(data):
            break
        chunks.append(data[pos:end])
        pos = end
    return chunks, data[pos:]


def iso_boxes(data: bytes) -> tuple[list[bytes], bytes]:
    """HEIF: the top-level boxes (ftyp, meta, mdat)."""
    boxes, pos = [], 0
    while pos + 8 <= len(data):
        size = struct.unpack(">I", data[pos : pos + 4])[0]
        if size < 8 or pos + size > len(data):
            break
        boxes.append(data[pos : pos + size])
        pos += size
    return boxes, data[pos:]


def tiff_entries(data: bytes) -> tuple[int, int, str] | None:
    """Where the first IFD's entries start, how many there are, and the byte order."""
    if data[:4] not in (b"II*\x00", b"MM\x00*") or len(data) < 8:
        return None
    end = "<" if data[:2] == b"II" else ">"
    offset = struct.unpack(end + "I", data[4:8])[0]
    if offset + 2 > len(data):
        return None
    count = struct.unpack(end + "H", data[offset : offset + 2])[0]
    if offset + 2 + 12 * count > len(data):
        return None
    return offset + 2, count, end


def parts(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(head, parts, tail): PNG chunks, JPEG segments, WebP chunks, HEIF boxes or a TIFF's
    IFD entries that mutations move around."""
    if data.startswith(PNG_SIGNATURE):
        chunks, rest = png_chunks(data)
        return PNG_SIGNATURE, chunks, rest
    if data[:4] == b"RIFF":
        chunks, rest = riff_chunks(data)
        return data[:12], chunks, rest
    if data[4:8] == b"ftyp":
        boxes, rest = iso_boxes(data)
        return b"", boxes, rest
    if data[:2] in (b"II", b"MM"):
        found = tiff_entries(data)
        if found is None:
            return data, [], b""
        start, count, _ = found
        entries = [data[at : at + 12] for at in range(start, start + 12 * count, 12)]
        return data[:start], entries, data[start + 12 * count :]
    segments = jpeg_segments(data)
    return segments[0], segments[1:], b""


def is_png(data: bytes) -> bool:
    return data.startswith(PNG_SIGNATURE)


# --- Mutations ------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    data: bytes
    steps: tuple[str, ...]
    # Set when the only damage is rewritten dimensions (with good CRCs): what the header
    # then claims, which alone decides between too large and invalid.
    claimed_pixels: int | None = None

    def describe(self) -> str:
        return "; ".join(self.steps)


def flip_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    out = bytearray(data)
    count = rng.choice([1, 1, 2, 4, 8, 32])
    positions = sorted(rng.randrange(len(out)) for _ in range(count))
    for pos in positions:
        if rng.random() < 0.3:
            out[pos] = rng.choice([0x00, 0xFF, 0x7F, 0x80])
        else:
            out[pos] ^= rng.randrange(1, 256)
    return bytes(out), f"flip {count} bytes at {positions[:4]}"


def truncate(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    at = rng.randrange(len(data))
    return data[:at], f"truncate at {at} of {len(data)}"


def repeat_part(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    head, items, tail = parts(data)
    if not items:
        return data, "repeat: nothing to repeat"
    index, times = rng.randrange(len(items)), rng.choice([1, 1, 2, 7])
    items[index:index] = [items[index]] * times
    return head + b"".join(items) + tail, f"repeat part {index} ({_name(items[index])}) x{times}"


def drop_part(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    head, items, tail = parts(data)
    if not items:
        return data, "drop: nothing to drop"
    index = rng.randrange(len(items))
    dropped = items.pop(index)
    return head + b"".join(items) + tail, f"drop part {index} ({_name(dropped)})"


def swap_parts(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    head, items, tail = parts(data)
    if len(items) < 2:
        return data, "swap: too few parts"
    a, b = rng.sample(range(len(items)), 2)
    items[a], items[b] = items[b], items[a]
    return head + b"".join(items) + tail, f"swap parts {a} and {b}"


def rewrite_dimensions(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """Claim other dimensions in the PNG IHDR, JPEG frame header or TIFF IFD: huge, zero,
    off by some."""
    if tiff_entries(data) is not None:
        return _rewrite_tiff_dimensions(rng, data)
    field = _dimensions_field(data)
    if field is None:
        return data, "dimensions: no header"
    at, size = field
    limit = (1 << (8 * size)) - 1
    picks = [0, 1, 2, 255, 4096, 65535, 0x7FFFFFFF, limit, rng.randrange(limit + 1)]
    a, b = (min(rng.choice(picks), limit) for _ in range(2))
    out = bytearray(data)
    out[at : at + 2 * size] = a.to_bytes(size, "big") + b.to_bytes(size, "big")
    return bytes(out), f"dimensions -> {a}, {b}"


def _tiff_dimension_entries(data: bytes) -> list[int]:
    """Offsets of the first IFD's ImageWidth and ImageLength entries (LONG or SHORT)."""
    found = tiff_entries(data)
    if found is None:
        return []
    start, count, end = found
    return [
        at
        for at in range(start, start + 12 * count, 12)
        if struct.unpack(end + "HHI", data[at : at + 8])
        in ((256, 3, 1), (256, 4, 1), (257, 3, 1), (257, 4, 1))
    ]


def _rewrite_tiff_dimensions(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    entries = _tiff_dimension_entries(data)
    if len(entries) != 2:
        return data, "dimensions: no IFD entries"
    end = "<" if data[:2] == b"II" else ">"
    out, values = bytearray(data), []
    for at in entries:
        value = min(
            rng.choice([0, 1, 2, 255, 4096, 65535, 0x7FFFFFFF, rng.randrange(1 << 32)]), 0xFFFFFFFF
        )
        out[at + 2 : at + 12] = struct.pack(end + "HII", 4, 1, value)  # as a LONG
        values.append(value)
    return bytes(out), f"dimensions -> {values[0]}, {values[1]}"


def claimed_pixels(data: bytes) -> int | None:
    """Width times height as the header claims them."""
    entries = _tiff_dimension_entries(data)
    if len(entries) == 2:
        end = "<" if data[:2] == b"II" else ">"
        width, height = (_tiff_value(data, at, end) for at in entries)
        return width * height
    field = _dimensions_field(data)
    if field is None:
        return None
    at, size = field
    return int.from_bytes(data[at : at + size], "big") * int.from_bytes(
        data[at + size : at + 2 * size], "big"
    )


def _dimensions_field(data: bytes) -> tuple[int, int] | None:
    """Offset and byte size of the two dimensions: PNG IHDR width, height (4 bytes each);
    JPEG frame header (SOFn) height, width (2 bytes each)."""
    if is_png(data):
        return (16, 4) if data[12:16] == b"IHDR" and len(data) >= 24 else None
    at = 0
    for segment in jpeg_segments(data):
        if len(segment) >= 9 and segment[1] in SOF_MARKERS:
            return at + 5, 2
        at += len(segment)
    return None


def _tiff_value(data: bytes, at: int, end: str) -> int:
    kind = struct.unpack(end + "H", data[at + 2 : at + 4])[0]
    return struct.unpack(
        end + ("H" if kind == 3 else "I"), data[at + 8 : at + (10 if kind == 3 else 12)]
    )[0]


def insert_marker(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """Insert a PNG chunk (with a good CRC) or a JPEG marker where one part ends."""
    head, items, tail = parts(data)
    index = rng.randrange(len(items) + 1)
    if is_png(data):
        kind = rng.choice(
            [b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"tEXt", b"zTXt", b"iTXt", b"iCCP",
             b"eXIf", b"acTL", b"fcTL", b"fdAT", b"sBIT", b"gAMA", b"pHYs", b"sPLT", b"hIST",
             b"cHRM", b"bKGD", b"tIME", b"sRGB", b"aBcD"]
        )  # fmt: skip
        payload = _payload(rng)
        item, name = png_chunk(kind, payload), kind.decode()
    else:
        marker = rng.choice(
            [0xD8, 0xD9, 0xD0, 0xD7, 0xDA, 0xDB, 0xC4, 0xC0, 0xC2, 0xDD, 0xE1, 0xE2, 0xEE,
             0xFE, 0xCC, 0xF7, 0xFF]
        )  # fmt: skip
        if marker in (0xD8, 0xD9, 0xD0, 0xD7, 0xFF):
            item = bytes([0xFF, marker])
        else:
            payload = _payload(rng)[:65000]
            item = bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload
        name = f"FF{marker:02X}"
    items.insert(index, item)
    return head + b"".join(items) + tail, f"insert {name} ({len(item)} bytes) at part {index}"


def _payload(rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        return b""
    if kind == 1:
        return rng.randbytes(rng.randrange(1, 64))
    if kind == 2:  # compressed data that inflates a lot
        return b"k\x00\x00" + zlib.compress(b"\x00" * rng.choice([1 << 10, 1 << 20, 1 << 23]))
    return b"Exif\x00\x00" + rng.randbytes(rng.randrange(8, 256))


def _name(item: bytes) -> str:
    if len(item) >= 8 and item[4:8].isalpha():
        return item[4:8].decode()
    return f"FF{item[1]:02X}" if len(item) > 1 and item[0] == 0xFF else "bytes"


MUTATIONS: list[Callable[[random.Random, bytes], tuple[bytes, str]]] = [
    flip_bytes,
    flip_bytes,
    truncate,
    repeat_part,
    drop_part,
    swap_parts,
    rewrite_dimensions,
    insert_marker,
    insert_marker,
]


def mutate(rng: random.Random, data: bytes) -> Mutant:
    """One to three mutations in a row; for a PNG, its CRCs fixed up half of the time."""
    steps, used = [], []
    for _ in range(rng.choice([1, 1, 2, 3])):
        if not data:
            break
        mutation = rng.choice(MUTATIONS)
        data, step = mutation(rng, data)
        steps.append(step)
        used.append(mutation)
    crcs_good = not is_png(data)
    if is_png(data) and rng.random() < 0.5:
        data = fix_png_crcs(data)
        steps.append("CRCs fixed")
        crcs_good = True
    only_dimensions = used == [rewrite_dimensions] and crcs_good
    claimed = claimed_pixels(data) if only_dimensions else None
    return Mutant(data, tuple(steps), claimed)
