"""Referral codes, the accounts they referred, and the visits of referral links."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Referral:
    referee_account_id: str
    referrer_account_id: str
    code: str
    rewarded_at: datetime | None
    reward_credits: int


async def code_of(conn: Any, account_id: str) -> str | None:
    cur = await conn.execute("SELECT code FROM referral_codes WHERE account_id = %s", (account_id,))
    row = await cur.fetchone()
    return row[0] if row else None


async def add_code(conn: Any, account_id: str, code: str) -> str | None:
    """Give the account ``code``; the account's code (an earlier one wins), None when the code
    is taken by another account (the caller draws another)."""
    cur = await conn.execute(
        "INSERT INTO referral_codes (account_id, code) VALUES (%s, %s)"
        " ON CONFLICT DO NOTHING RETURNING code",
        (account_id, code),
    )
    row = await cur.fetchone()
    if row is not None:
        return str(row[0])
    return await code_of(conn, account_id)


async def owner_of(conn: Any, code: str) -> str | None:
    cur = await conn.execute("SELECT account_id FROM referral_codes WHERE code = %s", (code,))
    row = await cur.fetchone()
    return row[0] if row else None


async def link(conn: Any, referee: str, referrer: str, code: str, reward: int) -> bool:
    """Record that ``referee`` came through ``referrer``'s code; False if it already had one."""
    cur = await conn.execute(
        "INSERT INTO referrals (referee_account_id, referrer_account_id, code, reward_credits)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
        (referee, referrer, code, reward),
    )
    return await cur.fetchone() is not None


async def of_referee(conn: Any, referee: str, *, lock: bool = False) -> Referral | None:
    cur = await conn.execute(
        "SELECT referee_account_id, referrer_account_id, code, rewarded_at, reward_credits"
        f" FROM referrals WHERE referee_account_id = %s{' FOR UPDATE' if lock else ''}",
        (referee,),
    )
    row = await cur.fetchone()
    return Referral(*row) if row else None


async def mark_rewarded(conn: Any, referee: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE referrals SET rewarded_at = %s WHERE referee_account_id = %s", (at, referee)
    )


async def counts(conn: Any, referrer: str) -> tuple[int, int]:
    """(accounts referred, of which rewarded)."""
    cur = await conn.execute(
        "SELECT count(*), count(rewarded_at) FROM referrals WHERE referrer_account_id = %s",
        (referrer,),
    )
    row = await cur.fetchone()
    return int(row[0]), int(row[1])


async def add_click(
    conn: Any, code: str, at: datetime, referrer: str, user_agent: str, network_hash: str
) -> None:
    await conn.execute(
        "INSERT INTO referral_clicks (code, clicked_at, referrer, user_agent, ip_network_hash)"
        " VALUES (%s, %s, %s, %s, %s)",
        (code, at, referrer, user_agent, network_hash),
    )


async def forget_account(conn: Any, account_id: str) -> int:
    """An erased account's code and its clicks go; the referral links stay (they hold account
    ids only, and say who was already rewarded)."""
    code = await code_of(conn, account_id)
    if code is None:
        return 0
    cur = await conn.execute("DELETE FROM referral_clicks WHERE code = %s", (code,))
    await conn.execute("DELETE FROM referral_codes WHERE account_id = %s", (account_id,))
    return int(cur.rowcount or 0)
