"""WebP and HEIF: the container checks made before a decoder sees the bytes.

Both formats are boxes of chunks whose headers say the picture's size: a RIFF file of
chunks for WebP, ISO base media boxes for HEIF. The walk reads only those headers, refuses
what is over the pixel limit (413) or is not a still image (415: animated WebP, HEIF image
sequences), and leaves the pixels to libwebp and libheif, whose own limits stay on.
"""

import struct

from images.errors import ImageTooLarge, InvalidImage, UnsupportedImageFormat

# Brands of HEIF files whose images are HEVC-coded stills (what phones write); the sequence
# brands ("msf1", "hevc", "hevx") are refused, AVIF is another format (refused by name).
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"mif2"}
HEIF_SEQUENCE_BRANDS = {b"msf1", b"hevc", b"hevx"}
MAX_BOXES = 10_000  # a phone's HEIC has a few dozen boxes; bounds the walk
_HEIF_CONTAINERS = {b"meta": 4, b"iprp": 0, b"ipco": 0}  # boxes walked into; meta's 4: version


def is_webp(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def is_heif(head: bytes) -> bool:
    return head[4:8] == b"ftyp"


def check_webp(data: bytes, *, max_pixels: int) -> bool:
    """Walk the RIFF chunks; return whether the WebP is lossless (a VP8L bitstream)."""
    size = struct.unpack("<I", data[4:8])[0]
    if size < 4 or 8 + size > len(data):
        raise InvalidImage("The WebP file is truncated.")
    position, end = 12, 8 + size
    canvas = bitstream = None
    frames = chunks = 0
    lossless = False
    while position + 8 <= end:
        kind, length = (
            data[position : position + 4],
            struct.unpack("<I", data[position + 4 : position + 8])[0],
        )
        payload = data[position + 8 : position + 8 + length]
        if len(payload) < length:
            raise InvalidImage("The WebP file is truncated.")
        chunks += 1
        if chunks > MAX_BOXES:
            raise InvalidImage("The WebP file has too many chunks.")
        if kind == b"VP8X" and canvas is None and length >= 10:
            canvas = (
                1 + int.from_bytes(payload[4:7], "little"),
                1 + int.from_bytes(payload[7:10], "little"),
            )
        elif kind == b"ANMF":
            frames += 1
        elif kind == b"VP8 " and bitstream is None and length >= 10:
            if payload[3:6] != b"\x9d\x01\x2a":
                raise InvalidImage("The WebP's VP8 frame header is corrupt.")
            width, height = struct.unpack("<HH", payload[6:10])
            bitstream = (width & 0x3FFF, height & 0x3FFF)
        elif kind == b"VP8L" and bitstream is None and length >= 5:
            if payload[0] != 0x2F:
                raise InvalidImage("The WebP's lossless header is corrupt.")
            bits = int.from_bytes(payload[1:5], "little")
            bitstream, lossless = (1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)), True
        position += 8 + length + (length & 1)
    if frames > 1:
        raise UnsupportedImageFormat(
            "Animated WebP images are not accepted; send a still image (JPEG, PNG, TIFF, "
            "WebP or HEIC)."
        )
    width, height = canvas or bitstream or (0, 0)
    if width * height == 0:
        raise InvalidImage("The WebP file has no image.")
    _check_pixels(width, height, max_pixels)
    return lossless


def check_heif(data: bytes, *, max_pixels: int) -> bool:
    """Walk the boxes down to the image properties; False: not a HEIC (AVIF or another
    ISO media file, which Pillow identifies and the caller refuses by name)."""
    boxes = _boxes(data, 0, len(data), [0])
    first = next(boxes, None)
    if first is None or first[0] != b"ftyp":
        raise InvalidImage("The HEIF file does not begin with its file type.")
    _, start, stop = first
    brands = {data[start:stop][:4]} | {data[at : at + 4] for at in range(start + 8, stop - 3, 4)}
    if data[start : start + 4] in HEIF_SEQUENCE_BRANDS:
        raise UnsupportedImageFormat(
            "HEIF image sequences are not accepted; send a still image (JPEG, PNG, TIFF, "
            "WebP or HEIC)."
        )
    if brands & {b"avif", b"avis"} or not brands & HEIF_BRANDS:
        return False
    largest = 0
    for kind, begin, end in _walk(data, boxes, [1]):
        if kind == b"ispe" and end - begin >= 12:
            width, height = struct.unpack(">II", data[begin + 4 : begin + 12])
            largest = max(largest, width * height)
            _check_pixels(width, height, max_pixels)
    if not largest:
        raise InvalidImage("The HEIF file says no image size.")
    return True


def _walk(data: bytes, boxes, counter: list[int]):
    """Every box, depth first, inside the containers HEIF keeps its properties in."""
    for kind, start, stop in boxes:
        yield kind, start, stop
        if kind in _HEIF_CONTAINERS:
            yield from _walk(
                data, _boxes(data, start + _HEIF_CONTAINERS[kind], stop, counter), counter
            )


def _boxes(data: bytes, position: int, end: int, counter: list[int]):
    """(type, payload start, payload end) of each box from ``position`` to ``end``."""
    while position + 8 <= end:
        size, kind = struct.unpack(">I4s", data[position : position + 8])
        header = 8
        if size == 1:
            if position + 16 > end:
                raise InvalidImage("The HEIF file is truncated.")
            size, header = struct.unpack(">Q", data[position + 8 : position + 16])[0], 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            raise InvalidImage("The HEIF file is truncated (a box runs past its end).")
        counter[0] += 1
        if counter[0] > MAX_BOXES:
            raise InvalidImage("The HEIF file has too many boxes.")
        yield kind, position + header, position + size
        position += size


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"The image is {width}x{height} pixels; at most {max_pixels} pixels are accepted."
        )
