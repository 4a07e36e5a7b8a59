"""Subscribe forms for account users: the list, the builder (create and edit: the inputs,
the lists joined, the consent checkbox's text, double opt-in on by default, the thank-you
and confirmed texts, popup rules), the embed snippet and the hosted page's address, delete to
the trash and restore from it (30 days, as segments).

Everything is campaign's ``CreateForm`` / ``GetForm`` / ``ListForms`` / ``UpdateForm`` /
``DeleteForm`` / ``RestoreForm``; the visitor's side (the hosted page and ``embed.js``) is
``forms_pages.py``. The snippet points at this gateway's own address (the request's
origin), where those pages are served.
"""

from __future__ import annotations

import html
import uuid
from typing import Any

import grpc
from google.protobuf.field_mask_pb2 import FieldMask
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_gateway.web.account import MAX_FORM_BYTES
from missiva_gateway.web.app_pages import campaign_stub
from missiva_gateway.web.context import Caller, Web
from missiva_gateway.web.problems import FormProblem, form_problem
from missiva_gateway.web.render import gettext_for, language, origin, page

TEXTS = (
    "name", "title", "description", "submit_label", "consent_text", "policy_document_id",
    "policy_version", "thank_you_message", "thank_you_url", "confirmed_message",
    "confirmed_url", "locale",
)  # fmt: skip
NUMBERS = ("min_fill_seconds",)
POPUP_NUMBERS = ("delay_seconds", "scroll_percent", "show_again_after_days")
# What the editor sends to UpdateForm (every updatable field it shows).
MASK = (*TEXTS, "kind", "fields", "list_ids", "single_opt_in", "popup", *NUMBERS,
        "challenge_required", "active")  # fmt: skip
KINDS = {"hosted": pb.FORM_KIND_HOSTED, "popup": pb.FORM_KIND_POPUP}
NAMED_INPUTS = ("first_name", "last_name", "locale")  # campaign's, besides attributes.<key>
INPUT_ROWS = 5  # input rows in the editor (empty ones are not sent)
NAMES = (
    {f"form.{n}": n for n in TEXTS}
    | {f"form.popup.{n}": n for n in POPUP_NUMBERS}
    | {"form.min_fill_seconds": "min_fill_seconds", "form.kind": "kind"}
    | {"form.list_ids": "list_ids", "form.popup": "delay_seconds"}
)


def number(text: str) -> int:
    try:
        return int(text.strip() or "0")
    except ValueError:
        return -1  # campaign says what the range is


def form_of_values(values: dict[str, Any]) -> tuple[pb.Form, list[int]]:
    """The form to send, and for each input sent the editor row it came from."""
    texts: dict[str, Any] = {n: str(values.get(n, "")) for n in TEXTS}
    form = pb.Form(
        kind=KINDS.get(str(values.get("kind", "")), pb.FORM_KIND_HOSTED),
        list_ids=list(values.get("list_ids", [])),
        single_opt_in=values.get("double_opt_in") != "1",
        challenge_required=values.get("challenge_required") == "1",
        active=values.get("active") == "1",
        popup=pb.PopupRules(
            exit_intent=values.get("exit_intent") == "1",
            **{n: number(str(values.get(n, ""))) for n in POPUP_NUMBERS},
        ),
        min_fill_seconds=number(str(values.get("min_fill_seconds", ""))),
        **texts,
    )
    rows = []
    for i in range(INPUT_ROWS):
        name = str(values.get(f"input_{i}", "")).strip()
        if name:
            form.fields.append(
                pb.FormField(
                    name=name,
                    label=str(values.get(f"label_{i}", "")),
                    required=values.get(f"required_{i}") == "1",
                )
            )
            rows.append(i)
    return form, rows


def values_of_form(form: Any) -> dict[str, Any]:
    """An existing form as the editor's values."""
    values: dict[str, Any] = {n: getattr(form, n) for n in TEXTS}
    values |= {
        "kind": "popup" if form.kind == pb.FORM_KIND_POPUP else "hosted",
        "list_ids": list(form.list_ids),
        "double_opt_in": "" if form.single_opt_in else "1",
        "challenge_required": "1" if form.challenge_required else "",
        "active": "1" if form.active else "",
        "exit_intent": "1" if form.popup.exit_intent else "",
        "min_fill_seconds": str(form.min_fill_seconds),
        **{n: str(getattr(form.popup, n)) for n in POPUP_NUMBERS},
    }
    for i, field in enumerate(form.fields):
        values |= {
            f"input_{i}": field.name,
            f"label_{i}": field.label,
            f"required_{i}": "1" if field.required else "",
        }
    return values


def problem_of_form(exc: grpc.aio.AioRpcError, rows: list[int]) -> FormProblem:
    names = dict(NAMES)
    for sent, row in enumerate(rows):
        names[f"form.fields[{sent}]"] = f"input_{row}"
    names["form.fields"] = "input_0"
    return form_problem(exc, names)


def snippet(origin: str, form_id: str) -> str:
    """What a site pastes where the form goes (``embed.js`` puts the frame after itself)."""
    return f'<script src="{origin}/forms/{form_id}/embed.js"></script>'


def frame_snippet(origin: str, form_id: str, title: str) -> str:
    """The same form for a site that runs no third-party script: a plain inline frame."""
    return (
        f'<iframe src="{origin}/forms/{form_id}?embed=1" title="{html.escape(title)}"'
        ' style="border:0;width:100%;min-height:28rem"></iframe>'
    )


class FormPages(Controller):
    """``/app/forms``."""

    include_in_schema = False

    @get("/app/forms")
    async def forms(
        self, request: Request[Any, Any, Any], web: NamedDependency[Web], done: FromQuery[str] = ""
    ) -> Any:
        caller = await web.signed_in(request)
        return await self._list(request, web, caller, done=done)

    async def _list(
        self,
        request: Request[Any, Any, Any],
        web: Web,
        caller: Caller,
        *,
        done: str = "",
        problem: str = "",
        status: int = 200,
    ) -> Response[str]:
        stub, md = campaign_stub(web), caller.metadata
        live, trash = await web.gather(
            stub.ListForms(pb.ListFormsRequest(page_size=100), metadata=md, timeout=web.timeout),
            stub.ListForms(
                pb.ListFormsRequest(page_size=100, in_trash=True), metadata=md, timeout=web.timeout
            ),
        )
        _ = gettext_for(request)
        notices = {
            "deleted": _("The form is in the trash."),
            "restored": _("The form is restored."),
        }
        return page(
            request,
            "forms.html",
            status=status,
            title=_("Forms"),
            forms=list(live.forms),
            trash=list(trash.forms),
            popup=pb.FORM_KIND_POPUP,
            notice=notices.get(done, ""),
            problem=problem,
        )

    async def _editor(
        self,
        request: Request[Any, Any, Any],
        web: Web,
        caller: Caller,
        *,
        form_id: str,
        values: dict[str, Any],
        problem: FormProblem | None = None,
        counts: Any = None,
        notice: str = "",
        status: int = 200,
    ) -> Response[str]:
        lists = await campaign_stub(web).ListLists(
            pb.ListListsRequest(page_size=100), metadata=caller.metadata, timeout=web.timeout
        )
        _ = gettext_for(request)
        base = origin(request)
        heading = str(values.get("title") or values.get("name", ""))
        return page(
            request,
            "form_edit.html",
            status=status,
            title=(values.get("name") or _("Form")) if form_id else _("New form"),
            form_id=form_id,
            values=values,
            problem=problem,
            lists=[(x.list_id, x.name) for x in lists.lists],
            named_inputs=NAMED_INPUTS,
            input_rows=INPUT_ROWS,
            counts=counts,
            hosted=f"{base}/forms/{form_id}" if form_id else "",
            snippet=snippet(base, form_id) if form_id else "",
            frame_snippet=frame_snippet(base, form_id, heading) if form_id else "",
            notice=notice,
            key=str(values.get("idempotency_key") or uuid.uuid4()),
        )  # fmt: skip

    @get("/app/forms/new")
    async def new(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        _ = gettext_for(request)
        values = {
            "kind": "hosted",
            "double_opt_in": "1",
            "active": "1",
            "locale": language(request),
            "title": _("Subscribe to our newsletter"),
            "submit_label": _("Subscribe"),
            "input_0": "first_name",
            "label_0": _("First name"),
            "min_fill_seconds": "3",
        }
        return await self._editor(request, web, caller, form_id="", values=values)

    async def _posted(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        posted = await request.form()
        values: dict[str, Any] = {k: v for k, v in posted.items() if isinstance(v, str)}
        values["list_ids"] = [v for v in posted.getall("list_ids", []) if isinstance(v, str)]
        return values

    @post("/app/forms/new", request_max_body_size=MAX_FORM_BYTES)
    async def create(self, request: Request[Any, Any, Any], web: NamedDependency[Web]) -> Any:
        caller = await web.signed_in(request)
        values = await self._posted(request)
        form, rows = form_of_values(values)
        if not values.get("min_fill_seconds", "").strip():
            form.min_fill_seconds = 0  # campaign's default (3 s)
        try:
            reply = await campaign_stub(web).CreateForm(
                pb.CreateFormRequest(
                    form=form, idempotency_key=str(values.get("idempotency_key", ""))[:64]
                ),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem = problem_of_form(exc, rows)
            if problem.status >= 500:
                raise
            return await self._editor(
                request, web, caller, form_id="", values=values, problem=problem,
                status=problem.status,
            )  # fmt: skip
        return Redirect(f"/app/forms/{reply.form.form_id}?saved=1", status_code=303)

    @get("/app/forms/{form_id:str}")
    async def edit(
        self,
        form_id: FromPath[str],
        request: Request[Any, Any, Any],
        web: NamedDependency[Web],
        saved: FromQuery[str] = "",
    ) -> Any:
        caller = await web.signed_in(request)
        reply = await campaign_stub(web).GetForm(
            pb.GetFormRequest(form_id=form_id[:64]), metadata=caller.metadata, timeout=web.timeout
        )
        _ = gettext_for(request)
        return await self._editor(
            request,
            web,
            caller,
            form_id=reply.form.form_id,
            values=values_of_form(reply.form),
            counts=reply.form,
            notice=_("The form is saved.") if saved else "",
        )

    @post("/app/forms/{form_id:str}", request_max_body_size=MAX_FORM_BYTES)
    async def update(
        self, form_id: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        caller = await web.signed_in(request)
        values = await self._posted(request)
        form, rows = form_of_values(values)
        form.form_id = form_id[:64]
        try:
            await campaign_stub(web).UpdateForm(
                pb.UpdateFormRequest(form=form, update_mask=FieldMask(paths=list(MASK))),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem = problem_of_form(exc, rows)
            if problem.status >= 500 or problem.status == 404:
                raise
            return await self._editor(
                request, web, caller, form_id=form_id[:64], values=values, problem=problem,
                status=problem.status,
            )  # fmt: skip
        return Redirect(f"/app/forms/{form_id[:64]}?saved=1", status_code=303)

    @post("/app/forms/{form_id:str}/delete", request_max_body_size=MAX_FORM_BYTES)
    async def delete(
        self, form_id: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        caller = await web.signed_in(request)
        await campaign_stub(web).DeleteForm(
            pb.DeleteFormRequest(form_id=form_id[:64]),
            metadata=caller.metadata,
            timeout=web.timeout,
        )
        return Redirect("/app/forms?done=deleted", status_code=303)

    @post("/app/forms/{form_id:str}/restore", request_max_body_size=MAX_FORM_BYTES)
    async def restore(
        self, form_id: FromPath[str], request: Request[Any, Any, Any], web: NamedDependency[Web]
    ) -> Any:
        """Bring a form back from the trash; a name clash is shown on the list."""
        caller = await web.signed_in(request)
        try:
            await campaign_stub(web).RestoreForm(
                pb.RestoreFormRequest(form_id=form_id[:64]),
                metadata=caller.metadata,
                timeout=web.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            problem = form_problem(exc)
            if problem.status == 404 or problem.status >= 500:
                raise
            return await self._list(
                request, web, caller, problem=problem.general, status=problem.status
            )
        return Redirect("/app/forms?done=restored", status_code=303)
