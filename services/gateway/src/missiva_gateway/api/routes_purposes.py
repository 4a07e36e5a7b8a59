"""Consent purposes (consent's ``ListPurposes`` / ``CreatePurpose``): what lists and
campaigns send under, and what people consent to; and the account's sender identity
(``GetSenderIdentity`` / ``SetSenderIdentity``), shown on every public page of its links."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, get, post, put
from litestar.params import JSONBody

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as conpb
from missiva_gateway.api.convert import doc, enum_in, enum_out, ts
from missiva_gateway.api.models_audience import Cursor
from missiva_gateway.api.routing import (
    PROBLEMS,
    CtxDep,
    IdempotencyKey,
    Limit,
    PageCursor,
    next_cursor,
    page,
)

Basis = Literal["unspecified", "consent", "legitimate_interest", "contract", "legal_obligation"]


class Purpose(msgspec.Struct, kw_only=True):
    """Something people consent to (or object to), e.g. a newsletter."""

    purpose_id: Annotated[str, doc("Purpose id.")]
    key: Annotated[str, doc("Stable machine key, unique in the account.")]
    name: Annotated[str, doc("Name shown to people.")]
    description: Annotated[str, doc("Description shown in the preference centre.")]
    kind: Annotated[
        Literal["unspecified", "email", "engagement_tracking"], doc("What consent allows.")
    ]
    category: Annotated[
        Literal["unspecified", "marketing", "product_update", "system"], doc("Email category.")
    ]
    legal_basis: Annotated[Basis, doc("Legal basis (consent: off until granted).")]
    double_opt_in: Annotated[bool, doc("Whether a grant must be confirmed by email.")]
    default_enabled: Annotated[bool, doc("On for a person with nothing recorded.")]
    created_at: Annotated[datetime | None, doc("Creation time.")]

    @classmethod
    def from_pb(cls, p: conpb.Purpose) -> Purpose:
        return cls(
            purpose_id=p.purpose_id,
            key=p.key,
            name=p.name,
            description=p.description,
            kind=enum_out(conpb.PurposeKind, p.kind, "PURPOSE_KIND_"),  # type: ignore[arg-type]
            category=enum_out(types_pb2.EmailCategory, p.category, "EMAIL_CATEGORY_"),  # type: ignore[arg-type]
            legal_basis=enum_out(types_pb2.LegalBasis, p.legal_basis, "LEGAL_BASIS_"),  # type: ignore[arg-type]
            double_opt_in=p.double_opt_in,
            default_enabled=p.default_enabled,
            created_at=ts(p, "created_at"),
        )


class PurposeCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new email purpose."""

    key: Annotated[str, doc("Machine key, e.g. `newsletter`.", max_length=64)]
    name: Annotated[str, doc("Name shown to people.", max_length=200)]
    description: Annotated[str, doc("Shown in the preference centre.", max_length=2000)] = ""
    category: Annotated[Literal["marketing", "product_update"], doc("Email category.")] = (
        "marketing"
    )
    legal_basis: Annotated[Literal["consent", "legitimate_interest"], doc("Legal basis.")] = (
        "consent"
    )
    double_opt_in: Annotated[bool, doc("Grants must be confirmed by email.")] = False


class PurposePage(msgspec.Struct, kw_only=True):
    """A page of purposes."""

    data: Annotated[list[Purpose], doc("Purposes on this page.")]
    next_cursor: Cursor = None


class PurposesController(Controller):
    """Consent purposes (scopes `consent:read`, `consent:write`)."""

    path = "/purposes"
    tags = ["purposes"]

    @post("/", responses=PROBLEMS, summary="Create a purpose")
    async def create_purpose(
        self, ctx: CtxDep, data: JSONBody[PurposeCreate], idempotency_key: IdempotencyKey = None
    ) -> Purpose:
        """A new email purpose (consent's `CreatePurpose`)."""
        reply = await ctx.call(
            "consent",
            "CreatePurpose",
            conpb.CreatePurposeRequest(
                purpose=conpb.Purpose(
                    key=data.key,
                    name=data.name,
                    description=data.description,
                    kind=conpb.PURPOSE_KIND_EMAIL,
                    category=enum_in(types_pb2.EmailCategory, data.category, "EMAIL_CATEGORY_"),
                    legal_basis=enum_in(types_pb2.LegalBasis, data.legal_basis, "LEGAL_BASIS_"),
                    double_opt_in=data.double_opt_in,
                ),
                idempotency_key=ctx.idempotency(idempotency_key),
            ),
            fields={"purpose.": ""},
        )
        return Purpose.from_pb(reply.purpose)

    @get("/", responses=PROBLEMS, summary="List purposes")
    async def list_purposes(
        self, ctx: CtxDep, limit: Limit = 50, cursor: PageCursor = None
    ) -> PurposePage:
        """A page of the account's purposes."""
        reply = await ctx.call(
            "consent", "ListPurposes", conpb.ListPurposesRequest(**page(limit, cursor))
        )
        return PurposePage(
            data=[Purpose.from_pb(p) for p in reply.purposes], next_cursor=next_cursor(reply)
        )


class SenderIdentity(msgspec.Struct, kw_only=True):
    """Who the account is to its recipients (the controller of their data), shown on every
    unsubscribe, preference-centre, confirmation and my-data page of its links."""

    name: Annotated[str, doc("Organisation name; empty when nothing was declared yet.")]
    postal_address: Annotated[str, doc("Postal address, lines separated by newlines.")]
    privacy_contact: Annotated[
        str, doc("An email address, or an https address (a contact page), for privacy questions.")
    ]
    privacy_policy_url: Annotated[
        str, doc("The account's published privacy notice (read-only; empty when none).")
    ]
    updated_at: Annotated[datetime | None, doc("When it was last stored; null when never.")]

    @classmethod
    def from_pb(cls, sender: conpb.SenderIdentity, reply: object) -> SenderIdentity:
        return cls(
            name=sender.name,
            postal_address=sender.postal_address,
            privacy_contact=sender.privacy_contact,
            privacy_policy_url=sender.privacy_policy_url,
            updated_at=ts(reply, "updated_at"),
        )


class SenderIdentityUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The account's sender identity, replaced whole."""

    name: Annotated[str, doc("Organisation name (required).", max_length=200)]
    privacy_contact: Annotated[
        str, doc("An email address or an https address (required).", max_length=320)
    ]
    postal_address: Annotated[
        str, doc("Postal address, lines separated by newlines.", max_length=500)
    ] = ""


class SenderIdentityController(Controller):
    """The account's sender identity (scopes `consent:read`, `consent:write`)."""

    path = "/sender-identity"
    tags = ["sender identity"]

    @get("/", responses=PROBLEMS, summary="Read the sender identity")
    async def get_sender_identity(self, ctx: CtxDep) -> SenderIdentity:
        """What recipients are shown about the account (consent's `GetSenderIdentity`)."""
        reply = await ctx.call("consent", "GetSenderIdentity", conpb.GetSenderIdentityRequest())
        return SenderIdentity.from_pb(reply.sender, reply)

    @put("/", responses=PROBLEMS, summary="Replace the sender identity")
    async def put_sender_identity(
        self, ctx: CtxDep, data: JSONBody[SenderIdentityUpdate]
    ) -> SenderIdentity:
        """Replace it (consent's `SetSenderIdentity`); idempotent by nature: the same body
        twice stores the same identity."""
        reply = await ctx.call(
            "consent",
            "SetSenderIdentity",
            conpb.SetSenderIdentityRequest(
                sender=conpb.SenderIdentity(
                    name=data.name,
                    postal_address=data.postal_address,
                    privacy_contact=data.privacy_contact,
                )
            ),
            fields={"sender.": ""},
        )
        return SenderIdentity.from_pb(reply.sender, reply)
