"""The plan catalogue: its rules, and ListPlans with pages."""

from __future__ import annotations

import grpc
import pytest

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva_billing import plans

from .conftest import bad_fields

in_module_loop = pytest.mark.asyncio(loop_scope="module")


def test_the_catalogue_has_a_free_tier_and_paid_plans_monthly_and_yearly():
    catalogue = plans.catalogue()
    free = plans.free_plan()
    assert (free.included_credits, free.price_cents, free.interval) == (500, 0, "none")
    assert free.contact_limit > 0
    paid = [p for p in catalogue if p.interval != "none"]
    assert {p.interval for p in paid} == {"monthly", "yearly"}
    for plan in paid:
        assert plan.price_cents > 0
        assert plan.included_credits > 0
        assert plan.contact_limit > 0
    for monthly in (p for p in paid if p.interval == "monthly"):
        yearly = next(p for p in paid if p.plan_id == monthly.plan_id.replace("monthly", "yearly"))
        assert yearly.price_cents < 12 * monthly.price_cents
        assert yearly.included_credits == 12 * monthly.included_credits
        assert yearly.contact_limit == monthly.contact_limit


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[[plans]]\nid="pro"\nname="P"\ninterval="weekly"\nprice_cents=1\n'
         'included_credits=1\ncontact_limit=1', "interval"),
        ('[[plans]]\nid="free"\nname="F"\ninterval="none"\nprice_cents=5\n'
         'included_credits=1\ncontact_limit=1', "free"),
        ('[[plans]]\nid="pro"\nname="P"\ninterval="monthly"\nprice_cents=0\n'
         'included_credits=1\ncontact_limit=1', "price"),
        ('[[plans]]\nid="pro"\nname="P"\ninterval="monthly"\nprice_cents=10\n'
         'included_credits=1', "contact_limit"),
        ('[[plans]]\nid="pro"\nname="P"\ninterval="monthly"\nprice_cents=10\n'
         'included_credits=1\ncontact_limit=1', "free plan"),
    ],
)  # fmt: skip
def test_a_bad_catalogue_is_refused(text, problem):
    with pytest.raises(plans.CatalogueError, match=problem):
        plans.parse(text)


@in_module_loop
async def test_list_plans_serves_the_catalogue_in_euro_cents(billing):
    reply = await billing.stub.ListPlans(pb.ListPlansRequest(), timeout=10)
    assert [p.plan_id for p in reply.plans] == [p.plan_id for p in plans.catalogue()]
    assert reply.next_page_token == ""
    by_id = {p.plan_id: p for p in reply.plans}
    free = by_id["free"]
    assert (free.interval, free.included_credits, free.price.units) == (
        pb.BILLING_INTERVAL_NONE, 500, 0,
    )  # fmt: skip
    assert free.contact_limit == plans.free_plan().contact_limit
    pro = by_id["pro-monthly"]
    assert pro.interval == pb.BILLING_INTERVAL_MONTHLY
    assert (pro.price.currency_code, pro.price.units, pro.price.nanos) == ("EUR", 49, 0)
    starter = by_id["starter-yearly"]
    assert starter.interval == pb.BILLING_INTERVAL_YEARLY
    assert starter.trial_days == 14


@in_module_loop
async def test_list_plans_pages(billing):
    seen, token = [], ""
    while True:
        reply = await billing.stub.ListPlans(
            pb.ListPlansRequest(page_size=3, page_token=token), timeout=10
        )
        assert len(reply.plans) <= 3
        seen += [p.plan_id for p in reply.plans]
        token = reply.next_page_token
        if not token:
            break
    assert seen == [p.plan_id for p in plans.catalogue()]


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"page_size": -1}, "page_size"), ({"page_token": "garbage!"}, "page_token")],
)
@in_module_loop
async def test_bad_list_plans_requests_name_the_field(billing, fields, field):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await billing.stub.ListPlans(pb.ListPlansRequest(**fields), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(caught.value) == [field]
