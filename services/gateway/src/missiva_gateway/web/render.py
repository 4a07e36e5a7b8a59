"""Rendering a page: one Jinja2 environment per language, with the request's nonce, CSRF
token and language in every template."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from litestar import Request, Response
from litestar.enums import MediaType

from missiva_gateway.web.i18n import LANGUAGE_NAMES, LANGUAGES, negotiate, translations
from missiva_gateway.web.security import CSRF_FIELD
from missiva_gateway.web.service_text import Gettext

HTMX = "vendor/htmx-2.0.8.min.js"


@cache
def environment(lang: str) -> Environment:
    """The templates of ``lang``, with its gettext catalogue installed."""
    env = Environment(
        loader=PackageLoader("missiva_gateway.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters["when"] = when
    env.filters["number"] = number if lang == "en" else number_it
    return env


def when(stamp: Any) -> str:
    """A protobuf Timestamp as ``2026-12-07 11:40 UTC`` ("" when unset)."""
    if stamp is None or (not stamp.seconds and not stamp.nanos):
        return ""
    return str(stamp.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M UTC"))


def number(value: Any) -> str:
    return f"{int(value):,}"


def number_it(value: Any) -> str:
    return f"{int(value):,}".replace(",", ".")


def language(request: Request[Any, Any, Any]) -> str:
    """The request's language (set once per request by ``current_language``)."""
    state = request.scope.setdefault("state", {})
    if "lang" not in state:
        state["lang"] = negotiate("", request.headers.get("accept-language", ""))
    return str(state["lang"])


def origin(request: Request[Any, Any, Any]) -> str:
    """This gateway's address as the browser reached it (links and return addresses)."""
    return str(request.base_url).rstrip("/")


def gettext_for(request: Request[Any, Any, Any]) -> Any:
    """``_`` for strings built in Python."""
    return translations(language(request)).gettext


def page(
    request: Request[Any, Any, Any],
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response[str]:
    """Render ``template`` for this request (a form problem's service texts translated)."""
    state = request.scope.setdefault("state", {})
    lang = language(request)
    gettext = translations(lang).gettext
    context = {key: _localised(value, gettext) for key, value in context.items()}
    body = (
        environment(lang)
        .get_template(template)
        .render(
            lang=lang,
            languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
            nonce=state.get("csp_nonce", ""),
            csrf_field=CSRF_FIELD,
            csrf_token=state.get("csrf_token", ""),
            htmx=HTMX,
            user=state.get("user"),
            embedded=state.get("embedded", False),
            path=request.url.path,
            year=datetime.now(UTC).year,
            **context,
        )
    )
    return Response(body, status_code=status, media_type=MediaType.HTML, headers=headers or {})


def _localised(value: Any, gettext: Gettext) -> Any:
    """A value that knows how to show itself in a language (``FormProblem``), so shown."""
    method = getattr(value, "localised", None)
    return method(gettext) if callable(method) else value
