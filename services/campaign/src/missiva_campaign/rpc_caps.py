"""Frequency-cap RPCs: SetFrequencyCap, ListFrequencyCaps, DeleteFrequencyCap.

A cap counts the campaigns a person was in the recipient snapshot of within the window
(``store.recipients``: applied when the audience is fixed, so a capped person is simply not
in the next snapshot). Its purpose is consent's purpose id; an empty one caps every marketing
campaign together, whatever its purpose.
"""

from __future__ import annotations

from typing import Any

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_campaign import domain
from missiva_campaign.core import CampaignCore
from missiva_campaign.store import caps
from missiva_platform.auth import current_tenant
from missiva_platform.errors import InvalidArgument

MAX_MESSAGES = 100
MAX_WINDOW_DAYS = 180  # the snapshot rows it counts are kept 182 days


def _purpose(field: str, value: str) -> str:
    return domain.purpose_id(field, value) if value.strip() else ""


class CapRpcs:
    core: CampaignCore

    async def SetFrequencyCap(self, request: pb.SetFrequencyCapRequest, context: Any) -> Any:
        tenant = current_tenant()
        given = request.cap
        if not 1 <= given.max_messages <= MAX_MESSAGES:
            raise InvalidArgument.field("cap.max_messages", f"must be 1 to {MAX_MESSAGES}")
        if not 1 <= given.window_days <= MAX_WINDOW_DAYS:
            raise InvalidArgument.field("cap.window_days", f"must be 1 to {MAX_WINDOW_DAYS}")
        cap: dict[str, Any] = {
            "purpose_id": _purpose("cap.purpose_id", given.purpose_id),
            "max_messages": given.max_messages,
            "window_days": given.window_days,
        }
        async with self.core.pool.connection() as conn, conn.transaction():
            await caps.put(conn, tenant, cap)
        return pb.SetFrequencyCapResponse(cap=pb.FrequencyCap(**cap))

    async def ListFrequencyCaps(self, request: pb.ListFrequencyCapsRequest, context: Any) -> Any:
        async with self.core.pool.connection() as conn:
            rows = await caps.of_account(conn, current_tenant())
        return pb.ListFrequencyCapsResponse(caps=[pb.FrequencyCap(**r) for r in rows])

    async def DeleteFrequencyCap(self, request: pb.DeleteFrequencyCapRequest, context: Any) -> Any:
        tenant = current_tenant()
        purpose = _purpose("purpose_id", request.purpose_id)
        async with self.core.pool.connection() as conn, conn.transaction():
            deleted = await caps.delete(conn, tenant, purpose)
        return pb.DeleteFrequencyCapResponse(deleted=deleted)
