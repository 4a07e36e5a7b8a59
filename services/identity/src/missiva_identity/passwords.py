"""Password storage (argon2id) and breached-password checks.

- ``PasswordHashing``: argon2id with the configured parameters, run on worker threads with a
  bound on how many run at once (each takes ``memory_kib`` of RAM), a dummy verification for
  unknown accounts so timing does not tell them apart, and rehash-on-login when the
  parameters change.
- ``BreachedPasswords``: an offline list of the most common passwords (the 30,000 of the
  ``zxcvbn`` package) and, when ``PWNED_PASSWORDS_URL`` is set, the Pwned Passwords range API
  with k-anonymity: only the first 5 hex characters of the SHA-1 leave the server, and the
  response is padded so its size does not betray the prefix either.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging

import httpx
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from missiva_identity.config import IdentitySettings
from missiva_identity.domain import password_for_hashing

log = logging.getLogger(__name__)


class PasswordHashing:
    def __init__(self, settings: IdentitySettings) -> None:
        self.hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._slots = asyncio.Semaphore(settings.argon2_max_concurrency)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self.hasher.hash, password_for_hashing(password))

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored``; with no stored hash, burn the same time."""
        if stored is None:
            stored = await self._dummy_hash()
            await self._check(stored, password)
            return False
        return await self._check(stored, password)

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    async def _check(self, stored: str, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(_verify, self.hasher, stored, password)

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await self.hash("not-a-password-of-anyone")
        return self._dummy


def _verify(hasher: PasswordHasher, stored: str, password: str) -> bool:
    try:
        return hasher.verify(stored, password_for_hashing(password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@functools.cache
def common_passwords() -> frozenset[str]:
    """The most common passwords, lower-cased (shipped by the ``zxcvbn`` package)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(p.lower() for p in FREQUENCY_LISTS["passwords"])


class BreachedPasswords:
    """Is a candidate password known to attackers?"""

    def __init__(self, settings: IdentitySettings, client: httpx.AsyncClient | None = None):
        self.base_url = (settings.pwned_passwords_url or "").rstrip("/")
        self.timeout = settings.pwned_passwords_timeout_seconds
        self._client = client

    async def is_breached(self, password: str) -> bool:
        candidate = password_for_hashing(password)
        if candidate.lower() in common_passwords():
            return True
        if not self.base_url:
            return False
        return await self._in_pwned_corpus(candidate)

    async def _in_pwned_corpus(self, password: str) -> bool:
        digest = hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()
        prefix, suffix = digest[:5], digest[5:]
        try:
            client = self._client or httpx.AsyncClient(timeout=self.timeout)
            try:
                reply = await client.get(
                    f"{self.base_url}/range/{prefix}",
                    headers={"Add-Padding": "true", "User-Agent": "missiva-identity"},
                    timeout=self.timeout,
                )
            finally:
                if self._client is None:
                    await client.aclose()
            reply.raise_for_status()
        except httpx.HTTPError as exc:
            # Failing open keeps sign-up working through an outage; the offline list still
            # applied. The prefix and password are never logged.
            log.warning("pwned passwords range API unavailable: %s", type(exc).__name__)
            return False
        for line in reply.text.splitlines():
            found, _, count = line.strip().partition(":")
            if found.upper() == suffix:
                # Padding lines carry a count of 0: they are not breaches.
                return count.strip().isdigit() and int(count) > 0
        return False
