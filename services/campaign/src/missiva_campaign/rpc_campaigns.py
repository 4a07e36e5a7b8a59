"""Campaign RPCs: the draft, its schedule, sending, pause / resume / cancel, and statistics.

A draft holds name, subject, preheader, sender, reply-to, template, purpose, audience (lists
and segments) and exclusions. ScheduleCampaign and SendCampaignNow check it is complete;
sending is ``sending.SendPath``. Pause, resume and cancel change the state under the
campaign's row lock and emit ``campaign.campaign.paused`` / ``.resumed`` / ``.cancelled``
(delivery drops or holds what it has queued), so they take effect before the next batch.

The sender address is checked for syntax only: delivery's verified sender domains are not
built yet, and the verified-domain check joins here when they land.
"""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_campaign import campaign_events, domain, rendering, sender_domains, sending
from missiva_campaign.core import CampaignCore, current_actor, in_trash, new_id, now, timestamp
from missiva_campaign.rpc_templates import load as load_template
from missiva_campaign.rpc_templates import source_of
from missiva_campaign.rpc_templates import template_id as valid_template_id
from missiva_campaign.statistics import stats_pb
from missiva_campaign.store import campaigns, lists, recipients
from missiva_campaign.store import segments as segment_store
from missiva_platform.auth import current_tenant
from missiva_platform.errors import FailedPrecondition, InvalidArgument, NotFound
from missiva_platform.idempotency import run_once
from missiva_platform.outbox import add_events
from missiva_platform.validation import valid_email

STATUS_VALUES = {
    "draft": pb.CAMPAIGN_STATUS_DRAFT,
    "scheduled": pb.CAMPAIGN_STATUS_SCHEDULED,
    "sending": pb.CAMPAIGN_STATUS_SENDING,
    "paused": pb.CAMPAIGN_STATUS_PAUSED,
    "completed": pb.CAMPAIGN_STATUS_COMPLETED,
    "completed_with_failures": pb.CAMPAIGN_STATUS_COMPLETED_WITH_FAILURES,
    "cancelled": pb.CAMPAIGN_STATUS_CANCELLED,
}
STATUS_NAMES = {v: k for k, v in STATUS_VALUES.items()}
CATEGORIES = {v: k for k, v in campaign_events.CATEGORY.items()}
UPDATABLE = (
    "name", "subject", "preheader", "category", "purpose_id", "template_id", "list_ids",
    "segment_ids", "excluded_list_ids", "sender",
)  # fmt: skip
MAX_NAME = 200
MAX_IDS = 50


def campaign_pb(row: dict[str, Any]) -> pb.Campaign:
    found = pb.Campaign(
        campaign_id=row["id"],
        name=row["name"],
        status=STATUS_VALUES[row["status"]],  # type: ignore[arg-type]
        category=campaign_events.CATEGORY[row["category"]],  # type: ignore[arg-type]
        purpose_id=row["purpose_id"],
        template_id=row["template_id"],
        list_ids=row["list_ids"],
        segment_ids=row["segment_ids"],
        excluded_list_ids=row["excluded_list_ids"],
        sender=pb.Sender(
            from_name=row["from_name"],
            from_address=row["from_address"],
            reply_to=row["reply_to"],
            sender_domain_id=row["sender_domain_id"],
        ),
        scheduled_at=timestamp(row["scheduled_at"]),
        started_at=timestamp(row["started_at"]),
        completed_at=timestamp(row["completed_at"]),
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
        pause_reason=row["pause_reason"],
        subject=row["subject"],
        preheader=row["preheader"],
        schedule_timezone=row["schedule_timezone"],
        recipient_local_time=row["recipient_local_time"],
        recipient_count=row["recipient_count"],
        batched_count=row["batched_count"],
        sent_count=row["sent_count"],
        failed_count=row["failed_count"],
        deferred_count=row["deferred_count"],
        last_error=row["last_error"],
        missing_credits=row["missing_credits"],
        review_flags=[pb.ContentFlag(**f) for f in row.get("review_flags") or ()],
        retry_count=row.get("retry_count", 0),
    )
    return in_trash(found, row)  # type: ignore[no-any-return]


def campaign_id(field: str, value: str) -> str:
    if not value:
        raise InvalidArgument.field(field, "is required")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument.field(field, "is not a campaign id") from None


def _ids(field: str, values: Any) -> list[str]:
    if len(values) > MAX_IDS:
        raise InvalidArgument.field(field, f"at most {MAX_IDS} ids")
    found = []
    for i, value in enumerate(values):
        try:
            found.append(str(uuid.UUID(value)))
        except ValueError:
            raise InvalidArgument.field(f"{field}[{i}]", "is not a valid id") from None
    return list(dict.fromkeys(found))


def _address(field: str, value: str, *, required: bool) -> str:
    if not value:
        if required:
            raise InvalidArgument.field(field, "is required")
        return ""
    return valid_email(field, value)


def draft_fields(given: pb.Campaign, paths: tuple[str, ...] = UPDATABLE) -> dict[str, Any]:
    """The checked draft fields named in ``paths``, each violation naming its field."""
    row: dict[str, Any] = {}
    if "name" in paths:
        row["name"] = domain.text("campaign.name", given.name, limit=MAX_NAME, required=True)
    if "subject" in paths:
        row["subject"] = domain.text("campaign.subject", given.subject, limit=300)
    if "preheader" in paths:
        row["preheader"] = domain.text("campaign.preheader", given.preheader, limit=300)
    if "category" in paths:
        if given.category not in CATEGORIES:
            raise InvalidArgument.field(
                "campaign.category", "must be MARKETING or PRODUCT_UPDATE (never SYSTEM)"
            )
        row["category"] = CATEGORIES[given.category]
    if "purpose_id" in paths:
        row["purpose_id"] = (
            domain.purpose_id("campaign.purpose_id", given.purpose_id) if given.purpose_id else ""
        )
    if "template_id" in paths:
        row["template_id"] = (
            valid_template_id("campaign.template_id", given.template_id)
            if given.template_id
            else ""
        )
    for name in ("list_ids", "segment_ids", "excluded_list_ids"):
        if name in paths:
            row[name] = _ids(f"campaign.{name}", getattr(given, name))
    if "sender" in paths:
        sender = given.sender
        row["from_name"] = domain.text("campaign.sender.from_name", sender.from_name, limit=200)
        row["from_address"] = _address(
            "campaign.sender.from_address", sender.from_address, required=False
        )
        row["reply_to"] = _address("campaign.sender.reply_to", sender.reply_to, required=False)
        row["sender_domain_id"] = domain.text(
            "campaign.sender.sender_domain_id", sender.sender_domain_id, limit=100
        )
    return row


async def check_references(conn: Any, tenant: str, row: dict[str, Any]) -> None:
    """Lists, segments and the template must be the account's (another account's: NOT_FOUND)."""
    if row.get("segment_ids"):
        missing = await segment_store.missing(conn, tenant, row["segment_ids"])
        if missing:
            raise NotFound(f"campaign.segment_ids: segment not found: {missing[0]}")
    for name in ("list_ids", "excluded_list_ids"):
        if row.get(name):
            missing = await lists.missing(conn, tenant, row[name])
            if missing:
                raise NotFound(f"campaign.{name}: list not found: {missing[0]}")
    if row.get("template_id"):
        template = await load_template(conn, tenant, row["template_id"])
        if template["category"] == "system":
            raise FailedPrecondition("a campaign cannot send a SYSTEM template")


class CampaignRpcs:
    """The campaign RPCs (``sending`` is the send path, built in ``servicer``)."""

    core: CampaignCore
    sending: sending.SendPath

    async def _campaign(self, conn: Any, tenant: str, cid: str, *, lock: bool = False) -> dict:
        row = await campaigns.get(conn, tenant, cid, lock=lock)
        if row is None:
            raise NotFound(sending.CAMPAIGN_NOT_FOUND)
        return row

    async def CreateCampaign(self, request: pb.CreateCampaignRequest, context: Any) -> Any:
        tenant = current_tenant()
        given = request.campaign
        if given.category == 0:
            given.category = campaign_events.CATEGORY["marketing"]  # type: ignore[assignment]
        row = {"id": new_id(), "account_id": tenant, **draft_fields(given)}

        async def work(conn: Any) -> pb.CreateCampaignResponse:
            await check_references(conn, tenant, row)
            return pb.CreateCampaignResponse(
                campaign=campaign_pb(await campaigns.create(conn, row))
            )

        return await run_once(
            self.core.pool,
            tenant_id=tenant,
            method="CreateCampaign",
            request=request,
            response_type=pb.CreateCampaignResponse,
            work=work,
        )

    async def GetCampaign(self, request: pb.GetCampaignRequest, context: Any) -> Any:
        tenant = current_tenant()
        cid = campaign_id("campaign_id", request.campaign_id)
        async with self.core.pool.connection() as conn:
            row = await self._campaign(conn, tenant, cid)
        return pb.GetCampaignResponse(campaign=campaign_pb(row))

    async def ListCampaigns(self, request: pb.ListCampaignsRequest, context: Any) -> Any:
        tenant = current_tenant()
        size = domain.page_size("page_size", request.page_size)
        if request.status and request.status not in STATUS_NAMES:
            raise InvalidArgument.field("status", "is not a campaign status")
        status = STATUS_NAMES.get(request.status)
        digest = domain.filter_digest("campaigns", status, request.in_trash)
        after = domain.decode_page_token("page_token", request.page_token, digest)
        since = now() - domain.TRASH_WINDOW if request.in_trash else None
        async with self.core.pool.connection() as conn:
            rows = await campaigns.page(
                conn, tenant, status=status, after=after, limit=size + 1, trash_since=since
            )
        more = len(rows) > size
        rows = rows[:size]
        token = domain.encode_page_token(rows[-1]["id"], digest) if more else ""
        return pb.ListCampaignsResponse(
            campaigns=[campaign_pb(r) for r in rows], next_page_token=token
        )

    async def UpdateCampaign(self, request: pb.UpdateCampaignRequest, context: Any) -> Any:
        tenant = current_tenant()
        cid = campaign_id("campaign.campaign_id", request.campaign.campaign_id)
        paths = tuple(dict.fromkeys(p.split(".")[0] for p in request.update_mask.paths))
        if not paths:
            raise InvalidArgument.field("update_mask", "is required (e.g. name,list_ids)")
        for path in paths:
            if path not in UPDATABLE:
                raise InvalidArgument.field(
                    "update_mask", f"{path} is not updatable; these are: " + ", ".join(UPDATABLE)
                )
        values = draft_fields(request.campaign, paths)
        async with self.core.pool.connection() as conn, conn.transaction():
            row = await self._campaign(conn, tenant, cid, lock=True)
            if row["status"] not in ("draft", "scheduled"):
                raise FailedPrecondition(
                    f"the campaign is {row['status']}; only a draft or scheduled one can change"
                )
            await check_references(conn, tenant, values)
            updated = await campaigns.update(conn, tenant, cid, values)
        return pb.UpdateCampaignResponse(campaign=campaign_pb(updated))

    async def ScheduleCampaign(self, request: pb.ScheduleCampaignRequest, context: Any) -> Any:
        tenant = current_tenant()
        cid = campaign_id("campaign_id", request.campaign_id)
        if not request.HasField("send_at"):
            raise InvalidArgument.field("send_at", "is required")
        send_at = request.send_at.ToDatetime(UTC)
        if send_at <= datetime.now(UTC):
            raise InvalidArgument.field("send_at", "must be in the future")
        zone = request.timezone or "UTC"
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise InvalidArgument.field(
                "timezone", f"{zone[:60]!r} is not an IANA time zone"
            ) from None

        async def work(conn: Any) -> pb.ScheduleCampaignResponse:
            row = await self._campaign(conn, tenant, cid, lock=True)
            if row["status"] not in ("draft", "scheduled"):
                raise FailedPrecondition(f"the campaign is {row['status']}; it cannot be scheduled")
            sending.check_ready(row)
            await sender_domains.require_verified(conn, tenant, row)
            await check_references(conn, tenant, row)
            updated = await campaigns.update(
                conn,
                tenant,
                cid,
                {
                    "status": "scheduled",
                    "scheduled_at": send_at,
                    "schedule_timezone": zone,
                    "recipient_local_time": request.recipient_local_time,
                    "last_error": "",
                },
            )
            await add_events(conn, [campaign_events.scheduled(updated, send_at)])
            return pb.ScheduleCampaignResponse(campaign=campaign_pb(updated))

        return await run_once(
            self.core.pool,
            tenant_id=tenant,
            method="ScheduleCampaign",
            request=request,
            response_type=pb.ScheduleCampaignResponse,
            work=work,
        )

    async def SendCampaignNow(self, request: pb.SendCampaignNowRequest, context: Any) -> Any:
        tenant = current_tenant()
        cid = campaign_id("campaign_id", request.campaign_id)
        if not request.idempotency_key:
            raise InvalidArgument.field("idempotency_key", "is required: a retry never sends twice")
        async with self.core.pool.connection() as conn:
            row = await self._campaign(conn, tenant, cid)
        if row["status"] in ("sending", "paused", "completed", "completed_with_failures"):
            # Already started (a retry, or a second call): never a second send.
            return pb.SendCampaignNowResponse(
                campaign=campaign_pb(row), recipient_count=row["recipient_count"]
            )
        started = await self.sending.start_or_explain(tenant, cid)
        return pb.SendCampaignNowResponse(
            campaign=campaign_pb(started), recipient_count=started["recipient_count"]
        )

    async def _transition(
        self, tenant: str, cid: str, allowed: tuple[str, ...], verb: str, change: Any
    ) -> dict:
        async with self.core.pool.connection() as conn, conn.transaction():
            row = await self._campaign(conn, tenant, cid, lock=True)
            if row["status"] not in allowed:
                raise FailedPrecondition(f"the campaign is {row['status']}; it cannot be {verb}")
            return await change(conn, row)

    async def PauseCampaign(self, request: pb.PauseCampaignRequest, context: Any) -> Any:
        tenant = current_tenant()
        cid = campaign_id("campaign_id", request.campaign_id)
        reason = domain.text("reason", request.reason, limit=500)
        actor = current_actor()

        async def change(conn: Any, row: dict) -> dict:
            paused = await campaigns.update(
                conn, tenant, cid, {"status": "paused", "pause_reason": reason}
            )
            await add_events(conn, [campaign_events.paused(paused, reason, actor.id)])
            return paused

        row = await self._transition(tenant, cid, ("sending",), "paused", change)
        return pb.PauseCampaignResponse(campaign=campaign_pb(row))

    async def ResumeCampaign(self, request: pb.ResumeCampaignRequest, context: Any) -> Any:
        tenant = current_tenant()
        cid = campaign_id("campaign_id", request.campaign_id)
        actor = current_actor()

        async def change(conn: Any, row: dict) -> dict:
            resumed = await campaigns.update(
                conn,
                tenant,
                cid,
                {"status": "sending", "pause_reason": "", "generation": row["generation"] + 1,
                 "chain_idle": False},
            )  # fmt: skip
            await add_events(
                conn,
                [
                    campaign_events.resumed(resumed, actor.id),
                    campaign_events.emit_batches(resumed, resumed["generation"]),
                ],
            )
            return resumed

        row = await self._transition(tenant, cid, ("paused",), "resumed", change)
        return pb.ResumeCampaignResponse(campaign=campaign_pb(row))

    async def CancelCampaign(self, request: pb.CancelCampaignRequest, context: Any) -> Any:
        tenant = current_tenant()
        cid = campaign_id("campaign_id", request.campaign_id)
        reason = domain.text("reason", request.reason, limit=500)
        actor = current_actor()

        async def change(conn: Any, row: dict) -> dict:
            await recipients.cancel_queued(conn, cid)
            done = await campaigns.update(
                conn, tenant, cid, {"status": "cancelled", "completed_at": sending._now()}
            )
            sent = done["sent_count"]
            await add_events(conn, [campaign_events.cancelled(done, reason, actor.id, sent)])
            return done

        row = await self._transition(
            tenant, cid, ("draft", "scheduled", "sending", "paused"), "cancelled", change
        )
        return pb.CancelCampaignResponse(campaign=campaign_pb(row))

    async def GetCampaignStats(self, request: pb.GetCampaignStatsRequest, context: Any) -> Any:
        tenant = current_tenant()
        cid = campaign_id("campaign_id", request.campaign_id)
        async with self.core.pool.connection() as conn:
            row = await self._campaign(conn, tenant, cid)
            return pb.GetCampaignStatsResponse(stats=await stats_pb(conn, row))

    async def RetryCampaignSends(self, request: pb.RetryCampaignSendsRequest, context: Any) -> Any:
        tenant = current_tenant()
        cid = campaign_id("campaign_id", request.campaign_id)

        async def work(conn: Any) -> pb.RetryCampaignSendsResponse:
            again, queued, left = await self.sending.retry(conn, tenant, cid)
            return pb.RetryCampaignSendsResponse(
                campaign=campaign_pb(again), requeued_count=queued, skipped_count=left
            )

        return await run_once(
            self.core.pool,
            tenant_id=tenant,
            method="RetryCampaignSends",
            request=request,
            response_type=pb.RetryCampaignSendsResponse,
            work=work,
        )

    async def ScreenCampaignContent(
        self, request: pb.ScreenCampaignContentRequest, context: Any
    ) -> Any:
        tenant = current_tenant()
        cid = campaign_id("campaign_id", request.campaign_id)
        async with self.core.pool.connection() as conn, conn.transaction():
            row = await self._campaign(conn, tenant, cid, lock=True)
            if not row["template_id"]:
                raise FailedPrecondition(
                    "the campaign has no template yet: nothing to screen",
                    [("CAMPAIGN_INCOMPLETE", "campaign.template_id", "needs a template")],
                )
            template = await load_template(conn, tenant, row["template_id"])
            compiled = rendering.compile_template(source_of(template), "template.")
            flags = sending.review(cid, row["subject"] or compiled.subject, compiled)
            await campaigns.update(conn, tenant, cid, {"review_flags": Jsonb(flags)})
        return pb.ScreenCampaignContentResponse(flags=[pb.ContentFlag(**f) for f in flags])
