"""Subscribe forms for visitors: the hosted page, its submission, the embed/popup script.

=========================================  ==============================================
``GET  /forms/{form_id}``                  the hosted form (``?embed=1``: without the
                                           page heading, for the script's frame)
``POST /forms/{form_id}``                  the submission → campaign's ``SubmitForm``;
                                           the thank-you page (or the form's own page)
``GET  /forms/{form_id}/confirmed``        the form's "confirmed" text
``GET  /forms/{form_id}/embed.js``         the script a site includes: an inline frame,
                                           or a popup opened by the show rules
=========================================  ==============================================

The form page has no script and no cookie. Its hidden inputs are the render token (campaign
dates the rendering with it, for the minimum fill time) and a honeypot that people never see.
It may be framed by any site (it is made to be embedded), so its CSP has
``frame-ancestors *``; everything else is as strict as the consent pages.

The script decides when to open a popup: after ``delay_seconds``, past ``scroll_percent`` of
the page, or when the pointer leaves towards the top (exit intent); once opened or closed it
stays away for ``show_again_after_days``, remembered in the browser's ``localStorage`` (no
cookie, nothing sent anywhere).
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.parse
from typing import Any

import grpc
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import MutableScopeHeaders
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.middleware import ASGIMiddleware
from litestar.params import FromPath
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.campaign.v1 import campaign_service_pb2_grpc
from missiva_gateway.backends import Backends
from missiva_gateway.client import client_context
from missiva_gateway.config import GatewaySettings
from missiva_gateway.errors import problem_of
from missiva_gateway.public import BRAND, CSS, MAX_FORM_BYTES, _form, error_page, templates
from missiva_gateway.web.i18n import translations
from missiva_gateway.web.service_text import localise

FORM_CSS = CSS + (
    "input[type=email],input[type=text]{font:inherit;width:100%;box-sizing:border-box;"
    "padding:.5rem;border:1px solid #8888;border-radius:.4rem}"
    ".consent input{margin-right:.5rem}"
    ".trap{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}"
)
_CSS_HASH = base64.b64encode(hashlib.sha256(FORM_CSS.encode()).digest()).decode()
FORM_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "content-security-policy": (
        f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; img-src 'none'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors *"
    ),
    "x-robots-tag": "noindex, nofollow",
}
HONEYPOT = "website"  # a name robots like to fill in
SCRIPT_MAX_AGE = 300


def _campaign(backends: Backends) -> Any:
    return campaign_service_pb2_grpc.CampaignServiceStub(backends.channel("campaign"))


def _safe_link(url: str) -> str:
    return url if urllib.parse.urlsplit(url).scheme in ("http", "https") else ""


class FormPageHeaders(ASGIMiddleware):
    """The form pages' headers on every answer, errors included."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                if scope["path"].endswith("/embed.js"):
                    headers["x-content-type-options"] = "nosniff"
                    headers["cache-control"] = f"public, max-age={SCRIPT_MAX_AGE}"
                else:
                    for name, value in FORM_HEADERS.items():
                        headers[name] = value
            await send(message)

        await next_app(scope, receive, with_headers)


def _render(template: str, *, form: Any, status: int = 200, **context: Any) -> Response[str]:
    lang = (form.locale or "en").split("-")[0] if form is not None else "en"
    html = (
        templates(lang)
        .get_template(template)
        .render(css=FORM_CSS, brand=BRAND, lang=lang, form=form, **context)
    )
    return Response(html, status_code=status, media_type=MediaType.HTML)


def _page(
    reply: Any, *, embed: bool, values: dict[str, str], problem: str = "", status: int = 200
) -> Response[str]:
    form = reply.form
    gettext = translations((form.locale or "en").split("-")[0]).gettext
    return _render(
        "forms/form.html",
        form=form,
        status=status,
        title=form.title or "Subscribe",
        embed=embed,
        render_token=reply.render_token,
        honeypot=HONEYPOT,
        values=values,
        problem=localise(problem, gettext),  # the form's language, like the rest of it
        action=f"/forms/{form.form_id}" + ("?embed=1" if embed else ""),
    )


def _one(fields: dict[str, list[str]], name: str) -> str:
    return (fields.get(name) or [""])[0]


def _embed_script(form: pb.PublicForm) -> str:
    popup = form.popup
    config = {
        "id": form.form_id,
        "kind": "popup" if form.kind == pb.FORM_KIND_POPUP else "inline",
        "path": f"/forms/{form.form_id}?embed=1",  # resolved against the script's own origin
        "title": form.title or "Subscribe",
        "delay": popup.delay_seconds,
        "scroll": popup.scroll_percent,
        "exit": popup.exit_intent,
        "days": popup.show_again_after_days or 30,
    }
    # The JSON is inert data: no "</" and no HTML-significant characters in it.
    data = (
        json.dumps(config).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    )
    return templates("en").get_template("forms/embed.js").render(config=data)


class FormPagesController(Controller):
    """The hosted subscribe form, its submission and the embed script."""

    path = "/forms"
    include_in_schema = False
    middleware = [FormPageHeaders()]
    exception_handlers = {grpc.RpcError: error_page, Exception: error_page}

    @get("/{form_id:str}")
    async def show(
        self,
        form_id: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
    ) -> Response[str]:
        reply = await _campaign(backends).GetPublicForm(
            pb.GetPublicFormRequest(form_id=form_id), timeout=backends.call_timeout
        )
        return _page(reply, embed=request.query_params.get("embed") == "1", values={})

    @post("/{form_id:str}", status_code=200, request_max_body_size=MAX_FORM_BYTES)
    async def submit(
        self,
        form_id: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
        settings: NamedDependency[GatewaySettings],
    ) -> Response[str]:
        fields = await _form(request)
        embed = request.query_params.get("embed") == "1"
        stub = _campaign(backends)
        public = await stub.GetPublicForm(
            pb.GetPublicFormRequest(form_id=form_id), timeout=backends.call_timeout
        )
        values = {f.name: _one(fields, f.name)[:500] for f in public.form.fields}
        typed = {"email": _one(fields, "email")[:320], **values}
        try:
            reply = await stub.SubmitForm(
                pb.SubmitFormRequest(
                    form_id=form_id,
                    email=typed["email"],
                    values={k: v for k, v in values.items() if v},
                    consent_given=_one(fields, "consent") == "yes",
                    honeypot=_one(fields, HONEYPOT),
                    render_token=_one(fields, "render_token"),
                    challenge_response=_one(fields, "challenge_response"),
                    client=client_context(
                        request.scope, request.headers, settings.trusted_proxy_networks
                    ),
                ),
                timeout=backends.call_timeout,
            )
        except grpc.RpcError as exc:
            problem = problem_of(exc)
            if problem.status >= 500:
                raise
            message = problem.message
            for field in problem.fields:
                if field.description:
                    label = field.field.removeprefix("values.")
                    message = f"{label}: {field.description}"
                    break
            # The same render token again: the fill time counts from the first rendering.
            again = pb.GetPublicFormResponse(
                form=public.form, render_token=_one(fields, "render_token")
            )
            return _page(again, embed=embed, values=typed, problem=message, status=problem.status)
        return _render(
            "forms/thanks.html",
            form=public.form,
            title="Thank you",
            message=reply.thank_you_message,
            link=_safe_link(reply.thank_you_url),
        )

    @get("/{form_id:str}/confirmed")
    async def confirmed(
        self, form_id: FromPath[str], backends: NamedDependency[Backends]
    ) -> Response[str]:
        reply = await _campaign(backends).GetPublicForm(
            pb.GetPublicFormRequest(form_id=form_id), timeout=backends.call_timeout
        )
        form = reply.form
        return _render(
            "forms/thanks.html",
            form=form,
            title="Subscription confirmed",
            message=form.confirmed_message or "Thank you: your subscription is confirmed.",
            link=_safe_link(form.confirmed_url),
        )

    @get("/{form_id:str}/embed.js")
    async def script(
        self, form_id: FromPath[str], backends: NamedDependency[Backends]
    ) -> Response[str]:
        reply = await _campaign(backends).GetPublicForm(
            pb.GetPublicFormRequest(form_id=form_id), timeout=backends.call_timeout
        )
        return Response(_embed_script(reply.form), media_type="text/javascript; charset=utf-8")
