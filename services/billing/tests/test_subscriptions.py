"""Subscriptions: subscribe (a trial once per person, across accounts), change plan with the
written proration rule, cancel now or at period end, renewal and dunning by the scheduled
job (time travel by its ``now``), and the RPCs' bad input, other accounts and least scope."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import psycopg
import pytest

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva.billing.v1 import events_pb2
from missiva_billing.core_subscriptions import paid_plan
from missiva_billing.invoice_jobs import renew_subscriptions
from missiva_billing.plans import catalogue
from missiva_billing.retention import RULES
from missiva_billing.store import subscriptions
from missiva_billing.subscription_rules import add_months, is_upgrade, next_retry, prorate
from missiva_platform.events import unpack
from missiva_platform.retention import apply_rule

from . import customers
from .conftest import bad_fields

pytestmark = pytest.mark.asyncio(loop_scope="module")
PLANS = {p.plan_id: p for p in catalogue()}


async def test_periods_and_proration_follow_the_written_rule():
    assert add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2026, 11, 30, tzinfo=UTC), 3) == datetime(2027, 2, 28, tzinfo=UTC)
    start, end = datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)
    half = start + (end - start) / 2
    starter, pro = PLANS["starter-monthly"], PLANS["pro-monthly"]
    owed = prorate(starter, pro, start, end, half)
    assert owed.charge_cents == 4900 // 2 - 1500 // 2 == 1700
    assert owed.extra_credits == (50000 - 10000) // 2
    assert prorate(starter, pro, start, end, end).charge_cents == 0
    assert is_upgrade(starter, pro)
    assert not is_upgrade(pro, starter)
    assert is_upgrade(PLANS["pro-yearly"], PLANS["pro-monthly"])  # monthly costs more a day
    since = datetime(2026, 5, 1, tzinfo=UTC)
    assert [next_retry(since, n) for n in range(4)] == [
        since + timedelta(days=1), since + timedelta(days=3), since + timedelta(days=7), None,
    ]  # fmt: skip


def _writer(billing, tenant):
    return billing.billing_admin(tenant, scopes=["billing:write"])


async def _account(billing, person_key: str | None = None) -> str:
    tenant = billing.tenant()
    await customers.write(billing, tenant, customers.ITALIAN_COMPANY)
    async with await psycopg.AsyncConnection.connect(billing.url) as conn, conn.transaction():
        await subscriptions.set_owner(
            conn, tenant, str(uuid.uuid4()), person_key or uuid.uuid4().hex * 2
        )
    return tenant


async def _subscribe(billing, tenant, plan="pro-monthly", key=None):
    return await billing.stub.Subscribe(
        pb.SubscribeRequest(plan_id=plan, idempotency_key=key or billing.key()),
        metadata=_writer(billing, tenant),
        timeout=10,
    )


async def _sub(billing, tenant):
    async with await psycopg.AsyncConnection.connect(billing.url) as conn:
        return await subscriptions.get(conn, tenant)


async def _pay_open_invoice(billing, tenant):
    sub = await _sub(billing, tenant)
    async with await psycopg.AsyncConnection.connect(billing.url) as conn, conn.transaction():
        invoice = await billing.invoices.mark_paid(conn, tenant, sub.open_invoice_id)
        return await billing.app_subscriptions.invoice_paid(conn, invoice)


async def _renew(billing, now):
    return await renew_subscriptions(billing.url, now, billing.keys)


async def test_a_person_gets_one_trial_whatever_account_they_open(billing):
    person = uuid.uuid4().hex * 2
    first = await _account(billing, person)
    reply = await _subscribe(billing, first)
    assert reply.trial_granted
    assert reply.subscription.status == pb.SUBSCRIPTION_STATUS_TRIALING
    trial = reply.subscription.trial_ends_at.ToDatetime(UTC) - datetime.now(UTC)
    assert timedelta(days=13, hours=23) < trial <= timedelta(days=14)
    assert (await billing.balance(first)).available == 50000
    # The first account is erased; the same person opens another: no second trial.
    async with await psycopg.AsyncConnection.connect(billing.url) as conn, conn.transaction():
        await subscriptions.forget_owner(conn, first)
    second = await _account(billing, person)
    reply = await _subscribe(billing, second)
    assert not reply.trial_granted
    assert reply.subscription.status == pb.SUBSCRIPTION_STATUS_INCOMPLETE
    invoices = await billing.sql(
        "SELECT total_cents, status FROM invoices WHERE account_id = %s", second
    )
    assert invoices == [(5978, "issued")]
    # Paying it activates the period and grants its credits (once).
    assert (await _pay_open_invoice(billing, second)).status == "active"
    assert (await billing.balance(second)).available == 50000


async def test_subscribe_refuses_bad_input_and_a_second_subscription(billing):
    tenant = await _account(billing)
    for request, field in (
        (pb.SubscribeRequest(plan_id="gold", idempotency_key="k"), "plan_id"),
        (pb.SubscribeRequest(plan_id="free", idempotency_key="k"), "plan_id"),
        (pb.SubscribeRequest(plan_id="pro-monthly"), "idempotency_key"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await billing.stub.Subscribe(request, metadata=_writer(billing, tenant))
        assert bad_fields(err.value) == [field]
    assert await _sub(billing, tenant) is None
    first = await _subscribe(billing, tenant, key="same")
    again = await _subscribe(billing, tenant, key="same")  # a retry: the first answer
    assert again.subscription.subscription_id == first.subscription.subscription_id
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _subscribe(billing, tenant)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_without_a_complete_profile_a_paid_plan_is_refused(billing):
    tenant = billing.tenant()  # no profile, no owner known: no trial, an invoice is needed
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _subscribe(billing, tenant, plan="business-monthly")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "business_name" in err.value.details()
    assert await _sub(billing, tenant) is None


async def test_an_upgrade_is_prorated_now_and_a_downgrade_waits_for_the_renewal(billing):
    tenant = await _account(billing)
    await _subscribe(billing, tenant, plan="business-monthly")  # no trial on Business
    await _pay_open_invoice(billing, tenant)
    downgrade = await billing.stub.ChangePlan(
        pb.ChangePlanRequest(plan_id="starter-monthly", idempotency_key=billing.key()),
        metadata=_writer(billing, tenant),
    )
    assert downgrade.subscription.plan_id == "business-monthly"  # until the period ends
    sub = await _sub(billing, tenant)
    assert sub.pending_plan_id == "starter-monthly"
    outcome = await _renew(billing, sub.current_period_end + timedelta(minutes=1))
    assert outcome.get("renewed", 0) >= 1
    sub = await _sub(billing, tenant)
    assert (sub.plan_id, sub.status) == ("starter-monthly", "past_due")
    await _pay_open_invoice(billing, tenant)
    # Upgrade mid-period (real time is before the renewed period starts: the whole period
    # remains, so the difference is the whole price difference).
    upgrade = await billing.stub.ChangePlan(
        pb.ChangePlanRequest(plan_id="pro-monthly", idempotency_key=billing.key()),
        metadata=_writer(billing, tenant),
    )
    assert upgrade.subscription.plan_id == "pro-monthly"
    charged = await billing.sql(
        "SELECT subtotal_cents FROM invoices WHERE account_id = %s AND payment_ref LIKE %s",
        tenant, "%:change:%",
    )  # fmt: skip
    assert charged == [(4900 - 1500,)]


async def test_cancel_at_period_end_ends_it_at_the_renewal_and_cancel_now_at_once(billing):
    tenant = await _account(billing)
    await _subscribe(billing, tenant)
    reply = await billing.stub.CancelSubscription(
        pb.CancelSubscriptionRequest(at_period_end=True, reason="too dear",
                                     idempotency_key=billing.key()),
        metadata=_writer(billing, tenant),
    )  # fmt: skip
    assert reply.subscription.cancel_at_period_end
    assert reply.subscription.status == pb.SUBSCRIPTION_STATUS_TRIALING
    sub = await _sub(billing, tenant)
    await _renew(billing, sub.current_period_end + timedelta(seconds=1))
    got = await billing.stub.GetSubscription(
        pb.GetSubscriptionRequest(), metadata=billing.billing_admin(tenant)
    )
    assert got.subscription.status == pb.SUBSCRIPTION_STATUS_CANCELED
    assert got.plan.plan_id == "free"
    other = await _account(billing)
    await _subscribe(billing, other)
    now = await billing.stub.CancelSubscription(
        pb.CancelSubscriptionRequest(idempotency_key=billing.key()),
        metadata=_writer(billing, other),
    )
    assert now.subscription.status == pb.SUBSCRIPTION_STATUS_CANCELED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await billing.stub.CancelSubscription(
            pb.CancelSubscriptionRequest(reason="x" * 501, idempotency_key="k"),
            metadata=_writer(billing, other),
        )
    assert bad_fields(err.value) == ["reason"]


async def test_an_unpaid_renewal_is_reminded_then_downgraded_after_the_grace(billing):
    tenant = await _account(billing)
    await _subscribe(billing, tenant)  # a trial
    end = (await _sub(billing, tenant)).current_period_end
    await _renew(billing, end + timedelta(minutes=1))
    sub = await _sub(billing, tenant)
    assert sub.status == "past_due"
    assert sub.open_invoice_id is not None
    since = sub.past_due_since
    outcomes = []
    for days in (0.5, 1.1, 3.1, 7.1, 10):
        counts = await _renew(billing, since + timedelta(days=days))
        outcomes.append((await _sub(billing, tenant)).reminders_sent)
        assert "refused" not in counts
    assert outcomes == [0, 1, 2, 3, 3]
    # Each reminder told the platform (billing.payment.failed, through the outbox).
    sent = await billing.events("billing.payment.failed", tenant, want=3)
    failed = [unpack(e, events_pb2.PaymentFailed) for e in sent]
    assert [f.failure_code for f in failed] == ["unpaid"] * 3
    assert {f.subscription_id for f in failed} == {sub.subscription_id}
    assert (failed[0].amount.units, failed[0].amount.nanos) == (59, 780_000_000)
    assert failed[0].next_retry_at.ToDatetime(UTC) == since + timedelta(days=3)
    assert not failed[2].HasField("next_retry_at")
    await _renew(billing, since + timedelta(days=14, minutes=1))
    sub = await _sub(billing, tenant)
    assert (sub.status, sub.cancel_reason) == ("canceled", "unpaid")


async def test_another_accounts_subscription_is_not_seen_or_changed(billing):
    tenant = await _account(billing)
    await _subscribe(billing, tenant)
    stranger = billing.tenant()
    got = await billing.stub.GetSubscription(
        pb.GetSubscriptionRequest(), metadata=billing.billing_admin(stranger)
    )
    assert got.subscription.subscription_id == ""
    assert got.plan.plan_id == "free"
    for call, request in (
        ("ChangePlan", pb.ChangePlanRequest(plan_id="pro-yearly", idempotency_key="k")),
        ("CancelSubscription", pb.CancelSubscriptionRequest(idempotency_key="k")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await getattr(billing.stub, call)(request, metadata=_writer(billing, stranger))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await _sub(billing, tenant)).plan_id == "pro-monthly"


@pytest.mark.parametrize(
    ("call", "request_", "scope"),
    [
        ("GetSubscription", pb.GetSubscriptionRequest(), "billing:read"),
        ("Subscribe", pb.SubscribeRequest(plan_id="pro-monthly", idempotency_key="k"),
         "billing:write"),
        ("ChangePlan", pb.ChangePlanRequest(plan_id="pro-monthly", idempotency_key="k"),
         "billing:write"),
        ("CancelSubscription", pb.CancelSubscriptionRequest(idempotency_key="k"),
         "billing:write"),
    ],
)  # fmt: skip
async def test_the_least_scope_works_and_one_less_is_refused(billing, call, request_, scope):
    tenant = await _account(billing)
    if call != "Subscribe":
        await _subscribe(billing, tenant)
    method = getattr(billing.stub, call)
    await method(request_, metadata=billing.billing_admin(tenant, scopes=[scope]), timeout=10)
    other = "billing:write" if scope == "billing:read" else "billing:read"
    for metadata in (
        billing.billing_admin(tenant, scopes=[other]),
        billing.user(tenant, roles=["member"], scopes=[scope]),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await method(request_, metadata=metadata, timeout=10)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_owner_keys_go_with_the_account_and_the_trial_registry_after_3_years(billing):
    person = uuid.uuid4().hex * 2
    tenant = await _account(billing, person)
    await _subscribe(billing, tenant)
    async with await psycopg.AsyncConnection.connect(billing.url) as conn, conn.transaction():
        await subscriptions.forget_owner(conn, tenant)
    owners = next(r for r in RULES if r.table == "account_owners")
    registry = next(r for r in RULES if r.table == "trial_registry")
    now = datetime.now(UTC)
    async with await psycopg.AsyncConnection.connect(billing.url, autocommit=True) as conn:
        assert await apply_rule(conn, owners, now + timedelta(seconds=1)) >= 1
        assert await apply_rule(conn, registry, now + timedelta(days=364 * 3)) == 0
        assert await apply_rule(conn, registry, now + timedelta(days=366 * 3)) >= 1
    assert (
        await billing.scalar("SELECT count(*) FROM account_owners WHERE account_id = %s", tenant)
        == 0
    )
    assert (
        await billing.scalar("SELECT count(*) FROM trial_registry WHERE person_key = %s", person)
        == 0
    )
    assert paid_plan("pro-monthly").trial_days == 14


async def test_the_owner_comes_from_identitys_sign_up_and_erasure_says_the_trial_is_kept(billing):
    from missiva_platform.privacy import Person

    tenant = billing.tenant()
    await customers.write(billing, tenant, customers.ITALIAN_COMPANY)
    await billing.publish(billing.user_registered(tenant))  # person key "ab" * 32

    async def owner():
        return await billing.scalar(
            "SELECT person_key FROM account_owners WHERE account_id = %s", tenant
        )

    assert await billing.until(owner) == "ab" * 32
    await _subscribe(billing, tenant, plan="starter-monthly")
    erasure = await billing.privacy.erase(
        Person(request_id="r-t", person_key="ab" * 32, tenant_id=tenant)
    )
    kept = {r.category: r for r in erasure.retained}
    assert "trial_registry" in kept
    assert "3 years" in kept["trial_registry"].reason
