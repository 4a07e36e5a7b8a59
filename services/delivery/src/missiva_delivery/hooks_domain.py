"""Outbound webhooks, without I/O: the public event types, the endpoint rules (URL, SSRF),
the signature scheme, the retry schedule and the public payload shape.

Payload (the body of every delivery, UTF-8 JSON)::

    {"id": "<event id>", "type": "message.bounced", "created_at": "<RFC 3339 UTC>",
     "account_id": "<account>", "data": {...}}

Signature: ``Missiva-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`` where each ``v1`` is
HMAC-SHA256 of ``"<t>.<body>"`` keyed by a signing secret of the endpoint (two during a
rotation's overlap). ``Missiva-Webhook-Id`` is the event id (the same on every retry) and
``Missiva-Webhook-Timestamp`` repeats ``t``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import urllib.parse
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from missiva_platform.errors import InvalidArgument

# The event types an endpoint may subscribe to, and what each one means (the README and the
# OpenAPI document repeat this list).
EVENT_TYPES: dict[str, str] = {
    "message.sent": "a message was handed to the receiving mail server",
    "message.deferred": "the receiving server refused for now; delivery retries",
    "message.bounced": "a message bounced (data.bounce_class: hard, soft or blocked)",
    "message.complained": "the recipient reported a message as spam",
    "message.failed": "a message will not be sent (suppressed, refused for good, gave up)",
    "contact.unsubscribed": "a contact unsubscribed (suppression list, reason unsubscribed)",
    "consent.withdrawn": "a contact withdrew consent for a purpose or objected to it",
    "campaign.started": "a campaign started sending",
    "campaign.paused": "a campaign was paused",
    "campaign.completed": "every recipient of a campaign was handled",
    "campaign.cancelled": "a campaign was cancelled",
}
TEST_EVENT = "webhook.test"  # sent by SendTestWebhook to the one endpoint asked

MAX_URL = 2048
MAX_DESCRIPTION = 500
MAX_EVENT_TYPES = len(EVENT_TYPES)
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of generated secrets, not a secret
RESPONSE_EXCERPT = 512  # bytes of an answer's body kept (decoded, replaced if not UTF-8)


# -- endpoints ----------------------------------------------------------------------------


def valid_description(field: str, value: str) -> str:
    text = value.strip()
    if len(text) > MAX_DESCRIPTION:
        raise InvalidArgument.field(field, f"at most {MAX_DESCRIPTION} characters")
    if any(ord(c) < 32 and c not in "\t" for c in text):
        raise InvalidArgument.field(field, "may not contain control characters")
    return text


def valid_event_types(field: str, values: Sequence[str]) -> list[str]:
    """The event types, deduplicated and sorted; each must be one of ``EVENT_TYPES``."""
    if not values:
        raise InvalidArgument.field(field, "name at least one event type")
    found = sorted(set(values))
    for index, value in enumerate(values):
        if value not in EVENT_TYPES:
            raise InvalidArgument.field(
                f"{field}[{index}]",
                f"{value[:60]!r} is not an event type (one of {', '.join(EVENT_TYPES)})",
            )
    return found


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def address_refusal(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_loopback: bool
) -> str | None:
    """Why an endpoint may not be reached at ``address`` (None: it may). Only public unicast
    addresses are allowed; loopback too when the platform allows it (tests, `missiva up`)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_multicast or address.is_reserved or address.is_unspecified:
        return "a reserved address"
    if not address.is_global:
        return "a non-public address"
    return None


def valid_url(field: str, value: str, *, allow_loopback_http: bool) -> str:
    """An endpoint URL: ``https://`` with a host name (or a public IP address), no user
    info, no fragment; ``http://`` only to a loopback host when the platform allows it.
    The addresses a name resolves to are checked again before every attempt."""
    url = value.strip()
    if not url:
        raise InvalidArgument.field(field, "is required")
    if len(url) > MAX_URL:
        raise InvalidArgument.field(field, f"at most {MAX_URL} characters")
    if not url.isascii() or any(c.isspace() or ord(c) < 32 for c in url):
        raise InvalidArgument.field(field, "must be an ASCII URL without spaces")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidArgument.field(field, "is not a URL") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidArgument.field(field, "must be an https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidArgument.field(field, "may not carry a user name or password")
    if parts.fragment:
        raise InvalidArgument.field(field, "may not have a #fragment")
    if port == 0:
        raise InvalidArgument.field(field, "has an invalid port")
    loopback = host == "localhost" or host.endswith(".localhost")
    address = _ip(host)
    if address is not None:
        refusal = address_refusal(address, allow_loopback=allow_loopback_http)
        if refusal:
            raise InvalidArgument.field(field, f"points at {refusal}; use a public https URL")
        loopback = address.is_loopback
    elif loopback:
        if not allow_loopback_http:
            raise InvalidArgument.field(field, "points at a loopback host; use a public https URL")
    elif "." not in host:
        raise InvalidArgument.field(field, "needs a fully qualified host name")
    if parts.scheme == "http" and not (allow_loopback_http and loopback):
        raise InvalidArgument.field(field, "must use https://")
    return urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc.lower(), parts.path or "/", parts.query, "")
    )


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_aad(tenant_id: str, endpoint_id: str) -> str:
    """What a sealed secret is bound to: it opens for this tenant and endpoint only."""
    return f"delivery:webhook-secret:{tenant_id}:{endpoint_id}"


# -- signatures ---------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed by ``secret`` (its UTF-8)."""
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secrets_: Iterable[str], timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<hex>[,v1=<hex>...]``, newest secret first."""
    return ",".join([f"t={timestamp}", *(f"v1={signature(s, timestamp, body)}" for s in secrets_)])


def verify_signature(
    secret: str, header: str, body: bytes, *, now: float, tolerance: float = 300.0
) -> bool:
    """What a receiver does (the README's recipe): the timestamp is recent and one ``v1``
    matches, compared in constant time."""
    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [v for k, v in fields if k.strip() == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, v.strip()) for k, v in fields if k.strip() == "v1")


# -- retries ------------------------------------------------------------------------------


def next_delay(attempts: int, base: float, maximum: float) -> timedelta:
    """Wait after the ``attempts``-th failed attempt: base, doubling, capped at maximum."""
    return timedelta(seconds=min(base * (2 ** min(max(attempts - 1, 0), 30)), maximum))


def gives_up(created_at: datetime, now: datetime, give_up_after: timedelta) -> bool:
    return now - created_at >= give_up_after


def excerpt(body: bytes) -> str:
    """The first bytes of an answer, as text the database and a page can hold (invalid
    UTF-8 replaced, control characters but tab and newlines dropped: PostgreSQL refuses NUL)."""
    text = body[:RESPONSE_EXCERPT].decode("utf-8", "replace")
    return "".join(c for c in text if c in "\t\n\r" or not (ord(c) < 32 or ord(c) == 127))


# -- payloads -----------------------------------------------------------------------------


def event_id(source_event_id: str) -> str:
    """The public id of the event made from a bus event: stable, so a redelivered bus event
    maps to the same id (and the same delivery row per endpoint)."""
    return "evt_" + uuid.uuid5(uuid.NAMESPACE_URL, f"missiva:{source_event_id}").hex


def body(
    *, event_id_: str, event_type: str, created_at: datetime, account_id: str, data: dict[str, Any]
) -> str:
    """The exact JSON sent: compact, keys in a fixed order, UTF-8."""
    document = {
        "id": event_id_,
        "type": event_type,
        "created_at": created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "account_id": account_id,
        "data": data,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))
