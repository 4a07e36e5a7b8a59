"""Templates (an editor with a live preview) and campaigns (create, send, pause, resume,
cancel, statistics with a chart).

Previews are campaign's ``RenderPreview``, shown in a sandboxed frame (``frames.py``). The
statistics are campaign's ``GetCampaignStats`` (which reads delivery's figures); while
delivery's campaign lane is not built, a campaign's figures stay at zero and the page says
what campaign reports, nothing more.
"""

from __future__ import annotations

import uuid
from typing import Any

import grpc
from google.protobuf.field_mask_pb2 import FieldMask
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.common.v1 import types_pb2
from missiva_gateway.web.account import MAX_FORM_BYTES, form_of
from missiva_gateway.web.app_pages import STATUS_NAMES, campaign_stub
from missiva_gateway.web.context import Caller, Web
from missiva_gateway.web.frames import frame_response
from missiva_gateway.web.problems import FormProblem, form_problem
from missiva_gateway.web.render import gettext_for, page

CATEGORIES = {
    "marketing": types_pb2.EMAIL_CATEGORY_MARKETING,
    "product_update": types_pb2.EMAIL_CATEGORY_PRODUCT_UPDATE,
}
TEMPLATE_FIELDS = ("name", "subject", "preheader", "html_body", "text_body", "category")
CAMPAIGN_NAMES = {
    "campaign.name": "name",
    "campaign.subject": "subject",
    "campaign.template_id": "template_id",
    "campaign.list_ids": "list_id",
    "campaign.sender.from_name": "from_name",
    "campaign.sender.from_address": "from_address",
    "campaign.sender.reply_to": "reply_to",
    "campaign.category": "category",
    "campaign.purpose_id": "list_id",
    "campaign.sender": "from_address",
}
STARTER_HTML = (
    "<h1>Hello {{ first_name }}</h1>\n<p>Write your message here.</p>\n"
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a> · '
    '<a href="{{ my_data_url }}">My data</a></p>\n'
)
STARTER_TEXT = (
    "Hello {{ first_name }},\n\nWrite your message here.\n\n"
    "Unsubscribe: {{ unsubscribe_url }}\nMy data: {{ my_data_url }}\n"
)


def template_of(form: dict[str, str]) -> pb.Template:
    return pb.Template(
        name=form.get("name", ""),
        subject=form.get("subject", ""),
        preheader=form.get("preheader", ""),
        html_body=form.get("html_body", ""),
        text_body=form.get("text_body", ""),
        category=CATEGORIES.get(form.get("category", ""), types_pb2.EMAIL_CATEGORY_MARKETING),
    )


def template_values(template: Any) -> dict[str, str]:
    category = {v: k for k, v in CATEGORIES.items()}.get(template.category, "marketing")
    return {name: getattr(template, name) for name in TEMPLATE_FIELDS[:-1]} | {"category": category}


def retryable(campaign: Any) -> bool:
    """Whether Retry has something to do: a campaign completed with failures that has failed
    sends (deferred ones delivery retries by itself until they are sent or fail)."""
    return bool(
        campaign.status == pb.CAMPAIGN_STATUS_COMPLETED_WITH_FAILURES and campaign.failed_count
    )


def chart(series: list[Any]) -> dict[str, Any]:
    """An inline SVG bar chart of sends, deliveries, opens, clicks and bounces over time."""
    keys = ("sent", "delivered", "opens", "clicks", "bounces")
    top = max([1] + [getattr(p, k) for p in series for k in keys])
    width, height, group = 640, 180, max(1, len(series))
    slot = width / group
    bar = max(2.0, slot / (len(keys) + 1))
    bars = []
    for i, point in enumerate(series):
        for j, key in enumerate(keys):
            value = getattr(point, key)
            h = value / top * (height - 20)
            bars.append(
                {
                    "x": round(i * slot + j * bar, 1),
                    "y": round(height - h, 1),
                    "w": round(bar - 1, 1),
                    "h": round(h, 1),
                    "key": key,
                    "value": value,
                }
            )
    return {"width": width, "height": height, "bars": bars, "keys": keys, "top": top}


class CampaignPages(Controller):
    """``/app/templates`` and ``/app/campaigns``."""

    include_in_schema = False

    # -- templates -------------------------------------------------------------------------

    def _editor(
        self,
        request: Request[Any, Any, Any],
        *,
        template_id: FromPath[str],
        values: dict[str, str],
        problem: FormProblem | None,
        status: int = 200,
        notice: str = "",
    ) -> Response[str]:
        _ = gettext_for(request)
        return page(
            request,
            "template_edit.html",
            status=status,
            title=_("Edit the template") if template_id else _("New template"),
            template_id=template_id,
            values=values,
            problem=problem,
            notice=notice,
            key=values.get("idempotency_key") or str(uuid.uuid4()),
        )

    @get("/app/templates/new")
    async def new_template(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        await web.signed_in(request)
        values = {"html_body": STARTER_HTML, "text_body": STARTER_TEXT, "category": "marketing"}
        return self._editor(request, template_id="", values=values, problem=None)

    @post("/app/templates/new", request_max_body_size=2 * 1024 * 1024)
    async def create_template(
        self, request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        caller = await web.signed_in(request)
        form = await form_of(request)
        try:
            reply = await campaign_stub(web).CreateTemplate(
                pb.CreateTemplateRequest(
                    template=template_of(form), idempotency_key=form.get("idempotency_key", "")[:64]
                ),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc, {f"template.{n}": n for n in TEMPLATE_FIELDS})
            if problem.status >= 500:
                raise
            return self._editor(
                request, template_id="", values=form, problem=problem, status=problem.status
            )
        return Redirect(f"/app/templates/{reply.template.template_id}?saved=1", status_code=303)

    @get("/app/templates/{template_id:str}")
    async def edit_template(
        self,
        template_id: FromPath[str],
        request: Request[Any, Any, Any],
        web: NamedDependency[Web],
        saved: FromQuery[str] = "",
    ) -> Any:
        caller = await web.signed_in(request)
        reply = await campaign_stub(web).GetTemplate(
            pb.GetTemplateRequest(template_id=template_id[:64]),
            metadata=caller.metadata,
            timeout=web.timeout,
        )
        _ = gettext_for(request)
        return self._editor(
            request,
            template_id=reply.template.template_id,
            values=template_values(reply.template),
            problem=None,
            notice=_("The template is saved.") if saved else "",
        )

    @post("/app/templates/{template_id:str}", request_max_body_size=2 * 1024 * 1024)
    async def update_template(
        self, template_id: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        caller = await web.signed_in(request)
        form = await form_of(request)
        template = template_of(form)
        template.template_id = template_id[:64]
        try:
            await campaign_stub(web).UpdateTemplate(
                pb.UpdateTemplateRequest(
                    template=template, update_mask=FieldMask(paths=list(TEMPLATE_FIELDS))
                ),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc, {f"template.{n}": n for n in TEMPLATE_FIELDS})
            if problem.status >= 500:
                raise
            return self._editor(
                request,
                template_id=template_id,
                values=form,
                problem=problem,
                status=problem.status,
            )
        return Redirect(f"/app/templates/{template_id}?saved=1", status_code=303)

    @post("/app/preview", request_max_body_size=2 * 1024 * 1024)
    async def preview(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        """The live preview (HTMX): campaign renders the draft; we frame the result."""
        caller = await web.signed_in(request)
        form = await form_of(request)
        _ = gettext_for(request)
        draft = template_of(form)
        draft.name = draft.name.strip() or "preview"  # the name is not part of the mail
        draft.subject = draft.subject.strip() or "…"
        try:
            reply = await campaign_stub(web).RenderPreview(
                pb.RenderPreviewRequest(
                    template=draft, merge_fields={"first_name": "Ada", "last_name": "Lovelace"}
                ),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc)
            if problem.status >= 500:
                raise
            return page(
                request,
                "preview_part.html",
                title="",
                problem=problem.general,
                frame="",
                subject="",
                warnings=[],
                text="",
            )
        key = web.frames.put(caller.session.session_id, reply.html_body)
        return page(
            request,
            "preview_part.html",
            title="",
            problem="",
            frame=key,
            subject=reply.subject,
            warnings=list(reply.warnings),
            text=reply.text_body,
        )

    @get("/app/frame/{key:str}")
    async def frame(
        self, key: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        caller = await web.signed_in(request)
        html = web.frames.get(caller.session.session_id, key)
        if html is None:
            raise NotFoundException()
        return frame_response(html)

    # -- campaigns -------------------------------------------------------------------------

    async def _new(
        self,
        request: Request[Any, Any, Any],
        web: Web,
        caller: Caller,
        values: dict[str, str],
        problem: FormProblem | None,
        status: int = 200,
    ) -> Response[str]:
        stub = campaign_stub(web)
        templates, lists = await web.gather(
            stub.ListTemplates(
                pb.ListTemplatesRequest(page_size=100),
                metadata=caller.metadata,
                timeout=web.timeout,
            ),
            stub.ListLists(
                pb.ListListsRequest(page_size=100), metadata=caller.metadata, timeout=web.timeout
            ),
        )
        _ = gettext_for(request)
        return page(
            request,
            "campaign_new.html",
            status=status,
            title=_("New campaign"),
            templates=[(t.template_id, t.name) for t in templates.templates],
            lists=[(x.list_id, x.name) for x in lists.lists],
            values=values,
            problem=problem,
            key=values.get("idempotency_key") or str(uuid.uuid4()),
        )

    @get("/app/campaigns/new")
    async def new_campaign(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        values = {
            "from_name": caller.account.account.name,
            "from_address": caller.account.profile.email,
        }
        return await self._new(request, web, caller, values, None)

    @post("/app/campaigns/new", request_max_body_size=MAX_FORM_BYTES)
    async def create_campaign(
        self, request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        caller = await web.signed_in(request)
        form = await form_of(request)
        campaign = pb.Campaign(
            name=form.get("name", ""),
            subject=form.get("subject", ""),
            template_id=form.get("template_id", ""),
            list_ids=[form["list_id"]] if form.get("list_id") else [],
            category=CATEGORIES.get(form.get("category", ""), types_pb2.EMAIL_CATEGORY_MARKETING),
            sender=pb.Sender(
                from_name=form.get("from_name", ""),
                from_address=form.get("from_address", ""),
                reply_to=form.get("reply_to", ""),
            ),
        )
        if campaign.list_ids:  # a campaign sends under the purpose of the list it goes to
            lists = await campaign_stub(web).ListLists(
                pb.ListListsRequest(page_size=100), metadata=caller.metadata, timeout=web.timeout
            )
            chosen = {x.list_id: x.purpose_id for x in lists.lists}
            campaign.purpose_id = chosen.get(campaign.list_ids[0], "")
        try:
            reply = await campaign_stub(web).CreateCampaign(
                pb.CreateCampaignRequest(
                    campaign=campaign, idempotency_key=form.get("idempotency_key", "")[:64]
                ),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc, CAMPAIGN_NAMES)
            if problem.status >= 500:
                raise
            return await self._new(request, web, caller, form, problem, status=problem.status)
        return Redirect(f"/app/campaigns/{reply.campaign.campaign_id}", status_code=303)

    async def _campaign_page(
        self,
        request: Request[Any, Any, Any],
        web: Web,
        caller: Caller,
        campaign_id: FromPath[str],
        *,
        problem: str = "",
        notice: str = "",
        status: int = 200,
    ) -> Response[str]:
        stub = campaign_stub(web)
        reply = await stub.GetCampaign(
            pb.GetCampaignRequest(campaign_id=campaign_id[:64]),
            metadata=caller.metadata,
            timeout=web.timeout,
        )
        try:
            stats: Any = (
                await stub.GetCampaignStats(
                    pb.GetCampaignStatsRequest(campaign_id=campaign_id[:64]),
                    metadata=caller.metadata,
                    timeout=web.timeout,
                )
            ).stats
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (
                grpc.StatusCode.UNIMPLEMENTED,
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.FAILED_PRECONDITION,
            ):
                raise
            stats = None
        campaign = reply.campaign
        _ = gettext_for(request)
        return page(
            request,
            "campaign.html",
            status=status,
            title=campaign.name,
            campaign=campaign,
            stats=stats,
            chart=chart(list(stats.series)) if stats and stats.series else None,
            status_names=STATUS_NAMES,
            problem=problem,
            notice=notice,
            key=str(uuid.uuid4()),
            running=campaign.status in (pb.CAMPAIGN_STATUS_SENDING, pb.CAMPAIGN_STATUS_SCHEDULED),
            retryable=retryable(campaign),
        )

    @get("/app/campaigns/{campaign_id:str}")
    async def campaign(
        self, campaign_id: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        caller = await web.signed_in(request)
        return await self._campaign_page(request, web, caller, campaign_id)

    @post("/app/campaigns/{campaign_id:str}/{action:str}", request_max_body_size=MAX_FORM_BYTES)
    async def act(
        self,
        campaign_id: FromPath[str],
        action: FromPath[str],
        request: Request[Any, Any, Any],
        web: NamedDependency[Web],
    ) -> Any:
        """Send now, pause, resume or cancel; a refusal shows on the campaign's page."""
        caller = await web.signed_in(request)
        form = await form_of(request)
        stub, md, key = campaign_stub(web), caller.metadata, form.get("idempotency_key", "")[:64]
        cid = campaign_id[:64]
        _ = gettext_for(request)
        calls = {
            "send": (
                lambda: stub.SendCampaignNow(
                    pb.SendCampaignNowRequest(campaign_id=cid, idempotency_key=key),
                    metadata=md,
                    timeout=web.timeout * 6,
                ),
                _("The campaign is on its way."),
            ),
            "pause": (
                lambda: stub.PauseCampaign(
                    pb.PauseCampaignRequest(campaign_id=cid, idempotency_key=key),
                    metadata=md,
                    timeout=web.timeout,
                ),
                _("The campaign is paused."),
            ),
            "resume": (
                lambda: stub.ResumeCampaign(
                    pb.ResumeCampaignRequest(campaign_id=cid, idempotency_key=key),
                    metadata=md,
                    timeout=web.timeout,
                ),
                _("The campaign goes on."),
            ),
            "cancel": (
                lambda: stub.CancelCampaign(
                    pb.CancelCampaignRequest(campaign_id=cid, idempotency_key=key),
                    metadata=md,
                    timeout=web.timeout,
                ),
                _("The campaign is cancelled."),
            ),
        }
        if action == "retry":
            return await self._retry(request, web, caller, cid, key)
        if action not in calls:
            raise NotFoundException()
        call, done = calls[action]
        try:
            await call()
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc)
            if problem.status >= 500 and problem.status != 501:
                raise
            return await self._campaign_page(
                request, web, caller, cid, problem=problem.general, status=problem.status
            )
        return await self._campaign_page(request, web, caller, cid, notice=done)

    async def _retry(
        self, request: Request[Any, Any, Any], web: Web, caller: Caller, cid: str, key: str
    ) -> Response[str]:
        """Campaign's ``RetryCampaignSends``: the failed recipients still allowed to get the
        campaign are queued again (credits held first); the others are counted as skipped."""
        _ = gettext_for(request)
        try:
            reply = await campaign_stub(web).RetryCampaignSends(
                pb.RetryCampaignSendsRequest(campaign_id=cid, idempotency_key=key),
                metadata=caller.metadata,
                timeout=web.timeout * 6,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc)
            if problem.status >= 500 and problem.status != 501:
                raise
            return await self._campaign_page(
                request, web, caller, cid, problem=problem.general, status=problem.status
            )
        notice = _("Sending again to %(count)s recipient(s).") % {"count": reply.requeued_count}
        if reply.skipped_count:
            notice += " " + _(
                "%(count)s left out: no longer consented, suppressed or no longer a contact."
            ) % {"count": reply.skipped_count}
        return await self._campaign_page(request, web, caller, cid, notice=notice)
