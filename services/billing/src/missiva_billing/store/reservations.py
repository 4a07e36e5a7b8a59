"""Credit reservations: what each hold was for, how much of it was spent or given back.

Callers lock the account's balance (``ledger.lock``) before any reservation row, so every
transaction takes the locks in the same order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from missiva_billing.domain import Reservation

_COLUMNS = "reservation_id::text, account_id, amount, committed, released, reference, status"


def _reservation(row: tuple[Any, ...]) -> Reservation:
    return Reservation(*row)


async def insert(conn: Any, reservation: Reservation, expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO credit_reservations (reservation_id, account_id, amount, reference,"
        " expires_at) VALUES (%s, %s, %s, %s, %s)",
        (
            reservation.reservation_id,
            reservation.account_id,
            reservation.amount,
            reservation.reference,
            expires_at,
        ),
    )


async def get(conn: Any, account_id: str, reservation_id: str, *, lock: bool) -> Reservation | None:
    """The account's reservation (None for an unknown id or another account's)."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM credit_reservations"
        f" WHERE account_id = %s AND reservation_id = %s{' FOR UPDATE' if lock else ''}",
        (account_id, reservation_id),
    )
    row = await cur.fetchone()
    return _reservation(row) if row else None


async def save(conn: Any, reservation: Reservation) -> None:
    """Store the reservation's new spent/released counts and status."""
    await conn.execute(
        "UPDATE credit_reservations SET committed = %s, released = %s, status = %s,"
        " closed_at = CASE WHEN %s = 'closed' THEN now() END"
        " WHERE reservation_id = %s",
        (
            reservation.committed,
            reservation.released,
            reservation.status,
            reservation.status,
            reservation.reservation_id,
        ),
    )


async def unclosed_for_reference(conn: Any, account_id: str, reference: str) -> list[Reservation]:
    """The account's reservations for ``reference`` that still hold credits, oldest first."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM credit_reservations"
        " WHERE account_id = %s AND reference = %s AND status <> 'closed'"
        " ORDER BY created_at, reservation_id FOR UPDATE",
        (account_id, reference),
    )
    return [_reservation(row) for row in await cur.fetchall()]


async def committed_for_reference(conn: Any, account_id: str, reference: str) -> int:
    cur = await conn.execute(
        "SELECT coalesce(sum(committed), 0)::bigint FROM credit_reservations"
        " WHERE account_id = %s AND reference = %s",
        (account_id, reference),
    )
    row = await cur.fetchone()
    return int(row[0])


async def expired(conn: Any, now: datetime, limit: int) -> list[tuple[str, str]]:
    """(account id, reservation id) of holds past their expiry, oldest first."""
    cur = await conn.execute(
        "SELECT account_id, reservation_id::text FROM credit_reservations"
        " WHERE status <> 'closed' AND expires_at <= %s ORDER BY expires_at LIMIT %s",
        (now, limit),
    )
    return [(row[0], row[1]) for row in await cur.fetchall()]


async def expires_at(conn: Any, reservation_id: str) -> datetime:
    cur = await conn.execute(
        "SELECT expires_at FROM credit_reservations WHERE reservation_id = %s", (reservation_id,)
    )
    row = await cur.fetchone()
    return row[0]  # type: ignore[no-any-return]
