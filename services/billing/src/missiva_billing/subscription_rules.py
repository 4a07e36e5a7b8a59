"""Subscription rules, without I/O: periods, the trial, proration, dunning.

- **Periods**: a monthly plan's period ends on the same day of the next month (clamped to the
  month's last day: 31 January → 28/29 February), a yearly plan's a year later.
- **Trial**: a plan with ``trial_days`` starts with a trial of that length (14 days) when the
  account's owner (the person who created the account) never had one: the registry of their
  keyed email hashes (person keys) outlives the account, so a new account gets no second one.
  During the trial the plan's credits are granted and nothing is charged; at its end the
  first period begins and is invoiced.
- **Proration** (``ChangePlan``): a change to a dearer plan (price per day, so monthly → yearly
  of the same plan counts by its daily price) takes effect at once, and the rest of the
  current period is charged at the difference:
  ``floor(new_price x remaining / period) - floor(old_price x remaining / period)`` cents
  (``remaining`` and ``period`` in seconds of the current period), together with the
  difference in credits prorated the same way. The new plan keeps the current period's end,
  and renews at its own price. A change to a cheaper or equal plan is scheduled for the end of
  the period: nothing is refunded. During a trial the plan changes at once, free.
- **Dunning**: a renewal invoice not paid (bank transfer), or a Stripe payment that failed
  (``invoice.payment_failed``), is ``past_due``: the account's billing address gets the
  ``billing.payment_failed`` mail at once and at each retry, 1, 3 and 7 days later
  (``PAYMENT_RETRY_DAYS``; through Stripe each retry also asks Stripe to collect the invoice
  again); after a 14-day grace (``PAYMENT_GRACE_DAYS``) the subscription is cancelled (at
  Stripe too) and the account is back on Free.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

from missiva_billing.plans import Plan

GRACE = timedelta(days=14)
RETRY_AFTER = (timedelta(days=1), timedelta(days=3), timedelta(days=7))


def add_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    year = moment.year + month // 12
    month = month % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def period_end(plan: Plan, start: datetime) -> datetime:
    if plan.interval == "monthly":
        return add_months(start, 1)
    if plan.interval == "yearly":
        return add_months(start, 12)
    raise ValueError(f"plan {plan.plan_id} has no billing period")


def daily_price(plan: Plan) -> float:
    days = 365 if plan.interval == "yearly" else 30
    return plan.price_cents / days


def is_upgrade(current: Plan, new: Plan) -> bool:
    return daily_price(new) > daily_price(current)


@dataclass(frozen=True)
class Proration:
    charge_cents: int
    extra_credits: int


def prorate(current: Plan, new: Plan, start: datetime, end: datetime, now: datetime) -> Proration:
    """What an upgrade at ``now`` costs for the rest of the period [start, end)."""
    period = (end - start).total_seconds()
    remaining = max(0.0, min(period, (end - now).total_seconds()))
    if period <= 0:
        return Proration(0, 0)

    def part(value: int) -> int:
        return int(value * remaining // period)

    charge = part(new.price_cents) - part(current.price_cents)
    credits = part(new.included_credits) - part(current.included_credits)
    return Proration(max(charge, 0), max(credits, 0))


def next_retry(
    past_due_since: datetime, reminders_sent: int, retries: tuple[timedelta, ...] = RETRY_AFTER
) -> datetime | None:
    """When the next reminder of an unpaid renewal goes (None: no more; the grace ends)."""
    if reminders_sent >= len(retries):
        return None
    return past_due_since + retries[reminders_sent]
