"""Outbound webhooks end to end: events from the bus (delivery's own, campaign's,
consent's) POSTed to a real HTTP (and HTTPS) receiver on loopback that verifies each
signature as a customer would; one delivery per (event, endpoint); retries after a 500;
secret rotation; disabling an endpoint failing for too long; what payloads say of people."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import httpx
import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.protobuf import field_mask_pb2

from missiva.campaign.v1 import events_pb2 as campaign_events
from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as consent_pb
from missiva.consent.v1 import events_pb2 as consent_events
from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_delivery import hooks_domain as hd
from missiva_delivery.__main__ import hooks_of
from missiva_delivery.events import message_sent
from missiva_delivery.hooks_events import HookSources
from missiva_platform.auth import CallerKind
from missiva_platform.crypto import DecryptionError
from missiva_platform.events import envelope
from missiva_platform.secrets import load_field_cipher

pytestmark = pytest.mark.asyncio(loop_scope="module")

SETTINGS = {
    "webhook_allow_loopback_http": True,
    "webhook_retry_base_seconds": 0.2,
    "webhook_retry_max_seconds": 0.4,
    "webhook_poll_seconds": 0.1,
    "webhook_timeout_seconds": 3.0,
}


# -- a customer's receiver ------------------------------------------------------------------


class Receiver:
    """A real HTTP server on loopback: records each POST and answers as scripted (a list of
    statuses, the last one repeating)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [200])
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.received.append(
                    {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                )
                status = (
                    receiver.statuses.pop(0)
                    if len(receiver.statuses) > 1
                    else (receiver.statuses[0])
                )
                answer = b"ok" if status < 300 else b"boom: server error " * 100
                self.send_response(status)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/missiva"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(statuses: list[int] | None = None) -> Receiver:
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def customer_verifies(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What the README tells a customer to do, written without Missiva's code."""
    parts = [p.split("=", 1) for p in headers["missiva-signature"].split(",")]
    stamp = next(v for k, v in parts if k == "t")
    if stamp != headers["missiva-webhook-timestamp"] or abs(time.time() - int(stamp)) > 300:
        return False
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in parts if k == "v1")


async def until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if asyncio.iscoroutine(found):
            found = await found
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


# -- helpers ----------------------------------------------------------------------------------


def _key(delivery: Any, tenant: str, *scopes: str) -> Any:
    return delivery.md(tenant, kind=CallerKind.API_KEY, subject="key-1", scopes=scopes)


async def _create(delivery: Any, tenant: str, url: str, types: list[str], **kw: Any) -> Any:
    return await delivery.stub.CreateWebhookEndpoint(
        pb.CreateWebhookEndpointRequest(url=url, event_types=types, **kw),
        metadata=_key(delivery, tenant, "webhooks:write"),
        timeout=10,
    )


async def _deliveries(delivery: Any, tenant: str, endpoint_id: str) -> list[pb.WebhookDelivery]:
    reply = await delivery.stub.ListWebhookDeliveries(
        pb.ListWebhookDeliveriesRequest(webhook_endpoint_id=endpoint_id),
        metadata=_key(delivery, tenant, "webhooks:read"),
        timeout=10,
    )
    return list(reply.webhook_deliveries)


def _campaign_event(tenant: str, subject: str, message: Any) -> Any:
    return envelope(message, subject=subject, tenant_id=tenant, producer="campaign",
                    aggregate_id=message.campaign_id, aggregate_version=2)  # fmt: skip


# -- tests ------------------------------------------------------------------------------------


async def test_events_arrive_signed_and_a_customer_verifies_them(delivery, receivers) -> None:
    tenant = delivery.tenant()
    receiver = receivers()
    created = await _create(
        delivery, tenant, receiver.url, ["message.sent", "campaign.started"],
        description="CRM sync",
    )  # fmt: skip
    secret = created.signing_secret
    endpoint = created.webhook_endpoint
    assert secret.startswith("whsec_")
    assert endpoint.enabled
    assert list(endpoint.event_types) == ["campaign.started", "message.sent"]
    # Stored only encrypted, bound to its tenant and endpoint.
    sealed = await delivery.scalar(
        "SELECT secret_enc FROM webhook_endpoints WHERE id = %s", endpoint.webhook_endpoint_id
    )
    assert secret.encode() not in bytes(sealed)
    cipher = load_field_cipher(delivery.app.settings.field_keys_file)
    with pytest.raises(DecryptionError):
        cipher.decrypt(bytes(sealed), hd.secret_aad("another-tenant", endpoint.webhook_endpoint_id))

    # The account's own transactional mail: message.sent once the SMTP server took it.
    address = delivery.address()
    sent = await delivery.send(delivery.request(address), metadata=delivery.admin(tenant))
    # Campaign's lifecycle, from the bus.
    campaign_id = str(uuid.uuid4())
    started = campaign_events.CampaignStarted(campaign_id=campaign_id, recipient_count=12)
    await delivery.publish_to(
        "campaign.campaign.started",
        _campaign_event(tenant, "campaign.campaign.started", started),
    )
    assert await until(lambda: len(receiver.received) >= 2, timeout=30), receiver.received
    by_type = {json.loads(r["body"])["type"]: r for r in receiver.received}
    assert set(by_type) == {"message.sent", "campaign.started"}
    for request in receiver.received:
        assert customer_verifies(secret, request["headers"], request["body"])
        assert not customer_verifies("whsec_wrong", request["headers"], request["body"])
        payload = json.loads(request["body"])
        assert set(payload) == {"id", "type", "created_at", "account_id", "data"}
        assert payload["account_id"] == tenant
        assert request["headers"]["missiva-webhook-id"] == payload["id"]
        assert address not in request["body"].decode()  # never an address
    mail = json.loads(by_type["message.sent"]["body"])["data"]
    assert mail["message_id"] == sent.message_id
    assert mail["template_key"] == "identity.verify_email"
    assert json.loads(by_type["campaign.started"]["body"])["data"] == {
        "campaign_id": campaign_id, "recipient_count": 12,
    }  # fmt: skip
    rows = await until(
        lambda: _all_delivered(delivery, tenant, endpoint.webhook_endpoint_id, want=2)
    )
    assert rows
    assert all(r.last_status_code == 200 and r.attempts == 1 for r in rows)
    assert all(r.last_response_excerpt == "ok" for r in rows)


async def _all_delivered(delivery: Any, tenant: str, endpoint_id: str, want: int) -> Any:
    rows = await _deliveries(delivery, tenant, endpoint_id)
    done = [r for r in rows if r.status == pb.WEBHOOK_DELIVERY_STATUS_DELIVERED]
    return rows if len(done) >= want else None


async def test_a_bus_event_seen_twice_queues_one_delivery_per_endpoint(delivery) -> None:
    tenant = delivery.tenant()
    first = await _create(delivery, tenant, "https://hooks.example.com/a", ["campaign.paused"])
    second = await _create(delivery, tenant, "https://hooks.example.com/b", ["campaign.paused"])
    await _create(delivery, tenant, "https://hooks.example.com/c", ["campaign.cancelled"])
    paused = campaign_events.CampaignPaused(campaign_id=str(uuid.uuid4()), reason="by hand")
    event = _campaign_event(tenant, "campaign.campaign.paused", paused)
    sources = HookSources()
    async with await psycopg.AsyncConnection.connect(delivery.url) as conn:
        await sources.campaign_event(conn, event, None)
        await sources.campaign_event(conn, event, None)  # a redelivery
        await conn.commit()
    rows = await delivery.sql(
        "SELECT endpoint_id::text, event_id FROM webhook_deliveries WHERE tenant_id = %s", tenant
    )
    endpoints = {first.webhook_endpoint.webhook_endpoint_id,
                 second.webhook_endpoint.webhook_endpoint_id}  # fmt: skip
    assert {r[0] for r in rows} == endpoints
    assert len(rows) == 2
    assert {r[1] for r in rows} == {hd.event_id(event.event_id)}


async def test_a_500_is_retried_with_backoff_until_a_200(delivery, receivers) -> None:
    tenant = delivery.tenant()
    receiver = receivers([500, 200])
    created = await _create(delivery, tenant, receiver.url, ["message.bounced"])
    endpoint_id = created.webhook_endpoint.webhook_endpoint_id
    test = await delivery.stub.SendTestWebhook(
        pb.SendTestWebhookRequest(webhook_endpoint_id=endpoint_id),
        metadata=_key(delivery, tenant, "webhooks:write"),
    )
    assert test.webhook_delivery.status == pb.WEBHOOK_DELIVERY_STATUS_PENDING
    rows = await until(lambda: _all_delivered(delivery, tenant, endpoint_id, want=1))
    assert rows, await _deliveries(delivery, tenant, endpoint_id)
    assert rows[0].attempts == 2
    assert rows[0].last_status_code == 200
    assert rows[0].event_type == "webhook.test"
    assert len(receiver.received) == 2
    ids = {r["headers"]["missiva-webhook-id"] for r in receiver.received}
    assert ids == {test.webhook_delivery.event_id}  # the same id on the retry
    for request in receiver.received:
        assert customer_verifies(created.signing_secret, request["headers"], request["body"])

    # An endpoint that keeps failing: the last answer is kept, and the next attempt is due.
    failing = receivers([503])
    other = await _create(delivery, tenant, failing.url, ["message.bounced"])
    other_id = other.webhook_endpoint.webhook_endpoint_id
    await delivery.stub.SendTestWebhook(
        pb.SendTestWebhookRequest(webhook_endpoint_id=other_id), metadata=delivery.admin(tenant)
    )

    async def retried() -> Any:
        rows = await _deliveries(delivery, tenant, other_id)
        return rows if rows and rows[0].attempts >= 2 else None

    rows = await until(retried)
    assert rows
    assert rows[0].last_status_code == 503
    assert rows[0].last_response_excerpt.startswith("boom: server error")
    assert len(rows[0].last_response_excerpt.encode()) <= hd.RESPONSE_EXCERPT
    assert rows[0].status in (pb.WEBHOOK_DELIVERY_STATUS_PENDING,
                              pb.WEBHOOK_DELIVERY_STATUS_DELIVERING)  # fmt: skip
    got = await delivery.stub.GetWebhookEndpoint(
        pb.GetWebhookEndpointRequest(webhook_endpoint_id=other_id),
        metadata=_key(delivery, tenant, "webhooks:read"),
    )
    assert got.webhook_endpoint.HasField("failing_since")
    await delivery.stub.DeleteWebhookEndpoint(
        pb.DeleteWebhookEndpointRequest(webhook_endpoint_id=other_id),
        metadata=delivery.admin(tenant),
    )


async def test_an_endpoint_failing_for_too_long_is_disabled(delivery, receivers) -> None:
    tenant = delivery.tenant()
    failing = receivers([500])
    created = await _create(delivery, tenant, failing.url, ["campaign.completed"])
    endpoint_id = created.webhook_endpoint.webhook_endpoint_id
    await delivery.sql(
        "UPDATE webhook_endpoints SET failing_since = now() - interval '73 hours' WHERE id = %s",
        endpoint_id,
    )
    await delivery.stub.SendTestWebhook(
        pb.SendTestWebhookRequest(webhook_endpoint_id=endpoint_id), metadata=delivery.admin(tenant)
    )

    async def disabled() -> Any:
        got = await delivery.stub.GetWebhookEndpoint(
            pb.GetWebhookEndpointRequest(webhook_endpoint_id=endpoint_id),
            metadata=delivery.admin(tenant),
        )
        return got.webhook_endpoint if not got.webhook_endpoint.enabled else None

    endpoint = await until(disabled)
    assert endpoint
    assert "failed since" in endpoint.disabled_reason
    rows = await _deliveries(delivery, tenant, endpoint_id)
    assert rows[0].status == pb.WEBHOOK_DELIVERY_STATUS_FAILED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await delivery.stub.SendTestWebhook(
            pb.SendTestWebhookRequest(webhook_endpoint_id=endpoint_id),
            metadata=delivery.admin(tenant),
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # Enabled again by an admin, with a clean slate.
    reply = await delivery.stub.UpdateWebhookEndpoint(
        pb.UpdateWebhookEndpointRequest(
            webhook_endpoint_id=endpoint_id,
            webhook_endpoint=pb.WebhookEndpoint(enabled=True),
            update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
        ),
        metadata=delivery.admin(tenant),
    )
    assert reply.webhook_endpoint.enabled
    assert not reply.webhook_endpoint.disabled_reason
    assert not reply.webhook_endpoint.HasField("failing_since")


async def test_a_rotated_secret_overlaps_with_the_previous_one(delivery, receivers) -> None:
    tenant = delivery.tenant()
    receiver = receivers()
    created = await _create(delivery, tenant, receiver.url, ["message.sent"])
    endpoint_id = created.webhook_endpoint.webhook_endpoint_id
    key = {"webhook_endpoint_id": endpoint_id, "idempotency_key": "rotate-1"}
    rotated = await delivery.stub.RotateWebhookSecret(
        pb.RotateWebhookSecretRequest(**key), metadata=delivery.admin(tenant)
    )
    again = await delivery.stub.RotateWebhookSecret(
        pb.RotateWebhookSecretRequest(**key), metadata=delivery.admin(tenant)
    )
    assert rotated.signing_secret != created.signing_secret
    assert again.signing_secret == rotated.signing_secret  # rotated once
    # The idempotency store never holds the secret.
    stored = await delivery.sql(
        "SELECT response FROM kit_idempotency WHERE method = 'RotateWebhookSecret'"
        " AND tenant_id = %s", tenant,
    )  # fmt: skip
    assert stored
    assert rotated.signing_secret.encode() not in bytes(stored[0][0])
    until_at = rotated.previous_secret_expires_at.ToDatetime(tzinfo=UTC)
    assert timedelta(hours=23) < until_at - datetime.now(UTC) <= timedelta(hours=24)
    await delivery.stub.SendTestWebhook(
        pb.SendTestWebhookRequest(webhook_endpoint_id=endpoint_id), metadata=delivery.admin(tenant)
    )
    assert await until(lambda: receiver.received)
    request = receiver.received[0]
    assert request["headers"]["missiva-signature"].count("v1=") == 2
    assert customer_verifies(rotated.signing_secret, request["headers"], request["body"])
    assert customer_verifies(created.signing_secret, request["headers"], request["body"])


async def test_bounces_unsubscribes_and_withdrawals_name_the_accounts_contact(
    delivery, receivers
) -> None:
    tenant = delivery.tenant()
    receiver = receivers()
    types = ["message.bounced", "contact.unsubscribed", "consent.withdrawn", "message.sent"]
    created = await _create(delivery, tenant, receiver.url, types)
    address = delivery.address("nouser")
    contact_id = str(uuid.uuid5(uuid.NAMESPACE_URL, address))
    event, campaign_id = delivery.batch(tenant, [address])
    await delivery.publish_to("cmd.delivery.send_batch", event)
    rows = await delivery.campaign_rows(tenant, campaign_id, want=1)
    assert rows[0][3] == "bounced"

    def got(event_type: str) -> list[dict[str, Any]]:
        found = [json.loads(r["body"]) for r in receiver.received]
        return [p for p in found if p["type"] == event_type]

    bounced = await until(lambda: got("message.bounced"), timeout=30)
    assert bounced, [json.loads(r["body"])["type"] for r in receiver.received]
    data = bounced[0]["data"]
    assert data["bounce_class"] == "hard"
    assert data["status_code"] == "5.1.1"
    assert data["contact_id"] == contact_id
    assert data["campaign_id"] == campaign_id
    assert address not in json.dumps(bounced[0])  # the diagnostic is redacted too

    # Consent: the unsubscribe, and a withdrawal from the campaign's link.
    await delivery.publish_to("consent.contact.suppressed", delivery.suppression(tenant, address))
    withdrawn = consent_events.ConsentWithdrawn(
        person_key=delivery.key(address), purpose_id="0195a3d0-1111-7abc-8def-0123456789ab",
        purpose_key="newsletter", campaign_id=campaign_id,
        source=consent_pb.CONSENT_SOURCE_UNSUBSCRIBE_LINK,
    )  # fmt: skip
    await delivery.publish_to(
        "consent.purpose.withdrawn",
        envelope(withdrawn, subject="consent.purpose.withdrawn", tenant_id=tenant,
                 producer="consent", aggregate_version=3),
    )  # fmt: skip
    assert await until(lambda: got("contact.unsubscribed") and got("consent.withdrawn"))
    assert got("contact.unsubscribed")[0]["data"]["contact_id"] == contact_id
    assert got("contact.unsubscribed")[0]["data"]["source"] == "unsubscribe_link"
    consent = got("consent.withdrawn")[0]["data"]
    assert consent["contact_id"] == contact_id
    assert consent["kind"] == "withdrawn"
    assert consent["purpose_key"] == "newsletter"
    for request in receiver.received:
        assert customer_verifies(created.signing_secret, request["headers"], request["body"])

    # The person's export lists what was sent about them; their erasure takes it.
    exported = await delivery.privacy.ExportPersonData(
        ppb.ExportPersonDataRequest(
            request_id=f"dsar-{uuid.uuid4().hex[:6]}",
            person=types_pb2.PersonRef(person_key=delivery.key(address)),
        ),
        metadata=delivery.md(tenant, subject="consent", scopes=("*",)),
        timeout=10,
    )
    sections = {s.name: json.loads(s.content) for s in exported.sections}
    sent_out = sections["delivery.webhook_deliveries"]
    assert {item["event_type"] for item in sent_out} >= {"message.bounced", "consent.withdrawn"}
    assert all(item["account_id"] == tenant for item in sent_out)


async def test_mail_the_platform_sends_for_an_account_is_not_reported(delivery) -> None:
    tenant = delivery.tenant()
    await _create(delivery, tenant, "https://hooks.example.com/p", ["message.sent"])
    # identity's verification mail for a user of the account (a service sent it)...
    by_service = await delivery.send(delivery.request(delivery.address()), tenant)
    # ...and the account's own, through the API.
    by_account = await delivery.send(
        delivery.request(delivery.address()), metadata=delivery.admin(tenant)
    )
    sources = HookSources()
    async with await psycopg.AsyncConnection.connect(delivery.url) as conn:
        for reply in (by_service, by_account):
            row = {"id": reply.message_id, "tenant_id": tenant, "campaign_id": "",
                   "batch_id": "", "contact_id": "", "person_key": "ab" * 32, "category": 1,
                   "rfc822_message_id": "<x@y>", "attempts": 1}  # fmt: skip
            await sources.message_event(conn, message_sent(row, resend=False), None)
        await conn.commit()
    bodies = await delivery.sql("SELECT body FROM webhook_deliveries WHERE tenant_id = %s", tenant)
    assert [json.loads(b)["data"]["message_id"] for (b,) in bodies] == [by_account.message_id]


async def test_https_goes_to_the_checked_address_with_the_urls_name_for_tls(
    delivery, tmp_path
) -> None:
    """The worker connects to the address it checked, and TLS still verifies the URL's host
    name (SNI and certificate), so pinning the address costs no authentication."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )  # fmt: skip
    receiver = Receiver()
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    receiver.server.socket = server_tls.wrap_socket(receiver.server.socket, server_side=True)
    hooks = hooks_of(delivery.app)
    trusted = hooks.client
    # The worker trusts this test's certificate authority (and only it) from now on.
    hooks._client = httpx.AsyncClient(
        verify=ssl.create_default_context(cafile=str(tmp_path / "cert.pem")),
        follow_redirects=False, trust_env=False, timeout=3.0,
    )  # fmt: skip
    await trusted.aclose()
    try:
        tenant = delivery.tenant()
        port = receiver.server.server_address[1]
        created = await _create(
            delivery, tenant, f"https://localhost:{port}/hook", ["message.sent"]
        )
        endpoint_id = created.webhook_endpoint.webhook_endpoint_id
        await delivery.stub.SendTestWebhook(
            pb.SendTestWebhookRequest(webhook_endpoint_id=endpoint_id),
            metadata=delivery.admin(tenant),
        )
        rows = await until(lambda: _all_delivered(delivery, tenant, endpoint_id, want=1))
        assert rows, await _deliveries(delivery, tenant, endpoint_id)
        request = receiver.received[0]
        assert request["headers"]["host"] == f"localhost:{port}"
        assert customer_verifies(created.signing_secret, request["headers"], request["body"])
    finally:
        receiver.close()
