"""HandleProviderFeedback: an email provider's bounce or complaint webhook, as received
(anonymous: the HMAC signature over the raw body authenticates it; ``webhooks.py``). Bad
signature or stale timestamp: UNAUTHENTICATED; a replayed event id: ``duplicate``; neither
changes anything."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva_delivery.webhooks import MAX_PAYLOAD, PROVIDER, ProviderWebhooks
from missiva_platform.errors import InvalidArgument

if TYPE_CHECKING:
    from missiva_delivery.core import DeliveryCore


class FeedbackRpcs:
    core: DeliveryCore
    _webhooks: ProviderWebhooks | None = None

    @property
    def webhooks(self) -> ProviderWebhooks:
        if self._webhooks is None:
            settings = self.core.settings
            self._webhooks = ProviderWebhooks(
                settings.provider_webhook_secret_file,
                settings.provider_webhook_tolerance_seconds,
                self.core.feedback,
            )
        return self._webhooks

    async def HandleProviderFeedback(
        self, request: pb.HandleProviderFeedbackRequest, context: Any
    ) -> pb.HandleProviderFeedbackResponse:
        if request.provider != PROVIDER:
            raise InvalidArgument.field("provider", f"must be {PROVIDER}")
        if not request.payload or len(request.payload) > MAX_PAYLOAD:
            raise InvalidArgument.field("payload", "must be the raw body, at most 1 MiB")
        if not request.signature_header:
            raise InvalidArgument.field("signature_header", "is required (t=...,v1=...)")
        if len(request.signature_header) > 2000:
            raise InvalidArgument.field("signature_header", "at most 2000 characters")
        signed_at = self.webhooks.verify(request.payload, request.signature_header)
        async with self.core.pool.connection() as conn, conn.transaction():
            applied = await self.webhooks.apply(conn, request.payload, signed_at)
        return pb.HandleProviderFeedbackResponse(
            provider_event_id=applied.event_id,
            duplicate=applied.duplicate,
            handled=applied.handled,
        )
