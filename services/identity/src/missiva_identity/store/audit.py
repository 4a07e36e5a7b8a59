"""The account audit log.
Every function takes the caller's transaction; nothing here commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from missiva_identity.store._sql import Conn, fetch_all


@dataclass(frozen=True)
class AuditEntry:
    action: str
    outcome: str = "success"
    account_id: str | None = None
    actor_user_id: str | None = None
    target: str = ""
    ip_pseudonym: str = ""
    user_agent: str = ""
    details: dict[str, str] | None = None


async def audit(conn: Conn, entry: AuditEntry) -> None:
    await conn.execute(
        "INSERT INTO audit_events (id, account_id, actor_user_id, action, target, outcome,"
        " ip_pseudonym, user_agent, details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            str(uuid.uuid4()),
            entry.account_id,
            entry.actor_user_id,
            entry.action,
            entry.target,
            entry.outcome,
            entry.ip_pseudonym,
            entry.user_agent,
            Jsonb(entry.details or {}),
        ),
    )


async def list_audit_events(
    conn: Conn,
    account_id: str,
    *,
    limit: int,
    after: tuple[datetime, str] | None,
    start: datetime | None,
    end: datetime | None,
    actor: str | None,
    action_prefix: str,
) -> list[dict[str, Any]]:
    return await fetch_all(
        conn,
        "SELECT id::text, occurred_at, actor_user_id::text, action, target, outcome,"
        " ip_pseudonym, user_agent, details FROM audit_events"
        " WHERE account_id = %(account)s"
        " AND (%(start)s::timestamptz IS NULL OR occurred_at >= %(start)s)"
        " AND (%(end)s::timestamptz IS NULL OR occurred_at < %(end)s)"
        " AND (%(actor)s::uuid IS NULL OR actor_user_id = %(actor)s::uuid)"
        " AND action LIKE %(prefix)s"
        " AND (%(after_t)s::timestamptz IS NULL"
        "      OR (occurred_at, id) < (%(after_t)s, %(after_id)s::uuid))"
        " ORDER BY occurred_at DESC, id DESC LIMIT %(limit)s",
        {
            "account": account_id,
            "start": start,
            "end": end,
            "actor": actor,
            "prefix": action_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            + "%",
            "after_t": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    )
