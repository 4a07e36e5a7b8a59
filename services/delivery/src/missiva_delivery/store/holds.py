"""Campaign pauses and cancellations: the state delivery last heard, and what it does to the
campaign's waiting rows (queued or deferred; a row being sent goes on)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# The next attempt of a held row: never, until the campaign resumes (a real date, so the
# row still reads as one).
HELD_UNTIL = datetime(9999, 12, 31, tzinfo=UTC)
CANCELLED_REASON = "not sent: the campaign was cancelled"
_WAITING = "lane = 'campaign' AND status IN ('queued', 'deferred')"


async def apply(conn: Any, tenant_id: str, campaign_id: str, state: str, version: int) -> bool:
    """Record ``state`` at ``version``; False when a newer state (or a cancellation, which
    is final) was already recorded."""
    cur = await conn.execute(
        "INSERT INTO campaign_holds (tenant_id, campaign_id, state, aggregate_version)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (tenant_id, campaign_id) DO UPDATE"
        " SET state = EXCLUDED.state, aggregate_version = EXCLUDED.aggregate_version,"
        " updated_at = now()"
        " WHERE campaign_holds.state <> 'cancelled' AND (campaign_holds.aggregate_version"
        " < EXCLUDED.aggregate_version OR EXCLUDED.aggregate_version = 0)",
        (tenant_id, campaign_id, state, version),
    )
    return bool(cur.rowcount)


async def states(conn: Any, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The state of each (tenant, campaign) in ``keys`` that is not simply running."""
    if not keys:
        return {}
    tenants, campaigns = zip(*sorted(keys), strict=True)
    cur = await conn.execute(
        "SELECT h.tenant_id, h.campaign_id, h.state FROM campaign_holds h"
        " JOIN unnest(%s::text[], %s::text[]) AS k(t, c) ON h.tenant_id = k.t"
        " AND h.campaign_id = k.c WHERE h.state <> 'running'",
        (list(tenants), list(campaigns)),
    )
    return {(str(t), str(c)): str(s) for t, c, s in await cur.fetchall()}


async def hold(conn: Any, tenant_id: str, campaign_id: str) -> int:
    cur = await conn.execute(
        f"UPDATE messages SET next_attempt_at = %s, updated_at = now()"
        f" WHERE tenant_id = %s AND campaign_id = %s AND {_WAITING}",
        (HELD_UNTIL, tenant_id, campaign_id),
    )
    return int(cur.rowcount)


async def release(conn: Any, tenant_id: str, campaign_id: str) -> int:
    cur = await conn.execute(
        f"UPDATE messages SET next_attempt_at = now(), updated_at = now()"
        f" WHERE tenant_id = %s AND campaign_id = %s AND {_WAITING} AND next_attempt_at = %s",
        (tenant_id, campaign_id, HELD_UNTIL),
    )
    return int(cur.rowcount)


async def cancel(conn: Any, tenant_id: str, campaign_id: str) -> int:
    """The campaign's waiting rows fail (their address and merge data go), with history."""
    cur = await conn.execute(
        "WITH gone AS (UPDATE messages SET status = 'failed', failure_reason = %s,"
        " to_address_enc = NULL, payload_enc = NULL, updated_at = now()"
        f" WHERE tenant_id = %s AND campaign_id = %s AND {_WAITING} RETURNING id)"
        " INSERT INTO message_events (message_id, status, detail)"
        " SELECT id, 'failed', %s FROM gone",
        (CANCELLED_REASON, tenant_id, campaign_id, CANCELLED_REASON),
    )
    return int(cur.rowcount)


CONTACT_DELETED_REASON = "not sent: the contact was deleted"


async def cancel_contact(conn: Any, tenant_id: str, contact_id: str) -> int:
    """A deleted contact's waiting campaign rows fail (address and merge data go)."""
    cur = await conn.execute(
        "WITH gone AS (UPDATE messages SET status = 'failed', failure_reason = %s,"
        " to_address_enc = NULL, payload_enc = NULL, updated_at = now()"
        f" WHERE tenant_id = %s AND contact_id = %s AND {_WAITING} RETURNING id)"
        " INSERT INTO message_events (message_id, status, detail)"
        " SELECT id, 'failed', %s FROM gone",
        (CONTACT_DELETED_REASON, tenant_id, contact_id, CONTACT_DELETED_REASON),
    )
    return int(cur.rowcount)
