"""What came back about sent messages: bounce and complaint records, the ledger moves they
cause, the soft-bounce row of an address, provider events, and the reputation guard's state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg.rows import dict_row

_ROW = (
    "id::text AS id, tenant_id, campaign_id, batch_id, contact_id, person_key, category, lane,"
    " status, bounce_type, attempts, sent_at"
)


@dataclass(frozen=True)
class Record:
    message_id: str
    tenant_id: str
    campaign_id: str
    person_key: str
    kind: str  # bounce, delayed, complaint
    source: str  # dsn, arf, webhook
    digest: str
    bounce_class: str | None = None
    rule: str = ""
    status_code: str = ""
    diagnostic: str = ""
    feedback_type: str = ""
    recipient_domain: str = ""


async def message_for_update(conn: Any, message_id: str) -> dict[str, Any] | None:
    """The ledger row a report is about, locked until the report is applied."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT {_ROW} FROM messages WHERE id = %s FOR UPDATE", (message_id,))
    found: dict[str, Any] | None = await cur.fetchone()
    return found


async def add_record(conn: Any, record: Record) -> bool:
    """Store a report once per (message, report digest); ``False`` when it was already."""
    cur = await conn.execute(
        "INSERT INTO bounce_records (message_id, tenant_id, campaign_id, person_key, kind,"
        " bounce_class, rule, status_code, diagnostic, feedback_type, recipient_domain, source,"
        " report_digest) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (message_id, report_digest) DO NOTHING",
        (
            record.message_id, record.tenant_id, record.campaign_id, record.person_key,
            record.kind, record.bounce_class, record.rule[:200], record.status_code[:16],
            record.diagnostic[:1000], record.feedback_type[:32], record.recipient_domain[:253],
            record.source, record.digest,
        ),
    )  # fmt: skip
    return bool(cur.rowcount)


async def mark(
    conn: Any, message_id: str, status: str, *, bounce_type: str | None, reply: str, reason: str
) -> None:
    """Move a sent message to bounced or complained (a final state: nothing is held to send
    it again), with its history line."""
    await conn.execute(
        "UPDATE messages SET status = %s, bounce_type = COALESCE(%s, bounce_type),"
        " last_smtp_reply = CASE WHEN %s = '' THEN last_smtp_reply ELSE %s END,"
        " failure_reason = %s, to_address_enc = NULL, payload_enc = NULL, updated_at = now()"
        " WHERE id = %s",
        (status, bounce_type, reply, reply[:1000], reason[:1000], message_id),
    )
    await conn.execute(
        "INSERT INTO message_events (message_id, status, detail) VALUES (%s, %s, %s)",
        (message_id, status, (reason + (f": {reply}" if reply else ""))[:1000]),
    )


async def recent_outcomes(conn: Any, person_key: str, limit: int = 50) -> list[dict[str, Any]]:
    """The person's last sent messages (every account's: a mailbox is one mailbox), newest
    first, with their outcome."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id::text AS id, status, bounce_type, COALESCE(sent_at, updated_at) AS sent_at"
        " FROM messages WHERE person_key = %s AND status IN ('sent', 'bounced', 'complained')"
        " ORDER BY COALESCE(sent_at, updated_at) DESC LIMIT %s",
        (person_key, limit),
    )
    return list(await cur.fetchall())


def soft_streak(outcomes: list[dict[str, Any]], now: datetime, grace: timedelta) -> int:
    """Soft bounces in a row, newest first: a message sent longer than ``grace`` ago that has
    not bounced was delivered and ends the row, as does a hard bounce; blocks and complaints
    say nothing about the mailbox and are skipped, as are messages too recent to tell."""
    streak = 0
    for row in outcomes:
        if row["status"] == "bounced":
            if row["bounce_type"] == "soft":
                streak += 1
                continue
            if row["bounce_type"] == "hard":
                break
            continue  # blocked
        if row["status"] == "complained":
            continue
        if row["sent_at"] is not None and row["sent_at"] < now - grace:
            break
    return streak


# -- the reputation guard -------------------------------------------------------------------


async def campaign_counts(conn: Any, tenant_id: str, campaign_id: str, since: datetime) -> dict:
    """The campaign's messages sent since ``since``: how many, how many hard-bounced or were
    blocked, how many were complained about."""
    cur = await conn.execute(
        "SELECT count(*),"
        " count(*) FILTER (WHERE status = 'bounced' AND bounce_type IN ('hard', 'blocked')),"
        " count(*) FILTER (WHERE status = 'complained')"
        " FROM messages WHERE campaign_id = %s AND tenant_id = %s AND sent_at >= %s",
        (campaign_id, tenant_id, since),
    )
    row = await cur.fetchone()
    return {"sent": int(row[0]), "bounced": int(row[1]), "complained": int(row[2])}


async def last_alert(conn: Any, tenant_id: str, campaign_id: str, *, lock: bool) -> Any:
    """When the guard last alerted for the campaign (None: never). With ``lock`` the state row
    is made if missing and locked, so two reports cannot both alert."""
    if lock:
        await conn.execute(
            "INSERT INTO campaign_reputation (tenant_id, campaign_id) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING",
            (tenant_id, campaign_id),
        )
    cur = await conn.execute(
        "SELECT last_alert_at FROM campaign_reputation WHERE tenant_id = %s AND campaign_id = %s"
        + (" FOR UPDATE" if lock else ""),
        (tenant_id, campaign_id),
    )
    row = await cur.fetchone()
    return row[0] if row else None


async def record_alert(conn: Any, tenant_id: str, campaign_id: str, signal: str) -> None:
    await conn.execute(
        "UPDATE campaign_reputation SET last_alert_at = now(), last_signal = %s,"
        " alerts = alerts + 1, updated_at = now() WHERE tenant_id = %s AND campaign_id = %s",
        (signal, tenant_id, campaign_id),
    )


# -- provider events ------------------------------------------------------------------------


async def add_provider_event(
    conn: Any, provider: str, event_id: str, event_type: str, digest: str, signed_at: datetime
) -> bool:
    """Record a provider event once; ``False`` when its id was seen before (a replay)."""
    cur = await conn.execute(
        "INSERT INTO provider_events (provider, event_id, event_type, payload_digest, outcome,"
        " signed_at) VALUES (%s, %s, %s, %s, 'received', %s) ON CONFLICT DO NOTHING",
        (provider, event_id, event_type, digest, signed_at),
    )
    return bool(cur.rowcount)


async def settle_provider_event(
    conn: Any, provider: str, event_id: str, outcome: str, row: dict[str, Any] | None
) -> None:
    await conn.execute(
        "UPDATE provider_events SET outcome = %s, message_id = %s, tenant_id = %s,"
        " person_key = %s WHERE provider = %s AND event_id = %s",
        (
            outcome,
            row["id"] if row else None,
            row["tenant_id"] if row else "",
            row["person_key"] if row else "",
            provider,
            event_id,
        ),
    )


# -- the privacy contract -------------------------------------------------------------------


async def for_person(conn: Any, person_key: str, tenant_id: str) -> dict[str, list[dict]]:
    where = "person_key = %s" + (" AND tenant_id = %s" if tenant_id else "")
    params = (person_key, tenant_id) if tenant_id else (person_key,)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT message_id::text AS message_id, tenant_id AS account_id, kind, bounce_class,"
        " status_code, diagnostic, feedback_type, recipient_domain, source, received_at"
        f" FROM bounce_records WHERE {where} ORDER BY received_at",
        params,
    )
    records = [{**r, "received_at": r["received_at"].isoformat()} for r in await cur.fetchall()]
    await cur.execute(
        "SELECT provider, event_type, message_id::text AS message_id, tenant_id AS account_id,"
        f" outcome, received_at FROM provider_events WHERE {where} ORDER BY received_at",
        params,
    )
    provider = [{**r, "received_at": r["received_at"].isoformat()} for r in await cur.fetchall()]
    return {"bounce_records": records, "provider_events": provider}


async def erase_person(conn: Any, person_key: str, tenant_id: str) -> dict[str, int]:
    where = "person_key = %s" + (" AND tenant_id = %s" if tenant_id else "")
    params = (person_key, tenant_id) if tenant_id else (person_key,)
    records = await conn.execute(f"DELETE FROM bounce_records WHERE {where}", params)
    # The event id stays (a replay is still refused); who it was about goes.
    provider = await conn.execute(
        f"UPDATE provider_events SET person_key = '', message_id = NULL WHERE {where}", params
    )
    return {"bounce_records": int(records.rowcount), "provider_events": int(provider.rowcount)}


async def blocks_by_destination(conn: Any, since: datetime) -> list[tuple[str, int]]:
    """Blocks since ``since`` per destination domain, most first (the per-destination report)."""
    cur = await conn.execute(
        "SELECT recipient_domain, count(*) FROM bounce_records WHERE bounce_class = 'blocked'"
        " AND received_at >= %s GROUP BY recipient_domain ORDER BY count(*) DESC LIMIT 50",
        (since,),
    )
    return [(str(r[0]), int(r[1])) for r in await cur.fetchall()]
