"""Credit rules without the database: the low-balance flag and settling a finished campaign."""

from __future__ import annotations

import pytest

from missiva_billing.domain import Balance, Reservation, settle_plan, shortfall


def test_the_warning_fires_at_ten_percent_of_the_last_grant_once_per_crossing():
    full = Balance("a", available=100, last_grant=500)
    at = full.moved(available=-50)  # 50 = 10% of 500
    assert at.crossed_low(full)
    flagged = at.with_low_flag(full)
    assert flagged.low_notified
    lower = flagged.moved(available=-10)
    assert not lower.crossed_low(flagged)  # still below: no second warning
    above = lower.moved(available=20).with_low_flag(lower)  # 60: re-armed
    assert not above.low_notified
    assert above.moved(available=-20).crossed_low(above)


def test_no_warning_without_a_grant_or_above_the_threshold():
    assert not Balance("a").moved(available=0).crossed_low(Balance("a"))
    rich = Balance("a", available=500, last_grant=500)
    assert not rich.moved(available=-449).crossed_low(rich)


def test_credits_never_go_negative():
    with pytest.raises(ValueError, match="negative"):
        Balance("a", available=5).moved(available=-6)
    assert shortfall(Balance("a", available=5), 8) == 3
    assert shortfall(Balance("a", available=5), 5) == 0


def _r(rid: str, amount: int, committed: int = 0, released: int = 0) -> Reservation:
    return Reservation(rid, "a", amount, committed, released, "campaign:c", "open")


def test_settling_keeps_the_expected_sends_in_the_oldest_reservations():
    plan = settle_plan([_r("1", 10, committed=4), _r("2", 10), _r("3", 5)], still_expected=8)
    assert [(r.reservation_id, release) for r, release in plan] == [("1", 0), ("2", 8), ("3", 5)]


def test_settling_with_everything_committed_releases_all_that_is_held():
    plan = settle_plan([_r("1", 10, committed=3, released=2)], still_expected=-4)
    assert [(r.reservation_id, release) for r, release in plan] == [("1", 5)]
