"""The REST API under ``/api/v1``: JSON over the platform's gRPC services.

``RestApi`` builds the router (every resource controller, the ``ctx`` dependency that
authenticates and rate-limits, problem-details errors, body limits) and the OpenAPI
configuration; ``app.py`` registers both. The web app's session authentication plugs in
with ``RestApi.authenticators.add(...)`` (see ``auth.Authenticators``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Response, Router, get
from litestar.datastructures import ResponseHeader
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Tag
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from missiva_gateway.api.auth import Authenticators, TokenCache, identity_exchange
from missiva_gateway.api.models_webhooks import SIGNATURE_SCHEME
from missiva_gateway.api.problems import API_EXCEPTION_HANDLERS, PROBLEM_TYPES, add_request_id
from missiva_gateway.api.ratelimit import RateLimiter
from missiva_gateway.api.routes_audience import (
    ContactsController,
    ListsController,
    SegmentsController,
    TagsController,
)
from missiva_gateway.api.routes_imports import ImportsController
from missiva_gateway.api.routes_purposes import PurposesController, SenderIdentityController
from missiva_gateway.api.routes_sending import (
    CampaignsController,
    CreditsController,
    SenderDomainsController,
    SuppressionsController,
    TemplatesController,
    TransactionalController,
)
from missiva_gateway.api.routes_webhooks import WebhooksController, document_webhooks
from missiva_gateway.api.routing import Ctx, Stubs
from missiva_gateway.backends import Backends
from missiva_gateway.config import GatewaySettings

__all__ = ["RestApi", "add_request_id"]

API_PATH = "/api/v1"
STATIC = Path(__file__).parent / "static"
# The docs page: our own HTML and script, the vendored Swagger UI; nothing from elsewhere.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; font-src 'self' data:; connect-src 'self';"
    " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

DESCRIPTION = """\
Missiva's REST API: the platform's contacts, lists, segments, imports, templates,
campaigns, suppressions, transactional mail, sender domains, credits and outbound webhooks,
for scripts and integrations. Every operation maps onto the owning service's RPC; the
services enforce the rules, scopes and account isolation.

**Authentication.** `Authorization: Bearer <API key>` (a key made in the web app or with
`python -m missiva_identity create-api-key`). The key's scopes decide what it may do.

**Errors** are RFC 9457 problem details (`application/problem+json`): `type`, `title`,
`status`, `detail`, `code`, `request_id` and `errors` (one `{field, description}` per
field at fault). Codes: {codes}.

**Request ids.** Every response has `X-Request-Id` (yours, when you send a sane one).

**Pagination.** List operations take `limit` and `cursor` and answer `{data, next_cursor}`;
`next_cursor` is opaque and bound to the listing and its filters, `null` on the last page.

**Idempotency.** POSTs that create or send honour `Idempotency-Key`: a retry with the same
key gets the first answer and is never applied twice (24 hours).

**Rate limits** per API key (token bucket): `RateLimit-Limit`, `RateLimit-Remaining`,
`RateLimit-Reset` on every response, 429 with `Retry-After` when exhausted.
"""


WEBHOOKS_TAG = (
    "HTTPS endpoints that receive your account's events, signed with HMAC-SHA256 and"
    " retried with backoff (scopes `webhooks:read`, `webhooks:write`). What is sent, how to"
    " verify it, and the retry schedule:\n\n" + SIGNATURE_SCHEME
)


def _model_docs() -> dict[str, str]:
    """Model name → its docstring (the schema's description in the document)."""
    import inspect

    import msgspec

    from missiva_gateway.api import (
        models_audience,
        models_sending,
        models_webhooks,
        problems,
        routes_purposes,
    )

    found: dict[str, str] = {}
    for module in (models_audience, models_sending, models_webhooks, problems, routes_purposes):
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, msgspec.Struct) and value.__doc__:
                found[name] = inspect.cleandoc(value.__doc__)
    return found


class DocumentedJson(JsonRenderPlugin):
    """The JSON document, each model's schema described by its docstring (Litestar reads
    the fields' documentation from msgspec, not the classes')."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        document_webhooks(openapi_schema)
        docs = _model_docs()
        for name, schema in openapi_schema.get("components", {}).get("schemas", {}).items():
            if name in docs and not schema.get("description"):
                schema["description"] = docs[name]
        return super().render(request, openapi_schema)


class RateLimitHeaders(ASGIMiddleware):
    """Adds the caller's ``RateLimit-*`` headers (set by the ``ctx`` dependency)."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                found = scope.get("state", {}).get("rate_limit_headers")
                if found:
                    headers = list(message.get("headers", ()))
                    have = {k.lower() for k, _ in headers}
                    headers += [
                        (k.encode(), v.encode()) for k, v in found.items() if k.encode() not in have
                    ]
                    message["headers"] = headers
            await send(message)

        await next_app(scope, receive, with_headers)


RESPONSE_HEADERS = [
    ResponseHeader(name="X-Request-Id", description="This request's id.", documentation_only=True),
    ResponseHeader(
        name="RateLimit-Limit", description="Requests the key may burst.", documentation_only=True
    ),
    ResponseHeader(
        name="RateLimit-Remaining",
        description="Requests left in the key's bucket.",
        documentation_only=True,
    ),
    ResponseHeader(
        name="RateLimit-Reset",
        description="Seconds until the bucket is full again.",
        documentation_only=True,
    ),
]


@get("/docs", include_in_schema=False, media_type="text/html", sync_to_thread=False)
def docs_page() -> Response[bytes]:
    """The browsable API reference (Swagger UI, vendored)."""
    return Response(
        (STATIC / "docs.html").read_bytes(),
        media_type="text/html",
        headers={
            "content-security-policy": DOCS_CSP,
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "cache-control": "no-cache",
        },
    )


class RestApi:
    """The REST API's parts, shared by its handlers: token cache, rate limiter, stubs."""

    def __init__(self, settings: GatewaySettings, backends: Backends) -> None:
        self.settings = settings
        self.backends = backends
        self.cache = TokenCache(
            identity_exchange(backends), refresh_margin=settings.api_token_refresh_seconds
        )
        self.authenticators = Authenticators(self.cache)
        self.limiter = RateLimiter(settings.api_rate_per_second, settings.api_rate_burst)
        self.stubs = Stubs(backends)

    def _ctx_provider(self) -> Any:
        # A plain function, not a bound method: Litestar copies its handlers' layers, and a
        # copied bound method would carry a copy of this object (and of its empty channels).
        api = self

        async def provide_ctx(request: Request[Any, Any, Any]) -> Ctx:
            state = request.scope.setdefault("state", {})  # type: ignore[typeddict-item]

            def admit(limit_key: str) -> None:
                state["rate_limit_headers"] = api.limiter.take(limit_key)

            caller = await api.authenticators.caller(request, admit)
            return Ctx(
                caller,
                api.stubs,
                api.cache,
                api.backends.call_timeout,
                api.settings.api_import_timeout_seconds,
            )

        return provide_ctx

    def router(self) -> Router:
        """``/api/v1``: the resources (authenticated), the docs page and its assets."""
        resources = [
            ContactsController,
            TagsController,
            ListsController,
            SegmentsController,
            TemplatesController,
            CampaignsController,
            TransactionalController,
            SenderDomainsController,
            SuppressionsController,
            PurposesController,
            SenderIdentityController,
            CreditsController,
            WebhooksController,
        ]
        uploads = Router(
            path="/",
            route_handlers=[ImportsController],
            request_max_body_size=self.settings.api_import_max_bytes,
        )
        authenticated = Router(
            path="/",
            route_handlers=[*resources, uploads],
            dependencies={"ctx": Provide(self._ctx_provider())},
            middleware=[RateLimitHeaders()],
            security=[{"apiKey": []}],
            response_headers=RESPONSE_HEADERS,
        )
        assets = create_static_files_router(
            path="/docs/assets",
            directories=[STATIC],
            include_in_schema=False,
            opt={"no_auth": True},
        )
        return Router(
            path=API_PATH,
            route_handlers=[authenticated, docs_page, assets],
            exception_handlers=API_EXCEPTION_HANDLERS,
            request_max_body_size=self.settings.api_body_max_bytes,
        )

    @staticmethod
    def openapi_config() -> OpenAPIConfig:
        """OpenAPI 3.1, generated from the handlers and models, at ``/api/v1/openapi.json``."""
        codes = ", ".join(f"`{code}` ({text})" for code, text in PROBLEM_TYPES.items())
        return OpenAPIConfig(
            title="Missiva API",
            version="1.0.0",
            description=DESCRIPTION.replace("{codes}", codes),
            # Its own path: under /api/v1 itself, the schema router's catch-all 404 (HTML)
            # would answer every unknown API path.
            path=f"{API_PATH}/openapi.json",
            render_plugins=[DocumentedJson(path="/")],
            use_handler_docstrings=True,
            components=Components(
                security_schemes={
                    "apiKey": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="An API key (`mk_...`), sent as a bearer token.",
                    )
                }
            ),
            tags=[
                Tag(name=name, description=text)
                for name, text in (
                    ("contacts", "Contacts, their tags, lists and consent state."),
                    ("lists", "Contact lists."),
                    ("segments", "Saved rule trees and their count preview."),
                    ("imports", "CSV imports, their progress and bad-rows reports."),
                    ("templates", "Email templates and previews."),
                    ("campaigns", "Campaigns, their lifecycle and statistics."),
                    ("transactional", "Transactional mail."),
                    ("sender domains", "Domains the account sends from."),
                    ("suppressions", "Addresses never to be mailed."),
                    ("purposes", "Consent purposes lists and campaigns send under."),
                    ("billing", "Credits."),
                    ("webhooks", WEBHOOKS_TAG),
                )
            ],
        )
