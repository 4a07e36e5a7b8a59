"""The send path: snapshot → credits → batches → completion.

``SendPath.start`` is what SendCampaignNow and a due schedule run: in one transaction it
compiles the template once, writes the recipient snapshot with one statement
(``store.recipients.snapshot``), reserves one credit per recipient at billing (reference
``campaign:<id>``; the retry key is fixed per start attempt, so a crash before the commit
finds the same reservation again) and, only with the credits held, commits the snapshot
with the campaign's ``sending`` state, ``CampaignStarted`` and the first
``EmitCampaignBatches``. Not enough credits: the snapshot is rolled back, the campaign stays
a draft and records how many credits are missing.

``SendPath.emit`` consumes ``EmitCampaignBatches``: under the campaign's row lock it hands a
few batches of due recipients to delivery (``SendBatch``, through the outbox, in the same
transaction as the recipients' ``batched`` state) and queues the next run. A pause, resume
or cancel takes that same lock, so it takes effect before the next run (well within a
second); a run of an older generation does nothing. Recipients not due yet (each one's local
time) leave the chain idle; ``start_due`` (the ``start-due`` command, a CronJob) starts due
schedules and wakes idle chains.

Automations reuse this path: anything that writes a campaign row (a welcome series step, a
trigger, an A/B variant) and calls ``start`` gets the same snapshot rules, credits, batching
and statistics.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from missiva.campaign.v1 import events_pb2
from missiva_campaign import campaign_events, domain, rendering, sender_domains
from missiva_campaign.credits import BillingCredits, Shortfall
from missiva_campaign.rpc_templates import load as load_template
from missiva_campaign.rpc_templates import source_of
from missiva_campaign.store import campaigns, recipients
from missiva_platform.errors import FailedPrecondition, NotFound, Unavailable
from missiva_platform.events import EventEnvelope, unpack
from missiva_platform.outbox import add_events

log = logging.getLogger(__name__)

CAMPAIGN_NOT_FOUND = "campaign not found"
SEGMENTS_MISSING = "segments are not available yet"
STARTABLE = ("draft", "scheduled")
STARTED = ("sending", "paused", "completed", "completed_with_failures")


def _now() -> datetime:
    return datetime.now(UTC)


def ready_problems(row: dict[str, Any]) -> list[tuple[str, str, str]]:
    """What a campaign lacks before it may be scheduled or sent (precondition violations)."""
    problems = []
    for field, label in (
        ("template_id", "a template"),
        ("purpose_id", "a consent purpose"),
        ("from_address", "a sender address"),
    ):
        if not row[field]:
            problems.append(("CAMPAIGN_INCOMPLETE", f"campaign.{field}", f"needs {label}"))
    if not row["list_ids"] and not row["segment_ids"]:
        problems.append(("CAMPAIGN_INCOMPLETE", "campaign.list_ids", "needs an audience"))
    return problems


def check_ready(row: dict[str, Any]) -> None:
    if row["segment_ids"]:
        # Segments land on another branch; until they do, an audience is lists only.
        raise FailedPrecondition(
            SEGMENTS_MISSING, [("SEGMENTS_UNAVAILABLE", "campaign.segment_ids", SEGMENTS_MISSING)]
        )
    problems = ready_problems(row)
    if problems:
        raise FailedPrecondition("the campaign is not ready to send: " + problems[0][2], problems)


class SendPath:
    def __init__(
        self,
        pool_of: Any,
        credits: BillingCredits | None,
        *,
        batch_size: int,
        batches_per_run: int,
    ) -> None:
        self._pool_of = pool_of
        self.credits = credits
        self.batch_size = batch_size
        self.batches_per_run = batches_per_run

    @property
    def pool(self) -> AsyncConnectionPool:
        pool = self._pool_of()
        if pool is None:
            raise RuntimeError("the service is not started")
        return pool

    # -- start -------------------------------------------------------------------------------

    async def start(self, tenant: str, campaign_id: str, now: datetime | None = None) -> dict:
        now = now or _now()
        if self.credits is None:
            raise FailedPrecondition(
                "sending is not configured: BILLING_TARGET and the service credentials are not"
                " set, so no credits can be reserved"
            )
        async with self.pool.connection() as conn, conn.transaction():
            row = await campaigns.get(conn, tenant, campaign_id, lock=True)
            if row is None:
                raise NotFound(CAMPAIGN_NOT_FOUND)
            if row["status"] in STARTED:
                return row  # a retry, or two calls at once: it sends once
            if row["status"] not in STARTABLE:
                raise FailedPrecondition(
                    f"the campaign is {row['status']}; only a draft or a scheduled campaign"
                    " can start sending"
                )
            check_ready(row)
            await sender_domains.require_verified(conn, tenant, row)
            template = await load_template(conn, tenant, row["template_id"])
            compiled = rendering.compile_template(source_of(template), "template.")
            send_at = row["scheduled_at"] if row["status"] == "scheduled" else now
            audience, written = await recipients.snapshot(
                conn,
                account_id=tenant,
                campaign_id=campaign_id,
                purpose_id=row["purpose_id"],
                marketing=row["category"] == "marketing",
                list_ids=row["list_ids"],
                excluded_list_ids=row["excluded_list_ids"],
                send_at=max(send_at, now) if not row["recipient_local_time"] else send_at,
                zone=row["schedule_timezone"],
                local=row["recipient_local_time"],
                now=now,
            )
            if written == 0:
                raise FailedPrecondition(
                    f"no recipient: none of the {audience} contacts of the audience has"
                    " active consent for the purpose (or all are suppressed or capped)"
                )
            held = await self.credits.reserve(
                tenant,
                written,
                f"campaign:{campaign_id}",
                f"campaign:{campaign_id}:start:{row['start_attempt']}",
            )
            if isinstance(held, Shortfall):
                raise _Rollback(held)  # the snapshot goes with the transaction
            started = await campaigns.update(
                conn,
                tenant,
                campaign_id,
                {
                    "status": "sending",
                    "last_error": "",
                    "missing_credits": 0,
                    "start_attempt": row["start_attempt"] + 1,
                    "generation": row["generation"] + 1,
                    "chain_idle": False,
                    "credit_reservation_id": held.reservation_id,
                    "compiled_subject": row["subject"] or compiled.subject,
                    "compiled_preheader": row["preheader"] or compiled.preheader,
                    "compiled_html": compiled.html_body,
                    "compiled_text": compiled.text_body,
                    "compiled_revision": template["revision"],
                    "recipient_count": written,
                    "excluded_count": audience - written,
                    "batch_count": -(-written // self.batch_size),
                    "batched_count": 0,
                    "started_at": now,
                },
            )
            await add_events(
                conn,
                [
                    campaign_events.started(started),
                    campaign_events.emit_batches(started, started["generation"]),
                ],
            )
            return started

    async def _record_shortfall(self, tenant: str, campaign_id: str, shortfall: Shortfall) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await campaigns.update(
                conn,
                tenant,
                campaign_id,
                {
                    "status": "draft",
                    "last_error": shortfall.message,
                    "missing_credits": shortfall.missing,
                },
            )

    async def start_or_explain(self, tenant: str, campaign_id: str) -> dict:
        """``start``; not enough credits → the campaign is a draft saying how many are missing."""
        try:
            return await self.start(tenant, campaign_id)
        except _Rollback as stop:
            shortfall = stop.shortfall
        await self._record_shortfall(tenant, campaign_id, shortfall)
        raise FailedPrecondition(
            f"not enough credits: {shortfall.missing} missing to send this campaign; it stays a"
            " draft",
            [("CREDITS_INSUFFICIENT", "credits", f"{shortfall.missing} credits missing")],
        )

    # -- batches -----------------------------------------------------------------------------

    async def emit(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        command = unpack(event, events_pb2.EmitCampaignBatches)
        tenant = event.tenant_id
        row = await campaigns.get(conn, tenant, command.campaign_id, lock=True)
        if row is None or row["status"] != "sending" or row["generation"] != command.generation:
            return  # paused, cancelled, done, or an older chain
        now = _now()
        outgoing: list[EventEnvelope] = []
        batched = dropped = 0
        for _ in range(self.batches_per_run):
            due = await recipients.next_batch(conn, tenant, row["id"], now, self.batch_size)
            if not due:
                break
            gone = [r["seq"] for r in due if not r["present"]]
            present = [r for r in due if r["present"]]
            if gone:
                await recipients.mark(conn, row["id"], gone, "cancelled", "")
                dropped += len(gone)
            if present:
                batch_id = f"{present[0]['seq']:09d}"
                await recipients.mark(
                    conn, row["id"], [r["seq"] for r in present], "batched", batch_id
                )
                outgoing.append(
                    campaign_events.send_batch(row, batch_id, [_recipient(r) for r in present])
                )
                batched += len(present)
        more = await recipients.has_queued(conn, row["id"])
        due_more = more and await recipients.has_due(conn, row["id"], now)
        row = await campaigns.update(
            conn,
            tenant,
            row["id"],
            {
                "batched_count": row["batched_count"] + batched,
                "dropped_count": row["dropped_count"] + dropped,
                "chain_idle": more and not due_more,
            },
        )
        if due_more:
            outgoing.append(campaign_events.emit_batches(row, row["generation"]))
        if outgoing:
            await add_events(conn, outgoing)
        if not more:
            await maybe_complete(conn, tenant, row["id"])

    async def start_due(self, now: datetime | None = None) -> int:
        """Start the schedules that are due and wake idle chains whose recipients are due."""
        now = now or _now()
        async with self.pool.connection() as conn:
            due = await campaigns.due(conn, now)
        started = 0
        for tenant, campaign_id in due:
            try:
                await self.start_or_explain(tenant, campaign_id)
                started += 1
            except Unavailable:
                # Billing could not be asked: still scheduled, the next run tries again.
                log.warning("a due campaign waits for billing", extra={"campaign": campaign_id})
            except (FailedPrecondition, NotFound) as exc:
                log.warning("a scheduled campaign did not start", extra={"reason": str(exc)})
                async with self.pool.connection() as conn, conn.transaction():
                    await campaigns.update(
                        conn, tenant, campaign_id, {"status": "draft", "last_error": str(exc)}
                    )
        async with self.pool.connection() as conn, conn.transaction():
            for row in await campaigns.idle_due(conn, now):
                woken = await campaigns.update(
                    conn, row[0], row[1], {"chain_idle": False, "generation": row[2] + 1}
                )
                await add_events(conn, [campaign_events.emit_batches(woken, woken["generation"])])
        return started


class _Rollback(Exception):
    """Leaves the start transaction (the snapshot goes) when billing refused."""

    def __init__(self, shortfall: Shortfall) -> None:
        super().__init__(shortfall.message)
        self.shortfall = shortfall


def _recipient(r: dict[str, Any]) -> events_pb2.Recipient:
    name = domain.display_name(r["first_name"], r["last_name"])
    return events_pb2.Recipient(
        contact_id=r["contact_id"],
        person_key=r["person_key"],
        email=r["email"],
        merge_fields=rendering.merge_fields(r, name),
        engagement_tracking=r["engagement_tracking"],
    )


def outcome(row: dict[str, Any]) -> str:
    """The final status of a campaign whose recipients were all answered: any message that
    failed for good (never sent, or bounced) or is deferred now makes it
    ``completed_with_failures``, never plain ``completed``."""
    troubled = row["failed_count"] or row["deferred_count"]
    return "completed_with_failures" if troubled else "completed"


async def maybe_complete(conn: Any, tenant: str, campaign_id: str) -> None:
    """Every recipient handed out and answered: completed, or completed with failures."""
    row = await campaigns.get(conn, tenant, campaign_id, lock=True)
    if row is None or row["status"] not in ("sending", "paused"):
        return
    if await recipients.has_pending(conn, campaign_id):
        return
    done = await campaigns.update(
        conn, tenant, campaign_id, {"status": outcome(row), "completed_at": _now()}
    )
    event = campaign_events.completed(
        done, done["sent_count"], done["dropped_count"], done["failed_count"]
    )
    await add_events(conn, [event])


async def refresh_outcome(conn: Any, tenant: str, campaign_id: str) -> None:
    """A completed campaign's status follows late outcomes (a bounce or deferral after the
    last send; a deferred message delivered after all), from the counters alone."""
    row = await campaigns.get(conn, tenant, campaign_id, lock=True)
    if row is None or row["status"] not in ("completed", "completed_with_failures"):
        return
    status = outcome(row)
    if status != row["status"]:
        await campaigns.update(conn, tenant, campaign_id, {"status": status})
