"""Notices of material changes to an account's own privacy notice, for its contacts.

A material version of an ``ACCOUNT_PRIVACY_NOTICE`` gets ``notice_at`` = ``effective_at``
minus 14 days (``legal.document_from_pb``). Consent keeps the texts but no contact address:
campaign owns the contacts, so from ``notice_at`` on consent queues a durable command,
``SendDocumentNoticeCommand`` on campaign's work queue (``cmd.campaign.send_document_notice``),
one per (account, document, version, locale), and campaign mails every contact. The platform's
own documents are identity's to announce (to our users), never campaign's.

``document_notices`` records each (account, document, version, locale) once handled: queued
(with the command's event id) or superseded. ``queue_batch`` claims due versions and writes
their rows and commands in one transaction, so a crash leaves a version either fully queued
or untouched; the primary key makes an overlapping run skip what another run took.

Superseded versions. Versions of a document take effect in the order of ``effective_at``
(consent serves the latest one in effect; a tie goes to the later publication). When a run
finds several due material versions of one (account, document, locale), only the last of them
in that order is announced: the earlier ones are recorded as superseded by it and never
announced, so contacts get one notice, of the text that governs (a superseded version is in
force at most until that one is). A later version whose notice time is still ahead holds
nothing back: the earlier one takes effect first, so it is announced on its own, and the later
one at its own time. So the latest material change is always announced, and an earlier one
never after it. As every material version's notice is 14 days before its effect, an hourly
run supersedes only versions taking effect within the same hour, or after the job did not
run for a while.

A version found more than ``LATE_LIMIT`` after it took effect (the job was broken for weeks,
or the version was published before this job existed) is not announced any more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from missiva.campaign.v1 import events_pb2 as campaign_events
from missiva_consent import domain
from missiva_consent.domain import DocumentKind
from missiva_consent.legal import Document
from missiva_consent.store import base as db
from missiva_consent.store import documents as document_store
from missiva_platform.events import EventEnvelope, envelope
from missiva_platform.outbox import add_event
from missiva_platform.streams import SEND_DOCUMENT_NOTICE

NOTICE_KIND = DocumentKind.ACCOUNT_PRIVACY_NOTICE
_COLUMNS = len(document_store.DOCUMENT_COLUMNS.split(","))  # the document's, then ours
LATE_LIMIT = timedelta(days=30)
BATCH_SIZE = 100


def notice_command(
    document: Document, *, locales: Sequence[str]
) -> campaign_events.SendDocumentNoticeCommand:
    """The command asking campaign to tell the account's contacts about ``document``.

    ``locales`` are the locales the version is announced in, first published first (a
    contact whose locale is not among them gets the first one, as ``GetDocument`` serves it).
    """
    ordered = list(dict.fromkeys([*locales, document.locale] if locales else [document.locale]))
    message = campaign_events.SendDocumentNoticeCommand(
        document_id=document.document_id,
        version=document.version,
        kind=domain.KIND_PB[document.kind],
        title=document.title,
        locale=document.locale,
        url=document.url,
        summary_of_changes=document.summary_of_changes,
        locales=ordered,
        fallback_locale=ordered[0],
    )
    message.published_at.FromDatetime(document.published_at)
    message.effective_at.FromDatetime(document.effective_at)
    return message


def notice_envelope(document: Document, *, locales: Sequence[str]) -> EventEnvelope:
    """The command in its envelope: the account is the tenant (no address, no token in it)."""
    return envelope(
        notice_command(document, locales=locales),
        subject=SEND_DOCUMENT_NOTICE,
        tenant_id=document.account_id,
        producer=db.PRODUCER,
    )


# The due, not yet handled material versions of accounts' privacy notices, oldest notice first,
# each with the version that governs last among the due ones of its document and locale
# (itself, unless superseded) and the locales its version is announced in.
_DUE = f"""
SELECT {document_store.DOCUMENT_COLUMNS}, latest.latest_version,
       (SELECT array_agg(l.locale ORDER BY l.published_at, l.locale) FROM legal_documents l
        WHERE l.account_id = d.account_id AND l.document_id = d.document_id
          AND l.version = d.version AND l.kind = d.kind AND l.material) AS locales
FROM legal_documents d
CROSS JOIN LATERAL (
    SELECT l.version AS latest_version FROM legal_documents l
    WHERE l.account_id = d.account_id AND l.document_id = d.document_id
      AND l.locale = d.locale AND l.kind = d.kind AND l.material
      AND l.notice_at <= %(now)s
    ORDER BY l.effective_at DESC, l.published_at DESC, l.version DESC
    LIMIT 1
) latest
WHERE d.kind = %(kind)s AND d.material AND d.notice_at <= %(now)s
  AND d.effective_at > %(too_late)s AND d.account_id <> %(platform)s
  AND NOT EXISTS (SELECT 1 FROM document_notices n
                  WHERE n.account_id = d.account_id AND n.document_id = d.document_id
                    AND n.version = d.version AND n.locale = d.locale)
ORDER BY d.notice_at, d.account_id, d.document_id, d.locale, d.effective_at, d.published_at
LIMIT %(limit)s
"""
# Claims the rows; a version another run claimed meanwhile is skipped (it waits for that
# run's transaction on the key, then finds the row).
_CLAIM = """
INSERT INTO document_notices (account_id, document_id, version, locale, notice_at,
                              effective_at, handled_at, superseded_by, command_id)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[],
                     %s::timestamptz[], %s::timestamptz[], %s::text[], %s::uuid[])
ON CONFLICT DO NOTHING
RETURNING account_id, document_id, version, locale
"""


@dataclass(frozen=True)
class DueNotice:
    document: Document
    # The version announced instead of this one; None when this one is announced.
    superseded_by: str | None
    locales: tuple[str, ...]


@dataclass
class BatchResult:
    found: int = 0  # due versions the batch looked at (0: nothing left)
    queued: int = 0  # commands written to the outbox
    superseded: int = 0  # versions recorded as superseded, without a command


async def due_notices(
    conn: db.Conn, *, now: datetime, platform_account_id: str, limit: int
) -> list[DueNotice]:
    cur = await conn.execute(
        _DUE,
        {
            "now": now,
            "kind": str(NOTICE_KIND),
            "too_late": now - LATE_LIMIT,
            "platform": platform_account_id,
            "limit": limit,
        },
    )
    found = []
    for row in await cur.fetchall():
        document = document_store.document_of_row(row[:_COLUMNS])
        latest, locales = row[_COLUMNS], row[_COLUMNS + 1] or [document.locale]
        found.append(
            DueNotice(
                document=document,
                superseded_by=None if latest == document.version else latest,
                locales=tuple(locales),
            )
        )
    return found


async def queue_batch(
    conn: db.Conn, *, now: datetime, platform_account_id: str, limit: int = BATCH_SIZE
) -> BatchResult:
    """Handle up to ``limit`` due versions in one transaction: record each one, and queue
    the command of each one not superseded. Nothing of the batch stays if anything fails."""
    result = BatchResult()
    async with conn.transaction():
        due = await due_notices(conn, now=now, platform_account_id=platform_account_id, limit=limit)
        result.found = len(due)
        if not due:
            return result
        commands: dict[tuple[str, str, str, str], EventEnvelope] = {}
        columns: list[list[Any]] = [[] for _ in range(9)]
        for notice in due:
            doc = notice.document
            key = (doc.account_id, doc.document_id, doc.version, doc.locale)
            command_id = None
            if notice.superseded_by is None:
                commands[key] = notice_envelope(doc, locales=notice.locales)
                command_id = commands[key].event_id
            values = (*key, doc.notice_at, doc.effective_at, now, notice.superseded_by, command_id)
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        cur = await conn.execute(_CLAIM, columns)
        for row in await cur.fetchall():
            command = commands.get((row[0], row[1], row[2], row[3]))
            if command is None:
                result.superseded += 1
            else:
                await add_event(conn, command)
                result.queued += 1
    return result
