"""Provider customers (whose customer is which account) and the provider events applied."""

from __future__ import annotations

from typing import Any


async def record_event(conn: Any, provider: str, event_id: str, event_type: str) -> bool:
    """Note the event as applied (in the caller's transaction); False if it already was."""
    cur = await conn.execute(
        "INSERT INTO provider_events (provider, event_id, event_type, handled)"
        " VALUES (%s, %s, %s, false) ON CONFLICT DO NOTHING RETURNING 1",
        (provider, event_id, event_type),
    )
    return await cur.fetchone() is not None


async def finish_event(
    conn: Any, provider: str, event_id: str, account_id: str | None, handled: bool
) -> None:
    await conn.execute(
        "UPDATE provider_events SET account_id = %s, handled = %s"
        " WHERE provider = %s AND event_id = %s",
        (account_id, handled, provider, event_id),
    )


async def account_of(conn: Any, provider: str, customer_id: str) -> str | None:
    cur = await conn.execute(
        "SELECT account_id FROM provider_customers WHERE provider = %s AND customer_id = %s",
        (provider, customer_id),
    )
    row = await cur.fetchone()
    return row[0] if row else None


async def link(conn: Any, provider: str, customer_id: str, account_id: str) -> str:
    """Link the provider's customer to the account; the account it is linked to (an earlier
    link wins)."""
    await conn.execute(
        "INSERT INTO provider_customers (provider, customer_id, account_id) VALUES (%s, %s, %s)"
        " ON CONFLICT DO NOTHING",
        (provider, customer_id, account_id),
    )
    linked = await account_of(conn, provider, customer_id)
    assert linked is not None
    return linked


async def customer_of(conn: Any, provider: str, account_id: str) -> str | None:
    cur = await conn.execute(
        "SELECT customer_id FROM provider_customers WHERE provider = %s AND account_id = %s"
        " ORDER BY created_at LIMIT 1",
        (provider, account_id),
    )
    row = await cur.fetchone()
    return row[0] if row else None


async def tax_rate(conn: Any, provider: str, rate_bps: int) -> str | None:
    cur = await conn.execute(
        "SELECT tax_rate_id FROM provider_tax_rates WHERE provider = %s AND rate_bps = %s",
        (provider, rate_bps),
    )
    row = await cur.fetchone()
    return row[0] if row else None


async def add_tax_rate(conn: Any, provider: str, rate_bps: int, tax_rate_id: str) -> str:
    """Keep the provider's tax rate for ``rate_bps``; the one kept (an earlier one wins)."""
    await conn.execute(
        "INSERT INTO provider_tax_rates (provider, rate_bps, tax_rate_id) VALUES (%s, %s, %s)"
        " ON CONFLICT DO NOTHING",
        (provider, rate_bps, tax_rate_id),
    )
    kept = await tax_rate(conn, provider, rate_bps)
    assert kept is not None
    return kept
