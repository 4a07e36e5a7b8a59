"""The trash of templates, campaigns and lists: Delete* moves one there (hidden from Get* and
List*, restorable for 30 days, then purged by ``retention.py``), Restore* brings it back.

What a live send depends on cannot go: a template or a list a scheduled or sending campaign
uses, or a campaign that is scheduled, sending or paused (cancel it first). A deleted list
keeps its members and a deleted campaign its recipients and statistics until the purge.
"""

from __future__ import annotations

from typing import Any

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_campaign import domain
from missiva_campaign.core import CampaignCore, list_pb, now
from missiva_campaign.rpc_campaigns import campaign_id, campaign_pb
from missiva_campaign.rpc_lists import LIST_NOT_FOUND
from missiva_campaign.rpc_templates import TEMPLATE_NOT_FOUND, template_id, template_pb
from missiva_campaign.sending import CAMPAIGN_NOT_FOUND
from missiva_campaign.starters import STARTERS
from missiva_campaign.store import campaigns, lists
from missiva_campaign.store import templates as template_store
from missiva_platform.auth import current_tenant
from missiva_platform.errors import AlreadyExists, FailedPrecondition, NotFound

# A campaign may go to the trash only when nothing of it is running or waiting to run.
DELETABLE = ("draft", "completed", "completed_with_failures", "cancelled")


def _named(users: list[dict[str, Any]]) -> str:
    shown = ", ".join(f'"{u["name"]}" ({u["status"]})' for u in users[:3])
    return shown + (f" and {len(users) - 3} more" if len(users) > 3 else "")


class TrashRpcs:
    """DeleteTemplate, RestoreTemplate, DeleteCampaign, RestoreCampaign, DeleteList,
    RestoreList."""

    core: CampaignCore

    async def DeleteTemplate(self, request: pb.DeleteTemplateRequest, context: Any) -> Any:
        tenant = current_tenant()
        tid = template_id("template_id", request.template_id)
        if tid in STARTERS:
            raise FailedPrecondition("starter templates are read-only and cannot be deleted")
        async with self.core.pool.connection() as conn, conn.transaction():
            if await template_store.get(conn, tenant, tid, lock=True) is None:
                raise NotFound(TEMPLATE_NOT_FOUND)
            users = await campaigns.blocking(conn, tenant, template_id=tid)
            if users:
                raise FailedPrecondition(
                    "the template is used by a scheduled or sending campaign: "
                    f"{_named(users)}; cancel it or give it another template first"
                )
            row = await template_store.trash(conn, tenant, tid)
        assert row is not None
        return pb.DeleteTemplateResponse(template=template_pb(row))

    async def RestoreTemplate(self, request: pb.RestoreTemplateRequest, context: Any) -> Any:
        tenant = current_tenant()
        tid = template_id("template_id", request.template_id)
        if tid in STARTERS:
            raise NotFound(TEMPLATE_NOT_FOUND)
        since = now() - domain.TRASH_WINDOW
        async with self.core.pool.connection() as conn, conn.transaction():
            row = await template_store.restore(conn, tenant, tid, since=since)
        if row is None:
            raise NotFound(TEMPLATE_NOT_FOUND)
        return pb.RestoreTemplateResponse(template=template_pb(row))

    async def DeleteCampaign(self, request: pb.DeleteCampaignRequest, context: Any) -> Any:
        tenant = current_tenant()
        cid = campaign_id("campaign_id", request.campaign_id)
        async with self.core.pool.connection() as conn, conn.transaction():
            found = await campaigns.get(conn, tenant, cid, lock=True)
            if found is None:
                raise NotFound(CAMPAIGN_NOT_FOUND)
            if found["status"] not in DELETABLE:
                raise FailedPrecondition(
                    f"the campaign is {found['status']}: cancel it first, then delete it"
                )
            await campaigns.trash(conn, tenant, cid, statuses=DELETABLE)
            row = await campaigns.get_trashed(conn, tenant, cid)
        assert row is not None
        return pb.DeleteCampaignResponse(campaign=campaign_pb(row))

    async def RestoreCampaign(self, request: pb.RestoreCampaignRequest, context: Any) -> Any:
        tenant = current_tenant()
        cid = campaign_id("campaign_id", request.campaign_id)
        since = now() - domain.TRASH_WINDOW
        async with self.core.pool.connection() as conn, conn.transaction():
            if not await campaigns.restore(conn, tenant, cid, since=since):
                raise NotFound(CAMPAIGN_NOT_FOUND)
            row = await campaigns.get(conn, tenant, cid)
        assert row is not None
        return pb.RestoreCampaignResponse(campaign=campaign_pb(row))

    async def DeleteList(self, request: pb.DeleteListRequest, context: Any) -> Any:
        tenant = current_tenant()
        list_id = domain.contact_id("list_id", request.list_id)
        async with self.core.pool.connection() as conn, conn.transaction():
            users = await campaigns.blocking(conn, tenant, list_id=list_id)
            if users:
                raise FailedPrecondition(
                    "the list is in the audience of a scheduled or sending campaign: "
                    f"{_named(users)}; cancel it or change its audience first"
                )
            row = await lists.trash(conn, tenant, list_id)
        if row is None:
            raise NotFound(LIST_NOT_FOUND)
        return pb.DeleteListResponse(list=list_pb(row))

    async def RestoreList(self, request: pb.RestoreListRequest, context: Any) -> Any:
        tenant = current_tenant()
        list_id = domain.contact_id("list_id", request.list_id)
        since = now() - domain.TRASH_WINDOW
        try:
            async with self.core.pool.connection() as conn, conn.transaction():
                row = await lists.restore(conn, tenant, list_id, since=since)
        except lists.DuplicateName:
            raise AlreadyExists(
                "list_id: a live list has this list's name; rename or delete that one first"
            ) from None
        if row is None:
            raise NotFound(LIST_NOT_FOUND)
        return pb.RestoreListResponse(list=list_pb(row))
