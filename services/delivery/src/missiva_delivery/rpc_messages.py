"""The transactional RPCs: ``SendTransactional`` and ``GetMessageStatus``.

The tenant is the caller's token's. ``SendTransactional`` takes the same path as the
``cmd.delivery.send_transactional`` command: one ledger row per (tenant, idempotency key),
and a retry with the same key gets the first answer (the kit's idempotency).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from google.protobuf import timestamp_pb2

from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva_delivery import domain
from missiva_delivery.domain import Status
from missiva_delivery.store import messages
from missiva_platform.auth import CallerKind, Principal, current_principal
from missiva_platform.errors import InvalidArgument, NotFound, PermissionDenied
from missiva_platform.idempotency import run_once

if TYPE_CHECKING:
    from missiva_delivery.core import DeliveryCore

ADMIN_ROLES = frozenset({"primary_admin", "admin"})
MEMBER_ROLES = frozenset({"primary_admin", "admin", "member"})
# Missiva services that send transactional mail for the accounts they serve.
SENDING_SERVICES = frozenset({"identity", "consent", "campaign", "billing"})


def require_caller(
    principal: Principal, *, roles: frozenset[str], services: frozenset[str]
) -> None:
    """What one access rule cannot say: users need one of ``roles``; API keys are gated by
    scope alone (the rule's); services must be one of ``services``."""
    if principal.kind is CallerKind.USER and not principal.roles & roles:
        raise PermissionDenied(f"this needs one of the roles {', '.join(sorted(roles))}")
    if principal.kind is CallerKind.SERVICE and principal.subject not in services:
        raise PermissionDenied(f"service {principal.subject} may not call this")


def _stamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def message_pb(row: dict[str, Any]) -> pb.Message:
    message = pb.Message(
        message_id=row["id"],
        rfc822_message_id=row["rfc822_message_id"],
        campaign_id=row["campaign_id"],
        batch_id=row["batch_id"],
        contact_id=row["contact_id"],
        person_key=row["person_key"],
        template_key=row["template_key"],
        category=row["category"],
        status=domain.STATUS_PB[Status(row["status"])],  # type: ignore[arg-type]
        subject=row["subject"],
        attempts=row["attempts"],
        bounce_type=domain.BOUNCE_PB.get(row["bounce_type"] or "", 0),  # type: ignore[arg-type]
        # The reply that decided the message; a message that never reached a server says why.
        last_smtp_response=row["last_smtp_reply"] or row["failure_reason"],
    )
    for field, column in (("queued_at", "queued_at"), ("sent_at", "sent_at"),
                          ("updated_at", "updated_at")):  # fmt: skip
        stamp = _stamp(row[column])
        if stamp is not None:
            getattr(message, field).CopyFrom(stamp)
    return message


class MessageRpcs:
    core: DeliveryCore

    async def SendTransactional(
        self, request: pb.SendTransactionalRequest, context: Any
    ) -> pb.SendTransactionalResponse:
        principal = current_principal()
        require_caller(principal, roles=ADMIN_ROLES, services=SENDING_SERVICES)
        if principal.kind is not CallerKind.SERVICE and not principal.tenant_id:
            raise PermissionDenied("this call needs a caller acting for an account")
        send = domain.valid_send(
            idempotency_key=request.idempotency_key,
            template_key=request.template_key,
            to_address=request.to_address,
            to_name=request.to_name,
            locale=request.locale,
            variables=dict(request.variables),
            category=request.category,
            # Services send the key they hold; an API key's caller cannot compute it.
            person_key=request.person_key or self.core.person_key_of(request.to_address),
            requested_by=principal.subject if principal.kind is CallerKind.SERVICE else "api",
        )
        if not self.core.templates.has(send.template_key):
            raise InvalidArgument.field("template_key", f"no template {send.template_key!r}")
        tenant = principal.tenant_id

        async def work(conn: Any) -> pb.SendTransactionalResponse:
            row, _ = await self.core.queue(conn, tenant, send)
            return pb.SendTransactionalResponse(
                message_id=row["id"],
                status=domain.STATUS_PB[Status(row["status"])],  # type: ignore[arg-type]
            )

        reply = await run_once(
            self.core.pool,
            tenant_id=tenant,
            method="SendTransactional",
            request=request,
            response_type=pb.SendTransactionalResponse,
            work=work,
        )
        self.core.wake()
        return reply

    async def GetMessageStatus(
        self, request: pb.GetMessageStatusRequest, context: Any
    ) -> pb.GetMessageStatusResponse:
        principal = current_principal()
        require_caller(principal, roles=MEMBER_ROLES, services=SENDING_SERVICES)
        if not request.message_id:
            raise InvalidArgument.field("message_id", "is required")
        try:
            message_id = str(uuid.UUID(request.message_id))
        except ValueError:
            raise InvalidArgument.field("message_id", "is not a message id") from None
        async with self.core.pool.connection() as conn:
            row = await messages.get(conn, principal.tenant_id, message_id)
            if row is None:
                raise NotFound(f"no message {message_id}")
            history = await messages.events(conn, message_id)
        reply = pb.GetMessageStatusResponse(message=message_pb(row))
        for item in history:
            event = reply.events.add(
                status=domain.STATUS_PB.get(Status(item["status"]), 0),  # type: ignore[arg-type]
                detail=item["detail"],
            )
            event.occurred_at.FromDatetime(item["occurred_at"])
        return reply
