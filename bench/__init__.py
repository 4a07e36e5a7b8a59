"""Benchmarks: every ``bench/bench_*.py`` module exposes ``run() -> list[Result]``.

``python -m bench`` (``make bench``) runs them all and writes ``docs/benchmarks.md``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """One measurement and the baseline it is compared with (measured in the same run)."""

    name: str
    value: float
    unit: str
    baseline_name: str = ""
    baseline_value: float | None = None
    higher_is_better: bool = True
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """``value / baseline_value``: above 1 means more of the unit than the baseline."""
        if not self.baseline_value:
            return None
        return self.value / self.baseline_value
