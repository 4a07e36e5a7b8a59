"""The trash of templates, campaigns and lists in the web app: the listings of ``/app/templates``
and ``/app/campaigns`` (live ones with a delete button, then the trash with restore buttons;
``/app/lists`` is ``app_pages.lists_page``), and ``POST /app/trash/<kind>/<id>/<action>``
calling campaign's ``Delete*`` / ``Restore*``. After a delete, the notice offers to restore
the item at once; a refusal (e.g. a template a scheduled campaign sends) shows on the listing.
"""

from __future__ import annotations

from typing import Any

import grpc
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_gateway.web.account import MAX_FORM_BYTES
from missiva_gateway.web.app_pages import STATUS_NAMES, campaign_stub, lists_page, trash_undo
from missiva_gateway.web.context import Caller, Web
from missiva_gateway.web.problems import form_problem
from missiva_gateway.web.render import gettext_for, page

# kind -> (RPC name stem, request field)
KINDS = {
    "templates": ("Template", "template_id"),
    "campaigns": ("Campaign", "campaign_id"),
    "lists": ("List", "list_id"),
}
ACTIONS = ("delete", "restore")


def texts(_: Any, kind: str) -> tuple[str, dict[str, str]]:
    """A listing's title, and its notices after a delete or a restore."""
    if kind == "templates":
        return _("Templates"), {
            "deleted": _("The template is in the trash."),
            "restored": _("The template is restored."),
        }
    return _("Campaigns"), {
        "deleted": _("The campaign is in the trash."),
        "restored": _("The campaign is restored."),
    }


# kind -> (list RPC, its request, page size, what else its page shows); the reply's field and
# the page's template are named after the kind.
LISTINGS: dict[str, tuple[str, Any, int, dict[str, Any]]] = {
    "templates": ("ListTemplates", pb.ListTemplatesRequest, 100, {}),
    "campaigns": ("ListCampaigns", pb.ListCampaignsRequest, 50, {"status_names": STATUS_NAMES}),
}


async def listing_page(
    kind: str,
    request: Request[Any, Any, Any],
    web: Web,
    caller: Caller,
    *,
    done: str = "",
    undo: str = "",
    problem: str = "",
    status: int = 200,
) -> Response[str]:
    """``/app/templates`` or ``/app/campaigns``: the live ones, then the trash."""
    rpc, request_type, size, extra = LISTINGS[kind]
    call, md = getattr(campaign_stub(web), rpc), caller.metadata
    live, trash = await web.gather(
        call(request_type(page_size=size), metadata=md, timeout=web.timeout),
        call(request_type(page_size=size, in_trash=True), metadata=md, timeout=web.timeout),
    )
    _ = gettext_for(request)
    title, notices = texts(_, kind)
    notice = notices.get(done, "")
    items: dict[str, Any] = {kind: list(getattr(live, kind)), **extra}
    return page(
        request,
        f"{kind}.html",
        status=status,
        title=title,
        trash=list(getattr(trash, kind)),
        notice="" if undo else notice,
        undo=undo,
        undo_text=notice if undo else "",
        problem=problem,
        **items,
    )


class TrashPages(Controller):
    """``/app/templates``, ``/app/campaigns`` and the trash actions of the three kinds."""

    include_in_schema = False

    @get("/app/templates")
    async def templates(
        self,
        request: Request[Any, Any, Any],
        web: NamedDependency[Web],
        done: FromQuery[str] = "",
        undo: FromQuery[str] = "",
    ) -> Any:
        caller = await web.signed_in(request)
        return await listing_page(
            "templates", request, web, caller, done=done, undo=trash_undo(done, undo)
        )

    @get("/app/campaigns")
    async def campaigns(
        self,
        request: Request[Any, Any, Any],
        web: NamedDependency[Web],
        done: FromQuery[str] = "",
        undo: FromQuery[str] = "",
    ) -> Any:
        caller = await web.signed_in(request)
        return await listing_page(
            "campaigns", request, web, caller, done=done, undo=trash_undo(done, undo)
        )

    @post("/app/trash/{kind:str}/{item_id:str}/{action:str}", request_max_body_size=MAX_FORM_BYTES)
    async def act(
        self,
        kind: FromPath[str],
        item_id: FromPath[str],
        action: FromPath[str],
        request: Request[Any, Any, Any],
        web: NamedDependency[Web],
    ) -> Any:
        """Delete (to the trash) or restore a template, a campaign or a list."""
        caller = await web.signed_in(request)
        if kind not in KINDS or action not in ACTIONS:
            raise NotFoundException()
        stem, field = KINDS[kind]
        method = f"{action.capitalize()}{stem}"
        request_type = getattr(pb, f"{method}Request")
        item = item_id[:64]
        try:
            await getattr(campaign_stub(web), method)(
                request_type(**{field: item}), metadata=caller.metadata, timeout=web.timeout
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc)
            if problem.status == 404 or problem.status >= 500:
                raise
            if kind == "lists":
                return await lists_page(
                    request, web, caller, trash_problem=problem.general, status=problem.status
                )
            return await listing_page(
                kind, request, web, caller, problem=problem.general, status=problem.status
            )
        undo = f"&undo={item}" if action == "delete" else ""
        return Redirect(f"/app/{kind}?done={action}d{undo}", status_code=303)
