"""The secrets consent uses, loaded once from the files the settings name.

A missing file does not stop the process (the health, reflection and read-only RPCs still
work), but every call that needs the secret answers FAILED_PRECONDITION naming the variable.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from missiva_platform.crypto import EmailHasher, FieldCipher, IpPseudonymiser, TokenKeyring
from missiva_platform.errors import FailedPrecondition, InvalidArgument
from missiva_platform.secrets import (
    load_email_hasher,
    load_field_cipher,
    load_ip_pseudonymiser,
    load_token_keyring,
)
from missiva_platform.validation import valid_email

if TYPE_CHECKING:
    from missiva_consent.config import ConsentSettings

log = logging.getLogger(__name__)


def _missing(variable: str) -> FailedPrecondition:
    log.error("consent: %s is not set; calls that need it are refused", variable)
    return FailedPrecondition(f"the consent service is not configured: {variable} is not set")


class ConsentKeys:
    """Token keyring, person-key hasher, proof IP pseudonymiser and field cipher, loaded
    lazily."""

    def __init__(self, settings: ConsentSettings) -> None:
        self.settings = settings

    @cached_property
    def _keyring(self) -> TokenKeyring | None:
        path = self.settings.token_keyring_file
        return load_token_keyring(path) if path else None

    @cached_property
    def _hasher(self) -> EmailHasher | None:
        path = self.settings.email_hash_key_file
        return load_email_hasher(path) if path else None

    @cached_property
    def _pseudonymiser(self) -> IpPseudonymiser | None:
        path = self.settings.ip_salts_file
        return load_ip_pseudonymiser(path) if path else None

    @cached_property
    def _cipher(self) -> FieldCipher | None:
        path = self.settings.field_keys_file
        return load_field_cipher(path) if path else None

    @property
    def field_cipher(self) -> FieldCipher:
        """AES-256-GCM for personal data at rest (the exported parts of privacy requests)."""
        if self._cipher is None:
            raise _missing("FIELD_KEYS_FILE")
        return self._cipher

    @property
    def tokens(self) -> TokenKeyring:
        if self._keyring is None:
            raise _missing("TOKEN_KEYRING_FILE")
        return self._keyring

    def person_key(self, email: str, field_name: str = "person.email") -> str:
        if self._hasher is None:
            raise _missing("EMAIL_HASH_KEY_FILE")
        # The kit's one rule of what an address is, and its canonical form, as everywhere.
        return self._hasher.person_key(valid_email(field_name, email))

    def proof_ip(self, ip: str, at: datetime) -> str:
        """The platform-wide pseudonym of a consenting client's IP, kept in the ledger.

        Same salts as identity's sign-up pseudonyms (IP_SALTS_FILE), so a sign-up proof
        and the ledger name the same client the same way.
        """
        if not ip:
            return ""
        if self._pseudonymiser is None:
            raise _missing("IP_SALTS_FILE")
        try:
            return self._pseudonymiser.hash_ip(ip, at=at)
        except ValueError:
            raise InvalidArgument.field("client.ip_address", "is not an IP address") from None
        except KeyError as exc:
            raise FailedPrecondition(f"the consent service is not configured: {exc}") from None


def link_ip_hash(salt: bytes, ip: str, at: datetime) -> str:
    """Hash of a link visitor's IP under consent's own salt for ``at``'s year (abuse detection
    only); consent's salt, not the platform's, keeps it apart from the ledger's pseudonyms."""
    try:
        return IpPseudonymiser({at.astimezone(UTC).year: salt}).hash_ip(ip, at=at)
    except ValueError:
        raise InvalidArgument.field("client.ip_address", "is not an IP address") from None


def new_salt() -> bytes:
    return secrets.token_bytes(32)
