"""The gateway forwards email-provider webhooks to a real delivery service byte for byte:
a signed bounce marks the message, a replay is a duplicate, a bad signature or an old
timestamp is 401 with a readable body, a malformed event 400 naming the field, a huge body 413."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio

from missiva_delivery.__main__ import build
from missiva_delivery.config import DeliverySettings
from missiva_delivery.webhooks import signature
from missiva_gateway.app import create_app
from missiva_gateway.config import GatewaySettings
from missiva_platform.secrets import EMAIL_HASH_KEY_FILE, FIELD_KEYS_FILE, generate_secrets
from missiva_platform.testing import harness as kit
from missiva_platform.testing.tokens import TestIssuer

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = b"whsec-gateway-test"
URL = "/webhooks/email/generic"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def delivery(make_database, nats_url, tmp_path_factory) -> AsyncIterator[Any]:
    secrets = generate_secrets(tmp_path_factory.mktemp("secrets"), now=datetime.now(UTC))
    secret_file = tmp_path_factory.mktemp("webhook") / "secret"
    secret_file.write_bytes(SECRET)
    probe = build(DeliverySettings(database_url="postgresql://x@127.0.0.1/x", nats_url=nats_url))
    url = make_database(probe.migration_sets, "gateway_provider_webhooks")
    settings = DeliverySettings(
        database_url=url, nats_url=nats_url, grpc_port=0, http_port=0,
        health_interval_seconds=0.5, shutdown_grace_seconds=1,
        field_keys_file=str(secrets[FIELD_KEYS_FILE]),
        email_hash_key_file=str(secrets[EMAIL_HASH_KEY_FILE]),
        provider_webhook_secret_file=str(secret_file),
    )  # fmt: skip
    app = build(settings, jwks=TestIssuer().source())
    await app.start()
    yield app
    await app.stop()


@contextlib.asynccontextmanager
async def gateway(delivery: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(GatewaySettings(delivery_target=f"127.0.0.1:{delivery.grpc_port}"))
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield client


def signed(body: bytes, at: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    return {"Missiva-Signature": f"t={stamp},v1={signature(SECRET, stamp, body)}"}


async def sent_row(delivery: Any) -> str:
    mid = str(uuid.uuid4())
    await kit.sql(
        delivery.settings.database_url,
        "INSERT INTO messages (id, tenant_id, idempotency_key, lane, category, person_key,"
        " rfc822_message_id, status, attempts, sent_at) VALUES (%s, 'acct-gw', %s,"
        " 'transactional', 1, %s, %s, 'sent', 1, now())",
        mid, f"k:{mid}", "ab" * 32, f"<{mid}@test>",
    )  # fmt: skip
    return mid


async def test_a_signed_bounce_is_forwarded_and_applied_once(delivery) -> None:
    mid = await sent_row(delivery)
    body = json.dumps({"id": f"evt_{mid}", "type": "bounce", "message_id": mid,
                       "bounce": {"status": "5.1.1", "diagnostic": "550 5.1.1 no such user"}}
                      ).encode()  # fmt: skip
    async with gateway(delivery) as client:
        first = await client.post(URL, content=body, headers=signed(body))
        again = await client.post(URL, content=body, headers=signed(body))
    assert first.status_code == 200
    assert first.json() == {"event_id": f"evt_{mid}", "duplicate": False, "handled": True}
    assert again.json()["duplicate"] is True
    status = await kit.scalar(
        delivery.settings.database_url, "SELECT status || '/' || bounce_type FROM messages"
        " WHERE id = %s", mid,
    )  # fmt: skip
    assert status == "bounced/hard"


async def test_refusals_are_readable(delivery) -> None:
    body = json.dumps({"id": "evt_x", "type": "bounce", "message_id": str(uuid.uuid4())}).encode()
    async with gateway(delivery) as client:
        forged = await client.post(URL, content=body, headers={"Missiva-Signature": "t=1,v1=00"})
        old = await client.post(URL, content=body, headers=signed(body, int(time.time()) - 400))
        tampered = await client.post(URL, content=body + b" ", headers=signed(body))
        broken = await client.post(URL, content=b"{", headers=signed(b"{"))
        unsigned = await client.post(URL, content=body)
        huge = b"x" * (1024 * 1024 + 1)
        too_big = await client.post(URL, content=huge, headers=signed(huge))
    assert forged.status_code == 401
    assert forged.json()["error"]["message"]
    assert old.status_code == 401
    assert "300 s" in old.json()["error"]["message"]
    assert tampered.status_code == 401
    assert broken.status_code == 400
    assert [f["field"] for f in broken.json()["error"]["fields"]] == ["payload"]
    assert unsigned.status_code == 400
    assert [f["field"] for f in unsigned.json()["error"]["fields"]] == ["signature_header"]
    assert too_big.status_code == 413
