"""Billing gRPC servicer: thin — validate, call domain/store, raise typed errors.

RPCs not yet implemented answer UNIMPLEMENTED (the generated base class); each lands with its
own issue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from missiva.billing.v1 import billing_service_pb2_grpc
from missiva_platform.auth import ALL_ROLES, Access, MethodRule, rule
from missiva_platform.privacy import DataSection, Erasure, Person, PrivacyHandler

if TYPE_CHECKING:
    from missiva_platform.service import ServiceApp

_BILLING = ("primary_admin", "admin", "billing")
# Every method's access rule (the kit refuses to start with a gap); a placeholder until
# the service lands, whose servicer replaces this table.
ACCESS_RULES: dict[str, MethodRule] = {
    "ListPlans": rule(Access.ANONYMOUS),
    **{
        name: rule(Access.USER, scopes=("billing:read",), roles=_BILLING)
        for name in ("GetSubscription", "GetBillingProfile", "ListInvoices", "GetInvoice",
                     "DownloadInvoicePdf", "DownloadInvoiceXml")
    },
    **{
        name: rule(Access.USER, scopes=("billing:write",), roles=_BILLING)
        for name in ("Subscribe", "ChangePlan", "CancelSubscription", "UpdateBillingProfile")
    },
    "GetCreditBalance": rule(Access.AUTHENTICATED, scopes=("credits:read",), roles=ALL_ROLES),
    **{
        name: rule(Access.SERVICE, services=("campaign", "delivery"))
        for name in ("ReserveCredits", "CommitCredits", "ReleaseCredits")
    },
    "HandleProviderEvent": rule(Access.ANONYMOUS),  # authorised by the provider's signature
}  # fmt: skip


class BillingServicer(billing_service_pb2_grpc.BillingServiceServicer):
    def __init__(self, app: ServiceApp) -> None:
        self.app = app


class BillingPrivacy(PrivacyHandler):
    """What billing holds on a person: no personal data yet, so both answers are empty."""

    def __init__(self, app: ServiceApp) -> None:
        self.app = app

    async def export(self, person: Person) -> list[DataSection]:
        return []

    async def erase(self, person: Person) -> Erasure:
        return Erasure()
