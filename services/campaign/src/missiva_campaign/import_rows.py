"""Reading an import, without I/O: CSV records split from a byte stream as it arrives, the
header resolved to contact fields, and each row validated into a contact or a reason.

- ``CsvRecords`` takes the file's bytes chunk by chunk and yields complete records with the
  line they start on; only the one record in progress is buffered, so a file is never held
  whole. A record ends at a newline outside quotes (RFC 4180: quoted fields may hold
  newlines and ``""``); one that grows past ``MAX_RECORD_BYTES`` is rejected as unterminated.
- ``Columns`` maps the header to fields: the mapping given, else a header's own name
  (case-insensitive). A file with no email column is refused at the header.
- ``Validator.row`` checks one row: the address (``domain.email_address``, the same
  email-validator check as the kit's ``valid_email``, syntax only), names, locale, time
  zone, tags and typed attributes; a bad row becomes (line, column, reason).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from missiva_campaign import domain
from missiva_platform.errors import InvalidArgument

MAX_RECORD_BYTES = 64 * 1024
MAX_COLUMNS = 200
FIELDS = ("email", "first_name", "last_name", "locale", "timezone", "tags")
ATTRIBUTE_TYPES = ("text", "number", "boolean", "date")
TRUE = frozenset({"true", "yes", "y", "1"})
FALSE = frozenset({"false", "no", "n", "0"})
TAG_SEPARATOR = re.compile(r"[;|]")
MAX_CACHED_TAG_CELLS = 1024


@dataclass
class Record:
    line: int
    cells: list[str] | None  # None: the record could not be read
    problem: str = ""


class CsvRecords:
    """Complete CSV records out of a stream of byte chunks."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._quotes = 0
        self._start = 1  # line the pending record starts on
        self._line = 0  # lines consumed
        self._first = True

    def feed(self, chunk: bytes) -> Iterator[Record]:
        if self._first and chunk:
            self._first = False
            if chunk.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
                chunk = chunk[3:]
        start = 0
        tried = False
        while True:
            if not tried and not self._pending:
                tried = True  # once a chunk: a block with quotes goes line by line
                block = self._block(chunk, start)
                if block is not None:
                    yield from block[0]
                    start = block[1]
            end = chunk.find(b"\n", start)
            if end < 0:
                self._take(chunk[start:])
                if len(self._pending) > MAX_RECORD_BYTES:
                    yield self._overflow()
                return
            piece = chunk[start : end + 1]
            start = end + 1
            self._line += 1
            self._take(piece)
            if len(self._pending) > MAX_RECORD_BYTES:
                yield self._overflow()
            elif self._quotes % 2 == 0:
                yield self._emit()

    def _block(self, chunk: bytes, start: int) -> tuple[list[Record], int] | None:
        """The whole lines of ``chunk`` from ``start`` at once, when they hold no quote (each
        line is then one record) and are UTF-8 and valid CSV: what ``_emit`` would give line
        by line, with one decode and one reader. None: go line by line."""
        last = chunk.rfind(b"\n", start) + 1
        if last <= start or chunk.find(b'"', start, last) >= 0:
            return None
        block = chunk[start:last]
        if len(block) > MAX_RECORD_BYTES and max(map(len, block.split(b"\n"))) >= MAX_RECORD_BYTES:
            return None
        try:
            lines = block.decode("utf-8").split("\n")
        except UnicodeDecodeError:
            return None
        lines.pop()  # after the last newline
        try:
            rows = list(csv.reader([f"{line}\n" for line in lines], strict=True))
        except csv.Error:
            return None
        first = self._line + 1
        records = [
            Record(first + i, cells if line.strip() else [])
            for i, (line, cells) in enumerate(zip(lines, rows, strict=True))
        ]
        self._line += len(lines)
        self._start = self._line + 1
        return records, last

    def finish(self) -> Iterator[Record]:
        if self._pending.strip():
            self._line += 1
            if self._quotes % 2:
                line = self._start
                self._reset()
                yield Record(line, None, "has an unterminated quoted field")
            else:
                yield self._emit()

    def _take(self, piece: bytes) -> None:
        self._pending += piece
        self._quotes += piece.count(b'"')

    def _reset(self) -> None:
        self._pending.clear()
        self._quotes = 0
        self._start = self._line + 1

    def _overflow(self) -> Record:
        line = self._start
        self._reset()
        return Record(line, None, f"is longer than {MAX_RECORD_BYTES} bytes (an unclosed quote?)")

    def _emit(self) -> Record:
        raw, line = bytes(self._pending), self._start
        self._reset()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return Record(line, None, "is not UTF-8 text")
        if not text.strip():
            return Record(line, [])
        try:
            cells = next(csv.reader([text], strict=True))
        except (csv.Error, StopIteration) as exc:
            return Record(line, None, f"is not valid CSV ({exc})")
        return Record(line, cells)


@dataclass(frozen=True)
class Columns:
    """Column index → target field ("email", ..., "attributes.<key>")."""

    targets: dict[int, str]
    header: tuple[str, ...]

    @property
    def width(self) -> int:
        return len(self.header)


def resolve_columns(header: list[str], mapping: Mapping[str, str]) -> Columns:
    """The header's columns as fields; INVALID_ARGUMENT when no column holds the address."""
    if len(header) > MAX_COLUMNS:
        raise InvalidArgument.field("csv_chunk", f"the header has more than {MAX_COLUMNS} columns")
    names = [h.strip() for h in header]
    by_name = {n.lower(): i for i, n in enumerate(names)}
    targets: dict[int, str] = {}
    mapped: set[int] = set()
    for source, target in mapping.items():
        path = f"options.column_mapping[{source!r}]"
        index = by_name.get(source.strip().lower())
        if index is None:
            raise InvalidArgument.field(path, "no such column in the CSV header")
        mapped.add(index)
        if target:
            targets[index] = check_target(path, target)
    for index, name in enumerate(names):
        if index in mapped:
            continue
        lowered = name.lower()
        if lowered in FIELDS:
            targets[index] = lowered
        elif lowered.startswith("attributes."):
            targets[index] = check_target(f"csv header {name!r}", name)
    seen: dict[str, int] = {}
    for index, target in sorted(targets.items()):
        if target in seen:
            raise InvalidArgument.field(
                "options.column_mapping",
                f"columns {names[seen[target]]!r} and {names[index]!r} both map to {target}",
            )
        seen[target] = index
    if "email" not in seen:
        raise InvalidArgument.field(
            "csv_chunk",
            'the CSV has no email column: name one "email" or map a column to email in'
            f" options.column_mapping (header: {', '.join(n[:40] for n in names[:20])})",
        )
    return Columns(targets, tuple(names))


def check_target(path: str, target: str) -> str:
    if target in FIELDS:
        return target
    if target.startswith("attributes."):
        domain.attribute_key(path, target.removeprefix("attributes."))
        return target
    raise InvalidArgument.field(
        path, f"unknown field {target[:64]!r}: one of {', '.join(FIELDS)}, attributes.<key>"
    )


def attribute_types(given: Mapping[str, str]) -> dict[str, str]:
    types = {}
    for key, kind in given.items():
        path = f"options.attribute_types[{key!r}]"
        domain.attribute_key(path, key)
        if kind not in ATTRIBUTE_TYPES:
            raise InvalidArgument.field(path, f"must be one of {', '.join(ATTRIBUTE_TYPES)}")
        types[key] = kind
    return types


@dataclass
class Contact:
    """A valid row, ready for the staging table (person key filled in by the caller)."""

    line: int
    email: str
    email_key: str
    first_name: str = ""
    last_name: str = ""
    locale: str = ""
    timezone: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    attributes_json: str = "{}"  # the attributes as the staging table takes them


@dataclass
class Rejected:
    line: int
    field: str
    reason: str


def typed(kind: str, text: str) -> Any:
    """An attribute's text as its declared type; ValueError with the reason."""
    if kind == "number":
        number = float(text)
        if not math.isfinite(number):
            raise ValueError("is not a finite number")
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == "boolean":
        lowered = text.lower()
        if lowered in TRUE:
            return True
        if lowered in FALSE:
            return False
        raise ValueError("is not true/false (or yes/no, 1/0)")
    if kind == "date":
        return date.fromisoformat(text).isoformat()
    return text


class Validator:
    """Validates rows of one import: the columns, attribute types and tags for every row."""

    def __init__(
        self, columns: Columns | None, types: Mapping[str, str], extra_tags: list[str]
    ) -> None:
        self.columns = columns
        self.types = dict(types)
        self.extra_tags = extra_tags
        self._names: tuple[Columns | None, dict[str, str]] = (None, {})
        self._tags: dict[str, list[str]] = {}  # a tags cell → its tags (files repeat them)

    def _column_names(self, columns: Columns) -> dict[str, str]:
        """Field → the header's name of its column, for the reasons (once per header)."""
        if self._names[0] is not columns:
            self._names = (columns, {t: columns.header[i] for i, t in columns.targets.items()})
        return self._names[1]

    def _row_tags(self, cell: str) -> list[str]:
        found = self._tags.get(cell)
        if found is None:
            given = [t for t in TAG_SEPARATOR.split(cell) if t.strip()]
            found = sorted(set(domain.tags("tags", [*given, *self.extra_tags])))
            if len(self._tags) < MAX_CACHED_TAG_CELLS:
                self._tags[cell] = found
        return found

    def record(self, record: Record) -> Contact | Rejected | None:
        """A CSV record as a contact or a rejection; None for a blank line."""
        if record.cells is None:
            return Rejected(record.line, "", record.problem)
        if not record.cells or all(not c.strip() for c in record.cells):
            return None
        assert self.columns is not None
        if len(record.cells) > self.columns.width:
            return Rejected(
                record.line, "", f"has {len(record.cells)} cells, the header {self.columns.width}"
            )
        values: dict[str, str] = {}
        for index, target in self.columns.targets.items():
            if index < len(record.cells):
                values[target] = record.cells[index]
        return self.values(record.line, values, self._column_names(self.columns))

    def values(
        self, line: int, values: Mapping[str, str], names: Mapping[str, str] | None = None
    ) -> Contact | Rejected:
        names = names or {}
        current = "email"
        try:
            address = domain.email_address("email", values.get("email", ""))
            contact = Contact(line, address.email, address.key)
            current = "first_name"
            contact.first_name = domain.text(
                "first_name", values.get("first_name", ""), limit=domain.MAX_NAME_CHARS
            )
            current = "last_name"
            contact.last_name = domain.text(
                "last_name", values.get("last_name", ""), limit=domain.MAX_NAME_CHARS
            )
            current = "locale"
            contact.locale = domain.locale("locale", values.get("locale", ""))
            current = "timezone"
            contact.timezone = domain.timezone("timezone", values.get("timezone", ""))
            current = "tags"
            contact.tags = self._row_tags(values.get("tags", ""))
            attributes: dict[str, Any] = {}
            for target, text in values.items():
                if not target.startswith("attributes.") or not text.strip():
                    continue
                current = target
                key = target.removeprefix("attributes.")
                try:
                    attributes[key] = typed(self.types.get(key, "text"), text.strip())
                except ValueError as exc:
                    reason = str(exc) if str(exc).startswith("is ") else "is not a valid value"
                    raise InvalidArgument.field(
                        target, f"{reason} for type {self.types[key]}"
                    ) from None
            current = "attributes"
            contact.attributes, contact.attributes_json = domain.attributes_json(
                "attributes", attributes
            )
        except InvalidArgument as exc:
            where, why = exc.violations[0] if exc.violations else (current, str(exc))
            column = names.get(where, names.get(current, where))
            return Rejected(line, column, why)
        return contact
