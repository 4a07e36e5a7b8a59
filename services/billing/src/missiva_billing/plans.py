"""The plan catalogue: ``plans.toml`` beside this module, read and checked once.

A bad catalogue is a programming error caught at import (and by the tests), never at a
customer's request: ids unique and lower-case, exactly one free plan (no interval, no price),
paid plans monthly or yearly with a positive price, credits and contact limit.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CATALOGUE = Path(__file__).with_name("plans.toml")
FREE_PLAN_ID = "free"
INTERVALS = ("none", "monthly", "yearly")
CURRENCY = "EUR"
_ID = re.compile(r"[a-z][a-z0-9-]{1,39}")


@dataclass(frozen=True)
class Plan:
    plan_id: str
    name: str
    description: str
    interval: str  # none | monthly | yearly
    price_cents: int  # euro cents per interval, VAT apart
    included_credits: int  # per interval; the free tier's once
    contact_limit: int
    trial_days: int
    features: tuple[str, ...]


class CatalogueError(ValueError):
    pass


def _plan(raw: dict[str, Any]) -> Plan:
    try:
        plan = Plan(
            plan_id=str(raw["id"]),
            name=str(raw["name"]),
            description=str(raw.get("description", "")),
            interval=str(raw["interval"]),
            price_cents=int(raw["price_cents"]),
            included_credits=int(raw["included_credits"]),
            contact_limit=int(raw["contact_limit"]),
            trial_days=int(raw.get("trial_days", 0)),
            features=tuple(str(f) for f in raw.get("features", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogueError(f"plan {raw.get('id', '?')}: {exc!r}") from None
    problems = []
    if not _ID.fullmatch(plan.plan_id):
        problems.append("id must be lower-case letters, digits and dashes")
    if plan.interval not in INTERVALS:
        problems.append(f"interval must be one of {', '.join(INTERVALS)}")
    if plan.contact_limit <= 0 or plan.included_credits <= 0:
        problems.append("contact_limit and included_credits must be positive")
    if plan.interval == "none" and (plan.price_cents or plan.trial_days):
        problems.append("a plan without interval is free and has no trial")
    if plan.interval != "none" and plan.price_cents <= 0:
        problems.append("a paid plan needs a positive price")
    if not 0 <= plan.trial_days <= 90:
        problems.append("trial_days must be between 0 and 90")
    if problems:
        raise CatalogueError(f"plan {plan.plan_id}: {'; '.join(problems)}")
    return plan


def parse(text: str) -> tuple[Plan, ...]:
    """The plans of a catalogue document, in its order; ``CatalogueError`` when it is bad."""
    plans = tuple(_plan(raw) for raw in tomllib.loads(text).get("plans", []))
    ids = [p.plan_id for p in plans]
    if len(set(ids)) != len(ids):
        raise CatalogueError("plan ids must be unique")
    free = [p for p in plans if p.interval == "none"]
    if [p.plan_id for p in free] != [FREE_PLAN_ID]:
        raise CatalogueError(f"exactly one free plan, with id {FREE_PLAN_ID!r}")
    return plans


@cache
def catalogue() -> tuple[Plan, ...]:
    return parse(CATALOGUE.read_text(encoding="utf-8"))


def free_plan() -> Plan:
    return next(p for p in catalogue() if p.plan_id == FREE_PLAN_ID)
