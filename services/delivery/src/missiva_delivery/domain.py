"""Delivery's rules, without I/O: message states, what an SMTP reply means, retry timing,
who may be mailed, and the checks on a transactional send."""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from missiva.common.v1 import types_pb2
from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva_platform.errors import InvalidArgument


class Status(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


FINAL = frozenset(
    {Status.SENT, Status.FAILED, Status.SUPPRESSED, Status.BOUNCED, Status.COMPLAINED}
)

STATUS_PB: dict[Status, int] = {
    Status.QUEUED: pb.MESSAGE_STATUS_QUEUED,
    Status.SENDING: pb.MESSAGE_STATUS_SENDING,
    Status.SENT: pb.MESSAGE_STATUS_SENT,
    Status.DEFERRED: pb.MESSAGE_STATUS_DEFERRED,
    Status.FAILED: pb.MESSAGE_STATUS_FAILED,
    Status.SUPPRESSED: pb.MESSAGE_STATUS_SUPPRESSED,
    Status.BOUNCED: pb.MESSAGE_STATUS_BOUNCED,
    Status.COMPLAINED: pb.MESSAGE_STATUS_COMPLAINED,
}

BOUNCE_PB = {
    "hard": pb.BOUNCE_TYPE_HARD,
    "soft": pb.BOUNCE_TYPE_SOFT,
    "blocked": pb.BOUNCE_TYPE_BLOCKED,
}

SYSTEM = types_pb2.EMAIL_CATEGORY_SYSTEM
LANE_TRANSACTIONAL = "transactional"
# Lower is sent first: SYSTEM mail (a verification link someone is waiting for) goes before
# other transactional mail, which goes before campaign mail.
PRIORITY_SYSTEM = 0
PRIORITY_TRANSACTIONAL = 10

MAX_KEY = 128
MAX_TEMPLATE_KEY = 100
MAX_NAME = 200
MAX_VARIABLES = 50
MAX_VARIABLE_VALUE = 4000
_TEMPLATE_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_PERSON_KEY = re.compile(r"^[0-9a-f]{64}$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
# Local part and domain: enough to refuse what no server would accept; the full check is
# the sending server's.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"^[^@\s<>()\[\],;:\"\\]+@{_LABEL}(?:\.{_LABEL})+$")


@dataclass(frozen=True)
class SendRequest:
    """A validated transactional send (from the RPC or the command)."""

    idempotency_key: str
    template_key: str
    to_address: str
    to_name: str
    locale: str
    variables: dict[str, str]
    category: int
    person_key: str
    requested_by: str = ""

    @property
    def priority(self) -> int:
        return PRIORITY_SYSTEM if self.category == SYSTEM else PRIORITY_TRANSACTIONAL


def _check_header_text(field: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidArgument.field(field, f"at most {limit} characters")
    if any(c in value for c in "\r\n\0"):
        raise InvalidArgument.field(field, "may not contain line breaks")
    return value.strip()


def valid_send(
    *,
    idempotency_key: str,
    template_key: str,
    to_address: str,
    to_name: str,
    locale: str,
    variables: Mapping[str, str],
    category: int,
    person_key: str,
    requested_by: str = "",
) -> SendRequest:
    """Check a send; ``InvalidArgument`` names the first field that is wrong."""
    if not idempotency_key:
        raise InvalidArgument.field("idempotency_key", "is required")
    if len(idempotency_key) > MAX_KEY:
        raise InvalidArgument.field("idempotency_key", f"at most {MAX_KEY} characters")
    if not template_key:
        raise InvalidArgument.field("template_key", "is required")
    if len(template_key) > MAX_TEMPLATE_KEY or not _TEMPLATE_KEY.fullmatch(template_key):
        raise InvalidArgument.field("template_key", "must look like service.template_name")
    address = to_address.strip()
    if not address:
        raise InvalidArgument.field("to_address", "is required")
    if len(address) > 254 or not _ADDRESS.fullmatch(address):
        raise InvalidArgument.field("to_address", "is not an email address")
    name = _check_header_text("to_name", to_name, MAX_NAME)
    if locale and not _LOCALE.fullmatch(locale):
        raise InvalidArgument.field("locale", "must be a BCP 47 language tag such as en or it-IT")
    if category not in types_pb2.EmailCategory.values() or category == 0:
        raise InvalidArgument.field("category", "is required (SYSTEM for transactional mail)")
    if not _PERSON_KEY.fullmatch(person_key):
        raise InvalidArgument.field("person_key", "must be the 64-hex keyed hash of the address")
    if len(variables) > MAX_VARIABLES:
        raise InvalidArgument.field("variables", f"at most {MAX_VARIABLES} variables")
    for key, value in variables.items():
        if not _VARIABLE_NAME.fullmatch(key):
            raise InvalidArgument.field(f"variables[{key[:64]}]", "is not a variable name")
        if len(value) > MAX_VARIABLE_VALUE:
            raise InvalidArgument.field(f"variables[{key}]", "is too long")
    return SendRequest(
        idempotency_key=idempotency_key,
        template_key=template_key,
        to_address=address,
        to_name=name,
        locale=locale or "en",
        variables=dict(variables),
        category=category,
        person_key=person_key,
        requested_by=requested_by[:64],
    )


def is_address(address: str) -> bool:
    return len(address) <= 254 and _ADDRESS.fullmatch(address) is not None


def is_person_key(value: str) -> bool:
    return _PERSON_KEY.fullmatch(value) is not None


def new_message_id() -> str:
    return str(uuid.uuid4())


def rfc822_message_id(message_id: str, domain: str) -> str:
    """The Message-ID header of a ledger row; fixed when the row is made, so a resend after a
    crash carries the same one."""
    return f"<{message_id}@{domain}>"


# -- suppression --------------------------------------------------------------------------


def suppressed_by(reason: str | None, category: int) -> bool:
    """Whether a suppression entry stops mail of ``category``. SYSTEM mail (verification,
    reset, legal notices) is not stopped by an opt-out or a complaint, only by a hard bounce:
    the address does not exist."""
    if reason is None:
        return False
    if category == SYSTEM:
        return reason == "hard_bounce"
    return True


# -- SMTP outcomes ------------------------------------------------------------------------


class Outcome(enum.Enum):
    SENT = "sent"
    DEFER = "defer"  # try again later
    HARD_BOUNCE = "hard_bounce"  # the address is bad: suppress it
    FAILED = "failed"  # refused for good, but not because of the address


_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


def enhanced_code(reply: str) -> str:
    """The RFC 3463 enhanced status code in ``reply`` (``"5.1.1"``), or ``""``."""
    found = _ENHANCED.search(reply)
    return found.group(0) if found else ""


def classify_reply(code: int, reply: str) -> Outcome:
    """What an SMTP reply to RCPT or DATA means for the message.

    2xx sent; 4xx defer; 5.1.x (no such user or domain) and 5.2.1 (disabled mailbox) are hard
    bounces that suppress the address; other 5xx (policy or content blocks 5.7.x, message
    too big 5.3.4 ...) fail the message without suppressing it.
    """
    if 200 <= code < 300:
        return Outcome.SENT
    if 400 <= code < 500:
        return Outcome.DEFER
    enhanced = enhanced_code(reply)
    if enhanced.startswith("5.1.") or enhanced == "5.2.1":
        return Outcome.HARD_BOUNCE
    if not enhanced and code in (550, 551, 553):
        return Outcome.HARD_BOUNCE  # an old server's "no such user" without a code
    if enhanced.startswith("4."):
        return Outcome.DEFER
    return Outcome.FAILED


def next_attempt_delay(attempts: int, base: float, maximum: float) -> timedelta:
    """Wait after the ``attempts``-th failed attempt: base, doubling, capped at maximum."""
    exponent = max(attempts - 1, 0)
    return timedelta(seconds=min(base * (2 ** min(exponent, 30)), maximum))


def gives_up(queued_at: datetime, now: datetime, give_up_after: timedelta) -> bool:
    return now - queued_at >= give_up_after


_ADDRESS_IN_TEXT = re.compile(r"<?[^\s<>@]+@[^\s<>@]+>?")


def redact_addresses(text: str) -> str:
    """Servers often repeat the recipient in their reply ("550 5.1.1 <ann@example.org>: no
    such user"): the ledger, the events and the logs keep the reply without it."""
    return _ADDRESS_IN_TEXT.sub("<address>", text)
