"""Document notices already sent: one per (account, document, version, contact)."""

from __future__ import annotations

from missiva_campaign.store import Conn


async def claim(
    conn: Conn, account_id: str, document_id: str, version: str, picks: list[tuple[str, str]]
) -> set[str]:
    """Record notices for ``picks`` ((contact id, locale)); the contact ids newly recorded
    (a contact already told about this version is not returned, so it is not told again)."""
    if not picks:
        return set()
    cur = await conn.execute(
        "INSERT INTO document_notices_sent (account_id, document_id, version, contact_id, locale)"
        " SELECT %s, %s, %s, p.contact_id, p.locale"
        " FROM unnest(%s::uuid[], %s::text[]) AS p(contact_id, locale)"
        " ON CONFLICT DO NOTHING RETURNING contact_id::text",
        (
            account_id,
            document_id,
            version,
            [contact for contact, _ in picks],
            [locale for _, locale in picks],
        ),
    )
    return {row[0] for row in await cur.fetchall()}


async def of_contacts(conn: Conn, ids: list[str]) -> list[dict[str, object]]:
    cur = await conn.execute(
        "SELECT contact_id::text, document_id, version, locale, sent_at"
        " FROM document_notices_sent WHERE contact_id = ANY(%s::uuid[])"
        " ORDER BY sent_at, document_id",
        (ids,),
    )
    names = [c.name for c in cur.description or ()]
    return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]
