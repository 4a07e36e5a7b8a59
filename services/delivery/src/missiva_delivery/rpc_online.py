"""``RenderOnline``: a campaign message rendered again for the gateway's ``/v/<token>``.

Only the gateway's service token may call. The token names a ledger row (online.py); the
account, campaign, revision and person come from that row's online copy, never from the
request, so a bad, tampered, expired (older than ``VIEW_ONLINE_DAYS``, or removed by
retention) or erased token is NOT_FOUND, as is one of another account when the caller acts
for one. The page is the mail's HTML part rendered with the same variables; its tracking
follows the tracking rules: the message's own click and open tokens only when the person
allowed engagement tracking at send time and has not withdrawn it since (the check of
``RecordEngagement``); otherwise the template's plain links, and no pixel.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva_delivery import campaign_render, tracking
from missiva_delivery.store import campaigns
from missiva_delivery.store import online as store
from missiva_delivery.store import tracking as tracking_store
from missiva_platform.auth import current_principal
from missiva_platform.crypto import DecryptionError
from missiva_platform.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from missiva_delivery.core import DeliveryCore

log = logging.getLogger(__name__)
NOT_FOUND = "no such message, or it is no longer shown online"


class OnlineRpcs:
    core: DeliveryCore

    async def RenderOnline(
        self, request: pb.RenderOnlineRequest, context: Any
    ) -> pb.RenderOnlineResponse:
        if not request.token:
            raise InvalidArgument.field("token", "is required")
        message_id = self.core.campaign_mail.online.check(request.token)
        if message_id is None:
            raise NotFound(NOT_FOUND)
        caller_tenant = current_principal().tenant_id
        async with self.core.pool.connection() as conn:
            found = await store.copy(conn, message_id, self.core.settings.view_online_days)
            if found is None or (caller_tenant and caller_tenant != found["tenant_id"]):
                raise NotFound(NOT_FOUND)
            tenant, campaign_id = found["tenant_id"], found["campaign_id"]
            content = await campaigns.content(
                conn, tenant, campaign_id, int(found["content_revision"])
            )
            person = await tracking_store.recipient(conn, tenant, campaign_id, message_id)
        if content is None or person is None:  # the ledger row or the template is gone
            raise NotFound(NOT_FOUND)
        try:
            payload = self.core.open_payload(message_id, found["payload_enc"])
        except DecryptionError:  # its key was retired from FIELD_KEYS_FILE
            raise NotFound(NOT_FOUND) from None
        personal = tracking.tracked(content.category) and bool(person["tracking"])
        renders = self.core.renders if personal else self.core.plain_renders
        try:
            compiled = renders.get(tenant, content)
            row = {"id": message_id, "tenant_id": tenant, "person_key": found["person_key"]}
            address = str((payload.get("fields") or {}).get("email") or "")
            values, _ = self.core.campaign_mail.values(
                compiled, row, address, payload, personal=personal
            )
            rendered = campaign_render.render(compiled, values)
        except campaign_render.RenderProblem as exc:
            log.warning("view online: a message cannot be rendered again (%s)", exc,
                        extra={"message_id": message_id})  # fmt: skip
            raise NotFound(NOT_FOUND) from None
        language = str(values.get("locale") or "en").split("-")[0][:8] or "en"
        return pb.RenderOnlineResponse(
            html=rendered.html, subject=rendered.subject, language=language
        )
