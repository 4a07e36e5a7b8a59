"""Consumers of consent's ``consent.purpose.*`` events: the consent projection.

Each event sets the (account, person, purpose) state it names, ordered by the envelope's
aggregate version (consent's aggregate is exactly that triple), so a redelivered or late
event never undoes a newer one. ``missiva_campaign_consent_projection_lag_seconds`` observes
event time → applied, the read model's lag. Statistics of the campaign whose link was used
(``campaign_id``) come with the statistics read model.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from missiva.consent.v1 import consent_service_pb2 as consent_pb
from missiva.consent.v1 import events_pb2 as consent_events
from missiva_campaign import form_confirmations, statistics
from missiva_campaign.store import consents
from missiva_platform import metrics
from missiva_platform.events import EventEnvelope, unpack

log = logging.getLogger(__name__)

Handler = Callable[[Any, EventEnvelope, Any], Awaitable[None]]

GRANTED = "consent.purpose.granted"
WITHDRAWN = "consent.purpose.withdrawn"
OBJECTED = "consent.purpose.objected"
RESTRICTED = "consent.purpose.restricted"
RESTRICTION_LIFTED = "consent.purpose.restriction_lifted"

KINDS: dict[int, str] = {
    consent_pb.PURPOSE_KIND_EMAIL: "email",
    consent_pb.PURPOSE_KIND_ENGAGEMENT_TRACKING: "tracking",
}
STATUSES: dict[int, str] = {
    consent_pb.CONSENT_STATUS_NOT_RECORDED: "not_recorded",
    consent_pb.CONSENT_STATUS_PENDING: "pending",
    consent_pb.CONSENT_STATUS_GRANTED: "granted",
    consent_pb.CONSENT_STATUS_WITHDRAWN: "withdrawn",
    consent_pb.CONSENT_STATUS_OBJECTED: "objected",
    consent_pb.CONSENT_STATUS_RESTRICTED: "restricted",
}


def _lag() -> Any:
    return metrics.histogram(
        "consent_projection_lag_seconds",
        "Time from a consent event's occurrence to its application in campaign's projection.",
    )


def _handler(message_type: Any, status_of: Callable[[Any], str | None]) -> Handler:
    async def on_event(conn: Any, event: EventEnvelope, msg: Any) -> None:
        change = unpack(event, message_type)
        status = status_of(change)
        if not event.tenant_id or not change.person_key or not change.purpose_id or not status:
            log.warning(
                "%s without an account, person, purpose or status; skipped", event.event_type
            )
            return
        occurred = (
            event.occurred_at.ToDatetime(UTC)
            if event.HasField("occurred_at")
            else datetime.now(UTC)
        )
        await consents.apply(
            conn,
            account_id=event.tenant_id,
            person_key=change.person_key,
            purpose_id=change.purpose_id,
            status=status,
            kind=KINDS.get(int(getattr(change, "kind", 0)), ""),
            version=event.aggregate_version,
            changed_at=occurred,
        )
        if event.event_type == GRANTED:
            # A form's subscriber becomes a contact once consent confirms.
            await form_confirmations.activate(
                conn, event.tenant_id, change.person_key, change.purpose_id
            )
        through = getattr(change, "campaign_id", None)  # the campaign whose link was used
        if event.event_type == WITHDRAWN and through:
            await statistics.unsubscribed(conn, event.tenant_id, str(through), occurred)
        _lag().observe(max(0.0, (datetime.now(UTC) - occurred).total_seconds()))

    return on_event


HANDLERS: dict[str, Handler] = {
    GRANTED: _handler(consent_events.ConsentGranted, lambda _: "granted"),
    WITHDRAWN: _handler(consent_events.ConsentWithdrawn, lambda _: "withdrawn"),
    OBJECTED: _handler(consent_events.ConsentObjected, lambda _: "objected"),
    RESTRICTED: _handler(consent_events.ConsentRestricted, lambda _: "restricted"),
    RESTRICTION_LIFTED: _handler(
        consent_events.ConsentRestrictionLifted, lambda e: STATUSES.get(int(e.resulting_status))
    ),
}
