"""Identity gRPC servicer: the RPC groups of ``rpc_*.py`` and every method's access rule.

Answers to anonymous calls about an address (sign-in, reset, resend, sign-up) never tell
whether an account exists. RPCs not implemented answer UNIMPLEMENTED (the generated base).
"""

from __future__ import annotations

from missiva.identity.v1 import identity_service_pb2_grpc
from missiva_identity.domain import ADMIN_ROLES
from missiva_identity.rpc_accounts import AccountRpcs
from missiva_identity.rpc_credentials import CredentialRpcs, create_api_key
from missiva_identity.rpc_signin import SignInRpcs
from missiva_platform.auth import ALL_ROLES, Access, MethodRule, rule

__all__ = ["ACCESS_RULES", "IdentityServicer", "create_api_key"]

_ANON = rule(Access.ANONYMOUS)
# A signed-in person's own settings and the account's team and keys: never an API key or a
# service (a key must not mint keys or change members), so these rules need no scope.
_SELF = rule(Access.PERSON, roles=ALL_ROLES)
_ADMIN = rule(Access.PERSON, roles=ADMIN_ROLES)
_PRIMARY = rule(Access.PERSON, roles=("primary_admin",))

# Every method's access rule (the kit refuses to start with a gap or a misspelt name).
ACCESS_RULES: dict[str, MethodRule] = {
    **{
        name: _ANON
        for name in (
            "SignUp",
            "VerifyEmail",
            "ResendVerification",
            "Login",
            "CompleteMfaLogin",
            "AcceptLegalDocuments",
            "RefreshSession",
            "Logout",
            "RequestPasswordReset",
            "ResetPassword",
            "GetJwks",
            "IssueServiceToken",
            "ExchangeApiKey",
            "AcceptInvitation",
            "RestoreAccount",
            "ConfirmEmailChange",
            "StartOidcLogin",
            "CompleteOidcLogin",
        )
    },
    **{
        name: _SELF
        for name in (
            "ListSessions",
            "RevokeSession",
            "ChangePassword",
            "EnrollTotp",
            "ConfirmTotp",
            "DisableTotp",
            "RegenerateRecoveryCodes",
            "UpdateProfile",
            "Reauthenticate",
            "RequestEmailChange",
        )
    },
    "GetAccount": rule(Access.AUTHENTICATED, scopes=("account:read",), roles=ALL_ROLES),
    **{
        name: _ADMIN
        for name in (
            "CreateApiKey",
            "ListApiKeys",
            "RevokeApiKey",
            "InviteMember",
            "ListMembers",
            "ChangeMemberRole",
            "RemoveMember",
            "RestoreMember",
            "ListAuditEvents",
        )
    },
    "TransferPrimaryAdmin": _PRIMARY,
    "DeleteAccount": _PRIMARY,
}


class IdentityServicer(
    SignInRpcs, CredentialRpcs, AccountRpcs, identity_service_pb2_grpc.IdentityServiceServicer
):
    """Every IdentityService RPC (constructed with the app and the ``IdentityCore``)."""
