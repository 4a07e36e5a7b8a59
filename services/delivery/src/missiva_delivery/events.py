"""Delivery's events and the commands it consumes.

``HANDLERS`` (subject → handler) is what the app registers and what ``tests/contract``
replays: today the transactional send command. ``EXAMPLES()`` returns envelopes built by the
same code that emits them. Events name people by person key, never by address.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from google.protobuf import timestamp_pb2

from missiva.common.v1 import types_pb2
from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva.delivery.v1 import events_pb2
from missiva_delivery import domain, domain_events, feedback
from missiva_platform.bus import ConsumerSpec
from missiva_platform.errors import InvalidArgument
from missiva_platform.events import EventEnvelope, envelope, unpack
from missiva_platform.privacy import DataSection, Erasure, Retained, erasure_reply, export_reply
from missiva_platform.streams import SEND_TRANSACTIONAL_EMAIL, commands_stream

if TYPE_CHECKING:
    from missiva_delivery.core import DeliveryCore
    from missiva_platform.service import ServiceApp

log = logging.getLogger(__name__)

PRODUCER = "delivery"
MESSAGE_SENT = "delivery.message.sent"
MESSAGE_DEFERRED = "delivery.message.deferred"
MESSAGE_BOUNCED = "delivery.message.bounced"

SEND_TRANSACTIONAL_CONSUMER = ConsumerSpec(
    stream=commands_stream("delivery").name,
    durable="delivery-send-transactional",
    filter_subject=SEND_TRANSACTIONAL_EMAIL,
    service="delivery",
)


def _stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def _event(message: Any, subject: str, row: dict[str, Any]) -> EventEnvelope:
    return envelope(
        message,
        subject=subject,
        tenant_id=row["tenant_id"],
        producer=PRODUCER,
        aggregate_id=row["id"],
        aggregate_version=int(row["attempts"]),
    )


def message_sent(row: dict[str, Any], *, resend: bool) -> EventEnvelope:
    return _event(
        events_pb2.MessageSent(
            message_id=row["id"],
            campaign_id=row["campaign_id"],
            batch_id=row["batch_id"],
            contact_id=row["contact_id"],
            person_key=row["person_key"],
            category=row["category"],
            rfc822_message_id=row["rfc822_message_id"],
            resend=resend,
            # The batch's credit hold, so billing commits the send against it (campaign lane).
            credit_reservation_id=row.get("credit_reservation_id") or "",
        ),
        MESSAGE_SENT,
        row,
    )


def message_deferred(row: dict[str, Any], reply: str, next_attempt_at: datetime) -> EventEnvelope:
    return _event(
        events_pb2.MessageDeferred(
            message_id=row["id"],
            campaign_id=row["campaign_id"],
            person_key=row["person_key"],
            smtp_response=reply,
            attempt=int(row["attempts"]),
            next_attempt_at=_stamp(next_attempt_at),
        ),
        MESSAGE_DEFERRED,
        row,
    )


def message_bounced(row: dict[str, Any], reply: str, *, hard: bool) -> EventEnvelope:
    return _event(
        events_pb2.MessageBounced(
            message_id=row["id"],
            campaign_id=row["campaign_id"],
            person_key=row["person_key"],
            bounce_type=pb.BOUNCE_TYPE_HARD if hard else pb.BOUNCE_TYPE_SOFT,
            status_code=domain.enhanced_code(reply),
            diagnostic=reply,
            source=pb.FEEDBACK_SOURCE_SMTP,
        ),
        MESSAGE_BOUNCED,
        row,
    )


# --------------------------------------------------------------------------- consumers


class DeliveryConsumers:
    def __init__(self, core: DeliveryCore | None) -> None:
        self.core = core

    def handlers(self) -> dict[str, Any]:
        return {SEND_TRANSACTIONAL_EMAIL: self.send_transactional}

    async def send_transactional(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        """Queue the message once per (tenant, idempotency key): a redelivered command, or
        the same key sent again, finds the row already there. A command that cannot be sent
        (bad address, unknown category) is recorded FAILED with the reason, not retried."""
        assert self.core is not None, "the consumer needs the app's core"
        command = unpack(event, events_pb2.SendTransactionalCommand)
        tenant = event.tenant_id
        try:
            send = domain.valid_send(
                idempotency_key=command.idempotency_key,
                template_key=command.template_key,
                to_address=command.to_address,
                to_name=command.to_name,
                locale=command.locale,
                variables=dict(command.variables),
                category=command.category,
                person_key=command.person_key,
                requested_by=command.requested_by or event.producer,
            )
        except InvalidArgument as exc:
            if not command.idempotency_key:
                raise  # nothing to record it under: retried, then dead-lettered with why
            log.warning(
                "transactional command refused",
                extra={"event_id": event.event_id, "template_key": command.template_key[:100],
                       "reason": str(exc)},
            )  # fmt: skip
            await self.core.record_refused(
                conn, tenant, command.idempotency_key, command.person_key,
                command.template_key, command.category, f"refused: {exc}",
            )  # fmt: skip
            return
        # The kit commits after the batch; the sender finds the row on its next look.
        await self.core.queue(conn, tenant, send)


def add_consumers(app: ServiceApp, core: DeliveryCore) -> None:
    for subject, handler in DeliveryConsumers(core).handlers().items():
        assert subject == SEND_TRANSACTIONAL_CONSUMER.filter_subject
        app.add_consumer(SEND_TRANSACTIONAL_CONSUMER, handler)


# The subjects delivery consumes. The app registers the same handlers bound to its core
# (``add_consumers``), and those are the ones that run.
HANDLERS: dict[str, Any] = DeliveryConsumers(None).handlers()


# --------------------------------------------------------------------------- examples


def EXAMPLES() -> list[EventEnvelope]:
    """One envelope of each event delivery emits, built by the production builders."""
    row = {
        "id": "0195a3e0-5555-7abc-8def-0123456789ab",
        "tenant_id": "0195a3c2-4b7e-7c1a-9f20-6d1e2a3b4c5d",
        "campaign_id": "",
        "batch_id": "",
        "contact_id": "",
        "person_key": "ab" * 32,
        "category": types_pb2.EMAIL_CATEGORY_SYSTEM,
        "rfc822_message_id": "<0195a3e0-5555-7abc-8def-0123456789ab@missiva.localhost>",
        "attempts": 1,
    }
    request = "0195a6a0-5555-7ef0-b123-456789abcdef"
    erasure = Erasure(erased={"delivery.send_log": 2})
    erasure.retained.append(
        Retained("delivery.suppressions", "a hard-bounced address stays suppressed")
    )
    # A campaign row of the same ledger: what the same builders emit once send batches fill
    # the campaign lane (its consumer reads campaign_id and contact_id).
    campaign_row = {
        **row,
        "campaign_id": "0195a3d1-2222-7abc-8def-0123456789ab",
        "batch_id": "0195a3d1-3333-7abc-8def-0123456789ab",
        "contact_id": "0195a3d1-4444-7abc-8def-0123456789ab",
        "category": types_pb2.EMAIL_CATEGORY_MARKETING,
        "credit_reservation_id": "0195a3d1-5555-7abc-8def-0123456789ab",
    }
    return [
        message_sent(row, resend=False),
        message_sent({**row, "attempts": 2}, resend=True),
        message_sent(campaign_row, resend=False),
        message_bounced(campaign_row, "550 5.1.1 <address>: no such user", hard=True),
        message_deferred(row, "421 4.7.0 Try again later", datetime.now(UTC)),
        message_deferred(campaign_row, "451 4.7.1 Greylisted", datetime.now(UTC)),
        message_bounced(row, "550 5.1.1 <address>: no such user", hard=True),
        *feedback.EXAMPLES(row, campaign_row),
        export_reply(PRODUCER, request, [DataSection("delivery.send_log", "sent mail", b"[]")], ""),
        erasure_reply(PRODUCER, request, erasure, ""),
        *domain_events.examples(),
    ]
