"""Billing retention rules, as data. Every table holding personal data gets a rule here.

Tables without personal data are in ``NO_PERSONAL_DATA`` with why (a test holds every table
of the schema to one or the other).

- ``billing_profiles``: kept while the account uses it; an erasure empties it at once
  (``privacy.py``), and the emptied row goes 30 days later.
- ``invoices`` (and credit notes): kept 10 years after the end of their fiscal year
  (``retain_until``; art. 2220 c.c.), whatever happens to the account or the person, then
  deleted (the immutability trigger refuses any earlier delete).
- ``account_owners``: the account creator's person key (whose trial it is), deleted once the
  account is erased; ``trial_registry``: person keys that had a trial, 3 years after it
  (legitimate interest: one trial per person, across accounts).
- ``referral_clicks``: visits of ``/r/<code>`` (time, referring page without query, user
  agent, a salted hash of the visitor's /24 or /64 network), 180 days; an erased account's
  code and its clicks go at once.
- ``provider_events``: the ids of payment-provider webhooks applied, 90 days (Stripe retries
  for 3 days; a replay after that has a stale signature anyway). The credit ledger is
kept, append-only, as the account's usage record, which later invoices are checked against.
The kit's tables (inbox, idempotency keys, privacy answers) have the kit's rules.
"""

from __future__ import annotations

from datetime import timedelta

from missiva_platform.retention import RetentionRule

ANONYMISED_PROFILE_KEPT = timedelta(days=30)
PROVIDER_EVENTS_KEPT = timedelta(days=90)
REFERRAL_CLICKS_KEPT = timedelta(days=180)
TRIAL_REGISTRY_KEPT = timedelta(days=3 * 365)

RULES: tuple[RetentionRule, ...] = (
    RetentionRule(
        table="billing_profiles",
        time_column="anonymised_at",
        max_age=ANONYMISED_PROFILE_KEPT,
        why="an erased profile holds nothing; its emptied row is dropped after 30 days",
    ),
    RetentionRule(
        table="invoices",
        time_column="retain_until",
        max_age=timedelta(0),
        why="Italian law keeps invoices 10 years; retain_until is the end of that",
    ),
    RetentionRule(
        table="provider_events",
        time_column="received_at",
        max_age=PROVIDER_EVENTS_KEPT,
        why="event ids are kept to refuse replays; providers stop retrying after days",
    ),
    RetentionRule(
        table="account_owners",
        time_column="erased_at",
        max_age=timedelta(0),
        why="the owner's person key goes with the account (marked when it is erased)",
    ),
    RetentionRule(
        table="referral_clicks",
        time_column="clicked_at",
        max_age=REFERRAL_CLICKS_KEPT,
        why="visits of referral links (user agent, a salted network hash): 180 days",
    ),
    RetentionRule(
        table="trial_registry",
        time_column="used_at",
        max_age=TRIAL_REGISTRY_KEPT,
        why="one trial per person: their person key, kept 3 years after the trial",
    ),
)

NO_PERSONAL_DATA: dict[str, str] = {
    "credit_ledger": "account id, amounts, reservation and message ids, caller's reference",
    "credit_balances": "account id and credit counts",
    "credit_reservations": "account id, amounts, caller's reference and times",
    "invoice_counters": "the seller's last invoice number per series and year",
    "subscriptions": "account id, plan, dates and states",
    "provider_customers": "the payment provider's customer id of an account (card data stays"
    " with the provider)",
    "referral_codes": "an account's referral code",
    "provider_tax_rates": "the payment provider's tax rate id for each of our VAT rates",
    "referrals": "which account referred which, and when it was rewarded",
}
