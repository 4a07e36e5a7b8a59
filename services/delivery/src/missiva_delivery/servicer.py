"""Delivery gRPC servicer: thin — validate, call domain/store, raise typed errors.

RPCs not yet implemented answer UNIMPLEMENTED (the generated base class); each lands with its
own issue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from missiva.delivery.v1 import delivery_service_pb2_grpc
from missiva_platform.auth import ADMIN_ROLES, MEMBER_ROLES, Access, MethodRule, rule
from missiva_platform.privacy import DataSection, Erasure, Person, PrivacyHandler

if TYPE_CHECKING:
    from missiva_platform.service import ServiceApp

# Every method's access rule (the kit refuses to start with a gap); a placeholder until
# the service lands, whose servicer replaces this table.
ACCESS_RULES: dict[str, MethodRule] = {
    "SendTransactional": rule(Access.USER, scopes=("mail:send",), roles=MEMBER_ROLES),
    **{
        name: rule(Access.USER, scopes=("mail:read",), roles=MEMBER_ROLES)
        for name in ("GetMessageStatus", "ListRecentMessages", "GetCampaignDeliveryStats")
    },
    "ListSenderDomains": rule(Access.USER, scopes=("domains:read",), roles=MEMBER_ROLES),
    **{
        name: rule(Access.USER, scopes=("domains:write",), roles=ADMIN_ROLES)
        for name in ("CreateSenderDomain", "VerifySenderDomain", "RotateDkimKey")
    },
}  # fmt: skip


class DeliveryServicer(delivery_service_pb2_grpc.DeliveryServiceServicer):
    def __init__(self, app: ServiceApp) -> None:
        self.app = app


class DeliveryPrivacy(PrivacyHandler):
    """What delivery holds on a person: no personal data yet, so both answers are empty."""

    def __init__(self, app: ServiceApp) -> None:
        self.app = app

    async def export(self, person: Person) -> list[DataSection]:
        return []

    async def erase(self, person: Person) -> Erasure:
        return Erasure()
