"""Signed-in pages: the dashboard, contacts (search, a contact's page) and lists with the
consent purposes they send under."""

from __future__ import annotations

import re
import uuid
from typing import Any

import grpc
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from missiva.billing.v1 import billing_service_pb2 as bpb
from missiva.billing.v1 import billing_service_pb2_grpc
from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.campaign.v1 import campaign_service_pb2_grpc
from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as cpb
from missiva_gateway.web.account import MAX_FORM_BYTES, form_of
from missiva_gateway.web.context import Caller, Web
from missiva_gateway.web.problems import FormProblem, form_problem
from missiva_gateway.web.render import gettext_for, page

N_ = str
STATUS_NAMES = {
    pb.CAMPAIGN_STATUS_DRAFT: N_("draft"),
    pb.CAMPAIGN_STATUS_SCHEDULED: N_("scheduled"),
    pb.CAMPAIGN_STATUS_SENDING: N_("sending"),
    pb.CAMPAIGN_STATUS_PAUSED: N_("paused"),
    pb.CAMPAIGN_STATUS_COMPLETED: N_("sent"),
    pb.CAMPAIGN_STATUS_CANCELLED: N_("cancelled"),
    pb.CAMPAIGN_STATUS_COMPLETED_WITH_FAILURES: N_("sent, with failures"),
}
PAGE_SIZE = 50
_KEY = re.compile(r"[^a-z0-9_.-]+")


def campaign_stub(web: Web) -> Any:
    return campaign_service_pb2_grpc.CampaignServiceStub(web.backends.channel("campaign"))


def billing_stub(web: Web) -> Any:
    return billing_service_pb2_grpc.BillingServiceStub(web.backends.channel("billing"))


async def optional(call: Any) -> Any:
    """A call whose service may not serve it yet (UNIMPLEMENTED) or may be down: None."""
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        if exc.code() in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.UNAVAILABLE):
            return None
        raise


def purpose_key(name: str) -> str:
    key = _KEY.sub("-", name.strip().lower()).strip("-_.")[:60]
    return key if key[:1].isalpha() else f"p-{key}"[:64]


class AppPages(Controller):
    """Dashboard, contacts and lists."""

    include_in_schema = False

    @get("/app")
    async def dashboard(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        md, timeout = caller.metadata, web.timeout
        balance, campaigns, lists = await web.gather(
            optional(
                billing_stub(web).GetCreditBalance(
                    bpb.GetCreditBalanceRequest(), metadata=md, timeout=timeout
                )
            ),
            optional(
                campaign_stub(web).ListCampaigns(
                    pb.ListCampaignsRequest(page_size=5), metadata=md, timeout=timeout
                )
            ),
            optional(
                campaign_stub(web).ListLists(
                    pb.ListListsRequest(page_size=100), metadata=md, timeout=timeout
                )
            ),
        )
        _ = gettext_for(request)
        return page(
            request,
            "dashboard.html",
            title=_("Dashboard"),
            balance=balance.balance if balance else None,
            campaigns=list(campaigns.campaigns) if campaigns else [],
            lists=list(lists.lists) if lists else [],
            members=sum(x.member_count for x in lists.lists) if lists else 0,
            status_names=STATUS_NAMES,
            verified=caller.account.profile.email_verified,
        )

    # -- contacts --------------------------------------------------------------------------

    @get("/app/contacts")
    async def contacts(
        self,
        request: Request[Any, Any, Any],
        web: NamedDependency[Web],
        q: FromQuery[str] = "",
        list_id: FromQuery[str] = "",
        page_token: FromQuery[str] = "",
    ) -> Response[str]:
        caller = await web.signed_in(request)
        stub = campaign_stub(web)
        found, lists = await web.gather(
            stub.ListContacts(
                pb.ListContactsRequest(
                    page_size=PAGE_SIZE,
                    query=q[:200],
                    list_id=list_id[:64],
                    page_token=page_token[:2048],
                ),
                metadata=caller.metadata,
                timeout=web.timeout,
            ),
            stub.ListLists(
                pb.ListListsRequest(page_size=100), metadata=caller.metadata, timeout=web.timeout
            ),
        )
        _ = gettext_for(request)
        template = "contacts_rows.html" if request.headers.get("hx-request") else "contacts.html"
        return page(
            request,
            template,
            title=_("Contacts"),
            contacts=list(found.contacts),
            next_page_token=found.next_page_token,
            q=q,
            list_id=list_id,
            lists=list(lists.lists),
        )

    @get("/app/contacts/{contact_id:str}")
    async def contact(
        self, contact_id: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Response[str]:
        caller = await web.signed_in(request)
        reply = await campaign_stub(web).GetContact(
            pb.GetContactRequest(contact_id=contact_id[:64]),
            metadata=caller.metadata,
            timeout=web.timeout,
        )
        contact = reply.contact
        consent = await optional(
            web.backends.consent().GetConsentState(
                cpb.GetConsentStateRequest(
                    person=types_pb2.PersonRef(person_key=contact.person_key)
                ),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        )
        _ = gettext_for(request)
        return page(
            request,
            "contact.html",
            title=contact.email,
            contact=contact,
            attributes=dict(contact.attributes.items()) if contact.attributes else {},
            consent=consent,
        )

    # -- lists and purposes ----------------------------------------------------------------

    @get("/app/lists")
    async def lists(
        self,
        request: Request[Any, Any, Any],
        web: NamedDependency[Web],
        done: FromQuery[str] = "",
        undo: FromQuery[str] = "",
    ) -> Any:
        caller = await web.signed_in(request)
        _ = gettext_for(request)
        notices = {
            "deleted": _("The list is in the trash."),
            "restored": _("The list is restored."),
        }
        return await lists_page(
            request, web, caller, notice=notices.get(done, ""), undo=trash_undo(done, undo)
        )

    @post("/app/lists", request_max_body_size=MAX_FORM_BYTES)
    async def create_list(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        form = await form_of(request)
        _ = gettext_for(request)
        try:
            await campaign_stub(web).CreateList(
                pb.CreateListRequest(
                    list=pb.ContactList(
                        name=form.get("name", ""),
                        description=form.get("description", ""),
                        purpose_id=form.get("purpose_id", ""),
                    ),
                    idempotency_key=form.get("idempotency_key", "")[:64],
                ),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(
                exc,
                {
                    "list": "name",
                    "list.purpose_id": "purpose_id",
                    "list.name": "name",
                    "list.description": "description",
                },
            )
            if problem.status >= 500:
                raise
            return await lists_page(
                request, web, caller, problem=problem, values=form, status=problem.status
            )
        return await lists_page(request, web, caller, notice=_("The list is created."))

    @post("/app/purposes", request_max_body_size=MAX_FORM_BYTES)
    async def create_purpose(
        self, request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        caller = await web.signed_in(request)
        form = await form_of(request)
        _ = gettext_for(request)
        category: tuple[Any, Any] = {
            "marketing": (types_pb2.EMAIL_CATEGORY_MARKETING, types_pb2.LEGAL_BASIS_CONSENT),
            "product_update": (
                types_pb2.EMAIL_CATEGORY_PRODUCT_UPDATE,
                types_pb2.LEGAL_BASIS_LEGITIMATE_INTEREST,
            ),
        }.get(form.get("category", ""), (0, 0))
        name = form.get("purpose_name", "")
        try:
            await web.backends.consent().CreatePurpose(
                cpb.CreatePurposeRequest(
                    purpose=cpb.Purpose(
                        key=purpose_key(name) if name.strip() else "",
                        name=name,
                        description=form.get("purpose_description", ""),
                        kind=cpb.PURPOSE_KIND_EMAIL,
                        category=category[0],
                        legal_basis=category[1],
                    ),
                    idempotency_key=form.get("idempotency_key", "")[:64],
                ),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(
                exc,
                {
                    "purpose.name": "purpose_name",
                    "purpose.key": "purpose_name",
                    "purpose.category": "category",
                    "purpose.legal_basis": "category",
                    "purpose.description": "purpose_description",
                },
            )
            if problem.status >= 500:
                raise
            return await lists_page(
                request, web, caller, purpose_problem=problem, values=form, status=problem.status
            )
        return await lists_page(request, web, caller, notice=_("The purpose is created."))


async def lists_page(
    request: Request[Any, Any, Any],
    web: Web,
    caller: Caller,
    *,
    problem: FormProblem | None = None,
    purpose_problem: FormProblem | None = None,
    values: dict[str, str] | None = None,
    notice: str = "",
    undo: str = "",
    trash_problem: str = "",
    status: int = 200,
) -> Response[str]:
    """``/app/lists``: the live lists (each with a delete button), the trash, the forms."""
    lists, trash, purposes = await web.gather(
        campaign_stub(web).ListLists(
            pb.ListListsRequest(page_size=100), metadata=caller.metadata, timeout=web.timeout
        ),
        campaign_stub(web).ListLists(
            pb.ListListsRequest(page_size=100, in_trash=True),
            metadata=caller.metadata,
            timeout=web.timeout,
        ),
        web.backends.consent().ListPurposes(
            cpb.ListPurposesRequest(page_size=100),
            metadata=caller.metadata,
            timeout=web.timeout,
        ),
    )
    _ = gettext_for(request)
    email_purposes = [
        p for p in purposes.purposes if p.kind != cpb.PURPOSE_KIND_ENGAGEMENT_TRACKING
    ]
    return page(
        request,
        "lists.html",
        status=status,
        title=_("Lists"),
        lists=list(lists.lists),
        trash=list(trash.lists),
        undo=undo,
        undo_text=notice if undo else "",
        trash_problem=trash_problem,
        purposes=email_purposes,
        purpose_options=[(p.purpose_id, p.name) for p in email_purposes],
        names={p.purpose_id: p.name for p in purposes.purposes},
        problem=problem,
        purpose_problem=purpose_problem,
        values=values or {},
        notice="" if undo else notice,
        key=str(uuid.uuid4()),
    )


def trash_undo(done: str, item_id: str) -> str:
    """The id a "deleted" notice offers to restore (a well-formed id only)."""
    if done != "deleted":
        return ""
    try:
        return str(uuid.UUID(item_id))
    except ValueError:
        return ""


def redirect(to: str) -> Redirect:
    return Redirect(to, status_code=303)
