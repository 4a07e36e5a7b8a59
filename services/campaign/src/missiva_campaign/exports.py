"""Contact export files written a page at a time: CSV, JSON and XLSX.

Each writer takes pages of contact rows (``store.contacts`` columns) and returns the bytes
ready to send, so an export of any size holds one page in memory. CSV and JSON bytes go out
as they are made. An XLSX file is a zip whose directory comes last, so it cannot be sent
before it is finished: xlsxwriter in ``constant_memory`` mode writes each row to a temporary
file as it arrives (it never keeps the sheet in memory), and the finished workbook is read
back from disk in pieces.

Spreadsheet safety: a CSV cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return would run as a formula when opened, so it is prefixed with an apostrophe; XLSX cells
are written as strings (``write_string``), which a spreadsheet never evaluates.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

import xlsxwriter

HEADER = (
    "contact_id", "email", "first_name", "last_name", "locale", "timezone", "source", "tags",
    "list_ids", "suppressed", "created_at", "updated_at", "last_interaction_at", "attributes",
)  # fmt: skip
TIMES = ("created_at", "updated_at", "last_interaction_at")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PIECE = 1024 * 1024  # the largest chunk of one stream message

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class Writer(Protocol):
    def start(self) -> bytes: ...
    def page(self, rows: list[dict[str, Any]]) -> bytes: ...
    def finish(self) -> Iterator[bytes]: ...
    def close(self) -> None: ...


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else ""


def record(row: dict[str, Any]) -> dict[str, Any]:
    """A contact as the export shows it (JSON types)."""
    return {
        "contact_id": row["id"],
        "email": row["email"],
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "locale": row["locale"],
        "timezone": row["timezone"],
        "source": row["source"],
        "tags": list(row["tags"]),
        "list_ids": list(row["list_ids"]),
        "suppressed": bool(row["suppressed"]),
        **{name: _iso(row[name]) for name in TIMES},
        "attributes": row["attributes"] or {},
    }


def _flat(item: dict[str, Any]) -> list[str]:
    """The record as text cells (lists joined with ``;``, attributes as JSON)."""
    cells = []
    for name in HEADER:
        value = item[name]
        if isinstance(value, list):
            value = ";".join(value)
        elif isinstance(value, dict):
            value = json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
        elif isinstance(value, bool):
            value = "true" if value else "false"
        cells.append(str(value))
    return cells


def defuse(cell: str) -> str:
    """A CSV cell a spreadsheet will show, never run."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


class CsvWriter:
    def start(self) -> bytes:
        return self._line(list(HEADER))

    @staticmethod
    def _line(*rows: list[str]) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerows(rows)
        return out.getvalue().encode()

    def page(self, rows: list[dict[str, Any]]) -> bytes:
        return self._line(*([defuse(c) for c in _flat(record(r))] for r in rows))

    def finish(self) -> Iterator[bytes]:
        return iter(())

    def close(self) -> None:
        pass


class JsonWriter:
    def __init__(self) -> None:
        self._first = True

    def start(self) -> bytes:
        return b"["

    def page(self, rows: list[dict[str, Any]]) -> bytes:
        parts = []
        for row in rows:
            text = json.dumps(record(row), ensure_ascii=False, separators=(",", ":"))
            parts.append(("\n" if self._first else ",\n") + text)
            self._first = False
        return "".join(parts).encode()

    def finish(self) -> Iterator[bytes]:
        return iter((b"\n]\n" if not self._first else b"]\n",))

    def close(self) -> None:
        pass


class XlsxWriter:
    """One sheet written row by row to a temporary folder (constant memory)."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="missiva-export-")
        self.path = os.path.join(self._dir.name, "contacts.xlsx")
        self._book = xlsxwriter.Workbook(
            self.path,
            {"constant_memory": True, "tmpdir": self._dir.name, "remove_timezone": True},
        )
        self._sheet = self._book.add_worksheet("contacts")
        self._date = self._book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self._row = 0

    def start(self) -> bytes:
        for col, name in enumerate(HEADER):
            label = f"{name} (UTC)" if name in TIMES else name
            self._sheet.write_string(0, col, label)
        self._row = 1
        return b""

    def page(self, rows: list[dict[str, Any]]) -> bytes:
        for row in rows:
            item = record(row)
            for col, (name, cell) in enumerate(zip(HEADER, _flat(item), strict=True)):
                if name in TIMES and row[name] is not None:
                    self._sheet.write_datetime(
                        self._row, col, row[name].astimezone(UTC), self._date
                    )
                elif cell:
                    self._sheet.write_string(self._row, col, cell)
            self._row += 1
        return b""

    def finish(self) -> Iterator[bytes]:
        self._book.close()
        with open(self.path, "rb") as f:
            while piece := f.read(PIECE):
                yield piece

    def close(self) -> None:
        self._dir.cleanup()


def writer_for(kind: str) -> Writer:
    if kind == "csv":
        return CsvWriter()
    if kind == "json":
        return JsonWriter()
    return XlsxWriter()


def pieces(data: bytes) -> Iterator[bytes]:
    """``data`` cut into stream-sized pieces."""
    for start in range(0, len(data), PIECE):
        yield data[start : start + PIECE]
