"""Client channels to Missiva services, balanced over every replica.

A gRPC channel keeps one HTTP/2 connection per address, so a target that resolves to one
virtual IP pins every call of a client to one replica. Our targets resolve to every replica
(``dns:///<service>-pods:<port>``, a headless Service in the chart) and the channel spreads
calls round robin over them. Servers end each connection after ``MAX_CONNECTION_AGE_MS``
(``service.py``), so clients re-resolve and find replicas added since they connected.
"""

from __future__ import annotations

import json

import grpc

ROUND_ROBIN = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})
CHANNEL_OPTIONS: tuple[tuple[str, str | int], ...] = (
    ("grpc.service_config", ROUND_ROBIN),
    # Do not hammer DNS when replicas come and go; 5 s is plenty for a rolling update.
    ("grpc.dns_min_time_between_resolutions_ms", 5_000),
)

# Server side: close connections after 5 minutes (30 s for calls in flight to finish), so
# every client re-resolves its target regularly and new replicas receive traffic.
MAX_CONNECTION_AGE_MS = 300_000
MAX_CONNECTION_AGE_GRACE_MS = 30_000
SERVER_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_connection_age_ms", MAX_CONNECTION_AGE_MS),
    ("grpc.max_connection_age_grace_ms", MAX_CONNECTION_AGE_GRACE_MS),
)


def insecure_channel(target: str) -> grpc.aio.Channel:
    """A channel to ``target`` that balances round robin over every address it resolves to.

    Inside the cluster traffic is protected by the NetworkPolicies (and a mesh, if any);
    callers outside it use the gateway.
    """
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
