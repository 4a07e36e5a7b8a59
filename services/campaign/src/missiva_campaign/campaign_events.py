"""What campaign writes to the outbox about campaigns: lifecycle events (no addresses) and
the commands of the send path (``SendBatch`` to delivery, ``EmitCampaignBatches`` to itself).
``events.EXAMPLES`` shows the contract tests these same builders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva.campaign.v1 import events_pb2
from missiva.common.v1 import types_pb2
from missiva_platform.events import EventEnvelope, envelope
from missiva_platform.streams import SEND_BATCH, command_subject, event_subject

PRODUCER = "campaign"
EMIT_BATCHES = command_subject("campaign", "emit_batches")
SCHEDULED = event_subject("campaign", "campaign", "scheduled")
STARTED = event_subject("campaign", "campaign", "started")
PAUSED = event_subject("campaign", "campaign", "paused")
RESUMED = event_subject("campaign", "campaign", "resumed")
COMPLETED = event_subject("campaign", "campaign", "completed")
CANCELLED = event_subject("campaign", "campaign", "cancelled")

CATEGORY = {
    "marketing": types_pb2.EMAIL_CATEGORY_MARKETING,
    "product_update": types_pb2.EMAIL_CATEGORY_PRODUCT_UPDATE,
}


def _event(message: Any, subject: str, row: dict[str, Any]) -> EventEnvelope:
    return envelope(
        message,
        subject=subject,
        tenant_id=row["account_id"],
        producer=PRODUCER,
        aggregate_id=row["id"],
        aggregate_version=int(row["version"]),
    )


def scheduled(row: dict[str, Any], send_at: datetime) -> EventEnvelope:
    message = events_pb2.CampaignScheduled(
        campaign_id=row["id"], category=CATEGORY[row["category"]], purpose_id=row["purpose_id"]
    )
    message.send_at.FromDatetime(send_at)
    return _event(message, SCHEDULED, row)


def started(row: dict[str, Any]) -> EventEnvelope:
    message = events_pb2.CampaignStarted(
        campaign_id=row["id"],
        recipient_count=row["recipient_count"],
        excluded_count=row["excluded_count"],
        category=CATEGORY[row["category"]],
        batch_count=row["batch_count"],
    )
    return _event(message, STARTED, row)


def paused(row: dict[str, Any], reason: str, user_id: str) -> EventEnvelope:
    message = events_pb2.CampaignPaused(
        campaign_id=row["id"], reason=reason, paused_by_user_id=user_id
    )
    return _event(message, PAUSED, row)


def resumed(row: dict[str, Any], user_id: str) -> EventEnvelope:
    return _event(
        events_pb2.CampaignResumed(campaign_id=row["id"], resumed_by_user_id=user_id), RESUMED, row
    )


def completed(row: dict[str, Any], sent: int, suppressed: int, failed: int) -> EventEnvelope:
    message = events_pb2.CampaignCompleted(
        campaign_id=row["id"], sent_count=sent, suppressed_count=suppressed, failed_count=failed
    )
    return _event(message, COMPLETED, row)


def cancelled(row: dict[str, Any], reason: str, user_id: str, sent: int) -> EventEnvelope:
    message = events_pb2.CampaignCancelled(
        campaign_id=row["id"], reason=reason, cancelled_by_user_id=user_id, sent_count=sent
    )
    return _event(message, CANCELLED, row)


def emit_batches(row: dict[str, Any], generation: int) -> EventEnvelope:
    command = events_pb2.EmitCampaignBatches(campaign_id=row["id"], generation=generation)
    return envelope(command, subject=EMIT_BATCHES, tenant_id=row["account_id"], producer=PRODUCER)


def send_batch(
    row: dict[str, Any], batch_id: str, recipients: Sequence[events_pb2.Recipient]
) -> EventEnvelope:
    """One batch to delivery: the content compiled once for the campaign, per-recipient
    merge fields, the sender and the credit reservation that pays for it."""
    command = events_pb2.SendBatch(
        campaign_id=row["id"],
        batch_id=batch_id,
        recipients=list(recipients),
        content=events_pb2.RenderedContent(
            subject=row["compiled_subject"],
            preheader=row["compiled_preheader"],
            html_body=row["compiled_html"],
            text_body=row["compiled_text"],
            template_id=row["template_id"],
            template_revision=row["compiled_revision"],
        ),
        category=CATEGORY[row["category"]],
        purpose_id=row["purpose_id"],
        sender=pb.Sender(
            from_name=row["from_name"],
            from_address=row["from_address"],
            reply_to=row["reply_to"],
            sender_domain_id=row["sender_domain_id"],
        ),
        credit_reservation_id=row["credit_reservation_id"],
    )
    return envelope(command, subject=SEND_BATCH, tenant_id=row["account_id"], producer=PRODUCER)
