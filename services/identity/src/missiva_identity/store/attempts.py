"""Throttling counters for logins and other guessable steps.
Every function takes the caller's transaction; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence

from missiva_identity.domain import AttemptCounts
from missiva_identity.store._sql import Conn, fetch_one


async def lock_key(conn: Conn, key: str) -> None:
    """Serialise attempts on one throttle key for the rest of the transaction."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 7))", (key,))


async def attempt_counts(conn: Conn, key: str, *, reset_on_success: bool) -> AttemptCounts:
    row = await fetch_one(
        conn,
        """
        WITH recent AS (
            SELECT succeeded, occurred_at FROM login_attempts
            WHERE throttle_key = %(key)s AND occurred_at > now() - interval '1 hour'
        ), since AS (
            SELECT CASE WHEN %(reset)s THEN coalesce(max(occurred_at), '-infinity')
                        ELSE '-infinity' END AS t
            FROM recent WHERE succeeded
        )
        SELECT count(*) FILTER (WHERE NOT succeeded) AS hour,
               count(*) FILTER (WHERE NOT succeeded AND occurred_at > (SELECT t FROM since))
                   AS consecutive,
               max(occurred_at) FILTER (WHERE NOT succeeded) AS last_failure
        FROM recent
        """,
        {"key": key, "reset": reset_on_success},
    )
    assert row is not None
    return AttemptCounts(int(row["hour"]), int(row["consecutive"]), row["last_failure"])


async def record_attempt(conn: Conn, keys: Sequence[str], succeeded: bool) -> None:
    for key in keys:
        await conn.execute(
            "INSERT INTO login_attempts (throttle_key, succeeded) VALUES (%s, %s)",
            (key, succeeded),
        )
