"""The gateway's HTTP endpoints: probes and the public JWKS (metrics are on the side port)."""

from __future__ import annotations

import grpc
import msgspec
from litestar import Controller, MediaType, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import ServiceUnavailableException

from missiva_gateway.backends import SERVING, Backends

_NO_STORE = {"cache-control": "no-store"}


class Liveness(msgspec.Struct, frozen=True):
    status: str


class Readiness(msgspec.Struct, frozen=True):
    """Whether every backend answers SERVING; ``not_ready`` names the ones that do not."""

    ready: bool
    backends: dict[str, str]
    not_ready: list[str]


class ProbeController(Controller):
    """Kubernetes-style probes: alive (the process runs) and ready (every backend serves)."""

    include_in_schema = False

    @get("/healthz", media_type=MediaType.JSON, sync_to_thread=False)
    def healthz(self) -> Response[Liveness]:
        """200 while the process runs."""
        return Response(Liveness("ok"), headers=_NO_STORE)

    @get("/readyz", media_type=MediaType.JSON)
    async def readyz(self, backends: NamedDependency[Backends]) -> Response[Readiness]:
        """200 only when every backend answers SERVING within a short deadline, else 503."""
        states = await backends.readiness()
        not_ready = [name for name, state in states.items() if state != SERVING]
        return Response(
            Readiness(ready=not not_ready, backends=states, not_ready=not_ready),
            status_code=503 if not_ready else 200,
            headers=_NO_STORE,
        )


class JwksController(Controller):
    """The public keys that verify Missiva's access tokens, as identity publishes them."""

    @get("/.well-known/jwks.json")
    async def jwks(self, backends: NamedDependency[Backends]) -> Response[bytes]:
        """Identity's JWKS (``GetJwks``), served as-is; 503 while identity cannot serve it."""
        from missiva.identity.v1 import identity_service_pb2

        try:
            reply = await backends.identity().GetJwks(
                identity_service_pb2.GetJwksRequest(), timeout=backends.call_timeout
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
            # The keys are not published yet: a temporary state, not a missing route.
            raise ServiceUnavailableException(
                "identity does not publish its signing keys yet; try again later"
            ) from None
        return Response(
            reply.jwks_json.encode(),
            media_type=MediaType.JSON,
            headers={"cache-control": "public, max-age=300"},
        )
