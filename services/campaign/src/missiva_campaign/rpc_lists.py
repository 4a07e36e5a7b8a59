"""List RPCs: create, list, add and remove members. A list is tied to the consent purpose its
subscribers consent to (campaigns to the list send under it); its member count is kept by a
trigger, so it stays right when contacts are purged or erased."""

from __future__ import annotations

from typing import Any

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_campaign import domain
from missiva_campaign.core import CampaignCore, list_pb, new_id, now
from missiva_campaign.store import contacts, lists
from missiva_platform.auth import current_tenant
from missiva_platform.errors import AlreadyExists, NotFound
from missiva_platform.idempotency import run_once

LIST_NOT_FOUND = "list not found"


async def check_lists(conn: Any, tenant: str, field: str, ids: list[str]) -> None:
    missing = await lists.missing(conn, tenant, ids)
    if missing:
        raise NotFound(f"{field}: {LIST_NOT_FOUND}: {missing[0]}")


async def check_contacts(conn: Any, tenant: str, ids: list[str]) -> None:
    missing = await contacts.missing_ids(conn, tenant, ids)
    if missing:
        raise NotFound(f"contact not found: {missing[0]}")


class ListRpcs:
    """CreateList, ListLists, AddToList, RemoveFromList."""

    core: CampaignCore

    async def CreateList(self, request: pb.CreateListRequest, context: Any) -> Any:
        tenant = current_tenant()
        given = request.list
        row = {
            "id": new_id(),
            "account_id": tenant,
            "name": domain.text(
                "list.name", given.name, limit=domain.MAX_LIST_NAME_CHARS, required=True
            ),
            "description": domain.text(
                "list.description", given.description, limit=domain.MAX_DESCRIPTION_CHARS
            ),
            "purpose_id": domain.purpose_id("list.purpose_id", given.purpose_id),
        }

        async def work(conn: Any) -> pb.CreateListResponse:
            try:
                created = await lists.create(conn, row)
            except lists.DuplicateName:
                raise AlreadyExists(
                    "list.name: the account already has a list of this name"
                ) from None
            return pb.CreateListResponse(list=list_pb(created))

        return await run_once(
            self.core.pool,
            tenant_id=tenant,
            method="CreateList",
            request=request,
            response_type=pb.CreateListResponse,
            work=work,
        )

    async def ListLists(self, request: pb.ListListsRequest, context: Any) -> Any:
        tenant = current_tenant()
        size = domain.page_size("page_size", request.page_size)
        digest = domain.filter_digest("lists", request.in_trash)
        after = domain.decode_page_token("page_token", request.page_token, digest)
        since = now() - domain.TRASH_WINDOW if request.in_trash else None
        async with self.core.pool.connection() as conn:
            rows = await lists.page(conn, tenant, after=after, limit=size + 1, trash_since=since)
        more = len(rows) > size
        rows = rows[:size]
        token = domain.encode_page_token(rows[-1]["id"], digest) if more else ""
        return pb.ListListsResponse(lists=[list_pb(r) for r in rows], next_page_token=token)

    async def AddToList(self, request: pb.AddToListRequest, context: Any) -> Any:
        tenant = current_tenant()
        list_id = domain.contact_id("list_id", request.list_id)
        ids = domain.contact_ids("contact_ids", request.contact_ids)

        async def work(conn: Any) -> pb.AddToListResponse:
            await check_lists(conn, tenant, "list_id", [list_id])
            await check_contacts(conn, tenant, ids)
            return pb.AddToListResponse(added=await lists.add_members(conn, [list_id], ids))

        return await run_once(
            self.core.pool,
            tenant_id=tenant,
            method="AddToList",
            request=request,
            response_type=pb.AddToListResponse,
            work=work,
        )

    async def RemoveFromList(self, request: pb.RemoveFromListRequest, context: Any) -> Any:
        tenant = current_tenant()
        list_id = domain.contact_id("list_id", request.list_id)
        ids = domain.contact_ids("contact_ids", request.contact_ids)
        async with self.core.pool.connection() as conn, conn.transaction():
            await check_lists(conn, tenant, "list_id", [list_id])
            await check_contacts(conn, tenant, ids)
            removed = await lists.remove_members(conn, list_id, ids)
        return pb.RemoveFromListResponse(removed=removed)
