"""What a bounce or complaint report does to the message it is about, in one transaction:

- the report is recorded once (``bounce_records``, by its digest: a report delivered twice
  changes nothing the second time);
- a bounce moves a sent message to ``bounced`` with its class, the DSN status and the reason;
  a soft bounce that completes ``SOFT_BOUNCE_LIMIT`` in a row for the address is hard; a hard
  bounce suppresses the address platform-wide in delivery's own list (SYSTEM mail too) and
  emits ``delivery.message.bounced`` (consent suppresses the address on a hard one);
  a block never suppresses and is counted per destination domain;
- a complaint moves it to ``complained``, suppresses the address for the account's
  non-SYSTEM mail and emits ``delivery.message.complained``;
- a delayed notice (the remote server still tries) is only recorded;
- a hard bounce, a block or a complaint of campaign mail runs the reputation guard.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva.delivery.v1 import events_pb2
from missiva_delivery import reputation
from missiva_delivery.bounces import BounceClass
from missiva_delivery.config import DeliverySettings
from missiva_delivery.hooks_events import queue_message_hooks
from missiva_delivery.store import bounces as store
from missiva_delivery.store import suppressions
from missiva_platform import metrics
from missiva_platform.events import EventEnvelope, envelope
from missiva_platform.outbox import add_event

log = logging.getLogger(__name__)

MESSAGE_BOUNCED = "delivery.message.bounced"
MESSAGE_COMPLAINED = "delivery.message.complained"

BOUNCE_TYPES = {
    BounceClass.HARD: pb.BOUNCE_TYPE_HARD,
    BounceClass.SOFT: pb.BOUNCE_TYPE_SOFT,
    BounceClass.BLOCKED: pb.BOUNCE_TYPE_BLOCKED,
}
SOURCES = {
    "dsn": pb.FEEDBACK_SOURCE_DSN,
    "arf": pb.FEEDBACK_SOURCE_ARF,
    "webhook": pb.FEEDBACK_SOURCE_WEBHOOK,
}
_STRENGTH = {None: 0, "soft": 1, "blocked": 1, "hard": 2}
# At most this many destination domains are told apart in the blocks metric; the rest are
# "other" (the per-destination report in the database has them all).
MAX_DESTINATION_LABELS = 50


@dataclass(frozen=True)
class Report:
    """One report about one message, as read from a DSN, an ARF report or a webhook."""

    message_id: str
    kind: str  # bounce, delayed, complaint
    source: str  # dsn, arf, webhook
    digest: str
    bounce_class: BounceClass | None = None
    rule: str = ""
    status_code: str = ""
    diagnostic: str = ""
    feedback_type: str = ""
    recipient_domain: str = ""


def _event(message: Any, subject: str, row: dict[str, Any]) -> EventEnvelope:
    return envelope(
        message,
        subject=subject,
        tenant_id=row["tenant_id"],
        producer="delivery",
        aggregate_id=row["id"],
        aggregate_version=int(row["attempts"]) + 1,  # after the send that bounced
    )


def bounced(row: dict[str, Any], report: Report, klass: BounceClass) -> EventEnvelope:
    return _event(
        events_pb2.MessageBounced(
            message_id=row["id"],
            campaign_id=row["campaign_id"],
            person_key=row["person_key"],
            bounce_type=BOUNCE_TYPES[klass],  # type: ignore[arg-type]
            status_code=report.status_code,
            diagnostic=report.diagnostic,
            source=SOURCES[report.source],  # type: ignore[arg-type]
        ),
        MESSAGE_BOUNCED,
        row,
    )


def complained(row: dict[str, Any], report: Report) -> EventEnvelope:
    return _event(
        events_pb2.MessageComplained(
            message_id=row["id"],
            campaign_id=row["campaign_id"],
            person_key=row["person_key"],
            feedback_type=report.feedback_type or "abuse",
            source=SOURCES[report.source],  # type: ignore[arg-type]
        ),
        MESSAGE_COMPLAINED,
        row,
    )


class FeedbackMetrics:
    def __init__(self) -> None:
        self.reports = metrics.counter(
            "feedback_reports_total",
            "Reports received about sent mail, by source and what they were.",
            ("source", "kind"),
        )
        self.bounces = metrics.counter(
            "bounces_total", "Messages bounced after they were sent, by class.", ("lane", "class")
        )
        self.complaints = metrics.counter(
            "complaints_total", "Messages the recipient reported as spam.", ("lane",)
        )
        self.blocks = metrics.counter(
            "blocks_total",
            "Policy or reputation blocks (5.7.x), by destination domain.",
            ("destination",),
        )
        self.alerts = metrics.counter(
            "reputation_alerts_total",
            "Campaigns paused by the reputation guard, by the rate that tripped it.",
            ("signal",),
        )
        self._destinations: set[str] = set()

    def destination(self, domain: str) -> str:
        if domain in self._destinations or len(self._destinations) < MAX_DESTINATION_LABELS:
            self._destinations.add(domain)
            return domain or "unknown"
        return "other"


class Feedback:
    """Applies reports; one per process (it owns the metrics)."""

    def __init__(self, settings: DeliverySettings) -> None:
        self.settings = settings
        self.limits = reputation.Thresholds(
            bounce_rate=settings.reputation_bounce_rate,
            complaint_rate=settings.reputation_complaint_rate,
            min_sent=settings.reputation_min_sent,
            window=timedelta(hours=settings.reputation_window_hours),
        )
        self._metrics: FeedbackMetrics | None = None
        self.hooks_wake: Callable[[], None] | None = None  # the webhook worker's, set by build()

    @property
    def metrics(self) -> FeedbackMetrics:
        if self._metrics is None:  # the app names its metrics when it starts
            self._metrics = FeedbackMetrics()
        return self._metrics

    async def _publish(self, conn: Any, event: EventEnvelope) -> None:
        """The event in the outbox and its webhook deliveries, in the caller's transaction."""
        await add_event(conn, event)
        if await queue_message_hooks(conn, [event]) and self.hooks_wake is not None:
            self.hooks_wake()

    async def apply(self, conn: Any, report: Report) -> str:
        """Apply ``report`` on ``conn`` (in the caller's transaction); what happened:
        ``unknown_message``, ``duplicate_report``, ``recorded`` (no change to the message),
        ``bounced``, ``complained``."""
        row = await store.message_for_update(conn, report.message_id)
        if row is None:
            return "unknown_message"
        record = store.Record(
            message_id=row["id"], tenant_id=row["tenant_id"], campaign_id=row["campaign_id"],
            person_key=row["person_key"], kind=report.kind, source=report.source,
            digest=report.digest,
            bounce_class=str(report.bounce_class) if report.bounce_class else None,
            rule=report.rule, status_code=report.status_code, diagnostic=report.diagnostic,
            feedback_type=report.feedback_type, recipient_domain=report.recipient_domain,
        )  # fmt: skip
        if not await store.add_record(conn, record):
            return "duplicate_report"
        if report.kind == "complaint":
            return await self._complaint(conn, row, report)
        if report.kind == "bounce" and report.bounce_class is not None:
            return await self._bounce(conn, row, report, report.bounce_class)
        return "recorded"

    async def _bounce(
        self, conn: Any, row: dict[str, Any], report: Report, klass: BounceClass
    ) -> str:
        status, before = row["status"], row["bounce_type"]
        if status not in ("sent", "bounced"):
            return "recorded"  # complained already (or not sent: nothing to bounce)
        if status == "bounced" and _STRENGTH[str(klass)] <= _STRENGTH[before]:
            return "recorded"  # no stronger than the bounce it had
        reason = f"{report.source} {report.status_code or '-'}: {report.rule}"
        await store.mark(conn, row["id"], "bounced", bounce_type=str(klass),
                         reply=report.diagnostic, reason=reason)  # fmt: skip
        if klass is BounceClass.SOFT:
            outcomes = await store.recent_outcomes(conn, row["person_key"])
            grace = timedelta(hours=self.settings.soft_bounce_grace_hours)
            streak = store.soft_streak(outcomes, datetime.now(UTC), grace)
            if streak >= self.settings.soft_bounce_limit:
                klass = BounceClass.HARD
                reason = f"{streak} soft bounces in a row ({reason})"
                await store.mark(conn, row["id"], "bounced", bounce_type="hard",
                                 reply=report.diagnostic, reason=reason)  # fmt: skip
        if klass is BounceClass.HARD:
            await suppressions.add_hard_bounce(conn, row["person_key"], row["id"], reason)
        await self._publish(conn, bounced(row, replace(report, rule=reason), klass))
        self.metrics.bounces.labels(row["lane"], str(klass)).inc()
        if klass is BounceClass.BLOCKED:
            self.metrics.blocks.labels(self.metrics.destination(report.recipient_domain)).inc()
        if klass is not BounceClass.SOFT:
            await self._guard(conn, row)
        log.info(
            "message bounced",
            extra={"message_id": row["id"], "class": str(klass), "status": report.status_code,
                   "source": report.source},
        )  # fmt: skip
        return "bounced"

    async def _complaint(self, conn: Any, row: dict[str, Any], report: Report) -> str:
        if row["status"] not in ("sent", "bounced") or report.feedback_type in (
            "not-spam",
            "auth-failure",
        ):
            return "recorded"
        await store.mark(conn, row["id"], "complained", bounce_type=None, reply="",
                         reason=f"{report.source} complaint: {report.feedback_type}")  # fmt: skip
        await conn.execute(
            "INSERT INTO suppressions (person_key, tenant_id, reason, detail, message_id)"
            " VALUES (%s, %s, 'complaint', %s, %s) ON CONFLICT (person_key, tenant_id) DO NOTHING",
            (row["person_key"], row["tenant_id"], report.feedback_type, row["id"]),
        )
        await self._publish(conn, complained(row, report))
        self.metrics.complaints.labels(row["lane"]).inc()
        await self._guard(conn, row)
        log.info("message complained about",
                 extra={"message_id": row["id"], "source": report.source})  # fmt: skip
        return "complained"

    async def _guard(self, conn: Any, row: dict[str, Any]) -> None:
        if not row["campaign_id"]:
            return
        tripped = await reputation.check(conn, row["tenant_id"], row["campaign_id"], self.limits)
        if tripped is None:
            return
        signal, rates = tripped
        await add_event(
            conn,
            reputation.reputation_alerted(
                row["tenant_id"], row["campaign_id"], signal, rates, self.limits
            ),
        )
        self.metrics.alerts.labels(signal).inc()
        log.warning(
            "reputation guard tripped: the campaign is paused",
            extra={"campaign_id": row["campaign_id"], "signal": signal, "sent": rates.sent,
                   "bounced": rates.bounced, "complained": rates.complained},
        )  # fmt: skip


def EXAMPLES(row: dict[str, Any], campaign_row: dict[str, Any]) -> list[EventEnvelope]:
    """The events above, from the builders that emit them (``events.EXAMPLES`` adds them)."""
    hard = Report(row["id"], "bounce", "dsn", "d1", BounceClass.HARD, "5.1.x", "5.1.1",
                  "550 5.1.1 <address>: Recipient address rejected: User unknown")  # fmt: skip
    block = replace(hard, bounce_class=BounceClass.BLOCKED, status_code="5.7.1",
                    diagnostic="554 5.7.1 Client host blocked using zen.spamhaus.org")  # fmt: skip
    complaint = Report(row["id"], "complaint", "arf", "d2", feedback_type="abuse")
    return [
        bounced(campaign_row, hard, BounceClass.HARD),
        bounced(campaign_row, block, BounceClass.BLOCKED),
        complained(campaign_row, complaint),
        complained(row, replace(complaint, source="webhook")),
        reputation.example(),
    ]
