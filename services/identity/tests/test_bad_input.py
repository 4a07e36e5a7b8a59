"""Bad input gets INVALID_ARGUMENT naming the field, on every RPC not covered elsewhere."""

import grpc
from identity_testkit import rpc_error

from missiva.identity.v1 import identity_service_pb2 as pb

ANONYMOUS = [
    ("VerifyEmail", pb.VerifyEmailRequest(), "token"),
    ("Logout", pb.LogoutRequest(), "refresh_token"),
    ("RequestPasswordReset", pb.RequestPasswordResetRequest(email="nope"), "email"),
    ("ResetPassword", pb.ResetPasswordRequest(new_password="a fine new passphrase"), "token"),
    ("CompleteMfaLogin", pb.CompleteMfaLoginRequest(totp_code="123456"), "challenge_token"),
    ("AcceptLegalDocuments", pb.AcceptLegalDocumentsRequest(), "challenge_token"),
    ("ExchangeApiKey", pb.ExchangeApiKeyRequest(), "secret"),
    ("RestoreAccount", pb.RestoreAccountRequest(), "restore_token"),
    ("AcceptInvitation", pb.AcceptInvitationRequest(password="a fine new passphrase"), "token"),
    ("ConfirmEmailChange", pb.ConfirmEmailChangeRequest(), "token"),
]

SIGNED_IN = [
    ("ListSessions", pb.ListSessionsRequest(page_token="!!"), "page_token"),
    ("ListSessions", pb.ListSessionsRequest(page_size=-1), "page_size"),
    ("ConfirmTotp", pb.ConfirmTotpRequest(), "totp_code"),
    ("DisableTotp", pb.DisableTotpRequest(password="x"), "totp_code"),
    ("ChangePassword", pb.ChangePasswordRequest(current_password="x"), "new_password"),
    ("Reauthenticate", pb.ReauthenticateRequest(), "proof"),
    ("RequestEmailChange", pb.RequestEmailChangeRequest(new_email="nope"), "new_email"),
    ("ListApiKeys", pb.ListApiKeysRequest(page_token="!!"), "page_token"),
    ("ListMembers", pb.ListMembersRequest(page_token="!!"), "page_token"),
    ("InviteMember", pb.InviteMemberRequest(email="nope", role=3), "email"),
    ("ChangeMemberRole", pb.ChangeMemberRoleRequest(user_id="x", role=3), "user_id"),
    ("RestoreMember", pb.RestoreMemberRequest(user_id="x"), "user_id"),
    ("TransferPrimaryAdmin", pb.TransferPrimaryAdminRequest(user_id="x"), "password"),
    ("DeleteAccount", pb.DeleteAccountRequest(), "password"),
    ("ListAuditEvents", pb.ListAuditEventsRequest(action_prefix="x" * 101), "action_prefix"),
]


async def test_anonymous_calls_name_the_wrong_field(identity):
    for method, request, field in ANONYMOUS:
        err = await rpc_error(getattr(identity.stub, method)(request))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, err.details())
        assert err.details().startswith(field), (method, err.details())


async def test_signed_in_calls_name_the_wrong_field(identity):
    user = await identity.user()
    for method, request, field in SIGNED_IN:
        err = await rpc_error(getattr(identity.stub, method)(request, metadata=user.md))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, err.details())
        assert err.details().startswith(field), (method, err.details())


async def test_a_wrong_code_does_not_confirm_totp(identity):
    user = await identity.user()
    await identity.stub.EnrollTotp(pb.EnrollTotpRequest(), metadata=user.md)
    err = await rpc_error(
        identity.stub.ConfirmTotp(pb.ConfirmTotpRequest(totp_code="000000"), metadata=user.md)
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    account = await identity.stub.GetAccount(pb.GetAccountRequest(), metadata=user.md)
    assert not account.profile.mfa_enabled
