"""Billing's part of the privacy contract (export and erase a person).

What billing holds today is account data, not a person's: the credit ledger, the balance
and the reservations name an account, amounts, reservation and message ids and the caller's
reference ("campaign:<id>"), never a person, an address or a user. So an export has nothing
about the person to return, and an erasure erases nothing and changes no credit: the
account's credits stay the account's (they go with the account itself). The billing profile
and invoices (personal data, invoices kept 10 years by law) will answer here when they land.
"""

from __future__ import annotations

from missiva_platform.privacy import DataSection, Erasure, Person


class BillingPrivacy:
    async def export(self, person: Person) -> list[DataSection]:
        return []  # credits are account data: nothing in them is about a person

    async def erase(self, person: Person) -> Erasure:
        return Erasure()  # nothing to erase; the account's credits are kept unchanged
