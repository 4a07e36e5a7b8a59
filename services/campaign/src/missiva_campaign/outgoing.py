"""What campaign writes to the outbox: contact events (person keys, never addresses) and the
commands it sends (document notices to delivery, and its own notice continuations).

The builders here are what the service emits and what ``events.EXAMPLES`` shows the contract
tests, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC
from typing import Any

from missiva.campaign.v1 import events_pb2
from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2
from missiva.delivery.v1 import events_pb2 as delivery_events
from missiva_campaign import domain
from missiva_platform.events import EventEnvelope, envelope
from missiva_platform.streams import (
    SEND_DOCUMENT_NOTICE,
    SEND_TRANSACTIONAL_EMAIL,
    event_subject,
)

PRODUCER = "campaign"

CONTACT_CREATED = event_subject("campaign", "contact", "created")
CONTACT_UPDATED = event_subject("campaign", "contact", "updated")
CONTACT_DELETED = event_subject("campaign", "contact", "deleted")

# The transactional template delivery renders for a document notice, and its variables.
DOCUMENT_NOTICE_TEMPLATE = "campaign.document_notice"
DOCUMENT_NOTICE_VARIABLES = (
    "document_id",
    "document_kind",
    "document_title",
    "version",
    "effective_date",
    "effective_at",
    "published_date",
    "document_url",
    "summary_of_changes",
    "first_name",
    "last_name",
    "display_name",
)


def _contact_envelope(message: Any, subject: str, row: dict[str, Any]) -> EventEnvelope:
    return envelope(
        message,
        subject=subject,
        tenant_id=row["account_id"],
        producer=PRODUCER,
        aggregate_id=row["id"],
        aggregate_version=int(row["version"]),
    )


def contact_created(row: dict[str, Any], list_ids: Iterable[str] = ()) -> EventEnvelope:
    message = events_pb2.ContactCreated(
        contact_id=row["id"],
        person_key=row["person_key"],
        source=domain.SOURCE_VALUES[row["source"]],  # type: ignore[arg-type]
        list_ids=list(list_ids),
    )
    return _contact_envelope(message, CONTACT_CREATED, row)


def contact_updated(
    row: dict[str, Any],
    changed: Iterable[str],
    previous_person_key: str = "",
    *,
    by_data_subject: bool = False,
) -> EventEnvelope:
    message = events_pb2.ContactUpdated(
        contact_id=row["id"],
        person_key=row["person_key"],
        changed_fields=list(changed),
        previous_person_key=previous_person_key,
        by_data_subject=by_data_subject,
    )
    return _contact_envelope(message, CONTACT_UPDATED, row)


def contact_deleted(row: dict[str, Any]) -> EventEnvelope:
    message = events_pb2.ContactDeleted(contact_id=row["id"], person_key=row["person_key"])
    return _contact_envelope(message, CONTACT_DELETED, row)


# ---------------------------------------------------------------------- document notices


def kind_name(kind: int) -> str:
    """``DOCUMENT_KIND_ACCOUNT_PRIVACY_NOTICE`` → ``account_privacy_notice``."""
    try:
        name = consent_service_pb2.DocumentKind.Name(kind)  # type: ignore[arg-type]
    except ValueError:
        return "unspecified"
    return name.removeprefix("DOCUMENT_KIND_").lower()


def notice_key(account_id: str, notice: Any, contact_id: str) -> str:
    """Delivery's idempotency key: one email per (account, document, version, contact)."""
    return ":".join(
        ("campaign:document_notice", account_id, notice.document_id, notice.version, contact_id)
    )


def notice_variables(notice: Any, contact: dict[str, Any]) -> dict[str, str]:
    effective = notice.effective_at.ToDatetime(UTC)
    published = notice.published_at.ToDatetime(UTC)
    return {
        "document_id": notice.document_id,
        "document_kind": kind_name(notice.kind),
        "document_title": notice.title,
        "version": notice.version,
        "effective_date": effective.date().isoformat(),
        "effective_at": effective.isoformat().replace("+00:00", "Z"),
        "published_date": published.date().isoformat(),
        "document_url": notice.url,
        "summary_of_changes": notice.summary_of_changes,
        "first_name": contact["first_name"],
        "last_name": contact["last_name"],
        "display_name": domain.display_name(contact["first_name"], contact["last_name"]),
    }


def document_notice_email(
    account_id: str, notice: Any, contact: dict[str, Any], locale: str
) -> EventEnvelope:
    """The SYSTEM email telling one contact about the change, as a command to delivery."""
    command = delivery_events.SendTransactionalCommand(
        idempotency_key=notice_key(account_id, notice, contact["id"]),
        template_key=DOCUMENT_NOTICE_TEMPLATE,
        to_address=contact["email"],
        to_name=domain.display_name(contact["first_name"], contact["last_name"]),
        locale=locale,
        variables=notice_variables(notice, contact),
        category=types_pb2.EMAIL_CATEGORY_SYSTEM,
        person_key=contact["person_key"],
        requested_by=PRODUCER,
    )
    return envelope(
        command, subject=SEND_TRANSACTIONAL_EMAIL, tenant_id=account_id, producer=PRODUCER
    )


def notice_continuation(account_id: str, notice: Any, after_contact_id: str) -> EventEnvelope:
    """The same notice command, resuming after ``after_contact_id`` (the next batch)."""
    command = events_pb2.SendDocumentNoticeCommand()
    command.CopyFrom(notice)
    command.resume_after_contact_id = after_contact_id
    return envelope(command, subject=SEND_DOCUMENT_NOTICE, tenant_id=account_id, producer=PRODUCER)
