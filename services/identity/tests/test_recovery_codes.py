"""Regenerating TOTP recovery codes: a signed-in user with TOTP, recently re-authenticated."""

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from identity_testkit import (
    PASSWORD,
    PRIVACY,
    TERMS,
    User,
    bearer,
    enable_totp,
    new_email,
    next_code,
    rpc_error,
)

from missiva.identity.v1 import identity_service_pb2 as pb
from missiva_platform import secrets


def regenerate(identity, metadata):
    return identity.stub.RegenerateRecoveryCodes(
        pb.RegenerateRecoveryCodesRequest(), metadata=metadata, timeout=10
    )


async def sign_in_with(identity, user, recovery_code: str) -> pb.CompleteMfaLoginResponse:
    challenge = (await identity.login(user.email)).mfa_required.challenge_token
    return await identity.stub.CompleteMfaLogin(
        pb.CompleteMfaLoginRequest(challenge_token=challenge, recovery_code=recovery_code),
        timeout=10,
    )


async def refused(identity, user, recovery_code: str) -> None:
    err = await rpc_error(sign_in_with(identity, user, recovery_code))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err.details()


async def stored_codes(identity, user_id: str) -> set[tuple[bytes, object]]:
    rows = await identity.sql(
        "SELECT code_hash, used_at FROM recovery_codes WHERE user_id = %s", user_id
    )
    return {(bytes(h), used) for h, used in rows}


def precondition_types(err: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    found = []
    for detail in status.details if status else []:
        failure = error_details_pb2.PreconditionFailure()
        if detail.Unpack(failure):
            found += [v.type for v in failure.violations]
    return found


async def test_new_codes_replace_every_old_one_and_each_works_once(identity):
    user = await identity.user()
    _, old = await enable_totp(identity, user)
    assert (await sign_in_with(identity, user, old[0])).tokens.access_token  # one spent

    new = list((await regenerate(identity, user.md)).recovery_codes)
    assert len(new) == 10
    assert len(set(new)) == 10
    assert not set(new) & set(old)
    assert all(len(c.replace("-", "")) == 24 for c in new)  # 120 bits each, as at enrolment
    stored = await stored_codes(identity, user.user_id)
    assert len(stored) == 10  # the spent one is gone too, not only the unused nine
    assert all(used is None for _, used in stored)
    assert all(
        c.encode() not in h and c.replace("-", "").encode() not in h for h, _ in stored for c in new
    )

    await refused(identity, user, old[1])  # never used, yet no longer valid
    await refused(identity, user, old[0])
    done = await sign_in_with(identity, user, new[0])
    assert done.tokens.access_token
    await refused(identity, user, new[0])  # single use
    # Typed as a person might (lower case, no dashes): accepted like an enrolment code.
    assert (await sign_in_with(identity, user, new[1].lower().replace("-", ""))).tokens
    await identity.mailbox.wait_for(user.email, "recovery_codes_regenerated")


async def test_the_regeneration_is_audited_for_the_accounts_admins(identity):
    user = await identity.user()
    await enable_totp(identity, user)
    await regenerate(identity, user.md)

    log = await identity.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(action_prefix="mfa."), metadata=user.md
    )
    assert [e.action for e in log.audit_events] == [
        "mfa.recovery_codes_regenerated",
        "mfa.enabled",
    ]
    entry = log.audit_events[0]
    assert (entry.actor_user_id, entry.target) == (user.user_id, user.user_id)
    assert entry.outcome == pb.AUDIT_OUTCOME_SUCCESS
    assert entry.ip_pseudonym
    assert "127.0.0.1" not in entry.ip_pseudonym
    assert dict(entry.details) == {"codes": "10"}  # how many, never the codes
    [(account_id,)] = await identity.sql(
        "SELECT account_id::text FROM audit_events WHERE action = %s",
        "mfa.recovery_codes_regenerated",
    )
    assert account_id == user.account_id


async def test_without_totp_it_is_refused_clearly(identity):
    user = await identity.user()
    err = await rpc_error(regenerate(identity, user.md))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "TOTP is not enabled" in err.details()
    assert precondition_types(err) == ["MFA_NOT_ENABLED"]

    # Turned off again (which also proves the user afresh): still refused, still no codes.
    secret, _ = await enable_totp(identity, user)
    await identity.stub.DisableTotp(
        pb.DisableTotpRequest(password=PASSWORD, totp_code=next_code(secret)), metadata=user.md
    )
    err = await rpc_error(regenerate(identity, user.md))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "TOTP is not enabled" in err.details()
    assert await stored_codes(identity, user.user_id) == set()
    rows = await identity.sql(
        "SELECT 1 FROM audit_events WHERE action = 'mfa.recovery_codes_regenerated'"
    )
    assert rows == []


async def test_a_stale_reauthentication_gets_the_error_of_the_other_sensitive_changes(identity):
    user = await identity.user()
    secret, _ = await enable_totp(identity, user)
    before = await stored_codes(identity, user.user_id)
    await identity.sql(
        "UPDATE sessions SET auth_time = now() - interval '4 minutes' WHERE id = %s",
        user.tokens.session_id,
    )
    assert len((await regenerate(identity, user.md)).recovery_codes) == 10  # within 5 minutes
    recent = await stored_codes(identity, user.user_id)
    assert recent != before

    await identity.sql(
        "UPDATE sessions SET auth_time = now() - interval '6 minutes' WHERE id = %s",
        user.tokens.session_id,
    )
    err = await rpc_error(regenerate(identity, user.md))
    other = await rpc_error(identity.stub.EnrollTotp(pb.EnrollTotpRequest(), metadata=user.md))
    assert err.code() == other.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.details() == other.details()
    assert "re-authenticate" in err.details()
    assert precondition_types(err) == precondition_types(other) == ["REAUTHENTICATION_REQUIRED"]
    assert await stored_codes(identity, user.user_id) == recent  # nothing changed

    await identity.stub.Reauthenticate(
        pb.ReauthenticateRequest(totp_code=next_code(secret)), metadata=user.md
    )
    new = (await regenerate(identity, user.md)).recovery_codes
    assert (await sign_in_with(identity, user, new[0])).tokens.access_token


async def test_api_keys_services_and_anonymous_callers_are_refused(identity):
    admin = await identity.user()
    _, codes = await enable_totp(identity, admin)
    before = await stored_codes(identity, admin.user_id)

    key = await identity.stub.CreateApiKey(
        pb.CreateApiKeyRequest(name="ci", scopes=["*"]), metadata=admin.md
    )
    api_token = (
        await identity.stub.ExchangeApiKey(pb.ExchangeApiKeyRequest(secret=key.secret))
    ).access_token
    err = await rpc_error(regenerate(identity, bearer(api_token)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "API keys" in err.details()

    own = secrets.load_service_credentials(identity.settings.service_credentials_file)["consent"]
    service = await identity.stub.IssueServiceToken(
        pb.IssueServiceTokenRequest(
            client_id=own.client_id,
            client_secret=own.client_secret,
            tenant_id=admin.account_id,
            audience="identity",
        )
    )
    err = await rpc_error(regenerate(identity, bearer(service.access_token)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED

    err = await rpc_error(regenerate(identity, None))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED

    assert await stored_codes(identity, admin.user_id) == before
    assert (await sign_in_with(identity, admin, codes[0])).tokens.access_token


async def test_one_users_regeneration_never_touches_another_users_codes(identity):
    admin = await identity.user()
    # A member of the same account, and a user of another account, each with TOTP.
    email = new_email("member")
    await identity.stub.InviteMember(
        pb.InviteMemberRequest(email=email, role=pb.MEMBER_ROLE_ADMIN), metadata=admin.md
    )
    token = await identity.mailbox.token(email, "invitation", "accept_url")
    joined = await identity.stub.AcceptInvitation(
        pb.AcceptInvitationRequest(
            token=token, password=PASSWORD, display_name="Bob", acceptances=[TERMS, PRIVACY]
        )
    )
    member = User(email, admin.account_id, joined.member.user_id, joined.tokens)
    stranger = await identity.user()
    await enable_totp(identity, admin)
    _, member_codes = await enable_totp(identity, member)
    _, stranger_codes = await enable_totp(identity, stranger)
    await sign_in_with(identity, member, member_codes[0])  # a used code must stay used
    member_before = await stored_codes(identity, member.user_id)
    stranger_before = await stored_codes(identity, stranger.user_id)

    await regenerate(identity, admin.md)

    assert await stored_codes(identity, member.user_id) == member_before
    assert await stored_codes(identity, stranger.user_id) == stranger_before
    assert (await sign_in_with(identity, member, member_codes[1])).tokens.access_token
    assert (await sign_in_with(identity, stranger, stranger_codes[0])).tokens.access_token
    await refused(identity, member, member_codes[0])
    log = await identity.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(action_prefix="mfa.recovery_codes"), metadata=admin.md
    )
    assert [(e.actor_user_id, e.target) for e in log.audit_events] == [
        (admin.user_id, admin.user_id)
    ]
