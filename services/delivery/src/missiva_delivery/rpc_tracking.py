"""``RecordEngagement``: an open or click of tracked campaign mail, as the gateway saw it.

Only the gateway's service token may call (its ``/t/c/<token>`` and ``/t/o/<token>``). The
token is checked (tracking.Tokens); the account, campaign and, for a click, the target come
from the link set it names — never from the token or the request — so a bad, tampered or
foreign token (or one for a position the campaign does not have) is NOT_FOUND, and so is a
token of another account when the caller acts for one. The engagement is kept with the
person (``engagement_events``, the events naming message and person) only when the token
names a message (the recipient allowed engagement tracking at send time: others got the
revision's anonymous tokens), the ledger row says so and consent's replica shows no
withdrawal since; otherwise only the counter of (campaign, kind, position) grows and the
event is anonymous. The ledger row may be gone (the send log is kept 90 days): the link
still works, anonymously. An open is never taken as proof of anything (images load through
privacy proxies and preview panes): it is a count, nothing more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva_delivery import events, metrics, tracking
from missiva_delivery.store import tracking as store
from missiva_platform.auth import current_principal
from missiva_platform.errors import InvalidArgument, NotFound
from missiva_platform.outbox import add_events

if TYPE_CHECKING:
    from missiva_delivery.core import DeliveryCore

KINDS = {pb.ENGAGEMENT_KIND_OPEN: tracking.OPEN, pb.ENGAGEMENT_KIND_CLICK: tracking.CLICK}
MAX_TOKEN = 200


class TrackingRpcs:
    core: DeliveryCore
    _tracking_metrics: metrics.TrackingMetrics | None = None

    @property
    def tracking_metrics(self) -> metrics.TrackingMetrics:
        if self._tracking_metrics is None:  # named once the app has started
            self._tracking_metrics = metrics.TrackingMetrics()
        return self._tracking_metrics

    async def RecordEngagement(
        self, request: pb.RecordEngagementRequest, context: Any
    ) -> pb.RecordEngagementResponse:
        kind = KINDS.get(request.kind)
        if kind is None:
            raise InvalidArgument.field("kind", "must be ENGAGEMENT_KIND_OPEN or _CLICK")
        if not request.token:
            raise InvalidArgument.field("token", "is required")
        found = (
            self.core.tracking_tokens.check(kind, request.token)
            if len(request.token) <= MAX_TOKEN
            else None
        )
        if found is None:
            self.tracking_metrics.refused.labels(kind).inc()
            raise NotFound("no such link")
        caller_tenant = current_principal().tenant_id
        async with self.core.pool.connection() as conn, conn.transaction():
            target = await store.link_set(conn, found.link_set_id, found.position)
            if target is None or (caller_tenant and caller_tenant != target["tenant_id"]):
                self.tracking_metrics.refused.labels(kind).inc()
                raise NotFound("no such link")
            tenant, campaign = target["tenant_id"], target["campaign_id"]
            url = str(target["url"] or "")
            person = (
                await store.recipient(conn, tenant, campaign, found.message_id)
                if found.message_id  # an anonymous token names nobody
                else None
            )
            personal = bool(person and person["tracking"])
            person_key = str(person["person_key"]) if personal and person else ""
            device = tracking.device_class(request.client.user_agent) if personal else ""
            await store.count(conn, tenant, campaign, kind, found.position, personal=personal)
            if personal:
                await store.record_personal(
                    conn, tenant_id=tenant, campaign_id=campaign, message_id=found.message_id,
                    person_key=person_key, kind=kind, position=found.position, url=url,
                    device_class=device,
                )  # fmt: skip
            who = {"message_id": found.message_id, "person_key": person_key,
                   "device_class": device} if personal else {}  # fmt: skip
            event = (
                events.link_clicked(tenant, campaign, found.position, url, **who)
                if kind == tracking.CLICK
                else events.message_opened(tenant, campaign, **who)
            )
            await add_events(conn, [event])
        self.tracking_metrics.recorded.labels(kind, "personal" if personal else "anonymous").inc()
        return pb.RecordEngagementResponse(
            target_url=url, anonymous=not personal, position=found.position
        )
