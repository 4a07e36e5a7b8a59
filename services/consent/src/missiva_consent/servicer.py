"""Consent gRPC servicer: the RPC groups of ``rpc_*.py`` and every method's access rule.

Each group is thin: validate, call domain/store, raise typed errors. The tenant of every
account-scoped call comes from the caller's token; the public links (unsubscribe,
preferences, confirm) are anonymous calls authorised by their signed token, which names the
account and the person.
"""

from __future__ import annotations

from missiva.consent.v1 import consent_service_pb2_grpc
from missiva_consent import domain
from missiva_consent.rpc_documents import DocumentRpcs
from missiva_consent.rpc_double_opt_in import DoubleOptInRpcs
from missiva_consent.rpc_ledger import LedgerRpcs
from missiva_consent.rpc_links import LinkRpcs
from missiva_consent.rpc_privacy import PrivacyRequestRpcs
from missiva_consent.rpc_purposes import PurposeRpcs
from missiva_consent.rpc_self import SelfRpcs
from missiva_consent.rpc_senders import SenderRpcs
from missiva_consent.rpc_suppressions import SuppressionRpcs
from missiva_platform.auth import Access, MethodRule, rule

ADMIN_ROLES = tuple(sorted(domain.ADMIN_ROLES))
MEMBER_ROLES = (*ADMIN_ROLES, "member")
SERVICE = "missiva.consent.v1.ConsentService"


def _rules(
    access: Access, scope: str, roles: tuple[str, ...], *names: str
) -> dict[str, MethodRule]:
    return {name: rule(access, scopes=(scope,), roles=roles) for name in names}


# Every method's access rule (the kit refuses to start with a gap or a misspelt name). Users are
# gated by role (their tokens carry scope "*"), API keys and services by scope. Writes are for
# admins, reads for members too; the billing role sees no consent data.
ACCESS_RULES: dict[str, MethodRule] = {
    **_rules(Access.USER, "consent:write", ADMIN_ROLES, "CreatePurpose", "UpdatePurpose"),
    **_rules(Access.AUTHENTICATED, "consent:read", MEMBER_ROLES, "ListPurposes"),
    **_rules(Access.USER, "documents:write", ADMIN_ROLES, "PublishDocumentVersion"),
    **_rules(
        Access.AUTHENTICATED, "consent:write", ADMIN_ROLES,
        "RecordConsent", "WithdrawConsent", "RestrictProcessing", "LiftRestriction",
        "StartDoubleOptIn", "ResendConfirmation",
    ),
    **_rules(
        Access.AUTHENTICATED, "consent:read", MEMBER_ROLES,
        "GetConsentState", "CheckConsent", "BatchCheckConsent", "StreamCheckConsent",
    ),
    # The proof holds evidence (hashed IPs, user agents, checkbox texts): admins only.
    **_rules(Access.AUTHENTICATED, "proofs:read", ADMIN_ROLES, "ExportProof"),
    # Link tokens let their holder change a person's preferences.
    **_rules(Access.AUTHENTICATED, "links:write", ADMIN_ROLES, "IssueLinkTokens"),
    **_rules(
        Access.AUTHENTICATED, "suppressions:write", ADMIN_ROLES,
        "AddSuppression", "RemoveSuppression", "ImportSuppressions",
    ),
    **_rules(
        Access.AUTHENTICATED, "suppressions:read", MEMBER_ROLES,
        "CheckSuppression", "ListSuppressions", "ExportSuppressions",
    ),
    # Who the account is to its recipients: shown on every public page of its links.
    **_rules(Access.AUTHENTICATED, "consent:write", ADMIN_ROLES, "SetSenderIdentity"),
    **_rules(Access.AUTHENTICATED, "consent:read", MEMBER_ROLES, "GetSenderIdentity"),
    **_rules(Access.USER, "privacy:read", ADMIN_ROLES, "ListPrivacyRequests"),
    **_rules(Access.USER, "privacy:write", ADMIN_ROLES, "ExtendPrivacyRequest"),
    # Public texts: anyone may read them (the sign-up page shows them before any login).
    "GetDocument": rule(Access.ANONYMOUS),
    "ListDocumentVersions": rule(Access.ANONYMOUS),
    "GetCurrentDocuments": rule(Access.ANONYMOUS),
    # Public links, authorised by the signed token they carry.
    "ConfirmDoubleOptIn": rule(Access.ANONYMOUS),
    "Unsubscribe": rule(Access.ANONYMOUS),
    "GetPreferences": rule(Access.ANONYMOUS),
    "UpdatePreferences": rule(Access.ANONYMOUS),
    "SendMyDataLink": rule(Access.ANONYMOUS),
    "DescribeLink": rule(Access.ANONYMOUS),  # read-only: nothing changes, nothing recorded
    # A signed-in person's own platform preferences (rpc_self.py): any member's own token
    # (people's tokens carry scope "*"; the token it gives changes preferences: a write).
    "IssueMyPreferencesToken": rule(
        Access.PERSON, scopes=("consent:write",), roles=(*MEMBER_ROLES, "billing")
    ),
    # Privacy requests: the caller's token (an admin, a privacy:write key, the signed-in
    # person) or a my-data token decides (dsar.py); the export download is authorised by the
    # signed token of its link.
    "OpenPrivacyRequest": rule(Access.ANONYMOUS),
    "GetPrivacyRequest": rule(Access.ANONYMOUS),
    "DownloadPrivacyExport": rule(Access.ANONYMOUS),
    "StreamPrivacyExport": rule(Access.ANONYMOUS),
}  # fmt: skip


class ConsentServicer(
    PurposeRpcs,
    DocumentRpcs,
    LedgerRpcs,
    LinkRpcs,
    DoubleOptInRpcs,
    SuppressionRpcs,
    PrivacyRequestRpcs,
    SenderRpcs,
    SelfRpcs,
    consent_service_pb2_grpc.ConsentServiceServicer,
):
    """Every ConsentService RPC (constructed with the ``ConsentCore`` and the privacy requests)."""
