"""Billing gRPC servicer: the RPC groups of ``rpc_*.py`` and every method's access rule.

Built today: ``ListPlans``, the credits (``GetCreditBalance``, ``ListCreditEntries``,
``ReserveCredits``, ``CommitCredits``, ``ReleaseCredits``), the billing profile
(``GetBillingProfile``, ``UpdateBillingProfile``), the invoices (``ListInvoices``, ``GetInvoice``,
``DownloadInvoicePdf``, ``DownloadInvoiceXml``) and provider webhooks
(``HandleProviderEvent``) and subscriptions (``GetSubscription``, ``Subscribe``,
``ChangePlan``, ``CancelSubscription``), the operator's ``MarkInvoicePaid`` and referrals
(``GetReferralCode``, ``RedeemReferralCode``, ``RecordReferralClick``).
"""

from __future__ import annotations

from missiva.billing.v1 import billing_service_pb2_grpc
from missiva_billing.rpc_credits import CreditRpcs
from missiva_billing.rpc_invoices import InvoiceRpcs
from missiva_billing.rpc_payments import PaymentRpcs
from missiva_billing.rpc_plans import PlanRpcs
from missiva_billing.rpc_profile import ProfileRpcs
from missiva_billing.rpc_referrals import ReferralRpcs
from missiva_billing.rpc_subscriptions import SubscriptionRpcs
from missiva_platform.auth import ADMIN_ROLES, Access, MethodRule, rule

__all__ = ["ACCESS_RULES", "BillingServicer"]

# Who may see and change the account's billing: its admins and its billing members.
BILLING_ROLES = ("primary_admin", "admin", "billing")
# Anyone of the account may see its credits (members plan campaigns against them).
CREDIT_READERS = ("primary_admin", "admin", "billing", "member")
# The services that hold credits for sends: campaign reserves before each send.
CREDIT_SERVICES = ("campaign",)

_BILLING_READ = rule(Access.USER, scopes=("billing:read",), roles=BILLING_ROLES)
_BILLING_WRITE = rule(Access.USER, scopes=("billing:write",), roles=BILLING_ROLES)
_CREDIT_WRITE = rule(Access.SERVICE, scopes=("credits:write",), services=CREDIT_SERVICES)

ACCESS_RULES: dict[str, MethodRule] = {
    # The price list is public: the sign-up and pricing pages show it before any account.
    "ListPlans": rule(Access.ANONYMOUS),
    "GetSubscription": _BILLING_READ,
    "Subscribe": _BILLING_WRITE,
    "ChangePlan": _BILLING_WRITE,
    "CancelSubscription": _BILLING_WRITE,
    "GetCreditBalance": rule(Access.USER, scopes=("credits:read",), roles=CREDIT_READERS),
    "ListCreditEntries": rule(Access.USER, scopes=("credits:read",), roles=CREDIT_READERS),
    "ReserveCredits": _CREDIT_WRITE,
    "CommitCredits": _CREDIT_WRITE,
    "ReleaseCredits": _CREDIT_WRITE,
    "GetBillingProfile": _BILLING_READ,
    "UpdateBillingProfile": _BILLING_WRITE,
    "ListInvoices": _BILLING_READ,
    "GetInvoice": _BILLING_READ,
    "DownloadInvoicePdf": _BILLING_READ,
    "DownloadInvoiceXml": _BILLING_READ,
    # A payment provider's webhook, forwarded by the gateway as received (which calls with no
    # identity of its own): authenticated by the provider's signature over the raw body,
    # which billing verifies itself, not by a token.
    "HandleProviderEvent": rule(Access.ANONYMOUS),
    # An operator: an admin of the platform account (``PLATFORM_ACCOUNT_ID``, checked by the
    # method) with the operator's scope; the invoice's account is named in the request.
    "MarkInvoicePaid": rule(Access.USER, scopes=("billing:operate",), roles=ADMIN_ROLES),
    "GetReferralCode": _BILLING_READ,
    "RedeemReferralCode": _BILLING_WRITE,
    # The gateway's `/r/<code>`, with its own service token (no account: a visitor).
    "RecordReferralClick": rule(Access.SERVICE, services=("gateway",)),
}


class BillingServicer(
    CreditRpcs,
    PlanRpcs,
    ProfileRpcs,
    InvoiceRpcs,
    PaymentRpcs,
    SubscriptionRpcs,
    ReferralRpcs,
    billing_service_pb2_grpc.BillingServiceServicer,
):
    """Every BillingService RPC (constructed with the app and the cores)."""
