"""Legal documents as identity knows them: current versions, acceptances, what a user
still has to accept.
Every function takes the caller's transaction; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from missiva_identity.domain import Acceptance
from missiva_identity.store._sql import Conn, db_now, fetch_all


async def record_acceptances(
    conn: Conn,
    user_id: str,
    acceptances: Sequence[Acceptance],
    *,
    ip_pseudonym: str,
    user_agent: str,
) -> datetime:
    now = await db_now(conn)
    for item in acceptances:
        await conn.execute(
            "INSERT INTO legal_acceptances (user_id, document_id, version, checkbox_text,"
            " accepted_at, ip_pseudonym, user_agent) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                user_id,
                item.document_id,
                item.version,
                item.checkbox_text,
                now,
                ip_pseudonym,
                user_agent,
            ),
        )
    return now


async def save_document(conn: Conn, doc: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO legal_documents (document_id, version, kind, title, url, checkbox_text,"
        " summary_of_changes, material, effective_at) VALUES (%(document_id)s, %(version)s,"
        " %(kind)s, %(title)s, %(url)s, %(checkbox_text)s, %(summary_of_changes)s,"
        " %(material)s, %(effective_at)s) ON CONFLICT (document_id, version) DO UPDATE SET"
        " kind = EXCLUDED.kind, title = EXCLUDED.title, url = EXCLUDED.url,"
        " checkbox_text = EXCLUDED.checkbox_text,"
        " summary_of_changes = EXCLUDED.summary_of_changes, material = EXCLUDED.material,"
        " effective_at = EXCLUDED.effective_at",
        doc,
    )


async def current_versions(conn: Conn, document_ids: Sequence[str]) -> dict[str, str]:
    """The version in force of each known document (the latest effective one)."""
    rows = await fetch_all(
        conn,
        "SELECT DISTINCT ON (document_id) document_id, version FROM legal_documents"
        " WHERE document_id = ANY(%s) AND effective_at <= now()"
        " ORDER BY document_id, effective_at DESC, received_at DESC",
        (list(document_ids),),
    )
    return {r["document_id"]: r["version"] for r in rows}


async def pending_documents(conn: Conn, user_id: str) -> list[dict[str, Any]]:
    """Materially changed documents in force that the user has not accepted since."""
    return await fetch_all(
        conn,
        """
        SELECT d.document_id, d.version, d.title, d.url, d.checkbox_text, d.summary_of_changes
        FROM (SELECT DISTINCT ON (document_id) * FROM legal_documents
              WHERE material AND effective_at <= now()
              ORDER BY document_id, effective_at DESC, received_at DESC) d
        WHERE EXISTS (SELECT 1 FROM legal_acceptances a
                      WHERE a.user_id = %(user)s AND a.document_id = d.document_id)
          AND NOT EXISTS (SELECT 1 FROM legal_acceptances a
                          WHERE a.user_id = %(user)s AND a.document_id = d.document_id
                            AND (a.version = d.version OR a.accepted_at >= d.effective_at))
        ORDER BY d.document_id
        """,
        {"user": user_id},
    )


async def acceptances_of(conn: Conn, user_id: str) -> list[dict[str, Any]]:
    return await fetch_all(
        conn,
        "SELECT document_id, version, checkbox_text, accepted_at, ip_pseudonym, user_agent"
        " FROM legal_acceptances WHERE user_id = %s ORDER BY accepted_at, id",
        (user_id,),
    )
