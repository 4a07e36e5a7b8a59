"""VERP return paths: ``bounce+<token>@<bounce domain>``, where the token names one ledger
row and carries a short MAC, so a bounce that comes back finds its message and a forged one
finds nothing.

The local part must stay within 64 characters and survive servers that change its case, so
the token is lowercase base32: the message's UUID (16 bytes), a dot, the key id, a dot, a
10-byte HMAC tag of the UUID under the token keyring's ``verp`` derivation."""

from __future__ import annotations

import base64
import binascii
import re
import uuid

from missiva_platform.crypto import TokenKeyring

PREFIX = "bounce+"
_TAG_BYTES = 10
_TOKEN = re.compile(r"^([a-z2-7]{26})\.([a-z0-9_-]{1,16})\.([a-z2-7]{16})$")


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def _unb32(text: str) -> bytes:
    padded = text.upper() + "=" * (-len(text) % 8)
    return base64.b32decode(padded)


class Verp:
    """Makes and reads VERP addresses for one bounce domain."""

    def __init__(self, keyring: TokenKeyring, bounce_domain: str) -> None:
        self._keys = keyring.derive("delivery-verp")
        self.domain = bounce_domain.lower()

    def address(self, message_id: str) -> str:
        """The envelope sender (return path) of the ledger row ``message_id``."""
        raw = uuid.UUID(message_id).bytes
        kid, tag = self._keys.tag(raw, size=_TAG_BYTES)
        local = f"{PREFIX}{_b32(raw)}.{kid.lower()}.{_b32(tag)}"
        if len(local) > 64:
            raise ValueError("the key id is too long for a VERP local part")
        return f"{local}@{self.domain}"

    def message_id(self, address: str) -> str | None:
        """The ledger row a bounce was sent to, or None when ``address`` is not one of ours
        (another domain, a malformed token, a tag that does not verify)."""
        local, at, domain = address.strip().strip("<>").rpartition("@")
        if not at or domain.lower() != self.domain:
            return None
        local = local.lower()
        if not local.startswith(PREFIX):
            return None
        found = _TOKEN.fullmatch(local[len(PREFIX) :])
        if found is None:
            return None
        raw_text, kid_text, tag_text = found.groups()
        try:
            raw, tag = _unb32(raw_text), _unb32(tag_text)
        except (binascii.Error, ValueError):
            return None
        # Key ids are matched without regard to case (the address may have been lowered).
        kid = next((k for k in self._keys.key_ids if k.lower() == kid_text), None)
        if kid is None or len(raw) != 16 or not self._keys.check_tag(kid, raw, tag):
            return None
        return str(uuid.UUID(bytes=raw))
