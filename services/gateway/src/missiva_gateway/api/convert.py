"""Small conversions between protobuf messages and the API's JSON models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from google.protobuf import json_format, struct_pb2, timestamp_pb2


def doc(text: str, **extra: Any) -> msgspec.Meta:
    """A field's documentation (and constraints) for msgspec and the OpenAPI document."""
    return msgspec.Meta(description=text, **extra)


def ts(message: Any, field: str) -> datetime | None:
    """A Timestamp field as an aware datetime; None when unset."""
    if not message.HasField(field):
        return None
    stamp: timestamp_pb2.Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)


def stamp(value: datetime) -> timestamp_pb2.Timestamp:
    """A datetime (naive means UTC) as a Timestamp."""
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value if value.tzinfo else value.replace(tzinfo=UTC))
    return out


def enum_out(enum: Any, value: int, prefix: str) -> str:
    """``CAMPAIGN_STATUS_DRAFT`` → ``"draft"``; ``"unspecified"`` for unknown numbers."""
    try:
        name = str(enum.Name(value))
    except ValueError:
        return "unspecified"
    return name.removeprefix(prefix).lower()


def enum_in(enum: Any, value: str, prefix: str) -> Any:
    """``"draft"`` → the enum number (the models' Literal types keep the value valid)."""
    return enum.Value(prefix + value.upper())


def struct_out(message: Any, field: str) -> dict[str, Any]:
    """A ``google.protobuf.Struct`` field as a plain dict."""
    if not message.HasField(field):
        return {}
    value: dict[str, Any] = json_format.MessageToDict(getattr(message, field))
    return value


def struct_in(value: dict[str, Any]) -> struct_pb2.Struct:
    """A plain dict as a ``google.protobuf.Struct``."""
    out = struct_pb2.Struct()
    out.update(value)
    return out


def present(struct: msgspec.Struct) -> list[str]:
    """The fields a PATCH body set (those not left ``UNSET``), in declaration order."""
    return [name for name in struct.__struct_fields__ if getattr(struct, name) is not msgspec.UNSET]
