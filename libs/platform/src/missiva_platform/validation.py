"""Input rules every service shares: what an email address is, and what text may contain.

- ``valid_email``: one definition of an address for the whole platform (``email-validator``,
  syntax only: no DNS in a request path), returned in the kit's canonical form, so the person
  key computed from it is the same in every service.
- ``bad_text``: the first string field of a protobuf message holding a control character
  (NUL included), which PostgreSQL refuses or a log or a mail header would carry; the kit's
  interceptor answers such a request with INVALID_ARGUMENT naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import email_validator
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from missiva_platform.crypto import normalise_email
from missiva_platform.errors import InvalidArgument

MAX_EMAIL_CHARS = 254  # RFC 5321: a forward path holds at most 256 octets including "<>"

# C0 controls but tab, line feed and carriage return; DEL; C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Address:
    """A validated address: ``email`` the form to store and send to (email-validator's
    normalised form: NFC, domain lower-cased), ``key`` the canonical form the person key is
    the hash of (``crypto.normalise_email`` of it: all lower-case, IDNA domain)."""

    email: str
    key: str


def email_address(field: str, value: str) -> Address:
    """The validated ``Address`` of ``value``, or ``InvalidArgument`` naming ``field``."""
    raw = value.strip()
    if not raw:
        raise InvalidArgument.field(field, "is required")
    if len(raw) > MAX_EMAIL_CHARS:
        raise InvalidArgument.field(field, f"is longer than {MAX_EMAIL_CHARS} characters")
    try:
        checked = email_validator.validate_email(
            raw,
            check_deliverability=False,  # no DNS in a request path
            allow_smtputf8=True,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            globally_deliverable=True,  # no "localhost", no single-label domains
        )
        return Address(email=checked.normalized, key=normalise_email(checked.normalized))
    except (email_validator.EmailNotValidError, ValueError) as exc:
        raise InvalidArgument.field(field, f"is not an email address ({exc})") from None


def valid_email(field: str, value: str) -> str:
    """The canonical form of ``value`` (what person keys hash), or ``InvalidArgument``."""
    return email_address(field, value).key


def has_control_characters(text: str) -> bool:
    return _CONTROL.search(text) is not None


def bad_text(message: Message, prefix: str = "") -> str | None:
    """The path of the first string field (nested, repeated, map) with a control character."""
    if message.DESCRIPTOR.full_name == "google.protobuf.Struct":  # JSON attributes: by key
        return _bad_struct(message, prefix)
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if field.type == FieldDescriptor.TYPE_STRING:
            values = value if _is_repeated(field) else [value]
            for index, text in enumerate(values):
                if has_control_characters(text):
                    return f"{path}[{index}]" if _is_repeated(field) else path
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                for key, item in value.items():
                    if isinstance(key, str) and has_control_characters(key):
                        return f"{path}[{key!r}]"
                    if isinstance(item, str):
                        if has_control_characters(item):
                            return f"{path}[{key!r}]"
                    elif isinstance(item, Message):
                        found = bad_text(item, f"{path}[{key!r}].")
                        if found:
                            return found
            elif _is_repeated(field):
                for index, item in enumerate(value):
                    found = bad_text(item, f"{path}[{index}].")
                    if found:
                        return found
            else:
                found = bad_text(value, f"{path}.")
                if found:
                    return found
    return None


def _bad_struct(struct: Any, prefix: str) -> str | None:
    for key, value in struct.fields.items():
        path = f"{prefix.rstrip('.')}.{key}" if prefix else key
        if has_control_characters(key):
            return path
        found = _bad_value(value, path)
        if found:
            return found
    return None


def _bad_value(value: Any, path: str) -> str | None:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return path if has_control_characters(value.string_value) else None
    if kind == "struct_value":
        return _bad_struct(value.struct_value, f"{path}.")
    if kind == "list_value":
        for index, item in enumerate(value.list_value.values):
            found = _bad_value(item, f"{path}[{index}]")
            if found:
                return found
    return None


def check_text(message: object) -> None:
    """``InvalidArgument`` naming the first string field of ``message`` with a control char
    (a handler registered without a deserializer gets raw bytes: nothing to look into)."""
    if not isinstance(message, Message):
        return
    path = bad_text(message)
    if path is not None:
        raise InvalidArgument.field(path, "contains a control character")


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)
