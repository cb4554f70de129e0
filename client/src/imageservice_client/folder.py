"""What ``imgsvc upload`` sends: the files under the paths given, which of them are JPEG,
PNG, TIFF, WebP or HEIC (by their first bytes, never their names: others are skipped and
never sent), and
the tags and metadata of each (``--tag``, ``--metadata``, a row of ``--metadata-csv``)."""

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .labels_csv import CsvError, CsvRow, LabelSheet, Value, parse_scalar, read_sheet

# How the formats the service accepts start: JPEG, PNG, TIFF (classic and BigTIFF, which the
# service refuses with a reason), WebP (RIFF....WEBP), HEIF (an ftyp box with these brands).
SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")
KINDS = "JPEG, PNG, TIFF, WebP or HEIC"


def files_under(paths: list[Path], *, recursive: bool) -> Iterator[Path]:
    """Files named as paths, then the regular, not hidden files in each folder (and with
    ``recursive`` its subfolders, not hidden ones), in name order, resolved."""
    for root in paths:
        if not root.is_dir():
            yield root.resolve()
            continue
        for directory, folders, names in os.walk(root):
            folders[:] = sorted(f for f in folders if not f.startswith(".")) if recursive else []
            for name in sorted(names):
                path = Path(directory, name)
                if not name.startswith(".") and path.is_file():
                    yield path.resolve()


def is_image(path: Path) -> bool:
    """Whether the file starts as a JPEG, PNG, TIFF, WebP or HEIC does (the service decodes
    it to be sure)."""
    try:
        with path.open("rb") as file:
            head = file.read(12)
    except OSError:
        return False
    return (
        head.startswith(SIGNATURES)
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or (head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS)
    )


def parse_options(options: list[str]) -> dict[str, Value]:
    """``KEY=VALUE`` options as metadata; a VALUE that is a JSON number becomes one."""
    metadata: dict[str, Value] = {}
    for option in options:
        key, equals, value = option.partition("=")
        if not equals or not key:
            raise ValueError(f"--metadata {option!r}: write KEY=VALUE.")
        metadata[key] = parse_scalar(value)
    return metadata


@dataclass
class Labels:
    """The tags and metadata of each file: a CSV row's values win over ``--metadata``."""

    tags: list[str]
    metadata: dict[str, Value]
    sheet: LabelSheet | None = None
    rows: dict[Path, CsvRow] = field(default_factory=dict)

    @classmethod
    def read(
        cls, *, tags: list[str], metadata: dict[str, Value], csv: Path | None, roots: list[Path]
    ) -> "Labels":
        labels = cls(tags, metadata)
        if csv is not None:
            labels.sheet = read_sheet(csv)
            labels.rows = rows_by_path(labels.sheet, roots)
        return labels

    def of(self, path: Path) -> tuple[list[str], dict[str, Value]]:
        row = self.rows.get(path)
        return self.tags, {**self.metadata, **(row.values if row else {})}


def rows_by_path(sheet: LabelSheet, roots: list[Path]) -> dict[Path, CsvRow]:
    """Each row under every path its name may mean: absolute, or relative to each folder
    given (to the folder of each file given)."""
    folders = list(dict.fromkeys(r.resolve() if r.is_dir() else r.resolve().parent for r in roots))
    found: dict[Path, CsvRow] = {}
    for row in sheet.rows:
        named = Path(row.name)
        for candidate in [named] if named.is_absolute() else [f / named for f in folders]:
            resolved = candidate.resolve()
            if resolved in found and found[resolved] is not row:
                other = found[resolved].line
                raise CsvError(sheet.path, row.line, f"{named} is on line {other} too.")
            found[resolved] = row
    return found


@dataclass(frozen=True)
class Plan:
    images: list[Path]  # to send, in order
    skipped: list[Path]  # not JPEG, PNG, TIFF, WebP or HEIC: never sent
    unlabelled: list[Path]  # images the CSV has no row for
    missing: list[CsvRow]  # rows naming no file found


def plan(paths: list[Path], *, recursive: bool, labels: Labels) -> Plan:
    images, skipped = [], []
    for path in dict.fromkeys(files_under(paths, recursive=recursive)):
        (images if is_image(path) else skipped).append(path)
    unlabelled, missing = [], []
    if labels.sheet is not None:
        unlabelled = [path for path in images if path not in labels.rows]
        matched = {id(labels.rows[path]) for path in images if path in labels.rows}
        missing = [row for row in labels.sheet.rows if id(row) not in matched]
    return Plan(images, skipped, unlabelled, missing)
