"""Access-token signing keys: stored encrypted, rotated, published as a JWKS, used to sign.

One key signs at a time. Rotating publishes a fresh key at once and makes it the signer
``SIGNING_KEY_PUBLISH_SECONDS`` later (so every verifier's cached JWKS knows it by then);
the previous key then retires: it no longer signs but stays in the JWKS until ``drop_after``
(the longest token lifetime plus a margin), by which time every token it signed has expired;
then it is deleted (a retention rule). Private keys live in the database encrypted with the
field cipher, so every replica signs with the same key; the first start seeds them from
``JWT_SIGNING_KEYS_FILE`` (or generates one).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from joserfc import jwt
from joserfc.jwk import KeySet, OKPKey
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from missiva_identity.config import IdentitySettings
from missiva_identity.vault import IdentityVault
from missiva_platform import secrets as platform_secrets
from missiva_platform.auth import ALGORITHM, AUDIENCE, ISSUER, JwksSource
from missiva_platform.crypto import DecryptionError

log = logging.getLogger(__name__)

_SEED_LOCK = 0x49444B59  # advisory lock: one replica seeds the keys


def _aad(kid: str) -> str:
    return f"signing-key:{kid}"


def public_jwk(key: OKPKey) -> dict[str, Any]:
    doc = dict(key.as_dict(private=False))
    doc["use"] = "sig"
    return doc


def _new_key() -> OKPKey:
    return OKPKey.generate_key("Ed25519", parameters={"use": "sig"}, private=True, auto_kid=True)


@dataclass(frozen=True)
class _Loaded:
    at: float
    kid: str
    key: OKPKey
    jwks: dict[str, Any]


class SigningKeys:
    def __init__(
        self,
        settings: IdentitySettings,
        vault: IdentityVault,
        pool: Callable[[], AsyncConnectionPool | None],
    ) -> None:
        self.settings = settings
        self.vault = vault
        self._pool = pool
        self._loaded: _Loaded | None = None

    # -- signing -------------------------------------------------------------------------

    async def sign(self, claims: Mapping[str, Any], ttl_seconds: int) -> tuple[str, int]:
        """A signed JWT with the standard claims added; returns (token, exp)."""
        loaded = await self._current()
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_seconds,
            "jti": str(uuid.uuid4()),
            **claims,
        }
        header = {"alg": ALGORITHM, "kid": loaded.kid, "typ": "JWT"}
        return jwt.encode(header, body, loaded.key, algorithms=[ALGORITHM]), body["exp"]

    async def verify(self, token: str) -> dict[str, Any]:
        """Claims of a token this service signed (already checked by the interceptor)."""
        loaded = await self._current()
        keys = KeySet.import_key_set(loaded.jwks)  # type: ignore[arg-type]
        return dict(jwt.decode(token, keys, algorithms=[ALGORITHM]).claims)

    async def jwks(self) -> dict[str, Any]:
        return (await self._current()).jwks

    def invalidate(self) -> None:
        self._loaded = None

    async def _current(self) -> _Loaded:
        loaded = self._loaded
        if (
            loaded is None
            or time.monotonic() - loaded.at > self.settings.signing_keys_reload_seconds
        ):
            pool = self._pool()
            if pool is None:
                raise RuntimeError("signing keys need the database")
            async with pool.connection() as conn:
                loaded = await self._load(conn)
            self._loaded = loaded
        return loaded

    async def _load(self, conn: psycopg.AsyncConnection[Any]) -> _Loaded:
        await self.seed(conn)
        cur = await conn.execute(
            "SELECT kid, private_jwk, public_jwk, activates_at <= now() FROM signing_keys"
            " WHERE drop_after IS NULL OR drop_after > now() ORDER BY activates_at"
        )
        rows = await cur.fetchall()
        active: tuple[str, OKPKey] | None = None
        for kid, blob, _, signs in rows:
            if not signs:
                continue  # published, not yet signing; the newest activated key wins
            try:
                private = self.vault.field_cipher.decrypt(bytes(blob), _aad(kid))
                active = (kid, OKPKey.import_key(json.loads(private)))
            except DecryptionError:
                log.warning("signing key %s cannot be decrypted with FIELD_KEYS_FILE", kid)
        if active is None:
            # Stored keys unreadable (e.g. a throwaway field key after a restart): start afresh.
            await self.rotate(conn, lead=timedelta(0))
            await conn.commit()
            return await self._load(conn)
        await conn.commit()
        jwks = {"keys": [dict(public) for _, _, public, _ in rows]}
        return _Loaded(time.monotonic(), active[0], active[1], jwks)

    # -- storage -------------------------------------------------------------------------

    async def seed(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Store the keys of ``JWT_SIGNING_KEYS_FILE`` (or a new one) if none are stored."""
        cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM signing_keys)")
        row = await cur.fetchone()
        if row and row[0]:
            return
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SEED_LOCK,))
            cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM signing_keys)")
            row = await cur.fetchone()
            if row and row[0]:
                return
            keys: list[OKPKey] = []
            if self.settings.jwt_signing_keys_file:
                key_set = platform_secrets.load_jwt_signing_keys(
                    self.settings.jwt_signing_keys_file
                )
                keys = [k for k in key_set.keys if isinstance(k, OKPKey)]
            if not keys:
                keys = [_new_key()]
            grace = self._grace()
            for index, key in enumerate(keys):
                last = index == len(keys) - 1
                await self._store(conn, key, retired=not last, grace=grace)
            log.info("signing keys seeded", extra={"keys": len(keys)})

    async def _store(
        self,
        conn: psycopg.AsyncConnection[Any],
        key: OKPKey,
        *,
        retired: bool,
        grace: timedelta,
        now: datetime | None = None,
        lead: timedelta = timedelta(0),
    ) -> None:
        kid = key.kid or key.thumbprint()
        private = dict(key.as_dict(private=True))
        private["kid"] = kid
        blob = self.vault.field_cipher.encrypt(json.dumps(private), _aad(kid))
        public = public_jwk(key)
        public["kid"] = kid
        await conn.execute(
            "INSERT INTO signing_keys (kid, private_jwk, public_jwk, created_at, activates_at,"
            " retired_at, drop_after) VALUES (%(kid)s, %(blob)s, %(public)s,"
            " coalesce(%(now)s, now()), coalesce(%(now)s, now()) + %(lead)s,"
            " CASE WHEN %(retired)s THEN coalesce(%(now)s, now()) END,"
            " CASE WHEN %(retired)s THEN coalesce(%(now)s, now()) + %(grace)s END)",
            {
                "kid": kid,
                "blob": blob,
                "public": Jsonb(public),
                "now": now,
                "retired": retired,
                "grace": grace,
                "lead": lead,
            },
        )

    def _grace(self) -> timedelta:
        return timedelta(
            seconds=self.settings.max_token_ttl_seconds + self.settings.signing_key_grace_seconds
        )

    async def rotate(
        self,
        conn: psycopg.AsyncConnection[Any],
        now: datetime | None = None,
        *,
        lead: timedelta | None = None,
    ) -> tuple[str, str | None]:
        """Publish a new key that signs after ``lead`` (default: the publish setting); the
        current one retires then. Returns (new kid, old kid)."""
        if lead is None:
            lead = timedelta(seconds=self.settings.signing_key_publish_seconds)
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SEED_LOCK,))
            cur = await conn.execute(
                "UPDATE signing_keys SET retired_at = coalesce(%(now)s, now()) + %(lead)s,"
                " drop_after = coalesce(%(now)s, now()) + %(lead)s + %(grace)s"
                " WHERE retired_at IS NULL RETURNING kid",
                {"now": now, "grace": self._grace(), "lead": lead},
            )
            old = await cur.fetchone()
            key = _new_key()
            await self._store(conn, key, retired=False, grace=self._grace(), now=now, lead=lead)
        self.invalidate()
        return str(key.kid), (str(old[0]) if old else None)


class SigningKeysJwks(JwksSource):
    """Identity verifies its own tokens through the kit, from its own key store."""

    def __init__(self, keys: SigningKeys) -> None:
        self.keys = keys

    async def fetch(self) -> Mapping[str, Any]:
        return await self.keys.jwks()
