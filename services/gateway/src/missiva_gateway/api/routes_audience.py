"""Contacts, tags, lists, segments and consent state: campaign's and consent's RPCs."""

from __future__ import annotations

import json
from typing import Annotated

from google.protobuf import field_mask_pb2
from litestar import Controller, delete, get, patch, post, put
from litestar.params import JSONBody, PathParameter, QueryParameter

from missiva.campaign.v1 import campaign_service_pb2 as cpb
from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as conpb
from missiva_gateway.api import models_audience as m
from missiva_gateway.api.convert import present
from missiva_gateway.api.routing import (
    PROBLEMS,
    CtxDep,
    IdempotencyKey,
    InTrash,
    Limit,
    PageCursor,
    next_cursor,
    page,
)

CONTACT_FIELDS = {"contact.": ""}
PathId = Annotated[str, PathParameter(min_length=1, max_length=64, description="Identifier.")]
Query = Annotated[str | None, QueryParameter(max_length=200, description="Filter.")]


class ContactsController(Controller):
    """Contacts (scopes `contacts:read`, `contacts:write`)."""

    path = "/contacts"
    tags = ["contacts"]

    @post("/", responses=PROBLEMS, summary="Create a contact")
    async def create_contact(
        self,
        ctx: CtxDep,
        data: JSONBody[m.ContactCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> m.Contact:
        """Create a contact (campaign's `CreateContact`), optionally on lists."""
        reply = await ctx.call(
            "campaign",
            "CreateContact",
            cpb.CreateContactRequest(
                contact=data.to_pb(),
                list_ids=data.list_ids,
                idempotency_key=ctx.idempotency(idempotency_key),
            ),
            fields=CONTACT_FIELDS,
        )
        return m.Contact.from_pb(reply.contact)

    @get("/", responses=PROBLEMS, summary="List contacts")
    async def list_contacts(
        self,
        ctx: CtxDep,
        limit: Limit = 50,
        cursor: PageCursor = None,
        list_id: Query = None,
        tag: Query = None,
        segment_id: Query = None,
        search: Annotated[
            str | None, QueryParameter(max_length=200, description="Address or name prefix.")
        ] = None,
        in_trash: Annotated[
            bool, QueryParameter(description="List the trash instead of live contacts.")
        ] = False,
    ) -> m.ContactPage:
        """A page of contacts, optionally only those on a list, with a tag or in a segment."""
        reply = await ctx.call(
            "campaign",
            "ListContacts",
            cpb.ListContactsRequest(
                **page(limit, cursor),
                list_id=list_id or "",
                tag=tag or "",
                segment_id=segment_id or "",
                query=search or "",
                in_trash=in_trash,
            ),
        )
        return m.ContactPage(
            data=[m.Contact.from_pb(c) for c in reply.contacts], next_cursor=next_cursor(reply)
        )

    @get("/{contact_id:str}", responses=PROBLEMS, summary="Get a contact")
    async def get_contact(self, ctx: CtxDep, contact_id: PathId) -> m.Contact:
        """One contact with its tags and lists."""
        reply = await ctx.call(
            "campaign", "GetContact", cpb.GetContactRequest(contact_id=contact_id)
        )
        return m.Contact.from_pb(reply.contact)

    @patch("/{contact_id:str}", responses=PROBLEMS, summary="Update a contact")
    async def update_contact(
        self, ctx: CtxDep, contact_id: PathId, data: JSONBody[m.ContactPatch]
    ) -> m.Contact:
        """Change the fields sent; the others stay (campaign's `UpdateContact`)."""
        reply = await ctx.call(
            "campaign",
            "UpdateContact",
            cpb.UpdateContactRequest(
                contact=data.to_pb(contact_id),
                update_mask=field_mask_pb2.FieldMask(paths=present(data)),
            ),
            fields=CONTACT_FIELDS,
        )
        return m.Contact.from_pb(reply.contact)

    @delete("/{contact_id:str}", responses=PROBLEMS, summary="Delete a contact")
    async def delete_contact(self, ctx: CtxDep, contact_id: PathId) -> None:
        """Move a contact to the trash (restorable for a while, then erased)."""
        await ctx.call("campaign", "DeleteContact", cpb.DeleteContactRequest(contact_id=contact_id))

    @post("/{contact_id:str}/restore", status_code=200, responses=PROBLEMS, summary="Restore")
    async def restore_contact(self, ctx: CtxDep, contact_id: PathId) -> m.Contact:
        """Bring a contact back from the trash (restoring twice changes nothing)."""
        reply = await ctx.call(
            "campaign", "RestoreContact", cpb.RestoreContactRequest(contact_id=contact_id)
        )
        return m.Contact.from_pb(reply.contact)

    @post("/{contact_id:str}/tags", status_code=200, responses=PROBLEMS, summary="Add tags")
    async def add_tags(self, ctx: CtxDep, contact_id: PathId, data: JSONBody[m.Tags]) -> m.Updated:
        """Add tags to a contact. Idempotent by nature: adding a tag twice changes nothing."""
        reply = await ctx.call(
            "campaign",
            "AddTags",
            cpb.AddTagsRequest(contact_ids=[contact_id], tags=data.tags),
            fields={"contact_ids": "contact_id"},
        )
        return m.Updated(updated=reply.updated)

    @delete("/{contact_id:str}/tags/{tag:str}", status_code=200, responses=PROBLEMS,
            summary="Remove a tag")  # fmt: skip
    async def remove_tag(
        self,
        ctx: CtxDep,
        contact_id: PathId,
        tag: Annotated[str, PathParameter(max_length=64)],
    ) -> m.Updated:
        """Remove one tag from a contact."""
        reply = await ctx.call(
            "campaign",
            "RemoveTags",
            cpb.RemoveTagsRequest(contact_ids=[contact_id], tags=[tag]),
            fields={"contact_ids": "contact_id", "tags": "tag"},
        )
        return m.Updated(updated=reply.updated)

    @put("/{contact_id:str}/lists/{list_id:str}", responses=PROBLEMS, summary="Put on a list")
    async def put_on_list(self, ctx: CtxDep, contact_id: PathId, list_id: PathId) -> m.Added:
        """Put a contact on a list (a PUT: doing it twice changes nothing)."""
        reply = await ctx.call(
            "campaign",
            "AddToList",
            cpb.AddToListRequest(list_id=list_id, contact_ids=[contact_id]),
            fields={"contact_ids": "contact_id"},
        )
        return m.Added(added=reply.added)

    @delete("/{contact_id:str}/lists/{list_id:str}", status_code=200, responses=PROBLEMS,
            summary="Take off a list")  # fmt: skip
    async def take_off_list(self, ctx: CtxDep, contact_id: PathId, list_id: PathId) -> m.Removed:
        """Take a contact off a list."""
        reply = await ctx.call(
            "campaign",
            "RemoveFromList",
            cpb.RemoveFromListRequest(list_id=list_id, contact_ids=[contact_id]),
            fields={"contact_ids": "contact_id"},
        )
        return m.Removed(removed=reply.removed)

    @get("/{contact_id:str}/consent", responses=PROBLEMS, summary="Consent state")
    async def consent_state(self, ctx: CtxDep, contact_id: PathId) -> m.ContactConsent:
        """The contact's consent per purpose, read-only (consent's `GetConsentState`;
        scopes `contacts:read` and `consent:read`). Consent changes only through the
        person's own actions and their recorded proofs."""
        contact = await ctx.call(
            "campaign", "GetContact", cpb.GetContactRequest(contact_id=contact_id)
        )
        reply = await ctx.call(
            "consent",
            "GetConsentState",
            conpb.GetConsentStateRequest(
                person=types_pb2.PersonRef(person_key=contact.contact.person_key)
            ),
        )
        return m.ContactConsent.from_pb(contact_id, reply)


class TagsController(Controller):
    """Tags in use (scope `contacts:read`)."""

    path = "/tags"
    tags = ["contacts"]

    @get("/", responses=PROBLEMS, summary="List tags")
    async def list_tags(
        self, ctx: CtxDep, limit: Limit = 50, cursor: PageCursor = None
    ) -> m.TagPage:
        """The account's tags, by name, with how many contacts carry each."""
        reply = await ctx.call("campaign", "ListTags", cpb.ListTagsRequest(**page(limit, cursor)))
        return m.TagPage(
            data=[m.Tag(name=t.name, contact_count=t.contact_count) for t in reply.tags],
            next_cursor=next_cursor(reply),
        )


class ListsController(Controller):
    """Contact lists (scopes `lists:read`, `lists:write`)."""

    path = "/lists"
    tags = ["lists"]

    @post("/", responses=PROBLEMS, summary="Create a list")
    async def create_list(
        self,
        ctx: CtxDep,
        data: JSONBody[m.ListCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> m.ContactList:
        """A new list, tied to the consent purpose its subscribers consent to."""
        reply = await ctx.call(
            "campaign",
            "CreateList",
            cpb.CreateListRequest(
                list=data.to_pb(), idempotency_key=ctx.idempotency(idempotency_key)
            ),
            fields={"list.": ""},
        )
        return m.ContactList.from_pb(reply.list)

    @get("/", responses=PROBLEMS, summary="List lists")
    async def list_lists(
        self, ctx: CtxDep, limit: Limit = 50, cursor: PageCursor = None, in_trash: InTrash = False
    ) -> m.ListPage:
        """A page of the account's lists."""
        reply = await ctx.call(
            "campaign", "ListLists", cpb.ListListsRequest(**page(limit, cursor), in_trash=in_trash)
        )
        return m.ListPage(
            data=[m.ContactList.from_pb(x) for x in reply.lists], next_cursor=next_cursor(reply)
        )

    @delete("/{list_id:str}", status_code=200, responses=PROBLEMS, summary="Delete a list")
    async def delete_list(self, ctx: CtxDep, list_id: PathId) -> m.ContactList:
        """Move a list to the trash with its memberships (refused while a scheduled or sending
        campaign sends to it or leaves it out)."""
        reply = await ctx.call("campaign", "DeleteList", cpb.DeleteListRequest(list_id=list_id))
        return m.ContactList.from_pb(reply.list)

    @post("/{list_id:str}/restore", status_code=200, responses=PROBLEMS, summary="Restore")
    async def restore_list(self, ctx: CtxDep, list_id: PathId) -> m.ContactList:
        """Bring a list back from the trash (refused if a live list took its name)."""
        reply = await ctx.call("campaign", "RestoreList", cpb.RestoreListRequest(list_id=list_id))
        return m.ContactList.from_pb(reply.list)

    @post("/{list_id:str}/members", status_code=200, responses=PROBLEMS, summary="Add members")
    async def add_members(
        self,
        ctx: CtxDep,
        list_id: PathId,
        data: JSONBody[m.Members],
        idempotency_key: IdempotencyKey = None,
    ) -> m.Added:
        """Put up to 1000 contacts on the list (`AddToList`; contacts already there are not
        counted, so a retry changes nothing)."""
        reply = await ctx.call(
            "campaign",
            "AddToList",
            cpb.AddToListRequest(
                list_id=list_id,
                contact_ids=data.contact_ids,
                idempotency_key=ctx.idempotency(idempotency_key),
            ),
        )
        return m.Added(added=reply.added)


class SegmentsController(Controller):
    """Segments: saved rule trees (scopes `segments:read`, `segments:write`)."""

    path = "/segments"
    tags = ["segments"]

    @post("/", responses=PROBLEMS, summary="Create a segment")
    async def create_segment(
        self,
        ctx: CtxDep,
        data: JSONBody[m.SegmentCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> m.Segment:
        """Save a rule tree under a name (campaign compiles and checks it)."""
        reply = await ctx.call(
            "campaign",
            "CreateSegment",
            cpb.CreateSegmentRequest(
                segment=cpb.Segment(name=data.name, rule_tree_json=json.dumps(data.rules)),
                idempotency_key=ctx.idempotency(idempotency_key),
            ),
            fields={"segment.rule_tree_json": "rules", "segment.": ""},
        )
        return m.Segment.from_pb(reply.segment)

    @get("/", responses=PROBLEMS, summary="List segments")
    async def list_segments(
        self,
        ctx: CtxDep,
        limit: Limit = 50,
        cursor: PageCursor = None,
        in_trash: InTrash = False,
    ) -> m.SegmentPage:
        """A page of the account's segments."""
        reply = await ctx.call(
            "campaign",
            "ListSegments",
            cpb.ListSegmentsRequest(**page(limit, cursor), in_trash=in_trash),
        )
        return m.SegmentPage(
            data=[m.Segment.from_pb(s) for s in reply.segments], next_cursor=next_cursor(reply)
        )

    @get("/fields", responses=PROBLEMS, summary="Fields and operators of rules")
    async def segment_fields(self, ctx: CtxDep) -> m.SegmentFields:
        """The fields, operators and rules a rule tree may use (campaign's whitelist)."""
        reply = await ctx.call("campaign", "ListSegmentFields", cpb.ListSegmentFieldsRequest())
        return m.SegmentFields.from_pb(reply)

    @get("/{segment_id:str}", responses=PROBLEMS, summary="Get a segment")
    async def get_segment(self, ctx: CtxDep, segment_id: PathId) -> m.Segment:
        """A live segment."""
        reply = await ctx.call(
            "campaign", "GetSegment", cpb.GetSegmentRequest(segment_id=segment_id)
        )
        return m.Segment.from_pb(reply.segment)

    @patch("/{segment_id:str}", responses=PROBLEMS, summary="Update a segment")
    async def update_segment(
        self, ctx: CtxDep, segment_id: PathId, data: JSONBody[m.SegmentPatch]
    ) -> m.Segment:
        """Change the name and/or the rule tree sent (campaign checks the tree again)."""
        reply = await ctx.call(
            "campaign",
            "UpdateSegment",
            cpb.UpdateSegmentRequest(
                segment=data.to_pb(segment_id),
                update_mask=field_mask_pb2.FieldMask(paths=data.mask()),
            ),
            fields={"segment.rule_tree_json": "rules", "segment.": ""},
        )
        return m.Segment.from_pb(reply.segment)

    @delete("/{segment_id:str}", status_code=200, responses=PROBLEMS, summary="Delete")
    async def delete_segment(self, ctx: CtxDep, segment_id: PathId) -> m.Segment:
        """Move a segment to the trash."""
        reply = await ctx.call(
            "campaign", "DeleteSegment", cpb.DeleteSegmentRequest(segment_id=segment_id)
        )
        return m.Segment.from_pb(reply.segment)

    @post("/{segment_id:str}/restore", status_code=200, responses=PROBLEMS, summary="Restore")
    async def restore_segment(self, ctx: CtxDep, segment_id: PathId) -> m.Segment:
        """Bring a segment back from the trash."""
        reply = await ctx.call(
            "campaign", "RestoreSegment", cpb.RestoreSegmentRequest(segment_id=segment_id)
        )
        return m.Segment.from_pb(reply.segment)

    @post("/preview", status_code=200, responses=PROBLEMS, summary="Count a rule tree")
    async def preview_segment(
        self, ctx: CtxDep, data: JSONBody[m.SegmentPreviewRequest]
    ) -> m.SegmentPreview:
        """How many contacts a rule tree selects now, with a sample (scopes
        `segments:read`, `contacts:read`). Reads only, so no idempotency key."""
        reply = await ctx.call(
            "campaign",
            "PreviewSegment",
            cpb.PreviewSegmentRequest(
                rule_tree_json=json.dumps(data.rules), sample_size=data.sample_size
            ),
            fields={"rule_tree_json": "rules"},
        )
        return m.SegmentPreview(
            matching_count=reply.matching_count,
            sample=[m.Contact.from_pb(c) for c in reply.sample],
        )
