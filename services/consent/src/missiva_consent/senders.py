"""A sender identity: who an account is to the people it writes to (GDPR Art. 13(1)(a):
the controller's identity and contact details), shown on every public page of its links.

No I/O here.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from missiva_platform.errors import InvalidArgument
from missiva_platform.validation import email_address, has_control_characters

MAX_NAME = 200
MAX_POSTAL_ADDRESS = 500
MAX_CONTACT = 320


@dataclass(frozen=True)
class SenderIdentity:
    name: str
    postal_address: str
    # An email address (shown as a mailto link) or an https address (a contact form).
    privacy_contact: str


def _text(value: str, field: str, limit: int, *, required: bool, lines: bool = False) -> str:
    text = value.strip()
    if required and not text:
        raise InvalidArgument.field(field, "is required")
    if len(text) > limit:
        raise InvalidArgument.field(field, f"must be at most {limit} characters")
    if has_control_characters(text) or (not lines and ("\n" in text or "\r" in text)):
        raise InvalidArgument.field(field, "must not contain control characters")
    return text


def _contact(value: str, field: str) -> str:
    text = _text(value, field, MAX_CONTACT, required=True)
    if "@" not in text:
        parts = urllib.parse.urlsplit(text)
        if parts.scheme != "https" or not parts.hostname:
            raise InvalidArgument.field(
                field, "must be an email address or an https address (a contact page)"
            )
        return text
    return email_address(field, text).email


def identity_of(message: Any) -> SenderIdentity:
    """The validated identity of a ``SenderIdentity`` message (``sender.*`` fields)."""
    return SenderIdentity(
        name=_text(message.name, "sender.name", MAX_NAME, required=True),
        postal_address=_text(
            message.postal_address.replace("\r\n", "\n"),
            "sender.postal_address",
            MAX_POSTAL_ADDRESS,
            required=False,
            lines=True,
        ),
        privacy_contact=_contact(message.privacy_contact, "sender.privacy_contact"),
    )
