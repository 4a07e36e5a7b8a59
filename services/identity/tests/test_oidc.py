"""OpenID Connect sign-in (authorization code + PKCE) against a small provider on loopback."""

import base64
import hashlib
import json
import secrets
import time
import urllib.parse

import grpc
import pytest
from identity_testkit import LocalHttp, new_email, rpc_error
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from missiva.identity.v1 import identity_service_pb2 as pb

REDIRECT = "http://127.0.0.1:8080/oidc/callback"


class Provider:
    """Discovery, JWKS and a token endpoint that checks the client and the PKCE verifier."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256", parameters={"kid": "op-1"})
        self.codes: dict[str, dict] = {}
        self.server = LocalHttp(self.answer)
        self.nonce_override: str | None = None

    @property
    def issuer(self) -> str:
        return self.server.url

    def answer(self, method, path, headers, body):
        if path == "/.well-known/openid-configuration":
            return 200, json.dumps(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks",
                }
            )
        if path == "/jwks":
            return 200, json.dumps(KeySet([self.key]).as_dict(private=False))
        if path == "/token" and method == "POST":
            form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
            client = base64.b64decode(headers["authorization"].split()[1]).decode()
            grant = self.codes.pop(form.get("code", ""), None)
            if client != "missiva:op-secret" or grant is None:
                return 400, json.dumps({"error": "invalid_grant"})
            digest = hashlib.sha256(form["code_verifier"].encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
                return 400, json.dumps({"error": "invalid_grant", "error_description": "pkce"})
            if form["redirect_uri"] != grant["redirect_uri"]:
                return 400, json.dumps({"error": "invalid_grant"})
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "aud": "missiva",
                "sub": grant["sub"],
                "email": grant["email"],
                "email_verified": True,
                "nonce": self.nonce_override or grant["nonce"],
                "iat": now,
                "exp": now + 300,
            }
            token = jwt.encode(
                {"alg": "ES256", "kid": "op-1"}, claims, self.key, algorithms=["ES256"]
            )
            return 200, json.dumps({"id_token": token, "access_token": "x", "token_type": "Bearer"})
        return 404, "{}"

    def sign_in(self, authorization_url: str, sub: str, email: str) -> str:
        """What the browser does at the provider: returns the code sent to the redirect URI."""
        query = {
            k: v[0]
            for k, v in urllib.parse.parse_qs(
                urllib.parse.urlsplit(authorization_url).query
            ).items()
        }
        assert query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256"
        assert query["client_id"] == "missiva"
        assert "openid" in query["scope"].split()
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "challenge": query["code_challenge"],
            "nonce": query["nonce"],
            "redirect_uri": query["redirect_uri"],
            "sub": sub,
            "email": email,
        }
        return code


@pytest.fixture
async def with_provider(make_identity, tmp_path):
    provider = Provider()
    secret = tmp_path / "oidc-secret"
    secret.write_text("op-secret\n")
    with provider.server:
        async with make_identity(
            oidc_issuer=provider.issuer,
            oidc_client_id="missiva",
            oidc_client_secret_file=str(secret),
            oidc_redirect_uris=REDIRECT,
        ) as identity:
            yield identity, provider


async def start(identity) -> pb.StartOidcLoginResponse:
    return await identity.stub.StartOidcLogin(pb.StartOidcLoginRequest(redirect_uri=REDIRECT))


async def test_a_verified_user_signs_in_with_the_provider_and_stays_linked(with_provider):
    identity, provider = with_provider
    user = await identity.user()
    started = await start(identity)
    assert started.authorization_url.startswith(f"{provider.issuer}/authorize?")
    code = provider.sign_in(started.authorization_url, "op-user-1", user.email)
    done = await identity.stub.CompleteOidcLogin(
        pb.CompleteOidcLoginRequest(state=started.state, code=code)
    )
    account = await identity.stub.GetAccount(
        pb.GetAccountRequest(), metadata=(("authorization", f"Bearer {done.tokens.access_token}"),)
    )
    assert account.profile.user_id == user.user_id
    # Linked by subject now: a changed address at the provider still reaches the same user.
    again = await start(identity)
    code = provider.sign_in(again.authorization_url, "op-user-1", "renamed@example.org")
    done = await identity.stub.CompleteOidcLogin(
        pb.CompleteOidcLoginRequest(state=again.state, code=code)
    )
    assert done.tokens.access_token
    err = await rpc_error(
        identity.stub.CompleteOidcLogin(pb.CompleteOidcLoginRequest(state=again.state, code=code))
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT  # a state works once
    log = await identity.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(action_prefix="login."),
        metadata=(("authorization", f"Bearer {done.tokens.access_token}"),),
    )
    assert any(e.details.get("method") == "oidc" for e in log.audit_events)


async def test_a_wrong_nonce_a_bad_code_and_an_unknown_identity_are_refused(with_provider):
    identity, provider = with_provider
    started = await start(identity)
    err = await rpc_error(
        identity.stub.CompleteOidcLogin(
            pb.CompleteOidcLoginRequest(state=started.state, code="made-up")
        )
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED

    user = await identity.user()
    started = await start(identity)
    code = provider.sign_in(started.authorization_url, "op-user-2", user.email)
    provider.nonce_override = "replayed-nonce"
    err = await rpc_error(
        identity.stub.CompleteOidcLogin(pb.CompleteOidcLoginRequest(state=started.state, code=code))
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    provider.nonce_override = None

    started = await start(identity)
    code = provider.sign_in(started.authorization_url, "op-user-3", new_email("stranger"))
    err = await rpc_error(
        identity.stub.CompleteOidcLogin(pb.CompleteOidcLoginRequest(state=started.state, code=code))
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    err = await rpc_error(
        identity.stub.StartOidcLogin(
            pb.StartOidcLoginRequest(redirect_uri="https://evil.example/cb")
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_without_a_provider_oidc_sign_in_is_not_available(identity):
    err = await rpc_error(
        identity.stub.StartOidcLogin(pb.StartOidcLoginRequest(redirect_uri=REDIRECT))
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
