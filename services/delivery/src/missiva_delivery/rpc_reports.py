"""What the ledger tells: a person's recent mail (``ListRecentMessages``, for consent's
preference centre) and a campaign's delivery counters (``GetCampaignDeliveryStats``).

The tenant is the caller's token's: another account's campaign is NOT_FOUND, another
account's person has no mail here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva_delivery import domain
from missiva_delivery.domain import Status
from missiva_delivery.store import campaigns, messages, tracking
from missiva_platform.auth import current_principal
from missiva_platform.errors import InvalidArgument, NotFound, PermissionDenied

if TYPE_CHECKING:
    from missiva_delivery.core import DeliveryCore

MAX_RECENT = 20


def _sender(name: str, address: str) -> str:
    return f"{name} <{address}>" if name else address


class ReportRpcs:
    core: DeliveryCore

    async def ListRecentMessages(
        self, request: pb.ListRecentMessagesRequest, context: Any
    ) -> pb.ListRecentMessagesResponse:
        principal = current_principal()
        if not principal.tenant_id:
            raise PermissionDenied("this call needs a caller acting for an account")
        person_key = request.person.person_key
        if not person_key:
            raise InvalidArgument.field("person.person_key", "is required")
        if not domain.is_person_key(person_key):
            raise InvalidArgument.field(
                "person.person_key", "must be the 64-hex keyed hash of the address"
            )
        if request.limit < 0 or request.limit > MAX_RECENT:
            raise InvalidArgument.field("limit", f"must be between 1 and {MAX_RECENT} (0: 20)")
        limit = request.limit or MAX_RECENT
        async with self.core.pool.connection() as conn:
            rows = await messages.recent_for_person(conn, principal.tenant_id, person_key, limit)
        settings = self.core.settings
        reply = pb.ListRecentMessagesResponse()
        for row in rows:
            if row["lane"] == "campaign":
                sender = _sender(row["from_name"] or "", row["from_address"] or "")
            else:
                sender = _sender(settings.mail_from_name, settings.mail_from_address)
            item = reply.messages.add(
                message_id=row["id"],
                subject=row["subject"],
                sender=sender,
                category=row["category"],
                status=domain.STATUS_PB[Status(row["status"])],  # type: ignore[arg-type]
            )
            item.sent_at.FromDatetime(row["sent_at"])
        return reply

    async def GetCampaignDeliveryStats(
        self, request: pb.GetCampaignDeliveryStatsRequest, context: Any
    ) -> pb.GetCampaignDeliveryStatsResponse:
        principal = current_principal()
        campaign_id = request.campaign_id.strip()
        if not campaign_id:
            raise InvalidArgument.field("campaign_id", "is required")
        if len(campaign_id) > 64:
            raise InvalidArgument.field("campaign_id", "is not a campaign id")
        async with self.core.pool.connection() as conn:
            counts = await campaigns.stats(conn, principal.tenant_id, campaign_id)
            opens, clicks, links = await tracking.campaign_counts(
                conn, principal.tenant_id, campaign_id
            )
        if counts is None:
            raise NotFound(f"no delivery of campaign {campaign_id}")
        return pb.GetCampaignDeliveryStatsResponse(
            links=[pb.LinkClicks(position=p, url=u, clicks=n) for p, u, n in links],
            stats=pb.DeliveryStats(
                queued=counts["queued"],
                sent=counts["sent"],
                deferred=counts["deferred"],
                hard_bounces=counts["hard_bounces"],
                soft_bounces=counts["soft_bounces"],
                complaints=counts["complaints"],
                suppressed=counts["suppressed"],
                failed=counts["failed"],
                resent=counts["resent"],
                opens=opens,
                clicks=clicks,
            ),
        )
