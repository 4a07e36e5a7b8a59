"""Scheduled jobs, run as admin commands (Kubernetes CronJobs, or by hand):

python -m missiva_consent digest [YYYY-MM-DD]   seal the ledger of a UTC day (default:
                                                yesterday) for every account; publish it
python -m missiva_consent legal-notices         queue the notice emails that are due
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg

from missiva.consent.v1 import events_pb2
from missiva_consent import domain, store

if TYPE_CHECKING:
    from missiva_platform.service import ServiceApp

log = logging.getLogger(__name__)

# A day is sealed only once it has been over for this long, so that no transaction still
# in flight at midnight can add an entry dated before the cut-off.
SEAL_GRACE = timedelta(minutes=15)


async def seal_digests(
    conn: store.Conn, day: date, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Seal ``day`` for every account with a ledger; publish each new digest."""
    _, end = domain.day_bounds(day)
    if (now or datetime.now(UTC)) < end + SEAL_GRACE:
        raise ValueError(f"{day} is not over yet (sealing waits {SEAL_GRACE} after midnight UTC)")
    sealed = []
    for account in await store.accounts_with_entries(conn):
        async with conn.transaction():
            digest = await store.seal_day(conn, account, day)
            if digest is None:
                continue
            await store.emit(
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


COMMANDS = {"digest": digest_command}
