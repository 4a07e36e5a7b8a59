"""``python -m missiva_campaign rebuild-consent-projection [--account ID ...]``: the consent
projection and the suppression copy rebuilt from consent itself, on first start or after data
loss (the events that fed them are gone from the stream by then).

Per account, in one transaction: every purpose's states are streamed from consent
(``ListPurposes``, ``StreamCheckConsent`` with no person: everyone with a recorded state) and
its suppressions (``ExportSuppressions``) into temporary tables with COPY, then merged with
one statement each: a state is written unless the projection already holds a newer version
(an event applied while the rebuild ran wins), and a state or an account-scoped suppression
that consent no longer has is dropped unless it changed during the rebuild. The service
token is campaign's (audience consent; ``consent:read``, ``suppressions:read``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import grpc

from missiva.consent.v1 import consent_service_pb2 as consent_pb
from missiva.consent.v1 import consent_service_pb2_grpc as consent_grpc
from missiva_campaign.consents import KINDS, STATUSES
from missiva_campaign.credits import TokenFor
from missiva_campaign.events import REASONS

log = logging.getLogger(__name__)

SCOPES = ("consent:read", "suppressions:read")
CHUNK = 5000

_STAGE = """
CREATE TEMP TABLE rebuilt_states (purpose_id text, person_key text, status text, kind text,
    version bigint) ON COMMIT DROP;
CREATE TEMP TABLE rebuilt_suppressions (scope text, person_key text, reason text,
    purpose_id text) ON COMMIT DROP;
"""
_MERGE_STATES = """
INSERT INTO consent_states (account_id, person_key, purpose_id, status, kind,
    aggregate_version, changed_at)
SELECT DISTINCT ON (purpose_id, person_key) %(account)s, person_key, purpose_id, status, kind,
    version, %(now)s FROM rebuilt_states ORDER BY purpose_id, person_key, version DESC
ON CONFLICT (account_id, purpose_id, person_key) DO UPDATE
SET status = EXCLUDED.status, kind = EXCLUDED.kind, aggregate_version = EXCLUDED.aggregate_version,
    changed_at = EXCLUDED.changed_at, updated_at = now()
WHERE consent_states.aggregate_version <= EXCLUDED.aggregate_version
"""
_DROP_STATES = """
DELETE FROM consent_states s WHERE s.account_id = %(account)s AND s.updated_at < %(started)s
AND NOT EXISTS (SELECT 1 FROM rebuilt_states r WHERE r.purpose_id = s.purpose_id
                AND r.person_key = s.person_key)
"""
_MERGE_SUPPRESSIONS = """
INSERT INTO suppressions (scope, person_key, reason, purpose_id, active, aggregate_version)
SELECT DISTINCT scope, person_key, reason, purpose_id, true, 0 FROM rebuilt_suppressions
ON CONFLICT (scope, person_key, reason, purpose_id) DO UPDATE
SET active = true, updated_at = now()
"""
_DROP_SUPPRESSIONS = """
UPDATE suppressions s SET active = false, updated_at = now()
WHERE s.scope = %(account)s AND s.active AND s.updated_at < %(started)s
AND NOT EXISTS (SELECT 1 FROM rebuilt_suppressions r WHERE r.scope = s.scope
                AND r.person_key = s.person_key AND r.reason = s.reason
                AND r.purpose_id = s.purpose_id)
"""


async def accounts_known(conn: Any) -> list[str]:
    cur = await conn.execute(
        "SELECT account_id FROM contacts UNION SELECT account_id FROM consent_states ORDER BY 1"
    )
    return [row[0] for row in await cur.fetchall()]


async def _purposes(stub: Any, md: Any) -> list[Any]:
    found, token = [], ""
    while True:
        page = await stub.ListPurposes(
            consent_pb.ListPurposesRequest(page_size=100, page_token=token, show_archived=True),
            metadata=md,
            timeout=30,
        )
        found.extend(page.purposes)
        token = page.next_page_token
        if not token:
            return found


async def _copy(conn: Any, table: str, columns: str, rows: Iterable[tuple]) -> None:
    async with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            await copy.write_row(row)


async def rebuild_account(
    pool: Any, consent_target: str, token_for: TokenFor, account: str
) -> dict[str, int]:
    """Rebuild one account's projection; counts of (states, suppressions) written."""
    token = await token_for(account)
    md = (("authorization", f"Bearer {token}"),)
    started = datetime.now(UTC)
    async with grpc.aio.insecure_channel(consent_target) as channel:
        stub = consent_grpc.ConsentServiceStub(channel)
        purposes = await _purposes(stub, md)
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(_STAGE)
            states = 0
            for purpose in purposes:
                kind = KINDS.get(int(purpose.kind), "")
                call = stub.StreamCheckConsent(
                    consent_pb.StreamCheckConsentRequest(
                        purpose_id=purpose.purpose_id, chunk_size=CHUNK
                    ),
                    metadata=md,
                    timeout=600,
                )
                async for chunk in call:
                    rows = [
                        (purpose.purpose_id, c.person_key, STATUSES[int(c.status)], kind, c.version)
                        for c in chunk.checks
                        if int(c.status) in STATUSES and c.person_key
                    ]
                    await _copy(conn, "rebuilt_states", "purpose_id, person_key, status, kind,"
                                " version", rows)  # fmt: skip
                    states += len(rows)
            suppressed = 0
            call = stub.ExportSuppressions(
                consent_pb.ExportSuppressionsRequest(chunk_size=CHUNK), metadata=md, timeout=600
            )
            async for chunk in call:
                found: list[tuple[str, str, str, str]] = [
                    ("" if s.platform_wide else account, s.person_key, REASONS[s.reason],
                     s.purpose_id)
                    for s in chunk.suppressions
                    if s.person_key and s.reason in REASONS
                ]  # fmt: skip
                await _copy(conn, "rebuilt_suppressions", "scope, person_key, reason, purpose_id",
                            found)  # fmt: skip
                suppressed += len(found)
            params = {"account": account, "now": started, "started": started}
            await conn.execute(_MERGE_STATES, params)
            await conn.execute(_DROP_STATES, params)
            await conn.execute(_MERGE_SUPPRESSIONS, params)
            await conn.execute(_DROP_SUPPRESSIONS, params)
    return {"states": states, "suppressions": suppressed}
