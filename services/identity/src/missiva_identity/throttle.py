"""Sign-in throttling per account and per pseudonymised IP, counted in PostgreSQL.

The account key is the person key of the address typed, so an unknown address is throttled
exactly like a known one (the answers must not tell them apart). Attempts on one account
serialise on an advisory lock, so the hourly cap holds even against parallel guesses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from missiva_identity import store
from missiva_identity.challenge import ChallengeVerifier
from missiva_identity.config import IdentitySettings
from missiva_identity.domain import throttle_decision
from missiva_platform.errors import FailedPrecondition, ResourceExhausted

CHALLENGE_REQUIRED = "CHALLENGE_REQUIRED"
TOO_MANY = "too many failed sign-in attempts; try again later"


@dataclass(frozen=True)
class ThrottleKeys:
    account: str
    ip: str | None

    @property
    def all(self) -> list[str]:
        return [self.account] + ([self.ip] if self.ip else [])


def keys_for(person_key: str, ip_pseudonym: str) -> ThrottleKeys:
    return ThrottleKeys(f"acct:{person_key}", f"ip:{ip_pseudonym}" if ip_pseudonym else None)


class LoginThrottle:
    def __init__(self, settings: IdentitySettings, verifier: ChallengeVerifier | None) -> None:
        self.settings = settings
        self.verifier = verifier

    async def admit(
        self,
        conn: Any,
        keys: ThrottleKeys,
        *,
        anti_bot_token: str,
        remote_ip: str,
        cap_only: bool = False,
    ) -> None:
        """Raise unless another attempt on ``keys`` may run now (call inside a transaction).

        ``cap_only`` applies just the hourly cap: for second factors and re-authentication,
        which have no anti-bot widget (a challenge token allows few tries anyway).
        """
        await store.lock_key(conn, keys.account)
        now = await store.db_now(conn)
        challenge = False
        wait = 0.0
        for key, cap, resets in (
            (keys.account, self.settings.login_max_failures_per_hour, True),
            (keys.ip, self.settings.login_max_failures_per_ip_per_hour, False),
        ):
            if key is None:
                continue
            counts = await store.attempt_counts(conn, key, reset_on_success=resets)
            decision = throttle_decision(
                counts,
                challenge_after=self.settings.login_challenge_after_failures,
                max_per_hour=cap,
                delay_base=self.settings.login_delay_base_seconds,
                delay_max=self.settings.login_delay_max_seconds,
                has_verifier=self.verifier is not None,
                now=now,
            )
            if decision.refused:
                raise ResourceExhausted(TOO_MANY)
            challenge = challenge or decision.challenge_required
            wait = max(wait, decision.retry_after_seconds)
        if not challenge or cap_only:
            return
        if self.verifier is None:
            raise ResourceExhausted(
                f"too many failed sign-in attempts; try again in {math.ceil(wait)} seconds"
            )
        if not await self.verifier.verify(anti_bot_token, remote_ip):
            raise FailedPrecondition(
                "too many failed sign-in attempts: solve the anti-bot challenge first",
                [(CHALLENGE_REQUIRED, "anti_bot_token", "send the token of a solved challenge")],
            )

    async def record(self, conn: Any, keys: ThrottleKeys, *, succeeded: bool) -> None:
        await store.record_attempt(conn, keys.all if not succeeded else [keys.account], succeeded)
