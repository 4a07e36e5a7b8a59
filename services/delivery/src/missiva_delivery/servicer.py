"""Delivery gRPC servicer: thin — validate, call domain/store, raise typed errors.

RPCs not yet implemented answer UNIMPLEMENTED (the generated base class); each lands with its
own issue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from missiva.delivery.v1 import delivery_service_pb2_grpc
from missiva_platform.auth import MethodRule
from missiva_platform.privacy import DataSection, Erasure, Person, PrivacyHandler

if TYPE_CHECKING:
    from missiva_platform.service import ServiceApp

# Access rules by method name; unlisted methods need an authenticated caller.
ACCESS_RULES: dict[str, MethodRule] = {}


class DeliveryServicer(delivery_service_pb2_grpc.DeliveryServiceServicer):
    def __init__(self, app: ServiceApp) -> None:
        self.app = app


class DeliveryPrivacy(PrivacyHandler):
    """What delivery holds on a person: no personal data yet, so both answers are empty."""

    def __init__(self, app: ServiceApp) -> None:
        self.app = app

    async def export(self, person: Person) -> list[DataSection]:
        return []

    async def erase(self, person: Person) -> Erasure:
        return Erasure()
