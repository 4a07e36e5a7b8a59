"""Tracking: the link sets of tracked campaign revisions, the counters of opens and clicks
(every one, personal or not) and the personal rows (only with tracking consent)."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.rows import dict_row

# consent_blocks sources that make an engagement anonymous although the batch allowed
# tracking: the tracking purpose withdrawn since, or the person suppressed from everything.
TRACKING_BLOCK = "tracking"


async def save_links(
    conn: Any, link_set: uuid.UUID, tenant_id: str, campaign_id: str, revision: int,
    links: tuple[str, ...],
) -> None:  # fmt: skip
    """Keep a tracked revision's targets by position (the same in every process: the first
    one to compile it writes them)."""
    cur = await conn.execute(
        "INSERT INTO tracked_contents (link_set_id, tenant_id, campaign_id, template_revision)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (link_set, tenant_id, campaign_id, revision),
    )
    if cur.rowcount and links:
        await conn.execute(
            "INSERT INTO tracked_links (link_set_id, position, url)"
            " SELECT %s, p, u FROM unnest(%s::smallint[], %s::text[]) AS t(p, u)"
            " ON CONFLICT DO NOTHING",
            (link_set, list(range(1, len(links) + 1)), list(links)),
        )


async def link_set(conn: Any, link_set_id: str, position: int) -> dict[str, Any] | None:
    """The revision a token names and, for a position, its target (None: no such link)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT c.tenant_id, c.campaign_id, c.template_revision, l.url FROM tracked_contents c"
        " LEFT JOIN tracked_links l ON l.link_set_id = c.link_set_id AND l.position = %s"
        " WHERE c.link_set_id = %s",
        (position, link_set_id),
    )
    row = await cur.fetchone()
    if row is None or (position > 0 and row["url"] is None):
        return None
    return dict(row)


async def recipient(
    conn: Any, tenant_id: str, campaign_id: str, message_id: str
) -> dict[str, Any] | None:
    """The ledger row a token names, with whether its person may be tracked now: the batch
    said so and no tracking withdrawal or general suppression has come since."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT m.person_key, m.tracking AND NOT EXISTS (SELECT 1 FROM consent_blocks b"
        " WHERE b.person_key = m.person_key AND b.tenant_id IN (m.tenant_id, '') AND b.active"
        " AND (b.source = %s OR b.purpose_id = '')) AS tracking"
        " FROM messages m WHERE m.id = %s AND m.tenant_id = %s AND m.campaign_id = %s"
        " AND m.lane = 'campaign'",
        (TRACKING_BLOCK, message_id, tenant_id, campaign_id),
    )
    row = await cur.fetchone()
    return None if row is None else dict(row)


async def count(
    conn: Any, tenant_id: str, campaign_id: str, kind: str, position: int, *, personal: bool
) -> None:
    column = "personal" if personal else "anonymous"
    await conn.execute(
        f"INSERT INTO engagement_counts (tenant_id, campaign_id, kind, position, {column})"
        f" VALUES (%s, %s, %s, %s, 1) ON CONFLICT (tenant_id, campaign_id, kind, position)"
        f" DO UPDATE SET {column} = engagement_counts.{column} + 1, updated_at = now()",
        (tenant_id, campaign_id, kind, position),
    )


async def record_personal(
    conn: Any, *, tenant_id: str, campaign_id: str, message_id: str, person_key: str,
    kind: str, position: int, url: str, device_class: str,
) -> None:  # fmt: skip
    await conn.execute(
        "INSERT INTO engagement_events (tenant_id, campaign_id, message_id, person_key, kind,"
        " position, url, device_class) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (tenant_id, campaign_id, message_id, person_key, kind, position, url, device_class),
    )


async def campaign_counts(
    conn: Any, tenant_id: str, campaign_id: str
) -> tuple[int, int, list[tuple[int, str, int]]]:
    """Opens, clicks, and (position, url, clicks) of a campaign."""
    cur = await conn.execute(
        # A position's URL is the latest revision's (positions are counted per campaign).
        "SELECT e.kind, e.position, e.anonymous + e.personal, COALESCE((SELECT l.url"
        " FROM tracked_contents c JOIN tracked_links l ON l.link_set_id = c.link_set_id"
        " WHERE c.tenant_id = e.tenant_id AND c.campaign_id = e.campaign_id"
        " AND l.position = e.position ORDER BY c.template_revision DESC LIMIT 1), '')"
        " FROM engagement_counts e WHERE e.tenant_id = %s AND e.campaign_id = %s"
        " ORDER BY e.kind, e.position",
        (tenant_id, campaign_id),
    )
    opens = clicks = 0
    links: list[tuple[int, str, int]] = []
    for kind, position, n, url in await cur.fetchall():
        if kind == "open":
            opens += int(n)
        else:
            clicks += int(n)
            links.append((int(position), str(url), int(n)))
    return opens, clicks, links


async def for_person(conn: Any, person_key: str, tenant_id: str = "") -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT tenant_id AS account_id, campaign_id, message_id::text, kind, position, url,"
        " device_class, occurred_at FROM engagement_events"
        " WHERE person_key = %s AND (%s = '' OR tenant_id = %s) ORDER BY occurred_at, id",
        (person_key, tenant_id, tenant_id),
    )
    rows = await cur.fetchall()
    for row in rows:
        row["occurred_at"] = row["occurred_at"].isoformat()
    return list(rows)


async def erase_person(conn: Any, person_key: str, tenant_id: str = "") -> int:
    cur = await conn.execute(
        "DELETE FROM engagement_events WHERE person_key = %s AND (%s = '' OR tenant_id = %s)",
        (person_key, tenant_id, tenant_id),
    )
    return int(cur.rowcount)
