"""Call Missiva services over gRPC the way a platform team does.

    pip install ./libs/protos            # the missiva-protos package: messages and stubs
    export MISSIVA_API_KEY=mk_...        # python -m missiva_identity create-api-key (README)
    python examples/platform_client.py --service consent   # against `make run`

It checks every service's health, lists what the target serves (through reflection), and makes
one authenticated call: every call carries a deadline and the access token as
``authorization: Bearer …`` metadata. The token comes from exchanging the API key in
``MISSIVA_API_KEY`` at identity (``IdentityService.ExchangeApiKey``), or as it is from
``MISSIVA_TOKEN``. Against consent the call is ``ListPurposes`` (the key's account's purposes);
against another service it is ``ExportPersonData``, which only Missiva services may call: a
verified API-key token gets PERMISSION_DENIED there, no token UNAUTHENTICATED, which is the
point: the tenant comes only from a verified token.
"""

from __future__ import annotations

import argparse
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2, consent_service_pb2_grpc
from missiva.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from missiva.privacy.v1 import privacy_service_pb2, privacy_service_pb2_grpc

SERVICES = ("identity", "consent", "campaign", "delivery", "billing")
DEADLINE_SECONDS = 5.0


def targets(base_port: int) -> dict[str, str]:
    """gRPC targets of `missiva up` (base port + 1 … + 5)."""
    return {name: f"127.0.0.1:{base_port + 1 + i}" for i, name in enumerate(SERVICES)}


def check_health(services: dict[str, str]) -> bool:
    healthy = True
    for name, target in services.items():
        with grpc.insecure_channel(target) as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=DEADLINE_SECONDS
                )
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.RpcError as exc:
                status = f"unreachable ({exc.code().name})"
        healthy &= status == "SERVING"
        print(f"{name:9} {target:17} {status}")
    return healthy


def list_services(target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        for name in sorted(ProtoReflectionDescriptorDatabase(channel).get_services()):
            print(f"  {name}")


def exchange_api_key(identity: str, api_key: str) -> str:
    """Trade the API key for a short-lived access token at identity."""
    with grpc.insecure_channel(identity) as channel:
        reply = identity_service_pb2_grpc.IdentityServiceStub(channel).ExchangeApiKey(
            identity_service_pb2.ExchangeApiKeyRequest(secret=api_key), timeout=DEADLINE_SECONDS
        )
    scopes, until = " ".join(reply.scopes), reply.expires_at.ToJsonString()
    print(f"identity: access token for scopes {scopes} until {until}")
    return reply.access_token


def list_purposes(target: str, token: str) -> int:
    """Consent's purposes of the token's account (the tenant comes from the token)."""
    with grpc.insecure_channel(target) as channel:
        stub = consent_service_pb2_grpc.ConsentServiceStub(channel)
        try:
            reply = stub.ListPurposes(
                consent_service_pb2.ListPurposesRequest(page_size=20),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=DEADLINE_SECONDS,
            )
        except grpc.RpcError as exc:
            print(f"ListPurposes → {exc.code().name}: {exc.details()}")
            return 1
    print(f"ListPurposes → {len(reply.purposes)} purpose(s)")
    for purpose in reply.purposes:
        print(f"  {purpose.purpose_id}  {purpose.name}")
    return 0


def call_with_token(target: str, token: str | None) -> int:
    """One authenticated RPC: ask the target what it holds on a (made-up) person."""
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    with grpc.insecure_channel(target) as channel:
        stub = privacy_service_pb2_grpc.PrivacyServiceStub(channel)
        try:
            reply = stub.ExportPersonData(
                privacy_service_pb2.ExportPersonDataRequest(
                    request_id="example-1",
                    person=types_pb2.PersonRef(person_key="0" * 64),
                ),
                metadata=metadata,
                timeout=DEADLINE_SECONDS,
            )
        except grpc.RpcError as exc:
            print(f"ExportPersonData → {exc.code().name}: {exc.details()}")
            return 1
    print(f"ExportPersonData → {len(reply.sections)} section(s) from {reply.service}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-port", type=int, default=50050, help="as given to missiva up")
    parser.add_argument("--service", default="consent", choices=SERVICES, help="whom to call")
    args = parser.parse_args()
    services = targets(args.base_port)
    print("health:")
    if not check_health(services):
        return 2
    target = services[args.service]
    print(f"services served by {target}:")
    list_services(target)
    token = os.environ.get("MISSIVA_TOKEN")
    api_key = os.environ.get("MISSIVA_API_KEY")
    if api_key and not token:
        try:
            token = exchange_api_key(services["identity"], api_key)
        except grpc.RpcError as exc:
            print(f"ExchangeApiKey → {exc.code().name}: {exc.details()}")
            return 1
    if token and args.service == "consent":
        return list_purposes(target, token)
    return call_with_token(target, token)


if __name__ == "__main__":
    sys.exit(main())
