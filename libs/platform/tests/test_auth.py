import time

import pytest

from missiva_platform.auth import (
    Access,
    CallerKind,
    TokenVerifier,
    authorize,
    rule,
)
from missiva_platform.errors import PermissionDenied, Unauthenticated
from missiva_platform.testing.tokens import TestIssuer


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_a_token_signed_by_identity_verifies_and_carries_the_tenant():
    issuer = TestIssuer()
    verifier = TokenVerifier(issuer.source())
    principal = await verifier.verify(issuer.token(tenant_id="acme", roles=("member",)))
    assert principal.tenant_id == "acme"
    assert principal.kind is CallerKind.USER
    assert principal.roles == {"member"}


async def test_a_token_under_a_rotated_key_still_verifies_until_the_key_is_retired():
    issuer = TestIssuer()
    clock = Clock()
    verifier = TokenVerifier(issuer.source(), cache_seconds=60, min_refresh_seconds=1, clock=clock)
    old_key = issuer.kid
    old_token = issuer.token()
    await verifier.verify(old_token)

    issuer.rotate()
    new_token = issuer.token()
    clock.now += 2  # an unknown kid may trigger a refresh after min_refresh_seconds
    assert (await verifier.verify(new_token)).subject == "user-1"
    assert (await verifier.verify(old_token)).subject == "user-1"

    issuer.retire(old_key)
    clock.now += 61  # past the JWKS cache: a refresh starts, the cached set serves meanwhile
    assert (await verifier.verify(new_token)).subject == "user-1"
    await verifier.refreshed()
    with pytest.raises(Unauthenticated, match="unknown key"):
        await verifier.verify(old_token)
    assert (await verifier.verify(new_token)).subject == "user-1"


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"ttl": -120}, "expired"),
        ({"iss": "somebody-else"}, "invalid"),
        ({"aud": "another-audience"}, "invalid"),
    ],
)
async def test_expired_or_foreign_tokens_are_refused(overrides, problem):
    issuer = TestIssuer()
    verifier = TokenVerifier(issuer.source())
    with pytest.raises(Unauthenticated, match=problem):
        await verifier.verify(issuer.token(**overrides))


async def test_a_tampered_token_is_refused():
    issuer = TestIssuer()
    verifier = TokenVerifier(issuer.source())
    header, _payload, signature = issuer.token(tenant_id="acme").split(".")
    forged = issuer.token(tenant_id="evil").split(".")[1]
    with pytest.raises(Unauthenticated):
        await verifier.verify(f"{header}.{forged}.{signature}")
    with pytest.raises(Unauthenticated):
        await verifier.verify("not-a-token")


async def test_a_token_signed_by_a_key_identity_never_published_is_refused():
    identity, attacker = TestIssuer(), TestIssuer()  # same kid, different key
    verifier = TokenVerifier(identity.source())
    with pytest.raises(Unauthenticated):
        await verifier.verify(attacker.token())


def _principal(kind=CallerKind.USER, subject="user-1", scopes=("*",), roles=("admin",)):
    from missiva_platform.auth import Principal

    return Principal(kind, subject, "t", frozenset(roles), frozenset(scopes))


def test_access_rules_separate_users_services_and_anonymous_callers():
    authorize(rule(Access.ANONYMOUS), None, "/m")
    with pytest.raises(Unauthenticated):
        authorize(rule(), None, "/m")
    with pytest.raises(PermissionDenied, match="only for Missiva services"):
        authorize(rule(Access.SERVICE), _principal(), "/m")
    with pytest.raises(PermissionDenied, match="may not call"):
        authorize(
            rule(Access.SERVICE, services=("consent",)),
            _principal(CallerKind.SERVICE, "billing"),
            "/m",
        )
    authorize(
        rule(Access.SERVICE, services=("consent",)), _principal(CallerKind.SERVICE, "consent"), "/m"
    )
    with pytest.raises(PermissionDenied, match="for account users"):
        authorize(rule(Access.USER), _principal(CallerKind.SERVICE), "/m")
    with pytest.raises(PermissionDenied, match="scope contacts:write"):
        authorize(rule(scopes=("contacts:write",)), _principal(scopes=("contacts:read",)), "/m")
    with pytest.raises(PermissionDenied, match="roles"):
        authorize(rule(roles=("admin",)), _principal(roles=("member",)), "/m")


async def test_the_principal_carries_the_address_check_the_session_and_the_sign_in_time():
    issuer = TestIssuer()
    verifier = TokenVerifier(issuer.source())
    token = issuer.token(
        scopes=("*",), email_verified=True, sid="session-1", auth_time=1_700_000_000
    )
    principal = await verifier.verify(token)
    assert principal.email_verified is True
    assert principal.session_id == "session-1"
    assert principal.auth_time == 1_700_000_000
    # Missing or anything but true is not verified.
    for claim in ({}, {"email_verified": "true"}, {"email_verified": 1}):
        assert (await verifier.verify(issuer.token(**claim))).email_verified is False
