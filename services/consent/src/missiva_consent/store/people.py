"""One person across the aggregates: export, erasure, and an account's purge.

Every function takes an open connection and runs inside the caller's transaction.
"""

from __future__ import annotations

from typing import Any

from missiva_consent import domain
from missiva_consent.store.base import Conn
from missiva_consent.store.ledger import accounts_of_person, person_entries
from missiva_consent.store.suppressions import SUPPRESSION_COLUMNS, suppression_of_row

# Everything of an erased account but its ledger (kept as proof, pseudonymised) and its
# published documents (immutable: the texts its people were shown).
_PURGE_ACCOUNT = (
    ("consent_states", "DELETE FROM consent_states WHERE account_id = %s"),
    ("purposes", "DELETE FROM purposes WHERE account_id = %s"),
    ("double_opt_ins", "DELETE FROM double_opt_ins WHERE account_id = %s"),
    ("suppressions", "DELETE FROM suppressions WHERE scope = %s"),
    ("suppression_removals", "DELETE FROM suppression_removals WHERE scope = %s"),
    ("link_hits", "DELETE FROM link_hits WHERE account_id = %s"),
    ("sender_identities", "DELETE FROM sender_identities WHERE account_id = %s"),
)


async def purge_account(conn: Conn, account_id: str) -> dict[str, int]:
    purged = {}
    for table, statement in _PURGE_ACCOUNT:
        cur = await conn.execute(statement, (account_id,))
        purged[table] = cur.rowcount
    return purged


_ERASE_DOI = "DELETE FROM double_opt_ins WHERE person_key = %s AND (%s = '' OR account_id = %s)"

_FORGET_SUPPRESSION_EMAILS = """
UPDATE suppressions SET email = NULL
WHERE person_key = %s AND email IS NOT NULL AND (%s = '' OR scope = %s)
"""

_ERASE_HITS = "DELETE FROM link_hits WHERE person_key = %s AND (%s = '' OR account_id = %s)"

_DOI_OF_PERSON = """
SELECT confirmation_id::text, account_id, purpose_ids::text[], source, started_at,
       confirmed_at, email IS NOT NULL
FROM double_opt_ins WHERE person_key = %s AND (%s = '' OR account_id = %s) ORDER BY started_at
"""

_SUPPRESSIONS_FOR_EXPORT = f"""
SELECT {SUPPRESSION_COLUMNS} FROM suppressions
WHERE person_key = %s AND (%s = '' OR scope = %s) ORDER BY created_at
"""

_STATES_FOR_EXPORT = """
SELECT s.account_id, p.key, s.status, s.restricted, s.version, s.since
FROM consent_states s JOIN purposes p ON p.purpose_id = s.purpose_id
WHERE s.person_key = %s AND (%s = '' OR s.account_id = %s) ORDER BY s.account_id, p.key
"""


async def erase_person(conn: Conn, person_key: str, account_id: str) -> dict[str, int]:
    """Remove addresses and personal fields outside the ledger; '' means every account."""
    erased: dict[str, int] = {}
    for category, statement in (
        ("pending_double_opt_ins", _ERASE_DOI),
        ("suppression_addresses", _FORGET_SUPPRESSION_EMAILS),
        ("link_ip_hashes", _ERASE_HITS),
    ):
        cur = await conn.execute(statement, (person_key, account_id, account_id))
        erased[category] = cur.rowcount
    return erased


async def export_person(conn: Conn, person_key: str, account_id: str) -> dict[str, list[Any]]:
    args = (person_key, account_id, account_id)
    cur = await conn.execute(_STATES_FOR_EXPORT, args)
    states = [
        {"account_id": a, "purpose": k, "status": s, "restricted": r, "version": v,
         "since": domain.fmt_time(t)}
        for a, k, s, r, v, t in await cur.fetchall()
    ]  # fmt: skip
    cur = await conn.execute(_SUPPRESSIONS_FOR_EXPORT, args)
    suppressions = [suppression_of_row(row) for row in await cur.fetchall()]
    cur = await conn.execute(_DOI_OF_PERSON, args)
    pending = [
        {"confirmation_id": c, "account_id": a, "purpose_ids": p, "source": s,
         "started_at": domain.fmt_time(t), "confirmed_at": domain.fmt_time(f) if f else None,
         "address_held": held}
        for c, a, p, s, t, f, held in await cur.fetchall()
    ]  # fmt: skip
    accounts = [account_id] if account_id else await accounts_of_person(conn, person_key)
    ledger = [
        entry.canonical_fields()
        for account in accounts
        for entry in await person_entries(conn, account, person_key)
    ]
    return {
        "consent_state": states,
        "consent_history": ledger,
        "suppressions": [
            {"account_id": e.scope or None, "reason": str(e.reason), "purpose_id": e.purpose_id,
             "source": str(e.source), "note": e.note, "email": e.email,
             "created_at": domain.fmt_time(e.created_at) if e.created_at else None}
            for e in suppressions
        ],
        "double_opt_ins": pending,
    }  # fmt: skip
