"""``/api/v1/webhooks``: outbound webhook endpoints and their deliveries, mapped onto
delivery's webhook RPCs (scopes `webhooks:read`, `webhooks:write`; delivery holds every rule)."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import msgspec
from google.protobuf import field_mask_pb2
from litestar import Controller, delete, get, patch, post
from litestar.params import JSONBody, PathParameter

from missiva.delivery.v1 import delivery_service_pb2 as dpb
from missiva_gateway.api import models_webhooks as m
from missiva_gateway.api.convert import ts
from missiva_gateway.api.routing import (
    PROBLEMS,
    CtxDep,
    IdempotencyKey,
    Limit,
    PageCursor,
    next_cursor,
    page,
)

WebhookId = Annotated[
    str, PathParameter(min_length=1, max_length=64, description="Webhook endpoint id.")
]
FIELDS = {"webhook_endpoint_id": "webhook_id", "webhook_endpoint.": ""}


class WebhooksController(Controller):
    """Outbound webhooks (scopes `webhooks:read`, `webhooks:write`)."""

    path = "/webhooks"
    tags = ["webhooks"]

    @post("/", responses=PROBLEMS, summary="Register a webhook endpoint")
    async def create_webhook(
        self,
        ctx: CtxDep,
        data: JSONBody[m.WebhookEndpointCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> m.WebhookEndpointCreated:
        """Register an HTTPS endpoint for some event types; the answer carries the signing
        secret, shown only here (a retry with the same `Idempotency-Key` shows it again)."""
        reply = await ctx.call(
            "delivery",
            "CreateWebhookEndpoint",
            dpb.CreateWebhookEndpointRequest(
                url=data.url,
                event_types=list(data.event_types),
                description=data.description,
                idempotency_key=ctx.idempotency(idempotency_key),
            ),
            fields=FIELDS,
        )
        return m.WebhookEndpointCreated(
            endpoint=m.WebhookEndpoint.from_pb(reply.webhook_endpoint),
            signing_secret=reply.signing_secret,
        )

    @get("/", responses=PROBLEMS, summary="List webhook endpoints")
    async def list_webhooks(
        self, ctx: CtxDep, limit: Limit = 50, cursor: PageCursor = None
    ) -> m.WebhookEndpointPage:
        """A page of the account's webhook endpoints, oldest first."""
        reply = await ctx.call(
            "delivery",
            "ListWebhookEndpoints",
            dpb.ListWebhookEndpointsRequest(**page(limit, cursor)),
        )
        return m.WebhookEndpointPage(
            data=[m.WebhookEndpoint.from_pb(e) for e in reply.webhook_endpoints],
            next_cursor=next_cursor(reply),
        )

    @get("/{webhook_id:str}", responses=PROBLEMS, summary="Get a webhook endpoint")
    async def get_webhook(self, ctx: CtxDep, webhook_id: WebhookId) -> m.WebhookEndpoint:
        """One endpoint (never its secret)."""
        reply = await ctx.call(
            "delivery",
            "GetWebhookEndpoint",
            dpb.GetWebhookEndpointRequest(webhook_endpoint_id=webhook_id),
            fields=FIELDS,
        )
        return m.WebhookEndpoint.from_pb(reply.webhook_endpoint)

    @patch("/{webhook_id:str}", responses=PROBLEMS, summary="Update a webhook endpoint")
    async def update_webhook(
        self, ctx: CtxDep, webhook_id: WebhookId, data: JSONBody[m.WebhookEndpointPatch]
    ) -> m.WebhookEndpoint:
        """Change the fields sent (URL, description, event types, enabled)."""
        endpoint, paths = data.to_pb()
        reply = await ctx.call(
            "delivery",
            "UpdateWebhookEndpoint",
            dpb.UpdateWebhookEndpointRequest(
                webhook_endpoint_id=webhook_id,
                webhook_endpoint=endpoint,
                update_mask=field_mask_pb2.FieldMask(paths=paths),
            ),
            fields={**FIELDS, "update_mask": "body"},
        )
        return m.WebhookEndpoint.from_pb(reply.webhook_endpoint)

    @delete("/{webhook_id:str}", responses=PROBLEMS, summary="Delete a webhook endpoint")
    async def delete_webhook(self, ctx: CtxDep, webhook_id: WebhookId) -> None:
        """Remove the endpoint and its deliveries; nothing more is sent to it."""
        await ctx.call(
            "delivery",
            "DeleteWebhookEndpoint",
            dpb.DeleteWebhookEndpointRequest(webhook_endpoint_id=webhook_id),
            fields=FIELDS,
        )

    @post("/{webhook_id:str}/rotate-secret", responses=PROBLEMS, summary="Rotate the secret")
    async def rotate_webhook_secret(
        self, ctx: CtxDep, webhook_id: WebhookId, idempotency_key: IdempotencyKey = None
    ) -> m.WebhookSecretRotated:
        """Make a new signing secret. For 24 hours deliveries carry a signature by each
        secret, so the receiver can switch without missing an event."""
        reply = await ctx.call(
            "delivery",
            "RotateWebhookSecret",
            dpb.RotateWebhookSecretRequest(
                webhook_endpoint_id=webhook_id, idempotency_key=ctx.idempotency(idempotency_key)
            ),
            fields=FIELDS,
        )
        return m.WebhookSecretRotated(
            endpoint=m.WebhookEndpoint.from_pb(reply.webhook_endpoint),
            signing_secret=reply.signing_secret,
            previous_secret_expires_at=ts(reply, "previous_secret_expires_at"),
        )

    @post("/{webhook_id:str}/test", status_code=202, responses=PROBLEMS, summary="Send a test")
    async def test_webhook(self, ctx: CtxDep, webhook_id: WebhookId) -> m.WebhookDelivery:
        """Queue a `webhook.test` event for the endpoint; follow it in its deliveries. Each
        call sends one more test event."""
        reply = await ctx.call(
            "delivery",
            "SendTestWebhook",
            dpb.SendTestWebhookRequest(webhook_endpoint_id=webhook_id),
            fields=FIELDS,
        )
        return m.WebhookDelivery.from_pb(reply.webhook_delivery)

    @get("/{webhook_id:str}/deliveries", responses=PROBLEMS, summary="List deliveries")
    async def list_webhook_deliveries(
        self, ctx: CtxDep, webhook_id: WebhookId, limit: Limit = 50, cursor: PageCursor = None
    ) -> m.WebhookDeliveryPage:
        """The endpoint's recent deliveries, newest first: status, attempts, the last
        answer's status code and first bytes, timing, the next attempt."""
        reply = await ctx.call(
            "delivery",
            "ListWebhookDeliveries",
            dpb.ListWebhookDeliveriesRequest(webhook_endpoint_id=webhook_id, **page(limit, cursor)),
            fields=FIELDS,
        )
        return m.WebhookDeliveryPage(
            data=[m.WebhookDelivery.from_pb(d) for d in reply.webhook_deliveries],
            next_cursor=next_cursor(reply),
        )


def document_webhooks(openapi: dict[str, Any]) -> None:
    """Add to the OpenAPI 3.1 document what Missiva POSTs to a registered endpoint: the
    top-level ``webhooks`` entry (headers, body) and the ``WebhookEvent`` schema."""
    schema = msgspec.json.schema(m.WebhookEvent)
    definitions = schema.pop("$defs", {})
    event = definitions.get("WebhookEvent", schema)
    event["description"] = inspect.cleandoc(m.WebhookEvent.__doc__ or "")
    openapi.setdefault("components", {}).setdefault("schemas", {})["WebhookEvent"] = event
    headers = {
        "Missiva-Webhook-Id": "The event id; the same on every retry.",
        "Missiva-Webhook-Timestamp": "Unix seconds of this attempt (the signature's `t`).",
        "Missiva-Signature": (
            "`t=<timestamp>,v1=<hex HMAC-SHA256 of '<t>.<body>'>` (one `v1` per signing"
            " secret during a rotation's overlap)."
        ),
    }
    openapi["webhooks"] = {
        "event": {
            "post": {
                "summary": "An event of your account, POSTed to your endpoint",
                "description": m.SIGNATURE_SCHEME,
                "tags": ["webhooks"],
                "parameters": [
                    {"name": name, "in": "header", "required": True, "description": text,
                     "schema": {"type": "string"}}
                    for name, text in headers.items()
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/WebhookEvent"}}},
                },
                "responses": {"2XX": {"description": "Received; any other answer is retried."}},
            }
        }
    }  # fmt: skip
