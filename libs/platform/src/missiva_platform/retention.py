"""Retention rules as data, and the runner that enforces them.

A service lists its rules in ``retention.py``; ``python -m missiva_<svc> retention`` (a CronJob
in Kubernetes) applies them. ``now`` is a parameter everywhere so tests can travel in time.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from missiva_platform import metrics

log = logging.getLogger(__name__)


class Action(enum.Enum):
    DELETE = "delete"
    ANONYMISE = "anonymise"
    CUSTOM = "custom"


CustomAction = Callable[[psycopg.AsyncConnection, datetime], Awaitable[int]]


@dataclass(frozen=True)
class RetentionRule:
    """Rows of ``table`` whose ``time_column`` is older than ``max_age`` get ``action``.

    ``anonymise`` maps columns to the SQL expression that replaces them (``None`` → NULL);
    ``where`` narrows the rule with a static SQL condition (never user input); ``custom`` is an
    async function (conn, cutoff) → rows affected, for ``Action.CUSTOM``.
    """

    table: str
    time_column: str
    max_age: timedelta
    action: Action = Action.DELETE
    why: str = ""
    anonymise: Mapping[str, str | None] = field(default_factory=dict)
    where: str | None = None
    custom: CustomAction | None = None
    batch_size: int = 5000

    @property
    def name(self) -> str:
        return f"{self.table}.{self.action.value}"

    def __post_init__(self) -> None:
        if self.action is Action.ANONYMISE and not self.anonymise:
            raise ValueError(f"{self.table}: an anonymise rule needs columns to anonymise")
        if self.action is Action.CUSTOM and self.custom is None:
            raise ValueError(f"{self.table}: a custom rule needs a custom function")


def _cutoff_filter(rule: RetentionRule, cutoff: datetime) -> tuple[sql.Composable, list[object]]:
    condition: sql.Composable = sql.SQL("{} < %s").format(sql.Identifier(rule.time_column))
    if rule.where:
        condition = sql.SQL("{} AND ({})").format(condition, sql.SQL(rule.where))  # type: ignore[arg-type]
    return condition, [cutoff]


async def apply_rule(conn: psycopg.AsyncConnection, rule: RetentionRule, now: datetime) -> int:
    """Apply one rule in batches, committing each; return the rows affected."""
    cutoff = now - rule.max_age
    if rule.action is Action.CUSTOM:
        assert rule.custom is not None
        async with conn.transaction():
            return await rule.custom(conn, cutoff)
    condition, params = _cutoff_filter(rule, cutoff)
    table = sql.Identifier(rule.table)
    if rule.action is Action.DELETE:
        statement = sql.SQL(
            "DELETE FROM {t} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {t} WHERE {c} LIMIT {n}))"
        ).format(t=table, c=condition, n=sql.Literal(rule.batch_size))
    else:
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(
                sql.Identifier(column),
                sql.SQL(expr) if expr else sql.SQL("NULL"),  # type: ignore[arg-type]
            )
            for column, expr in rule.anonymise.items()
        )
        # Rows already anonymised must not match again, or the loop would never end.
        not_done = sql.SQL(" OR ").join(
            sql.SQL("{} IS NOT NULL").format(sql.Identifier(column))
            if expr is None
            else sql.SQL("{} IS DISTINCT FROM {}").format(sql.Identifier(column), sql.SQL(expr))  # type: ignore[arg-type]
            for column, expr in rule.anonymise.items()
        )
        statement = sql.SQL(
            "UPDATE {t} SET {a} WHERE ctid = ANY(ARRAY("
            "SELECT ctid FROM {t} WHERE {c} AND ({d}) LIMIT {n}))"
        ).format(t=table, a=assignments, c=condition, d=not_done, n=sql.Literal(rule.batch_size))
    total = 0
    while True:
        async with conn.transaction():
            cur = await conn.execute(statement, params)
            affected = cur.rowcount
        total += affected
        if affected < rule.batch_size:
            return total


async def run_retention(
    url: str, rules: Sequence[RetentionRule], *, now: datetime | None = None
) -> dict[str, int]:
    """Apply every rule at ``now`` (default: the real now); return rows affected by rule."""
    now = now or datetime.now(UTC)
    counter = metrics.counter(
        "retention_rows_total", "rows deleted or anonymised by retention", ("rule",)
    )
    results: dict[str, int] = {}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for rule in rules:
            affected = await apply_rule(conn, rule, now)
            results[rule.name] = affected
            counter.labels(rule.name).inc(affected)
            log.info("retention applied", extra={"rule": rule.name, "rows": affected})
    return results


def travel(days: float = 0, **kwargs: float) -> datetime:
    """Test helper: a ``now`` that lies ``days`` (and/or hours=, minutes=) in the future."""
    return datetime.now(UTC) + timedelta(days=days, **kwargs)


KIT_RULES: tuple[RetentionRule, ...] = (
    # Longer than any redelivery horizon, so a late duplicate is still recognised.
    RetentionRule(
        table="kit_inbox",
        time_column="processed_at",
        max_age=timedelta(days=14),
        why="processed event ids are needed only while JetStream may redeliver",
    ),
    RetentionRule(
        table="kit_privacy_answers",
        time_column="answered_at",
        max_age=timedelta(days=90),
        why="request ids of answered privacy commands; commands expire after 7 days",
    ),
    RetentionRule(
        table="kit_aggregate_versions",
        time_column="applied_at",
        max_age=timedelta(days=45),
        why="an older event of the aggregate can no longer arrive: event streams keep 30 days",
    ),
    RetentionRule(
        table="kit_idempotency",
        time_column="created_at",
        max_age=timedelta(hours=24),
        why="a client retries a call within minutes; a day is generous",
    ),
)
