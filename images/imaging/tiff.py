"""TIFF: the header checks made before any pixel is decoded, the 16-bit RGB read Pillow
lacks, and a small lossless writer for 16-bit crops.

Accepted: one page; greyscale 8 or 16 bit, RGB 8 or 16 bit, RGBA 8 bit; unsigned samples,
chunky (interleaved) layout; uncompressed, LZW, Deflate or PackBits, with or without the
horizontal predictor; strips or tiles. Everything else is refused as unsupported (415):
BigTIFF, more than one page, JPEG-in-TIFF and other compressions whose cost the checks
cannot bound, palettes, CMYK, YCbCr, float samples. Structure errors are invalid (400),
sizes over the limits too large (413), all decided from the IFD alone.

Pillow reads a 16-bit RGB TIFF as 8-bit RGB (its top 8 bits), which would break the
16-bit rule (hashing.py). ``read_rgb16`` therefore shows Pillow's decoders the same strips or
tiles as a 16-bit greyscale image three times as wide (the samples are interleaved, so the
bytes are the same), and undoes the horizontal predictor itself, whose stride that view
changes.
"""

import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from images.errors import ImageTooLarge, InvalidImage, UnsupportedImageFormat

COMPRESSIONS = {1: "none", 5: "LZW", 8: "Deflate", 32946: "Deflate", 32773: "PackBits"}
# A plain IFD has 10 to 30 entries; this bounds the walk, not real files.
MAX_ENTRIES = 1024
# Each strip or tile costs a decoder call; a 64-megapixel image in 256x256 tiles has 1000.
MAX_CHUNKS = 65536
# A tile is decoded into a buffer of its own size, whatever the image's: 2048x2048 at most
# (real files use 256 or 512).
MAX_TILE_PIXELS = 2048 * 2048
ACCEPTED = (
    "TIFF is accepted with one page, greyscale (8 or 16 bit), RGB (8 or 16 bit) or RGBA "
    "(8 bit), uncompressed, LZW, Deflate or PackBits"
)

# Tags by number (TIFF 6.0).
WIDTH, HEIGHT, BITS, COMPRESSION, PHOTOMETRIC = 256, 257, 258, 259, 262
STRIP_OFFSETS, SAMPLES, ROWS_PER_STRIP, STRIP_COUNTS = 273, 277, 278, 279
PLANAR, PREDICTOR, TILE_WIDTH, TILE_LENGTH = 284, 317, 322, 323
TILE_OFFSETS, TILE_COUNTS, EXTRA_SAMPLES, SAMPLE_FORMAT = 324, 325, 338, 339
ORIENTATION, ICC_PROFILE = 274, 34675
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_INTEGER_TYPES = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 13: "I"}


@dataclass(frozen=True)
class Layout:
    """What the checks read from the one IFD."""

    little: bool
    width: int
    height: int
    bits: int
    samples: int
    predictor: int
    tile_width: int | None  # None: strips
    entries: dict[int, int]  # tag -> offset of its 12-byte entry

    @property
    def rgb16(self) -> bool:
        return self.samples == 3 and self.bits == 16


def check(data: bytes, *, max_pixels: int) -> Layout:
    """Check a TIFF's structure and limits from its header and IFD; decode nothing."""
    if len(data) < 8 or data[:2] not in (b"II", b"MM"):
        raise InvalidImage("The TIFF file is truncated.")
    little = data[:2] == b"II"
    end = "<" if little else ">"
    magic = struct.unpack(end + "H", data[2:4])[0]
    if magic == 43:
        raise UnsupportedImageFormat(f"BigTIFF files are not accepted. {ACCEPTED}.")
    if magic != 42:
        raise InvalidImage("The file is not a valid TIFF.")
    offset = struct.unpack(end + "I", data[4:8])[0]
    entries, next_ifd = _ifd(data, offset, end)
    tags = _Tags(data, entries, end)

    width, height = tags.one(WIDTH), tags.one(HEIGHT)
    if width <= 0 or height <= 0:
        raise InvalidImage("The TIFF claims an image of no pixels.")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"The image is {width}x{height} pixels; at most {max_pixels} pixels are accepted."
        )
    if next_ifd:
        if next_ifd + 2 > len(data):
            raise InvalidImage("The TIFF's next page lies outside the file.")
        raise UnsupportedImageFormat(
            "Multi-page TIFF files (stacks) are not accepted: send one page per image."
        )

    compression = tags.one(COMPRESSION, 1)
    if compression not in COMPRESSIONS:
        name = "JPEG" if compression in (6, 7) else f"number {compression}"
        raise UnsupportedImageFormat(f"TIFF with {name} compression is not accepted. {ACCEPTED}.")
    samples = tags.one(SAMPLES, 1)
    bits_list = tags.values(BITS) or [1]
    bits = bits_list[0]
    if any(value != bits for value in bits_list) or len(bits_list) not in (1, samples):
        raise InvalidImage("The TIFF's bits per sample do not match its samples.")
    photometric = tags.one(PHOTOMETRIC, -1)
    extra = tags.values(EXTRA_SAMPLES)
    grey = (photometric == 1 and bits in (8, 16)) or (photometric == 0 and bits == 8)
    kind = (grey and samples == 1) or (
        photometric == 2
        and ((samples == 3 and bits in (8, 16)) or (samples == 4 and bits == 8 and len(extra) == 1))
    )
    if not kind or any(value != 1 for value in tags.values(SAMPLE_FORMAT)):
        raise UnsupportedImageFormat(
            f"This kind of TIFF (photometric {photometric}, {samples} samples of {bits} bits) "
            f"is not accepted. {ACCEPTED}."
        )
    if tags.one(PLANAR, 1) != 1:
        raise UnsupportedImageFormat(f"Planar (separated) TIFF is not accepted. {ACCEPTED}.")
    predictor = tags.one(PREDICTOR, 1)
    if predictor not in (1, 2):
        raise UnsupportedImageFormat(f"TIFF predictor {predictor} is not accepted. {ACCEPTED}.")

    tile_width = tags.one(TILE_WIDTH, 0) if TILE_WIDTH in entries else None
    if tile_width is not None:
        tile_length = tags.one(TILE_LENGTH, 0)
        if not tile_width or not tile_length or tile_width % 16 or tile_length % 16:
            raise InvalidImage("The TIFF's tiles are not multiples of 16 pixels.")
        if tile_width * tile_length > MAX_TILE_PIXELS:
            raise ImageTooLarge(f"The TIFF's tiles are larger than {MAX_TILE_PIXELS} pixels.")
        chunks = math.ceil(width / tile_width) * math.ceil(height / tile_length)
        offsets_tag, counts_tag = TILE_OFFSETS, TILE_COUNTS
    else:
        rows = min(tags.one(ROWS_PER_STRIP, height) or height, height)
        chunks = math.ceil(height / rows)
        offsets_tag, counts_tag = STRIP_OFFSETS, STRIP_COUNTS
    if chunks > MAX_CHUNKS:
        raise ImageTooLarge(f"The TIFF has more than {MAX_CHUNKS} strips or tiles.")
    offsets, counts = tags.values(offsets_tag), tags.values(counts_tag)
    if len(offsets) != chunks or len(counts) != chunks:
        raise InvalidImage("The TIFF's strip or tile table does not match its size.")
    for start, count in zip(offsets, counts, strict=True):
        if count <= 0 or start < 8 or start + count > len(data):
            raise InvalidImage("The TIFF is truncated (a strip or tile lies outside it).")
    at = {tag: entry[2] for tag, entry in entries.items()}
    return Layout(little, width, height, bits, samples, predictor, tile_width, at)


def read_rgb16(data: bytes, layout: Layout, open_grey) -> np.ndarray:
    """The samples of a checked 16-bit RGB TIFF, (height, width, 3) uint16. ``open_grey``
    opens and fully decodes bytes as a greyscale image (the caller's checked opener)."""
    patched = bytearray(data)
    end = "<" if layout.little else ">"
    _set(patched, layout.entries[WIDTH], end, 4, 3 * layout.width)
    _set(patched, layout.entries[SAMPLES], end, 3, 1)
    _set(patched, layout.entries[BITS], end, 3, 16)
    _set(patched, layout.entries[PHOTOMETRIC], end, 3, 1)
    if PREDICTOR in layout.entries:
        _set(patched, layout.entries[PREDICTOR], end, 3, 1)
    if layout.tile_width is not None:
        _set(patched, layout.entries[TILE_WIDTH], end, 4, 3 * layout.tile_width)
    if ORIENTATION in layout.entries:  # Pillow would turn the wide grey view; done below
        _set(patched, layout.entries[ORIENTATION], end, 3, 1)
    grey = open_grey(patched)
    # One writable copy in native byte order (the image's own buffer is read-only).
    samples = np.array(grey, dtype=np.uint16).reshape(layout.height, layout.width, 3)
    grey.close()
    if layout.predictor == 2:  # differences along each row of each strip or tile
        step = layout.tile_width or layout.width
        for left in range(0, layout.width, step):
            band = samples[:, left : left + step]
            np.cumsum(band, axis=1, dtype=np.uint16, out=band)  # wraps modulo 2**16
    return _upright(samples, _orientation(data, layout))


def _orientation(data: bytes, layout: Layout) -> int:
    """The Orientation tag's value, read as Pillow reads it (any integer type); 1 if none
    or unreadable, as Pillow then leaves the image as stored."""
    if ORIENTATION not in layout.entries:
        return 1
    end = "<" if layout.little else ">"
    at = layout.entries[ORIENTATION]
    entries = {ORIENTATION: (*struct.unpack(end + "HI", data[at + 2 : at + 8]), at)}
    try:
        return _Tags(data, entries, end).one(ORIENTATION, 1)
    except (InvalidImage, ImageTooLarge):
        return 1


def _upright(samples: np.ndarray, orientation: int) -> np.ndarray:
    """The samples turned as Pillow turns every other TIFF when it loads one (by its
    Orientation tag, as ImageOps.exif_transpose), so that all TIFFs come out upright."""
    turned = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }.get(orientation)
    return np.ascontiguousarray(turned(samples)) if turned else samples


def write(
    samples: np.ndarray,
    *,
    rows_per_strip: int = 64,
    orientation: int | None = None,
    icc_profile: bytes | None = None,
) -> bytes:
    """A little-endian TIFF of 16-bit grey (h, w) or RGB (h, w, 3) samples: Deflate with the
    horizontal predictor, in strips; lossless; with the orientation and ICC profile given.
    Pillow writes neither 16-bit RGB nor, for 16-bit grey, the predictor that halves the
    size of a smooth image."""
    height, width = samples.shape[:2]
    channels = 1 if samples.ndim == 2 else samples.shape[2]
    values = samples.astype("<u2").reshape(height, width, channels)
    deltas = values.copy()
    deltas[:, 1:] -= values[:, :-1]  # wraps modulo 2**16
    strips = [
        zlib.compress(deltas[top : top + rows_per_strip].tobytes(), 6)
        for top in range(0, height, rows_per_strip)
    ]
    entries: dict[int, tuple[int, list[int] | bytes]] = {
        WIDTH: (4, [width]),
        HEIGHT: (4, [height]),
        BITS: (3, [16] * channels),
        COMPRESSION: (3, [8]),
        PHOTOMETRIC: (3, [2 if channels == 3 else 1]),
        STRIP_OFFSETS: (4, [0] * len(strips)),
        SAMPLES: (3, [channels]),
        ROWS_PER_STRIP: (4, [rows_per_strip]),
        STRIP_COUNTS: (4, [len(strip) for strip in strips]),
        PLANAR: (3, [1]),
        PREDICTOR: (3, [2]),
    }
    if orientation:
        entries[ORIENTATION] = (3, [orientation])
    if icc_profile:
        entries[ICC_PROFILE] = (7, icc_profile)
    packed = {tag: _packed(kind, vals) for tag, (kind, vals) in entries.items()}
    extra_at = 8 + 2 + 12 * len(entries) + 4  # out-of-line values follow the IFD
    out_of_line = sum(len(data) + (len(data) & 1) for data in packed.values() if len(data) > 4)
    position = extra_at + out_of_line  # then the strips
    offsets = entries[STRIP_OFFSETS][1]
    for index, strip in enumerate(strips):
        offsets[index] = position
        position += len(strip)
    packed[STRIP_OFFSETS] = _packed(4, offsets)
    fields, extra = [], bytearray()
    for tag in sorted(entries):
        kind, vals = entries[tag]
        data = packed[tag]
        if len(data) > 4:
            fields.append(struct.pack("<HHII", tag, kind, len(vals), extra_at + len(extra)))
            extra += data + b"\0" * (len(data) & 1)  # values start on a word boundary
        else:
            fields.append(struct.pack("<HHI", tag, kind, len(vals)) + data.ljust(4, b"\0"))
    header = b"II" + struct.pack("<HI", 42, 8)
    ifd = struct.pack("<H", len(entries)) + b"".join(fields) + struct.pack("<I", 0)
    return header + ifd + bytes(extra) + b"".join(strips)


def _packed(kind: int, values: list[int] | bytes) -> bytes:
    if isinstance(values, bytes):
        return values
    return struct.pack("<" + _INTEGER_TYPES[kind] * len(values), *values)


def _ifd(data: bytes, offset: int, end: str) -> tuple[dict[int, tuple[int, int, int]], int]:
    """The entries of the IFD at ``offset`` (tag -> type, count, entry offset) and the
    offset of the next IFD."""
    if offset < 8 or offset + 2 > len(data):
        raise InvalidImage("The TIFF's first IFD lies outside the file.")
    count = struct.unpack(end + "H", data[offset : offset + 2])[0]
    if count == 0 or count > MAX_ENTRIES:
        raise InvalidImage(f"The TIFF's IFD has {count} entries.")
    stop = offset + 2 + 12 * count
    if stop + 4 > len(data):
        raise InvalidImage("The TIFF's IFD is truncated.")
    entries = {}
    for at in range(offset + 2, stop, 12):
        tag, kind, number = struct.unpack(end + "HHI", data[at : at + 8])
        entries.setdefault(tag, (kind, number, at))
    return entries, struct.unpack(end + "I", data[stop : stop + 4])[0]


class _Tags:
    def __init__(self, data: bytes, entries: dict[int, tuple[int, int, int]], end: str) -> None:
        self.data, self.entries, self.end = data, entries, end

    def values(self, tag: int) -> list[int]:
        if tag not in self.entries:
            return []
        kind, count, at = self.entries[tag]
        code = _INTEGER_TYPES.get(kind)
        if code is None:
            raise InvalidImage(f"The TIFF's tag {tag} is not an integer.")
        if count > MAX_CHUNKS:
            raise ImageTooLarge(f"The TIFF's tag {tag} has more than {MAX_CHUNKS} values.")
        size = count * _TYPE_SIZES[kind]
        start = at + 8
        if size > 4:
            start = struct.unpack(self.end + "I", self.data[at + 8 : at + 12])[0]
            if start + size > len(self.data):
                raise InvalidImage(f"The TIFF's tag {tag} lies outside the file.")
        return list(struct.unpack(self.end + code * count, self.data[start : start + size]))

    def one(self, tag: int, default: int | None = None) -> int:
        values = self.values(tag)
        if not values:
            if default is None:
                raise InvalidImage(f"The TIFF lacks tag {tag}.")
            return default
        if len(values) != 1:
            raise InvalidImage(f"The TIFF's tag {tag} has {len(values)} values, not one.")
        return values[0]


def _set(data: bytearray, at: int, end: str, kind: int, value: int) -> None:
    """Rewrite the entry at ``at`` to hold one inline value of ``kind`` (3 SHORT, 4 LONG)."""
    tag = struct.unpack(end + "H", data[at : at + 2])[0]
    inline = struct.pack(end + ("H" if kind == 3 else "I"), value).ljust(4, b"\0")
    data[at : at + 12] = struct.pack(end + "HHI", tag, kind, 1) + inline
