"""Link tokens: what an unsubscribe, preference, confirmation or my-data link speaks for,
and the mails that carry such links (commands to delivery: a link is a secret, never an event)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from missiva.delivery.v1 import events_pb2 as delivery_events
from missiva_consent.domain import CATEGORY_PB, fmt_time
from missiva_platform.errors import InvalidArgument

# --------------------------------------------------------------------------- link tokens

UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"
CONFIRM = "confirm"
# A my-data link speaks for the data subject (opens and follows their privacy requests). It
# is only ever mailed to the address (SendMyDataLink), never handed to a caller: an account
# that asks for a person's preferences token is not that person.
MY_DATA = "my_data"
MY_DATA_LIFETIME = timedelta(hours=24)
MY_DATA_TEMPLATE = "consent.my_data_link"
ALL_BUT_SYSTEM = "*"


@dataclass(frozen=True)
class LinkScope:
    """What an unsubscribe or preference token is about."""

    account_id: str
    person_key: str
    purpose_id: str = ALL_BUT_SYSTEM
    campaign_id: str = ""

    def claims(self) -> dict[str, str]:
        claims = {"a": self.account_id, "k": self.person_key}
        if self.purpose_id:
            claims["u"] = self.purpose_id
        if self.campaign_id:
            claims["c"] = self.campaign_id
        return claims

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> LinkScope:
        account, person = claims.get("a"), claims.get("k")
        if not isinstance(account, str) or not isinstance(person, str) or not account:
            raise InvalidArgument.field("token", "this link is not valid")
        return cls(
            account_id=account,
            person_key=person,
            purpose_id=str(claims.get("u", ALL_BUT_SYSTEM)),
            campaign_id=str(claims.get("c", "")),
        )


TOKEN_MESSAGES = {
    "expired": "this link has expired",
    "malformed": "this link is not valid (it may have been cut or changed)",
    "bad_signature": "this link is not valid (it may have been cut or changed)",
    "unknown_key": "this link is no longer valid",
    "wrong_purpose": "this link is not meant for this page",
}


# --------------------------------------------------------------------------- double opt-in


def confirmation_command(
    *,
    confirmation_id: str,
    account_id: str,
    person_key: str,
    email: str,
    name: str,
    locale: str,
    sends: int,
    url: str,
    token: str,
    purposes: list[str],
    expires: datetime,
) -> delivery_events.SendTransactionalCommand:
    """The confirmation email, as a command to delivery (its link is a secret: never an
    event). The idempotency key changes with each send, so a resend is a new email."""
    return delivery_events.SendTransactionalCommand(
        idempotency_key=f"consent-doi:{confirmation_id}:{sends}",
        template_key="consent.confirm_subscription",
        to_address=email,
        to_name=name,
        locale=locale or "en",
        variables={
            "confirm_url": url,
            "confirm_token": token,
            "purposes": ", ".join(purposes),
            "account_id": account_id,
            "expires_at": fmt_time(expires),
        },
        category=CATEGORY_PB["system"],
        person_key=person_key,
        requested_by="consent",
    )


def my_data_command(
    *, account_id: str, person_key: str, email: str, url: str, token: str, expires: datetime
) -> delivery_events.SendTransactionalCommand:
    """The my-data link mail, as a command to delivery (its link is a secret: never an event).
    One a day per person and account: asking again the same day sends nothing more."""
    return delivery_events.SendTransactionalCommand(
        idempotency_key=f"consent-my-data:{account_id}:{person_key}:{expires.date().isoformat()}",
        template_key=MY_DATA_TEMPLATE,
        to_address=email,
        locale="en",
        variables={
            "my_data_url": url,
            "my_data_token": token,
            "account_id": account_id,
            "expires_at": fmt_time(expires),
        },
        category=CATEGORY_PB["system"],
        person_key=person_key,
        requested_by="consent",
    )
