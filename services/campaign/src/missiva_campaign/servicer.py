"""Campaign gRPC servicer: thin — validate, call domain/store, raise typed errors.

RPCs not yet implemented answer UNIMPLEMENTED (the generated base class); each lands with its
own issue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from missiva.campaign.v1 import campaign_service_pb2_grpc
from missiva_platform.auth import MEMBER_ROLES, Access, MethodRule, rule
from missiva_platform.privacy import DataSection, Erasure, Person, PrivacyHandler

if TYPE_CHECKING:
    from missiva_platform.service import ServiceApp

# Every method's access rule (the kit refuses to start with a gap); a placeholder until
# the service lands, whose servicer replaces this table.
ACCESS_RULES: dict[str, MethodRule] = {
    **{
        name: rule(Access.USER, scopes=("contacts:read",), roles=MEMBER_ROLES)
        for name in ("GetContact", "ListContacts", "ListLists", "ListTags", "ListSegments",
                     "PreviewSegment")
    },
    **{
        name: rule(Access.USER, scopes=("contacts:write",), roles=MEMBER_ROLES)
        for name in ("CreateContact", "UpdateContact", "DeleteContact", "CreateList",
                     "AddToList", "RemoveFromList", "AddTags", "RemoveTags", "CreateSegment",
                     "ImportContacts")
    },
    **{
        name: rule(Access.USER, scopes=("campaigns:read",), roles=MEMBER_ROLES)
        for name in ("GetTemplate", "ListTemplates", "RenderPreview", "GetCampaign",
                     "ListCampaigns", "GetCampaignStats")
    },
    **{
        name: rule(Access.USER, scopes=("campaigns:write",), roles=MEMBER_ROLES)
        for name in ("CreateTemplate", "UpdateTemplate", "CreateCampaign", "UpdateCampaign",
                     "ScheduleCampaign", "SendCampaignNow", "PauseCampaign", "ResumeCampaign",
                     "CancelCampaign")
    },
}  # fmt: skip


class CampaignServicer(campaign_service_pb2_grpc.CampaignServiceServicer):
    def __init__(self, app: ServiceApp) -> None:
        self.app = app


class CampaignPrivacy(PrivacyHandler):
    """What campaign holds on a person: no personal data yet, so both answers are empty."""

    def __init__(self, app: ServiceApp) -> None:
        self.app = app

    async def export(self, person: Person) -> list[DataSection]:
        return []

    async def erase(self, person: Person) -> Erasure:
        return Erasure()
