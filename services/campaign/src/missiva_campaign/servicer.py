"""Campaign gRPC servicer: the RPC groups of ``rpc_*.py`` and every method's access rule.

Every CampaignService method has an explicit rule (scope AND roles), the ones not built yet
too (they answer UNIMPLEMENTED, the generated base class). API keys are gated by their
scopes; user tokens (scope ``*``) by their roles. Contacts, lists, segments, templates and
campaigns are the marketing team's work: members may read and write them like admins. The
billing role sees campaigns and their statistics (what the credits went on), nothing else.
"""

from __future__ import annotations

from missiva.campaign.v1 import campaign_service_pb2_grpc
from missiva_campaign.core import CampaignCore
from missiva_campaign.rpc_campaigns import CampaignRpcs
from missiva_campaign.rpc_caps import CapRpcs
from missiva_campaign.rpc_contacts import ContactRpcs
from missiva_campaign.rpc_exports import ExportRpcs
from missiva_campaign.rpc_forms import FormParts, FormRpcs
from missiva_campaign.rpc_imports import ImportRpcs
from missiva_campaign.rpc_lists import ListRpcs
from missiva_campaign.rpc_my_contact import MyContactRpcs
from missiva_campaign.rpc_policy import PolicyRpcs
from missiva_campaign.rpc_segments import SegmentRpcs
from missiva_campaign.rpc_templates import TemplateRpcs
from missiva_campaign.rpc_trash import TrashRpcs
from missiva_campaign.sending import SendPath
from missiva_platform.auth import Access, MethodRule, rule

__all__ = ["ACCESS_RULES", "PUBLIC", "CampaignServicer"]

MARKETING_ROLES = ("primary_admin", "admin", "member")
ADMIN_ROLES = ("primary_admin", "admin")
READER_ROLES = (*MARKETING_ROLES, "billing")


def _rule(*scopes: str, roles: tuple[str, ...] = MARKETING_ROLES) -> MethodRule:
    return rule(Access.USER, scopes=scopes, roles=roles)


ACCESS_RULES: dict[str, MethodRule] = {
    # Contacts and tags.
    "CreateContact": _rule("contacts:write"),
    "GetContact": _rule("contacts:read"),
    "UpdateContact": _rule("contacts:write"),
    "DeleteContact": _rule("contacts:write"),
    "RestoreContact": _rule("contacts:write"),
    "ListContacts": _rule("contacts:read"),
    "ImportContacts": _rule("contacts:write"),
    "GetImport": _rule("contacts:read"),
    "CancelImport": _rule("contacts:write"),
    "DownloadImportReport": _rule("contacts:read"),
    "ExportContacts": _rule("contacts:read"),
    "AddTags": _rule("contacts:write"),
    "RemoveTags": _rule("contacts:write"),
    "ListTags": _rule("contacts:read"),
    # Lists (membership changes are list writes on contacts the caller may see).
    "CreateList": _rule("lists:write"),
    "ListLists": _rule("lists:read"),
    "AddToList": _rule("lists:write"),
    "RemoveFromList": _rule("lists:write"),
    # Segments: a preview shows matching contacts, so it also needs contacts:read.
    "CreateSegment": _rule("segments:write"),
    "ListSegments": _rule("segments:read"),
    "PreviewSegment": _rule("segments:read", "contacts:read"),
    "DeleteSegment": _rule("segments:write"),
    "RestoreSegment": _rule("segments:write"),
    "GetSegment": _rule("segments:read"),
    "UpdateSegment": _rule("segments:write"),
    "ListSegmentFields": _rule("segments:read"),
    # Templates: a preview may fill in a real contact's fields.
    "CreateTemplate": _rule("templates:write"),
    "GetTemplate": _rule("templates:read"),
    "ListTemplates": _rule("templates:read"),
    "UpdateTemplate": _rule("templates:write"),
    "RenderPreview": _rule("templates:read", "contacts:read"),
    # Campaigns.
    "CreateCampaign": _rule("campaigns:write"),
    "GetCampaign": _rule("campaigns:read", roles=READER_ROLES),
    "ListCampaigns": _rule("campaigns:read", roles=READER_ROLES),
    "UpdateCampaign": _rule("campaigns:write"),
    "ScheduleCampaign": _rule("campaigns:write"),
    "SendCampaignNow": _rule("campaigns:write"),
    "PauseCampaign": _rule("campaigns:write"),
    "ResumeCampaign": _rule("campaigns:write"),
    "CancelCampaign": _rule("campaigns:write"),
    "GetCampaignStats": _rule("campaigns:read", roles=READER_ROLES),
    # Forms; the visitor's page and submission need no token (the form names the account).
    "CreateForm": _rule("forms:write"),
    "GetForm": _rule("forms:read"),
    "ListForms": _rule("forms:read"),
    "UpdateForm": _rule("forms:write"),
    "DeleteForm": _rule("forms:write"),
    "RestoreForm": _rule("forms:write"),
    # Retries, caps and the content screen belong to the campaigns.
    "RetryCampaignSends": _rule("campaigns:write"),
    "SetFrequencyCap": _rule("campaigns:write"),
    "ListFrequencyCaps": _rule("campaigns:read", roles=READER_ROLES),
    "DeleteFrequencyCap": _rule("campaigns:write"),
    "ScreenCampaignContent": _rule("campaigns:write"),
    # Deleting inactive contacts account-wide is an admin's decision.
    "GetContactPolicy": _rule("contacts:read"),
    # The trash of templates, campaigns and lists: the write scope of each kind.
    "DeleteTemplate": _rule("templates:write"),
    "RestoreTemplate": _rule("templates:write"),
    "DeleteCampaign": _rule("campaigns:write"),
    "RestoreCampaign": _rule("campaigns:write"),
    "DeleteList": _rule("lists:write"),
    "RestoreList": _rule("lists:write"),
    "SetContactPolicy": _rule("contacts:write", roles=ADMIN_ROLES),
    "GetPublicForm": rule(Access.ANONYMOUS),
    "SubmitForm": rule(Access.ANONYMOUS),
    # The recipient's own fields: no account token; the my-data link token in the request is
    # the credential, and names the account and the person (rpc_my_contact.py).
    "GetMyContact": rule(Access.ANONYMOUS),
    "CorrectMyContact": rule(Access.ANONYMOUS),
}
PUBLIC = ("GetPublicForm", "SubmitForm", "GetMyContact", "CorrectMyContact")


class CampaignServicer(
    ContactRpcs,
    ListRpcs,
    SegmentRpcs,
    ImportRpcs,
    ExportRpcs,
    FormRpcs,
    TemplateRpcs,
    CampaignRpcs,
    CapRpcs,
    PolicyRpcs,
    MyContactRpcs,
    TrashRpcs,
    campaign_service_pb2_grpc.CampaignServiceServicer,
):
    """Every CampaignService RPC (constructed with the ``CampaignCore`` and the send path)."""

    def __init__(
        self,
        core: CampaignCore,
        send_path: SendPath | None = None,
        form_parts: FormParts | None = None,
    ) -> None:
        self.core = core
        self.form_parts = form_parts or FormParts()
        self.sending = send_path or SendPath(
            lambda: core.pool, None, batch_size=500, batches_per_run=1
        )
