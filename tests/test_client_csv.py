"""The metadata CSV reader that ``imgsvc upload`` and ``manage.py import_images`` share
(client/src/imageservice_client/labels_csv.py, kept identical in images/labels/sheet.py)."""

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from imageservice_client import labels_csv
from imageservice_client.labels_csv import CsvError, parse_sheet, read_sheet

REPO = Path(__file__).resolve().parents[1]


def test_the_service_reads_sheets_with_the_very_same_code_as_the_client():
    client_copy = REPO / "client/src/imageservice_client/labels_csv.py"
    service_copy = REPO / "images/labels/sheet.py"
    assert service_copy.read_text() == client_copy.read_text()


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("file,plate,well\na.png,P1,A1\n", ","),
        ("file;plate;well\na.png;P1;A1\n", ";"),  # Excel where the decimal mark is a comma
        ("file\tplate\twell\na.png\tP1\tA1\n", "\t"),
        ("file;plate;well\r\na.png;P1;A1\r\n", ";"),
    ],
)
def test_the_delimiter_is_the_headers(text, delimiter):
    sheet = parse_sheet(text)
    assert sheet.delimiter == delimiter
    assert sheet.keys == ["plate", "well"]
    assert [(row.line, row.name, row.values) for row in sheet.rows] == [
        (2, "a.png", {"plate": "P1", "well": "A1"})
    ]


def test_cells_are_numbers_when_they_read_as_json_numbers_and_empty_cells_give_nothing():
    sheet = parse_sheet("file;t;dose;label;note;flag\na.png;3;2,5;007;;true\n")
    assert sheet.rows[0].values == {"t": 3, "dose": "2,5", "label": "007", "flag": "true"}


def test_lines_are_the_files_own_across_blank_lines_and_quoted_line_breaks(tmp_path):
    path = tmp_path / "sheet.csv"
    path.write_text(
        '\ufefffile,note\n\na.png,"two\nlines"\n\n\nb.png,x\nc.png,y,extra\n', encoding="utf-8"
    )
    with pytest.raises(CsvError) as error:
        read_sheet(path)
    assert str(error.value) == f"{path}, line 8: a file name first, then at most one value per key."
    assert error.value.line == 8
    rows = parse_sheet(path.read_text(encoding="utf-8-sig").replace(",extra", "")).rows
    assert [(row.line, row.name) for row in rows] == [(3, "a.png"), (7, "b.png"), (8, "c.png")]


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("file;plate;bad key\n", 1, "'bad key' is not a metadata key"),
        ("file;plate__id\n", 1, "two underscores in a row"),
        ("file,plate,plate\n", 1, "a key named twice: plate."),
        (",plate\n", 1, "the first row names the file column first"),
        ("", 1, "empty; the first row names the keys."),
        ("file,a\n,1\n", 2, "a file name first"),
        ("file,a\nx.png,1\n\nx.png,2\n", 4, "x.png is on line 2 too."),
        ("file,a\nx.png," + "y" * 1025 + "\n", 2, "a: at most 1024 characters."),
        ('file,a\nx.png,"open\n', 2, "unexpected end of data"),
    ],
)
def test_a_bad_sheet_names_the_line_it_is_on(text, line, problem):
    with pytest.raises(CsvError) as error:
        parse_sheet(text, path="plates.csv")
    assert error.value.line == line
    assert problem in error.value.problem


def test_a_file_that_cannot_be_read_says_so(tmp_path):
    with pytest.raises(CsvError, match=r"absent\.csv"):
        read_sheet(tmp_path / "absent.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("file,note\na.png,caf\xe9\n".encode("latin-1"))
    with pytest.raises(CsvError, match="utf-8"):
        read_sheet(latin)


cell = st.text(st.characters(blacklist_categories=["Cs", "Cc"]) | st.sampled_from('\n";,\t'))
# Keys the reader takes: the pattern, and never "__" (a filter's operator separator).
key = st.from_regex(labels_csv.KEY_PATTERN, fullmatch=True).filter(lambda k: "__" not in k)


@given(
    delimiter=st.sampled_from(labels_csv.DELIMITERS),
    keys=st.lists(key, min_size=0, max_size=6, unique=True),
    data=st.data(),
)
def test_any_sheet_a_spreadsheet_writes_reads_back_with_its_lines(delimiter, keys, data):
    """Sheets of any shape (columns, rows, cells with delimiters, quotes and line breaks),
    as Python's csv module writes them: each row's values and first line come back."""
    rows = data.draw(
        st.lists(
            st.tuples(
                st.from_regex(r"[a-z0-9][a-z0-9_/-]{0,12}\.png", fullmatch=True),
                st.lists(cell, min_size=len(keys), max_size=len(keys)),
            ),
            max_size=8,
            unique_by=lambda row: row[0],
        )
    )
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["file", *keys])
    lines, line = [], 2
    for name, cells in rows:
        writer.writerow([name, *cells])
        lines.append(line)
        line = out.getvalue().count("\n") + 1
    text = out.getvalue()
    if not keys and delimiter != ",":
        delimiter = ","  # one column: no delimiter to see, and none needed
    sheet = parse_sheet(text)
    assert sheet.delimiter == delimiter
    assert sheet.keys == keys
    assert [(row.line, row.name) for row in sheet.rows] == [
        (line, name) for line, (name, _) in zip(lines, rows, strict=True)
    ]
    for row, (_, cells) in zip(sheet.rows, rows, strict=True):
        expected = {
            k: labels_csv.parse_scalar(c.strip())
            for k, c in zip(keys, cells, strict=True)
            if c.strip()
        }
        assert row.values == expected
