"""Server streams read each page on a short-lived pooled connection.

With a pool of three connections, three readers that hold their stream open after the first
message must not hold the pool: an unsubscribe and a grant still get a connection.
"""

import pytest

from missiva.consent.v1 import consent_service_pb2 as pb

from .test_unsubscribe import tokens, unsubscribe

pytestmark = pytest.mark.asyncio(loop_scope="module")

SETTINGS = {"db_pool_max": 3}
READERS = 3  # as many as the pool has connections
# Pages of 1,000, several megabytes a stream: far more than gRPC buffers for a reader that
# stops reading, so the server waits inside the stream.
PEOPLE = 20_000
STATES = 100_000


async def still_served(consent, tenant: str, purpose_id: str) -> None:
    """A grant and an unsubscribe complete while the readers hold their streams."""
    email = consent.email()
    record = await consent.grant(tenant, email, purpose_id)
    assert record.record_id
    links = await tokens(consent, tenant, email, purpose_id)
    reply = await unsubscribe(consent, links.unsubscribe_token)
    assert list(reply.purpose_ids) == [purpose_id]
    assert not (await consent.check(tenant, email, purpose_id)).allowed


async def test_slow_stream_check_readers_do_not_hold_the_pool(consent):
    tenant = consent.tenant()
    purpose = await consent.purpose(tenant)
    await consent.sql(
        "INSERT INTO consent_states (account_id, purpose_id, person_key, status, version, since,"
        " last_record_id) SELECT %s, %s, lpad(to_hex(n), 64, '0'), 'granted', 1, now(),"
        " gen_random_uuid() FROM generate_series(1, %s) AS n",
        tenant,
        purpose.purpose_id,
        STATES,
    )
    streams = []
    try:
        for _ in range(READERS):
            call = consent.stub.StreamCheckConsent(
                pb.StreamCheckConsentRequest(purpose_id=purpose.purpose_id, chunk_size=1000),
                metadata=consent.md(tenant, roles=("member",)),
                timeout=120,
            )
            streams.append(call)
            first = await call.read()
            assert len(first.checks) == 1000  # and then this reader stops reading
        await still_served(consent, tenant, purpose.purpose_id)
    finally:
        for call in streams:
            call.cancel()


async def test_slow_suppression_export_readers_do_not_hold_the_pool(consent):
    tenant = consent.tenant()
    purpose = await consent.purpose(tenant)
    await consent.sql(
        "INSERT INTO suppressions (scope, person_key, reason, source, note) "
        "SELECT %s, lpad(to_hex(n), 64, '0'), 'manual', 'import', repeat('n', 200) "
        "FROM generate_series(1, %s) AS n",
        tenant,
        PEOPLE,
    )
    streams = []
    try:
        for _ in range(READERS):
            call = consent.stub.ExportSuppressions(
                pb.ExportSuppressionsRequest(chunk_size=1000),
                metadata=consent.md(tenant, roles=("member",)),
                timeout=120,
            )
            streams.append(call)
            first = await call.read()
            assert len(first.suppressions) == 1000
        await still_served(consent, tenant, purpose.purpose_id)
    finally:
        for call in streams:
            call.cancel()
