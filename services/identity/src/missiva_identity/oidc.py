"""OpenID Connect sign-in with one provider configured by environment (``OIDC_*``).

Authorization code flow with PKCE (S256), ``state`` and ``nonce``: the browser goes to the
provider's authorization endpoint; identity later swaps the code for tokens at the token
endpoint (client secret basic auth plus the PKCE verifier) and verifies the ID token against
the provider's JWKS: signature, issuer, audience, expiry and nonce. Discovery and keys are
fetched from ``<issuer>/.well-known/openid-configuration`` and cached.
"""

from __future__ import annotations

import base64
import hashlib
import time
import urllib.parse
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from missiva_identity.config import IdentitySettings

ID_TOKEN_ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA", "Ed25519"]
_CACHE_SECONDS = 300.0


class OidcError(Exception):
    """The provider did not confirm the sign-in (the reason is for logs, not for users)."""


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcProvider:
    def __init__(self, settings: IdentitySettings, client_secret: str) -> None:
        self.issuer = (settings.oidc_issuer or "").rstrip("/")
        self.client_id = settings.oidc_client_id or ""
        self.client_secret = client_secret
        self.scopes = settings.oidc_scopes
        self.redirect_uris = {
            u.strip() for u in settings.oidc_redirect_uris.split(",") if u.strip()
        }
        self._metadata: tuple[float, dict[str, Any]] | None = None
        self._keys: tuple[float, KeySet] | None = None

    @property
    def configured(self) -> bool:
        return bool(self.issuer and self.client_id)

    async def _get_json(self, url: str) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=5.0) as client:
            reply = await client.get(url)
        reply.raise_for_status()
        data = reply.json()
        if not isinstance(data, dict):
            raise OidcError(f"{url} did not answer a JSON object")
        return data

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._metadata[0] > _CACHE_SECONDS:
            data = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
            if data.get("issuer", "").rstrip("/") != self.issuer:
                raise OidcError("the discovery document names another issuer")
            self._metadata = (time.monotonic(), data)
        return self._metadata[1]

    async def _key_set(self, refresh: bool = False) -> KeySet:
        if refresh or self._keys is None or time.monotonic() - self._keys[0] > _CACHE_SECONDS:
            data = await self._get_json(str((await self.metadata())["jwks_uri"]))
            self._keys = (time.monotonic(), KeySet.import_key_set(data))  # type: ignore[arg-type]
        return self._keys[1]

    async def authorization_url(
        self, *, state: str, nonce: str, verifier: str, redirect_uri: str
    ) -> str:
        endpoint = str((await self.metadata())["authorization_endpoint"])
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": self.scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": code_challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def exchange(
        self, *, code: str, verifier: str, redirect_uri: str, nonce: str
    ) -> dict[str, Any]:
        """Swap the code for tokens; return the verified ID token's claims."""
        try:
            endpoint = str((await self.metadata())["token_endpoint"])
            async with httpx.AsyncClient(timeout=5.0) as client:
                reply = await client.post(
                    endpoint,
                    data={
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": redirect_uri,
                        "code_verifier": verifier,
                    },
                    auth=(self.client_id, self.client_secret),
                    headers={"Accept": "application/json"},
                )
            if reply.status_code != 200:
                raise OidcError(f"token endpoint answered {reply.status_code}")
            id_token = reply.json().get("id_token")
            if not isinstance(id_token, str):
                raise OidcError("no id_token in the token response")
            return await self._verify(id_token, nonce)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise OidcError(f"{type(exc).__name__}: {exc}") from exc

    async def _verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        for refresh in (False, True):  # a key we have not seen yet: refetch once
            keys = await self._key_set(refresh)
            try:
                decoded = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGORITHMS)
                break
            except JoseError as exc:
                if refresh:
                    raise OidcError(f"id_token signature: {exc}") from exc
        claims = dict(decoded.claims)
        registry = jwt.JWTClaimsRegistry(
            now=int(time.time()),
            leeway=60,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            exp={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise OidcError(f"id_token claims: {exc}") from exc
        return claims
