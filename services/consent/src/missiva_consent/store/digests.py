"""Daily ledger digests (Merkle roots) and inclusion proofs.

Every function takes an open connection and runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from missiva_consent import legal
from missiva_consent.domain import GENESIS
from missiva_consent.store.base import Conn
from missiva_consent.verify_proof import digest_of, leaf_hash, merkle_path, merkle_root

_HEADS_AT = """
SELECT DISTINCT ON (person_key) person_key, seq, entry_hash FROM consent_ledger
WHERE account_id = %s AND recorded_at < %s
ORDER BY person_key, seq DESC
"""

_RECORDS_BEFORE = "SELECT count(*) FROM consent_ledger WHERE account_id = %s AND recorded_at < %s"

_LAST_DIGEST_BEFORE = """
SELECT day, digest FROM ledger_digests WHERE account_id = %s AND day < %s
ORDER BY day DESC LIMIT 1
"""

_DIGEST_COLUMNS = (
    "account_id, day, chain_count, record_count, merkle_root, previous_digest, digest, sealed_at"
)

_INSERT_DIGEST = f"""
INSERT INTO ledger_digests ({_DIGEST_COLUMNS.replace(", sealed_at", "")})
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING RETURNING account_id
"""

_DIGEST_OF_DAY = f"SELECT {_DIGEST_COLUMNS} FROM ledger_digests WHERE account_id = %s AND day = %s"

_LATEST_DIGEST_COVERING = f"""
SELECT {_DIGEST_COLUMNS} FROM ledger_digests
WHERE account_id = %s AND day >= %s ORDER BY day DESC LIMIT 1
"""

_ACCOUNTS_WITH_ENTRIES_BEFORE = """
SELECT DISTINCT account_id FROM ledger_chains WHERE recorded_at IS NOT NULL
"""


async def heads_at(conn: Conn, account_id: str, cutoff: datetime) -> list[tuple[str, int, str]]:
    """Every chain's head (person key, seq, hash) as it stood at ``cutoff``, by person key."""
    cur = await conn.execute(_HEADS_AT, (account_id, cutoff))
    return [(row[0], row[1], row[2]) for row in await cur.fetchall()]


async def seal_day(conn: Conn, account_id: str, day: date) -> dict[str, Any] | None:
    """Seal ``day`` for the account: Merkle root over the chain heads at its end, chained to
    the previous digest. Returns the new digest, or None if the day was sealed already (or
    the account had no entries by then)."""
    _, end = legal.day_bounds(day)
    heads = await heads_at(conn, account_id, end)
    if not heads:
        return None  # the account had no entries yet at the end of that day
    root = merkle_root([leaf_hash(k, s, h) for k, s, h in heads])
    cur = await conn.execute(_RECORDS_BEFORE, (account_id, end))
    counted = await cur.fetchone()
    records = int(counted[0]) if counted else 0
    cur = await conn.execute(_LAST_DIGEST_BEFORE, (account_id, day))
    last = await cur.fetchone()
    previous = last[1] if last else GENESIS
    digest = digest_of(previous, account_id, day.isoformat(), len(heads), records, root)
    cur = await conn.execute(
        _INSERT_DIGEST, (account_id, day, len(heads), records, root, previous, digest)
    )
    if await cur.fetchone() is None:
        return None
    return {
        "account_id": account_id,
        "day": day.isoformat(),
        "chain_count": len(heads),
        "record_count": records,
        "merkle_root": root,
        "previous_digest": previous,
        "digest": digest,
    }


async def accounts_with_entries(conn: Conn) -> list[str]:
    cur = await conn.execute(_ACCOUNTS_WITH_ENTRIES_BEFORE)
    return sorted(row[0] for row in await cur.fetchall())


def _digest_row(row: Sequence[Any]) -> dict[str, Any]:
    return {
        "account_id": row[0],
        "day": row[1].isoformat(),
        "chain_count": row[2],
        "record_count": row[3],
        "merkle_root": row[4],
        "previous_digest": row[5],
        "digest": row[6],
    }


async def digest_of_day(conn: Conn, account_id: str, day: date) -> dict[str, Any] | None:
    cur = await conn.execute(_DIGEST_OF_DAY, (account_id, day))
    row = await cur.fetchone()
    return _digest_row(row) if row else None


class DigestMismatch(Exception):
    """The ledger no longer matches a digest sealed earlier: it was tampered with."""


async def inclusion(
    conn: Conn, account_id: str, person_key: str, first_recorded: datetime
) -> dict[str, Any] | None:
    """The latest digest covering the person's chain, with the Merkle path of its head."""
    cur = await conn.execute(
        _LATEST_DIGEST_COVERING, (account_id, first_recorded.astimezone(UTC).date())
    )
    row = await cur.fetchone()
    if row is None:
        return None
    sealed = _digest_row(row)
    _, end = legal.day_bounds(row[1])
    heads = await heads_at(conn, account_id, end)
    leaves = [leaf_hash(k, s, h) for k, s, h in heads]
    if merkle_root(leaves) != sealed["merkle_root"]:
        raise DigestMismatch(f"the ledger of {account_id} no longer matches its digest of {row[1]}")
    index = next((i for i, head in enumerate(heads) if head[0] == person_key), None)
    if index is None:
        return None
    _, seq, head_hash = heads[index]
    return {
        **sealed,
        "covered_seq": seq,
        "covered_hash": head_hash,
        "path": merkle_path(leaves, index),
    }
