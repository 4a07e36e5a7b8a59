"""The one place where a failure becomes a web page.

A backend's gRPC error goes through the gateway's table (``errors.problem_of``: the same
status codes as the JSON API); here it becomes either the form again, with each field
violation next to its field (``form_problem``), or a page of its own (``error_page``, the
exception handler of every web controller). UNAUTHENTICATED sends the browser to the sign-in
page (an HTMX request gets ``HX-Redirect``), a CSRF failure is a 403 page, a rate limit a
429 page with ``Retry-After``.
"""

from __future__ import annotations

import logging
import urllib.parse
from dataclasses import dataclass, field, replace
from typing import Any

import grpc
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Redirect

from missiva_gateway.errors import Problem, problem_of, route_template
from missiva_gateway.web.render import gettext_for, page
from missiva_gateway.web.security import CsrfRefused, RateLimited
from missiva_gateway.web.service_text import Gettext, localise

log = logging.getLogger(__name__)


class SignInRequired(HTTPException):
    """The page needs a signed-in user and there is none (or the session ended)."""

    status_code = 401
    detail = "sign in"


@dataclass
class FormProblem:
    """What to show on a form that a backend refused: per field, and in general."""

    status: int
    message: str
    fields: dict[str, str] = field(default_factory=dict)
    # Whether ``message`` says more than the field messages shown under their fields.
    other: bool = True

    @property
    def general(self) -> str:
        """The message to show above the form (when no field carries it)."""
        return self.message

    def localised(self, gettext: Gettext) -> FormProblem:
        """The same problem with the services' known texts in the page's language
        (``page`` calls this for every problem it renders)."""
        return replace(
            self,
            message=localise(self.message, gettext),
            fields={name: localise(text, gettext) for name, text in self.fields.items()},
        )


def form_problem(
    error: grpc.RpcError, names: dict[str, str] | None = None, known: tuple[str, ...] = ()
) -> FormProblem:
    """The backend's refusal, with violations keyed by form field.

    ``names`` maps a backend field path (or its prefix: ``"options.consent_proof"``) to a form
    field name; a path that is itself one of ``known`` names stays as it is. A violation of a
    field the form does not have goes to the general message.
    """
    problem: Problem = problem_of(error)
    names = names or {}
    fields: dict[str, str] = {}
    extra: list[str] = []
    for violation in problem.fields:
        target = _target(violation.field, names, known)
        if target:
            fields.setdefault(target, violation.description)
        else:
            extra.append(f"{violation.field}: {violation.description}")
    message = problem.message
    if extra and not fields:
        message = "; ".join(extra)
    return FormProblem(problem.status, message, fields, other=bool(extra) or not fields)


def _target(path: str, names: dict[str, str], known: tuple[str, ...]) -> str:
    if path in names:
        return names[path]
    if path in known:
        return path
    for prefix, name in names.items():
        if path.startswith(prefix + ".") or path.startswith(prefix + "["):
            return name
    head = path.split(".", 1)[0].split("[", 1)[0]
    return head if head in known else ""


N_ = str  # marks a string for extraction; translated where it is shown

FALLBACK_TITLE = N_("Something went wrong")

TITLES = {
    400: N_("This request is not valid"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Not allowed"),
    409: N_("This cannot be done now"),
    413: N_("Too much data"),
    429: N_("Too many requests"),
    501: N_("Not available yet"),
    503: N_("Temporarily unavailable"),
    504: N_("Temporarily unavailable"),
}


def sign_in_redirect(request: Request[Any, Any, Any]) -> Response[Any]:
    """To the sign-in page, coming back here afterwards (HTMX: ``HX-Redirect``)."""
    back = request.url.path if request.method == "GET" else "/app"
    target = "/login?" + urllib.parse.urlencode({"next": back}) if back != "/" else "/login"
    if request.headers.get("hx-request"):
        return Response("", status_code=200, headers={"hx-redirect": target})
    return Redirect(target, status_code=303)


def error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Every failure of a web page, as a page (exception handler of the web controllers)."""
    _ = gettext_for(request)
    if isinstance(exc, SignInRequired):
        return sign_in_redirect(request)
    if isinstance(exc, grpc.RpcError):
        problem = problem_of(exc)
        if problem.status == 401:
            from missiva_gateway.web.session import Sessions

            Sessions.write(request, None)
            return sign_in_redirect(request)
    elif isinstance(exc, CsrfRefused):
        problem = Problem(
            403,
            "CSRF",
            _(
                "This form has expired or did not come from this site. "
                "Go back, reload the page and try again."
            ),
        )
    elif isinstance(exc, RateLimited):
        problem = Problem(
            429, "RESOURCE_EXHAUSTED", _("Too many requests. Please wait a minute and try again.")
        )
    elif isinstance(exc, HTTPException):
        status = exc.status_code
        detail = str(exc.detail) if status < 500 and status != 404 else ""
        problem = Problem(status, "HTTP", detail or _(TITLES.get(status, FALLBACK_TITLE)))
    else:
        log.error("unhandled error", exc_info=exc, extra={"route": route_template(request)})
        problem = Problem(500, "INTERNAL", "")
    if problem.status == 503:
        message = _("A service we need is not answering right now. Please try again shortly.")
    elif problem.status >= 500 and problem.status != 501:
        message = _("Something went wrong on our side. Please try again in a few minutes.")
    else:
        message = localise(problem.message, _)
    headers = {}
    if isinstance(exc, RateLimited):
        headers["retry-after"] = str(exc.retry_after)
    return page(
        request,
        "error.html",
        status=problem.status,
        headers=headers,
        title=_(TITLES.get(problem.status, FALLBACK_TITLE)),
        message=message[:1].upper() + message[1:],
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    grpc.RpcError: error_page,
    HTTPException: error_page,
    Exception: error_page,
}
