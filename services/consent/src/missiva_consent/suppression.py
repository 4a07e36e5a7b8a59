"""Suppression entries: who may no longer be mailed, why, which reasons an account may lift,
the events they produce, and abuse detection on unsubscribes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.consent.v1 import events_pb2
from missiva_consent.domain import REASON_PB, SOURCE_PB, Reason, Source
from missiva_platform.errors import FailedPrecondition

# --------------------------------------------------------------------------- suppression


@dataclass(frozen=True)
class SuppressionEntry:
    scope: str  # account id, '' platform-wide
    person_key: str
    reason: Reason
    purpose_id: str = ""
    source: Source = Source.ADMIN
    source_detail: str = ""
    note: str = ""
    email: str | None = None
    created_at: datetime | None = None
    entry_id: int = 0

    def to_pb(self, *, reveal: bool = True) -> pb.Suppression:
        message = pb.Suppression(
            person_key=self.person_key,
            reason=REASON_PB[self.reason],
            purpose_id=self.purpose_id,
            source=SOURCE_PB[self.source],
            platform_wide=not self.scope,
        )
        if reveal:  # platform-wide entries come from other accounts: only the fact is shown
            message.email = self.email or ""
            message.note = self.note
            message.source_detail = self.source_detail
        if self.created_at:
            message.created_at.FromDatetime(self.created_at)
        return message


# Reasons an account may lift itself; the others need a new proof of consent or never lift.
REMOVABLE_REASONS = frozenset({Reason.MANUAL, Reason.HARD_BOUNCE})


def check_removable(entry: SuppressionEntry) -> None:
    if not entry.scope:
        raise FailedPrecondition("a platform-wide suppression cannot be lifted by an account")
    if entry.reason not in REMOVABLE_REASONS:
        why = {
            Reason.UNSUBSCRIBED: "the person unsubscribed: only their own new consent lifts it",
            Reason.COMPLAINT: "the person complained: only their own new consent lifts it",
            Reason.ERASED: "the person's data was erased: they are never mailed again",
        }[entry.reason]
        raise FailedPrecondition(
            f"this suppression cannot be removed: {why}",
            [("SUPPRESSION_PERMANENT", str(entry.reason), why)],
        )


def suppressed_event(entry: SuppressionEntry) -> events_pb2.ContactSuppressed:
    return events_pb2.ContactSuppressed(
        person_key=entry.person_key,
        reason=REASON_PB[entry.reason],
        source_detail=entry.source_detail,
        purpose_id=entry.purpose_id,
        platform_wide=not entry.scope,
        source=SOURCE_PB[entry.source],
    )


def unsuppressed_event(entry: SuppressionEntry, still: bool) -> events_pb2.ContactUnsuppressed:
    return events_pb2.ContactUnsuppressed(
        person_key=entry.person_key,
        reason=REASON_PB[entry.reason],
        still_suppressed=still,
        purpose_id=entry.purpose_id,
    )


# --------------------------------------------------------------------------- abuse detection


def ip_abuse(distinct_people: int, threshold: int) -> bool:
    """Many different people unsubscribed from one IP hash: flag it (still honoured)."""
    return distinct_people >= threshold
