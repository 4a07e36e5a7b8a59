"""The public consent pages: the links consent puts in every email (``PUBLIC_BASE_URL``).

=========================================  ==============================================
``GET  /unsubscribe/{token}``              a page with a button; changes nothing (scanners
                                           and security gateways prefetch links)
``POST /unsubscribe/{token}``              ``List-Unsubscribe=One-Click`` in the body: RFC
                                           8058 one-click, text answer; otherwise the
                                           page's form, HTML answer
``GET  /preferences/{token}``              the preference centre
``POST /preferences/{token}``              save changes, or object to one purpose
``GET  /confirm/{token}``                  a page with a "Confirm" button; changes nothing
``POST /confirm/{token}``                  confirms the double opt-in
``POST /preferences/{token}/my-data``      mail me a my-data link (the address typed must be
                                           the one the token names)
``GET  /my-data/{token}``                  the recipient's data page: ask for a copy, or
                                           erasure; changes nothing
``POST /my-data/{token}``                  opens the export or erasure request
``GET  /my-data/export/{token}``           the finished privacy export, as a download
=========================================  ==============================================

No cookies, no redirects, no scripts, no external assets. The token is the only credential
and it is in the URL, so every answer is ``no-store`` and ``no-referrer``; nothing here logs
a path (the request metrics label by route template).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import urllib.parse
from collections.abc import AsyncIterator
from datetime import UTC
from functools import cache
from typing import Any

import grpc
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import MutableScopeHeaders
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.params import FromPath, FromQuery
from litestar.response import Stream
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.privacy.v1 import privacy_service_pb2 as privacy_pb
from missiva_gateway.backends import Backends
from missiva_gateway.client import client_context
from missiva_gateway.config import GatewaySettings
from missiva_gateway.errors import SERVER_MESSAGES, Problem, problem_of, route_template
from missiva_gateway.senders import CONFIRM, MY_DATA, UNSUBSCRIBE, describe, safe_link, sender_view
from missiva_gateway.web.i18n import negotiate, translations

log = logging.getLogger(__name__)

BRAND = "Missiva"
N_ = str  # marks a text for extraction; translated where it is shown
ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"

# The pages' only style sheet, inline; the CSP allows exactly this text (by hash), no more.
CSS = (
    ":root{color-scheme:light dark;font-family:system-ui,-apple-system,'Segoe UI',sans-serif;"
    "line-height:1.5}"
    "body{margin:0;padding:1rem}"
    "main{max-width:40rem;margin:0 auto}"
    "h1{font-size:1.5rem;line-height:1.25}"
    "fieldset{border:1px solid #8888;border-radius:.5rem;margin:1rem 0;padding:.5rem 1rem}"
    "label{display:block;padding:.4rem 0}"
    "button{font:inherit;padding:.6rem 1.2rem;margin:.5rem .5rem .5rem 0;border-radius:.4rem;"
    "border:1px solid currentColor;cursor:pointer;min-height:2.75rem}"
    "button.primary{background:#1f5fbf;color:#fff;border-color:#1f5fbf}"
    ".purpose{border-top:1px solid #8884;padding:.75rem 0}"
    ".meta{font-size:.9rem;opacity:.85;margin:.1rem 0}"
    ".notice{border-left:.3rem solid #2e8b57;padding:.5rem 1rem;background:#2e8b5718}"
    ".problem{border-left:.3rem solid #c0392b;padding:.5rem 1rem;background:#c0392b18}"
    "table{border-collapse:collapse;width:100%;font-size:.9rem}"
    "th,td{text-align:left;padding:.3rem .5rem .3rem 0;border-bottom:1px solid #8884;"
    "vertical-align:top}"
    ".scroll{overflow-x:auto}"
    "a{color:inherit}"
    "input[type=email]{font:inherit;padding:.5rem .6rem;width:100%;max-width:26rem;"
    "box-sizing:border-box;border:1px solid #767676;border-radius:.3rem}"
    ".sender{border-top:1px solid #8884;margin-top:2rem;font-size:.95rem}"
    ".sender h2{font-size:1.05rem;margin-bottom:.25rem}"
)
_CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; img-src 'none'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-robots-tag": "noindex, nofollow",
}

STATUS_TEXT = {
    pb.CONSENT_STATUS_NOT_RECORDED: N_("not chosen yet (the default applies)"),
    pb.CONSENT_STATUS_PENDING: N_("waiting for you to confirm by email"),
    pb.CONSENT_STATUS_GRANTED: N_("subscribed"),
    pb.CONSENT_STATUS_WITHDRAWN: N_("unsubscribed"),
    pb.CONSENT_STATUS_OBJECTED: N_("you objected"),
    pb.CONSENT_STATUS_RESTRICTED: N_("paused at your request (restricted)"),
}
BASIS_TEXT = {
    types_pb2.LEGAL_BASIS_CONSENT: N_("your consent"),
    types_pb2.LEGAL_BASIS_LEGITIMATE_INTEREST: N_(
        "the sender's legitimate interest (you may object)"
    ),
    types_pb2.LEGAL_BASIS_CONTRACT: N_("needed to provide the service (contract)"),
    types_pb2.LEGAL_BASIS_LEGAL_OBLIGATION: N_("a legal obligation"),
}
ACTION_TEXT = {
    pb.CONSENT_ACTION_REQUESTED: N_("asked to subscribe"),
    pb.CONSENT_ACTION_GRANTED: N_("subscribed"),
    pb.CONSENT_ACTION_WITHDRAWN: N_("unsubscribed"),
    pb.CONSENT_ACTION_OBJECTED: N_("objected"),
    pb.CONSENT_ACTION_CONFIRMED: N_("confirmed by email"),
    pb.CONSENT_ACTION_RESTRICTED: N_("restricted"),
    pb.CONSENT_ACTION_LIFTED: N_("restriction lifted"),
    pb.CONSENT_ACTION_ACCEPTED: N_("accepted a document"),
}
ERROR_TITLES = {
    400: N_("This link is not valid"),
    401: N_("This link is not valid"),
    403: N_("This link is not valid"),
    404: N_("Not found"),
    405: N_("Not allowed"),
    409: N_("This link cannot be used"),
    413: N_("Too much data"),
    429: N_("Too many requests"),
    503: N_("Temporarily unavailable"),
    504: N_("Temporarily unavailable"),
}
MAX_FORM_BYTES = 64 * 1024  # the forms are a few hundred bytes; anything larger is refused
_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]")
EXPORT_TIMEOUT_SECONDS = 120.0  # a whole export stream, however large


@cache
def templates(lang: str) -> Environment:
    """The public pages' templates in ``lang`` (the web app's gettext catalogue)."""
    env = Environment(
        loader=PackageLoader("missiva_gateway", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    return env


def lang_of(request: Request[Any, Any, Any] | None) -> str:
    """The visitor's language, from Accept-Language (the public pages have no session)."""
    return negotiate("", request.headers.get("accept-language", "") if request else "")


def render(
    template: str,
    *,
    status: int = 200,
    request: Request[Any, Any, Any] | None = None,
    **context: Any,
) -> Response[str]:
    """An HTML page (the security headers are added by ``PublicPageHeaders``)."""
    lang = lang_of(request)
    html = templates(lang).get_template(template).render(css=CSS, brand=BRAND, lang=lang, **context)
    return Response(html, status_code=status, media_type=MediaType.HTML)


def gettext_of(request: Request[Any, Any, Any] | None) -> Any:
    return translations(lang_of(request)).gettext


def text(body: str, *, status: int = 200) -> Response[str]:
    return Response(body, status_code=status, media_type=MediaType.TEXT)


class PublicPageHeaders(ASGIMiddleware):
    """Security headers on every answer of the public pages, errors included."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await next_app(scope, receive, with_headers)


# --------------------------------------------------------------------------- errors


def readable(problem: Problem) -> str:
    """The sentence to show: a link problem's own description rather than "token: ..."."""
    if problem.status < 500:
        for field in problem.fields:
            if field.field == "token" and field.description:
                if problem.code == "FAILED_PRECONDITION" and problem.message:
                    return problem.message  # "this confirmation link was already used: ..."
                return field.description
    return problem.message


def _problem_of(exc: Exception) -> Problem:
    if isinstance(exc, grpc.RpcError):
        return problem_of(exc)
    if isinstance(exc, HTTPException):
        status = exc.status_code
        if status >= 500:
            return Problem(status, "UNAVAILABLE", SERVER_MESSAGES.get(status, "internal error"))
        return Problem(status, "INVALID_ARGUMENT", str(exc.detail))
    return Problem(500, "INTERNAL", SERVER_MESSAGES[500])


def error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
    """The HTML form of the gateway's error mapping, for people rather than programs."""
    if not isinstance(exc, grpc.RpcError | HTTPException):
        log.error("unhandled error", exc_info=exc, extra={"route": route_template(request)})
    problem = _problem_of(exc)
    _ = gettext_of(request)
    if problem.status == 503:
        message = _(
            "We cannot reach the service that keeps your choices right now. "
            "Please try again in a few minutes."
        )
    elif problem.status >= 500:
        message = _("Something went wrong on our side. Please try again in a few minutes.")
    else:
        message = readable(problem)
    return render(
        "error.html",
        status=problem.status,
        request=request,
        title=_(ERROR_TITLES.get(problem.status, N_("Something went wrong"))),
        message=message[:1].upper() + message[1:],
    )


# --------------------------------------------------------------------------- helpers


def _when(stamp: Any) -> str:
    if not stamp.seconds and not stamp.nanos:
        return ""
    return str(stamp.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M UTC"))


def _item_view(item: Any, _: Any) -> dict[str, Any]:
    return {
        "purpose_id": item.purpose_id,
        "name": item.name,
        "description": item.description,
        "enabled": item.enabled,
        "changeable": item.changeable,
        "status": _(STATUS_TEXT.get(item.status, N_("unknown"))),
        "basis": _(BASIS_TEXT[item.legal_basis]) if item.legal_basis in BASIS_TEXT else "",
        "objectable": (
            item.changeable
            and item.enabled
            and item.legal_basis == types_pb2.LEGAL_BASIS_LEGITIMATE_INTEREST
        ),
    }


REQUEST_STATUS = {
    pb.PRIVACY_REQUEST_STATUS_OPEN: N_("in progress"),
    pb.PRIVACY_REQUEST_STATUS_IN_PROGRESS: N_("in progress"),
    pb.PRIVACY_REQUEST_STATUS_COMPLETED: N_("done"),
    pb.PRIVACY_REQUEST_STATUS_REJECTED: N_("refused"),
}


def _request_view(item: Any, _: Any) -> dict[str, Any]:
    erase = item.kind == privacy_pb.PRIVACY_REQUEST_KIND_ERASE
    return {
        "request_id": item.request_id,
        "kind": _("deletion of your data") if erase else _("a copy of your data"),
        "status": _(REQUEST_STATUS.get(item.status, N_("in progress"))),
        "done": item.status == pb.PRIVACY_REQUEST_STATUS_COMPLETED,
        "due": _when(item.due_at),
        "export_url": safe_link(item.export_url),
        "reason": item.rejection_reason,
    }


def _preferences_page(
    reply: Any, request: Request[Any, Any, Any], *, notice: str = "", status: int = 200
) -> Response[str]:
    _ = gettext_of(request)
    names = {item.purpose_id: item.name for item in reply.items}
    history = [
        {
            "when": _when(record.occurred_at),
            "purpose": names.get(record.purpose_id) or record.purpose_key or "—",
            "action": _(ACTION_TEXT.get(record.action, N_("changed"))),
            "source": pb.ConsentSource.Name(record.source)
            .removeprefix("CONSENT_SOURCE_")
            .replace("_", " ")
            .lower(),
        }
        for record in reply.history
    ]
    return render(
        "preferences.html",
        status=status,
        request=request,
        title=_("Your email preferences"),
        items=[_item_view(item, _) for item in reply.items],
        choosable=any(item.changeable for item in reply.items),
        my_data_action=f"{request.url.path.rstrip('/')}/my-data",
        history=history,
        sender=sender_view(reply.sender),
        notice=notice,
    )


async def _form(request: Request[Any, Any, Any]) -> dict[str, list[str]]:
    """The posted fields, from urlencoded or multipart bodies alike."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        fields: dict[str, list[str]] = {}
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields.setdefault(key, []).append(value)
        return fields
    # Some senders of RFC 8058 POSTs omit the content type; the body is still the same line.
    body = (await request.body())[:4096].decode("utf-8", "replace")
    return urllib.parse.parse_qs(body.strip(), keep_blank_values=True)


# --------------------------------------------------------------------------- the pages


def _client(request: Request[Any, Any, Any], settings: GatewaySettings) -> Any:
    """The visitor's address and user agent, for consent to keep as a salted hash."""
    return client_context(request.scope, request.headers, settings.trusted_proxy_networks)


class PublicPagesController(Controller):
    """Unsubscribe, preference centre, double opt-in confirmation and export download."""

    include_in_schema = False
    middleware = [PublicPageHeaders()]
    exception_handlers = {grpc.RpcError: error_page, Exception: error_page}

    # -- unsubscribe -------------------------------------------------------------------------

    @get("/unsubscribe/{token:str}")
    async def unsubscribe_page(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
    ) -> Response[str]:
        """The unsubscribe page: the token checked first (read-only), then one button;
        nothing changes until it is pressed."""
        link = await describe(backends, token, UNSUBSCRIBE)
        return render(
            "unsubscribe.html",
            request=request,
            title=gettext_of(request)("Unsubscribe"),
            purposes=list(link.purpose_names),
            sender=sender_view(link.sender),
        )

    @post("/unsubscribe/{token:str}", status_code=200, request_max_body_size=MAX_FORM_BYTES)
    async def unsubscribe(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
        settings: NamedDependency[GatewaySettings],
    ) -> Response[str]:
        """RFC 8058 one-click (text answer) or the page's form (HTML answer)."""
        fields = await _form(request)
        one_click = ONE_CLICK_VALUE in fields.get(ONE_CLICK_FIELD, [])
        call = pb.UnsubscribeRequest(
            token=token,
            one_click=one_click,
            all_purposes=not one_click and "all" in fields.get("scope", []),
            client=_client(request, settings),
        )
        try:
            reply = await backends.consent().Unsubscribe(call, timeout=backends.call_timeout)
        except grpc.RpcError as exc:
            if not one_click:
                raise
            problem = problem_of(exc)
            return text(f"{readable(problem)}\n", status=problem.status)
        if one_click:
            return text("unsubscribed\n")
        link = await describe(backends, token, UNSUBSCRIBE)
        return render(
            "unsubscribed.html",
            request=request,
            sender=sender_view(link.sender),
            title=gettext_of(request)("You are unsubscribed"),
            purposes=list(reply.purpose_names),
            already=reply.already_unsubscribed,
            everything=call.all_purposes,
            preferences_token=reply.preferences_token,
        )

    # -- preference centre -------------------------------------------------------------------

    @get("/preferences/{token:str}")
    async def preferences_page(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
        settings: NamedDependency[GatewaySettings],
    ) -> Response[str]:
        """The preference centre: every purpose, its state and basis, and the history."""
        reply = await backends.consent().GetPreferences(
            pb.GetPreferencesRequest(
                token=token,
                client=_client(request, settings),
            ),
            timeout=backends.call_timeout,
        )
        return _preferences_page(reply, request)

    @post("/preferences/{token:str}", status_code=200, request_max_body_size=MAX_FORM_BYTES)
    async def update_preferences(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
        settings: NamedDependency[GatewaySettings],
    ) -> Response[str]:
        """Save the ticked boxes (only what changed), or object to one purpose."""
        fields = await _form(request)
        consent = backends.consent()
        # Read without a client: this is the same visit, noted once by the update.
        before = await consent.GetPreferences(
            pb.GetPreferencesRequest(token=token), timeout=backends.call_timeout
        )
        items = {item.purpose_id: item for item in before.items if item.changeable}
        changes: list[pb.PreferenceChange] = []
        objection = next(iter(fields.get("object", [])), "")
        if objection:
            if objection in items:
                changes.append(pb.PreferenceChange(purpose_id=objection, enabled=False))
        else:
            ticked = set(fields.get("enabled", []))
            for purpose_id in dict.fromkeys(fields.get("shown", [])):
                item = items.get(purpose_id)
                if item is not None and item.enabled != (purpose_id in ticked):
                    changes.append(
                        pb.PreferenceChange(purpose_id=purpose_id, enabled=purpose_id in ticked)
                    )
        if changes:
            await consent.UpdatePreferences(
                pb.UpdatePreferencesRequest(
                    token=token,
                    changes=changes,
                    client=_client(request, settings),
                ),
                timeout=backends.call_timeout,
            )
            _ = gettext_of(request)
            on = [items[c.purpose_id].name for c in changes if c.enabled]
            off = [items[c.purpose_id].name for c in changes if not c.enabled]
            parts = []
            if on:
                parts.append(_("turned on: %(names)s") % {"names": ", ".join(on)})
            if off:
                said = _("you objected to: %(names)s") if objection else _("turned off: %(names)s")
                parts.append(said % {"names": ", ".join(off)})
            notice = _("Your choices are saved (%(changes)s).") % {"changes": "; ".join(parts)}
        else:
            notice = gettext_of(request)("Nothing changed.")
        after = await consent.GetPreferences(
            pb.GetPreferencesRequest(token=token), timeout=backends.call_timeout
        )
        return _preferences_page(after, request, notice=notice)

    # -- double opt-in -----------------------------------------------------------------------

    @get("/confirm/{token:str}")
    async def confirm_page(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
    ) -> Response[str]:
        """The confirmation page: the token checked first (read-only), then one button;
        nothing is confirmed until it is pressed."""
        link = await describe(backends, token, CONFIRM)
        return render(
            "confirm.html",
            request=request,
            title=gettext_of(request)("Confirm your subscription"),
            purposes=list(link.purpose_names),
            already=link.already_confirmed,
            sender=sender_view(link.sender),
        )

    @post("/confirm/{token:str}", status_code=200, request_max_body_size=MAX_FORM_BYTES)
    async def confirm(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
        settings: NamedDependency[GatewaySettings],
    ) -> Response[str]:
        """Confirm the double opt-in; a used or expired link gets consent's own message."""
        reply = await backends.consent().ConfirmDoubleOptIn(
            pb.ConfirmDoubleOptInRequest(
                token=token,
                client=_client(request, settings),
            ),
            timeout=backends.call_timeout,
        )
        link = await describe(backends, token, CONFIRM)
        return render(
            "confirmed.html",
            request=request,
            sender=sender_view(link.sender),
            title=gettext_of(request)("Your subscription is confirmed"),
            purposes=list(reply.purpose_names),
        )

    # -- the recipient's data ----------------------------------------------------------------

    @post("/preferences/{token:str}/my-data", status_code=200, request_max_body_size=MAX_FORM_BYTES)
    async def send_my_data_link(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
        settings: NamedDependency[GatewaySettings],
    ) -> Response[str]:
        """Mail a my-data link to the address typed (consent checks it is the token's)."""
        fields = await _form(request)
        await backends.consent().SendMyDataLink(
            pb.SendMyDataLinkRequest(
                preferences_token=token,
                email=next(iter(fields.get("email", [])), "")[:320],
                client=_client(request, settings),
            ),
            timeout=backends.call_timeout,
        )
        _ = gettext_of(request)
        return render(
            "my_data_sent.html",
            request=request,
            title=_("Check your inbox"),
        )

    @get("/my-data/{token:str}")
    async def my_data_page(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
        request_id: FromQuery[str] = "",
    ) -> Response[str]:
        """What the recipient may ask of the sender; with ``request_id``, that request's state."""
        _ = gettext_of(request)
        link = await describe(backends, token, MY_DATA)
        opened = None
        if request_id:
            reply = await backends.consent().GetPrivacyRequest(
                pb.GetPrivacyRequestRequest(request_id=request_id[:64], verification_token=token),
                timeout=backends.call_timeout,
            )
            opened = _request_view(reply.privacy_request, _)
        return render(
            "my_data.html",
            request=request,
            title=_("Your data"),
            opened=opened,
            sender=sender_view(link.sender),
        )

    @post("/my-data/{token:str}", status_code=200, request_max_body_size=MAX_FORM_BYTES)
    async def open_privacy_request(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        backends: NamedDependency[Backends],
        settings: NamedDependency[GatewaySettings],
    ) -> Response[str]:
        """Open the export or the erasure: consent answers within 30 days (usually minutes)."""
        fields = await _form(request)
        kind = {
            "export": privacy_pb.PRIVACY_REQUEST_KIND_EXPORT,
            "erase": privacy_pb.PRIVACY_REQUEST_KIND_ERASE,
        }.get(next(iter(fields.get("kind", [])), ""), privacy_pb.PRIVACY_REQUEST_KIND_UNSPECIFIED)
        _ = gettext_of(request)
        sender = sender_view((await describe(backends, token, MY_DATA)).sender)
        if kind == privacy_pb.PRIVACY_REQUEST_KIND_ERASE and "yes" not in fields.get("sure", []):
            return render(
                "my_data.html",
                sender=sender,
                request=request,
                title=_("Your data"),
                opened=None,
                status=400,
                problem=_(
                    "Tick the box to confirm that everything this sender holds on you "
                    "may be deleted."
                ),
            )
        digest = hashlib.sha256(f"{token}:{kind}".encode()).hexdigest()[:32]
        reply = await backends.consent().OpenPrivacyRequest(
            pb.OpenPrivacyRequestRequest(
                kind=kind,
                verification_token=token,
                client=_client(request, settings),
                idempotency_key=digest,
            ),
            timeout=backends.call_timeout,
        )
        return render(
            "my_data.html",
            request=request,
            title=_("Your data"),
            opened=_request_view(reply.privacy_request, _),
            sender=sender,
        )

    # -- privacy export ----------------------------------------------------------------------

    @get("/my-data/export/{token:str}")
    async def export(self, token: FromPath[str], backends: NamedDependency[Backends]) -> Stream:
        """The finished export as a JSON download, streamed from consent whatever its size."""
        call = backends.consent().StreamPrivacyExport(
            pb.StreamPrivacyExportRequest(token=token), timeout=EXPORT_TIMEOUT_SECONDS
        )
        first = await call.read()  # a refused token fails here, before any byte is sent
        if first is grpc.aio.EOF:
            raise HTTPException(status_code=502, detail="consent sent an empty export")
        name = _FILE_NAME.sub("_", first.file_name)[:100] or "missiva-export.json"

        async def pieces() -> AsyncIterator[bytes]:
            yield first.chunk
            while (piece := await call.read()) is not grpc.aio.EOF:
                yield piece.chunk

        return Stream(
            pieces(),
            media_type=first.media_type or "application/json",
            headers={
                "content-disposition": f'attachment; filename="{name}"',
                "content-length": str(first.total_bytes),
            },
        )
