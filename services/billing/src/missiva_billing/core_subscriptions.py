"""Subscription operations, each inside the caller's transaction (rules in
``subscription_rules.py``). Payment is by bank transfer (the embedded provider): each period's
invoice is issued when the period starts and due at once; paying it (``mark-paid``) activates
the period and grants its credits, once per period."""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from missiva.billing.v1 import events_pb2
from missiva.common.v1 import types_pb2
from missiva.delivery.v1 import events_pb2 as delivery_events
from missiva_billing import SERVICE_NAME
from missiva_billing.core import Credits, new_id
from missiva_billing.core_invoices import Invoices, Item
from missiva_billing.plans import Plan, catalogue
from missiva_billing.store import invoices, subscriptions
from missiva_billing.store.invoices import InvoiceRow
from missiva_billing.store.subscriptions import SubscriptionRow
from missiva_billing.subscription_rules import (
    GRACE,
    RETRY_AFTER,
    is_upgrade,
    next_retry,
    period_end,
    prorate,
)
from missiva_platform import metrics
from missiva_platform.errors import FailedPrecondition, InvalidArgument, NotFound
from missiva_platform.events import EventEnvelope, envelope
from missiva_platform.outbox import add_event
from missiva_platform.streams import SEND_TRANSACTIONAL_EMAIL

log = logging.getLogger(__name__)
PROVIDER = "bank_transfer"


def paid_plan(plan_id: str) -> Plan:
    plans = {p.plan_id: p for p in catalogue()}
    plan = plans.get(plan_id)
    if plan is None:
        raise InvalidArgument.field("plan_id", "is not a plan of ours (see ListPlans)")
    if plan.interval == "none":
        raise InvalidArgument.field("plan_id", "the free plan needs no subscription")
    return plan


def _plan(plan_id: str) -> Plan:
    return {p.plan_id: p for p in catalogue()}[plan_id]


PAYMENT_FAILED = "billing.payment.failed"
PAYMENT_FAILED_MAIL = "billing.payment_failed"


class RemoteSubscriptions(Protocol):
    """What dunning asks of a provider that holds the subscription (Stripe)."""

    async def retry(self, sub: SubscriptionRow) -> None: ...

    async def cancel(self, sub: SubscriptionRow) -> None: ...

    async def cancel_at_period_end(self, sub: SubscriptionRow) -> None: ...

    async def change_plan(
        self, conn: Any, sub: SubscriptionRow, plan: Plan, now: datetime
    ) -> SubscriptionRow: ...


def euros(cents: int) -> str:
    return f"EUR {cents // 100:,}.{cents % 100:02d}"


def payment_failed_mail(
    sub: SubscriptionRow, *, to: str, person_key: str, locale: str, amount_cents: int,
    next_attempt: datetime | None, grace_ends: datetime,
) -> EventEnvelope:  # fmt: skip
    """The ``billing.payment_failed`` mail to the account's billing address (one per
    reminder: the key names the subscription, the unpaid period and the reminder)."""
    start = sub.past_due_since.isoformat() if sub.past_due_since else ""
    command = delivery_events.SendTransactionalCommand(
        idempotency_key=str(
            uuid.uuid5(
                uuid.NAMESPACE_URL, f"billing:{sub.subscription_id}:{start}:{sub.reminders_sent}"
            )
        ),
        template_key=PAYMENT_FAILED_MAIL,
        to_address=to,
        locale=locale,
        variables={
            "plan_name": _plan(sub.plan_id).name,
            "amount": euros(amount_cents),
            "next_attempt": next_attempt.date().isoformat() if next_attempt else "",
            "grace_ends": grace_ends.date().isoformat(),
        },
        category=types_pb2.EMAIL_CATEGORY_SYSTEM,
        person_key=person_key,
        requested_by=SERVICE_NAME,
    )
    return envelope(
        command, subject=SEND_TRANSACTIONAL_EMAIL, tenant_id=sub.account_id, producer=SERVICE_NAME
    )


def payment_failed_event(
    sub: SubscriptionRow, amount_cents: int, next_retry_at: datetime | None
) -> EventEnvelope:
    """``billing.payment.failed``: the period's invoice is unpaid (a bank transfer that did not
    come: ``failure_code`` ``unpaid``); ``next_retry_at`` is the next reminder, unset when the
    grace ends without one."""
    units, cents = divmod(amount_cents, 100)
    message = events_pb2.PaymentFailed(
        subscription_id=sub.subscription_id,
        amount=types_pb2.Money(currency_code="EUR", units=units, nanos=cents * 10_000_000),
        failure_code="unpaid",
    )
    if next_retry_at is not None:
        message.next_retry_at.FromDatetime(next_retry_at)
    return envelope(
        message,
        subject=PAYMENT_FAILED,
        tenant_id=sub.account_id,
        producer=SERVICE_NAME,
        aggregate_id=sub.subscription_id,
        aggregate_version=sub.reminders_sent + 1,
    )


class Subscriptions:
    def __init__(
        self,
        credits: Credits,
        invoices: Invoices,
        *,
        grace: timedelta = GRACE,
        retries: tuple[timedelta, ...] = RETRY_AFTER,
        remote: RemoteSubscriptions | None = None,
    ) -> None:
        self.credits = credits
        self.invoices = invoices
        self.grace = grace
        self.retries = retries
        self.remote = remote
        self._counter: Any = None

    @property
    def events(self) -> Any:
        if self._counter is None:
            self._counter = metrics.counter(
                "subscription_changes_total", "Subscription changes", ("change",)
            )
        return self._counter

    async def _invoice(
        self, conn: Any, sub: SubscriptionRow, plan: Plan, items: list[Item] | None = None
    ) -> InvoiceRow:
        start, end = sub.current_period_start, sub.current_period_end
        ref = f"sub:{sub.subscription_id}:{start.isoformat()}"
        if items is None:
            label = f"Missiva {plan.name}, {start.date().isoformat()} to {end.date().isoformat()}"
            items = [Item(label, 1, plan.price_cents)]
        else:
            ref = f"{ref}:change:{new_id()}"
        invoice, _ = await self.invoices.issue(
            conn, sub.account_id, provider=PROVIDER, payment_ref=ref, items=items, paid=False
        )
        return invoice

    async def notify(self, conn: Any, sub: SubscriptionRow, amount: int | None = None) -> None:
        """Tell the platform (``billing.payment.failed``) and the account's billing address
        (the ``billing.payment_failed`` mail, when the profile has one) that the period is
        unpaid, through the outbox."""
        assert sub.past_due_since is not None
        if amount is None:
            found = None
            if sub.open_invoice_id is not None:
                found = await invoices.get(conn, sub.account_id, sub.open_invoice_id)
            amount = found.total_cents if found else 0
        following = next_retry(sub.past_due_since, sub.reminders_sent, self.retries)
        await add_event(conn, payment_failed_event(sub, amount, following))
        profile = await self.invoices.profiles.get(conn, sub.account_id)
        if profile.invoice_email:
            keys = self.invoices.keys.person_keys(profile.invoice_email)
            mail = payment_failed_mail(
                sub, to=profile.invoice_email, person_key=keys[0] if keys else "",
                locale="it" if profile.country_code == "IT" else "en", amount_cents=amount,
                next_attempt=following, grace_ends=sub.past_due_since + self.grace,
            )  # fmt: skip
            await add_event(conn, mail)

    async def grant_period(self, conn: Any, sub: SubscriptionRow, amount: int, tag: str) -> None:
        if amount > 0:
            await self.credits.grant(
                conn,
                sub.account_id,
                amount,
                key=f"sub:{sub.subscription_id}:{sub.current_period_start.isoformat()}:{tag}",
                reference=f"plan:{sub.plan_id}",
            )

    async def subscribe(
        self, conn: Any, account_id: str, plan: Plan, now: datetime
    ) -> tuple[SubscriptionRow, bool]:
        """Start a subscription: a trial if the account's owner never had one, else the first
        period, invoiced and due (``incomplete`` until paid)."""
        current = await subscriptions.get(conn, account_id, lock=True)
        if current is not None and current.status != "canceled":
            raise FailedPrecondition(
                "the account already has a subscription: change its plan instead",
                [("SUBSCRIPTION_EXISTS", "plan_id", "use ChangePlan")],
            )
        owner = await subscriptions.owner_key(conn, account_id)
        trial = bool(plan.trial_days and owner and await subscriptions.use_trial(conn, owner))
        sub_id = new_id()
        if trial:
            end = now + timedelta(days=plan.trial_days)
            sub = SubscriptionRow(sub_id, account_id, plan.plan_id, "trialing", PROVIDER, now,
                                  end, trial_ends_at=end)  # fmt: skip
            await subscriptions.save(conn, sub)
            await self.grant_period(conn, sub, plan.included_credits, "trial")
        else:
            sub = SubscriptionRow(sub_id, account_id, plan.plan_id, "incomplete", PROVIDER, now,
                                  period_end(plan, now))  # fmt: skip
            invoice = await self._invoice(conn, sub, plan)
            sub = replace(sub, open_invoice_id=invoice.invoice_id, past_due_since=now)
            await subscriptions.save(conn, sub)
        self.events.labels("trial" if trial else "subscribe").inc()
        return sub, trial

    async def _current(self, conn: Any, account_id: str) -> SubscriptionRow:
        sub = await subscriptions.get(conn, account_id, lock=True)
        if sub is None or sub.status == "canceled":
            raise NotFound("the account has no subscription (it is on the Free plan)")
        return sub

    async def change_plan(
        self, conn: Any, account_id: str, plan: Plan, now: datetime
    ) -> SubscriptionRow:
        """Upgrade now (the rest of the period prorated) or downgrade at the period's end."""
        sub = await self._current(conn, account_id)
        current = _plan(sub.plan_id)
        if sub.provider != PROVIDER:
            if self.remote is None:
                raise FailedPrecondition("Stripe is not configured: PAYMENT_PROVIDER=stripe")
            # The provider charges (its proration); a refusal rolls ours back: try again.
            sub = await self.remote.change_plan(conn, sub, plan, now)
        elif plan.plan_id == current.plan_id:
            sub = replace(sub, pending_plan_id=None)
        elif sub.status == "trialing":
            sub = replace(sub, plan_id=plan.plan_id, pending_plan_id=None)
        elif is_upgrade(current, plan) and sub.status == "active":
            owed = prorate(current, plan, sub.current_period_start, sub.current_period_end, now)
            sub = replace(sub, plan_id=plan.plan_id, pending_plan_id=None)
            if owed.charge_cents:
                days = max(1, (sub.current_period_end - now).days)
                label = f"Change to Missiva {plan.name}, prorated for {days} day(s)"
                await self._invoice(conn, sub, plan, [Item(label, 1, owed.charge_cents)])
            await self.grant_period(conn, sub, owed.extra_credits, f"upgrade:{plan.plan_id}")
        elif is_upgrade(current, plan):
            raise FailedPrecondition("pay the open invoice before upgrading")
        else:
            sub = replace(sub, pending_plan_id=plan.plan_id)
        await subscriptions.save(conn, sub)
        self.events.labels("change").inc()
        return sub

    async def cancel(
        self, conn: Any, account_id: str, *, at_period_end: bool, reason: str, now: datetime
    ) -> SubscriptionRow:
        sub = await self._current(conn, account_id)
        if at_period_end and sub.status in ("active", "trialing"):
            sub = replace(sub, cancel_at_period_end=True, cancel_reason=reason)
        else:
            sub = replace(sub, status="canceled", canceled_at=now, cancel_reason=reason)
        await subscriptions.save(conn, sub)
        if sub.provider != PROVIDER and sub.provider_subscription_id:
            if self.remote is None:
                raise FailedPrecondition("Stripe is not configured: PAYMENT_PROVIDER=stripe")
            # The provider stops charging too (a failure rolls our change back: try again).
            if sub.status == "canceled":
                await self.remote.cancel(sub)
            else:
                await self.remote.cancel_at_period_end(sub)
        self.events.labels("cancel").inc()
        return sub

    async def invoice_paid(self, conn: Any, invoice: InvoiceRow) -> SubscriptionRow | None:
        """The period's invoice was paid: the period is active and its credits granted."""
        sub = await subscriptions.by_open_invoice(conn, invoice.invoice_id)
        if sub is None or sub.status == "canceled":
            return None
        sub = replace(sub, status="active", open_invoice_id=None, past_due_since=None,
                      reminders_sent=0)  # fmt: skip
        await subscriptions.save(conn, sub)
        await self.grant_period(conn, sub, _plan(sub.plan_id).included_credits, "period")
        return sub

    async def renew(self, conn: Any, account_id: str, now: datetime) -> str:
        """The renewal job's step for one account; what it did."""
        sub = await subscriptions.get(conn, account_id, lock=True)
        if sub is None or sub.status == "canceled":
            return "nothing"
        if sub.status in ("past_due", "incomplete") and sub.past_due_since is not None:
            if now >= sub.past_due_since + self.grace:
                ended = replace(sub, status="canceled", canceled_at=now, cancel_reason="unpaid",
                                open_invoice_id=None)  # fmt: skip
                await subscriptions.save(conn, ended)
                if self.remote is not None and sub.provider_subscription_id:
                    await self.remote.cancel(sub)
                self.events.labels("downgraded_unpaid").inc()
                log.warning("subscription cancelled unpaid", extra={"account_id": account_id})
                return "downgraded"
            retry = next_retry(sub.past_due_since, sub.reminders_sent, self.retries)
            if retry is not None and now >= retry:
                reminded = replace(sub, reminders_sent=sub.reminders_sent + 1)
                await subscriptions.save(conn, reminded)
                if self.remote is not None and sub.provider_invoice_id:
                    await self.remote.retry(reminded)
                await self.notify(conn, reminded)
                self.events.labels("payment_reminder").inc()
                log.info("payment reminder due", extra={"account_id": account_id})
                return "reminded"
            return "waiting"
        if now < sub.current_period_end:
            return "nothing"
        if sub.provider != PROVIDER:
            # The provider renews (its invoice.paid moves the period); one cancelled at the
            # period's end ends here once that end has passed.
            if sub.cancel_at_period_end:
                ended = replace(sub, status="canceled", canceled_at=sub.current_period_end)
                await subscriptions.save(conn, ended)
                self.events.labels("ended").inc()
                return "ended"
            if sub.status == "incomplete":  # a checkout never finished within a period
                abandoned = replace(sub, status="canceled", canceled_at=now,
                                    cancel_reason="checkout abandoned")  # fmt: skip
                await subscriptions.save(conn, abandoned)
                self.events.labels("abandoned").inc()
                return "abandoned"
            return "nothing"
        if sub.cancel_at_period_end:
            ended = replace(sub, status="canceled", canceled_at=sub.current_period_end)
            await subscriptions.save(conn, ended)
            self.events.labels("ended").inc()
            return "ended"
        plan = _plan(sub.pending_plan_id or sub.plan_id)
        start = sub.current_period_end
        sub = replace(
            sub, plan_id=plan.plan_id, pending_plan_id=None, current_period_start=start,
            current_period_end=period_end(plan, start), trial_ends_at=None,
        )  # fmt: skip
        invoice = await self._invoice(conn, sub, plan)
        sub = replace(sub, status="past_due", open_invoice_id=invoice.invoice_id,
                      past_due_since=now, reminders_sent=0)  # fmt: skip
        await subscriptions.save(conn, sub)
        self.events.labels("renewed").inc()
        return "renewed"
