"""Billing retention rules, as data. Every table holding personal data gets a rule here.

Billing's own tables hold no personal data today (``NO_PERSONAL_DATA`` says why, table by
table; a test holds every table of the schema to one or the other). The credit ledger is
kept, append-only, as the account's usage record, which later invoices are checked against.
The kit's tables (inbox, idempotency keys, privacy answers) have the kit's rules.
"""

from __future__ import annotations

from missiva_platform.retention import RetentionRule

RULES: tuple[RetentionRule, ...] = ()

NO_PERSONAL_DATA: dict[str, str] = {
    "credit_ledger": "account id, amounts, reservation and message ids, caller's reference",
    "credit_balances": "account id and credit counts",
    "credit_reservations": "account id, amounts, caller's reference and times",
}
