"""Subscriptions paid through Stripe (PAYMENT_PROVIDER=stripe): checkout in subscription mode
through the official client against a local server speaking Stripe's wire format (form-encoded
requests, JSON objects and errors), subscription webhooks signed the documented way and
applied once per event id, and dunning by the renewal job with time travel: the mail, Stripe
asked to collect again on the retry days, the subscription ended at Stripe and here after the
grace (the account back on Free)."""

from __future__ import annotations

import json
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import grpc
import pytest
from prometheus_client import REGISTRY

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva.delivery.v1 import events_pb2 as delivery_events
from missiva_billing.invoice_jobs import renew_subscriptions
from missiva_billing.store import subscriptions
from missiva_platform.events import EventEnvelope, unpack

from . import customers
from .conftest import bad_fields
from .test_stripe import event, send

pytestmark = pytest.mark.asyncio(loop_scope="module")


class _Stripe(BaseHTTPRequestHandler):
    """Stripe's API as documented: what billing sends is recorded; cards are declined."""

    seen: list[tuple[str, str, dict]] = []
    refuse: set[str] = set()  # Stripe subscription ids whose updates are refused

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_{uuid.uuid4().hex[:12]}")
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode()) if length else {}
        self.seen.append((method, self.path, form))
        if method == "POST" and self.path == "/v1/tax_rates":
            percentage = form["percentage"][0]
            self._answer(
                200,
                {
                    "id": f"txr_{percentage.replace('.', '_')}",
                    "object": "tax_rate",
                    "percentage": float(percentage),
                    "inclusive": False,
                },
            )
        elif method == "POST" and self.path == "/v1/checkout/sessions":
            self._answer(
                200,
                {
                    "id": "cs_sub_1",
                    "object": "checkout.session",
                    "mode": "subscription",
                    "url": "https://checkout.stripe.example/c/pay/cs_sub_1",
                },
            )
        elif (
            method == "POST"
            and self.path.startswith("/v1/invoices/")
            and self.path.endswith("/pay")
        ):
            self._answer(
                402,
                {
                    "error": {
                        "type": "card_error",
                        "code": "card_declined",
                        "message": "Your card was declined.",
                    }
                },
            )
        elif method == "GET" and self.path.startswith("/v1/subscriptions/"):
            sub_id = self.path.rsplit("/", 1)[1]
            self._answer(
                200,
                {
                    "id": sub_id,
                    "object": "subscription",
                    "status": "active",
                    "items": {"object": "list", "data": [{"id": f"si_{sub_id}"}]},
                },
            )
        elif method == "POST" and self.path == "/v1/prices":
            self._answer(200, {"id": f"price_{form['unit_amount'][0]}", "object": "price"})
        elif method == "POST" and self.path.rsplit("/", 1)[1] in self.refuse:
            self._answer(
                400,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": "This subscription is locked.",
                    }
                },
            )
        elif method == "POST" and self.path.startswith("/v1/subscriptions/"):
            self._answer(
                200,
                {
                    "id": self.path.rsplit("/", 1)[1],
                    "object": "subscription",
                    "status": "active",
                    "cancel_at_period_end": form.get("cancel_at_period_end") == ["true"],
                },
            )
        elif method == "DELETE" and self.path.startswith("/v1/subscriptions/"):
            self._answer(
                200,
                {"id": self.path.rsplit("/", 1)[1], "object": "subscription", "status": "canceled"},
            )
        else:
            self._answer(
                404,
                {"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}},
            )

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_GET(self) -> None:
        self._handle("GET")

    def log_message(self, *args) -> None:
        return


# The server and the key exist before the module's billing service is built with them.
_SERVER = HTTPServer(("127.0.0.1", 0), _Stripe)
threading.Thread(target=_SERVER.serve_forever, daemon=True).start()
_KEY = Path(tempfile.mkdtemp()) / "stripe-secret-key"
_KEY.write_text("sk_test_" + "s" * 24)
SETTINGS = {
    "payment_provider": "stripe",
    "stripe_api_base": f"http://127.0.0.1:{_SERVER.server_address[1]}",
    "stripe_secret_key_file": str(_KEY),
}


def _subscribe_request(**fields) -> pb.SubscribeRequest:
    values = {
        "plan_id": "pro-monthly",
        "success_url": "https://app.example/ok",
        "cancel_url": "https://app.example/no",
        "idempotency_key": str(uuid.uuid4()),
    }
    return pb.SubscribeRequest(**{**values, **fields})


def _writer(billing, tenant):
    return billing.billing_admin(tenant, scopes=("billing:write", "billing:read"))


async def _subscribed(billing) -> tuple[str, str, str]:
    """An account subscribed through Stripe's checkout: (account, customer, subscription)."""
    tenant = billing.tenant()
    await customers.write(billing, tenant, customers.ITALIAN_COMPANY)
    reply = await billing.stub.Subscribe(
        _subscribe_request(), metadata=_writer(billing, tenant), timeout=10
    )
    assert reply.checkout_url == "https://checkout.stripe.example/c/pay/cs_sub_1"
    customer, stripe_sub = f"cus_{uuid.uuid4().hex[:12]}", f"sub_{uuid.uuid4().hex[:12]}"
    ours = reply.subscription.subscription_id
    done = await send(
        billing,
        event(
            "checkout.session.completed",
            {
                "id": "cs_sub_1",
                "object": "checkout.session",
                "mode": "subscription",
                "client_reference_id": tenant,
                "customer": customer,
                "subscription": stripe_sub,
                "metadata": {"subscription_id": ours},
            },
        ),
    )
    assert done.handled
    return tenant, customer, stripe_sub


def _invoice(
    customer, stripe_sub, start: datetime, invoice_id=None, amount=4900, paid=5978
) -> dict:
    """A Stripe invoice of a period: its line VAT apart, what it collected with the 22%."""
    end = start + timedelta(days=30)
    return {
        "id": invoice_id or f"in_{uuid.uuid4().hex[:12]}",
        "object": "invoice",
        "customer": customer,
        "subscription": stripe_sub,
        "currency": "eur",
        "amount_paid": paid,
        "amount_due": paid,
        "billing_reason": "subscription_cycle",
        "lines": {
            "data": [
                {
                    "description": "Missiva Pro",
                    "quantity": 1,
                    "amount": amount,
                    "period": {"start": int(start.timestamp()), "end": int(end.timestamp())},
                }
            ]
        },
    }


async def _row(billing, tenant):
    import psycopg

    async with await psycopg.AsyncConnection.connect(billing.url) as conn:
        return await subscriptions.get(conn, tenant)


async def _renew(billing, now):
    return await renew_subscriptions(billing.url, now, billing.keys, billing.app.settings)


async def _mails(billing, tenant, want: int, seconds: float = 10) -> list:
    """The transactional mails billing queued for delivery, for ``tenant`` (acked: taken)."""
    js = billing.nc.jetstream()
    durable = f"test_{uuid.uuid4().hex[:8]}"
    sub = await js.pull_subscribe(
        "cmd.delivery.send_transactional", durable=durable, stream="DELIVERY_COMMANDS"
    )
    found = []
    deadline = time.monotonic() + seconds
    try:
        while len(found) < want and time.monotonic() < deadline:
            try:
                msgs = await sub.fetch(20, timeout=0.5)
            except TimeoutError:
                continue
            for msg in msgs:
                envelope = EventEnvelope.FromString(msg.data)
                if envelope.tenant_id == tenant:
                    found.append(unpack(envelope, delivery_events.SendTransactionalCommand))
                    await msg.ack()
    finally:
        await js.delete_consumer("DELIVERY_COMMANDS", durable)
    return found


def _mismatches() -> float:
    labels = {"provider": "stripe", "outcome": "amount_mismatch"}
    return REGISTRY.get_sample_value("missiva_billing_provider_events_total", labels) or 0.0


async def test_subscribe_opens_a_stripe_checkout_in_subscription_mode(billing):
    _Stripe.seen.clear()
    tenant = billing.tenant()
    await customers.write(billing, tenant, customers.ITALIAN_COMPANY)
    reply = await billing.stub.Subscribe(
        _subscribe_request(idempotency_key="sub-k1"), metadata=_writer(billing, tenant), timeout=10
    )
    assert reply.subscription.status == pb.SUBSCRIPTION_STATUS_INCOMPLETE
    assert not reply.trial_granted  # no owner known: no trial
    # Our VAT for this customer (22%) becomes a Stripe TaxRate once, added to the price.
    (tax_method, tax_path, tax), (method, path, form) = _Stripe.seen
    assert (tax_method, tax_path) == ("POST", "/v1/tax_rates")
    assert (tax["percentage"], tax["inclusive"]) == (["22.0"], ["false"])
    assert (method, path) == ("POST", "/v1/checkout/sessions")
    assert form["line_items[0][tax_rates][0]"] == ["txr_22_0"]
    assert form["mode"] == ["subscription"]
    assert form["client_reference_id"] == [tenant]
    assert form["metadata[subscription_id]"] == [reply.subscription.subscription_id]
    assert form["line_items[0][price_data][recurring][interval]"] == ["month"]
    assert form["line_items[0][price_data][unit_amount]"] == ["4900"]
    assert form["line_items[0][price_data][currency]"] == ["eur"]
    assert not any("card" in name for name in form)
    # An abandoned checkout may start again; an unknown plan, bad return addresses and an
    # incomplete profile change nothing.
    again = await billing.stub.Subscribe(
        _subscribe_request(), metadata=_writer(billing, tenant), timeout=10
    )
    assert again.checkout_url
    for request, field in (
        (_subscribe_request(plan_id="gold"), "plan_id"),
        (_subscribe_request(success_url="javascript:alert(1)"), "success_url"),
        (_subscribe_request(cancel_url=""), "cancel_url"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await billing.stub.Subscribe(request, metadata=_writer(billing, tenant), timeout=10)
        assert bad_fields(err.value) == [field]
    bare = billing.tenant()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await billing.stub.Subscribe(
            _subscribe_request(), metadata=_writer(billing, bare), timeout=10
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert await _row(billing, bare) is None


async def test_a_paid_subscription_invoice_activates_its_period_once(billing):
    tenant, customer, stripe_sub = await _subscribed(billing)
    start = datetime.now(UTC).replace(microsecond=0)
    body = event("invoice.paid", _invoice(customer, stripe_sub, start, "in_period_1"))
    assert (await send(billing, body)).handled
    assert (await send(billing, body)).duplicate  # the same event again
    # Stripe sending the same invoice under another event id: still one invoice, one grant.
    assert (
        await send(
            billing, event("invoice.paid", _invoice(customer, stripe_sub, start, "in_period_1"))
        )
    ).handled
    sub = await _row(billing, tenant)
    assert (sub.status, sub.current_period_start, sub.provider_subscription_id) == (
        "active",
        start,
        stripe_sub,
    )
    assert await billing.sql(
        "SELECT payment_ref, status, total_cents FROM invoices WHERE account_id = %s", tenant
    ) == [("in_period_1", "paid", 5978)]  # 49.00 + 22% VAT
    assert (await billing.balance(tenant)).available == 50_000  # the period's credits, once
    # Stripe collected 59.78 as our invoice says. Another amount is counted for an operator.
    before = _mismatches()
    await send(billing, event("invoice.paid", _invoice(customer, stripe_sub, start, paid=4900)))
    assert _mismatches() == before + 1


async def test_a_failed_payment_mails_retries_at_stripe_and_downgrades_after_the_grace(billing):
    tenant, customer, stripe_sub = await _subscribed(billing)
    start = datetime.now(UTC).replace(microsecond=0)
    await send(billing, event("invoice.paid", _invoice(customer, stripe_sub, start)))
    failed = _invoice(customer, stripe_sub, start + timedelta(days=30), "in_failed")
    _Stripe.seen.clear()
    assert (await send(billing, event("invoice.payment_failed", failed))).handled
    sub = await _row(billing, tenant)
    assert (sub.status, sub.provider_invoice_id) == ("past_due", "in_failed")
    since = sub.past_due_since
    [mail] = await _mails(billing, tenant, want=1)
    assert (mail.template_key, mail.to_address, mail.locale) == (
        "billing.payment_failed",
        "fatture@rossi.example",
        "it",
    )
    assert mail.variables["amount"] == "EUR 59.78"  # what Stripe asked, VAT included
    assert mail.variables["grace_ends"] == (since + timedelta(days=14)).date().isoformat()
    # Stripe's own further failures do not mail again: our schedule does.
    await send(billing, event("invoice.payment_failed", failed))
    assert (await _row(billing, tenant)).reminders_sent == 0
    assert await _renew(billing, since + timedelta(hours=12)) == {"waiting": 1}
    assert _Stripe.seen == []
    assert await _renew(billing, since + timedelta(days=1, minutes=1)) == {"reminded": 1}
    assert [(m, p) for m, p, _ in _Stripe.seen] == [("POST", "/v1/invoices/in_failed/pay")]
    assert len(await _mails(billing, tenant, want=1)) == 1  # the reminder mail
    await _renew(billing, since + timedelta(days=3, minutes=1))
    await _renew(billing, since + timedelta(days=7, minutes=1))
    assert len([p for _, p, _ in _Stripe.seen if p.endswith("/pay")]) == 3
    assert await _renew(billing, since + timedelta(days=14, minutes=1)) == {"downgraded": 1}
    assert ("DELETE", f"/v1/subscriptions/{stripe_sub}") in [(m, p) for m, p, _ in _Stripe.seen]
    sub = await _row(billing, tenant)
    assert (sub.status, sub.cancel_reason) == ("canceled", "unpaid")
    reply = await billing.stub.GetSubscription(
        pb.GetSubscriptionRequest(), metadata=billing.billing_admin(tenant), timeout=10
    )
    assert reply.plan.plan_id == "free"


async def test_subscription_updates_and_deletion_follow_stripe(billing):
    tenant, customer, stripe_sub = await _subscribed(billing)
    start = datetime.now(UTC).replace(microsecond=0)
    await send(billing, event("invoice.paid", _invoice(customer, stripe_sub, start)))
    end = start + timedelta(days=31)
    updated = {
        "id": stripe_sub,
        "object": "subscription",
        "customer": customer,
        "status": "active",
        "cancel_at_period_end": True,
        "items": {
            "data": [
                {
                    "current_period_start": int(start.timestamp()),
                    "current_period_end": int(end.timestamp()),
                }
            ]
        },
    }
    assert (await send(billing, event("customer.subscription.updated", updated))).handled
    sub = await _row(billing, tenant)
    assert (sub.status, sub.cancel_at_period_end, sub.current_period_end) == ("active", True, end)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await send(billing, event("customer.subscription.updated", {**updated, "status": "odd"}))
    assert bad_fields(err.value) == ["payload.data.object.status"]
    deleted = {**updated, "status": "canceled"}
    assert (await send(billing, event("customer.subscription.deleted", deleted))).handled
    assert (await _row(billing, tenant)).status == "canceled"


async def test_an_unknown_customer_or_subscription_is_named_and_changes_nothing(billing):
    tenant, customer, stripe_sub = await _subscribed(billing)
    start = datetime.now(UTC)
    for kind, obj, field in (
        (
            "invoice.payment_failed",
            _invoice("cus_nobody", stripe_sub, start),
            "payload.data.object.customer",
        ),
        (
            "invoice.payment_failed",
            _invoice(customer, "sub_nobody", start),
            "payload.data.object.subscription",
        ),
        (
            "invoice.paid",
            _invoice(customer, "sub_nobody", start, "in_nobody"),
            "payload.data.object.subscription",
        ),
        (
            "customer.subscription.deleted",
            {"id": "sub_nobody", "customer": customer},
            "payload.data.object.id",
        ),
        (
            "customer.subscription.updated",
            {"id": stripe_sub, "customer": "cus_nobody", "status": "active"},
            "payload.data.object.customer",
        ),
    ):
        event_id = f"evt_{uuid.uuid4().hex}"
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await send(billing, event(kind, obj, event_id))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad_fields(err.value) == [field]
        assert (
            await billing.scalar(
                "SELECT count(*) FROM provider_events WHERE event_id = %s", event_id
            )
            == 0
        )
    assert (await _row(billing, tenant)).status == "incomplete"
    assert await billing.sql("SELECT 1 FROM invoices WHERE account_id = %s", tenant) == []


async def test_cancelling_stops_stripe_too(billing):
    tenant, customer, stripe_sub = await _subscribed(billing)
    start = datetime.now(UTC).replace(microsecond=0)
    await send(billing, event("invoice.paid", _invoice(customer, stripe_sub, start)))
    writer = _writer(billing, tenant)
    _Stripe.seen.clear()
    reply = await billing.stub.CancelSubscription(
        pb.CancelSubscriptionRequest(at_period_end=True, idempotency_key=billing.key()),
        metadata=writer,
        timeout=10,
    )
    assert reply.subscription.cancel_at_period_end
    [(method, path, form)] = _Stripe.seen
    assert (method, path, form) == (
        "POST",
        f"/v1/subscriptions/{stripe_sub}",
        {"cancel_at_period_end": ["true"]},
    )
    await billing.stub.CancelSubscription(
        pb.CancelSubscriptionRequest(at_period_end=False, idempotency_key=billing.key()),
        metadata=writer,
        timeout=10,
    )
    assert _Stripe.seen[-1][:2] == ("DELETE", f"/v1/subscriptions/{stripe_sub}")
    assert (await _row(billing, tenant)).status == "canceled"


async def test_a_checkout_never_finished_is_dropped_after_its_period(billing):
    tenant = billing.tenant()
    await customers.write(billing, tenant, customers.ITALIAN_COMPANY)
    await billing.stub.Subscribe(
        _subscribe_request(), metadata=_writer(billing, tenant), timeout=10
    )
    sub = await _row(billing, tenant)
    counts = await _renew(billing, sub.current_period_end - timedelta(minutes=1))
    assert (await _row(billing, tenant)).status == "incomplete"
    counts = await _renew(billing, sub.current_period_end + timedelta(minutes=1))
    assert counts.get("abandoned", 0) >= 1
    after = await _row(billing, tenant)
    assert (after.status, after.cancel_reason) == ("canceled", "checkout abandoned")


async def _change(billing, tenant, plan_id):
    return await billing.stub.ChangePlan(
        pb.ChangePlanRequest(plan_id=plan_id, idempotency_key=billing.key()),
        metadata=_writer(billing, tenant),
        timeout=10,
    )


def _price_change(stripe_sub: str) -> tuple[dict, dict]:
    """The Price made and the subscription update of the last plan change seen at Stripe."""
    [price] = [f for m, p, f in _Stripe.seen if (m, p) == ("POST", "/v1/prices")]
    [update] = [
        f for m, p, f in _Stripe.seen if (m, p) == ("POST", f"/v1/subscriptions/{stripe_sub}")
    ]
    return price, update


async def test_an_upgrade_through_stripe_is_charged_there_and_credited_here_at_once(billing):
    tenant, customer, stripe_sub = await _subscribed(billing)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=15)
    await send(billing, event("invoice.paid", _invoice(customer, stripe_sub, start)))
    before = (await billing.balance(tenant)).available
    _Stripe.seen.clear()
    reply = await _change(billing, tenant, "business-monthly")
    assert reply.subscription.plan_id == "business-monthly"
    assert ("GET", f"/v1/subscriptions/{stripe_sub}") == _Stripe.seen[0][:2]
    price, update = _price_change(stripe_sub)
    assert (price["unit_amount"], price["currency"], price["recurring[interval]"]) == (
        ["14900"], ["eur"], ["month"],
    )  # fmt: skip
    assert update["items[0][id]"] == [f"si_{stripe_sub}"]
    assert update["items[0][price]"] == ["price_14900"]
    assert update["proration_behavior"] == ["always_invoice"]
    assert abs(int(update["proration_date"][0]) - time.time()) < 60
    # About half the period is left: about half the difference in credits, granted now.
    extra = (await billing.balance(tenant)).available - before
    assert 70_000 < extra < 80_000  # (200,000 - 50,000) x 15/30 days, give or take a day
    # Stripe's prorated invoice: the unused Pro time credited, the Business rest charged.
    proration = _invoice(customer, stripe_sub, datetime.now(UTC), "in_upgrade", paid=6100)
    proration["billing_reason"] = "subscription_update"
    rest = proration["lines"]["data"][0]["period"]  # now to the period's end
    proration["lines"]["data"] = [
        {"description": "Unused time on Missiva Pro", "quantity": 1, "amount": -2450,
         "period": rest},
        {"description": "Remaining time on Missiva Business", "quantity": 1, "amount": 7450,
         "period": rest},
    ]  # fmt: skip
    assert (await send(billing, event("invoice.paid", proration))).handled
    assert await billing.sql(
        "SELECT total_cents FROM invoices WHERE account_id = %s AND payment_ref = 'in_upgrade'",
        tenant,
    ) == [(6100,)]  # 50.00 net + 22% VAT
    sub = await _row(billing, tenant)
    assert (sub.plan_id, sub.current_period_start) == ("business-monthly", start)  # unchanged
    assert (await billing.balance(tenant)).available == before + extra  # no second grant


async def test_a_downgrade_through_stripe_waits_for_the_next_cycle(billing):
    tenant, customer, stripe_sub = await _subscribed(billing)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)
    await send(billing, event("invoice.paid", _invoice(customer, stripe_sub, start)))
    _Stripe.seen.clear()
    reply = await _change(billing, tenant, "starter-monthly")
    assert (reply.subscription.plan_id, reply.subscription.pending_plan_id) == (
        "pro-monthly", "starter-monthly",
    )  # fmt: skip
    price, update = _price_change(stripe_sub)
    assert price["unit_amount"] == ["1500"]
    assert update["proration_behavior"] == ["none"]
    assert "proration_date" not in update
    # Choosing Pro again cancels the waiting downgrade, at Stripe too.
    _Stripe.seen.clear()
    back = await _change(billing, tenant, "pro-monthly")
    assert back.subscription.pending_plan_id == ""
    assert _price_change(stripe_sub)[1]["items[0][price]"] == ["price_4900"]
    await _change(billing, tenant, "starter-monthly")
    balance = (await billing.balance(tenant)).available
    # The next cycle's invoice is Starter's: the plan switches before its credits are granted.
    cycle = start + timedelta(days=30)
    body = _invoice(customer, stripe_sub, cycle, "in_cycle_2", amount=1500, paid=1830)
    assert (await send(billing, event("invoice.paid", body))).handled
    sub = await _row(billing, tenant)
    assert (sub.plan_id, sub.pending_plan_id, sub.current_period_start) == (
        "starter-monthly", None, cycle,
    )  # fmt: skip
    assert (await billing.balance(tenant)).available == balance + 10_000


async def test_a_plan_change_stripe_refuses_or_before_checkout_changes_nothing(billing):
    tenant, customer, stripe_sub = await _subscribed(billing)
    start = datetime.now(UTC).replace(microsecond=0)
    await send(billing, event("invoice.paid", _invoice(customer, stripe_sub, start)))
    before = (await billing.balance(tenant)).available
    _Stripe.refuse.add(stripe_sub)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _change(billing, tenant, "business-monthly")
    finally:
        _Stripe.refuse.discard(stripe_sub)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "try again" in err.value.details()
    sub = await _row(billing, tenant)
    assert (sub.plan_id, sub.pending_plan_id) == ("pro-monthly", None)
    assert (await billing.balance(tenant)).available == before
    # A subscription whose checkout never finished has nothing at Stripe to change yet.
    waiting = billing.tenant()
    await customers.write(billing, waiting, customers.ITALIAN_COMPANY)
    await billing.stub.Subscribe(
        _subscribe_request(), metadata=_writer(billing, waiting), timeout=10
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _change(billing, waiting, "business-monthly")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "checkout" in err.value.details()
