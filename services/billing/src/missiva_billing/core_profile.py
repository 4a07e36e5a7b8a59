"""Billing profile operations, each inside the caller's transaction."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from missiva_billing.keys import BillingKeys
from missiva_billing.profile import Profile, merged
from missiva_billing.store import profiles


class Profiles:
    def __init__(self, keys: BillingKeys) -> None:
        self.keys = keys

    def _clear(
        self, account_id: str, stored: profiles.StoredProfile, skip: tuple[str, ...] = ()
    ) -> Profile:
        """The stored profile decrypted (but the fields in ``skip``, about to be replaced)."""
        return Profile(
            **stored.plain,
            vat_number=""
            if "vat_number" in skip
            else self.keys.open(stored.vat_number_enc, account_id),
            tax_code="" if "tax_code" in skip else self.keys.open(stored.tax_code_enc, account_id),
            updated_at=stored.updated_at,
        )

    async def get(
        self, conn: Any, account_id: str, *, lock: bool = False, skip: tuple[str, ...] = ()
    ) -> Profile:
        """The account's profile (an empty one when never written)."""
        stored = await profiles.get(conn, account_id, lock=lock)
        return Profile() if stored is None else self._clear(account_id, stored, skip)

    async def update(
        self, conn: Any, account_id: str, given: Profile, names: tuple[str, ...]
    ) -> Profile:
        """Take ``names`` from ``given``; every field is checked before anything is written."""
        current = await self.get(conn, account_id, lock=True, skip=names)
        new = merged(current, given, names)
        plain = {name: getattr(new, name) for name in profiles.PLAIN}
        updated_at = await profiles.upsert(
            conn,
            account_id,
            plain,
            self.keys.seal(new.vat_number, account_id),
            self.keys.seal(new.tax_code, account_id),
            self.keys.person_keys(new.invoice_email, new.pec),
        )
        return replace(new, updated_at=updated_at)
