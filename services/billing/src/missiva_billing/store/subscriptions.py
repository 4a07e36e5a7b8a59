"""Subscriptions, account owners and the trial registry."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class SubscriptionRow:
    subscription_id: str
    account_id: str
    plan_id: str
    status: str
    provider: str
    current_period_start: datetime
    current_period_end: datetime
    trial_ends_at: datetime | None = None
    cancel_at_period_end: bool = False
    canceled_at: datetime | None = None
    cancel_reason: str = ""
    pending_plan_id: str | None = None
    open_invoice_id: str | None = None
    past_due_since: datetime | None = None
    reminders_sent: int = 0
    provider_customer_id: str | None = None
    provider_subscription_id: str | None = None
    provider_invoice_id: str | None = None


_COLUMNS = tuple(f.name for f in fields(SubscriptionRow))
_SELECT = ", ".join(
    f"{c}::text" if c in ("subscription_id", "open_invoice_id") else c for c in _COLUMNS
)


async def get(conn: Any, account_id: str, *, lock: bool = False) -> SubscriptionRow | None:
    cur = await conn.execute(
        f"SELECT {_SELECT} FROM subscriptions WHERE account_id = %s{' FOR UPDATE' if lock else ''}",
        (account_id,),
    )
    row = await cur.fetchone()
    return SubscriptionRow(*row) if row else None


async def save(conn: Any, sub: SubscriptionRow) -> None:
    """Insert or replace the account's subscription (a new one replaces a cancelled one)."""
    values = [getattr(sub, c) for c in _COLUMNS]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS if c != "account_id")
    await conn.execute(
        f"INSERT INTO subscriptions ({', '.join(_COLUMNS)})"
        f" VALUES ({', '.join(['%s'] * len(_COLUMNS))})"
        f" ON CONFLICT (account_id) DO UPDATE SET {updates}, updated_at = now()",
        values,
    )


async def due(conn: Any, now: datetime, limit: int) -> list[str]:
    """Accounts whose subscription needs the renewal job: its period ended, or it is past due."""
    cur = await conn.execute(
        "SELECT account_id FROM subscriptions WHERE status <> 'canceled'"
        " AND (current_period_end <= %s OR status = 'past_due') ORDER BY current_period_end"
        " LIMIT %s",
        (now, limit),
    )
    return [r[0] for r in await cur.fetchall()]


async def by_provider_subscription(
    conn: Any, provider: str, provider_subscription_id: str
) -> SubscriptionRow | None:
    cur = await conn.execute(
        f"SELECT {_SELECT} FROM subscriptions WHERE provider = %s"
        " AND provider_subscription_id = %s FOR UPDATE",
        (provider, provider_subscription_id),
    )
    row = await cur.fetchone()
    return SubscriptionRow(*row) if row else None


async def by_open_invoice(conn: Any, invoice_id: str) -> SubscriptionRow | None:
    cur = await conn.execute(
        f"SELECT {_SELECT} FROM subscriptions WHERE open_invoice_id = %s FOR UPDATE",
        (invoice_id,),
    )
    row = await cur.fetchone()
    return SubscriptionRow(*row) if row else None


async def set_owner(conn: Any, account_id: str, user_id: str, person_key: str) -> None:
    await conn.execute(
        "INSERT INTO account_owners (account_id, user_id, person_key) VALUES (%s, %s, %s)"
        " ON CONFLICT DO NOTHING",
        (account_id, user_id, person_key),
    )


async def owner_key(conn: Any, account_id: str) -> str | None:
    cur = await conn.execute(
        "SELECT person_key FROM account_owners WHERE account_id = %s AND erased_at IS NULL",
        (account_id,),
    )
    row = await cur.fetchone()
    return row[0] if row else None


async def forget_owner(conn: Any, account_id: str) -> None:
    await conn.execute(
        "UPDATE account_owners SET erased_at = now() WHERE account_id = %s AND erased_at IS NULL",
        (account_id,),
    )


async def use_trial(conn: Any, person_key: str) -> bool:
    """Register the person's trial; False if they had one already."""
    cur = await conn.execute(
        "INSERT INTO trial_registry (person_key) VALUES (%s) ON CONFLICT DO NOTHING RETURNING 1",
        (person_key,),
    )
    return await cur.fetchone() is not None


async def end(conn: Any, account_id: str) -> None:
    """Cancel the account's subscription now (the account was erased)."""
    await conn.execute(
        "UPDATE subscriptions SET status = 'canceled', canceled_at = now(),"
        " cancel_reason = 'account erased', open_invoice_id = NULL, updated_at = now()"
        " WHERE account_id = %s AND status <> 'canceled'",
        (account_id,),
    )


async def trial_used(conn: Any, person_key: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM trial_registry WHERE person_key = %s", (person_key,))
    return await cur.fetchone() is not None
