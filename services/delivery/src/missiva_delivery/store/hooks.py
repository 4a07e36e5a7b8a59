"""Webhook endpoints and their deliveries (secrets only encrypted, see the migration).

Every query an RPC makes filters by tenant; the worker's claim is the one cross-tenant
read (it serves every account's queue), and what it sends is bound to its row's tenant.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

_ENDPOINT = (
    "id, tenant_id, url, description, event_types, enabled, disabled_reason,"
    " secret_generation, secret_enc, previous_secret_enc, previous_secret_expires_at,"
    " failing_since, created_at, updated_at, secret_rotated_at"
)
_DELIVERY = (
    "id, tenant_id, endpoint_id, event_id, event_type, person_key, body, status, attempts,"
    " next_attempt_at, claimed_at, last_status_code, last_response, last_error,"
    " last_duration_ms, last_attempt_at, delivered_at, created_at"
)
_MESSAGE_FIELDS = ("contact_id", "campaign_id", "template_key", "person_key", "requested_by")
_ENDPOINT_NAMES = [c.strip() for c in _ENDPOINT.split(",")]
_DELIVERY_NAMES = [c.strip() for c in _DELIVERY.split(",")]


def _endpoint(row: Any) -> dict[str, Any]:
    found = dict(zip(_ENDPOINT_NAMES, row, strict=True))
    found["id"] = str(found["id"])
    return found


def _delivery(row: Any) -> dict[str, Any]:
    found = dict(zip(_DELIVERY_NAMES, row, strict=True))
    found["id"] = str(found["id"])
    found["endpoint_id"] = str(found["endpoint_id"])
    return found


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


# -- endpoints ----------------------------------------------------------------------------


async def insert_endpoint(
    conn: Any, *, endpoint_id: str, tenant_id: str, url: str, description: str,
    event_types: list[str], secret_enc: bytes,
) -> dict[str, Any]:  # fmt: skip
    cur = await conn.execute(
        "INSERT INTO webhook_endpoints (id, tenant_id, url, description, event_types, secret_enc)"
        f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_ENDPOINT}",
        (endpoint_id, tenant_id, url, description, event_types, secret_enc),
    )
    return _endpoint(await cur.fetchone())


async def get_endpoint(
    conn: Any, tenant_id: str, endpoint_id: str, *, lock: bool = False
) -> dict[str, Any] | None:
    key = _uuid(endpoint_id)
    if key is None:
        return None
    cur = await conn.execute(
        f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE tenant_id = %s AND id = %s"
        + (" FOR UPDATE" if lock else ""),
        (tenant_id, key),
    )
    row = await cur.fetchone()
    return _endpoint(row) if row else None


async def page_endpoints(
    conn: Any, tenant_id: str, after: tuple[datetime, str] | None, limit: int
) -> list[dict[str, Any]]:
    if after is None:
        cur = await conn.execute(
            f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE tenant_id = %s"
            " ORDER BY created_at, id LIMIT %s",
            (tenant_id, limit),
        )
    else:
        cur = await conn.execute(
            f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE tenant_id = %s"
            " AND (created_at, id) > (%s, %s) ORDER BY created_at, id LIMIT %s",
            (tenant_id, after[0], uuid.UUID(after[1]), limit),
        )
    return [_endpoint(row) for row in await cur.fetchall()]


async def update_endpoint(
    conn: Any, tenant_id: str, endpoint_id: str, changes: dict[str, Any]
) -> dict[str, Any] | None:
    """Set the named columns (url, description, event_types, enabled); enabling an endpoint
    clears the platform's reason for disabling it and its failure streak."""
    allowed = {"url", "description", "event_types", "enabled"}
    assert set(changes) <= allowed, changes
    sets = [f"{name} = %({name})s" for name in changes]
    if changes.get("enabled") is True:
        sets += ["disabled_reason = ''", "failing_since = NULL"]
    cur = await conn.execute(
        f"UPDATE webhook_endpoints SET {', '.join([*sets, 'updated_at = now()'])}"
        f" WHERE tenant_id = %(tenant)s AND id = %(id)s RETURNING {_ENDPOINT}",
        {**changes, "tenant": tenant_id, "id": uuid.UUID(endpoint_id)},
    )
    row = await cur.fetchone()
    return _endpoint(row) if row else None


async def rotate_secret(
    conn: Any, tenant_id: str, endpoint_id: str, secret_enc: bytes, overlap_until: datetime
) -> dict[str, Any] | None:
    """The new secret signs from now on; the current one signs too until ``overlap_until``."""
    cur = await conn.execute(
        "UPDATE webhook_endpoints SET previous_secret_enc = secret_enc,"
        " previous_secret_expires_at = %s, secret_enc = %s,"
        " secret_generation = secret_generation + 1, secret_rotated_at = now(),"
        f" updated_at = now() WHERE tenant_id = %s AND id = %s RETURNING {_ENDPOINT}",
        (overlap_until, secret_enc, tenant_id, uuid.UUID(endpoint_id)),
    )
    row = await cur.fetchone()
    return _endpoint(row) if row else None


async def delete_endpoint(conn: Any, tenant_id: str, endpoint_id: str) -> bool:
    key = _uuid(endpoint_id)
    if key is None:
        return False
    cur = await conn.execute(
        "DELETE FROM webhook_endpoints WHERE tenant_id = %s AND id = %s", (tenant_id, key)
    )
    return bool(cur.rowcount)


async def delete_tenant(conn: Any, tenant_id: str) -> int:
    """Every endpoint of an erased account (its deliveries go with them)."""
    cur = await conn.execute("DELETE FROM webhook_endpoints WHERE tenant_id = %s", (tenant_id,))
    return int(cur.rowcount)


async def subscribed(conn: Any, tenant_id: str, event_type: str) -> list[str]:
    """The ids of the tenant's enabled endpoints that receive ``event_type``."""
    cur = await conn.execute(
        "SELECT id::text FROM webhook_endpoints WHERE tenant_id = %s AND enabled"
        " AND event_types @> ARRAY[%s]::text[] ORDER BY created_at",
        (tenant_id, event_type),
    )
    return [row[0] for row in await cur.fetchall()]


async def subscriptions(conn: Any, tenant_ids: list[str]) -> dict[str, list[tuple[str, set[str]]]]:
    """The enabled endpoints of these tenants, oldest first, with the event types each
    receives: one query for a slice's worth of events."""
    cur = await conn.execute(
        "SELECT tenant_id, id::text, event_types FROM webhook_endpoints"
        " WHERE tenant_id = ANY(%s) AND enabled ORDER BY created_at",
        (tenant_ids,),
    )
    found: dict[str, list[tuple[str, set[str]]]] = {}
    for tenant_id, endpoint_id, types in await cur.fetchall():
        found.setdefault(tenant_id, []).append((endpoint_id, set(types)))
    return found


async def record_failure(conn: Any, endpoint_id: str) -> datetime:
    """Start the endpoint's failure streak (if not started); since when it has failed."""
    cur = await conn.execute(
        "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, now())"
        " WHERE id = %s RETURNING failing_since",
        (uuid.UUID(endpoint_id),),
    )
    row = await cur.fetchone()
    return row[0] if row else datetime.now().astimezone()


async def record_success(conn: Any, endpoint_id: str) -> None:
    await conn.execute(
        "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = %s"
        " AND failing_since IS NOT NULL",
        (uuid.UUID(endpoint_id),),
    )


async def disable(conn: Any, endpoint_id: str, reason: str) -> bool:
    """Disable a failing endpoint and fail its waiting deliveries; False if it already was."""
    cur = await conn.execute(
        "UPDATE webhook_endpoints SET enabled = false, disabled_reason = %s, updated_at = now()"
        " WHERE id = %s AND enabled",
        (reason, uuid.UUID(endpoint_id)),
    )
    if not cur.rowcount:
        return False
    await conn.execute(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = %s"
        " WHERE endpoint_id = %s AND status = 'pending'",
        ("the endpoint was disabled", uuid.UUID(endpoint_id)),
    )
    return True


# -- deliveries ---------------------------------------------------------------------------


async def enqueue(
    conn: Any, *, tenant_id: str, endpoint_ids: list[str], event_id: str, event_type: str,
    person_key: str, body: str,
) -> list[dict[str, Any]]:  # fmt: skip
    """One delivery per endpoint, once per (event, endpoint): the rows inserted now."""
    made = []
    for endpoint_id in endpoint_ids:
        cur = await conn.execute(
            "INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, event_type,"
            " person_key, body) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            f" ON CONFLICT (endpoint_id, event_id) DO NOTHING RETURNING {_DELIVERY}",
            (uuid.uuid4(), tenant_id, uuid.UUID(endpoint_id), event_id, event_type, person_key,
             body),
        )  # fmt: skip
        row = await cur.fetchone()
        if row is not None:
            made.append(_delivery(row))
    return made


class NewDelivery(NamedTuple):
    tenant_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    person_key: str
    body: str


async def enqueue_many(conn: Any, deliveries: list[NewDelivery]) -> int:
    """``enqueue`` for many events in one statement; how many rows were inserted now."""
    if not deliveries:
        return 0
    cur = await conn.execute(
        "INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, event_type,"
        " person_key, body) SELECT * FROM unnest(%s::uuid[], %s::text[], %s::uuid[],"
        " %s::text[], %s::text[], %s::text[], %s::text[])"
        " ON CONFLICT (endpoint_id, event_id) DO NOTHING",
        (
            [uuid.uuid4() for _ in deliveries],
            [d.tenant_id for d in deliveries],
            [uuid.UUID(d.endpoint_id) for d in deliveries],
            [d.event_id for d in deliveries],
            [d.event_type for d in deliveries],
            [d.person_key for d in deliveries],
            [d.body for d in deliveries],
        ),
    )
    return int(cur.rowcount)


async def claim_due(conn: Any, limit: int, stale_seconds: float) -> list[dict[str, Any]]:
    """Claim up to ``limit`` due deliveries of enabled endpoints (pending and due, or claimed
    by a worker that stopped mid-attempt), skipping rows another worker holds."""
    cur = await conn.execute(
        "WITH due AS (SELECT d.id FROM webhook_deliveries d"
        " JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled"
        " WHERE (d.status = 'pending' AND d.next_attempt_at <= now())"
        " OR (d.status = 'delivering' AND d.claimed_at < now() - %s * interval '1 second')"
        " ORDER BY d.next_attempt_at LIMIT %s FOR UPDATE OF d SKIP LOCKED)"
        " UPDATE webhook_deliveries w SET status = 'delivering', claimed_at = now()"
        f" FROM due WHERE w.id = due.id RETURNING {', '.join('w.' + c for c in _DELIVERY_NAMES)}",
        (stale_seconds, limit),
    )
    return [_delivery(row) for row in await cur.fetchall()]


async def endpoint_for_send(conn: Any, endpoint_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE id = %s", (uuid.UUID(endpoint_id),)
    )
    row = await cur.fetchone()
    return _endpoint(row) if row else None


async def finish(
    conn: Any, delivery_id: str, *, status: str, status_code: int, response: str, error: str,
    duration_ms: int, next_attempt_at: datetime | None,
) -> None:  # fmt: skip
    await conn.execute(
        "UPDATE webhook_deliveries SET status = %s, attempts = attempts + 1,"
        " last_status_code = %s, last_response = %s, last_error = %s, last_duration_ms = %s,"
        " last_attempt_at = now(), claimed_at = NULL,"
        " next_attempt_at = coalesce(%s, next_attempt_at),"
        " delivered_at = CASE WHEN %s = 'delivered' THEN now() ELSE delivered_at END"
        " WHERE id = %s AND status = 'delivering'",
        (status, status_code, response, error, duration_ms, next_attempt_at, status,
         uuid.UUID(delivery_id)),
    )  # fmt: skip


async def page_deliveries(
    conn: Any, tenant_id: str, endpoint_id: str, before: tuple[datetime, str] | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first."""
    if before is None:
        cur = await conn.execute(
            f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE tenant_id = %s"
            " AND endpoint_id = %s ORDER BY created_at DESC, id DESC LIMIT %s",
            (tenant_id, uuid.UUID(endpoint_id), limit),
        )
    else:
        cur = await conn.execute(
            f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE tenant_id = %s"
            " AND endpoint_id = %s AND (created_at, id) < (%s, %s)"
            " ORDER BY created_at DESC, id DESC LIMIT %s",
            (tenant_id, uuid.UUID(endpoint_id), before[0], uuid.UUID(before[1]), limit),
        )
    return [_delivery(row) for row in await cur.fetchall()]


async def queue_depth(conn: Any) -> dict[str, int]:
    """Deliveries waiting for an attempt or under way, of enabled endpoints (a disabled
    endpoint's rows wait for it to be enabled again: not the worker's backlog)."""
    cur = await conn.execute(
        "SELECT d.status, count(*) FROM webhook_deliveries d"
        " JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled"
        " WHERE d.status IN ('pending', 'delivering') GROUP BY d.status"
    )
    return {status: int(n) for status, n in await cur.fetchall()}


async def contact_of(conn: Any, tenant_id: str, person_key: str) -> str:
    """The account's own contact id for a person (from its campaign mail), or ""."""
    cur = await conn.execute(
        "SELECT contact_id FROM messages WHERE tenant_id = %s AND person_key = %s"
        " AND contact_id <> '' ORDER BY queued_at DESC LIMIT 1",
        (tenant_id, person_key),
    )
    row = await cur.fetchone()
    return str(row[0]) if row else ""


async def messages_of(
    conn: Any, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """What a payload says about ledger messages, by (tenant, message id), in one query."""
    pairs = [(tenant, key) for tenant, mid in keys if (key := _uuid(mid)) is not None]
    if not pairs:
        return {}
    cur = await conn.execute(
        "SELECT m.tenant_id, m.id::text, contact_id, campaign_id, template_key, person_key,"
        " requested_by FROM messages m JOIN unnest(%s::text[], %s::uuid[]) AS k(tenant_id, id)"
        " ON m.tenant_id = k.tenant_id AND m.id = k.id",
        ([t for t, _ in pairs], [k for _, k in pairs]),
    )
    return {
        (tenant, mid): dict(zip(_MESSAGE_FIELDS, rest, strict=True))
        for tenant, mid, *rest in await cur.fetchall()
    }


async def for_person(conn: Any, person_key: str, tenant_id: str = "") -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT tenant_id, event_id, event_type, status, created_at, body FROM webhook_deliveries"
        " WHERE person_key = %s AND (%s = '' OR tenant_id = %s) ORDER BY created_at",
        (person_key, tenant_id, tenant_id),
    )
    names = ("account_id", "event_id", "event_type", "status", "created_at", "body")
    return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


async def erase_person(conn: Any, person_key: str, tenant_id: str = "") -> int:
    cur = await conn.execute(
        "DELETE FROM webhook_deliveries WHERE person_key = %s AND (%s = '' OR tenant_id = %s)",
        (person_key, tenant_id, tenant_id),
    )
    return int(cur.rowcount)
