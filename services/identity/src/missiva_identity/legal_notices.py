"""Notice emails of material changes to the platform's legal documents.

Consent announces a materially changed version of a platform document (Terms, Privacy
Policy, …) on ``consent.document.published`` with ``notice_at`` (14 days before it takes
effect; 30 for the sub-processor list) but holds no address of our users: identity does, so
identity sends the notices.

- The consumer (``events.legal_documents_handler``) records a pending notice per (document,
  version) with ``record_notice``; the key makes a redelivered event a no-op. Other accounts'
  own documents are not ours (their contacts are campaign's).
- ``send_due_notices`` (``python -m missiva_identity send-legal-notices``, a CronJob) queues,
  from ``notice_at`` on, one ``identity.legal_notice`` email per active, verified user of an
  active or suspended account who existed before the change takes effect. Each batch inserts
  the (notice, user) rows and writes the commands to the outbox in one transaction, so a crash
  mid-run neither skips nor doubles anyone, and two overlapping runs cannot both claim a
  user (the second waits on the key and then skips it). A notice is complete once it is in
  force and nobody is left; until then users who sign up meanwhile get it too.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from missiva.consent.v1 import consent_service_pb2
from missiva_identity import mail
from missiva_identity.config import IdentitySettings

TEMPLATE = "legal_notice"
# Consent's lead for a material change; used only when an event carries no notice_at.
DEFAULT_NOTICE_LEAD = timedelta(days=14)
# A notice is kept this long after the change took effect (``retention.py``). An announcement
# older than that is not recorded again, or a late redelivery would notify everyone twice.
NOTICE_RETENTION = timedelta(days=365)
BATCH_SIZE = 500


async def record_notice(conn: Any, doc: Mapping[str, Any], *, now: datetime | None = None) -> bool:
    """A pending notice of a material change (idempotent); ``False`` when nothing was recorded."""
    now = now or datetime.now(UTC)
    if not doc["material"] or doc["effective_at"] + NOTICE_RETENTION < now:
        return False
    notice_at = doc.get("notice_at") or doc["effective_at"] - DEFAULT_NOTICE_LEAD
    cur = await conn.execute(
        "INSERT INTO legal_notices (document_id, version, kind, title, url, summary_of_changes,"
        " effective_at, notice_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (document_id, version) DO NOTHING",
        (
            doc["document_id"],
            doc["version"],
            int(doc["kind"]),
            doc["title"],
            doc["url"],
            doc["summary_of_changes"],
            doc["effective_at"],
            notice_at,
        ),
    )
    return bool(cur.rowcount)


def kind_name(kind: int) -> str:
    """``DOCUMENT_KIND_TERMS_OF_SERVICE`` → ``terms_of_service`` (templates word it)."""
    try:
        name = consent_service_pb2.DocumentKind.Name(kind)  # type: ignore[arg-type]
    except ValueError:
        return "unspecified"
    return name.removeprefix("DOCUMENT_KIND_").lower()


def _document_link(notice: Mapping[str, Any], base_url: str) -> str:
    if notice["url"]:
        return str(notice["url"])
    return f"{base_url.rstrip('/')}/legal/{notice['document_id']}/{notice['version']}"


# The users a notice concerns and has not reached yet, in keyset order; claimed by inserting
# their (notice, user) rows, which is what the emails of the batch are built from.
_CLAIM = """
INSERT INTO legal_notice_sends (document_id, version, user_id, sent_at)
SELECT %(document_id)s, %(version)s, u.id, %(now)s
FROM users u JOIN accounts a ON a.id = u.account_id
WHERE u.status = 'active' AND u.email_verified_at IS NOT NULL
  AND a.status IN ('active', 'suspended')
  AND u.created_at < %(effective_at)s
  AND NOT EXISTS (SELECT 1 FROM legal_notice_sends s
                  WHERE s.document_id = %(document_id)s AND s.version = %(version)s
                    AND s.user_id = u.id)
ORDER BY u.id
LIMIT %(limit)s
ON CONFLICT DO NOTHING
RETURNING user_id
"""


async def _send_batch(
    conn: Any, notice: Mapping[str, Any], base_url: str, now: datetime, batch_size: int
) -> int:
    """Claim and queue one batch in one transaction; the number of emails queued."""
    async with conn.transaction():
        cur = await conn.execute(_CLAIM, {**notice, "now": now, "limit": batch_size})
        claimed = [row[0] for row in await cur.fetchall()]
        if not claimed:
            return 0
        async with conn.cursor(row_factory=dict_row) as users:
            await users.execute(
                "SELECT id::text AS id, account_id::text AS account_id, email, display_name,"
                " locale, person_key FROM users WHERE id = ANY(%s) ORDER BY id",
                (claimed,),
            )
            recipients = await users.fetchall()
        effective: datetime = notice["effective_at"].astimezone(UTC)
        variables = {
            "document_kind": kind_name(notice["kind"]),
            "document_title": notice["title"],
            "version": notice["version"],
            "effective_date": effective.date().isoformat(),
            "effective_at": effective.isoformat().replace("+00:00", "Z"),
            "document_url": _document_link(notice, base_url),
            "summary_of_changes": notice["summary_of_changes"],
        }
        for user in recipients:
            # SYSTEM category (mail.email): a notice of a change to the contract is not
            # marketing and may not be opted out of; an unsubscription does not stop it.
            await mail.send_email(
                conn,
                template=TEMPLATE,
                to=user["email"],
                name=user["display_name"],
                locale=user["locale"],
                person_key=user["person_key"],
                tenant_id=user["account_id"],
                variables={**variables, "display_name": user["display_name"]},
                # Delivery sends a key once: the same notice never reaches a user twice.
                idempotency_key=(
                    f"identity.legal_notice:{notice['document_id']}:{notice['version']}:"
                    f"{user['id']}"
                ),
            )
        return len(recipients)


async def send_due_notices(
    conn: Any,
    settings: IdentitySettings,
    *,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Queue every due notice email, a committed batch at a time; the number queued.

    ``conn`` is an autocommit connection (each batch is its own transaction).
    """
    now = now or datetime.now(UTC)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT document_id, version, kind, title, url, summary_of_changes, effective_at"
            " FROM legal_notices WHERE completed_at IS NULL AND notice_at <= %s"
            " ORDER BY notice_at, document_id, version",
            (now,),
        )
        due = await cur.fetchall()
    total = 0
    for notice in due:
        while sent := await _send_batch(conn, notice, settings.public_base_url, now, batch_size):
            total += sent
        if notice["effective_at"] <= now:
            # In force and nobody left: later users accepted this version at sign-up.
            await conn.execute(
                "UPDATE legal_notices SET completed_at = %s"
                " WHERE document_id = %s AND version = %s AND completed_at IS NULL",
                (now, notice["document_id"], notice["version"]),
            )
    return total


async def send_legal_notices_command(app: Any, argv: list[str]) -> int:
    """``send-legal-notices``: queue the due notice emails (needs only ``DATABASE_URL``)."""
    parser = argparse.ArgumentParser(prog="python -m missiva_identity send-legal-notices")
    parser.add_argument(
        "--batch-size", type=int, default=BATCH_SIZE, help="users per committed batch"
    )
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        print("send-legal-notices: --batch-size must be at least 1")
        return 2
    settings: IdentitySettings = app.settings
    async with await psycopg.AsyncConnection.connect(
        settings.database_url, autocommit=True
    ) as conn:
        sent = await send_due_notices(conn, settings, batch_size=args.batch_size)
    print(f"send-legal-notices: {sent} notice email(s) queued")
    return 0
