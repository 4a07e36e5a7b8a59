"""The field cipher billing encrypts tax fields with (``FIELD_KEYS_FILE``) and the person-key
hasher (``EMAIL_HASH_KEY_FILE``) that lets privacy requests find a profile, loaded once.

A missing setting does not stop the process (credits and plans need no key), but every call
that reads or writes a VAT number or tax code answers FAILED_PRECONDITION naming the variable.
"""

from __future__ import annotations

import logging
from functools import cached_property

from missiva_platform.crypto import DecryptionError, EmailHasher, FieldCipher
from missiva_platform.errors import FailedPrecondition
from missiva_platform.secrets import load_email_hasher, load_field_cipher

log = logging.getLogger(__name__)


class BillingKeys:
    def __init__(self, field_keys_file: str | None, email_hash_key_file: str | None) -> None:
        self.field_keys_file = field_keys_file
        self.email_hash_key_file = email_hash_key_file

    @cached_property
    def _hasher(self) -> EmailHasher | None:
        path = self.email_hash_key_file
        return load_email_hasher(path) if path else None

    def person_keys(self, *emails: str) -> list[str]:
        """The person keys of the addresses given (none without EMAIL_HASH_KEY_FILE: then
        privacy requests find a profile by its addresses only)."""
        if self._hasher is None:
            return []
        return sorted({self._hasher.person_key(e) for e in emails if e})

    @cached_property
    def _cipher(self) -> FieldCipher | None:
        return load_field_cipher(self.field_keys_file) if self.field_keys_file else None

    @property
    def cipher(self) -> FieldCipher:
        if self._cipher is None:
            log.error("billing: FIELD_KEYS_FILE is not set; tax fields cannot be read or written")
            raise FailedPrecondition("the billing service is not configured: FIELD_KEYS_FILE")
        return self._cipher

    def seal(self, value: str, account_id: str) -> bytes | None:
        """``value`` encrypted under the newest key, bound to the account (None when empty)."""
        return self.cipher.encrypt(value, account_id) if value else None

    def open(self, blob: bytes | None, account_id: str) -> str:
        if blob is None:
            return ""
        try:
            return self.cipher.decrypt(blob, account_id).decode()
        except DecryptionError as exc:
            log.error("billing: a tax field does not decrypt (%s)", exc.reason)
            raise FailedPrecondition(
                "a stored tax field cannot be decrypted (its key was retired?)"
            ) from None
