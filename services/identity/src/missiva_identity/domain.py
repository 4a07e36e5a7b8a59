"""Identity rules with no I/O: validation, roles, throttling decisions, token formats."""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import unicodedata
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import pyotp

from missiva.identity.v1 import identity_service_pb2 as pb
from missiva_platform import validation
from missiva_platform.errors import InvalidArgument

PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_CHARS = 128
# Beyond this nothing is hashed: a multi-megabyte "password" must not reach argon2.
PASSWORD_MAX_BYTES = 4 * PASSWORD_MAX_CHARS
NAME_MAX_CHARS = 200
LOCALES = ("en", "it")
MAX_SCOPES = 32
RECOVERY_CODES = 10

_SCOPE_RE = re.compile(r"^(\*|[a-z][a-z0-9_]*(:[a-z][a-z0-9_*]*)*)$")

# -- roles -------------------------------------------------------------------------------

ROLE_NAMES = {
    pb.MEMBER_ROLE_PRIMARY_ADMIN: "primary_admin",
    pb.MEMBER_ROLE_ADMIN: "admin",
    pb.MEMBER_ROLE_MEMBER: "member",
    pb.MEMBER_ROLE_BILLING: "billing",
}
ROLE_VALUES = {name: value for value, name in ROLE_NAMES.items()}
ADMIN_ROLES = ("primary_admin", "admin")


def token_roles(role: str) -> list[str]:
    """Roles written into an access token: a primary admin is also an admin."""
    return ["primary_admin", "admin"] if role == "primary_admin" else [role]


ACCOUNT_STATUS = {
    "pending_verification": pb.ACCOUNT_STATUS_PENDING_VERIFICATION,
    "active": pb.ACCOUNT_STATUS_ACTIVE,
    "deletion_requested": pb.ACCOUNT_STATUS_DELETION_REQUESTED,
    "suspended": pb.ACCOUNT_STATUS_SUSPENDED,
}

# -- validation --------------------------------------------------------------------------


def valid_email(field: str, email: str) -> str:
    """The canonical address, or ``InvalidArgument`` naming ``field`` (the kit's one rule)."""
    return validation.valid_email(field, email)


def password_problem(password: str) -> str | None:
    """What is wrong with a new password's length, or None (no composition rules: ASVS 6.2.5)."""
    if len(password.encode()) > PASSWORD_MAX_BYTES:
        return f"must be at most {PASSWORD_MAX_CHARS} characters"
    length = len(unicodedata.normalize("NFC", password))
    if length < PASSWORD_MIN_CHARS:
        return f"must be at least {PASSWORD_MIN_CHARS} characters"
    if length > PASSWORD_MAX_CHARS:
        return f"must be at most {PASSWORD_MAX_CHARS} characters"
    return None


def password_for_hashing(password: str) -> str:
    """The exact text hashed: NFC-normalised, never truncated, nothing else changed."""
    return unicodedata.normalize("NFC", password)


def valid_name(field: str, value: str, *, required: bool) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidArgument.field(field, "is required")
    if len(value) > NAME_MAX_CHARS:
        raise InvalidArgument.field(field, f"is longer than {NAME_MAX_CHARS} characters")
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise InvalidArgument.field(field, "contains control characters")
    return value


def valid_locale(field: str, locale: str) -> str:
    """``en`` or ``it`` (a region such as ``it-IT`` is accepted and dropped); default ``en``."""
    if not locale:
        return "en"
    language = locale.replace("_", "-").split("-", 1)[0].lower()
    if language not in LOCALES:
        raise InvalidArgument.field(field, f"must be one of {', '.join(LOCALES)}")
    return language


def valid_time_zone(field: str, name: str) -> str:
    if not name:
        return "UTC"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument.field(field, "is not an IANA time zone") from None
    return name


def valid_scopes(field: str, scopes: Iterable[str]) -> list[str]:
    found = sorted(set(scopes))
    if not found:
        raise InvalidArgument.field(field, "needs at least one scope")
    if len(found) > MAX_SCOPES:
        raise InvalidArgument.field(field, f"at most {MAX_SCOPES} scopes")
    for scope in found:
        if len(scope) > 64 or not _SCOPE_RE.fullmatch(scope):
            raise InvalidArgument.field(field, f"{scope!r} is not a scope (e.g. contacts:read)")
    return found


# What each service may ask for in a service token (IssueServiceToken): the scopes of the
# methods it calls on other services. A token carries only the scopes asked for, never "*";
# SERVICE-only methods (the privacy contract, credit holds) need none.
SERVICE_SCOPES: dict[str, frozenset[str]] = {
    "identity": frozenset(),
    "consent": frozenset({"account:read"}),
    "campaign": frozenset(
        {"account:read", "consent:read", "consent:write", "links:write", "suppressions:read",
         "credits:read", "credits:write", "mail:send", "domains:read"}
    ),
    "delivery": frozenset(
        {"account:read", "consent:read", "links:write", "suppressions:read",
         "suppressions:write", "credits:read"}
    ),
    "billing": frozenset({"account:read"}),
    "gateway": frozenset(),
}  # fmt: skip
_SERVICE_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


def service_audience(field: str, audience: str) -> str:
    """The service a service token is for: one of Missiva's services."""
    if not audience:
        raise InvalidArgument.field(field, "name the service the token is for")
    if not _SERVICE_RE.fullmatch(audience) or audience not in SERVICE_SCOPES:
        raise InvalidArgument.field(field, f"{audience[:40]!r} is not a Missiva service")
    return audience


def scopes_within(requested: Iterable[str], granted: Sequence[str]) -> bool:
    return "*" in granted or set(requested) <= set(granted)


@dataclass(frozen=True)
class Acceptance:
    document_id: str
    version: str
    checkbox_text: str


def valid_acceptances(
    field: str, given: Sequence[pb.DocumentAcceptance], required: Sequence[str]
) -> list[Acceptance]:
    """Explicit acceptances: each box ticked, each with its version and text, none missing."""
    found: dict[str, Acceptance] = {}
    for index, item in enumerate(given):
        where = f"{field}[{index}]"
        if not item.document_id:
            raise InvalidArgument.field(f"{where}.document_id", "is required")
        if not item.version:
            raise InvalidArgument.field(f"{where}.version", "is required")
        if not item.checkbox_text.strip():
            raise InvalidArgument.field(f"{where}.checkbox_text", "is required: the text shown")
        if not item.accepted:
            raise InvalidArgument.field(f"{where}.accepted", "the box must be ticked to accept")
        if item.document_id in found:
            raise InvalidArgument.field(f"{where}.document_id", "is given twice")
        if len(item.checkbox_text) > 2000 or len(item.version) > 100:
            raise InvalidArgument.field(where, "is too long")
        found[item.document_id] = Acceptance(item.document_id, item.version, item.checkbox_text)
    missing = [d for d in required if d not in found]
    if missing:
        raise InvalidArgument.field(field, f"must accept {', '.join(missing)}")
    return list(found.values())


# -- throttling --------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptCounts:
    """Failures of one throttle key: in the last hour, and since its last success."""

    failures_last_hour: int
    consecutive_failures: int
    last_failure_at: datetime | None


@dataclass(frozen=True)
class ThrottleDecision:
    refused: bool = False  # the hourly cap: nothing can unlock it
    challenge_required: bool = False
    retry_after_seconds: float = 0.0


def throttle_decision(
    counts: AttemptCounts,
    *,
    challenge_after: int,
    max_per_hour: int,
    delay_base: float,
    delay_max: float,
    has_verifier: bool,
    now: datetime,
) -> ThrottleDecision:
    """What the next attempt of a key needs.

    Past ``max_per_hour`` failures the key is refused until the hour slides on. After
    ``challenge_after`` consecutive failures a challenge is required: with a verifier, an
    anti-bot token; without one, a delay that doubles with every further failure.
    """
    if counts.failures_last_hour >= max_per_hour:
        return ThrottleDecision(refused=True)
    if counts.consecutive_failures < challenge_after:
        return ThrottleDecision()
    if has_verifier:
        return ThrottleDecision(challenge_required=True)
    extra = counts.consecutive_failures - challenge_after
    delay = min(delay_max, delay_base * (2 ** min(extra, 20)))
    if counts.last_failure_at is None:
        return ThrottleDecision()
    waited = (now - counts.last_failure_at).total_seconds()
    if waited >= delay:
        return ThrottleDecision()
    return ThrottleDecision(challenge_required=True, retry_after_seconds=delay - waited)


# -- opaque tokens -----------------------------------------------------------------------

TOKEN_BYTES = 32  # 256 bits: far above the 128 bits ASVS asks of verification tokens


def new_token(kind: str) -> str:
    """A random opaque token with a readable kind prefix, e.g. ``mrt_…`` for refresh."""
    return f"{kind}_{secrets.token_urlsafe(TOKEN_BYTES)}"


_RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols, no 0/O or 1/I


def new_recovery_code() -> str:
    """24 symbols of 5 bits = 120 bits (ASVS: lookup secrets of at least 112 bits), grouped."""
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(24))
    return "-".join(raw[i : i + 4] for i in range(0, 24, 4))


def canonical_recovery_code(code: str) -> str:
    raw = re.sub(r"[\s-]", "", code).upper()
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def new_api_key() -> tuple[str, str]:
    """``(prefix, key)``: the key is ``mk_<prefix>_<256-bit secret>``; the prefix is shown."""
    prefix = base64.b32encode(secrets.token_bytes(5)).decode().lower()
    return prefix, f"mk_{prefix}_{secrets.token_urlsafe(TOKEN_BYTES)}"


# -- pages -------------------------------------------------------------------------------

DEFAULT_PAGE = 50
MAX_PAGE = 200


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument.field("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE, MAX_PAGE)


# -- TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of drift) ---------------

TOTP_STEP_SECONDS = 30


def totp_matching_step(secret_b32: str, code: str, now: float) -> int | None:
    """The time step (within one step of ``now``) whose code is ``code``, or None."""
    code = code.strip().replace(" ", "")
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret_b32, digits=6, interval=TOTP_STEP_SECONDS)
    current = int(now // TOTP_STEP_SECONDS)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None
