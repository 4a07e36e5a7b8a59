"""JSON models of outbound webhooks: endpoints, their deliveries, and the signature scheme
the OpenAPI document describes. Each maps onto delivery's messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from missiva.delivery.v1 import delivery_service_pb2 as dpb
from missiva_gateway.api.convert import doc, enum_out, ts
from missiva_gateway.api.models_audience import Cursor

# The public event types (delivery's hooks_domain.EVENT_TYPES).
EventType = Literal[
    "message.sent",
    "message.deferred",
    "message.bounced",
    "message.complained",
    "message.failed",
    "contact.unsubscribed",
    "consent.withdrawn",
    "campaign.started",
    "campaign.paused",
    "campaign.completed",
    "campaign.cancelled",
]
EventTypes = Annotated[
    list[EventType],
    doc("Event types the endpoint receives (at least one; see the `webhooks` tag).", min_length=1),
]
Url = Annotated[
    str,
    doc(
        "The `https://` URL events are POSTed to. Its host must resolve to public addresses"
        " only (no private, loopback or link-local address).",
        min_length=1,
        max_length=2048,
    ),
]
Description = Annotated[str, doc("What it is for (free text).", max_length=500)]


class WebhookEndpoint(msgspec.Struct, kw_only=True):
    """An HTTPS endpoint that receives some of the account's events, signed."""

    webhook_endpoint_id: Annotated[str, doc("Endpoint id.")]
    url: Annotated[str, doc("Where events are POSTed.")]
    description: Annotated[str, doc("What it is for.")]
    event_types: Annotated[list[str], doc("The event types it receives.")]
    enabled: Annotated[bool, doc("Whether events are delivered to it.")]
    disabled_reason: Annotated[
        str, doc("Why the platform disabled it (every attempt failed for too long); empty else.")
    ]
    created_at: Annotated[datetime | None, doc("Creation time.")]
    updated_at: Annotated[datetime | None, doc("Last change.")]
    secret_rotated_at: Annotated[datetime | None, doc("When the secret was last rotated.")]
    failing_since: Annotated[
        datetime | None, doc("Since when every attempt has failed; null while it delivers.")
    ]

    @classmethod
    def from_pb(cls, e: dpb.WebhookEndpoint) -> WebhookEndpoint:
        return cls(
            webhook_endpoint_id=e.webhook_endpoint_id,
            url=e.url,
            description=e.description,
            event_types=list(e.event_types),
            enabled=e.enabled,
            disabled_reason=e.disabled_reason,
            created_at=ts(e, "created_at"),
            updated_at=ts(e, "updated_at"),
            secret_rotated_at=ts(e, "secret_rotated_at"),
            failing_since=ts(e, "failing_since"),
        )


class WebhookEndpointCreated(msgspec.Struct, kw_only=True):
    """The new endpoint and its signing secret (shown only in this answer)."""

    endpoint: Annotated[WebhookEndpoint, doc("The endpoint, enabled.")]
    signing_secret: Annotated[
        str, doc("The secret (`whsec_...`) that signs its deliveries; store it now.")
    ]


class WebhookEndpointCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An endpoint to register."""

    url: Url
    event_types: EventTypes
    description: Description = ""


class WebhookEndpointPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields to change; fields left out stay as they are."""

    url: Url | msgspec.UnsetType = msgspec.UNSET
    event_types: EventTypes | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    enabled: (
        Annotated[bool, doc("Deliver to it (true also clears a platform's disabling).")]
        | msgspec.UnsetType
    ) = msgspec.UNSET

    def to_pb(self) -> tuple[dpb.WebhookEndpoint, list[str]]:
        values: dict[str, Any] = {}
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if value is not msgspec.UNSET:
                values[name] = value
        return dpb.WebhookEndpoint(**values), list(values)


class WebhookEndpointPage(msgspec.Struct, kw_only=True):
    """A page of webhook endpoints, oldest first."""

    data: Annotated[list[WebhookEndpoint], doc("Endpoints on this page.")]
    next_cursor: Cursor = None


class WebhookSecretRotated(msgspec.Struct, kw_only=True):
    """The new signing secret; the previous one keeps signing until the overlap ends."""

    endpoint: Annotated[WebhookEndpoint, doc("The endpoint.")]
    signing_secret: Annotated[str, doc("The new secret; shown only in this answer.")]
    previous_secret_expires_at: Annotated[
        datetime | None,
        doc("Until when deliveries carry a second `v1` signature made with the old secret."),
    ]


DeliveryStatus = Literal["unspecified", "pending", "delivering", "delivered", "failed"]


class WebhookDelivery(msgspec.Struct, kw_only=True):
    """One event's delivery to one endpoint, with its last attempt."""

    webhook_delivery_id: Annotated[str, doc("Delivery id.")]
    webhook_endpoint_id: Annotated[str, doc("Endpoint id.")]
    event_id: Annotated[str, doc("The event's `id` (and `Missiva-Webhook-Id` header).")]
    event_type: Annotated[str, doc("The event type (`webhook.test` for a test event).")]
    status: Annotated[
        DeliveryStatus,
        doc("`pending` (waiting for an attempt), `delivering`, `delivered` (2xx), `failed`."),
    ]
    attempts: Annotated[int, doc("Attempts so far.")]
    last_status_code: Annotated[int, doc("HTTP status of the last answer; 0 when none.")]
    last_response_excerpt: Annotated[str, doc("The first 512 bytes of the last answer's body.")]
    last_error: Annotated[str, doc("Why the last attempt got no answer; empty otherwise.")]
    last_duration_ms: Annotated[int, doc("How long the last attempt took (ms).")]
    created_at: Annotated[datetime | None, doc("When the event was queued for the endpoint.")]
    last_attempt_at: Annotated[datetime | None, doc("When the last attempt was made.")]
    next_attempt_at: Annotated[datetime | None, doc("When the next attempt is due (pending).")]
    delivered_at: Annotated[datetime | None, doc("When the endpoint answered 2xx.")]

    @classmethod
    def from_pb(cls, d: dpb.WebhookDelivery) -> WebhookDelivery:
        return cls(
            webhook_delivery_id=d.webhook_delivery_id,
            webhook_endpoint_id=d.webhook_endpoint_id,
            event_id=d.event_id,
            event_type=d.event_type,
            status=enum_out(dpb.WebhookDeliveryStatus, d.status, "WEBHOOK_DELIVERY_STATUS_"),  # type: ignore[arg-type]
            attempts=d.attempts,
            last_status_code=d.last_status_code,
            last_response_excerpt=d.last_response_excerpt,
            last_error=d.last_error,
            last_duration_ms=d.last_duration_ms,
            created_at=ts(d, "created_at"),
            last_attempt_at=ts(d, "last_attempt_at"),
            next_attempt_at=ts(d, "next_attempt_at"),
            delivered_at=ts(d, "delivered_at"),
        )


class WebhookDeliveryPage(msgspec.Struct, kw_only=True):
    """A page of an endpoint's deliveries, newest first (kept 30 days)."""

    data: Annotated[list[WebhookDelivery], doc("Deliveries on this page.")]
    next_cursor: Cursor = None


class WebhookEvent(msgspec.Struct, kw_only=True):
    """The body of every webhook delivery (what your endpoint receives)."""

    id: Annotated[str, doc("Event id (`evt_...`), the same on every retry: deduplicate on it.")]
    type: Annotated[str, doc("Event type, e.g. `message.bounced`, or `webhook.test`.")]
    created_at: Annotated[datetime, doc("When it happened (RFC 3339, UTC).")]
    account_id: Annotated[str, doc("Your account.")]
    data: Annotated[
        dict[str, Any],
        doc(
            "What happened: ids of your own objects (`message_id`, `campaign_id`, `contact_id`"
            " of your contacts), never an address; per type as the `webhooks` tag lists."
        ),
    ]


SIGNATURE_SCHEME = """\
Register an HTTPS endpoint and Missiva POSTs your account's events to it as JSON
(`WebhookEvent`: `id`, `type`, `created_at`, `account_id`, `data`).

**Event types** and their `data` (ids are your own objects; an address is never sent):
`message.sent` (`message_id`, `campaign_id`, `contact_id`, `template_key`, `resend`),
`message.deferred` (+ `smtp_response`, `attempt`, `next_attempt_at`),
`message.bounced` (+ `bounce_class`: `hard`, `soft` or `blocked`, `status_code`,
`diagnostic`, `source`), `message.complained` (+ `feedback_type`, `source`),
`message.failed` (+ `reason`, `suppressed`), `contact.unsubscribed` (`contact_id`,
`purpose_id`, `source`), `consent.withdrawn` (`contact_id`, `purpose_id`, `purpose_key`,
`campaign_id`, `kind`: `withdrawn` or `objected`, `source`), `campaign.started`
(`campaign_id`, `recipient_count`), `campaign.paused` (`campaign_id`, `reason`),
`campaign.completed` (`campaign_id`, `sent_count`, `suppressed_count`, `failed_count`),
`campaign.cancelled` (`campaign_id`, `reason`, `sent_count`). `POST /webhooks/{id}/test`
sends a `webhook.test` event. Mail sent for you by the platform itself (sign-in links) is
not reported.

**Signature.** Each request carries `Missiva-Webhook-Id` (the event id, the same on every
retry), `Missiva-Webhook-Timestamp` (Unix seconds) and
`Missiva-Signature: t=<timestamp>,v1=<hex>`, where `<hex>` is the HMAC-SHA256 of
`<timestamp>.<raw body>` keyed with your signing secret (UTF-8 bytes of the whole
`whsec_...` string). To verify: take `t` and every `v1` from the header, compute the HMAC
over `t + "." + body` exactly as received (before parsing the JSON), compare it with each
`v1` in constant time, and refuse a `t` more than 5 minutes from your clock. After a
secret rotation the header carries one `v1` per secret (the new one first) for 24 hours.

**Delivery.** A 2xx answer within 10 seconds is delivered. Anything else is retried
after 30 seconds, doubling up to 6 hours between attempts, for 24 hours; then the
delivery is failed. An endpoint every attempt of which failed for 72 hours is disabled
(`disabled_reason`); re-enable it with `PATCH {"enabled": true}`. Delivery is at least
once and not ordered: deduplicate on `id`. Redirects are not followed.
`GET /webhooks/{id}/deliveries` lists each delivery with its attempts and last answer.

**Addresses.** Only `https://` URLs whose host resolves to public addresses are called
(no private, loopback or link-local ones, checked at every attempt).
"""
