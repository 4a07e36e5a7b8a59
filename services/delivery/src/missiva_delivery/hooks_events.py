"""Outbound webhooks, the sources: the bus events that become public webhook events.

Delivery's own message events, consent's unsubscribes and withdrawals, and campaign's
lifecycle events are mapped to the public payload (``hooks_domain.body``) and one delivery
row is queued per enabled endpoint of the account that receives the type, in the
consumer's transaction, once per (event, endpoint): a redelivered bus event queues nothing
twice. A subject delivery already consumes gets the webhook step after its own handler
(``with_hooks``), so one durable consumer does both.

Payloads name people by the account's own contact id (from its campaign mail) and the
message id, never by address or person key: delivery forgets an address once its message
is final, and a person key is internal. Mail the account did not send (a password reset by
identity) is not reported.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from missiva.campaign.v1 import events_pb2 as campaign_events
from missiva.consent.v1 import consent_service_pb2 as consent_pb
from missiva.consent.v1 import events_pb2 as consent_events
from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva.delivery.v1 import events_pb2
from missiva.identity.v1 import events_pb2 as identity_events
from missiva_delivery import hooks_domain as hd
from missiva_delivery.store import hooks as store
from missiva_platform.events import EventEnvelope, unpack

if TYPE_CHECKING:
    from missiva_delivery.core import DeliveryCore

log = logging.getLogger(__name__)

Handler = Callable[[Any, EventEnvelope, Any], Awaitable[None]]

MESSAGE_SENT = "delivery.message.sent"
MESSAGE_DEFERRED = "delivery.message.deferred"
MESSAGE_BOUNCED = "delivery.message.bounced"
MESSAGE_COMPLAINED = "delivery.message.complained"
MESSAGE_FAILED = "delivery.message.failed"
CONTACT_SUPPRESSED = "consent.contact.suppressed"
PURPOSE_WITHDRAWN = "consent.purpose.withdrawn"
PURPOSE_OBJECTED = "consent.purpose.objected"
CAMPAIGN_STARTED = "campaign.campaign.started"
CAMPAIGN_PAUSED = "campaign.campaign.paused"
CAMPAIGN_COMPLETED = "campaign.campaign.completed"
CAMPAIGN_CANCELLED = "campaign.campaign.cancelled"
ACCOUNT_ERASED = "identity.account.erased"

BOUNCE_CLASS = {
    pb.BOUNCE_TYPE_HARD: "hard",
    pb.BOUNCE_TYPE_SOFT: "soft",
    pb.BOUNCE_TYPE_BLOCKED: "blocked",
}
SOURCES = {
    pb.FEEDBACK_SOURCE_SMTP: "smtp",
    pb.FEEDBACK_SOURCE_DSN: "dsn",
    pb.FEEDBACK_SOURCE_ARF: "arf",
    pb.FEEDBACK_SOURCE_WEBHOOK: "provider",
}


def _created(event: EventEnvelope) -> datetime:
    if event.HasField("occurred_at"):
        return event.occurred_at.ToDatetime(tzinfo=UTC)
    return datetime.now(UTC)


def _consent_source(value: int) -> str:
    try:
        return str(consent_pb.ConsentSource.Name(value)).removeprefix("CONSENT_SOURCE_").lower()  # type: ignore[arg-type]
    except ValueError:
        return "unspecified"


MESSAGE_KINDS: dict[str, tuple[str, Any]] = {
    MESSAGE_SENT: ("message.sent", events_pb2.MessageSent),
    MESSAGE_DEFERRED: ("message.deferred", events_pb2.MessageDeferred),
    MESSAGE_BOUNCED: ("message.bounced", events_pb2.MessageBounced),
    MESSAGE_COMPLAINED: ("message.complained", events_pb2.MessageComplained),
    MESSAGE_FAILED: ("message.failed", events_pb2.MessageFailed),
}


def _message_data(event_type: str, message: Any, row: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "message_id": message.message_id,
        "campaign_id": row["campaign_id"] or None,
        "contact_id": row["contact_id"] or None,
        "template_key": row["template_key"] or None,
    }
    if event_type == "message.sent":
        data["resend"] = bool(message.resend)
    elif event_type == "message.deferred":
        data["smtp_response"] = message.smtp_response[:500]
        data["attempt"] = int(message.attempt)
        if message.HasField("next_attempt_at"):
            data["next_attempt_at"] = message.next_attempt_at.ToDatetime(tzinfo=UTC).isoformat()
    elif event_type == "message.bounced":
        data["bounce_class"] = BOUNCE_CLASS.get(message.bounce_type, "unspecified")
        data["status_code"] = message.status_code
        data["diagnostic"] = message.diagnostic[:500]
        data["source"] = SOURCES.get(message.source, "unspecified")
    elif event_type == "message.complained":
        data["feedback_type"] = message.feedback_type
        data["source"] = SOURCES.get(message.source, "unspecified")
    else:
        data["reason"] = message.reason[:500]
        data["suppressed"] = bool(message.suppressed)
    return data


async def queue_message_hooks(conn: Any, events: list[EventEnvelope]) -> int:
    """The webhook deliveries of delivery's own message events, in the caller's transaction
    (the one that records the outcomes and adds the events to the outbox): one endpoint
    query for all of them, and only when an endpoint receives one of their types a ledger
    read and one INSERT for the lot, once per (event, endpoint). Returns the rows made."""
    mine = [e for e in events if e.tenant_id and e.event_type in MESSAGE_KINDS]
    if not mine:
        return 0
    endpoints = await store.subscriptions(conn, sorted({e.tenant_id for e in mine}))
    if not endpoints:
        return 0  # the common case: no endpoint of these accounts wants message events
    wanted: list[tuple[EventEnvelope, str, Any, list[str]]] = []
    for event in mine:
        event_type, message_type = MESSAGE_KINDS[event.event_type]
        ids = [eid for eid, types in endpoints.get(event.tenant_id, []) if event_type in types]
        if ids:
            wanted.append((event, event_type, unpack(event, message_type), ids))
    if not wanted:
        return 0
    ledger = await store.messages_of(conn, [(e.tenant_id, m.message_id) for e, _, m, _ in wanted])
    rows: list[store.NewDelivery] = []
    for event, event_type, message, ids in wanted:
        row = ledger.get((event.tenant_id, message.message_id))
        if row is None or not (row["campaign_id"] or row["requested_by"] == "api"):
            continue  # not the account's own mail (or long forgotten)
        public_id = hd.event_id(event.event_id)
        body = hd.body(
            event_id_=public_id, event_type=event_type, created_at=_created(event),
            account_id=event.tenant_id, data=_message_data(event_type, message, row),
        )  # fmt: skip
        person_key = row["person_key"]
        rows += [
            store.NewDelivery(event.tenant_id, eid, public_id, event_type, person_key, body)
            for eid in ids
        ]
    return await store.enqueue_many(conn, rows)


class HookSources:
    """The webhook step of each source subject (``wake`` tells the worker to look now)."""

    def __init__(self, wake: Callable[[], None] | None = None) -> None:
        self.wake = wake

    def handlers(self) -> dict[str, Handler]:
        """Other services' subjects only: delivery's own message events get their webhook
        deliveries where they are recorded (``queue_message_hooks``), not consumed again."""
        return {
            CONTACT_SUPPRESSED: self.contact_suppressed,
            PURPOSE_WITHDRAWN: self.consent_withdrawn,
            PURPOSE_OBJECTED: self.consent_withdrawn,
            CAMPAIGN_STARTED: self.campaign_event,
            CAMPAIGN_PAUSED: self.campaign_event,
            CAMPAIGN_COMPLETED: self.campaign_event,
            CAMPAIGN_CANCELLED: self.campaign_event,
            ACCOUNT_ERASED: self.account_erased,
        }

    async def publish(
        self, conn: Any, event: EventEnvelope, event_type: str, data: dict[str, Any],
        person_key: str = "",
    ) -> int:  # fmt: skip
        """Queue the public event for the account's endpoints that receive it."""
        endpoints = await store.subscribed(conn, event.tenant_id, event_type)
        if not endpoints:
            return 0
        public_id = hd.event_id(event.event_id)
        body = hd.body(
            event_id_=public_id, event_type=event_type, created_at=_created(event),
            account_id=event.tenant_id, data=data,
        )  # fmt: skip
        made = await store.enqueue(
            conn, tenant_id=event.tenant_id, endpoint_ids=endpoints, event_id=public_id,
            event_type=event_type, person_key=person_key, body=body,
        )  # fmt: skip
        if made and self.wake is not None:
            self.wake()
        return len(made)

    # -- delivery's messages --------------------------------------------------------------

    async def message_event(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        """One message event's webhook deliveries (what ``queue_message_hooks`` does for
        many in the transaction that records them)."""
        made = await queue_message_hooks(conn, [event])
        if made and self.wake is not None:
            self.wake()

    # -- consent --------------------------------------------------------------------------

    async def contact_suppressed(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        entry = unpack(event, consent_events.ContactSuppressed)
        if not event.tenant_id or entry.reason != consent_pb.SUPPRESSION_REASON_UNSUBSCRIBED:
            return
        if not await store.subscribed(conn, event.tenant_id, "contact.unsubscribed"):
            return
        data = {
            "contact_id": await store.contact_of(conn, event.tenant_id, entry.person_key) or None,
            "purpose_id": entry.purpose_id or None,
            "source": _consent_source(entry.source),
        }
        await self.publish(conn, event, "contact.unsubscribed", data, entry.person_key)

    async def consent_withdrawn(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        objected = event.event_type == PURPOSE_OBJECTED
        kind: Any = consent_events.ConsentObjected if objected else consent_events.ConsentWithdrawn
        entry: Any = unpack(event, kind)
        if not event.tenant_id or not entry.person_key:
            return
        if not await store.subscribed(conn, event.tenant_id, "consent.withdrawn"):
            return
        data = {
            "contact_id": await store.contact_of(conn, event.tenant_id, entry.person_key) or None,
            "purpose_id": entry.purpose_id,
            "purpose_key": entry.purpose_key,
            "campaign_id": entry.campaign_id or None,
            "kind": "objected" if objected else "withdrawn",
            "source": _consent_source(entry.source),
        }
        await self.publish(conn, event, "consent.withdrawn", data, entry.person_key)

    # -- campaign -------------------------------------------------------------------------

    async def campaign_event(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        if not event.tenant_id:
            return
        data: dict[str, Any]
        if event.event_type == CAMPAIGN_STARTED:
            started = unpack(event, campaign_events.CampaignStarted)
            event_type = "campaign.started"
            data = {"campaign_id": started.campaign_id,
                    "recipient_count": int(started.recipient_count)}  # fmt: skip
        elif event.event_type == CAMPAIGN_PAUSED:
            paused = unpack(event, campaign_events.CampaignPaused)
            event_type = "campaign.paused"
            data = {"campaign_id": paused.campaign_id, "reason": paused.reason}
        elif event.event_type == CAMPAIGN_COMPLETED:
            done = unpack(event, campaign_events.CampaignCompleted)
            event_type = "campaign.completed"
            data = {"campaign_id": done.campaign_id, "sent_count": int(done.sent_count),
                    "suppressed_count": int(done.suppressed_count),
                    "failed_count": int(done.failed_count)}  # fmt: skip
        else:
            cancelled = unpack(event, campaign_events.CampaignCancelled)
            event_type = "campaign.cancelled"
            data = {"campaign_id": cancelled.campaign_id, "reason": cancelled.reason,
                    "sent_count": int(cancelled.sent_count)}  # fmt: skip
        if data["campaign_id"]:
            await self.publish(conn, event, event_type, data)

    # -- identity -------------------------------------------------------------------------

    async def account_erased(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        """An erased account's endpoints (secrets included) and deliveries go."""
        erased = unpack(event, identity_events.AccountErased)
        if not erased.account_id:
            log.warning("identity.account.erased without an account id; skipped")
            return
        gone = await store.delete_tenant(conn, erased.account_id)
        if gone:
            log.info("an erased account's webhook endpoints deleted", extra={"endpoints": gone})


def with_hooks(handlers: dict[str, Handler], core: DeliveryCore | None) -> dict[str, Handler]:
    """``handlers`` with each source subject's webhook step: after the subject's own handler
    where delivery has one, on its own otherwise (one consumer per subject either way)."""
    wake = core.hooks_wake if core is not None else None
    merged = dict(handlers)
    for subject, hook in HookSources(wake).handlers().items():
        first = merged.get(subject)
        merged[subject] = hook if first is None else _chain(first, hook)
    return merged


def _chain(first: Handler, then: Handler) -> Handler:
    async def both(conn: Any, event: EventEnvelope, msg: Any) -> None:
        await first(conn, event, msg)
        await then(conn, event, msg)

    both.__name__ = getattr(first, "__name__", "handler")
    both.__doc__ = getattr(first, "__doc__", None)
    return both
