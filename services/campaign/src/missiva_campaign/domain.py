"""Campaign's rules, without I/O: what a valid contact is, page tokens, notice locales.

Every check raises ``InvalidArgument`` naming the field, so a bad request is answered with
INVALID_ARGUMENT and the field at fault, never INTERNAL (PostgreSQL refuses NUL characters
and non-finite numbers in JSONB: they are caught here first).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import math
import re
import uuid
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from functools import cache
from typing import Any

from missiva_platform import validation
from missiva_platform.crypto import normalise_email
from missiva_platform.errors import InvalidArgument
from missiva_platform.validation import Address

TRASH_DAYS = 30
TRASH_WINDOW = timedelta(days=TRASH_DAYS)

MAX_NAME_CHARS = 200
MAX_LOCALE_CHARS = 35
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTES_BYTES = 16 * 1024
MAX_ATTRIBUTE_TEXT = 2000
MAX_ATTRIBUTE_LIST = 100
MAX_TAGS = 100
MAX_TAG_CHARS = 64
MAX_QUERY_CHARS = 254
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_BATCH_IDS = 1000

MAX_LIST_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 2000
PURPOSE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")

# ContactSource names in the database, by proto enum value (campaign_service.proto).
SOURCES = {1: "form", 2: "import", 3: "api", 4: "manual"}
SOURCE_VALUES = {name: value for value, name in SOURCES.items()}

# Suppression reasons that stop a SYSTEM notice (an unsubscription or a manual entry does not).
NOTICE_STOPPERS = ("hard_bounce", "complaint", "erased")


# ------------------------------------------------------------------------------- text


def _control_problem(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character"
    if _CONTROL_CHARS.search(value):  # Unicode category Cc, exactly
        return "contains a control character"
    return None


def text(field: str, value: str, *, limit: int, required: bool = False) -> str:
    """A trimmed single-line text of at most ``limit`` characters."""
    value = value.strip()
    if not value:
        if required:
            raise InvalidArgument.field(field, "is required")
        return ""
    if len(value) > limit:
        raise InvalidArgument.field(field, f"is longer than {limit} characters")
    problem = _control_problem(value)
    if problem:
        raise InvalidArgument.field(field, problem)
    return value


# ------------------------------------------------------------------------------ email


# The common address, checked without email-validator's per-character domain walk: an ASCII
# dot-atom local part (which email-validator accepts unchanged) and a domain already checked
# by email-validator once (cached). Anything else goes the kit's whole way. The fast path
# gives the kit's answer exactly (a property test compares them).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_FAST_LOCAL = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_FAST_DOMAIN = re.compile(r"[A-Za-z0-9.-]{1,253}")
MAX_LOCAL_CHARS = 64
MAX_ADDRESS_CHARS = 254


@functools.lru_cache(maxsize=8192)
def _checked_domain(domain: str) -> str | None:
    """email-validator's normalised form of ``domain`` (ASCII), or None when it refuses it."""
    try:
        return validation.email_address("email", "a@" + domain).email.split("@", 1)[1]
    except InvalidArgument:
        return None


def email_address(field: str, value: str) -> Address:
    """A contact's address: the kit's one rule for every service (``validation.email_address``),
    with a fast path for plain ASCII addresses that gives the same answer."""
    raw = value.strip()
    local, at, domain_part = raw.rpartition("@")
    if (
        at
        and len(local) <= MAX_LOCAL_CHARS
        and _FAST_LOCAL.fullmatch(local)
        and _FAST_DOMAIN.fullmatch(domain_part)
    ):
        domain_ok = _checked_domain(domain_part)
        if domain_ok is not None:
            normalised = f"{local}@{domain_ok}"
            if len(normalised) <= MAX_ADDRESS_CHARS and len(raw) <= validation.MAX_EMAIL_CHARS:
                return Address(email=normalised, key=normalise_email(normalised))
    return validation.email_address(field, value)


# ----------------------------------------------------------------------- locale, zone


def locale(field: str, value: str) -> str:
    """A BCP 47 tag in its usual casing ("en-gb" → "en-GB"); empty means "not known"."""
    value = value.strip().replace("_", "-")
    if not value:
        return ""
    if len(value) > MAX_LOCALE_CHARS or not LOCALE.match(value):
        raise InvalidArgument.field(field, "is not a BCP 47 language tag such as en or it-IT")
    parts = value.split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 2 and part.isalpha():
            out.append(part.upper())
        elif len(part) == 4 and part.isalpha():
            out.append(part.title())
        else:
            out.append(part.lower())
    return "-".join(out)


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone(field: str, value: str) -> str:
    """An IANA time zone name ("Europe/Rome"); empty means "not known"."""
    value = value.strip()
    if not value:
        return ""
    if value not in _zones():
        raise InvalidArgument.field(field, "is not an IANA time zone name such as Europe/Rome")
    return value


# ------------------------------------------------------------------------- attributes


def _attribute_value(field: str, value: Any, *, in_list: bool = False) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            raise InvalidArgument.field(field, "is not a finite number")
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if isinstance(value, str):
        if len(value) > MAX_ATTRIBUTE_TEXT:
            raise InvalidArgument.field(field, f"is longer than {MAX_ATTRIBUTE_TEXT} characters")
        if "\x00" in value:
            raise InvalidArgument.field(field, "contains a NUL character")
        return value
    if isinstance(value, list) and not in_list:
        if len(value) > MAX_ATTRIBUTE_LIST:
            raise InvalidArgument.field(field, f"has more than {MAX_ATTRIBUTE_LIST} items")
        return [
            _attribute_value(f"{field}[{i}]", item, in_list=True) for i, item in enumerate(value)
        ]
    raise InvalidArgument.field(
        field, "must be text, a number, true/false, null or a list of those (no nested objects)"
    )


def attribute_key(field: str, key: str) -> str:
    if not ATTRIBUTE_KEY.match(key):
        raise InvalidArgument.field(
            field, "must start with a letter and hold only letters, digits and _ (at most 64)"
        )
    return key


def attributes(field: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Custom attributes: at most 100 keys, 16 KiB as JSON, scalar values or lists of them."""
    return attributes_json(field, values)[0]


def attributes_json(field: str, values: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """``attributes`` with their JSON text (compact), for a caller that writes it as it is."""
    if len(values) > MAX_ATTRIBUTES:
        raise InvalidArgument.field(field, f"has more than {MAX_ATTRIBUTES} attributes")
    clean = {
        attribute_key(f"{field}.{key}", key): _attribute_value(f"{field}.{key}", value)
        for key, value in values.items()
    }
    return clean, _sized_json(field, clean)


def check_attributes_size(field: str, values: Mapping[str, Any]) -> None:
    _sized_json(field, values)


def _sized_json(field: str, values: Mapping[str, Any]) -> str:
    if len(values) > MAX_ATTRIBUTES:
        raise InvalidArgument.field(field, f"has more than {MAX_ATTRIBUTES} attributes")
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    size = len(text) if text.isascii() else len(text.encode())
    if size > MAX_ATTRIBUTES_BYTES:
        raise InvalidArgument.field(
            field, f"is {size} bytes as JSON, more than the {MAX_ATTRIBUTES_BYTES} allowed"
        )
    return text


# ------------------------------------------------------------------------------- tags


def tag(field: str, value: str) -> str:
    return text(field, value, limit=MAX_TAG_CHARS, required=True)


def tags(field: str, values: Iterable[str]) -> list[str]:
    """Tags, trimmed and without repeats, in the order given."""
    clean = list(dict.fromkeys(tag(f"{field}[{i}]", v) for i, v in enumerate(values)))
    if len(clean) > MAX_TAGS:
        raise InvalidArgument.field(field, f"has more than {MAX_TAGS} tags")
    return clean


# -------------------------------------------------------------------------------- ids


def contact_id(field: str, value: str) -> str:
    if not value:
        raise InvalidArgument.field(field, "is required")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument.field(field, "is not a valid id") from None


def purpose_id(field: str, value: str) -> str:
    """A consent purpose id (or key), as consent names them."""
    value = value.strip()
    if not value:
        raise InvalidArgument.field(field, "is required: the consent purpose the list sends under")
    if not PURPOSE_ID.match(value):
        raise InvalidArgument.field(field, "is not a consent purpose id")
    return value


def contact_ids(field: str, values: Sequence[str]) -> list[str]:
    if not values:
        raise InvalidArgument.field(field, "is required")
    if len(values) > MAX_BATCH_IDS:
        raise InvalidArgument.field(field, f"has more than {MAX_BATCH_IDS} ids")
    return list(dict.fromkeys(contact_id(f"{field}[{i}]", v) for i, v in enumerate(values)))


# -------------------------------------------------------------------------- page tokens


def page_size(field: str, value: int) -> int:
    if value < 0:
        raise InvalidArgument.field(field, "must not be negative")
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def filter_digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def encode_page_token(after: str, digest: str) -> str:
    """An opaque token: where the next page starts, and which filters it belongs to."""
    raw = json.dumps({"a": after, "f": digest}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(field: str, token: str, digest: str, *, ids: bool = True) -> str | None:
    """Where the page starts after (None for the first page): an id, or (``ids=False``) a
    name."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        after = str(uuid.UUID(str(data["a"]))) if ids else str(data["a"])
        given = str(data["f"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidArgument.field(field, "is not a page token of this list") from None
    if given != digest:
        raise InvalidArgument.field(field, "belongs to a listing with other filters")
    return after


def like_prefix(value: str) -> str:
    """A LIKE pattern matching ``value`` as a literal prefix."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


# ----------------------------------------------------------------------- notice locale


def notice_locale(contact_locale: str, locales: Sequence[str], fallback: str) -> str:
    """The locale a contact's document notice is written in.

    The contact's own locale when a text exists in it (case-insensitively), else a text in
    the same language ("it-IT" reads "it"; the first such in ``locales``), else
    ``fallback`` (the version's first published locale).
    """
    if not contact_locale:
        return fallback
    wanted = contact_locale.lower()
    for candidate in locales:
        if candidate.lower() == wanted:
            return candidate
    language = wanted.split("-", 1)[0]
    for candidate in locales:
        if candidate.lower().split("-", 1)[0] == language:
            return candidate
    return fallback


def display_name(first: str, last: str) -> str:
    return " ".join(part for part in (first, last) if part)
