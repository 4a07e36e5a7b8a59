"""The reputation guard: a campaign whose rolling bounce rate (hard bounces and blocks) or
complaint rate crosses its threshold is paused.

The rates cover the campaign's messages sent in the last ``REPUTATION_WINDOW_HOURS`` and since
its last alert (so a resumed campaign starts a fresh sample and is not paused again by the
reports of what it sent before); below ``REPUTATION_MIN_SENT`` messages there is no rate to
speak of (1 bounce of 3 is no signal). The check runs in the transaction that applies a hard
bounce, a block or a complaint; it locks the campaign's guard row only once a rate is over,
so two reports cannot both alert. The alert is ``delivery.campaign.reputation_alerted``
(through the outbox), which campaign turns into a pause.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import timestamp_pb2

from missiva.delivery.v1 import events_pb2
from missiva_delivery.store import bounces as store
from missiva_platform.events import EventEnvelope, envelope

REPUTATION_ALERTED = "delivery.campaign.reputation_alerted"

SIGNALS = {
    "bounce_rate": events_pb2.REPUTATION_SIGNAL_BOUNCE_RATE,
    "complaint_rate": events_pb2.REPUTATION_SIGNAL_COMPLAINT_RATE,
}


@dataclass(frozen=True)
class Thresholds:
    bounce_rate: float = 0.05
    complaint_rate: float = 0.003
    min_sent: int = 200
    window: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Rates:
    sent: int
    bounced: int
    complained: int
    since: datetime

    @property
    def bounce_rate(self) -> float:
        return self.bounced / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complained / self.sent if self.sent else 0.0

    def tripped(self, limits: Thresholds) -> str | None:
        """The signal over its threshold (bounces first), or None."""
        if self.sent < limits.min_sent:
            return None
        if self.bounce_rate > limits.bounce_rate:
            return "bounce_rate"
        if self.complaint_rate > limits.complaint_rate:
            return "complaint_rate"
        return None


def _stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def reputation_alerted(
    tenant_id: str, campaign_id: str, signal: str, rates: Rates, limits: Thresholds
) -> EventEnvelope:
    return envelope(
        events_pb2.CampaignReputationAlerted(
            campaign_id=campaign_id,
            signal=SIGNALS[signal],  # type: ignore[arg-type]
            sent=rates.sent,
            bounced=rates.bounced,
            complained=rates.complained,
            bounce_rate=rates.bounce_rate,
            complaint_rate=rates.complaint_rate,
            bounce_threshold=limits.bounce_rate,
            complaint_threshold=limits.complaint_rate,
            window_start=_stamp(rates.since),
        ),
        subject=REPUTATION_ALERTED,
        tenant_id=tenant_id,
        producer="delivery",
        aggregate_id=campaign_id,
    )


async def _rates(conn: Any, tenant: str, campaign: str, limits: Thresholds, last: Any) -> Rates:
    since = datetime.now(UTC) - limits.window
    if last is not None and last > since:
        since = last
    counts = await store.campaign_counts(conn, tenant, campaign, since)
    return Rates(since=since, **counts)


async def check(
    conn: Any, tenant_id: str, campaign_id: str, limits: Thresholds
) -> tuple[str, Rates] | None:
    """Whether the campaign's rates trip the guard now; if so the alert is recorded (the
    caller adds the event in the same transaction) and (signal, rates) returned."""
    last = await store.last_alert(conn, tenant_id, campaign_id, lock=False)
    rates = await _rates(conn, tenant_id, campaign_id, limits, last)
    if rates.tripped(limits) is None:
        return None
    # Over: lock the guard's row and look again (another report may have alerted already).
    last = await store.last_alert(conn, tenant_id, campaign_id, lock=True)
    rates = await _rates(conn, tenant_id, campaign_id, limits, last)
    signal = rates.tripped(limits)
    if signal is None:
        return None
    await store.record_alert(conn, tenant_id, campaign_id, signal)
    return signal, rates


def example() -> EventEnvelope:
    rates = Rates(sent=1200, bounced=75, complained=1, since=datetime.now(UTC) - timedelta(hours=2))
    return reputation_alerted(
        "0195a3c2-4b7e-7c1a-9f20-6d1e2a3b4c5d",
        "0195a3d1-2222-7abc-8def-0123456789ab",
        "bounce_rate",
        rates,
        Thresholds(),
    )
