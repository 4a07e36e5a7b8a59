"""Cryptographic building blocks of the platform.

- ``TokenKeyring``: HMAC-SHA256 tokens for public links (unsubscribe, preferences, confirm...),
  scoped to a purpose, signed by the newest key and verifiable by any key still in the ring.
- ``FieldCipher``: AES-256-GCM encryption of sensitive columns under a key id, with the owner
  as associated data; ``reencrypt_column`` moves a column to the newest key.
- ``EmailHasher``: the keyed hash of a normalised email that identifies a person across services.
- ``IpPseudonymiser``: salted (per year) hashes of IP addresses and their networks.

Keyrings are immutable: ``rotate`` and ``retire`` return a new keyring. Their JSON form is
``{"primary": "<kid>", "keys": {"<kid>": "<base64 key>", ...}}``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import ipaddress
import re
import secrets
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Self

import msgspec
import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg import sql

__all__ = [
    "DecryptionError",
    "EmailHasher",
    "FieldCipher",
    "InvalidToken",
    "IpPseudonymiser",
    "TokenKeyring",
    "generate_salt",
    "normalise_email",
    "reencrypt_column",
]

KEY_BYTES = 32
_KID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*$")


# --------------------------------------------------------------------------- encoding helpers


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    """Strict unpadded base64url: only the alphabet, and only the canonical encoding."""
    if not _B64URL_RE.fullmatch(text):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # Non-canonical trailing bits would let two strings decode to the same bytes.
    if _b64url_encode(data) != text:
        raise ValueError("non-canonical base64url")
    return data


def _require_aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return moment


# --------------------------------------------------------------------------- keyrings


class _KeyringDocument(msgspec.Struct):
    primary: str
    keys: dict[str, str]


class _Keyring:
    """Key ids mapped to secret keys, one of which (the newest) is the primary."""

    _kind: ClassVar[str] = "keyring"

    def __init__(self, keys: Mapping[str, bytes], primary: str) -> None:
        if not keys:
            raise ValueError(f"a {self._kind} needs at least one key")
        for kid, key in keys.items():
            if not _KID_RE.fullmatch(kid):
                raise ValueError(f"invalid key id {kid!r}: use 1-64 of [A-Za-z0-9_-]")
            self._check_key(kid, key)
        if primary not in keys:
            raise ValueError(f"primary key id {primary!r} is not in the {self._kind}")
        self._keys: dict[str, bytes] = dict(keys)
        self._primary = primary

    @staticmethod
    def _check_key(kid: str, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) < KEY_BYTES:
            raise ValueError(f"key {kid!r} must be at least {KEY_BYTES} bytes")

    @staticmethod
    def _new_key() -> bytes:
        return secrets.token_bytes(KEY_BYTES)

    def _new_kid(self) -> str:
        # Random rather than sequential ids: two operators rotating a copy never collide.
        while True:
            kid = secrets.token_hex(4)
            if kid not in self._keys:
                return kid

    @classmethod
    def generate(cls) -> Self:
        """Return a keyring with a single fresh random key as primary."""
        key = cls._new_key()
        kid = secrets.token_hex(4)
        return cls({kid: key}, kid)

    @property
    def primary_kid(self) -> str:
        """Id of the key that signs/encrypts new material."""
        return self._primary

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Ids of every key in the ring, oldest first."""
        return tuple(self._keys)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def rotate(self) -> Self:
        """Return a new keyring with a fresh primary key; existing keys are kept for reading."""
        kid = self._new_kid()
        return type(self)({**self._keys, kid: self._new_key()}, kid)

    def retire(self, kid: str) -> Self:
        """Return a new keyring without ``kid``; the primary cannot be retired."""
        if kid not in self._keys:
            raise KeyError(f"key id {kid!r} is not in the {self._kind}")
        if kid == self._primary:
            raise ValueError(f"cannot retire the primary key {kid!r}; rotate first")
        return type(self)({k: v for k, v in self._keys.items() if k != kid}, self._primary)

    def to_json(self) -> bytes:
        """Serialise the keyring (secret material!) as JSON bytes."""
        doc = _KeyringDocument(
            primary=self._primary,
            keys={kid: base64.b64encode(key).decode("ascii") for kid, key in self._keys.items()},
        )
        return msgspec.json.encode(doc)

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        """Load a keyring from the JSON produced by ``to_json``."""
        try:
            doc = msgspec.json.decode(data, type=_KeyringDocument)
            keys = {kid: base64.b64decode(b64, validate=True) for kid, b64 in doc.keys.items()}
        except (msgspec.DecodeError, binascii.Error) as exc:
            raise ValueError(f"invalid {cls._kind} JSON: {exc}") from exc
        return cls(keys, doc.primary)

    @classmethod
    def from_file(cls, path: str | Path) -> Self:
        """Load a keyring from a JSON file (e.g. a mounted Kubernetes Secret)."""
        return cls.from_json(Path(path).read_bytes())

    def __repr__(self) -> str:
        # Never show key material, only ids.
        return f"{type(self).__name__}(primary={self._primary!r}, key_ids={list(self._keys)!r})"


# --------------------------------------------------------------------------- tokens


class InvalidToken(Exception):
    """A token was refused; ``reason`` says why.

    One of ``"malformed"``, ``"unknown_key"``, ``"bad_signature"``, ``"expired"``,
    ``"wrong_purpose"``.
    """

    REASONS: ClassVar[frozenset[str]] = frozenset(
        {"malformed", "unknown_key", "bad_signature", "expired", "wrong_purpose"}
    )

    def __init__(self, reason: str) -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown InvalidToken reason {reason!r}")
        super().__init__(f"invalid token: {reason}")
        self.reason = reason


_TOKEN_VERSION = "v1"  # noqa: S105 - a format tag, not a secret
_RESERVED_CLAIMS = frozenset({"p", "iat", "exp"})
# Links end up in URLs and headers; anything longer is not one of ours.
_MAX_TOKEN_CHARS = 4096


class TokenKeyring(_Keyring):
    """HMAC-SHA256 tokens with key ids, scoped to a purpose.

    A token is ``v1.<kid>.<b64url(json payload)>.<b64url(mac)>``; the MAC covers
    ``v1.<kid>.<payload>``. The payload holds ``p`` (purpose), ``iat``, optional ``exp``
    (Unix seconds) and the caller's claims.
    """

    _kind = "token keyring"

    def _mac(self, key: bytes, signing_input: str) -> str:
        return _b64url_encode(hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest())

    def sign(
        self,
        purpose: str,
        claims: Mapping[str, Any],
        *,
        ttl: timedelta | None = None,
        now: datetime | None = None,
    ) -> str:
        """Sign ``claims`` for ``purpose`` with the primary key; expire after ``ttl`` if given."""
        if not purpose:
            raise ValueError("purpose must not be empty")
        clash = _RESERVED_CLAIMS.intersection(claims)
        if clash:
            raise ValueError(f"claims may not use reserved names {sorted(clash)}")
        issued = _require_aware(now, "now") if now is not None else datetime.now(UTC)
        payload: dict[str, Any] = {"p": purpose, "iat": int(issued.timestamp())}
        if ttl is not None:
            if ttl <= timedelta(0):
                raise ValueError("ttl must be positive")
            payload["exp"] = int((issued + ttl).timestamp())
        payload.update(claims)
        signing_input = ".".join(
            (_TOKEN_VERSION, self._primary, _b64url_encode(msgspec.json.encode(payload)))
        )
        return f"{signing_input}.{self._mac(self._keys[self._primary], signing_input)}"

    def tag(self, data: bytes, *, size: int = 10) -> tuple[str, bytes]:
        """A short MAC of ``data`` under the primary key: (key id, first ``size`` bytes).

        For identifiers that must be compact (a VERP address's local part holds 64
        characters); use ``sign`` wherever a whole token fits."""
        if not 8 <= size <= 32:
            raise ValueError("a tag is 8 to 32 bytes")
        digest = hmac.new(self._keys[self._primary], data, hashlib.sha256).digest()
        return self._primary, digest[:size]

    def check_tag(self, kid: str, data: bytes, tag: bytes) -> bool:
        """Whether ``tag`` is the MAC ``tag`` made of ``data`` under key ``kid``."""
        key = self._keys.get(kid)
        if key is None or not 8 <= len(tag) <= 32:
            return False
        digest = hmac.new(key, data, hashlib.sha256).digest()
        return hmac.compare_digest(digest[: len(tag)], tag)

    def derive(self, label: str) -> TokenKeyring:
        """A keyring of the same key ids whose keys are HMAC(key, ``label``): tokens of one
        use (page tokens, say) then never verify as another's, whatever their purpose."""
        if not label:
            raise ValueError("label must not be empty")
        derived = {
            kid: hmac.new(key, f"missiva-derive:{label}".encode(), hashlib.sha256).digest()
            for kid, key in self._keys.items()
        }
        return TokenKeyring(derived, self._primary)

    def verify(self, token: str, purpose: str, *, now: datetime | None = None) -> dict[str, Any]:
        """Check ``token`` and return the claims it was signed with.

        Raises ``InvalidToken`` when the token is malformed, names a key no longer in the
        ring, fails the MAC check, was issued for another purpose or has expired.
        """
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS or not token.isascii():
            raise InvalidToken("malformed")
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != _TOKEN_VERSION:
            raise InvalidToken("malformed")
        _, kid, payload_b64, mac = parts
        if not _KID_RE.fullmatch(kid) or not _B64URL_RE.fullmatch(mac):
            raise InvalidToken("malformed")
        key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("unknown_key")
        expected = self._mac(key, f"{_TOKEN_VERSION}.{kid}.{payload_b64}")
        if not hmac.compare_digest(expected, mac):
            raise InvalidToken("bad_signature")
        try:
            payload = msgspec.json.decode(_b64url_decode(payload_b64))
        except (ValueError, msgspec.DecodeError) as exc:
            raise InvalidToken("malformed") from exc
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("p"), str)
            or not isinstance(payload.get("iat"), int)
            or not isinstance(payload.get("exp", 0), int)
        ):
            raise InvalidToken("malformed")
        # A link's token is never valid elsewhere, whatever its age.
        if payload["p"] != purpose:
            raise InvalidToken("wrong_purpose")
        if "exp" in payload:
            moment = _require_aware(now, "now") if now is not None else datetime.now(UTC)
            if moment.timestamp() >= payload["exp"]:
                raise InvalidToken("expired")
        return {k: v for k, v in payload.items() if k not in _RESERVED_CLAIMS}


# --------------------------------------------------------------------------- field encryption


class DecryptionError(Exception):
    """A blob could not be decrypted; ``reason`` is "malformed", "unknown_key" or "auth_failed"."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


_BLOB_FORMAT_V1 = 0x01
_NONCE_BYTES = 12
_TAG_BYTES = 16


def _as_bytes(value: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


class FieldCipher(_Keyring):
    """AES-256-GCM encryption of single fields under a key id, bound to associated data.

    A blob is ``0x01 | len(kid) | kid | 12-byte nonce | ciphertext+tag``. The header is
    authenticated together with the caller's associated data (e.g. the owning account id),
    so a value copied to another account's row does not decrypt.
    """

    _kind = "field cipher keyring"

    @staticmethod
    def _check_key(kid: str, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise ValueError(f"AES-256 key {kid!r} must be exactly {KEY_BYTES} bytes")

    @staticmethod
    def _header(kid: str) -> bytes:
        raw = kid.encode("ascii")
        return bytes((_BLOB_FORMAT_V1, len(raw))) + raw

    @staticmethod
    def _split(blob: bytes) -> tuple[str, bytes, bytes, bytes]:
        """Return (kid, header, nonce, ciphertext) of a blob or raise ``DecryptionError``."""
        if len(blob) < 2 or blob[0] != _BLOB_FORMAT_V1:
            raise DecryptionError("malformed", "not a field-cipher blob (unknown format)")
        kid_end = 2 + blob[1]
        if len(blob) < kid_end + _NONCE_BYTES + _TAG_BYTES:
            raise DecryptionError("malformed", "field-cipher blob is truncated")
        try:
            kid = blob[2:kid_end].decode("ascii")
        except UnicodeDecodeError as exc:
            raise DecryptionError("malformed", "field-cipher blob has a bad key id") from exc
        nonce_end = kid_end + _NONCE_BYTES
        return kid, blob[:kid_end], blob[kid_end:nonce_end], blob[nonce_end:]

    def encrypt(self, plaintext: bytes | str, aad: bytes | str) -> bytes:
        """Encrypt under the primary key; ``aad`` must be given again to decrypt."""
        header = self._header(self._primary)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = AESGCM(self._keys[self._primary]).encrypt(
            nonce, _as_bytes(plaintext), header + _as_bytes(aad)
        )
        return header + nonce + sealed

    def decrypt(self, blob: bytes, aad: bytes | str) -> bytes:
        """Decrypt a blob written under any key still in the ring.

        Raises ``DecryptionError`` if the blob is malformed or tampered with, its key was
        retired, or ``aad`` is not what it was encrypted with.
        """
        kid, header, nonce, sealed = self._split(_as_bytes(blob))
        key = self._keys.get(kid)
        if key is None:
            raise DecryptionError("unknown_key", f"key id {kid!r} is not in the keyring")
        try:
            return AESGCM(key).decrypt(nonce, sealed, header + _as_bytes(aad))
        except InvalidTag as exc:
            raise DecryptionError(
                "auth_failed", "authentication failed: wrong associated data or tampered blob"
            ) from exc

    def key_id(self, blob: bytes) -> str:
        """Id of the key a blob was encrypted under."""
        return self._split(_as_bytes(blob))[0]

    def needs_rotation(self, blob: bytes) -> bool:
        """Whether a blob was encrypted under a key other than the primary."""
        return self.key_id(blob) != self._primary

    def reencrypt(self, blob: bytes, aad: bytes | str) -> bytes:
        """Decrypt ``blob`` and encrypt it again under the primary key with a fresh nonce."""
        return self.encrypt(self.decrypt(blob, aad), aad)

    def primary_prefix(self) -> bytes:
        """Leading bytes every blob under the primary key starts with (for SQL filtering)."""
        return self._header(self._primary)


def _identifier(name: str) -> sql.Identifier:
    # "schema.table" names a table in a schema; each part is quoted on its own.
    return sql.Identifier(*name.split("."))


def _aad_value(value: object) -> bytes | str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value)


async def reencrypt_column(
    conn: psycopg.AsyncConnection[Any],
    cipher: FieldCipher,
    *,
    table: str,
    key_column: str,
    value_column: str,
    aad_column: str,
    batch_size: int = 500,
) -> int:
    """Re-encrypt every blob in ``table.value_column`` not under the primary key.

    Rows are read in batches ordered by ``key_column`` (keyset pagination, each batch in its
    own transaction), decrypted with ``aad_column``'s value as associated data (bytes as they
    are, anything else as its text) and written back under the primary key. A row changed
    by someone else meanwhile is left alone. Returns the number of rows rewritten; running
    it again after an interruption continues where it stopped. Pass an autocommit
    connection so that each batch commits on its own.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    prefix = cipher.primary_prefix()
    table_id = _identifier(table)
    key_id, value_id, aad_id = (sql.Identifier(c) for c in (key_column, value_column, aad_column))
    first_page = sql.SQL(
        "SELECT {key}, {value}, {aad} FROM {table}"
        " WHERE {value} IS NOT NULL AND substring({value} FROM 1 FOR %(n)s) <> %(prefix)s"
        " ORDER BY {key} LIMIT %(limit)s"
    ).format(key=key_id, value=value_id, aad=aad_id, table=table_id)
    next_page = sql.SQL(
        "SELECT {key}, {value}, {aad} FROM {table}"
        " WHERE {key} > %(after)s"
        " AND {value} IS NOT NULL AND substring({value} FROM 1 FOR %(n)s) <> %(prefix)s"
        " ORDER BY {key} LIMIT %(limit)s"
    ).format(key=key_id, value=value_id, aad=aad_id, table=table_id)
    # Compare-and-set on the old blob so a concurrent application write is never overwritten.
    update = sql.SQL("UPDATE {table} SET {value} = %s WHERE {key} = %s AND {value} = %s").format(
        table=table_id, value=value_id, key=key_id
    )

    rewritten = 0
    after: object = None
    params: dict[str, object] = {"n": len(prefix), "prefix": prefix, "limit": batch_size}
    while True:
        async with conn.transaction(), conn.cursor() as cur:
            if after is None:
                await cur.execute(first_page, params)
            else:
                await cur.execute(next_page, {**params, "after": after})
            rows = await cur.fetchall()
            for key, blob, aad in rows:
                old = bytes(blob)
                await cur.execute(update, (cipher.reencrypt(old, _aad_value(aad)), key, old))
                rewritten += cur.rowcount
        if len(rows) < batch_size:
            return rewritten
        after = rows[-1][0]


# --------------------------------------------------------------------------- person key


_PERSON_KEY_DOMAIN = b"missiva.person.v1\x00"


def normalise_email(email: str) -> str:
    """Canonical form of an email address: trimmed, NFC, lower-case, IDNA (ASCII) domain.

    Raises ``ValueError`` unless there is exactly one "@" with text on both sides. An ASCII
    address (NFC leaves it as it is) has its domain's IDNA form from a cache: an import hashes
    a million addresses on a few domains.
    """
    if not email.isascii():
        return _normalise_email(email)
    text = email.strip().lower()
    if text.count("@") != 1:
        raise ValueError("an email address needs exactly one '@'")
    local, domain = text.split("@")
    if not local or not domain:
        raise ValueError("an email address needs a local part and a domain")
    return f"{local}@{_ascii_domain(domain)}"


@functools.lru_cache(maxsize=4096)
def _ascii_domain(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ValueError(f"invalid email domain: {exc}") from exc


def _normalise_email(email: str) -> str:
    """``normalise_email`` of any text, without the cache."""
    text = unicodedata.normalize("NFC", email.strip()).lower()
    if text.count("@") != 1:
        raise ValueError("an email address needs exactly one '@'")
    local, domain = text.split("@")
    if not local or not domain:
        raise ValueError("an email address needs a local part and a domain")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"invalid email domain: {exc}") from exc
    return f"{local}@{ascii_domain.lower()}"


class EmailHasher:
    """Keyed hash of a normalised email: the key that identifies a person across services."""

    def __init__(self, key: bytes) -> None:
        if len(key) < KEY_BYTES:
            raise ValueError(f"the email hash key must be at least {KEY_BYTES} bytes")
        self._key = bytes(key)

    def person_key(self, email: str) -> str:
        """Hex HMAC-SHA256 of the normalised address (``ValueError`` if it is not one)."""
        message = _PERSON_KEY_DOMAIN + normalise_email(email).encode("utf-8")
        return hmac.digest(self._key, message, "sha256").hex()

    def __repr__(self) -> str:
        return "EmailHasher(<key hidden>)"


# --------------------------------------------------------------------------- IP pseudonyms


_IP_DOMAIN = b"missiva.ip.v1\x00"
_NETWORK_DOMAIN = b"missiva.ipnet.v1\x00"
_IPV4_PREFIX = 24
_IPV6_PREFIX = 64


def generate_salt() -> bytes:
    """A fresh random 32-byte salt for ``IpPseudonymiser``."""
    return secrets.token_bytes(KEY_BYTES)


def _parse_ip(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError as exc:
        raise ValueError(f"not an IP address: {ip!r}") from exc
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:a.b.c.d is the same client as a.b.c.d seen through a dual-stack socket.
        return address.ipv4_mapped
    return address


class IpPseudonymiser:
    """Salted hashes of IP addresses; the salt changes every year so hashes cannot be joined
    across years, and retiring a year's salt makes that year's hashes unlinkable."""

    def __init__(self, salts: Mapping[int, bytes]) -> None:
        for year, salt in salts.items():
            if len(salt) < 16:
                raise ValueError(f"the IP salt for {year} must be at least 16 bytes")
        self._salts = {int(year): bytes(salt) for year, salt in salts.items()}

    @property
    def years(self) -> tuple[int, ...]:
        """Years a salt is held for."""
        return tuple(sorted(self._salts))

    def _salt(self, at: datetime) -> bytes:
        year = _require_aware(at, "at").astimezone(UTC).year
        try:
            return self._salts[year]
        except KeyError:
            raise KeyError(f"no IP salt for year {year}; add one to the IP salts secret") from None

    def hash_ip(self, ip: str, *, at: datetime) -> str:
        """Hex HMAC of the full address under the salt of ``at``'s year."""
        address = _parse_ip(ip)
        salt = self._salt(at)
        return hmac.new(salt, _IP_DOMAIN + address.packed, hashlib.sha256).hexdigest()

    def hash_network(self, ip: str, *, at: datetime) -> str:
        """Hex HMAC of the address's /24 (IPv4) or /64 (IPv6) network."""
        address = _parse_ip(ip)
        salt = self._salt(at)
        prefix = _IPV4_PREFIX if address.version == 4 else _IPV6_PREFIX
        network = ipaddress.ip_network((address, prefix), strict=False)
        message = _NETWORK_DOMAIN + network.network_address.packed + bytes((prefix,))
        return hmac.new(salt, message, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return f"IpPseudonymiser(years={list(self.years)!r})"
