"""The account's contact policy: GetContactPolicy, SetContactPolicy.

``delete_inactive``: contacts with no interaction for 24 months go to the trash (the
retention rule ``inactive_contacts``); off, the default, they are only flagged.
"""

from __future__ import annotations

from typing import Any

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_campaign.core import CampaignCore
from missiva_platform.auth import current_tenant


class PolicyRpcs:
    core: CampaignCore

    async def GetContactPolicy(self, request: pb.GetContactPolicyRequest, context: Any) -> Any:
        async with self.core.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT delete_inactive FROM contact_policies WHERE account_id = %s",
                (current_tenant(),),
            )
            row = await cur.fetchone()
        return pb.GetContactPolicyResponse(
            policy=pb.ContactPolicy(delete_inactive=bool(row and row[0]))
        )

    async def SetContactPolicy(self, request: pb.SetContactPolicyRequest, context: Any) -> Any:
        wanted = bool(request.policy.delete_inactive)
        async with self.core.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO contact_policies (account_id, delete_inactive) VALUES (%s, %s)"
                " ON CONFLICT (account_id) DO UPDATE SET delete_inactive ="
                " EXCLUDED.delete_inactive, updated_at = now()",
                (current_tenant(), wanted),
            )
        return pb.SetContactPolicyResponse(policy=pb.ContactPolicy(delete_inactive=wanted))
