"""The credit ledger (append-only) and the balance projection it sums to.

Every change locks the account's balance row first (``lock``), computes the new balance in
Python (``domain.Balance``) and writes the ledger entry and the new balance in one statement
(``apply``): the entry exists if and only if the projection moved. Entries with a natural
key (a grant's ``grant_key``, a commit's ``message_id``) are written at most once per
account: a second ``apply`` of the same key changes nothing and returns False.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from missiva_billing.domain import Balance

_COLUMNS = "account_id, available, reserved, last_grant, low_notified, version"


@dataclass(frozen=True)
class Entry:
    kind: str  # grant | reserve | commit | release | expire | adjust
    amount: int
    available_delta: int
    reserved_delta: int
    reservation_id: str | None = None
    message_id: str | None = None
    grant_key: str | None = None
    reference: str = ""


def _balance(row: tuple[Any, ...]) -> Balance:
    return Balance(
        account_id=row[0],
        available=row[1],
        reserved=row[2],
        last_grant=row[3],
        low_notified=row[4],
        version=row[5],
    )


async def read(conn: Any, account_id: str) -> Balance:
    """The balance without a lock (an account never granted anything has zero)."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM credit_balances WHERE account_id = %s", (account_id,)
    )
    row = await cur.fetchone()
    return _balance(row) if row else Balance(account_id)


async def lock(conn: Any, account_id: str) -> Balance:
    """The balance, row-locked until the transaction ends (created at zero if missing).

    Every credit change of an account serialises here: concurrent reservations wait for the
    one before them and see its result, so none can spend what another already took.
    """
    statement = f"SELECT {_COLUMNS} FROM credit_balances WHERE account_id = %s FOR UPDATE"
    cur = await conn.execute(statement, (account_id,))
    row = await cur.fetchone()
    if row is None:
        await conn.execute(
            "INSERT INTO credit_balances (account_id) VALUES (%s) ON CONFLICT DO NOTHING",
            (account_id,),
        )
        cur = await conn.execute(statement, (account_id,))
        row = await cur.fetchone()
    return _balance(row)


_APPLY = """
WITH entry AS (
    INSERT INTO credit_ledger (account_id, kind, amount, available_delta, reserved_delta,
                               reservation_id, message_id, grant_key, reference)
    VALUES (%(account)s, %(kind)s, %(amount)s, %(available_delta)s, %(reserved_delta)s,
            %(reservation_id)s, %(message_id)s, %(grant_key)s, %(reference)s)
    {conflict}
    RETURNING entry_id
)
UPDATE credit_balances
   SET available = %(available)s, reserved = %(reserved)s, last_grant = %(last_grant)s,
       low_notified = %(low_notified)s, version = %(version)s, updated_at = now()
 WHERE account_id = %(account)s AND EXISTS (SELECT 1 FROM entry)
RETURNING (SELECT entry_id FROM entry)
"""
_ON_GRANT = "ON CONFLICT (account_id, grant_key) WHERE grant_key IS NOT NULL DO NOTHING"
_ON_MESSAGE = "ON CONFLICT (account_id, message_id) WHERE message_id IS NOT NULL DO NOTHING"
_STATEMENTS = {
    "": _APPLY.format(conflict=""),
    "grant": _APPLY.format(conflict=_ON_GRANT),
    "message": _APPLY.format(conflict=_ON_MESSAGE),
}


async def apply(conn: Any, after: Balance, entry: Entry) -> bool:
    """Append ``entry`` and set the projection to ``after`` (the caller holds ``lock``).

    False when an entry with the same grant key or message id already exists: then nothing
    changed.
    """
    key = "grant" if entry.grant_key else "message" if entry.message_id else ""
    cur = await conn.execute(
        _STATEMENTS[key],
        {
            "account": after.account_id,
            "kind": entry.kind,
            "amount": entry.amount,
            "available_delta": entry.available_delta,
            "reserved_delta": entry.reserved_delta,
            "reservation_id": entry.reservation_id,
            "message_id": entry.message_id,
            "grant_key": entry.grant_key,
            "reference": entry.reference,
            "available": after.available,
            "reserved": after.reserved,
            "last_grant": after.last_grant,
            "low_notified": after.low_notified,
            "version": after.version,
        },
    )
    return cur.rowcount == 1


async def has_message(conn: Any, account_id: str, message_id: str) -> bool:
    cur = await conn.execute(
        "SELECT 1 FROM credit_ledger WHERE account_id = %s AND message_id = %s",
        (account_id, message_id),
    )
    return await cur.fetchone() is not None


async def entries(conn: Any, account_id: str) -> list[dict[str, Any]]:
    """Every entry of the account, oldest first (tests, export)."""
    cur = await conn.execute(
        "SELECT entry_id, kind, amount, available_delta, reserved_delta, reservation_id::text,"
        " message_id, grant_key, reference, created_at"
        " FROM credit_ledger WHERE account_id = %s ORDER BY entry_id",
        (account_id,),
    )
    names = [c.name for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


_PAGE = """
SELECT l.entry_id, l.kind, l.amount, l.reference, l.reservation_id::text, l.created_at,
       COALESCE(r.committed, 0)
FROM credit_ledger l
LEFT JOIN credit_reservations r ON l.kind = 'reserve' AND r.reservation_id = l.reservation_id
WHERE l.account_id = %s AND l.kind <> 'commit' AND l.entry_id < %s
ORDER BY l.entry_id DESC LIMIT %s
"""


@dataclass(frozen=True)
class Line:
    """A ledger entry as the account sees it (a reservation with its commits summed)."""

    entry_id: int
    kind: str
    amount: int
    reference: str
    reservation_id: str | None
    created_at: Any
    committed: int


async def page(conn: Any, account_id: str, *, before: int, limit: int) -> list[Line]:
    """The account's entries older than ``before``, newest first; commits are left out
    (each is one message sent, summed on its reservation's line)."""
    cur = await conn.execute(_PAGE, (account_id, before, limit))
    return [Line(*row) for row in await cur.fetchall()]
