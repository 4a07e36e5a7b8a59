"""Stripe: webhooks verified the documented way (t + HMAC-SHA256 over "t.body", any v1,
300 s tolerance) and applied once per event id; a bad signature, an old timestamp, a replay
or an unknown customer change nothing. Checkout sessions are created through the official
client against a local server speaking Stripe's wire format."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs

import grpc
import psycopg
import pytest

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva_billing.core_invoices import Item
from missiva_billing.retention import RULES
from missiva_billing.stripe_provider import StripeProvider
from missiva_platform.retention import apply_rule

from . import customers
from .conftest import STRIPE_WEBHOOK_SECRET, bad_fields

pytestmark = pytest.mark.asyncio(loop_scope="module")


def sign(body: bytes, *, at: int | None = None, secret: str = STRIPE_WEBHOOK_SECRET) -> str:
    """The Stripe-Signature header as Stripe documents it."""
    stamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def event(kind: str, obj: dict, event_id: str | None = None) -> bytes:
    body = {
        "id": event_id or f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "data": {"object": obj},
    }
    return json.dumps(body).encode()


async def send(billing, body: bytes, header: str | None = None, provider: str = "stripe"):
    return await billing.stub.HandleProviderEvent(
        pb.HandleProviderEventRequest(
            provider=provider,
            payload=body,
            signature_header=sign(body) if header is None else header,
        ),
        timeout=10,
    )


async def _customer_of(billing, profile=customers.ITALIAN_COMPANY) -> tuple[str, str]:
    tenant = billing.tenant()
    await customers.write(billing, tenant, profile)
    customer = f"cus_{uuid.uuid4().hex[:14]}"
    body = event(
        "checkout.session.completed",
        {"id": "cs_1", "object": "checkout.session", "client_reference_id": tenant,
         "customer": customer, "mode": "payment"},
    )  # fmt: skip
    reply = await send(billing, body)
    assert reply.handled
    return tenant, customer


def paid(customer: str, invoice_id: str | None = None, currency: str = "eur") -> dict:
    return {
        "id": invoice_id or f"in_{uuid.uuid4().hex[:14]}",
        "object": "invoice",
        "customer": customer,
        "currency": currency,
        "amount_paid": 5978,
        "lines": {"data": [{"description": "Missiva Pro (monthly)", "quantity": 1,
                            "amount": 4900}]},
    }  # fmt: skip


async def _invoices(billing, tenant) -> list[tuple]:
    return await billing.sql(
        "SELECT kind, status, payment_ref, total_cents FROM invoices WHERE account_id = %s"
        " ORDER BY number_text",
        tenant,
    )


async def _events(billing, event_id) -> int:
    return await billing.scalar(
        "SELECT count(*) FROM provider_events WHERE event_id = %s", event_id
    )


async def test_a_paid_stripe_invoice_issues_ours_once(billing):
    tenant, customer = await _customer_of(billing)
    body = event("invoice.paid", paid(customer, "in_once"), "evt_once")
    first = await send(billing, body)
    assert (first.provider_event_id, first.duplicate, first.handled) == ("evt_once", False, True)
    assert await _invoices(billing, tenant) == [("invoice", "paid", "in_once", 5978)]
    # Stripe redelivers (a fresh signature, the same event id): nothing more happens.
    again = await send(billing, body)
    assert (again.duplicate, again.handled) == (True, False)
    assert await _invoices(billing, tenant) == [("invoice", "paid", "in_once", 5978)]


async def test_a_bad_signature_or_an_old_timestamp_changes_nothing(billing):
    tenant, customer = await _customer_of(billing)
    body = event("invoice.paid", paid(customer), "evt_refused")
    for header in (
        sign(body, secret="whsec_someone_else"),
        sign(body + b" "),  # signed another body
        sign(body, at=int(time.time()) - 301),
        "t=abc,v1=00",
        f"t={int(time.time())}",
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await send(billing, body, header)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert await _events(billing, "evt_refused") == 0
    assert await _invoices(billing, tenant) == []
    # Within the tolerance, and with any v1 matching (a rolled secret), it is accepted.
    stamp = int(time.time()) - 250
    good = sign(body, at=stamp).split(",")[1]
    reply = await send(billing, body, f"t={stamp},v1={'0' * 64},{good}")
    assert reply.handled


async def test_an_unknown_customer_or_currency_is_named_and_changes_nothing(billing):
    tenant, customer = await _customer_of(billing)
    for obj, field in (
        (paid("cus_nobody", "in_x"), "payload.data.object.customer"),
        (paid(customer, "in_y", currency="usd"), "payload.data.object.currency"),
        ({**paid(customer, "in_z"), "lines": {"data": []}}, "payload.data.object.lines"),
    ):
        body = event("invoice.paid", obj, f"evt_{field}")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await send(billing, body)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad_fields(err.value) == [field]
        assert await _events(billing, f"evt_{field}") == 0  # not recorded: may come again
    assert await _invoices(billing, tenant) == []
    for request, field in (
        (pb.HandleProviderEventRequest(provider="paypal", payload=b"{}", signature_header="x"),
         "provider"),
        (pb.HandleProviderEventRequest(provider="stripe", signature_header="x"), "payload"),
        (pb.HandleProviderEventRequest(provider="stripe", payload=b"{}"), "signature_header"),
    ):  # fmt: skip
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await billing.stub.HandleProviderEvent(request, timeout=10)
        assert bad_fields(err.value) == [field]
    body = b"not json"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await send(billing, body)
    assert bad_fields(err.value) == ["payload"]


async def test_a_whole_refund_is_a_credit_note_and_a_partial_one_waits_for_an_operator(billing):
    tenant, customer = await _customer_of(billing)
    await send(billing, event("invoice.paid", paid(customer, "in_refund")))
    charge = {"id": "ch_1", "object": "charge", "customer": customer, "invoice": "in_refund",
              "amount": 5978, "amount_refunded": 1000}  # fmt: skip
    partial = await send(billing, event("charge.refunded", charge))
    assert partial.handled is False
    whole = await send(billing, event("charge.refunded", {**charge, "amount_refunded": 5978}))
    assert whole.handled
    assert await _invoices(billing, tenant) == [
        ("invoice", "void", "in_refund", 5978),
        ("credit_note", "paid", "refund:ch_1", 5978),
    ]
    unknown = {**charge, "invoice": "in_nothing", "amount_refunded": 5978}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await send(billing, event("charge.refunded", unknown))
    assert bad_fields(err.value) == ["payload.data.object.invoice"]


async def test_other_events_are_recorded_as_seen_and_customers_stay_with_their_account(billing):
    reply = await send(billing, event("customer.created", {"id": "cus_1"}, "evt_other"))
    assert (reply.duplicate, reply.handled) == (False, False)
    assert await _events(billing, "evt_other") == 1
    _, customer = await _customer_of(billing)
    other = billing.tenant()
    stolen = event(
        "checkout.session.completed",
        {"id": "cs_2", "client_reference_id": other, "customer": customer},
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await send(billing, stolen)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_applied_event_ids_go_after_90_days(billing):
    await send(billing, event("customer.created", {"id": "cus_2"}, "evt_old"))
    [rule] = [r for r in RULES if r.table == "provider_events"]
    async with await psycopg.AsyncConnection.connect(billing.url, autocommit=True) as conn:
        assert await apply_rule(conn, rule, datetime.now(UTC) + timedelta(days=89)) == 0
        assert await apply_rule(conn, rule, datetime.now(UTC) + timedelta(days=91)) >= 1
    assert await _events(billing, "evt_old") == 0


class _FakeStripe(BaseHTTPRequestHandler):
    seen: list[tuple[str, dict, dict]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        form = parse_qs(self.rfile.read(length).decode())
        self.seen.append((self.path, form, dict(self.headers)))
        body = json.dumps({
            "id": "cs_test_1", "object": "checkout.session",
            "url": "https://checkout.stripe.example/c/pay/cs_test_1",
            "client_reference_id": form["client_reference_id"][0], "mode": "payment",
        }).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        return


async def test_checkout_goes_through_the_official_client_to_the_configured_base(billing, tmp_path):
    server = HTTPServer(("127.0.0.1", 0), _FakeStripe)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        key = tmp_path / "stripe-key"
        key.write_text("sk_test_" + "x" * 24)
        provider = StripeProvider(
            billing.invoices,
            api_base=f"http://127.0.0.1:{server.server_address[1]}",
            secret_key_file=str(key),
            webhook_secret_file=None,
        )
        tenant = billing.tenant()
        url = await provider.checkout(
            tenant,
            [Item("Missiva Pro (monthly)", 1, 4900)],
            success_url="https://app.example/ok",
            cancel_url="https://app.example/no",
            idempotency_key="k-1",
        )
    finally:
        server.shutdown()
    assert url == "https://checkout.stripe.example/c/pay/cs_test_1"
    [(path, form, headers)] = _FakeStripe.seen
    assert path == "/v1/checkout/sessions"
    assert form["client_reference_id"] == [tenant]
    assert form["mode"] == ["payment"]
    assert form["line_items[0][price_data][unit_amount]"] == ["4900"]
    assert form["line_items[0][price_data][currency]"] == ["eur"]
    assert headers["Idempotency-Key"] == "k-1"
    assert headers["Authorization"] == "Bearer sk_test_" + "x" * 24
    assert not any("card" in name for name in form)  # card data never passes through us
