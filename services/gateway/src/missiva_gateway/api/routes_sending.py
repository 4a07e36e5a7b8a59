"""Templates and campaigns (campaign), transactional mail and sender domains (delivery),
suppressions (consent) and credits (billing)."""

from __future__ import annotations

from typing import Annotated

from google.protobuf import field_mask_pb2
from litestar import Controller, delete, get, patch, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from missiva.billing.v1 import billing_service_pb2 as bpb
from missiva.campaign.v1 import campaign_service_pb2 as cpb
from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as conpb
from missiva.delivery.v1 import delivery_service_pb2 as dpb
from missiva_gateway.api import models_sending as m
from missiva_gateway.api.convert import enum_in, present, stamp
from missiva_gateway.api.routing import (
    PROBLEMS,
    CtxDep,
    IdempotencyKey,
    InTrash,
    Limit,
    PageCursor,
    next_cursor,
    page,
)

PathId = Annotated[str, PathParameter(min_length=1, max_length=64, description="Identifier.")]
CAMPAIGN_FIELDS = {"campaign.": ""}
TEMPLATE_FIELDS = {"template.": ""}


class TemplatesController(Controller):
    """Email templates (scopes `templates:read`, `templates:write`)."""

    path = "/templates"
    tags = ["templates"]

    @post("/", responses=PROBLEMS, summary="Create a template")
    async def create_template(
        self,
        ctx: CtxDep,
        data: JSONBody[m.TemplateCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> m.Template:
        """A new template (campaign checks merge fields and the required links)."""
        reply = await ctx.call(
            "campaign",
            "CreateTemplate",
            cpb.CreateTemplateRequest(
                template=data.to_pb(), idempotency_key=ctx.idempotency(idempotency_key)
            ),
            fields=TEMPLATE_FIELDS,
        )
        return m.Template.from_pb(reply.template)

    @get("/", responses=PROBLEMS, summary="List templates")
    async def list_templates(
        self, ctx: CtxDep, limit: Limit = 50, cursor: PageCursor = None, in_trash: InTrash = False
    ) -> m.TemplatePage:
        """A page of templates, the starters included (bodies omitted)."""
        reply = await ctx.call(
            "campaign",
            "ListTemplates",
            cpb.ListTemplatesRequest(**page(limit, cursor), in_trash=in_trash),
        )
        return m.TemplatePage(
            data=[m.Template.from_pb(t) for t in reply.templates], next_cursor=next_cursor(reply)
        )

    @delete("/{template_id:str}", status_code=200, responses=PROBLEMS, summary="Delete")
    async def delete_template(self, ctx: CtxDep, template_id: PathId) -> m.Template:
        """Move a template to the trash (refused for a starter, and while a scheduled or
        sending campaign sends it)."""
        reply = await ctx.call(
            "campaign", "DeleteTemplate", cpb.DeleteTemplateRequest(template_id=template_id)
        )
        return m.Template.from_pb(reply.template)

    @post("/{template_id:str}/restore", status_code=200, responses=PROBLEMS, summary="Restore")
    async def restore_template(self, ctx: CtxDep, template_id: PathId) -> m.Template:
        """Bring a template back from the trash."""
        reply = await ctx.call(
            "campaign", "RestoreTemplate", cpb.RestoreTemplateRequest(template_id=template_id)
        )
        return m.Template.from_pb(reply.template)

    @get("/{template_id:str}", responses=PROBLEMS, summary="Get a template")
    async def get_template(self, ctx: CtxDep, template_id: PathId) -> m.Template:
        """One template with its bodies."""
        reply = await ctx.call(
            "campaign", "GetTemplate", cpb.GetTemplateRequest(template_id=template_id)
        )
        return m.Template.from_pb(reply.template)

    @patch("/{template_id:str}", responses=PROBLEMS, summary="Update a template")
    async def update_template(
        self, ctx: CtxDep, template_id: PathId, data: JSONBody[m.TemplatePatch]
    ) -> m.Template:
        """Change the fields sent (the revision goes up)."""
        values = {name: getattr(data, name) for name in present(data)}
        reply = await ctx.call(
            "campaign",
            "UpdateTemplate",
            cpb.UpdateTemplateRequest(
                template=cpb.Template(template_id=template_id, **values),
                update_mask=field_mask_pb2.FieldMask(paths=list(values)),
            ),
            fields=TEMPLATE_FIELDS,
        )
        return m.Template.from_pb(reply.template)

    @post("/{template_id:str}/preview", status_code=200, responses=PROBLEMS, summary="Preview")
    async def preview_template(
        self, ctx: CtxDep, template_id: PathId, data: JSONBody[m.PreviewRequest]
    ) -> m.Preview:
        """Render a template with a contact's fields and/or given merge fields (scopes
        `templates:read`, `contacts:read`). Reads only, so no idempotency key."""
        reply = await ctx.call(
            "campaign",
            "RenderPreview",
            cpb.RenderPreviewRequest(
                template_id=template_id, contact_id=data.contact_id, merge_fields=data.merge_fields
            ),
        )
        return m.Preview(
            subject=reply.subject,
            html_body=reply.html_body,
            text_body=reply.text_body,
            warnings=list(reply.warnings),
        )


CampaignFilter = Annotated[
    m.CampaignStatus | None, QueryParameter(description="Only campaigns in this state.")
]


class CampaignsController(Controller):
    """Campaigns and their lifecycle (scopes `campaigns:read`, `campaigns:write`)."""

    path = "/campaigns"
    tags = ["campaigns"]

    @post("/", responses=PROBLEMS, summary="Create a draft campaign")
    async def create_campaign(
        self,
        ctx: CtxDep,
        data: JSONBody[m.CampaignCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> m.Campaign:
        """A new draft (nothing is sent until it is scheduled or sent now)."""
        reply = await ctx.call(
            "campaign",
            "CreateCampaign",
            cpb.CreateCampaignRequest(
                campaign=data.to_pb(), idempotency_key=ctx.idempotency(idempotency_key)
            ),
            fields=CAMPAIGN_FIELDS,
        )
        return m.Campaign.from_pb(reply.campaign)

    @get("/", responses=PROBLEMS, summary="List campaigns")
    async def list_campaigns(
        self,
        ctx: CtxDep,
        limit: Limit = 50,
        cursor: PageCursor = None,
        status: CampaignFilter = None,
        in_trash: InTrash = False,
    ) -> m.CampaignPage:
        """A page of campaigns, newest first."""
        reply = await ctx.call(
            "campaign",
            "ListCampaigns",
            cpb.ListCampaignsRequest(
                **page(limit, cursor),
                status=enum_in(cpb.CampaignStatus, status or "unspecified", "CAMPAIGN_STATUS_"),
                in_trash=in_trash,
            ),
        )
        return m.CampaignPage(
            data=[m.Campaign.from_pb(c) for c in reply.campaigns], next_cursor=next_cursor(reply)
        )

    @delete("/{campaign_id:str}", status_code=200, responses=PROBLEMS, summary="Delete")
    async def delete_campaign(self, ctx: CtxDep, campaign_id: PathId) -> m.Campaign:
        """Move a draft, completed or cancelled campaign to the trash with its statistics
        (a scheduled, sending or paused one must be cancelled first)."""
        reply = await ctx.call(
            "campaign", "DeleteCampaign", cpb.DeleteCampaignRequest(campaign_id=campaign_id)
        )
        return m.Campaign.from_pb(reply.campaign)

    @post("/{campaign_id:str}/restore", status_code=200, responses=PROBLEMS, summary="Restore")
    async def restore_campaign(self, ctx: CtxDep, campaign_id: PathId) -> m.Campaign:
        """Bring a campaign back from the trash."""
        reply = await ctx.call(
            "campaign", "RestoreCampaign", cpb.RestoreCampaignRequest(campaign_id=campaign_id)
        )
        return m.Campaign.from_pb(reply.campaign)

    @get("/{campaign_id:str}", responses=PROBLEMS, summary="Get a campaign")
    async def get_campaign(self, ctx: CtxDep, campaign_id: PathId) -> m.Campaign:
        """One campaign with its counters."""
        reply = await ctx.call(
            "campaign", "GetCampaign", cpb.GetCampaignRequest(campaign_id=campaign_id)
        )
        return m.Campaign.from_pb(reply.campaign)

    @patch("/{campaign_id:str}", responses=PROBLEMS, summary="Update a draft")
    async def update_campaign(
        self, ctx: CtxDep, campaign_id: PathId, data: JSONBody[m.CampaignPatch]
    ) -> m.Campaign:
        """Change the fields sent of a draft."""
        campaign, paths = data.to_pb(campaign_id)
        reply = await ctx.call(
            "campaign",
            "UpdateCampaign",
            cpb.UpdateCampaignRequest(
                campaign=campaign, update_mask=field_mask_pb2.FieldMask(paths=paths)
            ),
            fields=CAMPAIGN_FIELDS,
        )
        return m.Campaign.from_pb(reply.campaign)

    @post("/{campaign_id:str}/schedule", status_code=200, responses=PROBLEMS, summary="Schedule")
    async def schedule_campaign(
        self,
        ctx: CtxDep,
        campaign_id: PathId,
        data: JSONBody[m.Schedule],
        idempotency_key: IdempotencyKey = None,
    ) -> m.Campaign:
        """Start sending at a time (optionally at that wall-clock time per recipient)."""
        reply = await ctx.call(
            "campaign",
            "ScheduleCampaign",
            cpb.ScheduleCampaignRequest(
                campaign_id=campaign_id,
                send_at=stamp(data.send_at),
                timezone=data.timezone,
                recipient_local_time=data.recipient_local_time,
                idempotency_key=ctx.idempotency(idempotency_key),
            ),
        )
        return m.Campaign.from_pb(reply.campaign)

    @post("/{campaign_id:str}/send", status_code=200, responses=PROBLEMS, summary="Send now")
    async def send_campaign(
        self, ctx: CtxDep, campaign_id: PathId, idempotency_key: IdempotencyKey = None
    ) -> m.Campaign:
        """Snapshot the recipients and start sending at once (a retry with the same
        `Idempotency-Key` never sends twice)."""
        reply = await ctx.call(
            "campaign",
            "SendCampaignNow",
            cpb.SendCampaignNowRequest(
                campaign_id=campaign_id, idempotency_key=ctx.idempotency(idempotency_key)
            ),
            deadline=max(ctx.timeout, 30.0),
        )
        return m.Campaign.from_pb(reply.campaign)

    @post("/{campaign_id:str}/pause", status_code=200, responses=PROBLEMS, summary="Pause")
    async def pause_campaign(
        self,
        ctx: CtxDep,
        campaign_id: PathId,
        data: JSONBody[m.Reason],
        idempotency_key: IdempotencyKey = None,
    ) -> m.Campaign:
        """Stop emitting new batches until resumed."""
        reply = await ctx.call(
            "campaign",
            "PauseCampaign",
            cpb.PauseCampaignRequest(
                campaign_id=campaign_id,
                reason=data.reason,
                idempotency_key=ctx.idempotency(idempotency_key),
            ),
        )
        return m.Campaign.from_pb(reply.campaign)

    @post("/{campaign_id:str}/resume", status_code=200, responses=PROBLEMS, summary="Resume")
    async def resume_campaign(
        self, ctx: CtxDep, campaign_id: PathId, idempotency_key: IdempotencyKey = None
    ) -> m.Campaign:
        """Go on sending a paused campaign."""
        reply = await ctx.call(
            "campaign",
            "ResumeCampaign",
            cpb.ResumeCampaignRequest(
                campaign_id=campaign_id, idempotency_key=ctx.idempotency(idempotency_key)
            ),
        )
        return m.Campaign.from_pb(reply.campaign)

    @post("/{campaign_id:str}/cancel", status_code=200, responses=PROBLEMS, summary="Cancel")
    async def cancel_campaign(
        self,
        ctx: CtxDep,
        campaign_id: PathId,
        data: JSONBody[m.Reason],
        idempotency_key: IdempotencyKey = None,
    ) -> m.Campaign:
        """Cancel: recipients not yet sent to are not sent to."""
        reply = await ctx.call(
            "campaign",
            "CancelCampaign",
            cpb.CancelCampaignRequest(
                campaign_id=campaign_id,
                reason=data.reason,
                idempotency_key=ctx.idempotency(idempotency_key),
            ),
        )
        return m.Campaign.from_pb(reply.campaign)

    @get("/{campaign_id:str}/stats", responses=PROBLEMS, summary="Statistics")
    async def campaign_stats(self, ctx: CtxDep, campaign_id: PathId) -> m.CampaignStats:
        """The campaign's counters (anonymous aggregates)."""
        reply = await ctx.call(
            "campaign", "GetCampaignStats", cpb.GetCampaignStatsRequest(campaign_id=campaign_id)
        )
        return m.CampaignStats.from_pb(reply.stats)


class TransactionalController(Controller):
    """Transactional mail (scope `mail:send`)."""

    path = "/transactional"
    tags = ["transactional"]

    @post("/", status_code=202, responses=PROBLEMS, summary="Send a transactional email")
    async def send_transactional(
        self,
        ctx: CtxDep,
        data: JSONBody[m.TransactionalSend],
        idempotency_key: IdempotencyKey = None,
    ) -> m.TransactionalQueued:
        """Queue one email from a transactional template (delivery's `SendTransactional`;
        the same `Idempotency-Key` never sends twice)."""
        reply = await ctx.call(
            "delivery",
            "SendTransactional",
            dpb.SendTransactionalRequest(
                idempotency_key=ctx.idempotency(idempotency_key),
                template_key=data.template_key,
                to_address=data.to_address,
                to_name=data.to_name,
                locale=data.locale,
                variables=data.variables,
                category=enum_in(types_pb2.EmailCategory, data.category, "EMAIL_CATEGORY_"),
            ),
        )
        return m.TransactionalQueued.from_pb(reply)


class SenderDomainsController(Controller):
    """Sender domains (scopes `domains:read`, `domains:write`)."""

    path = "/sender-domains"
    tags = ["sender domains"]

    @post("/", responses=PROBLEMS, summary="Add a sender domain")
    async def create_sender_domain(
        self,
        ctx: CtxDep,
        data: JSONBody[m.SenderDomainCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> m.SenderDomain:
        """Add a domain; the answer lists the DNS records to publish."""
        reply = await ctx.call(
            "delivery",
            "CreateSenderDomain",
            dpb.CreateSenderDomainRequest(
                domain=data.domain, idempotency_key=ctx.idempotency(idempotency_key)
            ),
        )
        return m.SenderDomain.from_pb(reply.sender_domain)

    @get("/", responses=PROBLEMS, summary="List sender domains")
    async def list_sender_domains(
        self, ctx: CtxDep, limit: Limit = 50, cursor: PageCursor = None
    ) -> m.SenderDomainPage:
        """A page of the account's sender domains."""
        reply = await ctx.call(
            "delivery", "ListSenderDomains", dpb.ListSenderDomainsRequest(**page(limit, cursor))
        )
        return m.SenderDomainPage(
            data=[m.SenderDomain.from_pb(d) for d in reply.sender_domains],
            next_cursor=next_cursor(reply),
        )

    @post("/{sender_domain_id:str}/verify", status_code=200, responses=PROBLEMS,
          summary="Verify a sender domain")  # fmt: skip
    async def verify_sender_domain(self, ctx: CtxDep, sender_domain_id: PathId) -> m.SenderDomain:
        """Check the domain's DNS records now (checking again changes nothing else)."""
        reply = await ctx.call(
            "delivery",
            "VerifySenderDomain",
            dpb.VerifySenderDomainRequest(sender_domain_id=sender_domain_id),
        )
        return m.SenderDomain.from_pb(reply.sender_domain)


ReasonFilter = Annotated[
    m.SuppressionReason | None, QueryParameter(description="Only entries with this reason.")
]


class SuppressionsController(Controller):
    """The account's suppression list (scopes `suppressions:read`, `suppressions:write`)."""

    path = "/suppressions"
    tags = ["suppressions"]

    @get("/", responses=PROBLEMS, summary="List suppressions")
    async def list_suppressions(
        self,
        ctx: CtxDep,
        limit: Limit = 50,
        cursor: PageCursor = None,
        reason: ReasonFilter = None,
    ) -> m.SuppressionPage:
        """A page of suppression entries, newest first."""
        reply = await ctx.call(
            "consent",
            "ListSuppressions",
            conpb.ListSuppressionsRequest(
                **page(limit, cursor),
                reason=enum_in(
                    conpb.SuppressionReason, reason or "unspecified", "SUPPRESSION_REASON_"
                ),
            ),
        )
        return m.SuppressionPage(
            data=[m.Suppression.from_pb(s) for s in reply.suppressions],
            next_cursor=next_cursor(reply),
        )

    @post("/", responses=PROBLEMS, summary="Suppress an address")
    async def add_suppression(
        self,
        ctx: CtxDep,
        data: JSONBody[m.SuppressionCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> m.Suppression:
        """Never mail this address again (for a purpose, or for every one)."""
        reply = await ctx.call(
            "consent",
            "AddSuppression",
            conpb.AddSuppressionRequest(
                person=types_pb2.PersonRef(email=data.email),
                reason=conpb.SUPPRESSION_REASON_MANUAL,
                note=data.note,
                purpose_id=data.purpose_id,
                idempotency_key=ctx.idempotency(idempotency_key),
            ),
            fields={"person.email": "email", "person": "email"},
        )
        return m.Suppression.from_pb(reply.suppression)


class CreditsController(Controller):
    """Sending credits (scope `credits:read`)."""

    path = "/credits"
    tags = ["billing"]

    @get("/", responses=PROBLEMS, summary="Credit balance")
    async def credit_balance(self, ctx: CtxDep) -> m.CreditBalance:
        """The account's credit balance (billing's `GetCreditBalance`)."""
        reply = await ctx.call("billing", "GetCreditBalance", bpb.GetCreditBalanceRequest())
        return m.CreditBalance.from_pb(reply.balance)
