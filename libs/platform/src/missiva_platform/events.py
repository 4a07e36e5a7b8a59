"""Event envelopes: every event and command on the bus travels inside an ``EventEnvelope``.

The envelope carries a UUIDv7 ``event_id`` (also the NATS ``Nats-Msg-Id``, so JetStream drops
re-publishes), when the fact happened, the tenant, the producer, the aggregate version that
read models compare, and the W3C trace context of the operation that produced it, so one
trace runs from the request that changed state to every consumer that reacted to it.
"""

from __future__ import annotations

from typing import TypeVar

import uuid_utils
from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.message import Message
from opentelemetry import context as otel_context
from opentelemetry import propagate

from missiva.common.v1.envelope_pb2 import EventEnvelope

__all__ = [
    "EventEnvelope",
    "envelope",
    "new_event_id",
    "trace_context",
    "unpack",
]

M = TypeVar("M", bound=Message)


def new_event_id() -> str:
    """A new UUIDv7 as text: unique, and time-ordered so ids sort roughly by creation."""
    return str(uuid_utils.uuid7())


def envelope(
    payload_message: Message,
    *,
    subject: str,
    tenant_id: str,
    producer: str,
    aggregate_id: str = "",
    aggregate_version: int = 0,
    event_id: str | None = None,
) -> EventEnvelope:
    """Wrap ``payload_message`` for the subject ``subject`` (which is also its event type).

    The current OpenTelemetry context is captured as ``traceparent``/``tracestate``, so call
    this inside the span of the operation that produced the fact. ``occurred_at`` is now.
    """
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    packed = any_pb2.Any()
    packed.Pack(payload_message)
    occurred_at = timestamp_pb2.Timestamp()
    occurred_at.GetCurrentTime()
    return EventEnvelope(
        event_id=event_id or new_event_id(),
        occurred_at=occurred_at,
        tenant_id=tenant_id,
        traceparent=carrier.get("traceparent", ""),
        tracestate=carrier.get("tracestate", ""),
        event_type=subject,
        producer=producer,
        aggregate_id=aggregate_id,
        aggregate_version=aggregate_version,
        payload=packed,
    )


def unpack(event: EventEnvelope, message_type: type[M]) -> M:
    """The payload of ``event`` as a ``message_type``; ``TypeError`` if it holds another type."""
    message = message_type()
    if not event.payload.Unpack(message):
        raise TypeError(
            f"event {event.event_id} carries {event.payload.TypeName()!r}, "
            f"not {message_type.DESCRIPTOR.full_name!r}"
        )
    return message


def trace_context(event: EventEnvelope) -> otel_context.Context:
    """The OpenTelemetry context the event was produced in (empty if it carried none)."""
    carrier = {"traceparent": event.traceparent}
    if event.tracestate:
        carrier["tracestate"] = event.tracestate
    return propagate.extract(carrier)
