"""A metadata CSV of a lab: a header row of keys, then a row per file, its name first.

Pure Python (no Django, no HTTP): ``imgsvc upload --metadata-csv`` reads it on a lab's PC,
and the service's ``manage.py import_images --metadata-csv`` reads it with this same code,
so a sheet means the same to both. The code is in two places, the same text:
client/src/imageservice_client/labels_csv.py and images/labels/sheet.py (a test compares
them), because the service must not depend on its client's distribution (nor the client
on the service's).

- The delimiter is the header's: a comma, a semicolon (Excel's export where the decimal
  mark is a comma) or a tab. Keys cannot contain any of them, so the one the header line
  holds most is it.
- Every error names the line of the file it is on, as an editor numbers them (a quoted
  cell may span lines; a byte-order mark is not a line).
- A cell that is a JSON number becomes that number; anything else (``007``, ``true``)
  stays text; an empty cell (or only spaces) gives no value.
"""

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

DELIMITERS = (",", ";", "\t")
KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
MAX_TEXT_LENGTH = 1024

Value = str | int | float


class CsvError(ValueError):
    """A sheet that cannot be used, with the line the problem is on (0: the file itself)."""

    def __init__(self, path: Path | str, line: int, problem: str) -> None:
        where = f"{path}, line {line}" if line else str(path)
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.problem = str(path), line, problem


@dataclass(frozen=True)
class CsvRow:
    line: int  # where the row starts in the file
    name: str  # the first cell: a file name, relative to the folder (or absolute)
    values: dict[str, Value]


@dataclass(frozen=True)
class LabelSheet:
    path: str
    delimiter: str
    keys: list[str]
    rows: list[CsvRow]


def parse_scalar(text: str) -> Value:
    """A value typed as text: a JSON number becomes that number, anything else stays text."""
    if JSON_NUMBER.fullmatch(text):
        number = json.loads(text)
        if math.isfinite(number):
            return number
    return text


def sniff_delimiter(header: str) -> str:
    """The header line's delimiter: the one it holds most (ties: the comma)."""
    counts = {delimiter: header.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def read_sheet(path: Path | str) -> LabelSheet:
    """The sheet at ``path``, checked: keys, one row per name, cells no longer than keys."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a BOM, as Excel writes
    except (OSError, UnicodeDecodeError) as exc:
        raise CsvError(path, 0, str(exc)) from None
    return parse_sheet(text, path=str(path))


def parse_sheet(text: str, *, path: str = "<csv>") -> LabelSheet:
    header_line = text.split("\n", 1)[0]
    delimiter = sniff_delimiter(header_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[CsvRow] = []
    seen: dict[str, int] = {}
    keys: list[str] | None = None
    ended = 0  # the line the previous record ended on
    try:
        for record in reader:
            line, ended = ended + 1, reader.line_num
            if keys is None:
                keys = _keys(record, path)
                continue
            if not any(cell.strip() for cell in record):
                continue  # a blank line
            row = _row(record, keys, line, path)
            if row.name in seen:
                raise CsvError(path, line, f"{row.name} is on line {seen[row.name]} too.")
            seen[row.name] = line
            rows.append(row)
    except csv.Error as exc:
        raise CsvError(path, reader.line_num, str(exc)) from None
    if keys is None:
        raise CsvError(path, 1, "empty; the first row names the keys.")
    return LabelSheet(path, delimiter, keys, rows)


def _keys(header: list[str], path: str) -> list[str]:
    if not header or not header[0].strip():
        raise CsvError(path, 1, "the first row names the file column first, then the keys.")
    keys = [cell.strip() for cell in header[1:]]
    for key in keys:
        if not KEY_PATTERN.fullmatch(key):
            raise CsvError(
                path, 1,
                f"{key!r} is not a metadata key: 1 to 64 letters, digits and _.:- , a letter "
                "or digit first.",
            )  # fmt: skip
        if "__" in key:  # in a filter, __ separates the key from an operator (KEY__gt)
            raise CsvError(
                path, 1, f"{key!r}: a metadata key may not hold two underscores in a row."
            )
    if len(set(keys)) != len(keys):
        twice = sorted({key for key in keys if keys.count(key) > 1})
        raise CsvError(path, 1, f"a key named twice: {', '.join(twice)}.")
    return keys


def _row(record: list[str], keys: list[str], line: int, path: str) -> CsvRow:
    if len(record) > len(keys) + 1 or not record[0].strip():
        raise CsvError(path, line, "a file name first, then at most one value per key.")
    values: dict[str, Value] = {}
    for key, cell in zip(keys, record[1:], strict=False):
        if not cell.strip():
            continue  # an empty cell gives no value
        value = parse_scalar(cell.strip())
        if isinstance(value, str) and len(value) > MAX_TEXT_LENGTH:
            raise CsvError(path, line, f"{key}: at most {MAX_TEXT_LENGTH} characters.")
        values[key] = value
    return CsvRow(line, record[0].strip(), values)
