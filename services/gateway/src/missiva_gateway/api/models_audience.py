"""JSON models of the audience: contacts, lists, tags, segments, imports, consent state.

Each maps one-to-one onto campaign's (or consent's) protobuf message; ``from_pb`` converts
a reply, ``to_pb`` a request body. Output-only fields are never read from a body.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from missiva.campaign.v1 import campaign_service_pb2 as cpb
from missiva.consent.v1 import consent_service_pb2 as conpb
from missiva_gateway.api.convert import doc, enum_out, struct_in, struct_out, ts

Cursor = Annotated[
    str | None,
    doc("Opaque cursor of the next page; pass it as `cursor`. `null` on the last page."),
]
Id = Annotated[str, doc("Identifier.", min_length=1, max_length=64)]
TagName = Annotated[str, doc("A tag.", min_length=1, max_length=64)]

ContactSource = Literal["unspecified", "form", "import", "api", "manual"]


class Contact(msgspec.Struct, kw_only=True):
    """A recipient of the account."""

    contact_id: Annotated[str, doc("Contact id.")]
    email: Annotated[str, doc("Email address.")]
    first_name: Annotated[str, doc("First name.")]
    last_name: Annotated[str, doc("Last name.")]
    locale: Annotated[str, doc("Preferred locale (BCP 47), e.g. `it-IT`.")]
    timezone: Annotated[str, doc("IANA time zone, e.g. `Europe/Rome`.")]
    attributes: Annotated[dict[str, Any], doc("Custom attributes (JSON values).")]
    tags: Annotated[list[str], doc("Tags the contact carries.")]
    list_ids: Annotated[list[str], doc("Lists the contact is on.")]
    source: Annotated[ContactSource, doc("How the contact came to be.")]
    suppressed: Annotated[bool, doc("Whether the account's suppression list holds it.")]
    created_at: Annotated[datetime | None, doc("Creation time.")]
    updated_at: Annotated[datetime | None, doc("Last update.")]
    last_interaction_at: Annotated[
        datetime | None, doc("Last open, click or sign-up (drives retention).")
    ]
    deleted_at: Annotated[datetime | None, doc("When it went to the trash; null if live.")]
    restorable_until: Annotated[
        datetime | None, doc("Until when a contact in the trash can be restored.")
    ]

    @classmethod
    def from_pb(cls, c: cpb.Contact) -> Contact:
        return cls(
            contact_id=c.contact_id,
            email=c.email,
            first_name=c.first_name,
            last_name=c.last_name,
            locale=c.locale,
            timezone=c.timezone,
            attributes=struct_out(c, "attributes"),
            tags=list(c.tags),
            list_ids=list(c.list_ids),
            source=enum_out(cpb.ContactSource, c.source, "CONTACT_SOURCE_"),  # type: ignore[arg-type]
            suppressed=c.suppressed,
            created_at=ts(c, "created_at"),
            updated_at=ts(c, "updated_at"),
            last_interaction_at=ts(c, "last_interaction_at"),
            deleted_at=ts(c, "deleted_at"),
            restorable_until=ts(c, "restorable_until"),
        )


class ContactCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new contact."""

    email: Annotated[str, doc("Email address.", max_length=320)]
    first_name: Annotated[str, doc("First name.", max_length=200)] = ""
    last_name: Annotated[str, doc("Last name.", max_length=200)] = ""
    locale: Annotated[str, doc("Preferred locale (BCP 47).", max_length=35)] = ""
    timezone: Annotated[str, doc("IANA time zone.", max_length=64)] = ""
    attributes: Annotated[
        dict[str, Any], doc("Custom attributes (JSON values), usable in segments and merges.")
    ] = msgspec.field(default_factory=dict)
    list_ids: Annotated[list[Id], doc("Lists to put the new contact on.", max_length=100)] = (
        msgspec.field(default_factory=list)
    )

    def to_pb(self) -> cpb.Contact:
        return cpb.Contact(
            email=self.email,
            first_name=self.first_name,
            last_name=self.last_name,
            locale=self.locale,
            timezone=self.timezone,
            attributes=struct_in(self.attributes),
        )


class ContactPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields of a contact to change; fields left out stay as they are."""

    email: Annotated[str, doc("Email address.", max_length=320)] | msgspec.UnsetType = msgspec.UNSET
    first_name: Annotated[str, doc("First name.", max_length=200)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    last_name: Annotated[str, doc("Last name.", max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    locale: Annotated[str, doc("Locale (BCP 47).", max_length=35)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    timezone: Annotated[str, doc("IANA time zone.", max_length=64)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    attributes: (
        Annotated[dict[str, Any], doc("Custom attributes; replaces the whole object.")]
        | msgspec.UnsetType
    ) = msgspec.UNSET

    def to_pb(self, contact_id: str) -> cpb.Contact:
        values: dict[str, Any] = {"contact_id": contact_id}
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if value is msgspec.UNSET:
                continue
            values[name] = struct_in(value) if name == "attributes" else value
        return cpb.Contact(**values)


class ContactPage(msgspec.Struct, kw_only=True):
    """A page of contacts."""

    data: Annotated[list[Contact], doc("Contacts on this page.")]
    next_cursor: Cursor = None


class Tags(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Tags to add to a contact."""

    tags: Annotated[list[TagName], doc("Tags to add.", min_length=1, max_length=100)]


class Updated(msgspec.Struct, kw_only=True):
    """How many contacts changed."""

    updated: Annotated[int, doc("Contacts that changed (unchanged ones are not counted).")]


class Tag(msgspec.Struct, kw_only=True):
    """A tag and how many contacts carry it."""

    name: Annotated[str, doc("Tag name.")]
    contact_count: Annotated[int, doc("Contacts carrying it.")]


class TagPage(msgspec.Struct, kw_only=True):
    """A page of tags, by name."""

    data: Annotated[list[Tag], doc("Tags on this page.")]
    next_cursor: Cursor = None


class ContactList(msgspec.Struct, kw_only=True):
    """A named list of contacts, tied to the consent purpose it sends under."""

    list_id: Annotated[str, doc("List id.")]
    name: Annotated[str, doc("Name.")]
    description: Annotated[str, doc("Description.")]
    purpose_id: Annotated[str, doc("Consent purpose its subscribers consent to.")]
    member_count: Annotated[int, doc("Contacts on the list.")]
    created_at: Annotated[datetime | None, doc("Creation time.")]
    deleted_at: Annotated[datetime | None, doc("When it went to the trash; null if live.")]
    restorable_until: Annotated[
        datetime | None, doc("Until when it can be restored from the trash.")
    ]

    @classmethod
    def from_pb(cls, m: cpb.ContactList) -> ContactList:
        return cls(
            list_id=m.list_id,
            name=m.name,
            description=m.description,
            purpose_id=m.purpose_id,
            member_count=m.member_count,
            created_at=ts(m, "created_at"),
            deleted_at=ts(m, "deleted_at"),
            restorable_until=ts(m, "restorable_until"),
        )


class ListCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new list."""

    name: Annotated[str, doc("Name, unique in the account.", max_length=200)]
    purpose_id: Annotated[str, doc("Consent purpose subscribers of the list consent to.")]
    description: Annotated[str, doc("Description.", max_length=2000)] = ""

    def to_pb(self) -> cpb.ContactList:
        return cpb.ContactList(
            name=self.name, purpose_id=self.purpose_id, description=self.description
        )


class ListPage(msgspec.Struct, kw_only=True):
    """A page of lists."""

    data: Annotated[list[ContactList], doc("Lists on this page.")]
    next_cursor: Cursor = None


class Members(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Contacts to add to a list."""

    contact_ids: Annotated[list[Id], doc("Contacts to add.", min_length=1, max_length=1000)]


class Added(msgspec.Struct, kw_only=True):
    """How many contacts were added."""

    added: Annotated[int, doc("Contacts newly added (ones already there are not counted).")]


class Removed(msgspec.Struct, kw_only=True):
    """How many contacts were removed."""

    removed: Annotated[int, doc("Contacts removed.")]


RuleTree = Annotated[
    dict[str, Any],
    doc(
        'Rule tree, e.g. `{"all": [{"field": "attributes.city", "op": "eq", "value": "Rome"}]}`'
        " (campaign's segment rules: `all`/`any`/`not`, whitelisted fields and operators)."
    ),
]


class Segment(msgspec.Struct, kw_only=True):
    """A saved rule tree that selects contacts."""

    segment_id: Annotated[str, doc("Segment id.")]
    name: Annotated[str, doc("Name.")]
    rules: RuleTree
    created_at: Annotated[datetime | None, doc("Creation time.")]
    updated_at: Annotated[datetime | None, doc("Last update.")]
    deleted_at: Annotated[datetime | None, doc("When it went to the trash; null if live.")]
    restorable_until: Annotated[
        datetime | None, doc("Until when it can be restored from the trash.")
    ]

    @classmethod
    def from_pb(cls, s: cpb.Segment) -> Segment:
        try:
            rules = json.loads(s.rule_tree_json) if s.rule_tree_json else {}
        except ValueError:
            rules = {}
        return cls(
            segment_id=s.segment_id,
            name=s.name,
            rules=rules if isinstance(rules, dict) else {},
            created_at=ts(s, "created_at"),
            updated_at=ts(s, "updated_at"),
            deleted_at=ts(s, "deleted_at"),
            restorable_until=ts(s, "restorable_until"),
        )


class SegmentCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new segment."""

    name: Annotated[str, doc("Name.", max_length=200)]
    rules: RuleTree


class SegmentPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields of a segment to change; fields left out stay as they are."""

    name: Annotated[str, doc("Name.", max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    rules: RuleTree | msgspec.UnsetType = msgspec.UNSET

    def mask(self) -> list[str]:
        """campaign's update mask for the fields sent."""
        paths = {"name": "name", "rules": "rule_tree_json"}
        return [paths[n] for n in self.__struct_fields__ if getattr(self, n) is not msgspec.UNSET]

    def to_pb(self, segment_id: str) -> cpb.Segment:
        segment = cpb.Segment(segment_id=segment_id)
        if not isinstance(self.name, msgspec.UnsetType):
            segment.name = self.name
        if not isinstance(self.rules, msgspec.UnsetType):
            segment.rule_tree_json = json.dumps(self.rules)
        return segment


class SegmentField(msgspec.Struct, kw_only=True):
    """A contact field a rule may compare."""

    name: Annotated[str, doc("Name in a rule, e.g. `first_name`; `attributes.<key>` for any.")]
    kind: Annotated[str, doc("`text`, `time` (ISO 8601) or `any` (an attribute's value).")]
    operators: Annotated[list[str], doc("The operators it takes.")]


class SegmentOperator(msgspec.Struct, kw_only=True):
    """An operator of a field rule."""

    name: Annotated[str, doc("Canonical name, e.g. `equals`.")]
    aliases: Annotated[list[str], doc("Other names accepted, e.g. `eq`.")]
    no_value: Annotated[bool, doc("Takes no value (`exists`).")]
    list_value: Annotated[bool, doc("Takes a list of values (`in`).")]


class SegmentFields(msgspec.Struct, kw_only=True):
    """What a rule tree may use: campaign's segment compiler's whitelist."""

    fields: Annotated[list[SegmentField], doc("Contact fields, then `attributes.<key>`.")]
    operators: Annotated[list[SegmentOperator], doc("Operators of field rules.")]
    rules: Annotated[list[str], doc("Other node kinds: all, any, not, has_tag, in_list, ...")]
    consent_states: Annotated[list[str], doc("States a `consent` rule may ask for.")]

    @classmethod
    def from_pb(cls, r: cpb.ListSegmentFieldsResponse) -> SegmentFields:
        return cls(
            fields=[
                SegmentField(name=f.name, kind=f.kind, operators=list(f.operators))
                for f in r.fields
            ],
            operators=[
                SegmentOperator(
                    name=o.name,
                    aliases=list(o.aliases),
                    no_value=o.no_value,
                    list_value=o.list_value,
                )
                for o in r.operators
            ],
            rules=list(r.rules),
            consent_states=list(r.consent_states),
        )


class SegmentPage(msgspec.Struct, kw_only=True):
    """A page of segments."""

    data: Annotated[list[Segment], doc("Segments on this page.")]
    next_cursor: Cursor = None


class SegmentPreviewRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A rule tree to count (saved or not)."""

    rules: RuleTree
    sample_size: Annotated[int, doc("Contacts to return as a sample.", ge=0, le=50)] = 0


class SegmentPreview(msgspec.Struct, kw_only=True):
    """How many contacts a rule tree selects now, and a few of them."""

    matching_count: Annotated[int, doc("Contacts matching.")]
    sample: Annotated[list[Contact], doc("A sample of them.")]


ImportStatus = Literal["unspecified", "running", "completed", "cancelled", "interrupted"]


class ContactImport(msgspec.Struct, kw_only=True):
    """An import's state and progress."""

    import_id: Annotated[str, doc("Import id.")]
    status: Annotated[ImportStatus, doc("State; an interrupted import can be resumed.")]
    rows_read: Annotated[int, doc("Data rows read (merged or rejected) so far.")]
    total_rows: Annotated[int, doc("Rows the client said the file holds; 0 when unknown.")]
    good: Annotated[int, doc("Rows accepted (created, updated or skipped as existing).")]
    bad: Annotated[int, doc("Rows rejected (see the report).")]
    created: Annotated[int, doc("Contacts created.")]
    updated: Annotated[int, doc("Contacts updated.")]
    skipped: Annotated[int, doc("Rows skipped (existing contacts, update off).")]
    consent_mode: Annotated[str, doc("`proof` (declared proof) or `double_opt_in`.")]
    progress: Annotated[float, doc("rows_read / total_rows, 0-1; 0 when the total is unknown.")]
    created_at: Annotated[datetime | None, doc("When it started.")]
    updated_at: Annotated[datetime | None, doc("Last progress.")]
    finished_at: Annotated[datetime | None, doc("When it ended.")]

    @classmethod
    def from_pb(cls, i: cpb.ContactImport) -> ContactImport:
        progress = min(1.0, i.rows_read / i.total_rows) if i.total_rows else 0.0
        return cls(
            import_id=i.import_id,
            status=enum_out(cpb.ImportStatus, i.status, "IMPORT_STATUS_"),  # type: ignore[arg-type]
            rows_read=i.rows_read,
            total_rows=i.total_rows,
            good=i.good,
            bad=i.bad,
            created=i.created,
            updated=i.updated,
            skipped=i.skipped,
            consent_mode=i.consent_mode,
            progress=progress,
            created_at=ts(i, "created_at"),
            updated_at=ts(i, "updated_at"),
            finished_at=ts(i, "finished_at"),
        )


class RowError(msgspec.Struct, kw_only=True):
    """A rejected row."""

    row_number: Annotated[int, doc("Row number in the file (the header is row 1).")]
    field: Annotated[str, doc("Field at fault, if any.")]
    message: Annotated[str, doc("What was wrong.")]


class ImportResult(msgspec.Struct, kw_only=True):
    """The outcome of an uploaded file."""

    import_id: Annotated[str, doc("Import id (GET /imports/{import_id} for its progress).")]
    received: Annotated[int, doc("Rows received.")]
    created: Annotated[int, doc("Contacts created.")]
    updated: Annotated[int, doc("Contacts updated.")]
    skipped: Annotated[int, doc("Rows skipped (existing contacts, suppressed addresses).")]
    rejected: Annotated[int, doc("Rows rejected.")]
    errors: Annotated[list[RowError], doc("The first rejected rows (capped); see the report.")]
    import_: Annotated[ContactImport | None, doc("The import's state at the end.")] = msgspec.field(
        default=None, name="import"
    )

    @classmethod
    def from_pb(cls, r: cpb.ImportContactsResponse) -> ImportResult:
        return cls(
            import_id=r.import_id,
            received=r.received,
            created=r.created,
            updated=r.updated,
            skipped=r.skipped,
            rejected=r.rejected,
            errors=[RowError(row_number=e.row_number, field=e.field, message=e.message)
                    for e in r.errors],
            import_=ContactImport.from_pb(getattr(r, "import")) if r.HasField("import") else None,
        )  # fmt: skip


ConsentStatus = Literal[
    "unspecified", "not_recorded", "pending", "granted", "withdrawn", "objected", "restricted"
]


class PurposeConsent(msgspec.Struct, kw_only=True):
    """A contact's consent for one purpose."""

    purpose_id: Annotated[str, doc("The purpose.")]
    purpose_key: Annotated[str, doc("Its key.")]
    status: Annotated[ConsentStatus, doc("Current state.")]
    allowed: Annotated[bool, doc("Whether mail for the purpose may be sent now.")]
    changed_at: Annotated[datetime | None, doc("When the state last changed.")]


class ContactConsent(msgspec.Struct, kw_only=True):
    """A contact's consent state, as consent records it (read-only here)."""

    contact_id: Annotated[str, doc("The contact.")]
    suppressed: Annotated[bool, doc("Whether the person is suppressed.")]
    purposes: Annotated[list[PurposeConsent], doc("One entry per active purpose.")]

    @classmethod
    def from_pb(cls, contact_id: str, r: conpb.GetConsentStateResponse) -> ContactConsent:
        return cls(
            contact_id=contact_id,
            suppressed=r.suppressed,
            purposes=[
                PurposeConsent(
                    purpose_id=p.purpose_id,
                    purpose_key=p.purpose_key,
                    status=enum_out(conpb.ConsentStatus, p.status, "CONSENT_STATUS_"),  # type: ignore[arg-type]
                    allowed=p.allowed,
                    changed_at=ts(p, "changed_at"),
                )
                for p in r.purposes
            ],
        )
