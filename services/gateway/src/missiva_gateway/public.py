"""What every public page shares: the links consent puts in every email (``PUBLIC_BASE_URL``)
and the hosted forms.

No cookies, no redirects, no scripts, no external assets. The token is the only credential
and it is in the URL, so every answer is ``no-store`` and ``no-referrer``; nothing here logs
a path (the request metrics label by route template). The pages themselves are in
``pages.py`` (unsubscribe, preference centre, confirmation), ``my_data_pages.py`` (the
recipient's data) and ``forms_pages.py`` (hosted forms).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import urllib.parse
from datetime import UTC
from functools import cache
from typing import Any

import grpc
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from litestar import Request, Response
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import MediaType
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from missiva_gateway.client import client_context
from missiva_gateway.config import GatewaySettings
from missiva_gateway.errors import SERVER_MESSAGES, Problem, problem_of, route_template
from missiva_gateway.web.i18n import negotiate, translations
from missiva_gateway.web.service_text import localise

log = logging.getLogger(__name__)

BRAND = "Missiva"
N_ = str  # marks a text for extraction; translated where it is shown

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
    "input[type=email],input[type=text]{font:inherit;padding:.5rem .6rem;width:100%;"
    "max-width:26rem;box-sizing:border-box;border:1px solid #767676;border-radius:.3rem}"
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
        message = localise(readable(problem), _)
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


def _client(request: Request[Any, Any, Any], settings: GatewaySettings) -> Any:
    """The visitor's address and user agent, for consent to keep as a salted hash."""
    return client_context(request.scope, request.headers, settings.trusted_proxy_networks)
