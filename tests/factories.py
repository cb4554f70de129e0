"""Images made in memory with Pillow, for tests."""

import io

from PIL import Image, ImageDraw


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), mode: str = "RGB", **save):
    """A picture with structure (so its phash is not trivial), encoded as ``fmt``."""
    image = pattern(size, mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def pattern(size: tuple[int, int], mode: str = "RGB", variant: int = 0) -> Image.Image:
    width, height = size
    image = Image.new("RGB", size, (30 + variant * 40, 60, 90))
    draw = ImageDraw.Draw(image)
    for i in range(0, max(width, height), max(4, width // 8)):
        draw.line([(i, 0), (0, i)], fill=(200, 120 + variant * 20, 40), width=3)
    draw.ellipse([width // 4, height // 4, width * 3 // 4, height * 3 // 4], fill=(250, 250, 250))
    if variant:
        draw.rectangle([0, 0, width // 3, height // 3], fill=(0, 0, 0))
    return image.convert(mode)


def encode(image: Image.Image, fmt: str, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def black_centred_png(size: int = 256, black: int = 100) -> bytes:
    """White square with a black square of side ``black`` in its centre (the seed's case)."""
    image = Image.new("RGB", (size, size), "white")
    start = (size - black) // 2
    ImageDraw.Draw(image).rectangle([start, start, start + black - 1, start + black - 1], "black")
    return encode(image, "PNG")


def png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_header(width: int, height: int, bit_depth: int = 1, colour_type: int = 0) -> bytes:
    """A PNG whose header claims ``width`` x ``height``: a decompression bomb's header."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + png_chunk(b"IEND", b"")
    )


def jpeg_with_dimensions(width: int, height: int) -> bytes:
    """A real JPEG whose frame header was rewritten to claim other dimensions."""
    data = bytearray(image_bytes("JPEG", (16, 16)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def psd_bytes(width: int = 4, height: int = 4) -> bytes:
    """A minimal Photoshop file (RGB, 8 bits, raw), which Pillow recognises."""
    import struct

    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
    return (
        header
        + struct.pack(">III", 0, 0, 0)
        + struct.pack(">H", 0)
        + b"\x80" * (3 * width * height)
    )


def corrupt_png_crc() -> bytes:
    """A PNG whose image data chunk has a wrong checksum (decoders that skip it would not see)."""
    data = bytearray(image_bytes("PNG", (32, 32)))
    idat = data.index(b"IDAT")
    length = int.from_bytes(data[idat - 4 : idat], "big")
    data[idat + 4 + length] ^= 0xFF  # first byte of the IDAT CRC
    return bytes(data)


def apng_bytes() -> bytes:
    first, second = pattern((32, 32)), pattern((32, 32), variant=1)
    return encode(first, "PNG", save_all=True, append_images=[second])
