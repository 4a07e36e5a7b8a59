"""The privacy export as CSV (``export_csv.py``), without a platform: the layout, RFC 4180
quoting and the neutralising of cells a spreadsheet would run as formulas."""

from __future__ import annotations

import csv
import io
import json

from missiva_gateway.export_csv import BOM, export_csv, neutralised, rows

DOCUMENT = {
    "request_id": "r-1",
    "services": [
        {
            "service": "consent",
            "sections": [
                {"name": "consent_state", "content": [{"purpose": "news", "status": "granted"}]},
                {"name": "empty", "content": []},
            ],
        },
        {
            "service": "campaign",
            "complete": True,
            "sections": [
                {
                    "name": "contacts",
                    "content": {
                        "first_name": '=HYPERLINK("http://evil.example","x")',
                        "last_name": 'O\'Brien, "Bob"\nJr',
                        "note": "+1 555",
                        "city": "-Rome",
                        "tag": "@me",
                        "score": -3,
                        "missing": None,
                    },
                }
            ],
        },
    ],
}


def parsed(text: str) -> list[list[str]]:
    assert text.startswith(BOM)
    return list(csv.reader(io.StringIO(text.removeprefix(BOM))))


def test_every_value_is_one_row_named_by_section_and_path() -> None:
    table = parsed(export_csv(json.dumps(DOCUMENT).encode()))
    assert table[0] == ["section", "field", "value"]
    body = {(s, f): v for s, f, v in table[1:]}
    assert body[("export", "request_id")] == "r-1"
    assert body[("consent / consent_state", "[0].purpose")] == "news"
    assert body[("consent / consent_state", "[0].status")] == "granted"
    assert body[("consent / empty", "")] == ""
    assert body[("campaign", "complete")] == "true"
    assert body[("campaign / contacts", "missing")] == ""
    assert len(table) - 1 == len(list(rows(DOCUMENT)))


def test_formulas_are_neutralised_and_quotes_commas_and_line_breaks_survive() -> None:
    table = parsed(export_csv(json.dumps(DOCUMENT).encode()))
    body = {f: v for s, f, v in table[1:] if s == "campaign / contacts"}
    assert body["first_name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert body["note"] == "'+1 555"
    assert body["city"] == "'-Rome"
    assert body["tag"] == "'@me"
    assert body["score"] == "'-3"
    assert body["last_name"] == 'O\'Brien, "Bob"\nJr'  # quoted, quotes doubled, read back whole
    raw = export_csv(json.dumps(DOCUMENT).encode())
    assert '"O\'Brien, ""Bob""\nJr"' in raw
    assert raw.endswith("\r\n")


def test_neutralising_leaves_ordinary_text_alone() -> None:
    assert neutralised("Ada") == "Ada"
    assert neutralised("a=b") == "a=b"
    assert neutralised("\tx") == "'\tx"
    assert neutralised("") == ""
