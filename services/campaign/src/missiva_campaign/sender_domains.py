"""Verified sender domains, a projection of delivery's events, and the rule it serves: a
campaign is scheduled or sent only from an address whose domain (or a parent of it, as
DMARC's relaxed alignment allows) delivery has verified for the account.

``delivery.sender_domain.verified`` marks a domain verified, ``.unverified`` (a re-check
failed) unmarks it; the highest aggregate version wins, so events arriving out of order
leave the newest state. Every campaign category needs it (campaigns are never SYSTEM mail).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from missiva.delivery.v1 import events_pb2 as delivery
from missiva_platform.errors import FailedPrecondition
from missiva_platform.events import EventEnvelope, unpack

log = logging.getLogger(__name__)

VERIFIED = "delivery.sender_domain.verified"
UNVERIFIED = "delivery.sender_domain.unverified"
UNVERIFIED_REASON = "SENDER_DOMAIN_UNVERIFIED"


async def _apply(conn: Any, event: EventEnvelope, domain_id: str, name: str, ok: bool) -> None:
    if not event.tenant_id or not domain_id or not name:
        log.warning("sender domain event without an account, id or domain; skipped")
        return
    await conn.execute(
        "INSERT INTO sender_domains (account_id, sender_domain_id, domain, verified, version)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (account_id, sender_domain_id) DO UPDATE"
        " SET domain = EXCLUDED.domain, verified = EXCLUDED.verified,"
        " version = EXCLUDED.version, updated_at = now()"
        " WHERE sender_domains.version < EXCLUDED.version",
        (event.tenant_id, domain_id, name.lower(), ok, event.aggregate_version),
    )


async def domain_verified(conn: Any, event: EventEnvelope, msg: Any) -> None:
    body = unpack(event, delivery.SenderDomainVerified)
    await _apply(conn, event, body.sender_domain_id, body.domain, True)


async def domain_unverified(conn: Any, event: EventEnvelope, msg: Any) -> None:
    body = unpack(event, delivery.SenderDomainUnverified)
    await _apply(conn, event, body.sender_domain_id, body.domain, False)


HANDLERS: dict[str, Callable[[Any, EventEnvelope, Any], Awaitable[None]]] = {
    VERIFIED: domain_verified,
    UNVERIFIED: domain_unverified,
}


async def require_verified(conn: Any, account_id: str, row: dict[str, Any]) -> None:
    """FAILED_PRECONDITION naming the domain unless the campaign's From domain is verified."""
    name = str(row["from_address"]).rpartition("@")[2].lower()
    cur = await conn.execute(
        "SELECT 1 FROM sender_domains WHERE account_id = %s AND verified"
        " AND (domain = %s OR right(%s, length(domain) + 1) = '.' || domain) LIMIT 1",
        (account_id, name, name),
    )
    if await cur.fetchone() is None:
        problem = (
            f"the sender domain {name} is not verified: register it with delivery, publish"
            " its DNS records and verify it"
        )
        raise FailedPrecondition(problem, [(UNVERIFIED_REASON, "campaign.sender.from_address",
                                            problem)])  # fmt: skip


async def purge_account(conn: Any, account_id: str) -> int:
    cur = await conn.execute("DELETE FROM sender_domains WHERE account_id = %s", (account_id,))
    return int(cur.rowcount or 0)
