"""Outbound webhooks of delivery's own message events, queued where the outcome is recorded:
a campaign slice's deliveries in the slice's outcome transaction (one per message and
subscribed endpoint, none for other endpoints or accounts), a provider's bounce report's in
the report's; the same public event id as a consumer of the bus event would give it, once
per (event, endpoint); and delivery no longer consumes its own message subjects."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva_delivery import events as delivery_events
from missiva_delivery import hooks_domain as hd
from missiva_delivery import hooks_events
from missiva_delivery.webhooks import signature
from missiva_platform.auth import CallerKind

pytestmark = pytest.mark.asyncio(loop_scope="module")

_SECRET = b"whsec-" + uuid.uuid4().hex.encode()
_SECRET_FILE = Path(tempfile.mkdtemp(prefix="delivery-fanout-")) / "secret"
_SECRET_FILE.write_bytes(_SECRET + b"\n")
SETTINGS = {
    "webhook_allow_loopback_http": True,
    "webhook_poll_seconds": 0.1,
    "provider_webhook_secret_file": str(_SECRET_FILE),
}


async def _create(delivery: Any, tenant: str, types: list[str]) -> str:
    reply = await delivery.stub.CreateWebhookEndpoint(
        pb.CreateWebhookEndpointRequest(
            # Nothing listens there: the rows are what these tests look at.
            url=f"https://hooks.example.com/{uuid.uuid4().hex[:8]}",
            event_types=types,
        ),
        metadata=delivery.md(
            tenant, kind=CallerKind.API_KEY, subject="key-1", scopes=("webhooks:write",)
        ),
        timeout=10,
    )
    return str(reply.webhook_endpoint.webhook_endpoint_id)


async def _rows(delivery: Any, endpoint_id: str) -> list[tuple[Any, ...]]:
    return await delivery.sql(
        "SELECT event_id, event_type, body, tenant_id, person_key FROM webhook_deliveries"
        " WHERE endpoint_id = %s ORDER BY created_at",
        uuid.UUID(endpoint_id),
    )


async def test_delivery_does_not_consume_its_own_message_events_again() -> None:
    subjects = set(delivery_events.HANDLERS)
    assert not {s for s in subjects if s.startswith("delivery.")}
    # The other sources keep their consumers.
    assert {"consent.contact.suppressed", "campaign.campaign.started"} <= subjects


async def test_a_campaign_slice_queues_one_delivery_per_message_and_subscribed_endpoint(
    delivery,
) -> None:
    tenant, other = delivery.tenant(), delivery.tenant()
    wanted = await _create(delivery, tenant, ["message.sent", "message.bounced"])
    elsewhere = await _create(delivery, tenant, ["campaign.started"])
    foreign = await _create(delivery, other, ["message.sent"])
    addresses = [delivery.address() for _ in range(3)]
    event, campaign_id = delivery.batch(tenant, addresses)
    await delivery.publish_to("cmd.delivery.send_batch", event)
    rows = await delivery.campaign_rows(tenant, campaign_id, want=3)
    assert [r[3] for r in rows] == ["sent"] * 3

    queued = await _rows(delivery, wanted)
    assert sorted(json.loads(body)["data"]["message_id"] for _, _, body, _, _ in queued) == sorted(
        r[0] for r in rows
    )
    assert {(kind, tenant_id) for _, kind, _, tenant_id, _ in queued} == {("message.sent", tenant)}
    by_message = {json.loads(body)["data"]["message_id"]: (eid, body, pk)
                  for eid, _, body, _, pk in queued}  # fmt: skip
    for message_id, contact_id, person_key, _ in rows:
        public_id, body, row_person = by_message[message_id]
        # The public id is the one a consumer of the bus event gave it (UUIDv5 of its id).
        [sent] = await delivery.events("delivery.message.sent", message_id)
        assert public_id == hd.event_id(sent.event_id)
        payload = json.loads(body)
        assert payload["id"] == public_id
        assert payload["type"] == "message.sent"
        assert payload["data"]["campaign_id"] == campaign_id
        assert payload["data"]["contact_id"] == contact_id
        assert payload["data"]["resend"] is False
        assert row_person == person_key
        for address in addresses:
            assert address not in body
    assert await _rows(delivery, elsewhere) == []
    assert await _rows(delivery, foreign) == []

    # The same events again (a retried slice, a redelivery) queue nothing twice.
    events = [await delivery.events("delivery.message.sent", r[0]) for r in rows]
    async with await psycopg.AsyncConnection.connect(delivery.url) as conn:
        again = await hooks_events.queue_message_hooks(conn, [e for [e] in events])
        await conn.commit()
    assert again == 0
    assert len(await _rows(delivery, wanted)) == 3


async def test_without_a_subscribed_endpoint_nothing_is_queued(delivery) -> None:
    tenant = delivery.tenant()
    endpoint = await _create(delivery, tenant, ["message.bounced"])
    event, campaign_id = delivery.batch(tenant, [delivery.address()])
    await delivery.publish_to("cmd.delivery.send_batch", event)
    [row] = await delivery.campaign_rows(tenant, campaign_id, want=1)
    assert row[3] == "sent"
    [sent] = await delivery.events("delivery.message.sent", row[0])
    assert sent.tenant_id == tenant
    assert await _rows(delivery, endpoint) == []


async def test_a_providers_bounce_report_queues_message_bounced(delivery) -> None:
    tenant = delivery.tenant()
    endpoint = await _create(delivery, tenant, ["message.bounced"])
    reply = await delivery.send(
        delivery.request(delivery.address()), metadata=delivery.admin(tenant)
    )
    status = await delivery.until(reply.message_id, tenant)
    assert status.message.status == pb.MESSAGE_STATUS_SENT
    report = json.dumps({
        "id": f"evt_{uuid.uuid4().hex}", "type": "bounce", "message_id": reply.message_id,
        "bounce": {"status": "5.1.1", "recipient_domain": "example.org",
                   "diagnostic": "550 5.1.1 no such user"},
    }).encode()  # fmt: skip
    stamp = int(time.time())
    answer = await delivery.stub.HandleProviderFeedback(
        pb.HandleProviderFeedbackRequest(
            provider="generic", payload=report,
            signature_header=f"t={stamp},v1={signature(_SECRET, stamp, report)}",
        ),
        timeout=10,
    )  # fmt: skip
    assert answer.handled
    [bounced] = await delivery.events("delivery.message.bounced", reply.message_id)
    [(public_id, kind, body, _, _)] = await _rows(delivery, endpoint)
    assert kind == "message.bounced"
    assert public_id == hd.event_id(bounced.event_id)
    data = json.loads(body)["data"]
    assert data["message_id"] == reply.message_id
    assert data["bounce_class"] == "hard"
    assert data["source"] == "provider"
