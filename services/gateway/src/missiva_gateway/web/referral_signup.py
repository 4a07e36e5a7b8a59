"""A referral code from ``/r/<code>`` (``referrals.py``) through sign-up to billing.

The link leads to ``/signup?ref=<code>``; the sign-up form carries the code in a hidden
field. Billing's ``RedeemReferralCode`` must be called by the new account's admin, who has
no session until the address is confirmed and they sign in, so a successful sign-up leaves
one httpOnly cookie (``missiva_referral``: the code and the new account's id, 30 days, no
personal data), and the first sign-in into *that* account redeems it and removes it. A
sign-in into another account leaves it alone; billing's refusal (unknown or own code,
already referred or paying) ends it too, as there is nothing left to do; billing out of reach
keeps it for the next sign-in.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import grpc
from litestar import Request
from litestar.datastructures import Cookie

from missiva.billing.v1 import billing_service_pb2 as bpb
from missiva.billing.v1 import billing_service_pb2_grpc

log = logging.getLogger(__name__)

COOKIE = "missiva_referral"
MAX_AGE = 30 * 86400
_CODE = re.compile(r"^[A-Za-z0-9]{4,32}$")  # as referrals.py accepts in /r/<code>
_VALUE = re.compile(r"^([A-Za-z0-9]{4,32})\.([A-Za-z0-9-]{1,64})$")
_RETRY_LATER = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def referral_code(value: str) -> str:
    """``value`` when it has the shape of a referral code, else ""."""
    value = (value or "").strip()
    return value if _CODE.match(value) else ""


def _queue(request: Request[Any, Any, Any], value: str, max_age: int) -> None:
    state = request.scope.setdefault("state", {})
    state.setdefault("set_cookies", []).append(
        Cookie(
            key=COOKIE,
            value=value,
            max_age=max_age,
            path="/",
            httponly=True,
            secure=bool(state.get("https")),
            samesite="lax",
        )
    )


def remember(request: Request[Any, Any, Any], code: str, account_id: str) -> None:
    """After a sign-up with ``code``: keep it for the new account's first sign-in."""
    if referral_code(code) and account_id:
        _queue(request, f"{code}.{account_id}", MAX_AGE)


async def redeem(request: Request[Any, Any, Any], web: Any, session: Any, account: Any) -> None:
    """On a sign-in: redeem the remembered code if it is for the account signed into."""
    found = _VALUE.match(request.cookies.get(COOKIE, ""))
    if found is None:
        if COOKIE in request.cookies:
            _queue(request, "", 0)
        return
    code, account_id = found.groups()
    if account is None or account.account.account_id != account_id:
        return
    stub = billing_service_pb2_grpc.BillingServiceStub(web.backends.channel("billing"))
    try:
        await stub.RedeemReferralCode(
            bpb.RedeemReferralCodeRequest(code=code),
            metadata=session.metadata,
            timeout=web.timeout,
        )
        log.info("referral redeemed at sign-in")
    except grpc.aio.AioRpcError as exc:
        if exc.code() in _RETRY_LATER:
            log.warning("referral not redeemed yet: billing %s", exc.code().name)
            return
        log.info("referral refused by billing: %s", exc.code().name)
    _queue(request, "", 0)
