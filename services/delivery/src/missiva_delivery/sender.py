"""The sender loop: claim due messages, render, send over SMTP, record what the server said.

Each round claims a few rows with ``FOR UPDATE SKIP LOCKED`` (SYSTEM mail first) and commits
the claim, so several replicas share the queue and a message is never sent by two of them.
The outcome of each message is recorded with its event in one transaction. A sender that dies
between the claim and that record leaves the row ``sending``: once the claim is older than
``claim_stale_seconds`` another round sends it again with the same Message-ID, and the row
counts a resend. Nothing is lost; a duplicate is possible only for a message in flight at the
instant of the crash.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import urllib.parse
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from aiosmtplib.email import flatten_message

from missiva_delivery import domain, events, metrics, mime
from missiva_delivery.alerts import TransportWatch
from missiva_delivery.campaign_render import Compiled, RenderProblem
from missiva_delivery.domain import Outcome, Status
from missiva_delivery.fastmime import HeaderProblem
from missiva_delivery.hooks_events import queue_message_hooks
from missiva_delivery.smtp import Reply, TransportError
from missiva_delivery.store import campaigns, holds, messages, suppressions
from missiva_delivery.store import online as online_store
from missiva_delivery.store import tracking as tracking_store
from missiva_delivery.templates import TemplateProblem
from missiva_delivery.transport import Limits, SmtpPool
from missiva_platform.crypto import DecryptionError
from missiva_platform.outbox import add_events

if TYPE_CHECKING:
    from missiva_delivery.core import DeliveryCore

log = logging.getLogger(__name__)


# Set while a campaign slice is sent: its outcomes are recorded together afterwards.
_COLLECTOR: contextvars.ContextVar[list[messages.Finished] | None] = contextvars.ContextVar(
    "delivery_slice_outcomes", default=None
)


def _content_key(row: dict[str, Any]) -> tuple[str, str, int]:
    return (row["tenant_id"], row["campaign_id"], int(row["content_revision"]))


class Sender:
    def __init__(self, core: DeliveryCore, transport: SmtpPool | None = None) -> None:
        self.core = core
        settings = core.settings
        self.settings = settings
        self.transport = transport or SmtpPool(
            settings.smtp_url,
            size=settings.smtp_pool_size,
            timeout=settings.smtp_timeout_seconds,
            local_hostname=settings.message_id_domain,
            limits=Limits(settings.limit_settings()),
        )
        self.watch = TransportWatch(
            relay=urllib.parse.urlsplit(settings.smtp_url).hostname or "",
            after_seconds=settings.alert_after_seconds,
        )
        self.claim_size = max(settings.sender_batch_size, settings.campaign_batch_size)
        self._metrics: metrics.DeliveryMetrics | None = None

    @property
    def metrics(self) -> metrics.DeliveryMetrics:
        # Made on first use: the app names its metrics (``missiva_delivery_*``) when it
        # starts, after this sender was built.
        if self._metrics is None:
            self._metrics = metrics.DeliveryMetrics()
        return self._metrics

    async def drain(self) -> int:
        """Send until nothing is due; the number of messages handled."""
        total = 0
        while True:
            handled = await self.round()
            total += handled
            if handled < self.claim_size:
                return total

    async def round(self) -> int:
        """Claim due messages (SYSTEM first, campaign mail last), read the suppression
        replica once for the campaign rows, and send them all over the pool at once."""
        async with self.core.pool.connection() as conn, conn.transaction():
            claimed = await messages.claim(
                conn, limit=self.claim_size, stale_seconds=self.settings.claim_stale_seconds
            )
        if not claimed:
            return 0
        work = [self._guarded(row, self.process(row)) for row in claimed
                if row["lane"] != "campaign"]  # fmt: skip
        campaign_rows = [row for row in claimed if row["lane"] == "campaign"]
        if campaign_rows:
            work.append(self._campaign_rows(campaign_rows))
        await asyncio.gather(*work)
        return len(claimed)

    async def _guarded(self, row: dict[str, Any], work: Any) -> None:
        try:
            await work
        except Exception as exc:  # one message's trouble must not stop the others
            log.exception("sending a message failed", extra={"message_id": row["id"]})
            await self._after_crash(row, exc)

    # -- the campaign lane ------------------------------------------------------------------

    async def _campaign_rows(self, rows: list[dict[str, Any]]) -> None:
        """Campaign rows in slices of ``suppression_check_size``: the suppression replica is
        read right before each slice is sent, so an unsubscribe processed before that
        instant stops the message even when it was claimed earlier. Each campaign's compiled
        template comes from the cache, or is compiled now, once for the revision."""
        compiled = await self._compiled(rows)
        step = self.settings.suppression_check_size
        recording: asyncio.Future[None] | None = None
        suppressing = False
        try:
            for start in range(0, len(rows), step):
                if recording is not None and suppressing:
                    # A hard bounce's suppression is written before the next replica read.
                    await recording
                    recording = None
                outcomes = await self._campaign_slice(rows[start : start + step], compiled)
                # The previous slice's outcomes were written while this one was sent; this
                # one's are while the next is sent (each a transaction of its own, as before).
                if recording is not None:
                    await recording
                recording = asyncio.ensure_future(self._record(outcomes))
                suppressing = any(o.suppress for o in outcomes)
        finally:
            if recording is not None:
                await recording

    async def _campaign_slice(
        self, piece: list[dict[str, Any]], compiled: dict[Any, Compiled | str]
    ) -> list[messages.Finished]:
        """Send one slice (the suppression replica read right before); its outcomes."""
        blocked, states = await self._blocked(piece)
        work = []
        for row in piece:
            reason = blocked.get(row["id"])
            found = compiled[_content_key(row)]
            state = states.get((row["tenant_id"], row["campaign_id"]))
            if state == "paused":  # handed over before the pause: held with the rest
                work.append(self._guarded(row, self._finish(
                    row, Status.QUEUED, reason="held: the campaign is paused",
                    next_attempt_at=holds.HELD_UNTIL,
                )))  # fmt: skip
            elif state == "cancelled":
                work.append(self._guarded(
                    row, self._finish(row, Status.FAILED, reason=holds.CANCELLED_REASON)
                ))  # fmt: skip
            elif reason is not None:
                work.append(self._guarded(row, self._suppress(row, reason)))
            elif isinstance(found, str):
                work.append(self._guarded(row, self._finish(row, Status.FAILED, reason=found)))
            else:
                work.append(self._guarded(row, self.process_campaign(row, found)))
        collected: list[messages.Finished] = []
        token = _COLLECTOR.set(collected)
        try:
            await asyncio.gather(*work)
        finally:
            _COLLECTOR.reset(token)
        return collected

    async def _compiled(self, rows: list[dict[str, Any]]) -> dict[Any, Compiled | str]:
        """Each (tenant, campaign, revision) of ``rows``: its compiled template, or why not."""
        found: dict[Any, Compiled | str] = {}
        for row in rows:
            key = _content_key(row)
            if key in found:
                continue
            tenant, campaign_id, revision = key
            cached = self.core.renders.cached(tenant, campaign_id, revision)
            if cached is not None:
                found[key] = cached
                continue
            async with self.core.pool.connection() as conn:
                content = await campaigns.content(conn, tenant, campaign_id, revision)
                try:
                    compiled = (
                        self.core.renders.get(tenant, content)
                        if content is not None
                        else "the campaign's content is no longer held"
                    )
                except RenderProblem as exc:
                    compiled = str(exc)
                if not isinstance(compiled, str) and compiled.link_set is not None:
                    # Before any message carries its tokens: what each position leads to
                    # (not cached unless kept, so the next round tries again).
                    try:
                        async with conn.transaction():
                            await tracking_store.save_links(
                                conn, compiled.link_set, tenant, campaign_id, revision,
                                compiled.links,
                            )  # fmt: skip
                    except Exception:
                        self.core.renders.forget(tenant, campaign_id, revision)
                        raise
            found[key] = compiled
        return found

    async def _blocked(
        self, rows: list[dict[str, Any]]
    ) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
        """Row id → suppression reason, for the rows whose person may not be mailed now; and
        the campaigns of ``rows`` that are paused or cancelled."""
        groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault((row["tenant_id"], row["purpose_id"], row["category"]), []).append(
                row
            )
        blocked: dict[str, str] = {}
        async with self.core.pool.connection() as conn:
            for (tenant, purpose, category), members in groups.items():
                reasons = await suppressions.blocked_among(
                    conn, tenant, purpose, [r["person_key"] for r in members],
                    system=category == domain.SYSTEM,
                )  # fmt: skip
                for row in members:
                    if row["person_key"] in reasons:
                        blocked[row["id"]] = reasons[row["person_key"]]
            states = await holds.states(conn, {(r["tenant_id"], r["campaign_id"]) for r in rows})
        return blocked, states

    async def _suppress(self, row: dict[str, Any], reason: str) -> None:
        await self._finish(row, Status.SUPPRESSED, reason=f"the address is suppressed ({reason})")

    async def process_campaign(self, row: dict[str, Any], compiled: Compiled) -> None:
        if row["resend"]:
            self.metrics.resent.labels("campaign").inc()
        if row["to_address_enc"] is None or row["payload_enc"] is None:
            await self._finish(row, Status.FAILED, reason="the address is no longer held")
            return
        try:
            address = self.core.open_address(row["id"], row["to_address_enc"])
            payload = self.core.open_payload(row["id"], row["payload_enc"])
        except DecryptionError as exc:
            await self._finish(row, Status.FAILED, reason=f"cannot decrypt the address: {exc}")
            return
        try:
            built = self.core.campaign_mail.build(
                compiled, row, address, payload, datetime.now(UTC)
            )
        except (RenderProblem, HeaderProblem) as exc:
            await self._finish(row, Status.FAILED, reason=str(exc))
            return
        # Once sent, its merge data is kept for its view-online link (online.py), if it has one.
        row["view_online"] = compiled.online
        data = built.data
        signer = await self.core.signing.signer(row["tenant_id"], compiled.content.from_address)
        if signer is not None:
            data = signer.sign(data) + data
        try:
            reply = await self.transport.send(data, sender=built.envelope_sender, recipient=address)
        except TransportError as exc:
            self.watch.failed(row["campaign_id"])
            await self._defer(row, domain.redact_addresses(str(exc)), built.subject)
            return
        await self._outcome(row, reply, built.subject)

    # -- the transactional lane -------------------------------------------------------------

    async def _after_crash(self, row: dict[str, Any], exc: Exception) -> None:
        """A message whose handling raised is deferred with backoff (and gives up like any
        other), not left to be claimed again every few minutes for ever."""
        try:
            await self._defer(row, f"internal error: {type(exc).__name__}", row["subject"])
        except Exception:  # the database is gone too: the stale claim brings it back
            log.warning("could not defer a message after an error", extra={"message_id": row["id"]})

    async def process(self, row: dict[str, Any]) -> None:
        lane = row["lane"]
        if row["resend"]:
            self.metrics.resent.labels(lane).inc()
        async with self.core.pool.connection() as conn:
            reason = await suppressions.reason_for(conn, row["person_key"], row["tenant_id"])
            if reason is None and row["category"] != domain.SYSTEM:
                # Mail that is not SYSTEM mail also stops at consent's suppressions of every
                # purpose (an unsubscribe from everything, a complaint, an erasure).
                blocked = await suppressions.blocked_among(
                    conn, row["tenant_id"], "", [row["person_key"]], system=False
                )
                reason = blocked.get(row["person_key"])
        if domain.suppressed_by(reason, row["category"]):
            await self._finish(
                row, Status.SUPPRESSED, reason=f"the address is suppressed ({reason})"
            )
            return
        if row["to_address_enc"] is None or row["payload_enc"] is None:
            await self._finish(row, Status.FAILED, reason="the address is no longer held")
            return
        try:
            address = self.core.open_address(row["id"], row["to_address_enc"])
            payload = self.core.open_payload(row["id"], row["payload_enc"])
        except DecryptionError as exc:  # its key was retired from FIELD_KEYS_FILE
            await self._finish(row, Status.FAILED, reason=f"cannot decrypt the address: {exc}")
            return
        name = str(payload.get("to_name", ""))
        variables = {**payload.get("variables", {}), "recipient_name": name}
        try:
            rendered = self.core.templates.render(row["template_key"], row["locale"], variables)
        except TemplateProblem as exc:
            await self._finish(row, Status.FAILED, reason=str(exc))
            return
        message = mime.build(
            rendered,
            from_name=self.settings.mail_from_name,
            from_address=self.settings.mail_from_address,
            to_name=name,
            to_address=address,
            message_id=row["rfc822_message_id"],
            date=datetime.now(UTC),
        )
        outgoing = await self._signed(row["tenant_id"], message, address)
        try:
            # The VERP return path names the row, so a bounce of this mail finds it too.
            envelope_sender = self.core.campaign_mail.verp.address(row["id"])
            reply = await self.transport.send(outgoing, sender=envelope_sender, recipient=address)
        except TransportError as exc:
            self.watch.failed(row["campaign_id"])
            await self._defer(row, domain.redact_addresses(str(exc)), rendered.subject)
            return
        await self._outcome(row, reply, rendered.subject)

    async def _signed(
        self, tenant_id: str, message: EmailMessage, address: str
    ) -> EmailMessage | bytes:
        """The transactional message DKIM-signed by the keys of its From domain (the
        platform's MAIL_FROM_ADDRESS): its bytes as aiosmtplib would flatten them, with the
        signatures in front; the message itself when the domain has no keys."""
        signer = await self.core.signing.signer(tenant_id, self.settings.mail_from_address)
        if signer is None:
            return message
        data = flatten_message(message, utf8=not address.isascii(), cte_type="8bit")
        return signer.sign(data) + data

    async def _outcome(self, row: dict[str, Any], reply: Reply, subject: str) -> None:
        text = str(reply)
        if reply.code == 421:  # the server is not taking mail: the transport is failing
            self.watch.failed(row["campaign_id"])
        else:
            self.watch.succeeded()
        outcome = domain.classify_reply(reply.code, text)
        if outcome is Outcome.SENT:
            await self._finish(
                row, Status.SENT, reply=text, subject=subject,
                event=events.message_sent(row, resend=bool(row["resend"])),
            )  # fmt: skip
        elif outcome is Outcome.DEFER:
            await self._defer(row, text, subject)
        elif outcome is Outcome.HARD_BOUNCE:
            await self._finish(
                row, Status.BOUNCED, reply=text, subject=subject, bounce_type="hard",
                event=events.message_bounced(row, text, hard=True), suppress=True,
            )  # fmt: skip
        else:
            await self._finish(row, Status.FAILED, reply=text, subject=subject,
                               reason="refused by the receiving server")  # fmt: skip

    async def _defer(self, row: dict[str, Any], reply: str, subject: str) -> None:
        now = datetime.now(UTC)
        give_up = timedelta(hours=self.settings.give_up_after_hours)
        if domain.gives_up(row["queued_at"], now, give_up):
            await self._finish(
                row, Status.BOUNCED, reply=reply, subject=subject, bounce_type="soft",
                reason=f"still refused after {self.settings.give_up_after_hours:g} hours",
                event=events.message_bounced(row, reply, hard=False),
            )  # fmt: skip
            return
        delay = domain.next_attempt_delay(
            int(row["attempts"]), self.settings.retry_base_seconds, self.settings.retry_max_seconds
        )
        at = now + delay
        await self._finish(
            row, Status.DEFERRED, reply=reply, subject=subject, next_attempt_at=at,
            event=events.message_deferred(row, reply, at),
        )  # fmt: skip

    async def _finish(
        self,
        row: dict[str, Any],
        status: Status,
        *,
        reply: str = "",
        reason: str = "",
        subject: str | None = None,
        bounce_type: str | None = None,
        next_attempt_at: datetime | None = None,
        event: Any = None,
        suppress: bool = False,
    ) -> None:
        if event is None and status in (Status.FAILED, Status.SUPPRESSED):
            event = events.message_failed(
                row, reason or reply, reply=reply, suppressed=status is Status.SUPPRESSED
            )
        outcome = messages.Finished(
            row=row, status=status, reply=reply, reason=reason, subject=subject,
            bounce_type=bounce_type, next_attempt_at=next_attempt_at, event=event,
            suppress=suppress,
        )  # fmt: skip
        collector = _COLLECTOR.get()
        if collector is not None:  # a campaign slice: recorded together once it is sent
            collector.append(outcome)
            return
        await self._record([outcome])

    async def _record(self, outcomes: list[messages.Finished]) -> None:
        """Outcomes, their history and their events in one transaction (a campaign slice's
        together: a crash before it leaves the slice ``sending``, sent again later)."""
        if not outcomes:
            return
        async with self.core.pool.connection() as conn, conn.transaction():
            # Before the ledger drops the sealed merge data: what view online needs.
            online = [o.row["id"] for o in outcomes if o.status is Status.SENT
                      and o.row.get("view_online")]  # fmt: skip
            await online_store.keep(conn, online)
            moved = await messages.finish_many(conn, outcomes)
            done = [o for o in outcomes if o.row["id"] in moved]
            for o in done:
                if o.suppress:
                    await suppressions.add_hard_bounce(
                        conn, o.row["person_key"], o.row["id"], o.reply
                    )
            published = [o.event for o in done if o.event is not None]
            await add_events(conn, published)
            hooked = await queue_message_hooks(conn, published)
        if hooked:
            self.core.hooks_wake()
        for o in done:  # the others were taken over by another sender (a stale claim)
            self.metrics.outcome(o.row["lane"], o.status)
            log.info(
                "message %s", o.status,
                extra={"message_id": o.row["id"], "template_key": o.row["template_key"],
                       "campaign_id": o.row["campaign_id"], "attempt": o.row["attempts"],
                       "smtp_reply": o.reply[:200], "reason": o.reason},
            )  # fmt: skip

    async def close(self) -> None:
        await self.transport.close()


async def run_forever(sender: Sender, stop: asyncio.Event, wake: asyncio.Event) -> None:
    """Drain, then wait for a wake-up (a message queued here) or the poll interval."""
    while not stop.is_set():
        try:
            await sender.drain()
        except Exception:  # the database restarting...: try again next round
            log.exception("sender round failed")
        wake.clear()
        waiter = asyncio.ensure_future(wake.wait())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait(
            {waiter, stopper},
            timeout=sender.settings.sender_poll_seconds,
            return_when=asyncio.FIRST_COMPLETED,
        )
        waiter.cancel()
        stopper.cancel()
    await sender.close()
