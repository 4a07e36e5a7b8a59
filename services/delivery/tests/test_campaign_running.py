"""A campaign while it sends: an unsubscribe (consent's event) stops the person's message
from the moment it is processed; a server refusing everything with 421 for a while (its
length in DELIVERY_421_SECONDS, 60 in the issue, short here) gets every message later, none
lost, none twice."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from missiva.delivery.v1 import events_pb2
from missiva_platform.events import unpack

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Slow enough that a campaign is still sending when the unsubscribe arrives.
SETTINGS = {"smtp_global_rate": 40.0, "suppression_check_size": 10}
IN_FLIGHT = timedelta(seconds=1)
REFUSAL_SECONDS = float(os.environ.get("DELIVERY_421_SECONDS", "3"))


async def test_an_unsubscribe_during_the_send_stops_what_is_not_sent_yet(delivery) -> None:
    tenant = delivery.tenant()
    addresses = [delivery.address() for _ in range(300)]
    event, campaign_id = delivery.batch(tenant, addresses)
    by_key = {delivery.key(a): a for a in addresses}
    # The replica first catches up with what other modules left in the shared stream, so
    # what is measured below is how fast an unsubscribe lands, not an old backlog.
    await _replica_sees(delivery, tenant, delivery.address())
    await delivery.publish_to("cmd.delivery.send_batch", event)
    while len([a for a in addresses if delivery.sink.for_address(a)]) < 30:
        await asyncio.sleep(0.05)
    # Ten people whose message has not gone out yet unsubscribe now.
    waiting = await delivery.sql(
        "SELECT person_key FROM messages WHERE campaign_id = %s AND status IN"
        " ('queued', 'sending') ORDER BY contact_id LIMIT 10", campaign_id,
    )  # fmt: skip
    assert len(waiting) == 10
    targets = [by_key[k] for (k,) in waiting]
    for address in targets:
        await delivery.publish_to(
            "consent.contact.suppressed", delivery.suppression(tenant, address)
        )
    # Processed = committed to the replica: when this connection first sees each entry.
    processed: dict[str, datetime] = {}
    keys = [delivery.key(a) for a in targets]
    while len(processed) < 10:
        seen = await delivery.sql(
            "SELECT person_key FROM consent_blocks WHERE person_key = ANY(%s) AND active", keys
        )
        now = datetime.now(UTC)
        for (key,) in seen:
            processed.setdefault(key, now)
        await asyncio.sleep(0.01)
    rows = await delivery.campaign_rows(tenant, campaign_id, want=300, timeout=60)
    suppressed = 0
    for address in targets:
        key = delivery.key(address)
        status = next(r[3] for r in rows if r[2] == key)
        for received in delivery.sink.for_address(address):
            # Anything the person got was in flight when their unsubscribe was processed:
            # its slice had been checked just before (a slice is sent well within a second).
            assert received.received_at.astimezone(UTC) < processed[key] + IN_FLIGHT, address
        if status == "suppressed":
            suppressed += 1
            assert delivery.sink.for_address(address) == []
    assert suppressed >= 5  # most were still waiting: the replica stopped them mid-send
    others = [r for r in rows if r[2] not in processed]
    assert {r[3] for r in others} == {"sent"}
    for address in addresses:
        assert len(delivery.sink.for_address(address)) <= 1


async def _replica_sees(delivery, tenant: str, address: str, timeout: float = 120.0) -> None:
    await delivery.publish_to("consent.contact.suppressed", delivery.suppression(tenant, address))
    deadline = time.monotonic() + timeout
    key = delivery.key(address)
    while not await delivery.sql(
        "SELECT 1 FROM consent_blocks WHERE person_key = %s AND active", key
    ):
        assert time.monotonic() < deadline, "the suppression replica did not catch up"
        await asyncio.sleep(0.05)


async def test_a_server_refusing_everything_for_a_while_gets_every_message_later(
    delivery,
) -> None:
    tenant = delivery.tenant()
    addresses = [delivery.address() for _ in range(40)]
    event, campaign_id = delivery.batch(tenant, addresses)
    delivery.sink.refuse_all_until = time.monotonic() + REFUSAL_SECONDS
    started = datetime.now(UTC)
    try:
        await delivery.publish_to("cmd.delivery.send_batch", event)
        rows = await delivery.campaign_rows(
            tenant, campaign_id, want=40, timeout=REFUSAL_SECONDS + 60
        )
    finally:
        delivery.sink.refuse_all_until = 0.0
    assert [r[3] for r in rows] == ["sent"] * 40
    for address in addresses:
        assert len(delivery.sink.for_address(address)) == 1  # none lost, none twice
        assert delivery.sink.rcpt_attempts[address] >= 2
    # Each was deferred first, with the reply, and the events say so.
    deferred = await delivery.sql(
        "SELECT count(DISTINCT e.message_id) FROM message_events e JOIN messages m"
        " ON m.id = e.message_id WHERE m.campaign_id = %s AND e.status = 'deferred'"
        " AND e.detail LIKE '421%%'", campaign_id,
    )  # fmt: skip
    assert deferred == [(40,)]
    [first, *_] = await delivery.events("delivery.message.deferred", rows[0][0])
    late = unpack(first, events_pb2.MessageDeferred)
    assert late.campaign_id == campaign_id
    assert late.smtp_response.startswith("421")
    assert first.occurred_at.ToDatetime(UTC) >= started.replace(microsecond=0)
