"""A token issuer for tests of services other than identity (same claims, same algorithm)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

from joserfc import jwt
from joserfc.jwk import OKPKey

from missiva_platform.auth import ALGORITHM, AUDIENCE, ISSUER, CallerKind, StaticJwks


class TestIssuer:
    """Signs access tokens like identity does; exposes its JWKS as a ``StaticJwks``.

    A token has no scope unless ``scopes`` names some (a user token from identity carries
    ``*``: pass it). A service token names the service it is for in ``audience``.
    """

    __test__ = False  # not a pytest class

    def __init__(self, kid: str = "test-key-1") -> None:
        self.keys: dict[str, OKPKey] = {}
        self.kid = ""
        self.rotate(kid)

    def rotate(self, kid: str | None = None) -> str:
        kid = kid or f"test-key-{len(self.keys) + 1}"
        self.keys[kid] = OKPKey.generate_key("Ed25519", parameters={"kid": kid})
        self.kid = kid
        return kid

    def retire(self, kid: str) -> None:
        del self.keys[kid]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.as_dict(private=False) for k in self.keys.values()]}

    def source(self) -> StaticJwks:
        issuer = self

        class _Live(StaticJwks):
            async def fetch(self) -> dict[str, Any]:
                return issuer.jwks()

        return _Live({})

    def token(
        self,
        *,
        tenant_id: str = "tenant-a",
        subject: str = "user-1",
        kind: CallerKind = CallerKind.USER,
        roles: Iterable[str] = ("admin",),
        scopes: Iterable[str] = (),
        ttl: int = 600,
        kid: str | None = None,
        audience: str = "",
        **extra: Any,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "tid": tenant_id,
            "typ": str(kind),
            "roles": list(roles),
            "scope": " ".join(scopes),
            "mfa": False,
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + ttl,
            **({"svc_aud": audience} if kind is CallerKind.SERVICE else {}),
            **extra,
        }
        use = kid or self.kid
        header = {"alg": ALGORITHM, "kid": use, "typ": "JWT"}
        return jwt.encode(header, claims, self.keys[use], algorithms=[ALGORITHM])
