"""The privacy contract: every service exports and erases what it holds on a person.

A service implements ``PrivacyHandler`` (``export`` and ``erase``); ``add_privacy_service``
serves it as ``missiva.privacy.v1.PrivacyService``, callable only by Missiva services (consent
orchestrates data-subject requests). The tenant, when the request concerns one account's
contact, comes from the calling service's token, never from the request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from missiva.common.v1 import types_pb2
from missiva.privacy.v1 import privacy_service_pb2, privacy_service_pb2_grpc
from missiva_platform.auth import Access, current_principal, rule
from missiva_platform.errors import InvalidArgument

if TYPE_CHECKING:
    from missiva_platform.service import ServiceApp

SERVICE_FULL_NAME = "missiva.privacy.v1.PrivacyService"


@dataclass(frozen=True)
class Person:
    """Whom a privacy request is about."""

    request_id: str
    person_key: str
    email: str | None = None
    user_id: str | None = None
    tenant_id: str = ""  # empty: every account's data (the person is one of our users)


@dataclass(frozen=True)
class DataSection:
    name: str
    description: str
    content: bytes
    media_type: str = "application/json"


@dataclass(frozen=True)
class Retained:
    category: str
    reason: str
    legal_basis: int = types_pb2.LEGAL_BASIS_LEGAL_OBLIGATION
    until: datetime | None = None


@dataclass
class Erasure:
    erased: dict[str, int] = field(default_factory=dict)
    retained: list[Retained] = field(default_factory=list)


class PrivacyHandler(Protocol):
    async def export(self, person: Person) -> list[DataSection]: ...

    async def erase(self, person: Person) -> Erasure: ...


def _person(request: Any) -> Person:
    if not request.request_id:
        raise InvalidArgument.field("request_id", "is required")
    ref = request.person
    if not ref.person_key and not ref.HasField("user_id"):
        raise InvalidArgument.field("person", "needs a person_key or a user_id")
    return Person(
        request_id=request.request_id,
        person_key=ref.person_key,
        email=ref.email if ref.HasField("email") else None,
        user_id=ref.user_id if ref.HasField("user_id") else None,
        tenant_id=current_principal().tenant_id,
    )


class PrivacyServicer(privacy_service_pb2_grpc.PrivacyServiceServicer):
    def __init__(self, service: str, handler: PrivacyHandler) -> None:
        self.service = service
        self.handler = handler

    async def ExportPersonData(self, request: Any, context: Any) -> Any:
        sections = await self.handler.export(_person(request))
        return privacy_service_pb2.ExportPersonDataResponse(
            service=self.service,
            sections=[
                privacy_service_pb2.DataSection(
                    name=s.name,
                    description=s.description,
                    media_type=s.media_type,
                    content=s.content,
                )
                for s in sections
            ],
        )

    async def ErasePersonData(self, request: Any, context: Any) -> Any:
        erasure = await self.handler.erase(_person(request))
        reply = privacy_service_pb2.ErasePersonDataResponse(service=self.service)
        for category, count in sorted(erasure.erased.items()):
            reply.erased.add(category=category, count=count)
        for kept in erasure.retained:
            item = reply.retained.add(
                category=kept.category, reason=kept.reason, legal_basis=kept.legal_basis
            )
            if kept.until is not None:
                item.retained_until.FromDatetime(kept.until)
        return reply


PRIVACY_RULES = {
    "ExportPersonData": rule(Access.SERVICE, services=("consent", "identity")),
    "ErasePersonData": rule(Access.SERVICE, services=("consent", "identity")),
}


def add_privacy_service(app: ServiceApp, handler: PrivacyHandler) -> None:
    """Serve ``handler`` as this service's part of the privacy contract."""
    app.add_service(
        privacy_service_pb2_grpc.add_PrivacyServiceServicer_to_server,
        PrivacyServicer(app.name, handler),
        SERVICE_FULL_NAME,
        PRIVACY_RULES,
    )
