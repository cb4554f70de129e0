"""Images made in memory with Pillow, for tests."""

import functools
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


def mpo_bytes() -> bytes:
    """A JPEG with a second picture (a camera's MPO), which Pillow opens as two frames."""
    first, second = pattern((32, 32)), pattern((32, 32), variant=1)
    return encode(first, "MPO", save_all=True, append_images=[second])


def png_with_chunks(*chunks: bytes, after_image_data: bool = False) -> bytes:
    """A small real PNG with extra chunks before its image data, or after it."""
    data = image_bytes("PNG", (32, 32))
    at = data.rindex(b"IEND") - 4 if after_image_data else len(b"\x89PNG\r\n\x1a\n") + 25
    return data[:at] + b"".join(chunks) + data[at:]


def zlib_bomb(size: int) -> bytes:
    """``size`` zero bytes, compressed: about a thousandth of that."""
    import zlib

    compressor = zlib.compressobj(9)
    block = b"\0" * (1024 * 1024)
    parts = [compressor.compress(block) for _ in range(size // len(block))]
    return b"".join(parts) + compressor.compress(b"\0" * (size % len(block))) + compressor.flush()


def png_16bit_rgb(size: tuple[int, int] = (40, 30)) -> bytes:
    """A PNG with 16 bits per colour channel (Pillow reads it, but cannot write it)."""
    import struct
    import zlib

    width, height = size
    rows = b"".join(
        b"\x00"
        + b"".join(
            struct.pack(">HHH", x * 65535 // width, y * 65535 // height, (x * y * 97) % 65536)
            for x in range(width)
        )
        for y in range(height)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def jpeg_with_scans(extra: int) -> bytes:
    """A progressive JPEG with one of its scans repeated ``extra`` times (a decoder runs
    every scan over the whole image)."""
    data = image_bytes("JPEG", (64, 64), progressive=True)
    start = data.rindex(b"\xff\xda")  # the last scan runs to the end-of-image marker
    return data[:-2] + data[start:-2] * extra + data[-2:]


@functools.cache
def decoder_cases() -> list[tuple[str, bytes, str | None]]:
    """Hostile and odd files, and the error code each ends in (None: accepted). The errors
    table of docs/guide/api.md lists the same cases."""
    mib = 1024 * 1024
    bomb = zlib_bomb(50 * mib)  # 50 KiB that inflate to 50 MiB
    return [
        ("zTXt bomb before the image data",
         png_with_chunks(png_chunk(b"zTXt", b"c\0\0" + bomb)), "image_too_large"),
        ("zTXt bomb after the image data",
         png_with_chunks(png_chunk(b"zTXt", b"c\0\0" + bomb), after_image_data=True),
         "image_too_large"),
        ("compressed iTXt bomb",
         png_with_chunks(png_chunk(b"iTXt", b"c\0\1\0en\0\0" + bomb)), "image_too_large"),
        ("iCCP bomb", png_with_chunks(png_chunk(b"iCCP", b"icc\0\0" + bomb)), "image_too_large"),
        ("65 MiB of text in 1 MiB zTXt chunks",
         png_with_chunks(*[png_chunk(b"zTXt", b"c%d\0\0" % i + zlib_bomb(mib)) for i in range(65)]),
         "image_too_large"),
        ("zTXt of 1 MiB, the most one may hold",
         png_with_chunks(png_chunk(b"zTXt", b"c\0\0" + zlib_bomb(mib))), None),
        ("zTXt whose zlib data is corrupt (skipped, as Pillow does)",
         png_with_chunks(png_chunk(b"zTXt", b"c\0\0not zlib")), None),
        ("uncompressed iTXt", png_with_chunks(png_chunk(b"iTXt", b"c\0\0\0en\0\0hello")), None),
        ("5 MiB eXIf chunk", png_with_chunks(png_chunk(b"eXIf", b"MM\0*" + bytes(5 * mib))), None),
        ("jpeg with 256 scans", jpeg_with_scans(246), None),
        ("jpeg with 257 scans", jpeg_with_scans(247), "image_too_large"),
        ("jpeg with 2000 scans", jpeg_with_scans(2000), "image_too_large"),
        ("jpeg claiming 0x0 pixels", jpeg_with_dimensions(0, 0), "invalid_image"),
        ("jpeg claiming 65535x65535 pixels", jpeg_with_dimensions(65535, 65535),
         "image_too_large"),
        ("png claiming 0x0 pixels", png_with_header(0, 0), "invalid_image"),
        ("png claiming 2^31-1 x 1 pixels", png_with_header(2**31 - 1, 1), "image_too_large"),
        ("png claiming 2^32-1 x 2^32-1 pixels", png_with_header(2**32 - 1, 2**32 - 1),
         "image_too_large"),
        ("animated png", apng_bytes(), "image_too_large"),
        ("multi-picture jpeg (MPO, two frames)", mpo_bytes(), "image_too_large"),
    ]  # fmt: skip


def png_without_palette(*, late: bool = False, **save) -> bytes:
    """A palette PNG with its PLTE chunk dropped, or moved after the image data."""
    data = image_bytes("PNG", (32, 32), mode="P", **save)
    start = data.index(b"PLTE") - 4
    end = start + 12 + int.from_bytes(data[start : start + 4], "big")
    plte, rest = data[start:end], data[:start] + data[end:]
    if not late:
        return rest
    iend = rest.index(b"IEND") - 4
    return rest[:iend] + plte + rest[iend:]


def plate_photo(size: tuple[int, int] = (480, 360), seed: int = 7) -> Image.Image:
    """A photo-like picture of a culture plate: lit background, dish, agar with grain,
    soft-edged colonies, sensor noise. Real enough for alignment and heatmaps."""
    import numpy as np
    from PIL import ImageFilter

    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    light = 200 - 60 * (((x - width * 0.3) / width) ** 2 + ((y - height * 0.4) / height) ** 2)
    image = Image.fromarray(
        np.dstack([light * 0.85, light * 0.95, light]).clip(0, 255).astype("uint8")
    )
    draw = ImageDraw.Draw(image)
    cx, cy, r = width / 2, height / 2, min(width, height) * 0.45
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(60, 70, 80))
    draw.ellipse([cx - r * 0.95, cy - r * 0.95, cx + r * 0.95, cy + r * 0.95], fill=(190, 170, 120))
    for _ in range(60):
        angle, distance = rng.uniform(0, 2 * np.pi), r * 0.85 * np.sqrt(rng.uniform())
        px, py = cx + distance * np.cos(angle), cy + distance * np.sin(angle)
        size_ = rng.uniform(3, 14)
        shade = tuple(int(v) for v in rng.integers(225, 255, 3))
        draw.ellipse([px - size_, py - size_, px + size_, py + size_], fill=shade)
    image = image.filter(ImageFilter.GaussianBlur(1.5))
    pixels = np.asarray(image, np.float32) + rng.normal(0, 4, (height, width, 3))
    return Image.fromarray(pixels.clip(0, 255).astype("uint8"))


def with_changed_region(photo: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """The photo with something new inside ``box``: a dark smear and a bright colony."""
    changed = photo.copy()
    draw = ImageDraw.Draw(changed)
    left, top, right, bottom = box
    draw.ellipse([left, top, right, bottom], fill=(70, 40, 30))
    mid_x, mid_y = (left + right) // 2, (top + bottom) // 2
    draw.ellipse([mid_x - 6, mid_y - 6, mid_x + 6, mid_y + 6], fill=(250, 250, 240))
    return changed


def linear_rgb_icc() -> bytes:
    """An ICC v2 display profile with sRGB's primaries and a linear tone curve (gamma 1.0):
    a value of 128 in it is sRGB's 188. Written out by hand, as Pillow makes only sRGB."""
    import struct

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    linear = b"curv\0\0\0\0" + struct.pack(">I", 0)  # no entries: the identity curve
    description = b"desc\0\0\0\0" + struct.pack(">I", 7) + b"linear\0" + bytes(4 + 4 + 3 + 67)
    tags = [
        (b"desc", description),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),  # D50, the PCS's white
        (b"rXYZ", xyz(0.4361, 0.2225, 0.0139)),  # sRGB's primaries, adapted to D50
        (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", linear),
        (b"gTRC", linear),
        (b"bTRC", linear),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        body += bytes(-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + b"\0\0\0\0"
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + bytes(12)
        + b"acsp"
        + bytes(24)
        + bytes(4)  # rendering intent: perceptual
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
        + bytes(48)
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data
