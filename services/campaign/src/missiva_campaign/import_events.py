"""What an import writes to the outbox, per merged chunk: one ``ContactsImported`` with the
contacts it created (not a ``ContactCreated`` each: at a million rows the per-contact events
cost more than the merge) and the ``RecordImportedConsentsCommand``s to consent with every
contact's consent proof (or the double opt-in to start). Also used by ``events.EXAMPLES``.

A chunk's consents and its created contacts (about 110 bytes each) would outgrow NATS's
``max_payload`` (1 MiB by default) at about 9,000 rows, so each is split into as many messages
("parts") as needed for each serialized envelope to stay within a byte budget
(``IMPORT_MESSAGE_BYTES``), measured from the protobuf sizes, not estimated per row. Each part
is its own envelope with its own event id, the key of a consumer's inbox, so a redelivered part
is applied once and the parts of a chunk are independent of each other."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from missiva.campaign.v1 import events_pb2
from missiva_campaign import domain
from missiva_campaign.outgoing import PRODUCER
from missiva_platform.events import EventEnvelope, envelope
from missiva_platform.streams import command_subject, event_subject

RECORD_IMPORTED_CONSENTS = command_subject("consent", "record_imported_consents")
CONTACTS_IMPORTED = event_subject("campaign", "contact", "imported")
# The default budget of one consents command (the settings' default too).
MESSAGE_BYTES = 512 * 1024
# What the sizes measured before filling a part may grow by: the payload's two length prefixes
# (up to 3 more bytes each below 2 MiB) and the part and parts numbers (6 bytes each at most).
_SLACK = 32


def _varint_len(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


def contacts_imported(
    account_id: str,
    import_id: str,
    chunk: int,
    created: Sequence[tuple[str, str]],
    list_ids: Sequence[str],
    *,
    budget: int = MESSAGE_BYTES,
) -> list[EventEnvelope]:
    """The contacts a chunk created, (contact id, person key) each: one event per chunk, or
    per part of it when they outgrow ``budget`` bytes."""
    base = events_pb2.ContactsImported(import_id=import_id, chunk=chunk, list_ids=list_ids)
    items = [
        events_pb2.CreatedContact(contact_id=contact_id, person_key=person_key)
        for contact_id, person_key in created
    ]
    return _in_parts(base, "contacts", items, budget, CONTACTS_IMPORTED, account_id, import_id)


def imported_consents(
    account_id: str,
    imp: dict[str, Any],
    chunk: int,
    contacts: Sequence[dict[str, Any]],
    *,
    budget: int = MESSAGE_BYTES,
) -> list[EventEnvelope]:
    """The chunk's consents, in as few commands as keep each serialized envelope within
    ``budget`` bytes (one consent more than the budget still goes, alone); ``contacts`` carry
    contact_id, person_key, line and, for a double opt-in, email, locale and the names."""
    options = imp["options"]
    proof = options.get("consentProof", {})
    doi = imp["consent_mode"] == "double_opt_in"
    base = events_pb2.RecordImportedConsentsCommand(
        import_id=imp["id"],
        purpose_id=imp["purpose_id"],
        double_opt_in=doi,
        collected_by=proof.get("collectedBy", ""),
        consent_text=proof.get("consentText", ""),
        chunk=chunk,
    )
    if not doi and proof.get("givenAt"):
        base.given_at.FromJsonString(proof["givenAt"])
    items = [
        events_pb2.ImportedConsent(
            contact_id=contact["contact_id"],
            person_key=contact["person_key"],
            line=contact["line"],
            email=contact["email"] if doi else "",
            locale=contact["locale"] if doi else "",
            display_name=domain.display_name(contact["first_name"], contact["last_name"])
            if doi
            else "",
        )
        for contact in contacts
    ]
    return _in_parts(
        base, "consents", items, budget, RECORD_IMPORTED_CONSENTS, account_id, imp["id"]
    )


def _in_parts(
    base: Any,
    field: str,
    items: Sequence[Any],
    budget: int,
    subject: str,
    account_id: str,
    import_id: str,
) -> list[EventEnvelope]:
    """Envelopes of ``base`` with ``items`` in its repeated ``field``, as few as keep each
    serialized envelope within ``budget`` bytes (an item larger than that still goes, alone),
    numbered ``part`` of ``parts``. Sizes are the items' own serialized sizes."""

    def wrap(message: Any) -> EventEnvelope:
        return envelope(
            message,
            subject=subject,
            tenant_id=account_id,
            producer=PRODUCER,
            aggregate_id=import_id,
            aggregate_version=message.chunk,
        )

    tag = _varint_len(base.DESCRIPTOR.fields_by_name[field].number << 3)
    overhead = wrap(base).ByteSize() + _SLACK
    groups: list[list[Any]] = [[]]
    size = overhead
    for item in items:
        length = item.ByteSize()
        cost = tag + _varint_len(length) + length
        if groups[-1] and size + cost > budget:
            groups.append([])
            size = overhead
        groups[-1].append(item)
        size += cost
    events = []
    for number, group in enumerate(groups, start=1):
        message = type(base)()
        message.CopyFrom(base)
        message.part = number
        message.parts = len(groups)
        getattr(message, field).extend(group)
        events.append(wrap(message))
    return events


def example_import(mode: str, given_at: datetime) -> dict[str, Any]:
    """An import row as the store returns it (for the examples and the tests)."""
    return {
        "id": "0195a4f0-7777-7abc-8def-0123456789ab",
        "purpose_id": "0195a3d0-1111-7abc-8def-0123456789ab",
        "consent_mode": mode,
        "options": {
            "consentProof": {
                "collectedBy": "Acme Srl, trade fair stand",
                "givenAt": given_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "consentText": "Yes, send me the Acme newsletter.",
            }
        }
        if mode == "proof"
        else {},
    }
