"""Consent retention rules, as data. Every table holding personal data gets a rule here.

Kept without a rule, on purpose:

- ``consent_ledger`` (and ``ledger_chains``, ``consent_states``, ``ledger_digests``): kept
  forever. The ledger is the burden of proof of consent (GDPR Art. 7(1)); it holds person
  keys and IP pseudonyms, never addresses, survives erasure in that pseudonymised form, and
  the database refuses to change or delete it.
- ``suppressions``: kept forever, so an unsubscribed, bounced, complaining or erased person is
  never mailed again; its address column is emptied on erasure.
- ``legal_documents``: published texts, no personal data, immutable.
"""

from __future__ import annotations

from datetime import timedelta

from missiva_platform.retention import RetentionRule

IP_HASH_DAYS = 90

RULES: tuple[RetentionRule, ...] = (
    RetentionRule(
        table="double_opt_ins",
        time_column="started_at",
        max_age=timedelta(days=60),
        why="a subscription not confirmed within 60 days expires; confirmed ones are in the ledger",
    ),
    RetentionRule(
        table="link_hits",
        time_column="seen_at",
        max_age=timedelta(days=IP_HASH_DAYS),
        why="unsubscribe/preference IP hashes serve abuse detection for 90 days only",
    ),
    RetentionRule(
        table="ip_review_flags",
        time_column="flagged_at",
        max_age=timedelta(days=IP_HASH_DAYS),
        why="a review flag names an IP hash: it goes with the hashes",
    ),
    RetentionRule(
        table="ip_hash_salts",
        time_column="retire_after",
        max_age=timedelta(days=IP_HASH_DAYS),
        why="once a year's hashes are gone, its salt goes too: any copy left is unlinkable",
    ),
    RetentionRule(
        table="verified_users",
        time_column="verified_at",
        max_age=timedelta(days=30),
        why="only needed until the user's sign-up event is processed (minutes, at worst days)",
    ),
    RetentionRule(
        table="suppression_removals",
        time_column="removed_at",
        max_age=timedelta(days=365),
        why="who lifted a suppression matters for a year of audits",
    ),
)
