"""Platform secrets as files: generated once for the embedded platform, loaded by every service.

In Kubernetes the same files arrive as mounted Secrets; on a laptop ``generate_secrets`` writes
them into the data folder the first time and reuses them afterwards, so tokens, encrypted
fields and person keys stay valid across restarts.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets as _random
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from joserfc.jwk import KeySet, OKPKey

from missiva_platform.crypto import (
    KEY_BYTES,
    EmailHasher,
    FieldCipher,
    IpPseudonymiser,
    TokenKeyring,
    generate_salt,
)

__all__ = [
    "EMAIL_HASH_KEY_FILE",
    "FIELD_KEYS_FILE",
    "IP_SALTS_FILE",
    "JWT_SIGNING_KEYS_FILE",
    "SERVICES",
    "SERVICE_CREDENTIALS_FILE",
    "TOKEN_KEYRING_FILE",
    "PlatformSecrets",
    "ServiceCredential",
    "generate_secrets",
    "load_email_hasher",
    "load_field_cipher",
    "load_ip_pseudonymiser",
    "load_jwt_signing_keys",
    "load_service_credentials",
    "load_token_keyring",
    "own_credential_files",
]

TOKEN_KEYRING_FILE = "token-keyring.json"  # noqa: S105 - a file name
FIELD_KEYS_FILE = "field-keys.json"
EMAIL_HASH_KEY_FILE = "email-hash.key"
IP_SALTS_FILE = "ip-salts.json"
JWT_SIGNING_KEYS_FILE = "jwt-signing-keys.json"
SERVICE_CREDENTIALS_FILE = "service-credentials.json"

SERVICES = ("identity", "consent", "campaign", "delivery", "billing", "gateway")

_FILE_MODE = 0o600
_DIR_MODE = 0o700


class ServiceCredential(msgspec.Struct, frozen=True):
    """A service's client-credentials pair for obtaining service tokens from identity."""

    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"ServiceCredential(client_id={self.client_id!r}, client_secret=<hidden>)"


# --------------------------------------------------------------------------- generation


def _jwt_signing_keys() -> bytes:
    # No "alg" on the key: verifiers pin their algorithms, and identity may sign as the
    # legacy "EdDSA" or the fully specified "Ed25519" (RFC 9864) without a key change.
    key = OKPKey.generate_key("Ed25519", parameters={"use": "sig"}, private=True, auto_kid=True)
    return msgspec.json.encode(KeySet([key]).as_dict(private=True))


def _service_credentials() -> bytes:
    return msgspec.json.encode(
        {name: ServiceCredential(f"missiva-{name}", _random.token_urlsafe(32)) for name in SERVICES}
    )


def _ip_salts(existing: dict[str, str], year: int) -> bytes:
    salts = dict(existing)
    salts[str(year)] = base64.b64encode(generate_salt()).decode("ascii")
    return msgspec.json.encode(salts)


def _write_file(path: Path, content: bytes, *, replace: bool) -> None:
    """Write ``path`` (mode 0600) atomically; unless ``replace``, keep an existing file.

    The content is written aside first, so a reader never sees half a file; creating uses a
    hard link, which fails if another process got there first, so two starts cannot both win.
    """
    temp = path.with_name(f".{path.name}.{_random.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), _FILE_MODE)  # a strict umask could have dropped our own bits
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        if replace:
            os.replace(temp, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def generate_secrets(directory: Path, *, now: datetime | None = None) -> dict[str, Path]:
    """Create any missing platform secret in ``directory`` and return every file's path.

    Files are created with mode 0600 in a 0700 directory; existing files are never
    regenerated, so later calls reuse them byte for byte. The one exception: if the IP salts
    lack the current year, that year's salt is added (the others are kept). The result maps
    file names (``TOKEN_KEYRING_FILE``...) to paths.
    """
    directory = Path(directory)
    directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(directory.stat().st_mode) != _DIR_MODE:
        directory.chmod(_DIR_MODE)
    year = (now or datetime.now(UTC)).astimezone(UTC).year

    generators: dict[str, Callable[[], bytes]] = {
        TOKEN_KEYRING_FILE: lambda: TokenKeyring.generate().to_json(),
        FIELD_KEYS_FILE: lambda: FieldCipher.generate().to_json(),
        EMAIL_HASH_KEY_FILE: lambda: base64.b64encode(_random.token_bytes(KEY_BYTES)) + b"\n",
        IP_SALTS_FILE: lambda: _ip_salts({}, year),
        JWT_SIGNING_KEYS_FILE: _jwt_signing_keys,
        SERVICE_CREDENTIALS_FILE: _service_credentials,
    }
    paths: dict[str, Path] = {}
    for name, generate in generators.items():
        path = directory / name
        if not path.exists():
            _write_file(path, generate(), replace=False)
        paths[name] = path

    salts = msgspec.json.decode(paths[IP_SALTS_FILE].read_bytes(), type=dict[str, str])
    if str(year) not in salts:
        _write_file(paths[IP_SALTS_FILE], _ip_salts(salts, year), replace=True)
    return paths


# --------------------------------------------------------------------------- loading


def load_token_keyring(path: str | Path) -> TokenKeyring:
    """Load the public-link token keyring."""
    return TokenKeyring.from_file(path)


def load_field_cipher(path: str | Path) -> FieldCipher:
    """Load the field-encryption keyring."""
    return FieldCipher.from_file(path)


def load_email_hasher(path: str | Path) -> EmailHasher:
    """Load the person-key hasher from a file holding the base64 key."""
    try:
        key = base64.b64decode(Path(path).read_bytes().strip(), validate=True)
    except ValueError as exc:
        raise ValueError(f"{path}: not a base64 key") from exc
    return EmailHasher(key)


def load_ip_pseudonymiser(path: str | Path) -> IpPseudonymiser:
    """Load the IP pseudonymiser from ``{"<year>": "<base64 salt>", ...}``."""
    try:
        raw = msgspec.json.decode(Path(path).read_bytes(), type=dict[int, str])
        salts = {year: base64.b64decode(b64, validate=True) for year, b64 in raw.items()}
    except (msgspec.DecodeError, ValueError) as exc:
        raise ValueError(f"{path}: invalid IP salts: {exc}") from exc
    return IpPseudonymiser(salts)


def load_jwt_signing_keys(path: str | Path) -> KeySet:
    """Load identity's access-token signing keys (a private JWK set)."""
    return KeySet.import_key_set(msgspec.json.decode(Path(path).read_bytes()))


def own_credential_files(credentials: Path) -> dict[str, Path]:
    """Beside the full ``credentials`` file, one file per service holding only that service's
    entry (``<service>.service-credentials.json``, 0600), rewritten from the full file each
    time: a service reads its own client secret and never another's. Identity, which checks
    every client, is the only one that gets the full file."""
    everyone = load_service_credentials(credentials)
    paths: dict[str, Path] = {}
    for name, credential in sorted(everyone.items()):
        path = credentials.with_name(f"{name}.{credentials.name}")
        content = msgspec.json.encode({name: credential})
        if not path.exists() or path.read_bytes() != content:
            _write_file(path, content, replace=True)
        paths[name] = path
    return paths


def load_service_credentials(path: str | Path) -> dict[str, ServiceCredential]:
    """Load every service's client credentials, keyed by service name."""
    return msgspec.json.decode(Path(path).read_bytes(), type=dict[str, ServiceCredential])


@dataclass(frozen=True, repr=False)
class PlatformSecrets:
    """The secrets a service uses at run time, loaded from one directory."""

    token_keyring: TokenKeyring
    field_cipher: FieldCipher
    email_hasher: EmailHasher
    ip_pseudonymiser: IpPseudonymiser

    @classmethod
    def load(cls, directory: str | Path) -> PlatformSecrets:
        """Load the secrets from the files ``generate_secrets`` writes (or a mounted Secret)."""
        directory = Path(directory)
        return cls(
            token_keyring=load_token_keyring(directory / TOKEN_KEYRING_FILE),
            field_cipher=load_field_cipher(directory / FIELD_KEYS_FILE),
            email_hasher=load_email_hasher(directory / EMAIL_HASH_KEY_FILE),
            ip_pseudonymiser=load_ip_pseudonymiser(directory / IP_SALTS_FILE),
        )

    def __repr__(self) -> str:
        return "PlatformSecrets(<hidden>)"
