"""The tags and metadata ``import_images`` gives the files it imports: ``--tag`` and
``--metadata KEY=VALUE`` for every file, and ``--metadata-csv``, a spreadsheet with a row
per file. Everything is checked (images/labels/rules.py) before the first file is read."""

from dataclasses import dataclass, field
from pathlib import Path

from django.core.management.base import CommandError

from images.errors import ImageServiceError
from images.labels import rules as lab_metadata
from images.labels import sheet


@dataclass
class ImportLabels:
    tags: list[str]
    metadata: dict
    # A CSV row's metadata, under each path its file may be found as, and the row's line.
    rows: dict[Path, tuple[int, dict]] = field(default_factory=dict)
    used: set[int] = field(default_factory=set)
    csv_name: str = ""

    @classmethod
    def read(
        cls, *, tags: list[str], metadata: list[str], csv_file: str | None, roots: list[Path]
    ) -> "ImportLabels":
        try:
            labels = cls(lab_metadata.clean_tags(tags), _options(metadata))
        except ImageServiceError as exc:
            raise CommandError(f"{exc.code}: {exc.detail}") from None
        if csv_file:
            labels.csv_name = csv_file
            labels.rows = _read_csv(Path(csv_file), roots, labels.metadata)
        return labels

    def of(self, path: Path) -> tuple[list[str], dict]:
        """The tags and metadata of the file at ``path``: a CSV row's values win."""
        line, metadata = self.rows.get(path.resolve(), (None, {}))
        if line is not None:
            self.used.add(line)
        return self.tags, {**self.metadata, **metadata}

    def unused_lines(self) -> list[int]:
        """The CSV's lines that named no file the import came upon."""
        return sorted({line for line, _ in self.rows.values()} - self.used)


def _options(options: list[str]) -> dict:
    """``KEY=VALUE`` options as metadata; a value that is a JSON number becomes one."""
    metadata = {}
    for option in options:
        key, equals, value = option.partition("=")
        if not equals:
            raise CommandError(f"--metadata {option!r}: write KEY=VALUE.")
        metadata[key] = lab_metadata.parse_scalar(value)
    return lab_metadata.clean_metadata(metadata)


def _read_csv(path: Path, roots: list[Path], common: dict) -> dict[Path, tuple[int, dict]]:
    """Each row's metadata under every path its first column may mean: absolute, or
    relative to each folder given (to the folder of each file given). The sheet is read as
    ``imgsvc upload`` reads it (images/labels/sheet.py); each row's values, with the
    options', are then checked by the service's own rules, at the row's line."""
    folders = [root if root.is_dir() else root.parent for root in roots]
    try:
        table = sheet.read_sheet(path)
    except sheet.CsvError as exc:
        raise CommandError(f"--metadata-csv {exc}") from None
    found: dict[Path, tuple[int, dict]] = {}
    for row in table.rows:
        where = f"--metadata-csv {path}, line {row.line}"
        try:
            lab_metadata.clean_metadata({**common, **row.values})
        except ImageServiceError as exc:
            raise CommandError(f"{where}: {exc.code}: {exc.detail}") from None
        named = Path(row.name)
        for candidate in [named] if named.is_absolute() else [f / named for f in folders]:
            resolved = candidate.resolve()
            if resolved in found:
                raise CommandError(f"{where}: {named} is on line {found[resolved][0]} too.")
            found[resolved] = (row.line, row.values)
    return found
