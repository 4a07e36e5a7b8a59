"""Referrals: a code per account, shared as the public link ``/r/<code>`` (the gateway).

- **Code**: ``GetReferralCode`` makes the account's code on first call: 10 characters of an
  alphabet without look-alikes (no 0/O, 1/I/L), drawn with ``secrets``.
- **Link at sign-up**: the gateway's ``/r/<code>`` logs the click and redirects to the sign-up
  page with ``?ref=<code>``; once the account exists, the sign-up page calls
  ``RedeemReferralCode`` with it, as the new account's admin. We chose an RPC over identity's
  account-created event: identity would have to carry a billing concept, and the code reaches
  the page that signs up anyway. A code is redeemed once per account, never the account's own,
  and not after the account has paid anything (a reward is for bringing a new customer).
- **Reward**: the first time an invoice of the referred account is paid (a bank transfer
  marked paid, or Stripe's ``invoice.paid``), both accounts get the reward credits
  (``REFERRAL_REWARD_CREDITS``, fixed for a referral when it is linked), each grant keyed by
  the referred account: once, whatever is paid later or replayed.
- **Clicks** (``RecordReferralClick``, the gateway only): the time, the referring page
  without its query or fragment (nor user info), the user agent (at most 512 characters) and
  the kit's salted hash of the visitor's /24 (IPv4) or /64 (IPv6) network; no cookie is set.
  An unknown code logs nothing. Deleted after 180 days (``retention.py``).
"""

from __future__ import annotations

import logging
import re
import secrets
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from missiva_billing.core import Credits
from missiva_billing.store import invoices, referrals
from missiva_platform.crypto import IpPseudonymiser
from missiva_platform.errors import FailedPrecondition, InvalidArgument

log = logging.getLogger(__name__)

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10
_CODE = re.compile(rf"^[{ALPHABET}]{{{CODE_LENGTH}}}$")
MAX_REFERRER = 500
MAX_USER_AGENT = 512


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def valid_code(field: str, text: str) -> str:
    code = text.strip().upper()
    if not code:
        raise InvalidArgument.field(field, "is required")
    if not _CODE.fullmatch(code):
        raise InvalidArgument.field(field, f"is not a referral code ({CODE_LENGTH} characters)")
    return code


def clean_referrer(text: str) -> str:
    """The referring page without query, fragment or user info; "" unless http(s)."""
    try:
        parts = urllib.parse.urlsplit(text.strip())
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.hostname
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return ""
    netloc = f"{host}:{port}" if port else host
    cleaned = urllib.parse.urlunsplit((parts.scheme.lower(), netloc, parts.path, "", ""))
    return cleaned[:MAX_REFERRER]


class Referrals:
    def __init__(self, credits: Credits, pseudonymiser: IpPseudonymiser | None) -> None:
        self.credits = credits
        self.pseudonymiser = pseudonymiser

    async def code(self, conn: Any, account_id: str) -> str:
        found = await referrals.code_of(conn, account_id)
        while found is None:
            found = await referrals.add_code(conn, account_id, new_code())
        return found

    async def redeem(self, conn: Any, account_id: str, code: str, reward: int) -> None:
        referrer = await referrals.owner_of(conn, code)
        if referrer is None:
            raise InvalidArgument.field("code", "is not a referral code of ours")
        if referrer == account_id:
            raise InvalidArgument.field("code", "is this account's own code")
        if await invoices.has_paid(conn, account_id):
            raise FailedPrecondition(
                "this account has already paid: a referral is for a new customer",
                [("ALREADY_CUSTOMER", "code", "redeem a code before the first payment")],
            )
        existing = await referrals.of_referee(conn, account_id)
        if existing is not None:
            if existing.code == code:
                return  # redeemed again with the same code: nothing changes
            raise FailedPrecondition(
                "this account was already referred with another code",
                [("ALREADY_REFERRED", "code", "a referral is linked once")],
            )
        await referrals.link(conn, account_id, referrer, code, reward)

    async def click(
        self, conn: Any, code: str, *, referrer: str, user_agent: str, ip: str,
        now: datetime | None = None,
    ) -> bool:  # fmt: skip
        if await referrals.owner_of(conn, code) is None:
            return False
        moment = now or datetime.now(UTC)
        network = ""
        if ip and self.pseudonymiser is not None:
            try:
                network = self.pseudonymiser.hash_network(ip, at=moment)
            except (ValueError, KeyError) as exc:  # not an address, or no salt for the year
                log.warning("referral click without a network hash: %s", type(exc).__name__)
        await referrals.add_click(
            conn, code, moment, clean_referrer(referrer), user_agent[:MAX_USER_AGENT], network
        )
        return True


async def reward_paid(conn: Any, account_id: str, now: datetime | None = None) -> bool:
    """An invoice of ``account_id`` was paid: reward its referral the first time (both
    sides); True when this call rewarded it."""
    found = await referrals.of_referee(conn, account_id, lock=True)
    if found is None or found.rewarded_at is not None:
        return False
    key = f"referral:{found.referee_account_id}"
    credits = Credits()
    if found.reward_credits > 0:
        for account in (found.referee_account_id, found.referrer_account_id):
            await credits.grant(conn, account, found.reward_credits, key=key, reference="referral")
    await referrals.mark_rewarded(conn, account_id, now or datetime.now(UTC))
    log.info("referral rewarded", extra={"account_id": account_id})
    return True
