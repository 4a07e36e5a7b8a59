"""gRPC channels to the five backends: opened once at start-up, closed at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from missiva_platform import channels

SERVING = health_pb2.HealthCheckResponse.ServingStatus.Name(health_pb2.HealthCheckResponse.SERVING)


class Backends:
    """One ``grpc.aio`` channel per backend, balanced round robin over its replicas; every
    call made through it carries a deadline."""

    def __init__(
        self,
        targets: Mapping[str, str],
        *,
        call_timeout: float = 5.0,
        readiness_timeout: float = 1.0,
        close_grace: float = 5.0,
    ) -> None:
        self.targets = dict(targets)
        self.call_timeout = call_timeout
        self.readiness_timeout = readiness_timeout
        self.close_grace = close_grace
        self._channels: dict[str, grpc.aio.Channel] = {}

    async def open(self) -> None:
        """Create the channels (they connect lazily, so a backend may start later)."""
        for name, target in self.targets.items():
            if name not in self._channels:
                self._channels[name] = channels.insecure_channel(target)

    async def close(self) -> None:
        """Close every channel, letting in-flight calls finish within the grace period."""
        channels, self._channels = self._channels, {}
        await asyncio.gather(*(ch.close(self.close_grace) for ch in channels.values()))

    def channel(self, name: str) -> grpc.aio.Channel:
        """The open channel to backend ``name``."""
        try:
            return self._channels[name]
        except KeyError:
            raise RuntimeError(f"no open channel to {name}; is the gateway started?") from None

    def identity(self) -> Any:
        """A stub for identity's ``IdentityService``."""
        from missiva.identity.v1 import identity_service_pb2_grpc

        return identity_service_pb2_grpc.IdentityServiceStub(self.channel("identity"))

    def consent(self) -> Any:
        """A stub for consent's ``ConsentService``."""
        from missiva.consent.v1 import consent_service_pb2_grpc

        return consent_service_pb2_grpc.ConsentServiceStub(self.channel("consent"))

    async def health_of(self, name: str) -> str:
        """``SERVING``, ``NOT_SERVING``... or the gRPC code name when the check itself failed."""
        stub = health_pb2_grpc.HealthStub(self.channel(name))
        try:
            reply = await stub.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=self.readiness_timeout
            )
        except grpc.aio.AioRpcError as exc:
            return exc.code().name
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    async def readiness(self) -> dict[str, str]:
        """The health of every backend, checked concurrently."""
        names = list(self.targets)
        states = await asyncio.gather(*(self.health_of(name) for name in names))
        return dict(zip(names, states, strict=True))
