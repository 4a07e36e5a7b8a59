"""Logs never carry email addresses, passwords, tokens or secrets."""

import logging

import pyotp
from identity_testkit import PASSWORD, new_email, rpc_error

from missiva.identity.v1 import identity_service_pb2 as pb


async def test_a_whole_account_life_leaves_no_address_password_or_token_in_the_logs(
    identity, caplog
):
    caplog.set_level(logging.DEBUG)
    email = new_email("quiet")
    secrets_seen = [email, PASSWORD]
    await identity.sign_up(email)
    verify = await identity.mailbox.token(email, "verify_email", "verification_url")
    secrets_seen.append(verify)
    await identity.stub.VerifyEmail(pb.VerifyEmailRequest(token=verify))
    await rpc_error(identity.login(email, "a wrong password"))
    await rpc_error(identity.login(new_email("ghost"), "a wrong password"))
    tokens = (await identity.login(email)).tokens
    secrets_seen += [tokens.access_token, tokens.refresh_token]
    md = (("authorization", f"Bearer {tokens.access_token}"),)
    enrol = await identity.stub.EnrollTotp(pb.EnrollTotpRequest(), metadata=md)
    code = pyotp.TOTP(enrol.secret).now()
    confirmed = await identity.stub.ConfirmTotp(pb.ConfirmTotpRequest(totp_code=code), metadata=md)
    secrets_seen += [enrol.secret, *confirmed.recovery_codes]
    regenerated = await identity.stub.RegenerateRecoveryCodes(
        pb.RegenerateRecoveryCodesRequest(), metadata=md
    )
    secrets_seen += regenerated.recovery_codes
    key = await identity.stub.CreateApiKey(
        pb.CreateApiKeyRequest(name="k", scopes=["*"]), metadata=md
    )
    secrets_seen.append(key.secret)
    await identity.stub.ExchangeApiKey(pb.ExchangeApiKeyRequest(secret=key.secret))
    await rpc_error(identity.stub.ExchangeApiKey(pb.ExchangeApiKeyRequest(secret=key.secret + "x")))
    refreshed = await identity.stub.RefreshSession(
        pb.RefreshSessionRequest(refresh_token=tokens.refresh_token)
    )
    secrets_seen.append(refreshed.tokens.refresh_token)
    await rpc_error(
        identity.stub.RefreshSession(pb.RefreshSessionRequest(refresh_token=tokens.refresh_token))
    )
    await identity.stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=email))
    reset = await identity.mailbox.token(email, "reset_password", "reset_url")
    secrets_seen.append(reset)
    assert caplog.records, "the test must see the service's logs"
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    for secret in secrets_seen:
        assert secret not in text, secret[:12]


async def test_throttled_attempts_on_a_known_account_are_in_its_audit_log(identity):
    user = await identity.user()
    for _ in range(5):
        await rpc_error(identity.login(user.email, "a wrong password"))
    await rpc_error(identity.login(user.email, PASSWORD))
    await identity.sql("UPDATE login_attempts SET occurred_at = now() - interval '2 minutes'")
    tokens = (await identity.login(user.email)).tokens
    log = await identity.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(action_prefix="login.throttled"),
        metadata=(("authorization", f"Bearer {tokens.access_token}"),),
    )
    assert [e.outcome for e in log.audit_events] == [pb.AUDIT_OUTCOME_DENIED]
