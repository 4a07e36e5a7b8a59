"""Contact RPCs: create, get, update, delete to the trash, restore, list; tags.

Thin: validate (``domain``), call the store, write the event to the outbox in the same
transaction, raise typed errors. The account comes from the verified token only; another
account's contact ids are simply not found.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_campaign import domain, outgoing, segments
from missiva_campaign.core import CampaignCore, contact_pb, current_actor, new_id, now
from missiva_campaign.rpc_lists import check_lists
from missiva_campaign.store import contacts, lists
from missiva_campaign.store import segments as segment_store
from missiva_platform.auth import current_tenant
from missiva_platform.errors import AlreadyExists, InvalidArgument, NotFound
from missiva_platform.idempotency import run_once
from missiva_platform.outbox import add_event, add_events

NOT_FOUND = "contact not found"
DUPLICATE = "contact.email: the account already has a contact with this address"
# Paths of UpdateContact's mask; "attributes.<key>" sets or (absent from the request) removes
# one attribute.
UPDATE_PATHS = ("email", "first_name", "last_name", "locale", "timezone", "attributes")
OUTPUT_ONLY = {
    "tags": "use AddTags and RemoveTags",
    "list_ids": "use AddToList and RemoveFromList",
}


def _value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return _struct_dict(value.struct_value)
    if kind == "list_value":
        return [_value(item) for item in value.list_value.values]
    if kind == "null_value" or kind is None:
        return None
    return getattr(value, kind)  # number_value (NaN included: domain refuses it), string, bool


def _struct_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as plain values, without json_format (which fails on NaN before we can name
    the field)."""
    return {key: _value(value) for key, value in message.fields.items()}


def _fields(contact: pb.Contact) -> dict[str, Any]:
    """The writable fields of a contact in a request, validated."""
    return {
        "first_name": domain.text(
            "contact.first_name", contact.first_name, limit=domain.MAX_NAME_CHARS
        ),
        "last_name": domain.text(
            "contact.last_name", contact.last_name, limit=domain.MAX_NAME_CHARS
        ),
        "locale": domain.locale("contact.locale", contact.locale),
        "timezone": domain.timezone("contact.timezone", contact.timezone),
        "attributes": domain.attributes("contact.attributes", _struct_dict(contact.attributes)),
    }


def _duplicate() -> AlreadyExists:
    return AlreadyExists(DUPLICATE)


async def segment_contacts(
    core: CampaignCore, tenant: str, request: pb.ListContactsRequest, size: int
) -> pb.ListContactsResponse:
    """A saved segment's live contacts, paged by id (its tree compiled again for this call)."""
    segment_id = domain.contact_id("segment_id", request.segment_id)
    if request.list_id or request.tag or request.query or request.in_trash:
        raise InvalidArgument.field(
            "segment_id", "lists a segment alone: no list, tag, query or trash with it"
        )
    digest = domain.filter_digest("segment", segment_id)
    after = domain.decode_page_token("page_token", request.page_token, digest)
    async with core.pool.connection() as conn:
        segment = await segment_store.get(conn, tenant, segment_id)
        if segment is None:
            raise NotFound("segment_id: segment not found")
        compiled = segments.compile_tree(segment["rule_tree"], tenant)
        rows = await segment_store.contact_page(conn, compiled, after=after, limit=size + 1)
    more = len(rows) > size
    rows = rows[:size]
    token = domain.encode_page_token(rows[-1]["id"], digest) if more else ""
    return pb.ListContactsResponse(contacts=[contact_pb(r) for r in rows], next_page_token=token)


class ContactRpcs:
    """CreateContact, GetContact, UpdateContact, DeleteContact, RestoreContact, ListContacts,
    AddTags, RemoveTags, ListTags."""

    core: CampaignCore

    # -- create, read --------------------------------------------------------------------

    async def CreateContact(self, request: pb.CreateContactRequest, context: Any) -> Any:
        tenant = current_tenant()
        actor = current_actor()
        contact = request.contact
        address = domain.email_address("contact.email", contact.email)
        fields = _fields(contact)
        row = {
            "id": new_id(),
            "account_id": tenant,
            "email": address.email,
            "email_key": address.key,
            "person_key": self.core.person_key(address),
            "tags": sorted(domain.tags("contact.tags", contact.tags)),
            "source": actor.source,
            "source_detail": "",
            "actor_kind": actor.kind,
            "actor_id": actor.id,
            **fields,
        }

        list_ids = list(
            dict.fromkeys(
                domain.contact_id(f"list_ids[{i}]", v) for i, v in enumerate(request.list_ids)
            )
        )

        async def work(conn: Any) -> pb.CreateContactResponse:
            if list_ids:
                await check_lists(conn, tenant, "list_ids", list_ids)
            try:
                created = await contacts.insert(conn, row)
            except contacts.DuplicateEmail:
                raise _duplicate() from None
            if list_ids:
                await lists.add_members(conn, list_ids, [created["id"]])
                created["list_ids"] = sorted(list_ids)
            await add_event(conn, outgoing.contact_created(created, created["list_ids"]))
            return pb.CreateContactResponse(contact=contact_pb(created))

        return await run_once(
            self.core.pool,
            tenant_id=tenant,
            method="CreateContact",
            request=request,
            response_type=pb.CreateContactResponse,
            work=work,
        )

    async def GetContact(self, request: pb.GetContactRequest, context: Any) -> Any:
        tenant = current_tenant()
        contact_id = domain.contact_id("contact_id", request.contact_id)
        async with self.core.pool.connection() as conn:
            row = await contacts.get(conn, tenant, contact_id)
        if row is None:
            raise NotFound(NOT_FOUND)
        return pb.GetContactResponse(contact=contact_pb(row))

    # -- update --------------------------------------------------------------------------

    def _changes(self, request: pb.UpdateContactRequest, current: dict[str, Any]) -> dict[str, Any]:
        """The columns the mask changes, validated against the request's contact."""
        paths = list(dict.fromkeys(request.update_mask.paths))
        if not paths:
            raise InvalidArgument.field("update_mask", "is required (e.g. first_name,locale)")
        contact = request.contact
        changes: dict[str, Any] = {}
        given_attributes: dict[str, Any] | None = None
        attributes = dict(current["attributes"])
        for path in paths:
            if path in OUTPUT_ONLY:
                raise InvalidArgument.field("update_mask", f"{path} is not updated here: "
                                            f"{OUTPUT_ONLY[path]}")  # fmt: skip
            if path == "email":
                address = domain.email_address("contact.email", contact.email)
                if address.email != current["email"]:
                    changes["email"] = address.email
                    changes["email_key"] = address.key
                    changes["person_key"] = self.core.person_key(address)
            elif path in ("first_name", "last_name"):
                changes[path] = domain.text(
                    f"contact.{path}", getattr(contact, path), limit=domain.MAX_NAME_CHARS
                )
            elif path == "locale":
                changes[path] = domain.locale("contact.locale", contact.locale)
            elif path == "timezone":
                changes[path] = domain.timezone("contact.timezone", contact.timezone)
            elif path == "attributes":
                attributes = domain.attributes(
                    "contact.attributes", _struct_dict(contact.attributes)
                )
            elif path.startswith("attributes."):
                key = domain.attribute_key(f"update_mask.{path}", path.split(".", 1)[1])
                if given_attributes is None:
                    given_attributes = _struct_dict(contact.attributes)
                if key in given_attributes:
                    attributes.update(
                        domain.attributes("contact.attributes", {key: given_attributes[key]})
                    )
                else:
                    attributes.pop(key, None)
            else:
                raise InvalidArgument.field(
                    "update_mask",
                    f"unknown path {path!r}; updatable: {', '.join(UPDATE_PATHS)},"
                    " attributes.<key>",
                )
        if attributes != current["attributes"]:
            domain.check_attributes_size("contact.attributes", attributes)
            changes["attributes"] = attributes
        return {k: v for k, v in changes.items() if v != current.get(k)}

    async def UpdateContact(self, request: pb.UpdateContactRequest, context: Any) -> Any:
        tenant = current_tenant()
        contact_id = domain.contact_id("contact.contact_id", request.contact.contact_id)
        async with self.core.pool.connection() as conn, conn.transaction():
            current = await contacts.get(conn, tenant, contact_id, lock=True)
            if current is None:
                raise NotFound(NOT_FOUND)
            changes = self._changes(request, current)
            if not changes:
                return pb.UpdateContactResponse(contact=contact_pb(current))
            try:
                updated = await contacts.update(conn, tenant, contact_id, changes)
            except contacts.DuplicateEmail:
                raise _duplicate() from None
            changed = sorted({"email" if k in ("email_key", "person_key") else k for k in changes})
            if "attributes" in changes:
                before, after = current["attributes"], changes["attributes"]
                keys = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
                changed = sorted({*changed, *(f"attributes.{k}" for k in keys)} - {"attributes"})
            previous = current["person_key"] if "person_key" in changes else ""
            await add_event(conn, outgoing.contact_updated(updated, changed, previous))
        return pb.UpdateContactResponse(contact=contact_pb(updated))

    # -- trash ---------------------------------------------------------------------------

    async def DeleteContact(self, request: pb.DeleteContactRequest, context: Any) -> Any:
        tenant = current_tenant()
        contact_id = domain.contact_id("contact_id", request.contact_id)
        async with self.core.pool.connection() as conn, conn.transaction():
            row = await contacts.trash(conn, tenant, contact_id)
            if row is None:
                raise NotFound(NOT_FOUND)
            await add_event(conn, outgoing.contact_deleted(row))
        return pb.DeleteContactResponse()

    async def RestoreContact(self, request: pb.RestoreContactRequest, context: Any) -> Any:
        tenant = current_tenant()
        contact_id = domain.contact_id("contact_id", request.contact_id)
        async with self.core.pool.connection() as conn, conn.transaction():
            try:
                row = await contacts.restore(conn, tenant, contact_id, now() - domain.TRASH_WINDOW)
            except contacts.DuplicateEmail:
                raise AlreadyExists(
                    "another live contact of the account has this address; delete or change"
                    " it first"
                ) from None
            if row is None:
                raise NotFound(
                    f"no contact with this id in the trash (restorable for {domain.TRASH_DAYS}"
                    " days after deletion)"
                )
            await add_event(conn, outgoing.contact_updated(row, ["deleted_at"]))
        return pb.RestoreContactResponse(contact=contact_pb(row))

    # -- listing -------------------------------------------------------------------------

    async def ListContacts(self, request: pb.ListContactsRequest, context: Any) -> Any:
        tenant = current_tenant()
        size = domain.page_size("page_size", request.page_size)
        if request.segment_id:
            return await segment_contacts(self.core, tenant, request, size)
        list_id = domain.contact_id("list_id", request.list_id) if request.list_id else ""
        tag = domain.tag("tag", request.tag) if request.tag else ""
        query = domain.text("query", request.query, limit=domain.MAX_QUERY_CHARS).lower()
        digest = domain.filter_digest(tag, query, request.in_trash, list_id)
        after = domain.decode_page_token("page_token", request.page_token, digest)
        since = now() - domain.TRASH_WINDOW if request.in_trash else None
        async with self.core.pool.connection() as conn:
            if list_id:
                await check_lists(conn, tenant, "list_id", [list_id])
            rows = await contacts.page(
                conn,
                tenant,
                after=after,
                limit=size + 1,
                tag=tag,
                list_id=list_id,
                prefix=domain.like_prefix(query) if query else "",
                trash_since=since,
            )
        more = len(rows) > size
        rows = rows[:size]
        token = domain.encode_page_token(rows[-1]["id"], digest) if more else ""
        return pb.ListContactsResponse(
            contacts=[contact_pb(r) for r in rows], next_page_token=token
        )

    # -- tags ----------------------------------------------------------------------------

    async def _retag(self, request: Any, add: bool) -> list[dict[str, Any]]:
        tenant = current_tenant()
        ids = domain.contact_ids("contact_ids", request.contact_ids)
        names = domain.tags("tags", request.tags)
        if not names:
            raise InvalidArgument.field("tags", "is required")
        async with self.core.pool.connection() as conn, conn.transaction():
            missing = await contacts.missing_ids(conn, tenant, ids)
            if missing:
                raise NotFound(f"contact not found: {missing[0]}")
            change = contacts.add_tags if add else contacts.remove_tags
            changed = await change(conn, tenant, ids, names)
            await add_events(conn, [outgoing.contact_updated(r, ["tags"]) for r in changed])
        return changed

    async def AddTags(self, request: pb.AddTagsRequest, context: Any) -> Any:
        return pb.AddTagsResponse(updated=len(await self._retag(request, add=True)))

    async def RemoveTags(self, request: pb.RemoveTagsRequest, context: Any) -> Any:
        return pb.RemoveTagsResponse(updated=len(await self._retag(request, add=False)))

    async def ListTags(self, request: pb.ListTagsRequest, context: Any) -> Any:
        tenant = current_tenant()
        size = domain.page_size("page_size", request.page_size)
        digest = domain.filter_digest("tags")
        after = domain.decode_page_token("page_token", request.page_token, digest, ids=False)
        async with self.core.pool.connection() as conn:
            rows = await contacts.tag_counts(conn, tenant, after=after, limit=size + 1)
        more = len(rows) > size
        rows = rows[:size]
        token = domain.encode_page_token(rows[-1]["name"], digest) if more else ""
        return pb.ListTagsResponse(
            tags=[pb.Tag(name=r["name"], contact_count=r["contact_count"]) for r in rows],
            next_page_token=token,
        )
