"""Reading an import without I/O: records split from bytes cut anywhere equal the csv
module's reading of the whole file, with their first lines; headers and typed values."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from missiva_campaign import import_rows
from missiva_platform.errors import InvalidArgument

CELLS = st.text(alphabet=st.sampled_from(list('ab,"\n é;')), max_size=8)
ROWS = st.lists(st.lists(CELLS, min_size=1, max_size=4), min_size=1, max_size=12)


def read(data: bytes, cuts: list[int]) -> list[import_rows.Record]:
    records = import_rows.CsvRecords()
    found: list[import_rows.Record] = []
    start = 0
    for cut in sorted(set(cuts)):
        found += records.feed(data[start:cut])
        start = cut
    found += records.feed(data[start:])
    found += records.finish()
    return found


@settings(max_examples=300, deadline=None)
@given(rows=ROWS, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10))
def test_records_cut_anywhere_read_as_the_whole_file(rows: list[list[str]], cuts: list[int]):
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    text = out.getvalue()
    data = text.encode()
    found = read(data, [c for c in cuts if c <= len(data)])
    expected = list(csv.reader(io.StringIO(text, newline="")))

    def blank(row: list[str]) -> bool:  # a line of spaces only is no row
        line = io.StringIO()
        csv.writer(line, lineterminator="\n").writerow(row)
        return not line.getvalue().strip()

    assert [r.cells for r in found if r.cells] == [e for e in expected if not blank(e)]
    # Each record starts on the line after the newlines of those before it.
    line = 1
    for record, row in zip(found, expected, strict=False):
        assert record.line == line
        line += 1 + sum(cell.count("\n") for cell in row)


def test_a_bom_bad_bytes_and_an_unclosed_quote_are_named():
    found = read(b'\xef\xbb\xbfemail\n\xff\xfe\na@example.org\n"open,\n', [3, 9])
    assert [(r.line, r.cells, r.problem) for r in found] == [
        (1, ["email"], ""),
        (2, None, "is not UTF-8 text"),
        (3, ["a@example.org"], ""),
        (4, None, "has an unterminated quoted field"),
    ]


def test_the_header_maps_columns_and_refuses_a_file_without_an_address():
    columns = import_rows.resolve_columns(
        ["Mail", "First_Name", "attributes.city", "other"], {"mail": "email"}
    )
    assert columns.targets == {0: "email", 1: "first_name", 2: "attributes.city"}
    with pytest.raises(InvalidArgument) as caught:
        import_rows.resolve_columns(["name", "city"], {})
    assert caught.value.violations[0][0] == "csv_chunk"
    assert "no email column" in caught.value.violations[0][1]
    with pytest.raises(InvalidArgument) as caught:
        import_rows.resolve_columns(["email", "e2"], {"e2": "email"})
    assert "both map to email" in caught.value.violations[0][1]


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("number", "36", 36),
        ("number", "2.5", 2.5),
        ("boolean", "Yes", True),
        ("boolean", "0", False),
        ("date", "2026-03-01", "2026-03-01"),
        ("text", "x", "x"),
    ],
)
def test_typed_attribute_values(kind, text, value):
    assert import_rows.typed(kind, text) == value


@pytest.mark.parametrize(
    ("kind", "text"),
    [("number", "nan"), ("number", "x"), ("boolean", "maybe"), ("date", "01/03/2026")],
)
def test_bad_typed_values_are_refused(kind, text):
    with pytest.raises(ValueError):
        import_rows.typed(kind, text)


class LineByLine(import_rows.CsvRecords):
    """The reader without its whole-block path: every record through ``_emit``."""

    def _block(self, chunk: bytes, start: int) -> None:
        return None


RAW = st.lists(
    st.sampled_from(
        [b"a", b"b,", b",", b"\n", b"\r", b"\r\n", b" ", b'"', b"\xc3\xa9", b"\xff", b"\x00"]
    ),
    max_size=60,
)


@settings(max_examples=1000, deadline=None)
@given(parts=RAW, cuts=st.lists(st.integers(min_value=0, max_value=80), max_size=6))
def test_the_whole_block_path_reads_what_line_by_line_reads(parts: list[bytes], cuts: list[int]):
    """Blank lines, bad UTF-8, stray carriage returns, NULs, quotes: the same records."""
    data = b"".join(parts)
    cuts = [c for c in cuts if c <= len(data)]
    reference = LineByLine()
    expected: list[import_rows.Record] = []
    start = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        expected += reference.feed(data[start:cut])
        start = cut
    expected += reference.finish()
    assert read(data, cuts) == expected


def test_a_long_line_in_a_big_chunk_is_refused_as_line_by_line():
    data = b"email\n" + b"a" * import_rows.MAX_RECORD_BYTES + b"\nb@example.org\n"
    found = read(data, [])
    assert [(r.line, r.cells is None) for r in found] == [(1, False), (2, True), (3, False)]
    assert found == list(LineByLine().feed(data))
