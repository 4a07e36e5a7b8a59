"""``python -m missiva_delivery recheck-domains [--older-than-hours N]``: a scheduled job
(the chart runs it every 6 hours) that checks the DNS records of every sender domain again,
so a verified domain whose records were removed or changed becomes FAILED and campaign hears
``delivery.sender_domain.unverified``; and a pending one (registered in the last 7 days)
becomes verified once its records appear. Its events go through the outbox as the RPC's do.
"""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from missiva_delivery.core import DeliveryCore
from missiva_delivery.rpc_domains import DomainsCore
from missiva_platform.db import make_pool
from missiva_platform.errors import DomainError
from missiva_platform.service import ServiceApp

_DUE = (
    "SELECT tenant_id, id::text FROM sender_domains"
    " WHERE (status IN ('verified', 'failed') OR created_at > now() - interval '7 days')"
    " AND (last_checked_at IS NULL OR last_checked_at < now() - %s * interval '1 hour')"
    " ORDER BY last_checked_at NULLS FIRST LIMIT %s"
)


async def recheck(app: ServiceApp, *, older_than_hours: float, limit: int) -> Counter[str]:
    """Check the due domains once each; how many ended in each status."""
    outcome: Counter[str] = Counter()
    domains = DomainsCore(DeliveryCore(app))
    assert app.pool is not None
    async with app.pool.connection() as conn:
        cur = await conn.execute(_DUE, (older_than_hours, limit))
        due = await cur.fetchall()
    for tenant_id, domain_id in due:
        try:
            row = await domains.verify(tenant_id, domain_id)
        except DomainError:  # removed meanwhile
            outcome["gone"] += 1
            continue
        outcome[row["status"]] += 1
    return outcome


async def recheck_command(app: ServiceApp, args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="missiva-delivery recheck-domains")
    parser.add_argument("--older-than-hours", type=float, default=5.0)
    parser.add_argument("--limit", type=int, default=10_000)
    parsed = parser.parse_args(args)
    settings: Any = app.settings
    own = app.pool is None
    if own:
        app.pool = make_pool(settings.database_url, max_size=2, name="recheck-domains")
        await app.pool.open(wait=True, timeout=30)
    try:
        outcome = await recheck(app, older_than_hours=parsed.older_than_hours, limit=parsed.limit)
    finally:
        if own and app.pool is not None:
            await app.pool.close()
            app.pool = None
    summary = ", ".join(f"{n} {status}" for status, n in sorted(outcome.items())) or "none due"
    print(f"delivery: sender domains checked: {summary}")
    return 0


COMMANDS = {"recheck-domains": recheck_command}
