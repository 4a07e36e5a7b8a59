"""ListPlans: the catalogue of ``plans.toml``, in its order, in pages."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva.common.v1 import types_pb2
from missiva_billing.plans import CURRENCY, Plan, catalogue
from missiva_platform.errors import InvalidArgument

DEFAULT_PAGE = 50
MAX_PAGE = 100
_INTERVALS = {
    "none": pb.BILLING_INTERVAL_NONE,
    "monthly": pb.BILLING_INTERVAL_MONTHLY,
    "yearly": pb.BILLING_INTERVAL_YEARLY,
}


def plan_pb(plan: Plan) -> pb.Plan:
    units, cents = divmod(plan.price_cents, 100)
    return pb.Plan(
        plan_id=plan.plan_id,
        name=plan.name,
        description=plan.description,
        price=types_pb2.Money(currency_code=CURRENCY, units=units, nanos=cents * 10_000_000),
        interval=_INTERVALS[plan.interval],
        included_credits=plan.included_credits,
        trial_days=plan.trial_days,
        features=list(plan.features),
        contact_limit=plan.contact_limit,
    )


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"plans:{offset}".encode()).decode().rstrip("=")


def _offset(token: str) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "plans" or not number.isdigit():
            raise ValueError(text)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument.field("page_token", "is not a token from ListPlans") from None


class PlanRpcs:
    async def ListPlans(self, request: pb.ListPlansRequest, context: Any) -> pb.ListPlansResponse:
        if request.page_size < 0:
            raise InvalidArgument.field("page_size", "must not be negative")
        size = min(request.page_size or DEFAULT_PAGE, MAX_PAGE)
        start = _offset(request.page_token)
        plans = catalogue()
        page = plans[start : start + size]
        following = start + size
        return pb.ListPlansResponse(
            plans=[plan_pb(p) for p in page],
            next_page_token=_token(following) if following < len(plans) else "",
        )
