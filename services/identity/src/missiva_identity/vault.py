"""The secrets identity works with, loaded once from the files the settings name.

A file left unset gets a throwaway in-memory secret and a warning, so a bare ``serve`` (or a
test) starts; production mounts every file (the Helm chart and ``missiva up`` do).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from missiva_identity.config import IdentitySettings
from missiva_platform import secrets as platform_secrets
from missiva_platform.crypto import EmailHasher, FieldCipher, IpPseudonymiser
from missiva_platform.secrets import ServiceCredential

log = logging.getLogger(__name__)

_TOKEN_HASH_DOMAIN = b"missiva.identity.token-hash.v1"


@dataclass(frozen=True, repr=False)
class IdentityVault:
    email_hasher: EmailHasher
    ip_pseudonymiser: IpPseudonymiser
    field_cipher: FieldCipher
    token_pepper: bytes
    service_credentials: dict[str, ServiceCredential] = field(default_factory=dict)
    challenge_secret: str = ""
    oidc_client_secret: str = ""

    def token_hash(self, token: str) -> bytes:
        """Keyed hash of a high-entropy secret (refresh/reset/verification token, API key).

        A fast hash is enough here: the secrets carry 256 (recovery codes 120) random bits,
        so there is nothing to brute-force, and the key means a stolen table alone cannot
        even confirm a guess. Passwords, which people choose, get argon2id instead.
        """
        return hmac.new(self.token_pepper, token.encode(), hashlib.sha256).digest()

    def person_key(self, normalised_email: str) -> str:
        return self.email_hasher.person_key(normalised_email)

    def ip_pseudonym(self, ip: str) -> str:
        if not ip:
            return ""
        try:
            return self.ip_pseudonymiser.hash_ip(ip, at=datetime.now(UTC))
        except (ValueError, KeyError):
            return ""

    def __repr__(self) -> str:
        return "IdentityVault(<hidden>)"

    @classmethod
    def load(cls, settings: IdentitySettings) -> IdentityVault:
        year = datetime.now(UTC).year
        if settings.email_hash_key_file:
            hasher = platform_secrets.load_email_hasher(settings.email_hash_key_file)
            pepper_source = base64.b64decode(Path(settings.email_hash_key_file).read_bytes())
        else:
            _throwaway("EMAIL_HASH_KEY_FILE")
            pepper_source = secrets.token_bytes(32)
            hasher = EmailHasher(pepper_source)
        if settings.ip_salts_file:
            pseudonymiser = platform_secrets.load_ip_pseudonymiser(settings.ip_salts_file)
        else:
            _throwaway("IP_SALTS_FILE")
            pseudonymiser = IpPseudonymiser({year: secrets.token_bytes(32)})
        if settings.field_keys_file:
            cipher = platform_secrets.load_field_cipher(settings.field_keys_file)
        else:
            _throwaway("FIELD_KEYS_FILE")
            cipher = FieldCipher.generate()
        credentials: dict[str, ServiceCredential] = {}
        if settings.service_credentials_file:
            credentials = platform_secrets.load_service_credentials(
                settings.service_credentials_file
            )
        return cls(
            email_hasher=hasher,
            ip_pseudonymiser=pseudonymiser,
            field_cipher=cipher,
            # Derived rather than a file of its own: one secret fewer to mount, and the
            # person-key key never rotates either (person keys must stay stable).
            token_pepper=hmac.new(pepper_source, _TOKEN_HASH_DOMAIN, hashlib.sha256).digest(),
            service_credentials=credentials,
            challenge_secret=_read_text(settings.challenge_secret_file),
            oidc_client_secret=_read_text(settings.oidc_client_secret_file),
        )


def _read_text(path: str | None) -> str:
    return Path(path).read_text().strip() if path else ""


def _throwaway(variable: str) -> None:
    log.warning("%s is not set: using a throwaway secret (development only)", variable)
