"""The privacy export as one CSV file: the same data as the JSON download, for a spreadsheet.

One row per value, three columns: ``section`` (the service and its section, ``consent /
consent_state``), ``field`` (the path inside it, ``[0].purpose``) and ``value`` (text; a
nested object or list becomes more rows, an empty one a row with an empty value). Quoting is
the ``csv`` module's (RFC 4180: a cell with a comma, quote or line break is quoted, quotes
doubled). A cell a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) gets a leading apostrophe, so it is shown as text (OWASP
"CSV injection"): the export holds what strangers typed into forms.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

HEADER = ("section", "field", "value")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"  # spreadsheets read the file as UTF-8 only with it


def neutralised(cell: str) -> str:
    """``cell`` as text a spreadsheet will not evaluate."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flatten(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        if not value:
            yield path, ""
        for key, item in value.items():
            yield from _flatten(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        if not value:
            yield path, ""
        for index, item in enumerate(value):
            yield from _flatten(item, f"{path}[{index}]")
    else:
        yield path, _scalar(value)


def rows(document: Any) -> Iterator[tuple[str, str, str]]:
    """``(section, field, value)`` for every value of an export document."""
    if not isinstance(document, dict):
        for field, value in _flatten(document, ""):
            yield "export", field, value
        return
    for key, content in document.items():
        if key == "services" and isinstance(content, list):
            for part in content:
                yield from _service_rows(part)
            continue
        for field, value in _flatten(content, str(key)):
            yield "export", field, value


def _service_rows(part: Any) -> Iterator[tuple[str, str, str]]:
    if not isinstance(part, dict):
        for field, value in _flatten(part, ""):
            yield "services", field, value
        return
    service = str(part.get("service") or "service")
    for key, content in part.items():
        if key == "service":
            continue
        if key == "sections" and isinstance(content, list):
            for section in content:
                name = section.get("name") if isinstance(section, dict) else None
                if name is None:
                    for field, value in _flatten(section, ""):
                        yield service, field, value
                    continue
                for field, value in _flatten(section.get("content"), ""):
                    yield f"{service} / {name}", field, value
            continue
        for field, value in _flatten(content, key):
            yield service, field, value


def export_csv(bundle: bytes) -> str:
    """The JSON export ``bundle`` as CSV text (with a BOM, CRLF line ends)."""
    document = json.loads(bundle)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for section, field, value in rows(document):
        writer.writerow((neutralised(section), neutralised(field), neutralised(value)))
    return BOM + out.getvalue()
