"""Delivery's events and the commands it consumes.

``HANDLERS`` (subject → handler) is what the app registers and what ``tests/contract``
replays: the transactional send command, campaign send batches, and consent's suppressions
and purpose blocks (delivery's suppression replica). ``EXAMPLES()`` returns envelopes built by the
same code that emits them. Events name people by person key, never by address.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from google.protobuf import timestamp_pb2

from missiva.campaign.v1 import events_pb2 as campaign_events
from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as consent_pb
from missiva.consent.v1 import events_pb2 as consent_events
from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva.delivery.v1 import events_pb2
from missiva_delivery import batches, domain, domain_events, feedback
from missiva_delivery.hooks_events import queue_message_hooks, with_hooks
from missiva_delivery.store import holds, suppressions
from missiva_delivery.store import tracking as tracking_store
from missiva_platform.bus import ConsumerSpec
from missiva_platform.errors import InvalidArgument
from missiva_platform.events import EventEnvelope, envelope, unpack
from missiva_platform.outbox import add_events
from missiva_platform.privacy import DataSection, Erasure, Retained, erasure_reply, export_reply
from missiva_platform.streams import (
    SEND_BATCH,
    SEND_TRANSACTIONAL_EMAIL,
    commands_stream,
    events_stream,
)

if TYPE_CHECKING:
    from missiva_delivery.core import DeliveryCore
    from missiva_platform.service import ServiceApp

log = logging.getLogger(__name__)

PRODUCER = "delivery"
MESSAGE_SENT = "delivery.message.sent"
MESSAGE_DEFERRED = "delivery.message.deferred"
MESSAGE_BOUNCED = "delivery.message.bounced"
MESSAGE_FAILED = "delivery.message.failed"
MESSAGE_OPENED = "delivery.message.opened"
LINK_CLICKED = "delivery.link.clicked"

CONTACT_SUPPRESSED = "consent.contact.suppressed"
CONTACT_UNSUPPRESSED = "consent.contact.unsuppressed"
PURPOSE_GRANTED = "consent.purpose.granted"
PURPOSE_WITHDRAWN = "consent.purpose.withdrawn"
PURPOSE_OBJECTED = "consent.purpose.objected"
PURPOSE_RESTRICTED = "consent.purpose.restricted"
PURPOSE_RESTRICTION_LIFTED = "consent.purpose.restriction_lifted"
CAMPAIGN_PAUSED = "campaign.campaign.paused"
CAMPAIGN_RESUMED = "campaign.campaign.resumed"
CAMPAIGN_CANCELLED = "campaign.campaign.cancelled"
CONTACT_DELETED = "campaign.contact.deleted"


def consumer_spec(subject: str) -> ConsumerSpec:
    """One durable consumer per subject: the work queue for commands, the producer's events
    stream for events."""
    producer = subject.split(".", 1)[0]
    stream = commands_stream("delivery") if producer == "cmd" else events_stream(producer)
    name = subject.removeprefix("cmd.").replace(".", "-").replace("_", "-")
    return ConsumerSpec(
        stream=stream.name,
        durable=name if name.startswith("delivery-") else f"delivery-{name}",
        filter_subject=subject,
        service="delivery",
    )


SEND_TRANSACTIONAL_CONSUMER = consumer_spec(SEND_TRANSACTIONAL_EMAIL)
SEND_BATCH_CONSUMER = consumer_spec(SEND_BATCH)

SUPPRESSION_REASONS = {
    consent_pb.SUPPRESSION_REASON_UNSUBSCRIBED: "unsubscribed",
    consent_pb.SUPPRESSION_REASON_HARD_BOUNCE: "hard_bounce",
    consent_pb.SUPPRESSION_REASON_COMPLAINT: "complaint",
    consent_pb.SUPPRESSION_REASON_MANUAL: "manual",
    consent_pb.SUPPRESSION_REASON_ERASED: "erased",
}


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


def message_failed(
    row: dict[str, Any], reason: str, *, reply: str = "", suppressed: bool = False
) -> EventEnvelope:
    return _event(
        events_pb2.MessageFailed(
            message_id=row["id"],
            campaign_id=row["campaign_id"],
            batch_id=row["batch_id"],
            contact_id=row["contact_id"],
            person_key=row["person_key"],
            category=row["category"],
            reason=reason[:1000],
            smtp_response=reply[:1000],
            suppressed=suppressed,
            credit_reservation_id=row.get("credit_reservation_id") or "",
        ),
        MESSAGE_FAILED,
        row,
    )


def _engagement(message: Any, subject: str, tenant_id: str, aggregate_id: str) -> EventEnvelope:
    return envelope(message, subject=subject, tenant_id=tenant_id, producer=PRODUCER,
                    aggregate_id=aggregate_id)  # fmt: skip


def message_opened(
    tenant_id: str, campaign_id: str, *, message_id: str = "", person_key: str = "",
    device_class: str = "",
) -> EventEnvelope:  # fmt: skip
    """An open; anonymous (no message, no person, aggregate the campaign) unless the person
    allows engagement tracking. An open is never proof of anything (a client that loads
    images, a privacy proxy that prefetches them)."""
    anonymous = not person_key
    return _engagement(
        events_pb2.MessageOpened(
            message_id="" if anonymous else message_id, campaign_id=campaign_id,
            person_key=person_key, anonymous=anonymous,
            device_class="" if anonymous else device_class,
        ),
        MESSAGE_OPENED, tenant_id, campaign_id if anonymous else message_id,
    )  # fmt: skip


def link_clicked(
    tenant_id: str, campaign_id: str, position: int, url: str, *, message_id: str = "",
    person_key: str = "", device_class: str = "",
) -> EventEnvelope:  # fmt: skip
    """A click on link ``position``; anonymous unless the person allows tracking."""
    anonymous = not person_key
    return _engagement(
        events_pb2.LinkClicked(
            message_id="" if anonymous else message_id, campaign_id=campaign_id,
            person_key=person_key, anonymous=anonymous, position=position, url=url,
            device_class="" if anonymous else device_class,
        ),
        LINK_CLICKED, tenant_id, campaign_id if anonymous else message_id,
    )  # fmt: skip


# --------------------------------------------------------------------------- consumers


class DeliveryConsumers:
    def __init__(self, core: DeliveryCore | None) -> None:
        self.core = core

    def handlers(self) -> dict[str, Any]:
        return {
            SEND_TRANSACTIONAL_EMAIL: self.send_transactional,
            SEND_BATCH: self.send_batch,
            CONTACT_SUPPRESSED: self.contact_suppressed,
            CONTACT_UNSUPPRESSED: self.contact_unsuppressed,
            PURPOSE_GRANTED: self.purpose_allowed,
            PURPOSE_WITHDRAWN: self.purpose_blocked,
            PURPOSE_OBJECTED: self.purpose_blocked,
            PURPOSE_RESTRICTED: self.purpose_blocked,
            PURPOSE_RESTRICTION_LIFTED: self.restriction_lifted,
            CAMPAIGN_PAUSED: self.campaign_paused,
            CAMPAIGN_RESUMED: self.campaign_resumed,
            CAMPAIGN_CANCELLED: self.campaign_cancelled,
            CONTACT_DELETED: self.contact_deleted,
        }

    async def contact_deleted(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        """A deleted contact gets nothing more from batches already handed over."""
        deleted = unpack(event, campaign_events.ContactDeleted)
        if not event.tenant_id or not deleted.contact_id:
            log.warning("campaign.contact.deleted without an account or contact; skipped",
                        extra={"event_id": event.event_id})  # fmt: skip
            return
        gone = await holds.cancel_contact(conn, event.tenant_id, deleted.contact_id)
        if gone:
            log.info("a deleted contact's messages cancelled", extra={"failed": gone})

    async def _campaign_state(self, conn: Any, event: EventEnvelope, message: Any,
                              state: str) -> str | None:  # fmt: skip
        campaign_id = message.campaign_id
        if not event.tenant_id or not campaign_id:
            log.warning("a campaign event without an account or campaign; skipped",
                        extra={"event_id": event.event_id})  # fmt: skip
            return None
        if not await holds.apply(conn, event.tenant_id, campaign_id, state,
                                 event.aggregate_version):  # fmt: skip
            return None  # an older event, or the campaign was cancelled already
        return str(campaign_id)

    async def campaign_paused(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        """Hold the campaign's waiting rows: a pause (or an abuse screening stop) also stops
        batches already handed over; rows being sent go on."""
        paused = unpack(event, campaign_events.CampaignPaused)
        if campaign_id := await self._campaign_state(conn, event, paused, "paused"):
            held = await holds.hold(conn, event.tenant_id, campaign_id)
            log.info("campaign paused", extra={"campaign_id": campaign_id, "held": held})

    async def campaign_resumed(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        resumed = unpack(event, campaign_events.CampaignResumed)
        if campaign_id := await self._campaign_state(conn, event, resumed, "running"):
            released = await holds.release(conn, event.tenant_id, campaign_id)
            log.info("campaign resumed", extra={"campaign_id": campaign_id, "released": released})
            if self.core is not None:
                self.core.wake()

    async def campaign_cancelled(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        cancelled = unpack(event, campaign_events.CampaignCancelled)
        if campaign_id := await self._campaign_state(conn, event, cancelled, "cancelled"):
            gone = await holds.cancel(conn, event.tenant_id, campaign_id)
            log.info("campaign cancelled", extra={"campaign_id": campaign_id, "failed": gone})

    async def send_batch(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        """One ledger row per recipient, once per (campaign, contact): a redelivered batch
        inserts nothing twice. A batch that cannot be recorded at all (no campaign, content
        or sender) raises: retried, then dead-lettered with the reason."""
        assert self.core is not None, "the consumer needs the app's core"
        if not event.tenant_id:
            raise InvalidArgument.field("envelope.tenant_id", "a batch belongs to an account")
        batch = batches.valid_batch(unpack(event, campaign_events.SendBatch))
        refused = await self.core.queue_batch(conn, event.tenant_id, batch)
        if refused:
            failed = [message_failed(r, r["failure_reason"]) for r in refused]
            await add_events(conn, failed)
            if await queue_message_hooks(conn, failed):
                self.core.hooks_wake()
        log.info(
            "campaign batch queued",
            extra={"campaign_id": batch.campaign_id, "batch_id": batch.batch_id,
                   "recipients": len(batch.recipients), "refused": len(refused)},
        )  # fmt: skip
        self.core.wake()

    async def contact_suppressed(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        entry = unpack(event, consent_events.ContactSuppressed)
        await self._suppression(conn, event, entry, active=True, platform=entry.platform_wide)

    async def contact_unsuppressed(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        entry = unpack(event, consent_events.ContactUnsuppressed)
        await self._suppression(conn, event, entry, active=False, platform=not event.tenant_id)

    async def _suppression(
        self, conn: Any, event: EventEnvelope, entry: Any, *, active: bool, platform: bool
    ) -> None:
        reason = SUPPRESSION_REASONS.get(entry.reason)
        tenant = "" if platform else event.tenant_id
        if (
            not domain.is_person_key(entry.person_key)
            or reason is None
            or (not tenant and not platform)
        ):
            log.warning("a consent suppression event without a person, reason or scope; skipped",
                        extra={"event_id": event.event_id})  # fmt: skip
            return
        await suppressions.apply_block(
            conn, tenant_id=tenant, person_key=entry.person_key, purpose_id=entry.purpose_id,
            source=f"suppression:{reason}", active=active, version=event.aggregate_version,
        )  # fmt: skip

    async def _purpose(self, conn: Any, event: EventEnvelope, entry: Any, blocked: bool) -> None:
        if (
            not domain.is_person_key(entry.person_key)
            or not entry.purpose_id
            or not (event.tenant_id)
        ):
            log.warning("a consent purpose event without a person, purpose or account; skipped",
                        extra={"event_id": event.event_id})  # fmt: skip
            return
        # An engagement-tracking purpose: its withdrawal makes later opens and clicks of the
        # person anonymous (store.tracking); it never stops mail.
        kind = getattr(entry, "kind", consent_pb.PURPOSE_KIND_UNSPECIFIED)
        source = "purpose"
        if kind == consent_pb.PURPOSE_KIND_ENGAGEMENT_TRACKING:
            source = tracking_store.TRACKING_BLOCK
        await suppressions.apply_block(
            conn, tenant_id=event.tenant_id, person_key=entry.person_key,
            purpose_id=entry.purpose_id, source=source, active=blocked,
            version=event.aggregate_version,
        )  # fmt: skip

    async def purpose_blocked(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        """Withdrawn, objected or restricted: no more mail of that purpose from the account
        (a running campaign included), until consent says otherwise."""
        kinds = {
            PURPOSE_WITHDRAWN: consent_events.ConsentWithdrawn,
            PURPOSE_OBJECTED: consent_events.ConsentObjected,
            PURPOSE_RESTRICTED: consent_events.ConsentRestricted,
        }
        await self._purpose(conn, event, unpack(event, kinds[event.event_type]), True)

    async def purpose_allowed(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        await self._purpose(conn, event, unpack(event, consent_events.ConsentGranted), False)

    async def restriction_lifted(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        lifted = unpack(event, consent_events.ConsentRestrictionLifted)
        allowed = lifted.resulting_status == consent_pb.CONSENT_STATUS_GRANTED
        await self._purpose(conn, event, lifted, not allowed)

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
    for subject, handler in with_hooks(DeliveryConsumers(core).handlers(), core).items():
        app.add_consumer(consumer_spec(subject), handler)


# The subjects delivery consumes (with the webhook sources of hooks_events.py). The app
# registers the same handlers bound to its core (``add_consumers``), and those are the ones
# that run.
HANDLERS: dict[str, Any] = with_hooks(DeliveryConsumers(None).handlers(), None)


# --------------------------------------------------------------------------- examples


def _engagement_examples() -> list[EventEnvelope]:
    tenant = "0195a3c2-4b7e-7c1a-9f20-6d1e2a3b4c5d"
    campaign = "0195a3d1-2222-7abc-8def-0123456789ab"
    message, person = "0195a3e0-5555-7abc-8def-0123456789ab", "ab" * 32
    url = "https://bottegarossi.example/spring"
    return [
        message_opened(tenant, campaign, message_id=message, person_key=person,
                       device_class="mobile"),
        message_opened(tenant, campaign),
        link_clicked(tenant, campaign, 2, url, message_id=message, person_key=person,
                     device_class="desktop"),
        link_clicked(tenant, campaign, 2, url),
    ]  # fmt: skip


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
        message_failed(campaign_row, "suppressed (unsubscribed)", suppressed=True),
        message_failed(campaign_row, "refused", reply="550 5.1.1 <address>: no such user"),
        *feedback.EXAMPLES(row, campaign_row),
        *_engagement_examples(),
        export_reply(PRODUCER, request, [DataSection("delivery.send_log", "sent mail", b"[]")], ""),
        erasure_reply(PRODUCER, request, erasure, ""),
        *domain_events.examples(),
    ]
