"""Delivery's Prometheus metrics (``missiva_delivery_*``), by lane."""

from __future__ import annotations

from typing import TYPE_CHECKING

from missiva_delivery.domain import Status
from missiva_delivery.store import messages
from missiva_platform import metrics

if TYPE_CHECKING:
    from missiva_delivery.core import DeliveryCore

_LANE = ("lane",)


class DeliveryMetrics:
    def __init__(self) -> None:
        self.sent = metrics.counter(
            "messages_sent_total", "Messages the SMTP server accepted.", _LANE
        )
        self.deferred = metrics.counter(
            "messages_deferred_total", "Attempts refused for now (4xx or no connection).", _LANE
        )
        self.failed = metrics.counter(
            "messages_failed_total",
            "Messages that will not be sent (refused for good, unrenderable, gave up).",
            _LANE,
        )
        self.bounced = metrics.counter(
            "messages_bounced_total", "Messages bounced by the receiving server.", _LANE
        )
        self.suppressed = metrics.counter(
            "messages_suppressed_total", "Messages not sent: the address is suppressed.", _LANE
        )
        self.resent = metrics.counter(
            "messages_resent_total",
            "Messages sent again after a sender stopped mid-send (same Message-ID).",
            _LANE,
        )
        self.by_status = {
            Status.SENT: self.sent,
            Status.DEFERRED: self.deferred,
            Status.FAILED: self.failed,
            Status.BOUNCED: self.bounced,
            Status.SUPPRESSED: self.suppressed,
        }

    def outcome(self, lane: str, status: Status) -> None:
        counter = self.by_status.get(status)
        if counter is not None:
            counter.labels(lane).inc()


class TrackingMetrics:
    """Opens and clicks of tracked campaign mail (RecordEngagement)."""

    def __init__(self) -> None:
        self.recorded = metrics.counter(
            "engagement_total",
            "Opens and clicks recorded, by kind and whether kept with the person (personal,"
            " with engagement-tracking consent) or only counted (anonymous).",
            ("kind", "recording"),
        )
        self.refused = metrics.counter(
            "engagement_refused_total",
            "Tracking requests with a bad, tampered or unknown token (nothing recorded).",
            ("kind",),
        )


def queue_gauges(core: DeliveryCore):  # type: ignore[no-untyped-def]
    """A refresher: the ledger's waiting messages by lane and state, and the oldest's age."""

    async def refresh() -> None:
        # Looked up when running: the app names its metrics when it starts, after build().
        depth = metrics.gauge(
            "queue_depth_messages",
            "Messages waiting to be sent, by lane and state.",
            ("lane", "state"),
        )
        age = metrics.gauge("queue_oldest_age_seconds", "Age of the oldest message still waiting.")
        async with core.pool.connection() as conn:
            counts = await messages.queue_depth(conn)
            oldest = await messages.oldest_waiting_age(conn)
        for lane in ("transactional", "campaign"):
            for state in ("queued", "deferred", "sending"):
                depth.labels(lane, state).set(counts.get((lane, state), 0))
        age.set(oldest)

    return refresh
