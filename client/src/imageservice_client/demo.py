"""``python3 -m imageservice_client.demo FOLDER``: a small lab folder to try ``imgsvc`` on.

Four PNG "plate photos" of random dots (the same bytes every time, so trying again stores
nothing new), two of them in a subfolder, a semicolon CSV of their plate, well and
timepoint, and a note: what a lab's folder holds. Pure Python: no imaging library needed.
"""

import random
import struct
import sys
import zlib
from pathlib import Path

NAMES = ["A1.png", "A2.png", "day2/A1.png", "day2/A2.png"]


def png(seed: int, width: int = 64, height: int = 48) -> bytes:
    rng = random.Random(seed)
    rows = b"".join(b"\0" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def make(folder: Path) -> None:
    rows = ["file;plate;well;timepoint"]
    for n, name in enumerate(NAMES):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():  # kept as is: an unchanged file is done, per the journal
            path.write_bytes(png(n))
        rows.append(f"{name};P-0042;{Path(name).stem};{1 + n // 2}")
    (folder / "plates.csv").write_text("\n".join(rows) + "\n")
    (folder / "notes.txt").write_text("imaged on scope 2\n")


if __name__ == "__main__":
    make(Path(sys.argv[1] if len(sys.argv) > 1 else "plates"))
