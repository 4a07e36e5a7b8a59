"""Public-link visits: yearly IP-hash salts, hits and abuse flags.

Every function takes an open connection and runs inside the caller's transaction.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from missiva_consent.keys import link_ip_hash, new_salt
from missiva_consent.store.base import Conn, batch

_SALT_OF_YEAR = "SELECT salt FROM ip_hash_salts WHERE year = %s"

_NEW_SALT = """
INSERT INTO ip_hash_salts (year, salt, retire_after) VALUES (%s, %s, %s)
ON CONFLICT (year) DO NOTHING
"""

_RECORD_HIT = """
INSERT INTO link_hits (ip_hash, day, kind, account_id, person_key, seen_at)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
"""


# Counting stops at the threshold: an IP that unsubscribes thousands stays cheap to check.
_DISTINCT_PEOPLE = """
SELECT count(*) FROM (
    SELECT DISTINCT account_id, person_key FROM link_hits
    WHERE ip_hash = %s AND kind = 'unsubscribe' AND seen_at > %s
    LIMIT %s
) people
"""

_FLAG_IP = """
INSERT INTO ip_review_flags (ip_hash, day, distinct_people) VALUES (%s, %s, %s)
ON CONFLICT (ip_hash, day) DO UPDATE SET distinct_people = EXCLUDED.distinct_people
RETURNING (xmax = 0) AS first_flag
"""


async def link_salt(conn: Conn, at: datetime) -> bytes:
    """Consent's own salt for ``at``'s year, created the first time it is needed."""
    year = at.astimezone(UTC).year
    cur = await conn.execute(_SALT_OF_YEAR, (year,))
    row = await cur.fetchone()
    if row is None:
        end_of_year = datetime(year + 1, 1, 1, tzinfo=UTC)
        await conn.execute(_NEW_SALT, (year, new_salt(), end_of_year))
        cur = await conn.execute(_SALT_OF_YEAR, (year,))
        row = await cur.fetchone()
    assert row is not None
    return bytes(row[0])


async def record_link_hit(
    conn: Conn,
    *,
    ip: str,
    kind: str,
    account_id: str,
    person_key: str,
    at: datetime,
    window: timedelta,
    threshold: int,
    salt: bytes,
) -> tuple[str, int]:
    """Record a visit by salted IP hash; return the hash and how many different people it
    unsubscribed within ``window``, counted up to ``threshold`` (0 for preference visits)."""
    ip_hash = link_ip_hash(salt, ip, at)
    day = at.astimezone(UTC).date()
    if kind != "unsubscribe":
        await conn.execute(_RECORD_HIT, (ip_hash, day, kind, account_id, person_key, at))
        return ip_hash, 0
    # The count runs after the insert (it includes this visit): one round trip for both.
    async with batch(conn):
        await conn.execute(_RECORD_HIT, (ip_hash, day, kind, account_id, person_key, at))
        cur = await conn.execute(_DISTINCT_PEOPLE, (ip_hash, at - window, threshold))
    row = await cur.fetchone()
    return ip_hash, int(row[0]) if row else 0


async def flag_ip(conn: Conn, ip_hash: str, day: date, people: int) -> bool:
    """Flag an IP hash for review; True the first time that day."""
    cur = await conn.execute(_FLAG_IP, (ip_hash, day, people))
    row = await cur.fetchone()
    return bool(row and row[0])
