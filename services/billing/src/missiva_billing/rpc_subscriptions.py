"""GetSubscription, Subscribe, ChangePlan, CancelSubscription (rules: ``subscription_rules``).

Changes need an ``idempotency_key`` (a retry gets the first answer). By bank transfer (the
default ``PAYMENT_PROVIDER``) a subscription without a trial is ``incomplete`` until its first
invoice is paid, and no checkout address is returned; through Stripe, ``Subscribe`` answers
with Stripe Checkout's address (``stripe_subscriptions.py``)."""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime
from typing import Any

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva_billing.core_subscriptions import paid_plan
from missiva_billing.plans import catalogue, free_plan
from missiva_billing.rpc_base import RpcBase, required_key, timestamp
from missiva_billing.rpc_plans import plan_pb
from missiva_billing.store import subscriptions
from missiva_billing.store.subscriptions import SubscriptionRow
from missiva_platform.auth import current_tenant
from missiva_platform.errors import InvalidArgument
from missiva_platform.idempotency import run_once

_SERVICE = "missiva.billing.v1.BillingService"
_STATUS = {
    "incomplete": pb.SUBSCRIPTION_STATUS_INCOMPLETE,
    "trialing": pb.SUBSCRIPTION_STATUS_TRIALING,
    "active": pb.SUBSCRIPTION_STATUS_ACTIVE,
    "past_due": pb.SUBSCRIPTION_STATUS_PAST_DUE,
    "canceled": pb.SUBSCRIPTION_STATUS_CANCELED,
}
MAX_REASON = 500
MAX_URL = 2048


def _return_url(field: str, value: str) -> str:
    """Where Stripe's checkout sends the customer back: an http(s) address."""
    parts = urllib.parse.urlsplit(value)
    if (
        not value
        or len(value) > MAX_URL
        or parts.scheme not in ("https", "http")
        or not parts.netloc
    ):
        raise InvalidArgument.field(field, "must be the http(s) address checkout returns to")
    return value


def subscription_pb(sub: SubscriptionRow) -> pb.Subscription:
    message = pb.Subscription(
        subscription_id=sub.subscription_id,
        plan_id=sub.plan_id,
        status=_STATUS[sub.status],
        current_period_start=timestamp(sub.current_period_start),
        current_period_end=timestamp(sub.current_period_end),
        cancel_at_period_end=sub.cancel_at_period_end,
        provider_customer_id=sub.provider_customer_id or "",
        provider_subscription_id=sub.provider_subscription_id or "",
        pending_plan_id=sub.pending_plan_id or "",
    )
    if sub.trial_ends_at is not None:
        message.trial_ends_at.CopyFrom(timestamp(sub.trial_ends_at))
    if sub.canceled_at is not None:
        message.canceled_at.CopyFrom(timestamp(sub.canceled_at))
    return message


class SubscriptionRpcs(RpcBase):
    async def GetSubscription(
        self, request: pb.GetSubscriptionRequest, context: Any
    ) -> pb.GetSubscriptionResponse:
        account = current_tenant()
        async with self.pool.connection() as conn:
            sub = await subscriptions.get(conn, account)
        if sub is None or sub.status == "canceled":
            # No subscription: the account is on the Free plan.
            free = free_plan()
            return pb.GetSubscriptionResponse(
                subscription=subscription_pb(sub) if sub else pb.Subscription(plan_id="free"),
                plan=plan_pb(free),
            )
        plan = {p.plan_id: p for p in catalogue()}[sub.plan_id]
        return pb.GetSubscriptionResponse(subscription=subscription_pb(sub), plan=plan_pb(plan))

    async def Subscribe(self, request: pb.SubscribeRequest, context: Any) -> pb.SubscribeResponse:
        plan = paid_plan(request.plan_id)
        required_key(request.idempotency_key)
        through_stripe = self.settings.payment_provider == "stripe"
        if through_stripe:
            _return_url("success_url", request.success_url)
            _return_url("cancel_url", request.cancel_url)
        account = current_tenant()

        async def work(conn: Any) -> pb.SubscribeResponse:
            now = datetime.now(UTC)
            if not through_stripe:
                sub, trial = await self.subscriptions.subscribe(conn, account, plan, now)
                return pb.SubscribeResponse(subscription=subscription_pb(sub), trial_granted=trial)
            sub, trial, url = await self.stripe_subscriptions.subscribe(
                conn, account, plan, now, success_url=request.success_url,
                cancel_url=request.cancel_url, idempotency_key=request.idempotency_key,
            )  # fmt: skip
            return pb.SubscribeResponse(
                subscription=subscription_pb(sub), trial_granted=trial, checkout_url=url
            )

        return await run_once(
            self.pool, tenant_id=account, method=f"{_SERVICE}/Subscribe", request=request,
            response_type=pb.SubscribeResponse, work=work,
        )  # fmt: skip

    async def ChangePlan(
        self, request: pb.ChangePlanRequest, context: Any
    ) -> pb.ChangePlanResponse:
        plan = paid_plan(request.plan_id)
        required_key(request.idempotency_key)
        account = current_tenant()

        async def work(conn: Any) -> pb.ChangePlanResponse:
            sub = await self.subscriptions.change_plan(conn, account, plan, datetime.now(UTC))
            return pb.ChangePlanResponse(subscription=subscription_pb(sub))

        return await run_once(
            self.pool, tenant_id=account, method=f"{_SERVICE}/ChangePlan", request=request,
            response_type=pb.ChangePlanResponse, work=work,
        )  # fmt: skip

    async def CancelSubscription(
        self, request: pb.CancelSubscriptionRequest, context: Any
    ) -> pb.CancelSubscriptionResponse:
        if len(request.reason) > MAX_REASON:
            raise InvalidArgument.field("reason", f"at most {MAX_REASON} characters")
        required_key(request.idempotency_key)
        account = current_tenant()

        async def work(conn: Any) -> pb.CancelSubscriptionResponse:
            sub = await self.subscriptions.cancel(
                conn, account, at_period_end=request.at_period_end, reason=request.reason,
                now=datetime.now(UTC),
            )  # fmt: skip
            return pb.CancelSubscriptionResponse(subscription=subscription_pb(sub))

        return await run_once(
            self.pool, tenant_id=account, method=f"{_SERVICE}/CancelSubscription",
            request=request, response_type=pb.CancelSubscriptionResponse, work=work,
        )  # fmt: skip
