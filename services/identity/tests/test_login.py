"""Sign-in: access and refresh tokens, rotation and reuse, TOTP, re-authentication, sessions."""

import statistics
import time

import grpc
from identity_testkit import PASSWORD, bearer, enable_totp, new_email, next_code, rpc_error

from missiva.identity.v1 import identity_service_pb2 as pb
from missiva_platform.auth import CallableJwks, CallerKind, TokenVerifier
from missiva_platform.service import _identity_jwks_fetcher


def verifier(identity) -> TokenVerifier:
    return TokenVerifier(CallableJwks(_identity_jwks_fetcher(identity.target)))


async def test_login_returns_a_short_lived_token_the_kit_verifies_and_a_refresh_token(identity):
    user = await identity.user()
    tokens = user.tokens
    principal = await verifier(identity).verify(tokens.access_token)
    assert principal.kind is CallerKind.USER
    assert (principal.subject, principal.tenant_id) == (user.user_id, user.account_id)
    assert {"primary_admin", "admin"} <= principal.roles
    assert principal.mfa is False
    assert principal.token_id
    lifetime = tokens.access_token_expires_at.seconds - time.time()
    assert 540 < lifetime <= 600
    assert tokens.refresh_token.startswith("mrt_")
    assert tokens.session_id
    day = tokens.refresh_token_expires_at.seconds - time.time()
    assert 23 * 3600 < day <= 24 * 3600
    [(stored,)] = await identity.sql("SELECT count(*) FROM refresh_tokens")
    assert stored == 1
    hashes = await identity.sql("SELECT token_hash FROM refresh_tokens")
    assert all(tokens.refresh_token.encode() not in bytes(h[0]) for h in hashes)


async def test_remember_me_lengthens_the_refresh_lifetime(identity):
    user = await identity.user()
    remembered = (await identity.login(user.email, remember_me=True)).tokens
    days = (remembered.refresh_token_expires_at.seconds - time.time()) / 86400
    assert 29 < days <= 30


async def test_refresh_rotates_and_reusing_an_old_token_revokes_the_whole_family(identity):
    user = await identity.user()
    first = user.tokens.refresh_token
    rotated = await identity.stub.RefreshSession(pb.RefreshSessionRequest(refresh_token=first))
    second = rotated.tokens.refresh_token
    assert second != first
    assert rotated.tokens.session_id == user.tokens.session_id
    principal = await verifier(identity).verify(rotated.tokens.access_token)
    assert principal.subject == user.user_id

    err = await rpc_error(
        identity.stub.RefreshSession(pb.RefreshSessionRequest(refresh_token=first))
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    # The family is gone: even the newest token of the session no longer works.
    err = await rpc_error(
        identity.stub.RefreshSession(pb.RefreshSessionRequest(refresh_token=second))
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    err = await rpc_error(
        identity.stub.ListSessions(
            pb.ListSessionsRequest(), metadata=bearer(rotated.tokens.access_token)
        )
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    [(reason,)] = await identity.sql("SELECT revoked_reason FROM sessions")
    assert reason == "refresh_token_reused"
    err = await rpc_error(identity.stub.RefreshSession(pb.RefreshSessionRequest(refresh_token="")))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_unknown_address_and_wrong_password_get_the_same_answer_in_similar_time(identity):
    email = new_email("known")
    await identity.sign_up(email)
    unknown, wrong = [], []
    for _ in range(4):
        for bucket, address in ((unknown, new_email("nobody")), (wrong, email)):
            started = time.perf_counter()
            err = await rpc_error(identity.login(address, "not the password"))
            bucket.append((time.perf_counter() - started, err.code(), err.details()))
            await identity.sql("DELETE FROM login_attempts")
    assert {(c, d) for _, c, d in unknown} == {(c, d) for _, c, d in wrong}
    assert {c for _, c, _ in unknown} == {grpc.StatusCode.UNAUTHENTICATED}
    ratio = statistics.median(t for t, _, _ in unknown) / statistics.median(t for t, _, _ in wrong)
    assert 0.33 < ratio < 3, ratio


async def test_login_refuses_bad_input_clearly(identity):
    for request, field in (
        (pb.LoginRequest(email="", password="x"), "email"),
        (pb.LoginRequest(email="a@example.org", password=""), "password"),
        (pb.LoginRequest(email="a@example.org", password="x" * 600), "password"),
    ):
        err = await rpc_error(identity.stub.Login(request))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in err.details()


async def test_totp_is_asked_at_login_and_each_code_works_only_once(identity):
    user = await identity.user()
    secret, codes = await enable_totp(identity, user)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(len(c.replace("-", "")) == 24 for c in codes)  # 120 bits each

    challenge = (await identity.login(user.email)).mfa_required
    assert challenge.challenge_token
    assert set(challenge.methods) == {pb.MFA_METHOD_TOTP, pb.MFA_METHOD_RECOVERY_CODE}
    # The confirming code spent the current step; the next step's code is within the drift.
    code = next_code(secret)
    done = await identity.stub.CompleteMfaLogin(
        pb.CompleteMfaLoginRequest(challenge_token=challenge.challenge_token, totp_code=code)
    )
    principal = await verifier(identity).verify(done.tokens.access_token)
    assert principal.mfa is True

    again = (await identity.login(user.email)).mfa_required
    err = await rpc_error(
        identity.stub.CompleteMfaLogin(
            pb.CompleteMfaLoginRequest(challenge_token=again.challenge_token, totp_code=code)
        )
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED  # the same code, replayed

    recovered = await identity.stub.CompleteMfaLogin(
        pb.CompleteMfaLoginRequest(challenge_token=again.challenge_token, recovery_code=codes[0])
    )
    assert recovered.tokens.access_token
    third = (await identity.login(user.email)).mfa_required
    err = await rpc_error(
        identity.stub.CompleteMfaLogin(
            pb.CompleteMfaLoginRequest(
                challenge_token=third.challenge_token, recovery_code=codes[0]
            )
        )
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    err = await rpc_error(
        identity.stub.CompleteMfaLogin(
            pb.CompleteMfaLoginRequest(challenge_token=third.challenge_token)
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_an_mfa_challenge_allows_five_wrong_codes(identity):
    user = await identity.user()
    await enable_totp(identity, user)
    challenge = (await identity.login(user.email)).mfa_required.challenge_token
    for _ in range(5):
        err = await rpc_error(
            identity.stub.CompleteMfaLogin(
                pb.CompleteMfaLoginRequest(challenge_token=challenge, totp_code="000000")
            )
        )
        assert err.details() == "the code is not valid"
    err = await rpc_error(
        identity.stub.CompleteMfaLogin(
            pb.CompleteMfaLoginRequest(challenge_token=challenge, totp_code="000000")
        )
    )
    assert "expired" in err.details()


async def test_changing_mfa_needs_a_recent_reauthentication(identity):
    user = await identity.user()
    await identity.sql("UPDATE sessions SET auth_time = now() - interval '6 minutes'")
    err = await rpc_error(identity.stub.EnrollTotp(pb.EnrollTotpRequest(), metadata=user.md))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "re-authenticate" in err.details()
    err = await rpc_error(
        identity.stub.RequestEmailChange(
            pb.RequestEmailChangeRequest(new_email=new_email("new")), metadata=user.md
        )
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION

    err = await rpc_error(
        identity.stub.Reauthenticate(pb.ReauthenticateRequest(password="wrong!"), metadata=user.md)
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    reply = await identity.stub.Reauthenticate(
        pb.ReauthenticateRequest(password=PASSWORD), metadata=user.md
    )
    assert reply.valid_until.seconds > time.time() + 200
    secret, _ = await enable_totp(identity, user)

    err = await rpc_error(
        identity.stub.DisableTotp(
            pb.DisableTotpRequest(password="wrong!", totp_code="123456"), metadata=user.md
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "password" in err.details()
    await identity.stub.DisableTotp(
        pb.DisableTotpRequest(password=PASSWORD, totp_code=next_code(secret)),
        metadata=user.md,
    )
    assert (await identity.login(user.email)).tokens.access_token
    for template in ("mfa_enabled", "mfa_disabled"):
        await identity.mailbox.wait_for(user.email, template)


async def test_email_change_goes_through_a_link_sent_to_the_new_address(identity):
    user = await identity.user()
    new = new_email("moved")
    await identity.stub.RequestEmailChange(
        pb.RequestEmailChangeRequest(new_email=new), metadata=user.md
    )
    token = await identity.mailbox.token(new, "confirm_email_change", "confirm_url")
    await identity.mailbox.wait_for(user.email, "email_change_requested")
    reply = await identity.stub.ConfirmEmailChange(pb.ConfirmEmailChangeRequest(token=token))
    assert reply.profile.email == new
    assert reply.profile.email_verified
    assert (await identity.login(new)).tokens.access_token
    err = await rpc_error(identity.login(user.email))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    err = await rpc_error(
        identity.stub.ConfirmEmailChange(pb.ConfirmEmailChangeRequest(token=token))
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_sessions_are_listed_and_revoked_by_their_owner_only(identity):
    a = await identity.user()
    second = (await identity.login(a.email)).tokens
    b = await identity.user()
    listed = await identity.stub.ListSessions(pb.ListSessionsRequest(), metadata=a.md)
    assert {s.session_id for s in listed.sessions} == {a.tokens.session_id, second.session_id}
    assert [s.current for s in listed.sessions if s.session_id == a.tokens.session_id] == [True]
    assert all(s.ip_pseudonym and "127.0.0.1" not in s.ip_pseudonym for s in listed.sessions)
    page = await identity.stub.ListSessions(pb.ListSessionsRequest(page_size=1), metadata=a.md)
    assert len(page.sessions) == 1
    assert page.next_page_token
    rest = await identity.stub.ListSessions(
        pb.ListSessionsRequest(page_size=1, page_token=page.next_page_token), metadata=a.md
    )
    assert {page.sessions[0].session_id, rest.sessions[0].session_id} == {
        a.tokens.session_id,
        second.session_id,
    }

    err = await rpc_error(
        identity.stub.RevokeSession(
            pb.RevokeSessionRequest(session_id=second.session_id), metadata=b.md
        )
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = await rpc_error(
        identity.stub.RevokeSession(pb.RevokeSessionRequest(session_id="nope"), metadata=a.md)
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    await identity.stub.RevokeSession(
        pb.RevokeSessionRequest(session_id=second.session_id), metadata=a.md
    )
    err = await rpc_error(
        identity.stub.RefreshSession(pb.RefreshSessionRequest(refresh_token=second.refresh_token))
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    await identity.stub.Logout(pb.LogoutRequest(refresh_token=a.tokens.refresh_token))
    err = await rpc_error(identity.stub.ListSessions(pb.ListSessionsRequest(), metadata=a.md))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
