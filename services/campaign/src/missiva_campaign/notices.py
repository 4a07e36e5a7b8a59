"""Consent's ``SendDocumentNoticeCommand``: tell every contact of an account about a material
change to the account's privacy notice (its proto comment in campaign's ``events.proto`` is
the rule).

One command per (document, version, locale) arrives; each contact gets at most one notice per
(document, version): the command whose locale is the contact's (``domain.notice_locale``:
exact, then same language) sends it, else the one in ``fallback_locale``. It is SYSTEM mail:
an unsubscription does not stop it; an active hard-bounce, complaint or erasure suppression
(the account's or platform-wide, from consent's events) does, and so does the trash.

A large account is told in batches, each in the consumer's transaction: the batch's
``document_notices_sent`` rows (keyed by account, document, version, contact), its
``SendTransactionalCommand``s to delivery and, when contacts remain, the same command again
with ``resume_after_contact_id`` (the next batch) commit together through the outbox. A crash
rolls the batch back and the message comes back; a batch done is never redone, and a command
sent again (redelivered, or queued twice) finds its contacts already told.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from missiva.campaign.v1 import events_pb2
from missiva_campaign import domain, outgoing
from missiva_campaign.store import contacts, notices
from missiva_platform import metrics
from missiva_platform.events import EventEnvelope, unpack
from missiva_platform.outbox import add_event, add_events

log = logging.getLogger(__name__)


def _counter() -> Any:
    return metrics.counter(
        "document_notices_total",
        "Contacts handled by document notice batches, by outcome (queued: an email command to"
        " delivery; already_sent: told before; suppressed: a hard bounce, complaint or"
        " erasure stops it).",
        ("outcome",),
    )


def _batches() -> Any:
    return metrics.counter(
        "document_notice_batches_total", "Document notice batches committed.", ("final",)
    )


def _check(notice: events_pb2.SendDocumentNoticeCommand, account_id: str) -> None:
    """A malformed command raises: retried, then dead-lettered with the reason."""
    missing = [
        name
        for name, value in (
            ("envelope.tenant_id", account_id),
            ("document_id", notice.document_id),
            ("version", notice.version),
            ("locale", notice.locale),
        )
        if not value
    ]
    if missing:
        raise ValueError(f"SendDocumentNoticeCommand without {', '.join(missing)}")
    if notice.resume_after_contact_id:
        uuid.UUID(notice.resume_after_contact_id)  # ValueError when it is not an id


class DocumentNotices:
    """The handler of ``cmd.campaign.send_document_notice``."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size

    async def __call__(self, conn: Any, event: EventEnvelope, msg: Any) -> None:
        notice = unpack(event, events_pb2.SendDocumentNoticeCommand)
        account = event.tenant_id
        _check(notice, account)
        locales = list(dict.fromkeys([*notice.locales, notice.locale]))
        fallback = notice.fallback_locale or locales[0]
        mine = notice.locale.lower()
        after = notice.resume_after_contact_id or None
        rows = await contacts.notice_batch(
            conn, account, after, self.batch_size, domain.NOTICE_STOPPERS
        )
        picks: list[tuple[str, str]] = []
        stopped = 0
        for row in rows:
            chosen = domain.notice_locale(row["locale"], locales, fallback)
            if chosen.lower() != mine:
                continue  # another command of this version, in the contact's locale, tells them
            if row["stopped"]:
                stopped += 1
                continue
            picks.append((row["id"], notice.locale))
        claimed = await notices.claim(conn, account, notice.document_id, notice.version, picks)
        await add_events(
            conn,
            [
                outgoing.document_notice_email(account, notice, row, notice.locale)
                for row in rows
                if row["id"] in claimed
            ],
        )
        final = len(rows) < self.batch_size
        if not final:
            await add_event(conn, outgoing.notice_continuation(account, notice, rows[-1]["id"]))
        counter = _counter()
        counter.labels("queued").inc(len(claimed))
        counter.labels("already_sent").inc(len(picks) - len(claimed))
        counter.labels("suppressed").inc(stopped)
        _batches().labels(str(final).lower()).inc()
        log.info(
            "document notice batch",
            extra={
                "document_id": notice.document_id,
                "version": notice.version,
                "locale": notice.locale,
                "queued": len(claimed),
                "suppressed": stopped,
                "final": final,
            },
        )
