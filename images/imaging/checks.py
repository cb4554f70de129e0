"""PNG and JPEG: the structure walks made before Pillow parses anything.

Every PNG chunk's checksum (Pillow's decoder skips the IDAT checksums) and the decompressed
size of PNG text and ICC chunks (zlib bombs); the number of scans of a JPEG (each
progressive scan makes the decoder pass over every block of the image again, so a file of
many tiny scans costs minutes of CPU per megabyte). What is over a limit is refused as too
large (413), as the pixel limit is.
"""

import re
import struct
import zlib
from typing import BinaryIO

from PIL import PngImagePlugin

from images.errors import ImageTooLarge, InvalidImage

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
# Pillow's own limits on PNG metadata, enforced here first so that an excess is a clear
# 413 rather than a decoder error: each compressed text or ICC chunk may inflate to 1 MiB,
# all text chunks together to 64 MiB.
PNG_INFLATED_CHUNK_LIMIT = PngImagePlugin.MAX_TEXT_CHUNK
PNG_TEXT_TOTAL_LIMIT = PngImagePlugin.MAX_TEXT_MEMORY
# Encoders write about ten scans (libjpeg's progressive script) and rarely a few dozen; 256
# is the limit other decoders adopted after libjpeg-turbo's security audit.
JPEG_MAX_SCANS = 256
_CHUNK = 64 * 1024
_PNG_METADATA = (b"tEXt", b"zTXt", b"iTXt", b"iCCP")
# In entropy-coded data a 0xFF byte is followed by 0x00 (stuffing) or a restart marker;
# anything else is the next marker, which ends the scan.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")


def check_png_chunks(fp: BinaryIO) -> None:
    """Walk every chunk: check its CRC (Pillow's decoder skips the IDAT checksums) and how
    far its metadata inflates, before Pillow reads any of it."""
    fp.seek(len(PNG_SIGNATURE))
    text_total = 0
    while True:
        header = fp.read(8)
        if len(header) < 8:
            raise InvalidImage("The PNG file is truncated (no IEND chunk).")
        length, kind = struct.unpack(">I4s", header)
        if kind in _PNG_METADATA:  # read whole, as Pillow does; the byte limit bounds it
            data = fp.read(length)
            if len(data) < length:
                raise InvalidImage("The PNG file is truncated.")
            crc = zlib.crc32(kind + data)
        else:
            data, crc = b"", _crc_of_next(fp, length, zlib.crc32(kind))
        stored = fp.read(4)
        if len(stored) < 4 or struct.unpack(">I", stored)[0] != crc:
            raise InvalidImage(f"The PNG file is corrupt (bad {kind!r} chunk checksum).")
        if data:
            size, inflated = _png_metadata_size(kind, data)
            if inflated and size > PNG_INFLATED_CHUNK_LIMIT:
                raise ImageTooLarge(
                    f"The PNG's {kind.decode()} chunk inflates to more than "
                    f"{PNG_INFLATED_CHUNK_LIMIT} bytes."
                )
            if kind != b"iCCP":
                text_total += size
                if text_total > PNG_TEXT_TOTAL_LIMIT:
                    raise ImageTooLarge(
                        f"The PNG's text chunks hold more than {PNG_TEXT_TOTAL_LIMIT} bytes."
                    )
        if kind == b"IEND":
            break
    fp.seek(0)


def _crc_of_next(fp: BinaryIO, length: int, crc: int) -> int:
    while length:
        block = fp.read(min(length, _CHUNK))
        if not block:
            raise InvalidImage("The PNG file is truncated.")
        crc = zlib.crc32(block, crc)
        length -= len(block)
    return crc


def _png_metadata_size(kind: bytes, data: bytes) -> tuple[int, bool]:
    """The size of a text or ICC chunk's value once inflated (at most the limit + 1), and
    whether it was compressed. Layouts as in the PNG specification; a malformed chunk
    counts as empty, as Pillow skips it."""
    _, _, value = data.partition(b"\0")
    if kind == b"tEXt":
        return len(value), False
    if kind == b"iTXt":
        compressed, value = value[:1] == b"\1", value[2:]
        parts = value.split(b"\0", 2)
        if len(parts) < 3:
            return 0, False
        value = parts[2]
        if not compressed:
            return len(value), False
    else:  # zTXt, iCCP: a compression method byte, then zlib data
        value = value[1:]
    try:
        return len(zlib.decompressobj().decompress(value, PNG_INFLATED_CHUNK_LIMIT + 1)), True
    except zlib.error:
        return 0, True


def check_jpeg_scans(fp: BinaryIO) -> None:
    """Count the scans by walking the markers; stop quietly at anything unexpected and let
    the decoder judge it."""
    fp.seek(len(JPEG_SOI))
    data = fp.read()  # the byte limit bounds it
    position, scans = 0, 0
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0xD9:  # EOI
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            position += 2
            continue
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if marker == 0xDA:  # SOS: the scan's header, then its entropy-coded data
            scans += 1
            if scans > JPEG_MAX_SCANS:
                raise ImageTooLarge(
                    f"The JPEG has more than {JPEG_MAX_SCANS} scans; each one costs a pass "
                    "over the whole image."
                )
            end = _SCAN_END.search(data, position)
            if end is None:
                break
            position = end.start()
    fp.seek(0)
