"""Email-provider webhooks: ``POST /webhooks/email/{provider}`` forwards the body byte for
byte, with its ``Missiva-Signature`` header, to delivery's ``HandleProviderFeedback``, which
verifies the HMAC signature and the timestamp and applies the bounce or complaint once per
event id. The gateway checks nothing itself (the signature covers the exact bytes); the
answer maps like every other backend error (``errors.py``: a bad signature or an old
timestamp is 401, a malformed event 400 naming the field). Bodies over 1 MiB are 413."""

from __future__ import annotations

import msgspec
from litestar import Controller, MediaType, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva.delivery.v1 import delivery_service_pb2_grpc
from missiva_gateway.backends import Backends

SIGNATURE_HEADER = "missiva-signature"
MAX_BODY = 1024 * 1024


class Received(msgspec.Struct, frozen=True):
    event_id: str
    duplicate: bool
    handled: bool


class ProviderWebhookController(Controller):
    path = "/webhooks/email"
    include_in_schema = False  # the provider's contract, not part of the REST API's document

    @post("/{provider:str}", media_type=MediaType.JSON, request_max_body_size=MAX_BODY,
          status_code=200)  # fmt: skip
    async def receive(
        self, provider: FromPath[str], request: Request, backends: NamedDependency[Backends]
    ) -> Response[Received]:
        """Forward one provider event to delivery; 200 once applied (or seen before)."""
        body = await request.body()
        stub = delivery_service_pb2_grpc.DeliveryServiceStub(backends.channel("delivery"))
        reply = await stub.HandleProviderFeedback(
            pb.HandleProviderFeedbackRequest(
                provider=provider[:64],
                payload=body,
                signature_header=request.headers.get(SIGNATURE_HEADER, "")[:2000],
            ),
            timeout=backends.call_timeout,
        )
        return Response(
            Received(reply.provider_event_id, reply.duplicate, reply.handled),
            headers={"cache-control": "no-store"},
        )
