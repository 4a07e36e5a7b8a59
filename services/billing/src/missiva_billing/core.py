"""Credit operations, each inside the caller's transaction: grant, reserve, commit, release,
expire, adjust, and what delivery's and campaign's events do to credits.

Every operation locks the account's balance row first (``store.ledger.lock``), so credit
changes of one account run one after the other and a reservation never spends what another
already took; then it appends one ledger entry per change and moves the projection with it.
A change that takes available credits to 10% of the last grant or below emits
``billing.credits.low`` through the outbox in the same transaction, once per crossing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import uuid_utils

from missiva.billing.v1 import events_pb2
from missiva_billing import SERVICE_NAME
from missiva_billing.domain import Balance, Reservation, settle_plan, shortfall
from missiva_billing.store import ledger, reservations
from missiva_billing.store.ledger import Entry
from missiva_platform import metrics
from missiva_platform.errors import FailedPrecondition, InvalidArgument, NotFound
from missiva_platform.events import EventEnvelope, envelope
from missiva_platform.outbox import add_event

log = logging.getLogger(__name__)

CREDITS_LOW = "billing.credits.low"
FREE_GRANT_KEY = "plan:free"


def credits_low_event(balance: Balance) -> EventEnvelope:
    """``billing.credits.low`` for the account of ``balance`` (aggregate: the account)."""
    return envelope(
        events_pb2.CreditsLow(available=balance.available, threshold=balance.low_threshold),
        subject=CREDITS_LOW,
        tenant_id=balance.account_id,
        producer=SERVICE_NAME,
        aggregate_id=balance.account_id,
        aggregate_version=balance.version,
    )


class _Metrics:
    def __init__(self) -> None:
        self.reservations = metrics.counter(
            "credit_reservations_total", "ReserveCredits outcomes", ("outcome",)
        )
        self.credits = metrics.counter(
            "credits_total", "Credits moved through the ledger, by entry kind", ("kind",)
        )
        self.low = metrics.counter(
            "credits_low_total", "Low-balance warnings emitted (once per crossing)"
        )
        self.uncovered = metrics.counter(
            "credits_uncovered_sends_total",
            "Sent messages that neither their reservation nor the balance could pay for",
        )


@dataclass(frozen=True)
class Reserved:
    reservation: Reservation
    expires_at: datetime
    balance: Balance


@dataclass(frozen=True)
class Settled:
    committed: int
    released: int
    balance: Balance


def new_id() -> str:
    return str(uuid_utils.uuid7())


class Credits:
    """The credit operations; each takes an open transaction's connection."""

    def __init__(self) -> None:
        self._metrics: _Metrics | None = None

    @property
    def metrics(self) -> _Metrics:
        # Made on first use, after the app has named the process's metrics.
        if self._metrics is None:
            self._metrics = _Metrics()
        return self._metrics

    async def _move(self, conn: Any, before: Balance, entry: Entry) -> Balance | None:
        """Append ``entry`` and move the projection by its deltas; the new balance, or None
        when an entry with its grant key or message id was already there (nothing moved)."""
        after = before.moved(entry.available_delta, entry.reserved_delta)
        if entry.kind == "grant":
            after = replace(after, last_grant=entry.amount)
        after = after.with_low_flag(before)
        if not await ledger.apply(conn, after, entry):
            return None
        self.metrics.credits.labels(entry.kind).inc(abs(entry.amount))
        if after.crossed_low(before):
            await add_event(conn, credits_low_event(after))
            self.metrics.low.inc()
        return after

    # -- grants and adjustments ----------------------------------------------------------------

    async def grant(
        self, conn: Any, account_id: str, amount: int, *, key: str, reference: str = ""
    ) -> bool:
        """Add ``amount`` available credits once per (account, ``key``); False if done before."""
        if amount <= 0:
            raise InvalidArgument.field("amount", "must be a positive number of credits")
        before = await ledger.lock(conn, account_id)
        entry = Entry("grant", amount, amount, 0, grant_key=key, reference=reference)
        return await self._move(conn, before, entry) is not None

    async def adjust(self, conn: Any, account_id: str, amount: int, reason: str) -> Balance:
        """An operator's correction of available credits (signed; never below zero)."""
        if amount == 0:
            raise InvalidArgument.field("amount", "must not be zero")
        before = await ledger.lock(conn, account_id)
        if before.available + amount < 0:
            raise FailedPrecondition(
                f"the account has {before.available} credits available; cannot remove {-amount}"
            )
        after = await self._move(conn, before, Entry("adjust", amount, amount, 0, reference=reason))
        assert after is not None
        return after

    # -- reservations --------------------------------------------------------------------------

    async def reserve(
        self, conn: Any, account_id: str, amount: int, reference: str, ttl: timedelta
    ) -> Reserved:
        """Hold ``amount`` credits; FAILED_PRECONDITION naming the credits missing."""
        if amount <= 0:
            raise InvalidArgument.field("amount", "must be a positive number of credits")
        before = await ledger.lock(conn, account_id)
        missing = shortfall(before, amount)
        if missing:
            self.metrics.reservations.labels("refused").inc()
            raise FailedPrecondition(
                f"not enough credits: {amount} requested, {before.available} available,"
                f" {missing} missing",
                [("CREDITS_INSUFFICIENT", "credits", f"{missing} credits missing")],
            )
        reservation = Reservation(new_id(), account_id, amount, 0, 0, reference, "open")
        expires_at = datetime.now(UTC) + ttl
        await reservations.insert(conn, reservation, expires_at)
        entry = Entry(
            "reserve", amount, -amount, amount, reservation.reservation_id, reference=reference
        )
        after = await self._move(conn, before, entry)
        assert after is not None
        self.metrics.reservations.labels("reserved").inc()
        return Reserved(reservation, expires_at, after)

    async def _locked(
        self, conn: Any, account_id: str, reservation_id: str
    ) -> tuple[Balance, Reservation]:
        balance = await ledger.lock(conn, account_id)
        found = await reservations.get(conn, account_id, reservation_id, lock=True)
        if found is None:
            raise NotFound("reservation not found")
        return balance, found

    async def commit(self, conn: Any, account_id: str, reservation_id: str, amount: int) -> Settled:
        """Spend ``amount`` of the reservation and release the rest (it is then closed)."""
        before, found = await self._locked(conn, account_id, reservation_id)
        if found.status == "closed":
            raise FailedPrecondition(
                "the reservation is closed (committed, released or expired)",
                [("RESERVATION_CLOSED", "reservation_id", "reserve again")],
            )
        if amount <= 0:
            raise InvalidArgument.field("amount", "must be a positive number of credits")
        if amount > found.held:
            raise InvalidArgument.field(
                "amount", f"is more than the {found.held} credits the reservation still holds"
            )
        rest = found.held - amount
        balance = before
        entries = [Entry("commit", amount, 0, -amount, reservation_id, reference=found.reference)]
        if rest:
            entries.append(
                Entry("release", rest, rest, -rest, reservation_id, reference=found.reference)
            )
        for entry in entries:
            moved = await self._move(conn, balance, entry)
            assert moved is not None
            balance = moved
        committed, released = found.committed + amount, found.released + rest
        closed = replace(found, committed=committed, released=released, status="closed")
        await reservations.save(conn, closed)
        return Settled(amount, rest, balance)

    async def release(
        self, conn: Any, account_id: str, reservation_id: str, *, kind: str = "release"
    ) -> Settled:
        """Give the reservation's held credits back (``kind`` release or expire)."""
        before, found = await self._locked(conn, account_id, reservation_id)
        if found.status == "closed":
            raise FailedPrecondition(
                "the reservation is closed (committed, released or expired)",
                [("RESERVATION_CLOSED", "reservation_id", "nothing is held")],
            )
        balance = await self._release_part(conn, before, found, found.held, kind)
        return Settled(0, found.held, balance)

    async def _release_part(
        self,
        conn: Any,
        before: Balance,
        found: Reservation,
        amount: int,
        kind: str,
        *,
        pending: str = "",
    ) -> Balance:
        entry = Entry(
            kind, amount, amount, -amount, found.reservation_id, reference=found.reference
        )
        after = await self._move(conn, before, entry)
        assert after is not None
        released = found.released + amount
        status = pending or found.status
        if found.committed + released == found.amount:
            status = "closed"
        await reservations.save(conn, replace(found, released=released, status=status))
        return after

    # -- what events do ------------------------------------------------------------------------

    async def commit_message(
        self, conn: Any, account_id: str, reservation_id: str, message_id: str
    ) -> str:
        """One credit for one sent message, once per message id. Returns what happened:
        ``committed`` (from its reservation), ``charged`` (the reservation had nothing left:
        from available credits), ``duplicate``, ``unknown`` (no such reservation) or
        ``uncovered`` (nothing could pay; counted and logged)."""
        before = await ledger.lock(conn, account_id)
        if await ledger.has_message(conn, account_id, message_id):
            return "duplicate"
        found = await reservations.get(conn, account_id, reservation_id, lock=True)
        if found is None:
            log.warning(
                "sent message names an unknown reservation",
                extra={"account_id": account_id, "reservation_id": reservation_id},
            )
            return "unknown"
        if found.held > 0:
            entry = Entry("commit", 1, 0, -1, reservation_id, message_id, reference=found.reference)
            await self._move(conn, before, entry)
            committed = found.committed + 1
            status = "closed" if committed + found.released == found.amount else found.status
            await reservations.save(conn, replace(found, committed=committed, status=status))
            return "committed"
        if before.available >= 1:
            entry = Entry("commit", 1, -1, 0, reservation_id, message_id, reference=found.reference)
            await self._move(conn, before, entry)
            return "charged"
        self.metrics.uncovered.inc()
        log.warning(
            "a sent message could not be paid for",
            extra={"account_id": account_id, "reservation_id": reservation_id},
        )
        return "uncovered"

    async def settle_reference(
        self, conn: Any, account_id: str, reference: str, sent_count: int
    ) -> int:
        """A campaign ended having sent ``sent_count`` messages: release what its reservations
        hold beyond the sends not yet committed here (their events are still on their way;
        what stays held waits for them, then expires). Returns the credits released."""
        balance = await ledger.lock(conn, account_id)
        held = await reservations.unclosed_for_reference(conn, account_id, reference)
        committed = await reservations.committed_for_reference(conn, account_id, reference)
        total = 0
        for reservation, release in settle_plan(held, sent_count - committed):
            if release:
                balance = await self._release_part(
                    conn, balance, reservation, release, "release", pending="settling"
                )
                total += release
            elif reservation.status == "open":
                await reservations.save(conn, replace(reservation, status="settling"))
        return total

    async def expire(self, conn: Any, account_id: str, reservation_id: str) -> int:
        """Release an expired reservation (ledger kind ``expire``); 0 if it closed meanwhile."""
        before, found = await self._locked(conn, account_id, reservation_id)
        if found.status == "closed":
            return 0
        await self._release_part(conn, before, found, found.held, "expire")
        return found.held
