"""Credit rules, without I/O: amounts, the low-balance warning, settling a finished campaign.

A credit pays for one message sent. Reserving moves credits from *available* to *reserved*;
committing spends reserved credits; releasing (or expiring) moves them back. A grant adds to
available. The low-balance warning fires when available falls to 10% of the last grant or
below, once per crossing: it re-arms only when available rises above the threshold again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

MAX_AMOUNT = 10_000_000  # credits one call may move: a typo guard, far above any plan
LOW_BALANCE_PERCENT = 10
CAMPAIGN_REFERENCE = "campaign:"
MAX_REFERENCE = 200


@dataclass(frozen=True)
class Balance:
    """An account's credits (the projection row)."""

    account_id: str
    available: int = 0
    reserved: int = 0
    last_grant: int = 0
    low_notified: bool = False
    version: int = 0

    @property
    def low_threshold(self) -> int:
        return self.last_grant * LOW_BALANCE_PERCENT // 100

    def moved(self, available: int = 0, reserved: int = 0) -> Balance:
        """The balance after applying the deltas (never below zero: the caller checked)."""
        after = replace(
            self,
            available=self.available + available,
            reserved=self.reserved + reserved,
            version=self.version + 1,
        )
        if after.available < 0 or after.reserved < 0:
            raise ValueError(f"credits would go negative: {after}")
        return after

    def crossed_low(self, before: Balance) -> bool:
        """Whether this balance (after a change from ``before``) should send the warning."""
        return (
            self.last_grant > 0 and self.available <= self.low_threshold and not before.low_notified
        )

    def with_low_flag(self, before: Balance) -> Balance:
        """Set the flag on a crossing, clear it once above the threshold again."""
        if self.available > self.low_threshold:
            return replace(self, low_notified=False)
        if self.crossed_low(before):
            return replace(self, low_notified=True)
        return self


@dataclass(frozen=True)
class Reservation:
    reservation_id: str
    account_id: str
    amount: int
    committed: int
    released: int
    reference: str
    status: str  # open | settling | closed

    @property
    def held(self) -> int:
        return self.amount - self.committed - self.released


def shortfall(balance: Balance, amount: int) -> int:
    """Credits missing for a reservation of ``amount`` (0 when it fits)."""
    return max(0, amount - balance.available)


def campaign_reference(campaign_id: str) -> str:
    return f"{CAMPAIGN_REFERENCE}{campaign_id}"


def settle_plan(
    reservations: list[Reservation], still_expected: int
) -> list[tuple[Reservation, int]]:
    """What to release from a finished campaign's reservations (oldest first).

    ``still_expected`` sends were reported by the campaign but not yet committed here (their
    ``delivery.message.sent`` events are on their way): that many credits stay held, in the
    oldest reservations first; the rest of each reservation is released. Returns each
    reservation with the credits to release from it (0: it keeps everything it holds).
    """
    keep = max(0, still_expected)
    plan = []
    for reservation in reservations:
        kept = min(reservation.held, keep)
        keep -= kept
        plan.append((reservation, reservation.held - kept))
    return plan
