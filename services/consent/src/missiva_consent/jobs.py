"""Scheduled jobs, run as admin commands (Kubernetes CronJobs, or by hand):

python -m missiva_consent digest [YYYY-MM-DD]   seal the ledger of a UTC day (default:
                                                yesterday) for every account; publish it
python -m missiva_consent send-document-notices queue to campaign the due notices of
                                                accounts' privacy-notice changes (hourly)
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg

from missiva.consent.v1 import events_pb2
from missiva_consent import domain, legal, notices
from missiva_consent.config import ConsentSettings
from missiva_consent.store import base as db
from missiva_consent.store import digests as digest_store
from missiva_platform import metrics

if TYPE_CHECKING:
    from prometheus_client import Counter

    from missiva_platform.service import ServiceApp

log = logging.getLogger(__name__)

# A day is sealed only once it has been over for this long, so that no transaction still
# in flight at midnight can add an entry dated before the cut-off.
SEAL_GRACE = timedelta(minutes=15)


async def seal_digests(
    conn: db.Conn, day: date, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Seal ``day`` for every account with a ledger; publish each new digest."""
    _, end = legal.day_bounds(day)
    if (now or datetime.now(UTC)) < end + SEAL_GRACE:
        raise ValueError(f"{day} is not over yet (sealing waits {SEAL_GRACE} after midnight UTC)")
    sealed = []
    for account in await digest_store.accounts_with_entries(conn):
        async with conn.transaction():
            digest = await digest_store.seal_day(conn, account, day)
            if digest is None:
                continue
            await db.emit(
                conn,
                events_pb2.DailyDigestPublished(
                    day=digest["day"],
                    record_count=digest["record_count"],
                    algorithm="sha256",
                    digest=digest["digest"],
                    previous_digest=digest["previous_digest"],
                    account_id=account,
                    merkle_root=digest["merkle_root"],
                    chain_count=digest["chain_count"],
                ),
                subject=domain.DIGEST_SUBJECT,
                tenant_id=account,
                aggregate_id=f"{account}:digest",
                aggregate_version=(day - date(1970, 1, 1)).days,
            )
            sealed.append(digest)
    return sealed


async def _connect(app: ServiceApp) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(app.settings.database_url, autocommit=True)


async def digest_command(app: ServiceApp, args: list[str]) -> int:
    day = date.fromisoformat(args[0]) if args else datetime.now(UTC).date() - timedelta(days=1)
    async with await _connect(app) as conn:
        try:
            sealed = await seal_digests(conn, day)
        except ValueError as exc:
            print(f"consent: {exc}")
            return 2
    for digest in sealed:
        print(f"consent: sealed {digest['account_id']} {digest['day']}: {digest['digest']}")
    print(f"consent: {len(sealed)} digest(s) sealed for {day}")
    return 0


def _queued_counter() -> Counter:
    # Counted in the job's process: scraped only where the job's metrics are collected (a
    # CronJob pod exits; the summary line and the log carry the same numbers).
    return metrics.counter(
        "document_notices_queued_total",
        "Notices of material changes to accounts' privacy notices queued to campaign.",
    )


async def send_document_notices(
    conn: db.Conn,
    *,
    platform_account_id: str,
    now: datetime | None = None,
    batch_size: int = notices.BATCH_SIZE,
) -> notices.BatchResult:
    """Queue every due account privacy-notice change to campaign, a committed batch at a
    time (``notices`` explains the rules). ``conn`` is an autocommit connection."""
    now = now or datetime.now(UTC)
    total = notices.BatchResult()
    queued = _queued_counter()
    while True:
        batch = await notices.queue_batch(
            conn, now=now, platform_account_id=platform_account_id, limit=batch_size
        )
        if not batch.found:
            break
        # Counted once committed: a batch that failed was rolled back and counts nothing.
        queued.inc(batch.queued)
        total.found += batch.found
        total.queued += batch.queued
        total.superseded += batch.superseded
    if total.found:
        log.info(
            "document notices queued",
            extra={"queued": total.queued, "superseded": total.superseded},
        )
    return total


async def send_document_notices_command(app: ServiceApp, argv: list[str]) -> int:
    """``send-document-notices``: queue the due notices (needs only ``DATABASE_URL``; the
    running service's relay publishes them)."""
    parser = argparse.ArgumentParser(prog="python -m missiva_consent send-document-notices")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=notices.BATCH_SIZE,
        help="document versions per committed batch",
    )
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        print("send-document-notices: --batch-size must be at least 1")
        return 2
    settings = app.settings
    assert isinstance(settings, ConsentSettings)
    async with await _connect(app) as conn:
        result = await send_document_notices(
            conn, platform_account_id=settings.platform_account_id, batch_size=args.batch_size
        )
    print(
        f"send-document-notices: {result.queued} notice(s) queued to campaign, "
        f"{result.superseded} superseded"
    )
    return 0


COMMANDS = {"digest": digest_command, "send-document-notices": send_document_notices_command}
