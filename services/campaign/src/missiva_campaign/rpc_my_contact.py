"""A recipient's own contact fields, by the my-data link consent mailed them.

``GetMyContact`` and ``CorrectMyContact`` carry no account token (the gateway's public
my-data page has none): the caller's only credential is consent's my-data link token in
the request, signed with the platform's token keyring (``TOKEN_KEYRING_FILE``, which
consent and campaign share) for the purpose ``my_data``. Its claims name the account
(``a``) and the person (``k``, the keyed hash of the address); both come only from the
verified token, never from the request, so a token opens exactly one person's contact in
one account. A token of another purpose (unsubscribe, preferences) or signed with another
key is refused like a malformed one.

What may be corrected (GDPR Art. 16) is what a person can know to be right about
themselves: first and last name, locale, time zone. Not the address: a different address
is a different subscription, with its own consent. Attributes and tags are the sender's
own segmentation and stay theirs. A correction is recorded in ``contact_rectifications``
(which fields, when; never the values; two years, and gone with the contact) and published
as ``ContactUpdated`` with ``by_data_subject`` set, through the outbox like every contact
change.
"""

from __future__ import annotations

from typing import Any

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_campaign import domain, outgoing
from missiva_campaign.store import contacts
from missiva_platform.crypto import InvalidToken, TokenKeyring
from missiva_platform.errors import FailedPrecondition, InvalidArgument, NotFound
from missiva_platform.outbox import add_event

MY_DATA_PURPOSE = "my_data"  # consent's purpose for my-data link tokens
LINK_INVALID = "this link is not valid"
LINK_EXPIRED = "this link has expired: ask for a new one from the preference centre"
CORRECTABLE = ("first_name", "last_name", "locale", "timezone")
NOT_HELD = "the sender holds no contact details for you"


class MyDataLinks:
    """Checks consent's my-data link tokens: the (account, person key) a token is about."""

    def __init__(self, keyring: TokenKeyring) -> None:
        self._keys = keyring

    def person(self, token: str, field: str = "token") -> tuple[str, str]:
        if not token:
            raise InvalidArgument.field(field, "is required")
        try:
            claims = self._keys.verify(token, MY_DATA_PURPOSE)
        except InvalidToken as exc:
            if exc.reason == "expired":
                raise FailedPrecondition(
                    LINK_EXPIRED, [("LINK_EXPIRED", field, LINK_EXPIRED)]
                ) from None
            raise InvalidArgument.field(field, LINK_INVALID) from None
        account, person = claims.get("a"), claims.get("k")
        if not isinstance(account, str) or not isinstance(person, str) or not account or not person:
            raise InvalidArgument.field(field, LINK_INVALID)
        return account, person


def fields_pb(row: dict[str, Any]) -> pb.MyContactFields:
    return pb.MyContactFields(
        first_name=row["first_name"] or "",
        last_name=row["last_name"] or "",
        locale=row["locale"] or "",
        timezone=row["timezone"] or "",
    )


def corrections(request: pb.CorrectMyContactRequest) -> dict[str, str]:
    """The validated values of the masked paths (violations name ``fields.<path>``)."""
    paths = list(dict.fromkeys(request.update_mask.paths))
    if not paths:
        raise InvalidArgument.field("update_mask", f"is required ({', '.join(CORRECTABLE)})")
    given = request.fields
    values: dict[str, str] = {}
    violations: list[tuple[str, str]] = []
    for path in paths:
        try:
            if path in ("first_name", "last_name"):
                values[path] = domain.text(
                    f"fields.{path}", getattr(given, path), limit=domain.MAX_NAME_CHARS
                )
            elif path == "locale":
                values[path] = domain.locale("fields.locale", given.locale)
            elif path == "timezone":
                values[path] = domain.timezone("fields.timezone", given.timezone)
            else:
                only = ", ".join(CORRECTABLE)
                violations.append(("update_mask", f"{path} cannot be corrected here; only {only}"))
        except InvalidArgument as exc:
            violations.extend(exc.violations)
    if violations:
        raise InvalidArgument("the correction is not valid", violations)
    return values


class MyContactRpcs:
    """``GetMyContact`` and ``CorrectMyContact`` (mixed into the servicer)."""

    core: Any
    form_parts: Any

    def _links(self) -> MyDataLinks:
        links: MyDataLinks | None = getattr(self.form_parts, "links", None)
        if links is None:
            raise FailedPrecondition("my-data links are not configured: TOKEN_KEYRING_FILE")
        return links

    async def _live(self, conn: Any, account: str, person: str, *, lock: bool) -> Any:
        rows = [r for r in await contacts.of_person(conn, person, account) if not r["deleted_at"]]
        if not rows:
            return None
        return await contacts.get(conn, account, rows[0]["id"], lock=lock)

    async def GetMyContact(self, request: pb.GetMyContactRequest, context: Any) -> Any:
        account, person = self._links().person(request.token)
        async with self.core.pool.connection() as conn:
            row = await self._live(conn, account, person, lock=False)
        if row is None:
            return pb.GetMyContactResponse(found=False)
        return pb.GetMyContactResponse(found=True, fields=fields_pb(row))

    async def CorrectMyContact(self, request: pb.CorrectMyContactRequest, context: Any) -> Any:
        account, person = self._links().person(request.token)
        values = corrections(request)
        async with self.core.pool.connection() as conn, conn.transaction():
            row = await self._live(conn, account, person, lock=True)
            if row is None:
                raise NotFound(NOT_HELD)
            changes = {k: v for k, v in values.items() if (row[k] or "") != v}
            if not changes:
                return pb.CorrectMyContactResponse(fields=fields_pb(row))
            updated = await contacts.update(conn, account, row["id"], changes)
            changed = sorted(changes)
            await conn.execute(
                "INSERT INTO contact_rectifications (account_id, contact_id, fields)"
                " VALUES (%s, %s, %s)",
                (account, row["id"], changed),
            )
            await add_event(conn, outgoing.contact_updated(updated, changed, by_data_subject=True))
        return pb.CorrectMyContactResponse(fields=fields_pb(updated), changed_fields=changed)
