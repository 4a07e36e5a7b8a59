"""What an import writes to the outbox, per merged chunk: one ``ContactsImported`` with the
contacts it created (not a ``ContactCreated`` each: at a million rows the per-contact events
cost more than the merge) and one ``RecordImportedConsentsCommand`` to consent with every
contact's consent proof (or the double opt-in to start). Also used by ``events.EXAMPLES``."""

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


def contacts_imported(
    account_id: str,
    import_id: str,
    chunk: int,
    created: Sequence[tuple[str, str]],
    list_ids: Sequence[str],
) -> EventEnvelope:
    """The contacts a chunk created, (contact id, person key) each: one event per chunk."""
    message = events_pb2.ContactsImported(import_id=import_id, chunk=chunk, list_ids=list_ids)
    for contact_id, person_key in created:
        message.contacts.add(contact_id=contact_id, person_key=person_key)
    return envelope(
        message,
        subject=CONTACTS_IMPORTED,
        tenant_id=account_id,
        producer=PRODUCER,
        aggregate_id=import_id,
        aggregate_version=chunk,
    )


def imported_consents(
    account_id: str,
    imp: dict[str, Any],
    chunk: int,
    contacts: Sequence[dict[str, Any]],
) -> EventEnvelope:
    """The chunk's consents; ``contacts`` carry contact_id, person_key, line and, for a double
    opt-in, email, locale and the names."""
    options = imp["options"]
    proof = options.get("consentProof", {})
    doi = imp["consent_mode"] == "double_opt_in"
    message = events_pb2.RecordImportedConsentsCommand(
        import_id=imp["id"],
        purpose_id=imp["purpose_id"],
        double_opt_in=doi,
        collected_by=proof.get("collectedBy", ""),
        consent_text=proof.get("consentText", ""),
        chunk=chunk,
    )
    if not doi and proof.get("givenAt"):
        message.given_at.FromJsonString(proof["givenAt"])
    for contact in contacts:
        message.consents.add(
            contact_id=contact["contact_id"],
            person_key=contact["person_key"],
            line=contact["line"],
            email=contact["email"] if doi else "",
            locale=contact["locale"] if doi else "",
            display_name=domain.display_name(contact["first_name"], contact["last_name"])
            if doi
            else "",
        )
    return envelope(
        message,
        subject=RECORD_IMPORTED_CONSENTS,
        tenant_id=account_id,
        producer=PRODUCER,
        aggregate_id=imp["id"],
        aggregate_version=chunk,
    )


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
