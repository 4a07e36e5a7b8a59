"""A form subscriber becomes a contact when consent confirms.

The consent projection's ``consent.purpose.granted`` handler calls ``activate`` in the same
transaction: every pending submission of the person naming the purpose writes the contact
(a new one with source FORM, or the account's existing contact with that address, whose
empty names and locale it fills) and puts it on the form's lists, then blanks the address
it held. Until then the visitor is no contact at all: a submission that is never confirmed
leaves nothing behind but the expiring submission row.
"""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from missiva_campaign import domain, outgoing
from missiva_campaign.core import new_id
from missiva_campaign.store import contacts, lists
from missiva_campaign.store import forms as form_store
from missiva_platform.outbox import add_event


async def _live_contact(conn: Any, account_id: str, email_key: str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id::text AS id, first_name, last_name, locale, attributes FROM contacts"
            " WHERE account_id = %s AND email_key = %s AND deleted_at IS NULL FOR UPDATE",
            (account_id, email_key),
        )
        return await cur.fetchone()


async def activate(conn: Any, account_id: str, person_key: str, purpose_id: str) -> int:
    """Write the contacts of the person's pending submissions for ``purpose_id``; how many."""
    pending = await form_store.pending_for(conn, account_id, person_key, purpose_id)
    for submission in pending:
        gone = set(await lists.missing(conn, account_id, submission["list_ids"]))
        submission["list_ids"] = [i for i in submission["list_ids"] if i not in gone]
        address = domain.email_address("email", submission["email"])
        found = await _live_contact(conn, account_id, address.key)
        if found is None:
            created = await contacts.insert(
                conn,
                {
                    "id": new_id(),
                    "account_id": account_id,
                    "email": address.email,
                    "email_key": address.key,
                    "person_key": person_key,
                    "first_name": submission["first_name"],
                    "last_name": submission["last_name"],
                    "locale": submission["locale"],
                    "timezone": "",
                    "attributes": submission["attributes"],
                    "tags": [],
                    "source": "form",
                    "source_detail": f"form:{submission['form_id']}",
                    "actor_kind": "form",
                    "actor_id": submission["form_id"],
                },
            )
            contact_id = created["id"]
            await lists.add_members(conn, submission["list_ids"], [contact_id])
            await add_event(conn, outgoing.contact_created(created, submission["list_ids"]))
        else:
            contact_id = found["id"]
            fill = {
                k: submission[k]
                for k in ("first_name", "last_name", "locale")
                if submission[k] and not found[k]
            }
            merged = {**submission["attributes"], **(found["attributes"] or {})}
            if merged != (found["attributes"] or {}):
                fill["attributes"] = merged
            if fill:
                updated = await contacts.update(conn, account_id, contact_id, fill)
                if updated is not None:
                    await add_event(conn, outgoing.contact_updated(updated, sorted(fill)))
            await lists.add_members(conn, submission["list_ids"], [contact_id])
        await conn.execute(  # confirming is an interaction
            "UPDATE contacts SET last_interaction_at = now(), inactive_since = NULL WHERE id = %s",
            (contact_id,),
        )
        await form_store.confirm(conn, submission["id"], submission["form_id"], contact_id)
    return len(pending)
