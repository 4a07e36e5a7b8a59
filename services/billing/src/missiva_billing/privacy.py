"""Billing's part of the privacy contract (export and erase a person).

The credit ledger, the balances and the reservations are account data: they name an account,
amounts, ids and the caller's reference, never a person. What can name a person is the billing
profile (a private customer's name and address, or the addresses invoices go to): a profile
names a person when its ``invoice_email`` or ``pec`` is theirs (by the platform's person key,
or by the address when the request carries it).

- Export: each such profile, tax fields decrypted, and the invoices issued to it.
- Erasure: the profile is anonymised (every field emptied, the tax fields' blobs dropped).
  Issued invoices are NOT erased, nor their tax fields: Italian law keeps invoices 10 years
  (art. 2220 c.c., DPR 633/1972 art. 39), and the reply says so (``Retained``, legal
  obligation, with the date the oldest kept invoice may go).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from missiva.common.v1 import types_pb2
from missiva_billing.core_invoices import Invoices
from missiva_billing.core_profile import Profiles
from missiva_billing.store import invoices, profiles, subscriptions
from missiva_billing.store.invoices import InvoiceRow
from missiva_platform.crypto import normalise_email
from missiva_platform.privacy import DataSection, Erasure, Person, Retained

if TYPE_CHECKING:
    from missiva_platform.service import ServiceApp

TRIAL_KEPT = (
    "the keyed hash of your email address, recording that you had a free trial (one per"
    " person), kept 3 years after it"
)
INVOICES_KEPT = (
    "invoices and credit notes issued to this billing profile, with the customer's name,"
    " address, VAT number and tax code as invoiced: kept 10 years by Italian tax law"
    " (art. 2220 c.c.; DPR 633/1972 art. 39)"
)


def _email(person: Person) -> str | None:
    if not person.email:
        return None
    try:
        return normalise_email(person.email)
    except ValueError:
        return None


class BillingPrivacy:
    def __init__(self, app: ServiceApp, profiles_core: Profiles, invoices_core: Invoices) -> None:
        self.app = app
        self.profiles = profiles_core
        self.invoices_core = invoices_core

    @property
    def pool(self) -> Any:
        if self.app.pool is None:
            raise RuntimeError("billing is not started")
        return self.app.pool

    async def _accounts(self, conn: Any, person: Person) -> list[str]:
        account = None if person.all_accounts else person.tenant_id
        return await profiles.naming(conn, person.person_key, _email(person), account)

    async def export(self, person: Person) -> list[DataSection]:
        async with self.pool.connection() as conn, conn.transaction():
            return await self.export_in(conn, person)

    async def erase(self, person: Person) -> Erasure:
        async with self.pool.connection() as conn, conn.transaction():
            return await self.erase_in(conn, person)

    async def export_in(self, conn: Any, person: Person) -> list[DataSection]:
        sections = []
        for account in await self._accounts(conn, person):
            profile = await self.profiles.get(conn, account)
            body: dict[str, Any] = {k: v for k, v in asdict(profile).items() if k != "updated_at"}
            body["account_id"] = account
            if profile.updated_at is not None:
                body["updated_at"] = profile.updated_at.isoformat()
            sections.append(
                DataSection(
                    name=f"billing_profile:{account}",
                    description="the billing profile invoices are made out to",
                    content=json.dumps(body, sort_keys=True).encode(),
                )
            )
            issued = [self._invoice(row) for row in await invoices.of_account(conn, account)]
            if issued:
                sections.append(
                    DataSection(
                        name=f"invoices:{account}",
                        description="invoices and credit notes issued to that profile",
                        content=json.dumps(issued, sort_keys=True).encode(),
                    )
                )
        return sections

    def _invoice(self, row: InvoiceRow) -> dict[str, Any]:
        billed = self.invoices_core.billed_profile(row)
        return {
            "number": row.number_text,
            "kind": row.kind,
            "issued_at": row.issued_at.isoformat(),
            "status": row.status,
            "lines": row.lines,
            "subtotal_cents": row.subtotal_cents,
            "vat_cents": row.vat_cents,
            "total_cents": row.total_cents,
            "billed_to": {k: v for k, v in asdict(billed).items() if k != "updated_at"},
        }

    async def erase_in(self, conn: Any, person: Person) -> Erasure:
        erased = 0
        for account in await self._accounts(conn, person):
            erased += await profiles.anonymise(conn, account)
        result = Erasure(erased={"billing_profiles": erased} if erased else {})
        result.retained.append(Retained(category="invoices", reason=INVOICES_KEPT))
        if person.person_key and await subscriptions.trial_used(conn, person.person_key):
            result.retained.append(
                Retained(
                    category="trial_registry",
                    reason=TRIAL_KEPT,
                    legal_basis=types_pb2.LEGAL_BASIS_LEGITIMATE_INTEREST,
                )
            )
        return result
