"""Anti-bot challenge verifiers (pluggable).

``HttpChallengeVerifier`` speaks the Cloudflare Turnstile / hCaptcha / reCAPTCHA "siteverify"
shape: POST ``secret``, ``response`` (the token the browser widget produced) and ``remoteip``
as a form to ``CHALLENGE_VERIFY_URL``; the answer is JSON with ``success``. Without a
configured verifier, throttling falls back to an increasing delay (see ``domain``).
"""

from __future__ import annotations

import logging
from typing import Protocol

import httpx

log = logging.getLogger(__name__)


class ChallengeVerifier(Protocol):
    async def verify(self, token: str, remote_ip: str) -> bool: ...


class HttpChallengeVerifier:
    def __init__(self, url: str, secret: str, *, timeout: float = 5.0) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout

    async def verify(self, token: str, remote_ip: str) -> bool:
        if not token or len(token) > 4096:
            return False
        form = {"secret": self.secret, "response": token}
        if remote_ip:
            form["remoteip"] = remote_ip
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                reply = await client.post(self.url, data=form)
            reply.raise_for_status()
            return bool(reply.json().get("success") is True)
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            # Failing closed: a broken verifier must not turn the challenge off.
            log.warning("challenge verifier unavailable: %s", type(exc).__name__)
            return False
