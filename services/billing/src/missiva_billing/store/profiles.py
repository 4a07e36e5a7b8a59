"""Billing profiles: one row per account, tax fields as field-cipher blobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

PLAIN = (
    "business_name",
    "legal_form",
    "line1",
    "line2",
    "city",
    "province",
    "postal_code",
    "country_code",
    "sdi_code",
    "pec",
    "rea_number",
    "invoice_email",
)
_SELECT = ", ".join((*PLAIN, "vat_number_enc", "tax_code_enc", "updated_at", "anonymised_at"))


@dataclass(frozen=True)
class StoredProfile:
    plain: dict[str, str]
    vat_number_enc: bytes | None
    tax_code_enc: bytes | None
    updated_at: datetime
    anonymised_at: datetime | None


async def get(conn: Any, account_id: str, *, lock: bool = False) -> StoredProfile | None:
    cur = await conn.execute(
        f"SELECT {_SELECT} FROM billing_profiles WHERE account_id = %s"
        f"{' FOR UPDATE' if lock else ''}",
        (account_id,),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    plain = dict(zip(PLAIN, row[: len(PLAIN)], strict=True))
    vat, tax, updated, anonymised = row[len(PLAIN) :]
    return StoredProfile(
        plain,
        bytes(vat) if vat is not None else None,
        bytes(tax) if tax is not None else None,
        updated,
        anonymised,
    )


async def upsert(
    conn: Any,
    account_id: str,
    plain: dict[str, str],
    vat_number_enc: bytes | None,
    tax_code_enc: bytes | None,
    person_keys: list[str],
) -> datetime:
    columns = (*PLAIN, "vat_number_enc", "tax_code_enc", "person_keys")
    values = (*(plain[c] for c in PLAIN), vat_number_enc, tax_code_enc, person_keys)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns)
    cur = await conn.execute(
        f"INSERT INTO billing_profiles (account_id, {', '.join(columns)})"
        f" VALUES (%s, {', '.join(['%s'] * len(columns))})"
        f" ON CONFLICT (account_id) DO UPDATE SET {updates}, updated_at = now(),"
        " anonymised_at = NULL RETURNING updated_at",
        (account_id, *values),
    )
    row = await cur.fetchone()
    return row[0]


async def anonymise(conn: Any, account_id: str) -> int:
    """Empty every field of the account's profile (erasure); 1 if there was one to empty."""
    blanks = ", ".join(f"{c} = ''" for c in PLAIN)
    cur = await conn.execute(
        f"UPDATE billing_profiles SET {blanks}, vat_number_enc = NULL, tax_code_enc = NULL,"
        " person_keys = '{}',"
        " anonymised_at = now(), updated_at = now()"
        " WHERE account_id = %s AND anonymised_at IS NULL",
        (account_id,),
    )
    return int(cur.rowcount)


async def naming(
    conn: Any, person_key: str, email: str | None, account_id: str | None
) -> list[str]:
    """Accounts whose profile names the person (by person key or address), in one account
    or (``account_id`` None) every one."""
    cur = await conn.execute(
        "SELECT account_id FROM billing_profiles WHERE anonymised_at IS NULL"
        " AND (%(key)s = ANY(person_keys) OR invoice_email = %(email)s OR pec = %(email)s)"
        " AND (%(account)s::text IS NULL OR account_id = %(account)s) ORDER BY account_id",
        {"key": person_key or None, "email": email or None, "account": account_id},
    )
    return [row[0] for row in await cur.fetchall()]
