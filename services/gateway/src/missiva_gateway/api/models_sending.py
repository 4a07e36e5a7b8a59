"""JSON models of sending: templates, campaigns and their statistics, transactional mail,
sender domains, suppressions, credits. Each maps onto the owning service's message."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from missiva.billing.v1 import billing_service_pb2 as bpb
from missiva.campaign.v1 import campaign_service_pb2 as cpb
from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as conpb
from missiva.delivery.v1 import delivery_service_pb2 as dpb
from missiva_gateway.api.convert import doc, enum_out, ts
from missiva_gateway.api.models_audience import Cursor, Id

Category = Literal["unspecified", "marketing", "product_update", "system"]


def category_out(value: int) -> Category:
    return enum_out(types_pb2.EmailCategory, value, "EMAIL_CATEGORY_")  # type: ignore[return-value]


class Template(msgspec.Struct, kw_only=True):
    """An email template with merge fields."""

    template_id: Annotated[str, doc("Template id.")]
    name: Annotated[str, doc("Name.")]
    subject: Annotated[str, doc("Subject line (may hold merge fields).")]
    preheader: Annotated[str, doc("Preheader text.")]
    html_body: Annotated[str, doc("HTML body (empty in listings).")]
    text_body: Annotated[str, doc("Plain-text body; derived from the HTML when empty.")]
    revision: Annotated[int, doc("Revision, incremented on each update.")]
    category: Annotated[Category, doc("Email category; `marketing` when unspecified.")]
    starter: Annotated[bool, doc("A built-in starter template (read-only).")]
    locale: Annotated[str, doc("Language, e.g. `en`.")]
    created_at: Annotated[datetime | None, doc("Creation time.")]
    updated_at: Annotated[datetime | None, doc("Last update.")]
    deleted_at: Annotated[datetime | None, doc("When it went to the trash; null if live.")]
    restorable_until: Annotated[
        datetime | None, doc("Until when it can be restored from the trash.")
    ]

    @classmethod
    def from_pb(cls, t: cpb.Template) -> Template:
        return cls(
            template_id=t.template_id,
            name=t.name,
            subject=t.subject,
            preheader=t.preheader,
            html_body=t.html_body,
            text_body=t.text_body,
            revision=t.revision,
            category=category_out(t.category),
            starter=t.starter,
            locale=t.locale,
            created_at=ts(t, "created_at"),
            updated_at=ts(t, "updated_at"),
            deleted_at=ts(t, "deleted_at"),
            restorable_until=ts(t, "restorable_until"),
        )


class TemplateCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new template; it must hold the unsubscribe and my-data links unless `system`."""

    name: Annotated[str, doc("Name.", max_length=200)]
    subject: Annotated[str, doc("Subject line (may hold merge fields).", max_length=998)]
    html_body: Annotated[str, doc("HTML body.", max_length=1_000_000)]
    text_body: Annotated[str, doc("Plain-text body; derived when empty.", max_length=500_000)] = ""
    preheader: Annotated[str, doc("Preheader text.", max_length=500)] = ""
    category: Annotated[Category, doc("Email category; `marketing` when unspecified.")] = (
        "unspecified"
    )
    locale: Annotated[str, doc("Language, e.g. `en`.", max_length=35)] = ""

    def to_pb(self) -> cpb.Template:
        return cpb.Template(
            name=self.name,
            subject=self.subject,
            html_body=self.html_body,
            text_body=self.text_body,
            preheader=self.preheader,
            category=types_pb2.EmailCategory.Value(f"EMAIL_CATEGORY_{self.category.upper()}"),
            locale=self.locale,
        )


class TemplatePatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields of a template to change; fields left out stay as they are."""

    name: Annotated[str, doc("Name.", max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    subject: Annotated[str, doc("Subject.", max_length=998)] | msgspec.UnsetType = msgspec.UNSET
    preheader: Annotated[str, doc("Preheader.", max_length=500)] | msgspec.UnsetType = msgspec.UNSET
    html_body: Annotated[str, doc("HTML body.", max_length=1_000_000)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    text_body: Annotated[str, doc("Text body.", max_length=500_000)] | msgspec.UnsetType = (
        msgspec.UNSET
    )


class TemplatePage(msgspec.Struct, kw_only=True):
    """A page of templates (bodies omitted)."""

    data: Annotated[list[Template], doc("Templates on this page.")]
    next_cursor: Cursor = None


class PreviewRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What fills a template's merge fields in a preview."""

    contact_id: Annotated[str, doc("A contact whose fields fill the merge fields.")] = ""
    merge_fields: Annotated[
        dict[str, str], doc("Merge fields to use instead of (or on top of) the contact's.")
    ] = msgspec.field(default_factory=dict)


class Preview(msgspec.Struct, kw_only=True):
    """A rendered email."""

    subject: Annotated[str, doc("Rendered subject.")]
    html_body: Annotated[str, doc("Rendered HTML body.")]
    text_body: Annotated[str, doc("Rendered text body.")]
    warnings: Annotated[list[str], doc("Problems found, e.g. unknown merge fields.")]


CampaignStatus = Literal[
    "unspecified", "draft", "scheduled", "sending", "paused", "completed", "cancelled",
    "completed_with_failures",
]  # fmt: skip


class Sender(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Who a campaign is sent as."""

    from_address: Annotated[str, doc("From address, on a sender domain.", max_length=320)]
    from_name: Annotated[str, doc("Display name.", max_length=200)] = ""
    reply_to: Annotated[str, doc("Reply-To address; empty for none.", max_length=320)] = ""
    sender_domain_id: Annotated[str, doc("Sender domain at delivery.", max_length=64)] = ""

    def to_pb(self) -> cpb.Sender:
        return cpb.Sender(
            from_address=self.from_address,
            from_name=self.from_name,
            reply_to=self.reply_to,
            sender_domain_id=self.sender_domain_id,
        )


class Campaign(msgspec.Struct, kw_only=True):
    """One email sent to an audience."""

    campaign_id: Annotated[str, doc("Campaign id.")]
    name: Annotated[str, doc("Name.")]
    status: Annotated[CampaignStatus, doc("State (changed by schedule/send/pause/...).")]
    category: Annotated[Category, doc("`marketing` or `product_update`.")]
    purpose_id: Annotated[str, doc("Consent purpose recipients must have granted.")]
    template_id: Annotated[str, doc("Template sent.")]
    subject: Annotated[str, doc("Subject; the template's when empty.")]
    preheader: Annotated[str, doc("Preheader; the template's when empty.")]
    list_ids: Annotated[list[str], doc("Lists sent to.")]
    segment_ids: Annotated[list[str], doc("Segments sent to.")]
    excluded_list_ids: Annotated[list[str], doc("Lists whose contacts are left out.")]
    sender: Annotated[Sender | None, doc("Who it is sent as.")]
    scheduled_at: Annotated[datetime | None, doc("When it is scheduled to start.")]
    schedule_timezone: Annotated[str, doc("Time zone the schedule was given in.")]
    recipient_local_time: Annotated[bool, doc("Sent at the wall-clock time of each recipient.")]
    started_at: Annotated[datetime | None, doc("When sending started.")]
    completed_at: Annotated[datetime | None, doc("When sending ended.")]
    created_at: Annotated[datetime | None, doc("Creation time.")]
    updated_at: Annotated[datetime | None, doc("Last update.")]
    pause_reason: Annotated[str, doc("Why it is paused, when it is.")]
    recipient_count: Annotated[int, doc("Contacts in the recipient snapshot.")]
    sent_count: Annotated[int, doc("Messages delivery reported sent.")]
    failed_count: Annotated[int, doc("Messages that failed for good.")]
    deferred_count: Annotated[int, doc("Messages still deferred.")]
    last_error: Annotated[str, doc("Why the last start attempt did not send.")]
    missing_credits: Annotated[int, doc("Credits missing at the last start attempt.")]
    deleted_at: Annotated[datetime | None, doc("When it went to the trash; null if live.")]
    restorable_until: Annotated[
        datetime | None, doc("Until when it can be restored from the trash.")
    ]

    @classmethod
    def from_pb(cls, c: cpb.Campaign) -> Campaign:
        s = c.sender
        return cls(
            campaign_id=c.campaign_id,
            name=c.name,
            status=enum_out(cpb.CampaignStatus, c.status, "CAMPAIGN_STATUS_"),  # type: ignore[arg-type]
            category=category_out(c.category),
            purpose_id=c.purpose_id,
            template_id=c.template_id,
            subject=c.subject,
            preheader=c.preheader,
            list_ids=list(c.list_ids),
            segment_ids=list(c.segment_ids),
            excluded_list_ids=list(c.excluded_list_ids),
            sender=Sender(
                from_address=s.from_address,
                from_name=s.from_name,
                reply_to=s.reply_to,
                sender_domain_id=s.sender_domain_id,
            )
            if c.HasField("sender")
            else None,
            scheduled_at=ts(c, "scheduled_at"),
            schedule_timezone=c.schedule_timezone,
            recipient_local_time=c.recipient_local_time,
            started_at=ts(c, "started_at"),
            completed_at=ts(c, "completed_at"),
            created_at=ts(c, "created_at"),
            updated_at=ts(c, "updated_at"),
            pause_reason=c.pause_reason,
            recipient_count=c.recipient_count,
            sent_count=c.sent_count,
            failed_count=c.failed_count,
            deferred_count=c.deferred_count,
            last_error=c.last_error,
            missing_credits=c.missing_credits,
            deleted_at=ts(c, "deleted_at"),
            restorable_until=ts(c, "restorable_until"),
        )


IdList = Annotated[list[Id], doc("Ids.", max_length=100)]


class CampaignCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new draft campaign."""

    name: Annotated[str, doc("Name.", max_length=200)]
    purpose_id: Annotated[str, doc("Consent purpose recipients must have granted.")]
    template_id: Annotated[str, doc("Template to send (e.g. `starter-en`).", max_length=64)]
    sender: Annotated[Sender, doc("Who it is sent as.")]
    list_ids: Annotated[list[Id], doc("Lists to send to.", max_length=100)] = msgspec.field(
        default_factory=list
    )
    segment_ids: Annotated[list[Id], doc("Segments to send to.", max_length=100)] = msgspec.field(
        default_factory=list
    )
    excluded_list_ids: Annotated[list[Id], doc("Lists left out.", max_length=100)] = msgspec.field(
        default_factory=list
    )
    category: Annotated[
        Literal["unspecified", "marketing", "product_update"], doc("Email category.")
    ] = "unspecified"
    subject: Annotated[str, doc("Subject; the template's when empty.", max_length=998)] = ""
    preheader: Annotated[str, doc("Preheader; the template's when empty.", max_length=500)] = ""

    def to_pb(self) -> cpb.Campaign:
        return cpb.Campaign(
            name=self.name,
            purpose_id=self.purpose_id,
            template_id=self.template_id,
            sender=self.sender.to_pb(),
            list_ids=self.list_ids,
            segment_ids=self.segment_ids,
            excluded_list_ids=self.excluded_list_ids,
            category=types_pb2.EmailCategory.Value(f"EMAIL_CATEGORY_{self.category.upper()}"),
            subject=self.subject,
            preheader=self.preheader,
        )


class CampaignPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields of a draft to change; fields left out stay as they are."""

    name: Annotated[str, doc("Name.", max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    template_id: Annotated[str, doc("Template.", max_length=64)] | msgspec.UnsetType = msgspec.UNSET
    subject: Annotated[str, doc("Subject.", max_length=998)] | msgspec.UnsetType = msgspec.UNSET
    preheader: Annotated[str, doc("Preheader.", max_length=500)] | msgspec.UnsetType = msgspec.UNSET
    list_ids: IdList | msgspec.UnsetType = msgspec.UNSET
    segment_ids: IdList | msgspec.UnsetType = msgspec.UNSET
    excluded_list_ids: IdList | msgspec.UnsetType = msgspec.UNSET
    sender: Annotated[Sender, doc("Who it is sent as.")] | msgspec.UnsetType = msgspec.UNSET

    def to_pb(self, campaign_id: str) -> tuple[cpb.Campaign, list[str]]:
        values: dict[str, Any] = {"campaign_id": campaign_id}
        paths: list[str] = []
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if value is msgspec.UNSET:
                continue
            values[name] = value.to_pb() if isinstance(value, Sender) else value
            paths.append(name)
        return cpb.Campaign(**values), paths


class CampaignPage(msgspec.Struct, kw_only=True):
    """A page of campaigns, newest first."""

    data: Annotated[list[Campaign], doc("Campaigns on this page.")]
    next_cursor: Cursor = None


class Schedule(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """When to start sending."""

    send_at: Annotated[datetime, doc("When to start (RFC 3339; without offset: UTC).")]
    timezone: Annotated[str, doc("IANA time zone it was picked in.", max_length=64)] = ""
    recipient_local_time: Annotated[
        bool, doc("Send at send_at's wall-clock time in each recipient's time zone.")
    ] = False


class Reason(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Why (kept with the campaign)."""

    reason: Annotated[str, doc("Why.", max_length=500)] = ""


class LinkStats(msgspec.Struct, kw_only=True):
    """Clicks on one link."""

    position: Annotated[int, doc("Position of the link in the template (1-based).")]
    url: Annotated[str, doc("Target URL.")]
    clicks: Annotated[int, doc("Clicks.")]


class CampaignStats(msgspec.Struct, kw_only=True):
    """A campaign's counters (anonymous aggregates)."""

    recipients: Annotated[int, doc("Contacts in the recipient snapshot.")]
    queued: Annotated[int, doc("Recipients not yet handed to delivery.")]
    suppressed: Annotated[int, doc("Left out at send time (suppressed or no consent).")]
    sent: Annotated[int, doc("Handed to the mail transport.")]
    delivered: Annotated[int, doc("Accepted by the receiving server.")]
    deferred: Annotated[int, doc("Temporarily deferred.")]
    failed: Annotated[int, doc("Failed for good.")]
    hard_bounces: Annotated[int, doc("Hard bounces.")]
    soft_bounces: Annotated[int, doc("Soft bounces.")]
    complaints: Annotated[int, doc("Spam complaints.")]
    opens: Annotated[int, doc("Opens (total).")]
    unique_opens: Annotated[int, doc("Unique opens (tracked contacts only).")]
    clicks: Annotated[int, doc("Clicks (total).")]
    unique_clicks: Annotated[int, doc("Unique clicks (tracked contacts only).")]
    unsubscribes: Annotated[int, doc("Unsubscribes caused by the campaign.")]
    links: Annotated[list[LinkStats], doc("Clicks per link.")]
    updated_at: Annotated[datetime | None, doc("When the counters were last updated.")]

    @classmethod
    def from_pb(cls, s: cpb.CampaignStats) -> CampaignStats:
        return cls(
            recipients=s.recipients, queued=s.queued, suppressed=s.suppressed, sent=s.sent,
            delivered=s.delivered, deferred=s.deferred, failed=s.failed,
            hard_bounces=s.hard_bounces, soft_bounces=s.soft_bounces, complaints=s.complaints,
            opens=s.opens, unique_opens=s.unique_opens, clicks=s.clicks,
            unique_clicks=s.unique_clicks, unsubscribes=s.unsubscribes,
            links=[LinkStats(position=k.position, url=k.url, clicks=k.clicks) for k in s.links],
            updated_at=ts(s, "updated_at"),
        )  # fmt: skip


class TransactionalSend(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One transactional email from a template."""

    template_key: Annotated[str, doc("Transactional template key.", max_length=200)]
    to_address: Annotated[str, doc("Recipient address.", max_length=320)]
    to_name: Annotated[str, doc("Recipient display name.", max_length=200)] = ""
    locale: Annotated[str, doc("Locale of the template (BCP 47).", max_length=35)] = ""
    variables: Annotated[dict[str, str], doc("Template variables.")] = msgspec.field(
        default_factory=dict
    )
    category: Annotated[
        Category, doc("`system` for transactional mail; other categories are consent-checked.")
    ] = "system"


MessageStatus = Literal[
    "unspecified", "queued", "sending", "sent", "delivered", "deferred", "bounced", "failed",
    "suppressed",
]  # fmt: skip


class TransactionalQueued(msgspec.Struct, kw_only=True):
    """The message delivery queued."""

    message_id: Annotated[str, doc("Message id.")]
    status: Annotated[MessageStatus, doc("`queued`, or `suppressed` when it may not be sent.")]

    @classmethod
    def from_pb(cls, r: dpb.SendTransactionalResponse) -> TransactionalQueued:
        return cls(
            message_id=r.message_id,
            status=enum_out(dpb.MessageStatus, r.status, "MESSAGE_STATUS_"),  # type: ignore[arg-type]
        )


class DnsRecord(msgspec.Struct, kw_only=True):
    """A DNS record to publish for a sender domain."""

    purpose: Annotated[
        Literal["unspecified", "dkim", "spf", "dmarc", "return_path"], doc("What it is for.")
    ]
    type: Annotated[str, doc("`TXT`, `CNAME` or `MX`.")]
    name: Annotated[str, doc("Fully qualified name.")]
    value: Annotated[str, doc("Expected value.")]
    verified: Annotated[bool, doc("Whether the last check found it correct.")]
    found_value: Annotated[str, doc("What the last check found, when it differed.")]


class SenderDomain(msgspec.Struct, kw_only=True):
    """A domain the account sends from."""

    sender_domain_id: Annotated[str, doc("Sender domain id.")]
    domain: Annotated[str, doc("Domain name.")]
    status: Annotated[
        Literal["unspecified", "pending", "verified", "failed"], doc("Verification state.")
    ]
    dns_records: Annotated[list[DnsRecord], doc("Records to publish.")]
    dkim_selector: Annotated[str, doc("Current DKIM selector.")]
    created_at: Annotated[datetime | None, doc("Creation time.")]
    verified_at: Annotated[datetime | None, doc("When it was last verified.")]
    last_checked_at: Annotated[datetime | None, doc("When the records were last checked.")]

    @classmethod
    def from_pb(cls, d: dpb.SenderDomain) -> SenderDomain:
        return cls(
            sender_domain_id=d.sender_domain_id,
            domain=d.domain,
            status=enum_out(dpb.SenderDomainStatus, d.status, "SENDER_DOMAIN_STATUS_"),  # type: ignore[arg-type]
            dns_records=[
                DnsRecord(
                    purpose=enum_out(dpb.DnsRecordPurpose, r.purpose, "DNS_RECORD_PURPOSE_"),  # type: ignore[arg-type]
                    type=r.type,
                    name=r.name,
                    value=r.value,
                    verified=r.verified,
                    found_value=r.found_value,
                )
                for r in d.dns_records
            ],
            dkim_selector=d.dkim_selector,
            created_at=ts(d, "created_at"),
            verified_at=ts(d, "verified_at"),
            last_checked_at=ts(d, "last_checked_at"),
        )


class SenderDomainCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A domain to send from."""

    domain: Annotated[str, doc("Domain name, e.g. `news.example.com`.", max_length=253)]


class SenderDomainPage(msgspec.Struct, kw_only=True):
    """A page of sender domains."""

    data: Annotated[list[SenderDomain], doc("Domains on this page.")]
    next_cursor: Cursor = None


SuppressionReason = Literal[
    "unspecified", "unsubscribed", "hard_bounce", "complaint", "manual", "erased"
]


class Suppression(msgspec.Struct, kw_only=True):
    """An entry of the account's suppression list: that person is not mailed."""

    person_key: Annotated[str, doc("Keyed hash of the address (survives erasure).")]
    email: Annotated[str, doc("The address while known; empty after erasure.")]
    reason: Annotated[SuppressionReason, doc("Why.")]
    note: Annotated[str, doc("Free note.")]
    purpose_id: Annotated[str, doc("Purpose it is limited to; empty: every purpose.")]
    platform_wide: Annotated[bool, doc("Applies on the whole platform (bounces, complaints).")]
    created_at: Annotated[datetime | None, doc("When it was added.")]

    @classmethod
    def from_pb(cls, s: conpb.Suppression) -> Suppression:
        return cls(
            person_key=s.person_key,
            email=s.email,
            reason=enum_out(conpb.SuppressionReason, s.reason, "SUPPRESSION_REASON_"),  # type: ignore[arg-type]
            note=s.note,
            purpose_id=s.purpose_id,
            platform_wide=s.platform_wide,
            created_at=ts(s, "created_at"),
        )


class SuppressionCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An address to suppress (reason `manual`)."""

    email: Annotated[str, doc("The address.", max_length=320)]
    note: Annotated[str, doc("Free note.", max_length=500)] = ""
    purpose_id: Annotated[str, doc("Limit it to this purpose; empty: every purpose.")] = ""


class SuppressionPage(msgspec.Struct, kw_only=True):
    """A page of suppressions, newest first."""

    data: Annotated[list[Suppression], doc("Entries on this page.")]
    next_cursor: Cursor = None


class CreditBalance(msgspec.Struct, kw_only=True):
    """The account's sending credits."""

    available: Annotated[int, doc("Credits that can be used now.")]
    reserved: Annotated[int, doc("Credits held by sends in progress.")]
    period_allowance: Annotated[int, doc("Credits the plan grants per period.")]
    resets_at: Annotated[datetime | None, doc("When the allowance is granted again.")]

    @classmethod
    def from_pb(cls, b: bpb.CreditBalance) -> CreditBalance:
        return cls(
            available=b.available,
            reserved=b.reserved,
            period_allowance=b.period_allowance,
            resets_at=ts(b, "resets_at"),
        )
