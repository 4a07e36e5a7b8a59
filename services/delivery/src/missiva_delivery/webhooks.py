"""Provider webhooks: an HTTP email provider reporting bounces and complaints of messages it
carried for us. The gateway forwards the request body byte for byte with its signature
header to ``HandleProviderFeedback``.

The signature header is ``t=<unix seconds>,v1=<hex>``: HMAC-SHA256 under the shared secret
(``PROVIDER_WEBHOOK_SECRET_FILE``) of ``<t>.<body>``; several ``v1`` values are allowed (a
provider rotating its secret signs with both). A request is refused (UNAUTHENTICATED) when no
signature matches or ``t`` is more than ``PROVIDER_WEBHOOK_TOLERANCE_SECONDS`` (300) from now.
Each event is recorded once by its id (``provider_events``): a replay inside the window
answers ``duplicate`` and changes nothing. The body is one event::

    {"id": "evt_01", "type": "bounce" | "complaint" | <anything else: recorded, ignored>,
     "message_id": "<the ledger row id the message carried>",
     "bounce": {"status": "5.1.1", "diagnostic": "550 5.1.1 ...", "recipient_domain": "..."},
     "complaint": {"feedback_type": "abuse"}}

A bounce is classified by the same table as a DSN (``bounces.classify``) and applied as one
(``feedback.py``), a complaint as an ARF report.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from missiva_delivery.bounces import classify
from missiva_delivery.domain import enhanced_code, redact_addresses
from missiva_delivery.feedback import Feedback, Report
from missiva_delivery.store import bounces as store
from missiva_platform.errors import FailedPrecondition, InvalidArgument, Unauthenticated

PROVIDER = "generic"
MAX_PAYLOAD = 1024 * 1024
_HEADER_PART = re.compile(r"^\s*(t|v1)=([^,\s]+)\s*$")
_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


@dataclass(frozen=True)
class Applied:
    event_id: str
    duplicate: bool
    handled: bool


def signature(secret: bytes, timestamp: int, payload: bytes) -> str:
    """The ``v1`` value of a body signed at ``timestamp`` (what the provider computes)."""
    return hmac.new(secret, f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()


def verify(secret: bytes, payload: bytes, header: str, *, tolerance: int, now: float) -> int:
    """The signed timestamp of a correctly signed, recent body; UNAUTHENTICATED otherwise."""
    stamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        found = _HEADER_PART.match(part)
        if found:
            (stamps if found.group(1) == "t" else signatures).append(found.group(2))
    if len(stamps) != 1 or not stamps[0].isdigit() or not signatures:
        raise InvalidArgument.field("signature_header", "must be t=<unix seconds>,v1=<hex>")
    timestamp = int(stamps[0])
    expected = signature(secret, timestamp, payload)
    if not any(hmac.compare_digest(expected, given.lower()) for given in signatures):
        raise Unauthenticated("the webhook signature does not match this body")
    if abs(now - timestamp) > tolerance:
        raise Unauthenticated(f"the webhook timestamp is more than {tolerance} s from now")
    return timestamp


def _text(value: Any, field: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidArgument.field(field, "must be a string")
    return value[:limit]


def parse(payload: bytes) -> dict[str, Any]:
    try:
        event = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument.field("payload", "is not a JSON event") from None
    if not isinstance(event, dict):
        raise InvalidArgument.field("payload", "must be a JSON object")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
        raise InvalidArgument.field("payload.id", "is required (letters, digits, _.:-)")
    if not isinstance(event.get("type"), str) or not event["type"]:
        raise InvalidArgument.field("payload.type", "is required")
    return event


def _message_id(event: dict[str, Any]) -> str:
    try:
        return str(uuid.UUID(_text(event.get("message_id"), "payload.message_id", 64)))
    except ValueError:
        raise InvalidArgument.field("payload.message_id", "must be the message id") from None


def report_of(event: dict[str, Any]) -> Report | None:
    """The bounce or complaint report an event carries; None for other types."""
    kind = event["type"]
    digest = "webhook:" + hashlib.sha256(event["id"].encode()).hexdigest()[:24]
    if kind == "bounce":
        detail = event.get("bounce") or {}
        if not isinstance(detail, dict):
            raise InvalidArgument.field("payload.bounce", "must be an object")
        diagnostic = _text(detail.get("diagnostic"), "payload.bounce.diagnostic", 2000)
        status = enhanced_code(_text(detail.get("status"), "payload.bounce.status", 16))
        verdict = classify(status, diagnostic)
        return Report(
            _message_id(event), "bounce", "webhook", digest, bounce_class=verdict.bounce_class,
            rule=verdict.rule, status_code=status or enhanced_code(diagnostic),
            diagnostic=redact_addresses(diagnostic)[:1000],
            recipient_domain=_text(detail.get("recipient_domain"),
                                   "payload.bounce.recipient_domain", 253).lower(),
        )  # fmt: skip
    if kind == "complaint":
        detail = event.get("complaint") or {}
        if not isinstance(detail, dict):
            raise InvalidArgument.field("payload.complaint", "must be an object")
        feedback_type = _text(detail.get("feedback_type"), "payload.complaint.feedback_type", 32)
        return Report(_message_id(event), "complaint", "webhook", digest,
                      feedback_type=(feedback_type or "abuse").lower())  # fmt: skip
    return None


class ProviderWebhooks:
    def __init__(self, secret_file: str, tolerance: int, feedback: Feedback) -> None:
        self.tolerance = tolerance
        self.feedback = feedback
        self._secret = Path(secret_file).read_bytes().strip() if secret_file else None

    def verify(self, payload: bytes, header: str, *, now: float | None = None) -> int:
        if self._secret is None:
            raise FailedPrecondition(
                "provider webhooks are not configured: PROVIDER_WEBHOOK_SECRET_FILE"
            )
        return verify(self._secret, payload, header, tolerance=self.tolerance,
                      now=time.time() if now is None else now)  # fmt: skip

    async def apply(self, conn: Any, payload: bytes, signed_at: int) -> Applied:
        """Apply a verified body once per event id, in the caller's transaction."""
        event = parse(payload)
        report = report_of(event)
        digest = hashlib.sha256(payload).hexdigest()
        when = datetime.fromtimestamp(signed_at, UTC)
        if not await store.add_provider_event(conn, PROVIDER, event["id"], event["type"][:32],
                                              digest, when):  # fmt: skip
            return Applied(event["id"], duplicate=True, handled=False)
        if report is None:
            await store.settle_provider_event(conn, PROVIDER, event["id"], "ignored", None)
            return Applied(event["id"], duplicate=False, handled=False)
        outcome = await self.feedback.apply(conn, report)
        row = await store.message_for_update(conn, report.message_id)
        await store.settle_provider_event(conn, PROVIDER, event["id"], outcome, row)
        self.feedback.metrics.reports.labels("webhook", outcome).inc()
        return Applied(event["id"], duplicate=False, handled=outcome in ("bounced", "complained"))
