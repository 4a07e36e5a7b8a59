"""Events about sender domains: ``delivery.sender_domain.verified`` / ``.unverified``.

The envelope's aggregate is the sender domain (its id and version); campaign keeps a
projection of them and refuses to send from a domain that is not verified.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf import timestamp_pb2

from missiva.delivery.v1 import events_pb2
from missiva_platform.events import EventEnvelope, envelope

SENDER_DOMAIN_VERIFIED = "delivery.sender_domain.verified"
SENDER_DOMAIN_UNVERIFIED = "delivery.sender_domain.unverified"


def _stamp(moment: datetime | None) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime((moment or datetime.now(UTC)).astimezone(UTC))
    return stamp


def _envelope(message: Any, subject: str, row: dict[str, Any]) -> EventEnvelope:
    return envelope(
        message,
        subject=subject,
        tenant_id=row["tenant_id"],
        producer="delivery",
        aggregate_id=row["id"],
        aggregate_version=int(row["version"]),
    )


def verified(row: dict[str, Any], selectors: list[str]) -> EventEnvelope:
    return _envelope(
        events_pb2.SenderDomainVerified(
            sender_domain_id=row["id"],
            domain=row["domain"],
            verified_at=_stamp(row["verified_at"]),
            dkim_selectors=selectors,
        ),
        SENDER_DOMAIN_VERIFIED,
        row,
    )


def unverified(row: dict[str, Any], failed_records: list[str]) -> EventEnvelope:
    return _envelope(
        events_pb2.SenderDomainUnverified(
            sender_domain_id=row["id"],
            domain=row["domain"],
            checked_at=_stamp(row["last_checked_at"]),
            failed_records=failed_records,
        ),
        SENDER_DOMAIN_UNVERIFIED,
        row,
    )


def examples() -> list[EventEnvelope]:
    """One of each, built by the builders above (``events.EXAMPLES`` lists them)."""
    row = {
        "id": "0195a3e0-6666-7abc-8def-0123456789ab",
        "tenant_id": "0195a3c2-4b7e-7c1a-9f20-6d1e2a3b4c5d",
        "domain": "news.example.com",
        "version": 2,
        "verified_at": datetime(2026, 12, 7, 10, 0, tzinfo=UTC),
        "last_checked_at": datetime(2026, 12, 8, 10, 0, tzinfo=UTC),
    }
    return [
        verified(row, ["mv1-rsa", "mv1-ed25519"]),
        unverified({**row, "version": 3}, ["TXT _dmarc.news.example.com"]),
    ]
