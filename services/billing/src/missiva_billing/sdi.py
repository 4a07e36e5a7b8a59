"""Transmission to the SDI (the Italian exchange system) through an intermediary.

``SdiChannel`` is what an intermediary offers: take a FatturaPA file, hand back the SDI's
receipts. ``FolderDrop`` is the embedded default: files are written (atomically) into
``SDI_OUTBOX_DIR`` for the intermediary's agent to pick up, and the SDI's receipts it leaves
in ``SDI_INBOX_DIR`` are read from there, then moved to ``processed/``.

Receipts are the SDI's own XML messages, named ``<file>_<type>_<n>.xml``; each names the
invoice file (``NomeFile``):

- ``RC`` (ricevuta di consegna): delivered to the recipient → ``delivered``;
- ``MC`` (mancata consegna): not delivered, but the invoice is issued and waits in the
  recipient's tax drawer → ``delivered``;
- ``NS`` (notifica di scarto): rejected, with the SDI's error codes (``ListaErrori``) →
  ``rejected`` (to be corrected and sent again within 5 days).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from defusedxml import ElementTree as SafeET

log = logging.getLogger(__name__)

OUTCOMES = {"RC": "delivered", "MC": "delivered", "NS": "rejected"}
_RECEIPT_NAME = re.compile(r"^(?P<file>[A-Za-z0-9]+_[A-Za-z0-9]{5})_(?P<type>[A-Z]{2})_\d{3}\.xml$")


@dataclass(frozen=True)
class Receipt:
    """An SDI receipt for one of our files."""

    source: str  # where it came from (a path for FolderDrop)
    file_name: str  # the invoice file it is about
    kind: str  # RC, MC, NS
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return OUTCOMES[self.kind]


class SdiChannel(Protocol):
    def send(self, file_name: str, content: bytes) -> None: ...

    def receipts(self) -> list[Receipt]: ...

    def done(self, receipt: Receipt) -> None: ...


class ReceiptError(ValueError):
    """A receipt file that cannot be read (left where it is, reported)."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_receipt(source: str, name: str, content: bytes) -> Receipt:
    matched = _RECEIPT_NAME.match(name)
    if matched is None or matched["type"] not in OUTCOMES:
        raise ReceiptError(f"{name}: not an SDI receipt name (<file>_RC|MC|NS_<n>.xml)")
    try:
        root = SafeET.fromstring(content)
    except SafeET.ParseError as exc:
        raise ReceiptError(f"{name}: not XML ({exc})") from None
    named = next((e.text for e in root.iter() if _local(e.tag) == "NomeFile"), None)
    if not named:
        raise ReceiptError(f"{name}: no NomeFile")
    errors = []
    for element in root.iter():
        if _local(element.tag) == "Errore":
            parts = {_local(c.tag): (c.text or "").strip() for c in element}
            errors.append(
                {"code": parts.get("Codice", ""), "description": parts.get("Descrizione", "")}
            )
    return Receipt(source, named.strip(), matched["type"], errors)


class FolderDrop:
    """The folder-drop intermediary (see the module's doc)."""

    def __init__(self, outbox: str | Path, inbox: str | Path) -> None:
        self.outbox = Path(outbox)
        self.inbox = Path(inbox)

    def send(self, file_name: str, content: bytes) -> None:
        self.outbox.mkdir(parents=True, exist_ok=True)
        target = self.outbox / file_name
        temp = self.outbox / f".{file_name}.tmp"
        temp.write_bytes(content)
        os.replace(temp, target)  # the agent never sees half a file

    def receipts(self) -> list[Receipt]:
        if not self.inbox.is_dir():
            return []
        found = []
        for path in sorted(self.inbox.glob("*.xml")):
            try:
                found.append(parse_receipt(str(path), path.name, path.read_bytes()))
            except ReceiptError as exc:
                log.error("sdi: a receipt was left unread: %s", exc)
        return found

    def done(self, receipt: Receipt) -> None:
        path = Path(receipt.source)
        processed = self.inbox / "processed"
        processed.mkdir(exist_ok=True)
        os.replace(path, processed / path.name)
