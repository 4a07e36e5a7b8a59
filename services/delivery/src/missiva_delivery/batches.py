"""Campaign send batches, without I/O: what a ``SendBatch`` must hold, and the ledger rows it
becomes.

A batch is refused whole (the command is retried, then dead-lettered with the reason) only
when it cannot be recorded at all: no campaign, no content, no sender. A recipient that is
wrong on its own (a malformed address, a person key that is not one) becomes a FAILED row with
the reason, so the campaign's ledger accounts for every contact it handed over.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from missiva.campaign.v1 import events_pb2 as campaign_events
from missiva.common.v1 import types_pb2
from missiva_delivery import domain
from missiva_platform.errors import InvalidArgument

LANE_CAMPAIGN = "campaign"
# After SYSTEM (0) and other transactional mail (10): someone waiting for a verification
# link is never queued behind a newsletter.
PRIORITY_CAMPAIGN = 20
MAX_RECIPIENTS = 5000
MAX_ID = 64
MAX_MERGE_FIELDS = 100
MAX_MERGE_VALUE = 4000
MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class Content:
    """What every recipient of a campaign (one template revision) gets, and from whom."""

    campaign_id: str
    template_revision: int
    template_id: str
    subject: str
    preheader: str
    html_body: str
    text_body: str
    category: int
    purpose_id: str
    from_name: str
    from_address: str
    reply_to: str
    sender_domain_id: str


@dataclass(frozen=True)
class Recipient:
    contact_id: str
    person_key: str
    email: str
    merge_fields: dict[str, str]
    engagement_tracking: bool
    problem: str = ""  # why this recipient cannot be sent to ('' when it can)


@dataclass(frozen=True)
class Batch:
    campaign_id: str
    batch_id: str
    credit_reservation_id: str
    content: Content
    recipients: list[Recipient] = field(default_factory=list)


def _id(value: str, name: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidArgument.field(name, "is required")
    if len(value) > MAX_ID or any(c.isspace() or c in "\0:" for c in value):
        raise InvalidArgument.field(name, f"must be an id of at most {MAX_ID} characters")
    return value


def _header_text(value: str, name: str, limit: int = 300) -> str:
    if len(value) > limit:
        raise InvalidArgument.field(name, f"at most {limit} characters")
    if any(c in value for c in "\r\n\0"):
        raise InvalidArgument.field(name, "may not contain line breaks")
    return value.strip()


def _address(value: str, name: str) -> str:
    address = value.strip()
    if not domain.is_address(address):
        raise InvalidArgument.field(name, "is not an email address")
    return address


def idempotency_key(campaign_id: str, contact_id: str) -> str:
    """The ledger key of a campaign row: one message per (campaign, contact)."""
    return f"campaign:{campaign_id}:{contact_id}"


def recipient_problem(r: campaign_events.Recipient) -> str:
    if not domain.is_person_key(r.person_key):
        return "refused: person_key must be the 64-hex keyed hash of the address"
    if not domain.is_address(r.email.strip()):
        return "refused: email is not an email address"
    if len(r.merge_fields) > MAX_MERGE_FIELDS:
        return f"refused: at most {MAX_MERGE_FIELDS} merge fields"
    for key, value in r.merge_fields.items():
        if len(key) > 100 or len(value) > MAX_MERGE_VALUE:
            return f"refused: merge field {key[:40]!r} is too long"
    return ""


def valid_batch(command: campaign_events.SendBatch) -> Batch:
    """Check a batch; ``InvalidArgument`` names the first field that makes it unusable."""
    campaign_id = _id(command.campaign_id, "campaign_id")
    batch_id = _id(command.batch_id, "batch_id")
    if not command.recipients:
        raise InvalidArgument.field("recipients", "a batch needs at least one recipient")
    if len(command.recipients) > MAX_RECIPIENTS:
        raise InvalidArgument.field("recipients", f"at most {MAX_RECIPIENTS} per batch")
    content = command.content
    if not content.subject.strip():
        raise InvalidArgument.field("content.subject", "is required")
    if not content.html_body.strip():
        raise InvalidArgument.field("content.html_body", "is required")
    for name, text in (("content.html_body", content.html_body),
                       ("content.text_body", content.text_body)):  # fmt: skip
        if len(text) > MAX_BODY:
            raise InvalidArgument.field(name, f"at most {MAX_BODY} characters")
    category = command.category
    if category not in types_pb2.EmailCategory.values() or category == 0:
        raise InvalidArgument.field("category", "is required")
    if category != types_pb2.EMAIL_CATEGORY_SYSTEM and not command.purpose_id:
        raise InvalidArgument.field("purpose_id", "is required for mail that is not SYSTEM mail")
    sender = command.sender
    reply_to = sender.reply_to.strip()
    if reply_to:
        _address(reply_to, "sender.reply_to")
    built = Content(
        campaign_id=campaign_id,
        template_revision=int(content.template_revision),
        template_id=content.template_id[:MAX_ID],
        subject=_header_text(content.subject, "content.subject", 1000),
        preheader=content.preheader[:1000],
        html_body=content.html_body,
        text_body=content.text_body,
        category=category,
        purpose_id=command.purpose_id[:MAX_ID],
        from_name=_header_text(sender.from_name, "sender.from_name", 200),
        from_address=_address(sender.from_address, "sender.from_address"),
        reply_to=reply_to,
        sender_domain_id=sender.sender_domain_id[:MAX_ID],
    )
    seen: set[str] = set()
    recipients: list[Recipient] = []
    for index, r in enumerate(command.recipients):
        contact_id = _id(r.contact_id, f"recipients[{index}].contact_id")
        if contact_id in seen:
            continue  # the same contact twice in one batch: one message
        seen.add(contact_id)
        recipients.append(
            Recipient(
                contact_id=contact_id,
                person_key=r.person_key if domain.is_person_key(r.person_key) else "",
                email=r.email.strip(),
                merge_fields=dict(r.merge_fields),
                engagement_tracking=r.engagement_tracking,
                problem=recipient_problem(r),
            )
        )
    return Batch(
        campaign_id=campaign_id,
        batch_id=batch_id,
        credit_reservation_id=command.credit_reservation_id[:MAX_ID],
        content=built,
        recipients=recipients,
    )


def new_message_id() -> str:
    return str(uuid.uuid4())
