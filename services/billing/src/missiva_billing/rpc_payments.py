"""HandleProviderEvent: a payment provider's webhook, as received (anonymous: the provider's
signature over the raw body authenticates it). Bad signature or stale timestamp:
UNAUTHENTICATED; a replayed event id: ``duplicate``; both change nothing."""

from __future__ import annotations

from typing import Any

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva_billing.rpc_base import RpcBase
from missiva_platform.errors import InvalidArgument

MAX_PAYLOAD = 1024 * 1024


class PaymentRpcs(RpcBase):
    async def HandleProviderEvent(
        self, request: pb.HandleProviderEventRequest, context: Any
    ) -> pb.HandleProviderEventResponse:
        if request.provider != self.stripe.name:
            raise InvalidArgument.field("provider", "must be stripe")
        if not request.payload or len(request.payload) > MAX_PAYLOAD:
            raise InvalidArgument.field("payload", "must be the raw body, at most 1 MiB")
        if not request.signature_header:
            raise InvalidArgument.field("signature_header", "is required (Stripe-Signature)")
        event = self.stripe.verify(request.payload, request.signature_header)
        async with self.pool.connection() as conn, conn.transaction():
            applied = await self.stripe.apply(conn, event)
        return pb.HandleProviderEventResponse(
            provider_event_id=applied.event_id,
            duplicate=applied.duplicate,
            handled=applied.handled,
        )
