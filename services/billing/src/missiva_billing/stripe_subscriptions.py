"""Subscriptions paid through Stripe (``PAYMENT_PROVIDER=stripe``), with the official client.

- **Subscribe**: our subscription row is written (``incomplete``, or ``trialing`` with the
  trial's credits when the person never had one) and a Stripe Checkout session in
  ``subscription`` mode is created for the plan's price (``price_data`` with its interval,
  euro cents VAT apart; ``subscription_data.trial_period_days`` for a trial), naming the
  account (``client_reference_id``) and our subscription (``metadata``), with our VAT rate
  for the customer (``tax.py``) as a Stripe TaxRate (made once per rate, exclusive, kept in
  ``provider_tax_rates``; none at 0%), so Stripe collects what our invoice states; its
  address is the ``checkout_url``. An abandoned checkout can be started again.
- **Webhooks** (``stripe_provider.py`` verifies and de-duplicates them by event id):
  ``checkout.session.completed`` links the customer and Stripe's subscription id to ours;
  ``invoice.paid`` of a subscription issues our paid invoice (not for a zero trial invoice),
  makes the period Stripe invoiced (its line's ``period``) active and grants its credits, once
  per period; ``invoice.payment_failed`` makes it ``past_due`` (the invoice kept for retries)
  and sends the ``billing.payment_failed`` mail; ``customer.subscription.updated`` follows
  Stripe's status, period end and ``cancel_at_period_end``; ``customer.subscription.deleted``
  cancels ours: the account is back on Free. A subscription or customer we do not know is
  INVALID_ARGUMENT naming the field, and nothing of the event is kept.
- **Cancel** (``CancelSubscription``): at the period's end is ``cancel_at_period_end`` at
  Stripe too, now is ``DELETE /v1/subscriptions/<id>``; if Stripe refuses, ours is unchanged.
- **Change plan** (``ChangePlan``): the subscription's item gets the new plan's Price (made
  with ``POST /v1/prices``). An upgrade of an active subscription takes effect at once and
  Stripe charges the rest of the period itself (``proration_behavior=always_invoice`` at
  ``proration_date`` = the change's second: Stripe's proration, by the second like ours);
  its ``invoice.paid`` (``billing_reason`` ``subscription_update``) becomes our invoice of
  the net amount and changes no period, and the prorated extra credits are granted at the
  change by our rule (``subscription_rules.prorate``). A downgrade waits for the period's end
  (``proration_behavior=none``: Stripe's next cycle invoices the cheaper price, and that
  cycle's ``invoice.paid`` switches our plan before granting its credits); choosing the
  current plan again cancels a waiting downgrade there too. During a trial the plan changes
  at once, free. No Stripe subscription yet (checkout not finished) is FAILED_PRECONDITION;
  if Stripe refuses, ours is unchanged.
- **Dunning** (``renew-subscriptions``): at each retry day ``POST /v1/invoices/<id>/pay`` asks
  Stripe to collect again; after the grace ``DELETE /v1/subscriptions/<id>`` ends it there.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import stripe

from missiva_billing.config import BillingSettings
from missiva_billing.core import Credits
from missiva_billing.core_invoices import Invoices
from missiva_billing.core_subscriptions import Subscriptions
from missiva_billing.plans import Plan, catalogue
from missiva_billing.profile import invoice_problem
from missiva_billing.store import providers, subscriptions
from missiva_billing.store.subscriptions import SubscriptionRow
from missiva_billing.stripe_provider import StripeProvider
from missiva_billing.subscription_rules import is_upgrade, period_end, prorate
from missiva_billing.tax import treatment
from missiva_platform.errors import FailedPrecondition, InvalidArgument, Unavailable

log = logging.getLogger(__name__)

NAME = "stripe"
_OBJECT = "payload.data.object"
_STATUS = {
    "active": "active",
    "trialing": "trialing",
    "past_due": "past_due",
    "unpaid": "past_due",
    "incomplete": "incomplete",
    "incomplete_expired": "canceled",
    "canceled": "canceled",
    "paused": "past_due",
}
_INTERVAL = {"monthly": "month", "yearly": "year"}


def _moment(value: Any, field: str) -> datetime:
    if not isinstance(value, int) or value <= 0:
        raise InvalidArgument.field(field, "must be a Unix time")
    return datetime.fromtimestamp(value, UTC)


def _plan(plan_id: str) -> Plan:
    return {p.plan_id: p for p in catalogue()}[plan_id]


class StripeSubscriptions:
    """The Stripe side of subscriptions; ``client`` made on first use (``StripeProvider``)."""

    def __init__(self, subs: Subscriptions, client: Any) -> None:
        self.subs = subs
        self._client = client  # a callable returning the StripeClient

    @property
    def client(self) -> stripe.StripeClient:
        return self._client()  # type: ignore[no-any-return]

    # -- Subscribe -------------------------------------------------------------------------

    async def subscribe(
        self,
        conn: Any,
        account_id: str,
        plan: Plan,
        now: datetime,
        *,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> tuple[SubscriptionRow, bool, str]:
        """Our subscription and the Checkout address that starts Stripe's."""
        current = await subscriptions.get(conn, account_id, lock=True)
        abandoned = (
            current is not None and current.status == "incomplete" and (current.provider == NAME)
        )
        if current is not None and current.status != "canceled" and not abandoned:
            raise FailedPrecondition(
                "the account already has a subscription: change its plan instead",
                [("SUBSCRIPTION_EXISTS", "plan_id", "use ChangePlan")],
            )
        profile = await self.subs.invoices.profiles.get(conn, account_id)
        problem = invoice_problem(profile)
        if problem is not None:
            field, why = problem
            raise FailedPrecondition(
                f"the billing profile is not complete: {field} {why}",
                [("BILLING_PROFILE_INCOMPLETE", field, why)],
            )
        owner = await subscriptions.owner_key(conn, account_id)
        trial = bool(plan.trial_days and owner and await subscriptions.use_trial(conn, owner))
        sub_id = str(uuid.uuid4())
        if trial:
            end = now + timedelta(days=plan.trial_days)
            sub = SubscriptionRow(
                sub_id, account_id, plan.plan_id, "trialing", NAME, now, end, trial_ends_at=end
            )
        else:
            sub = SubscriptionRow(
                sub_id, account_id, plan.plan_id, "incomplete", NAME, now, period_end(plan, now)
            )
        await subscriptions.save(conn, sub)
        if trial:
            await self.subs.grant_period(conn, sub, plan.included_credits, "trial")
        subscription_data: dict[str, Any] = {"metadata": {"subscription_id": sub_id}}
        if trial:
            subscription_data["trial_period_days"] = plan.trial_days
        rate = treatment(profile, oss=self.subs.invoices.oss).rate_bps
        tax_rates = [await self.tax_rate(conn, rate)] if rate else []
        params: Any = {
            "mode": "subscription",
            "client_reference_id": account_id,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": {"subscription_id": sub_id},
            "subscription_data": subscription_data,
            "line_items": [
                {
                    "quantity": 1,
                    "tax_rates": tax_rates,
                    "price_data": {
                        "currency": "eur",
                        "unit_amount": plan.price_cents,
                        "recurring": {"interval": _INTERVAL[plan.interval]},
                        "product_data": {"name": f"Missiva {plan.name}"},
                    },
                }
            ],
        }
        session = await self.client.v1.checkout.sessions.create_async(
            params=params, options={"idempotency_key": idempotency_key}
        )
        self.subs.events.labels("trial" if trial else "subscribe").inc()
        return sub, trial, str(session.url)

    async def tax_rate(self, conn: Any, rate_bps: int) -> str:
        """Stripe's TaxRate for our VAT rate (made once, exclusive: added to the price), so
        what Stripe collects is our invoice's total."""
        found = await providers.tax_rate(conn, NAME, rate_bps)
        if found is not None:
            return found
        made = await self.client.v1.tax_rates.create_async(
            params={
                "display_name": "VAT",
                "inclusive": False,
                "percentage": float(Decimal(rate_bps) / 100),
                "metadata": {"rate_bps": str(rate_bps)},
            },
            options={"idempotency_key": f"missiva-tax-rate-{rate_bps}"},
        )
        return await providers.add_tax_rate(conn, NAME, rate_bps, str(made.id))

    # -- webhooks --------------------------------------------------------------------------

    async def _ours(self, conn: Any, account: str, stripe_sub: str, field: str) -> SubscriptionRow:
        sub = await subscriptions.by_provider_subscription(conn, NAME, stripe_sub)
        if sub is None or sub.account_id != account:
            raise InvalidArgument.field(field, "is not a subscription of ours")
        return sub

    async def checkout_completed(self, conn: Any, account: str, obj: dict[str, Any]) -> None:
        stripe_sub = obj.get("subscription")
        if not isinstance(stripe_sub, str) or not stripe_sub:
            raise InvalidArgument.field(f"{_OBJECT}.subscription", "is required")
        ours = (obj.get("metadata") or {}).get("subscription_id")
        sub = await subscriptions.get(conn, account, lock=True)
        if sub is None or sub.provider != NAME or (ours and ours != sub.subscription_id):
            raise InvalidArgument.field(
                f"{_OBJECT}.metadata.subscription_id", "is not this account's subscription"
            )
        await subscriptions.save(
            conn,
            replace(
                sub, provider_customer_id=obj.get("customer"), provider_subscription_id=stripe_sub
            ),
        )

    async def invoice_paid(self, conn: Any, account: str, obj: dict[str, Any]) -> None:
        """After our invoice was issued: the period is active, its credits granted once."""
        sub = await self._ours(conn, account, obj["subscription"], f"{_OBJECT}.subscription")
        if obj.get("billing_reason") == "subscription_update":
            return  # an upgrade's prorated charge: invoiced, credits granted at the change
        lines = (obj.get("lines") or {}).get("data") or []
        period = (lines[0].get("period") if lines else None) or {}
        start = _moment(period.get("start"), f"{_OBJECT}.lines.data[0].period.start")
        end = _moment(period.get("end"), f"{_OBJECT}.lines.data[0].period.end")
        if end <= start:
            raise InvalidArgument.field(f"{_OBJECT}.lines.data[0].period.end", "is not after start")
        if obj.get("amount_paid", 0) == 0 and sub.status == "trialing":
            return  # the trial's zero invoice: the trial goes on
        if sub.pending_plan_id and start >= sub.current_period_end - timedelta(minutes=5):
            sub = replace(sub, plan_id=sub.pending_plan_id, pending_plan_id=None)
        sub = replace(
            sub,
            status="active",
            current_period_start=start,
            current_period_end=end,
            trial_ends_at=None,
            past_due_since=None,
            reminders_sent=0,
            provider_invoice_id=None,
        )
        await subscriptions.save(conn, sub)
        await self.subs.grant_period(conn, sub, _plan(sub.plan_id).included_credits, "period")

    async def payment_failed(self, conn: Any, account: str, obj: dict[str, Any]) -> None:
        sub = await self._ours(
            conn, account, obj.get("subscription") or "", f"{_OBJECT}.subscription"
        )
        if sub.status == "canceled":
            return
        invoice_id = obj.get("id")
        due = obj.get("amount_due")
        if not isinstance(due, int) or due < 0:
            raise InvalidArgument.field(f"{_OBJECT}.amount_due", "must be a number of cents")
        first = sub.past_due_since is None
        sub = replace(
            sub,
            status="past_due",
            provider_invoice_id=invoice_id,
            past_due_since=sub.past_due_since or datetime.now(UTC),
        )
        await subscriptions.save(conn, sub)
        if first:  # Stripe's own retries fail again: the reminders follow our schedule
            await self.subs.notify(conn, sub, due)
            self.subs.events.labels("payment_failed").inc()

    async def subscription_changed(
        self, conn: Any, account: str, obj: dict[str, Any], *, deleted: bool
    ) -> None:
        sub = await self._ours(conn, account, obj.get("id") or "", f"{_OBJECT}.id")
        now = datetime.now(UTC)
        if deleted:
            if sub.status != "canceled":
                sub = replace(
                    sub,
                    status="canceled",
                    canceled_at=now,
                    open_invoice_id=None,
                    cancel_reason=sub.cancel_reason or "ended at Stripe",
                )
                self.subs.events.labels("ended").inc()
            await subscriptions.save(conn, sub)
            return
        status = _STATUS.get(str(obj.get("status")))
        if status is None:
            raise InvalidArgument.field(f"{_OBJECT}.status", "is not a Stripe subscription status")
        changed = replace(
            sub, status=status, cancel_at_period_end=bool(obj.get("cancel_at_period_end"))
        )
        item = ((obj.get("items") or {}).get("data") or [{}])[0]
        end = obj.get("current_period_end") or item.get("current_period_end")
        start = obj.get("current_period_start") or item.get("current_period_start")
        if end and start:
            changed = replace(
                changed,
                current_period_start=_moment(start, f"{_OBJECT}.current_period_start"),
                current_period_end=_moment(end, f"{_OBJECT}.current_period_end"),
            )
        if status == "canceled" and sub.status != "canceled":
            changed = replace(changed, canceled_at=now)
        if status == "active":
            changed = replace(changed, past_due_since=None, reminders_sent=0)
        await subscriptions.save(conn, changed)

    # -- ChangePlan (RemoteSubscriptions) --------------------------------------------------

    async def change_plan(
        self, conn: Any, sub: SubscriptionRow, plan: Plan, now: datetime
    ) -> SubscriptionRow:
        """Our row after the change, made at Stripe first (see the module's docstring)."""
        current = _plan(sub.plan_id)
        if not sub.provider_subscription_id:
            raise FailedPrecondition(
                "the Stripe checkout of this subscription is not finished: finish it first",
                [("CHECKOUT_NOT_FINISHED", "plan_id", "finish the checkout, then change")],
            )
        if plan.plan_id == current.plan_id:
            if sub.pending_plan_id:  # back to the current plan: the waiting downgrade goes
                await self._set_price(sub, plan, "none", now)
            return replace(sub, pending_plan_id=None)
        if sub.status == "trialing":
            await self._set_price(sub, plan, "none", now)
            return replace(sub, plan_id=plan.plan_id, pending_plan_id=None)
        if not is_upgrade(current, plan):
            await self._set_price(sub, plan, "none", now)
            return replace(sub, pending_plan_id=plan.plan_id)
        if sub.status != "active":
            raise FailedPrecondition("pay the open invoice before upgrading")
        owed = prorate(current, plan, sub.current_period_start, sub.current_period_end, now)
        await self._set_price(sub, plan, "always_invoice", now)
        changed = replace(sub, plan_id=plan.plan_id, pending_plan_id=None)
        await self.subs.grant_period(conn, changed, owed.extra_credits, f"upgrade:{plan.plan_id}")
        return changed

    async def _set_price(
        self, sub: SubscriptionRow, plan: Plan, proration: str, now: datetime
    ) -> None:
        assert sub.provider_subscription_id
        key = f"change:{sub.subscription_id}:{plan.plan_id}:{int(now.timestamp())}"
        try:
            remote = await self.client.v1.subscriptions.retrieve_async(sub.provider_subscription_id)
            items = remote["items"]["data"]
            if not items:
                raise Unavailable("Stripe's subscription has no item to change: try again")
            price = await self.client.v1.prices.create_async(
                params={
                    "currency": "eur",
                    "unit_amount": plan.price_cents,
                    "recurring": {"interval": _INTERVAL[plan.interval]},
                    "product_data": {"name": f"Missiva {plan.name}"},
                    "metadata": {"plan_id": plan.plan_id},
                },
                options={"idempotency_key": f"{key}:price"},
            )
            params: Any = {
                "items": [{"id": items[0]["id"], "price": price.id}],
                "proration_behavior": proration,
                "metadata": {"subscription_id": sub.subscription_id, "plan_id": plan.plan_id},
            }
            if proration != "none":
                params["proration_date"] = int(now.timestamp())
            await self.client.v1.subscriptions.update_async(
                sub.provider_subscription_id, params=params, options={"idempotency_key": key}
            )
        except stripe.StripeError as exc:  # ours stays as it was; the next call tries again
            raise Unavailable(f"Stripe did not confirm ({type(exc).__name__}): try again") from None

    # -- dunning (RemoteSubscriptions) -----------------------------------------------------

    async def retry(self, sub: SubscriptionRow) -> None:
        """Ask Stripe to collect the open invoice again; a refusal is what a retry may give."""
        assert sub.provider_invoice_id
        try:
            await self.client.v1.invoices.pay_async(
                sub.provider_invoice_id,
                options={
                    "idempotency_key": f"retry:{sub.provider_invoice_id}:{sub.reminders_sent}"
                },
            )
        except stripe.StripeError as exc:
            log.info(
                "stripe: the retry was refused (%s)",
                type(exc).__name__,
                extra={"account_id": sub.account_id},
            )

    async def cancel_at_period_end(self, sub: SubscriptionRow) -> None:
        assert sub.provider_subscription_id
        try:
            await self.client.v1.subscriptions.update_async(
                sub.provider_subscription_id, params={"cancel_at_period_end": True}
            )
        except stripe.StripeError as exc:
            raise Unavailable(f"Stripe did not confirm ({type(exc).__name__}): try again") from None

    async def cancel(self, sub: SubscriptionRow) -> None:
        assert sub.provider_subscription_id
        try:
            await self.client.v1.subscriptions.cancel_async(sub.provider_subscription_id)
        except stripe.InvalidRequestError as exc:  # already gone at Stripe
            log.info("stripe: cancel refused (%s)", exc.code, extra={"account_id": sub.account_id})
        except stripe.StripeError as exc:  # ours stays as it was; the next call tries again
            raise Unavailable(f"Stripe did not confirm ({type(exc).__name__}): try again") from None


def subscriptions_of(
    settings: BillingSettings, credits: Credits, invoices: Invoices
) -> Subscriptions:
    """Subscriptions with the settings' dunning (and, under Stripe, Stripe's retries)."""
    subs = Subscriptions(
        credits,
        invoices,
        grace=timedelta(days=settings.payment_grace_days),
        retries=tuple(timedelta(days=d) for d in settings.retry_days),
    )
    if settings.payment_provider == "stripe":
        stripe = StripeProvider(
            invoices,
            api_base=settings.stripe_api_base,
            secret_key_file=settings.stripe_secret_key_file,
            webhook_secret_file=None,
        )
        subs.remote = StripeSubscriptions(subs, lambda: stripe.client)
    return subs
