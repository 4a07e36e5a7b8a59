"""Sign-up: an account, its primary admin, explicit legal acceptance, a verified address."""

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from identity_testkit import PASSWORD, PRIVACY, TERMS, bearer, events_of, new_email, rpc_error

from missiva.identity.v1 import events_pb2
from missiva.identity.v1 import identity_service_pb2 as pb
from missiva_platform.events import unpack


def violations(err: grpc.aio.AioRpcError) -> dict[str, str]:
    status = rpc_status.from_call(err)
    found = {}
    for detail in status.details if status else []:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            found.update({v.field: v.description for v in bad.field_violations})
    return found


async def test_sign_up_creates_an_unverified_account_and_announces_the_acceptance(identity):
    email = new_email("signup")
    reply = await identity.sign_up(email, marketing_opt_in=True, marketing_checkbox_text="News!")
    assert reply.verification_sent
    assert reply.account_id
    assert reply.user_id

    events = [
        e
        for e in await events_of(identity.js, "identity.user.registered")
        if e.tenant_id == reply.account_id
    ]
    assert len(events) == 1
    registered = unpack(events[0], events_pb2.UserRegistered)
    assert registered.user_id == reply.user_id
    assert registered.person_key
    assert "@" not in registered.person_key
    assert email not in events[0].SerializeToString().decode("latin-1")
    assert {(a.document_id, a.version, a.checkbox_text) for a in registered.acceptances} == {
        ("terms", "2025-01", "I accept the Terms"),
        ("privacy", "2025-01", "I have read the Privacy Policy"),
    }
    assert all(a.accepted and a.accepted_at.seconds for a in registered.acceptances)
    assert registered.marketing_opt_in
    assert registered.marketing_checkbox_text == "News!"
    assert registered.age_confirmed
    assert registered.role == pb.MEMBER_ROLE_PRIMARY_ADMIN

    tokens = (await identity.login(email)).tokens
    account = await identity.stub.GetAccount(
        pb.GetAccountRequest(), metadata=bearer(tokens.access_token)
    )
    assert account.account.status == pb.ACCOUNT_STATUS_PENDING_VERIFICATION
    assert not account.profile.email_verified
    assert account.role == pb.MEMBER_ROLE_PRIMARY_ADMIN


async def test_the_verification_link_verifies_once_and_the_token_says_so(identity):
    email = new_email("verify")
    await identity.sign_up(email)
    command = (await identity.mailbox.wait_for(email, "verify_email"))[-1]
    assert command.category == 1  # SYSTEM
    assert command.requested_by == "identity"
    token = await identity.mailbox.token(email, "verify_email", "verification_url")
    assert len(token) >= 43  # 256 bits, base64url

    reply = await identity.stub.VerifyEmail(pb.VerifyEmailRequest(token=token))
    assert reply.email == email
    err = await rpc_error(identity.stub.VerifyEmail(pb.VerifyEmailRequest(token=token)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "already used" in err.details()

    tokens = (await identity.login(email)).tokens
    claims = await identity.app.services[0].servicer.core.keys.verify(tokens.access_token)
    assert claims["email_verified"] is True
    account = await identity.stub.GetAccount(
        pb.GetAccountRequest(), metadata=bearer(tokens.access_token)
    )
    assert account.account.status == pb.ACCOUNT_STATUS_ACTIVE
    assert account.profile.email_verified
    stored = await identity.sql("SELECT token_hash FROM email_tokens")
    assert all(token.encode() not in bytes(row[0]) for row in stored)


async def test_an_expired_verification_token_is_refused(identity):
    email = new_email("expired")
    await identity.sign_up(email)
    token = await identity.mailbox.token(email, "verify_email", "verification_url")
    [(ttl,)] = await identity.sql("SELECT expires_at - created_at FROM email_tokens")
    assert ttl.total_seconds() == 24 * 3600
    await identity.sql("UPDATE email_tokens SET expires_at = now() - interval '1 second'")
    err = await rpc_error(identity.stub.VerifyEmail(pb.VerifyEmailRequest(token=token)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_sign_up_refuses_unticked_boxes_missing_documents_and_minors(identity):
    unticked = pb.DocumentAcceptance(document_id="terms", version="1", checkbox_text="x")
    cases = {
        "acceptances[0].accepted": {"acceptances": [unticked, PRIVACY]},
        "acceptances": {"acceptances": [TERMS]},
        "age_confirmed": {"age_confirmed": False},
        "email": {"email": "not-an-address"},
        "password": {"password": "short"},
        "account_name": {"account_name": ""},
        "locale": {"locale": "fr"},
        "marketing_checkbox_text": {"marketing_opt_in": True},
    }
    for field, overrides in cases.items():
        overrides = dict(overrides)
        email = overrides.pop("email", new_email("bad"))
        err = await rpc_error(identity.sign_up(email, **overrides))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in violations(err), (field, err.details())
    [(count,)] = await identity.sql("SELECT count(*) FROM users")
    assert count == 0


async def test_signing_up_with_a_taken_address_answers_the_same_and_tells_the_owner(identity):
    email = new_email("taken")
    first = await identity.sign_up(email)
    second = await identity.sign_up(email.upper(), password="another fine passphrase")
    assert second.verification_sent
    assert second.account_id != first.account_id
    await identity.mailbox.wait_for(email.upper(), "signup_existing_account")
    [(count,)] = await identity.sql("SELECT count(*) FROM users")
    assert count == 1


async def test_sign_up_with_an_idempotency_key_creates_one_account(identity):
    email = new_email("idem")
    first = await identity.sign_up(email, idempotency_key="k-1")
    again = await identity.sign_up(email, idempotency_key="k-1")
    assert again == first
    [(count,)] = await identity.sql("SELECT count(*) FROM accounts")
    assert count == 1


async def test_resend_verification_answers_the_same_for_unknown_addresses(identity):
    email = new_email("resend")
    await identity.sign_up(email)
    known = await identity.stub.ResendVerification(pb.ResendVerificationRequest(email=email))
    unknown = await identity.stub.ResendVerification(
        pb.ResendVerificationRequest(email=new_email("nobody"))
    )
    assert known == unknown
    await identity.mailbox.wait_for(email, "verify_email", count=2)
    err = await rpc_error(identity.stub.ResendVerification(pb.ResendVerificationRequest(email="x")))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_get_account_and_profile_belong_to_the_callers_tenant_only(identity):
    a = await identity.user()
    b = await identity.user()
    mine = await identity.stub.GetAccount(pb.GetAccountRequest(), metadata=b.md)
    assert mine.account.account_id == b.account_id
    assert mine.profile.email == b.email
    updated = await identity.stub.UpdateProfile(
        pb.UpdateProfileRequest(
            profile=pb.Profile(display_name="Grace", locale="it", time_zone="Europe/Rome"),
            update_mask={"paths": ["display_name", "locale", "time_zone"]},
        ),
        metadata=b.md,
    )
    assert (updated.profile.display_name, updated.profile.locale) == ("Grace", "it")
    theirs = await identity.stub.GetAccount(pb.GetAccountRequest(), metadata=a.md)
    assert theirs.profile.display_name == "Ada"
    err = await rpc_error(
        identity.stub.UpdateProfile(
            pb.UpdateProfileRequest(
                profile=pb.Profile(email="x@y.z"), update_mask={"paths": ["email"]}
            ),
            metadata=b.md,
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = await rpc_error(identity.stub.GetAccount(pb.GetAccountRequest()))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert PASSWORD  # the helper's password signs in every test user
