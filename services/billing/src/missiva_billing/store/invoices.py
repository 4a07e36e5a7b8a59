"""Invoices and credit notes, and the per-year counters that number them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class InvoiceRow:
    invoice_id: str
    account_id: str
    kind: str
    series: str
    fiscal_year: int
    number: int
    number_text: str
    issued_at: datetime
    issue_date: date
    currency: str
    lines: list[dict[str, Any]]
    subtotal_cents: int
    vat_cents: int
    total_cents: int
    vat_kind: str
    vat_rate_bps: int
    natura: str
    vat_note: str
    language: str
    billed_to: dict[str, str]
    billed_vat_enc: bytes | None
    billed_tax_enc: bytes | None
    provider: str
    payment_ref: str
    credited_invoice: str | None
    status: str
    paid_at: datetime | None
    sdi_status: str
    sdi_file_name: str = ""
    sdi_errors: list[dict[str, str]] = field(default_factory=list)
    sdi_updated_at: datetime | None = None
    retain_until: datetime | None = None


_COLUMNS = (
    "invoice_id",
    "account_id",
    "kind",
    "series",
    "fiscal_year",
    "number",
    "number_text",
    "issued_at",
    "issue_date",
    "currency",
    "lines",
    "subtotal_cents",
    "vat_cents",
    "total_cents",
    "vat_kind",
    "vat_rate_bps",
    "natura",
    "vat_note",
    "language",
    "billed_to",
    "billed_vat_enc",
    "billed_tax_enc",
    "provider",
    "payment_ref",
    "credited_invoice",
    "status",
    "paid_at",
    "sdi_status",
    "sdi_file_name",
    "sdi_errors",
    "sdi_updated_at",
    "retain_until",
)
_SELECT = ", ".join(
    f"{c}::text" if c in ("invoice_id", "credited_invoice") else c for c in _COLUMNS
)
_JSON = {"lines", "billed_to", "sdi_errors"}


def _row(values: tuple[Any, ...]) -> InvoiceRow:
    data = dict(zip(_COLUMNS, values, strict=True))
    for name in ("billed_vat_enc", "billed_tax_enc"):
        if data[name] is not None:
            data[name] = bytes(data[name])
    return InvoiceRow(**data)


async def next_number(conn: Any, series: str, fiscal_year: int) -> int:
    """The next number of ``series`` in ``fiscal_year``; the counter row stays locked until the
    transaction ends, so the next issuer waits and a rollback gives the number back."""
    cur = await conn.execute(
        "INSERT INTO invoice_counters (series, fiscal_year, last_number) VALUES (%s, %s, 1)"
        " ON CONFLICT (series, fiscal_year)"
        " DO UPDATE SET last_number = invoice_counters.last_number + 1 RETURNING last_number",
        (series, fiscal_year),
    )
    row = await cur.fetchone()
    return int(row[0])


async def insert(conn: Any, invoice: InvoiceRow) -> None:
    values = [Jsonb(getattr(invoice, c)) if c in _JSON else getattr(invoice, c) for c in _COLUMNS]
    await conn.execute(
        f"INSERT INTO invoices ({', '.join(_COLUMNS)})"
        f" VALUES ({', '.join(['%s'] * len(_COLUMNS))})",
        values,
    )


async def get(
    conn: Any, account_id: str | None, invoice_id: str, *, lock: bool = False
) -> InvoiceRow | None:
    """An invoice of the account (any account's with ``account_id`` None: operators, SDI)."""
    cur = await conn.execute(
        f"SELECT {_SELECT} FROM invoices WHERE invoice_id = %s"
        " AND (%s::text IS NULL OR account_id = %s)"
        f"{' FOR UPDATE' if lock else ''}",
        (invoice_id, account_id, account_id),
    )
    row = await cur.fetchone()
    return _row(row) if row else None


async def for_payment(conn: Any, kind: str, provider: str, payment_ref: str) -> InvoiceRow | None:
    cur = await conn.execute(
        f"SELECT {_SELECT} FROM invoices WHERE kind = %s AND provider = %s AND payment_ref = %s",
        (kind, provider, payment_ref),
    )
    row = await cur.fetchone()
    return _row(row) if row else None


async def has_paid(conn: Any, account_id: str) -> bool:
    """Whether the account has ever paid an invoice (a credited one counts: it was paid)."""
    cur = await conn.execute(
        "SELECT 1 FROM invoices WHERE account_id = %s AND kind = 'invoice' AND paid_at IS NOT NULL"
        " AND total_cents > 0 LIMIT 1",
        (account_id,),
    )
    return await cur.fetchone() is not None


async def by_file_name(conn: Any, file_name: str) -> InvoiceRow | None:
    cur = await conn.execute(
        f"SELECT {_SELECT} FROM invoices WHERE sdi_file_name = %s FOR UPDATE", (file_name,)
    )
    row = await cur.fetchone()
    return _row(row) if row else None


async def page(
    conn: Any, account_id: str, size: int, after: tuple[datetime, str] | None
) -> list[InvoiceRow]:
    """The account's invoices, newest first, after the (issued_at, id) of the previous page."""
    if after is None:
        cur = await conn.execute(
            f"SELECT {_SELECT} FROM invoices WHERE account_id = %s"
            " ORDER BY issued_at DESC, invoice_id DESC LIMIT %s",
            (account_id, size),
        )
    else:
        cur = await conn.execute(
            f"SELECT {_SELECT} FROM invoices WHERE account_id = %s"
            " AND (issued_at, invoice_id) < (%s, %s::uuid)"
            " ORDER BY issued_at DESC, invoice_id DESC LIMIT %s",
            (account_id, after[0], after[1], size),
        )
    return [_row(r) for r in await cur.fetchall()]


async def of_account(conn: Any, account_id: str) -> list[InvoiceRow]:
    cur = await conn.execute(
        f"SELECT {_SELECT} FROM invoices WHERE account_id = %s ORDER BY issued_at, invoice_id",
        (account_id,),
    )
    return [_row(r) for r in await cur.fetchall()]


async def set_status(conn: Any, invoice_id: str, status: str, paid_at: datetime | None) -> None:
    await conn.execute(
        "UPDATE invoices SET status = %s, paid_at = coalesce(%s, paid_at) WHERE invoice_id = %s",
        (status, paid_at, invoice_id),
    )


async def set_sdi(
    conn: Any,
    invoice_id: str,
    status: str,
    *,
    file_name: str | None = None,
    errors: list[dict[str, str]] | None = None,
) -> None:
    await conn.execute(
        "UPDATE invoices SET sdi_status = %s, sdi_file_name = coalesce(%s, sdi_file_name),"
        " sdi_errors = coalesce(%s, sdi_errors), sdi_updated_at = now() WHERE invoice_id = %s",
        (status, file_name, Jsonb(errors) if errors is not None else None, invoice_id),
    )


async def pending_sdi(conn: Any, limit: int) -> list[str]:
    cur = await conn.execute(
        "SELECT invoice_id::text FROM invoices WHERE sdi_status = 'pending'"
        " ORDER BY issued_at LIMIT %s",
        (limit,),
    )
    return [r[0] for r in await cur.fetchall()]
