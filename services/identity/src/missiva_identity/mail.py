"""Identity's emails and events: built here, written to the outbox in the caller's transaction.

Emails (verification, reset, invitation, notices) are ``SendTransactionalCommand``s to the
delivery service's work queue, SYSTEM category: they may carry a secret link, so they are
never events. Events name people by user id and person key, never by address. The builders
below are what the service emits and what ``events.EXAMPLES`` shows the contract tests.
"""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from missiva.common.v1 import types_pb2
from missiva.delivery.v1 import events_pb2 as delivery_events
from missiva.identity.v1 import events_pb2
from missiva.identity.v1 import identity_service_pb2 as pb
from missiva_identity.domain import Acceptance
from missiva_platform.events import EventEnvelope
from missiva_platform.events import envelope as make_envelope
from missiva_platform.outbox import add_event
from missiva_platform.streams import SEND_TRANSACTIONAL_EMAIL

PRODUCER = "identity"

# Subjects of identity's events.
USER_REGISTERED = "identity.user.registered"
USER_VERIFIED = "identity.user.verified"
USER_EMAIL_CHANGED = "identity.user.email_changed"
LEGAL_ACCEPTED = "identity.legal.accepted"
MEMBER_REMOVED = "identity.member.removed"
MEMBER_RESTORED = "identity.member.restored"
ACCOUNT_DELETION_REQUESTED = "identity.account.deletion_requested"
ACCOUNT_RESTORED = "identity.account.restored"
ACCOUNT_ERASED = "identity.account.erased"


def link(base_url: str, path: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{path}?{urllib.parse.urlencode({'token': token})}"


def _stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def email(
    *,
    template: str,
    to: str,
    name: str,
    locale: str,
    person_key: str,
    tenant_id: str,
    variables: dict[str, str] | None = None,
    idempotency_key: str | None = None,
) -> EventEnvelope:
    """``idempotency_key``: a stable one when the same email may be built twice (delivery
    sends a key once); a fresh one otherwise."""
    command = delivery_events.SendTransactionalCommand(
        idempotency_key=idempotency_key or str(uuid.uuid4()),
        template_key=f"identity.{template}",
        to_address=to,
        to_name=name,
        locale=locale,
        variables=variables or {},
        category=types_pb2.EMAIL_CATEGORY_SYSTEM,
        person_key=person_key,
        requested_by=PRODUCER,
    )
    return make_envelope(
        command, subject=SEND_TRANSACTIONAL_EMAIL, tenant_id=tenant_id, producer=PRODUCER
    )


async def send_email(conn: Any, **fields: Any) -> None:
    await add_event(conn, email(**fields))


def event(message: Message, *, subject: str, tenant_id: str, aggregate_id: str) -> EventEnvelope:
    return make_envelope(
        message, subject=subject, tenant_id=tenant_id, producer=PRODUCER, aggregate_id=aggregate_id
    )


def command(message: Message, *, subject: str, tenant_id: str) -> EventEnvelope:
    """A command to another service's work queue (``cmd.<service>.<verb_noun>``)."""
    return make_envelope(message, subject=subject, tenant_id=tenant_id, producer=PRODUCER)


async def publish(conn: Any, envelope: EventEnvelope) -> None:
    await add_event(conn, envelope)


def acceptances(items: Sequence[Acceptance], at: datetime) -> list[pb.DocumentAcceptance]:
    return [
        pb.DocumentAcceptance(
            document_id=a.document_id,
            version=a.version,
            checkbox_text=a.checkbox_text,
            accepted_at=_stamp(at),
            accepted=True,
        )
        for a in items
    ]


def user_registered(
    *,
    user_id: str,
    account_id: str,
    person_key: str,
    accepted: Sequence[Acceptance],
    accepted_at: datetime,
    ip_pseudonym: str,
    user_agent: str,
    locale: str,
    role: int,
    marketing_opt_in: bool = False,
    marketing_checkbox_text: str = "",
) -> EventEnvelope:
    return event(
        events_pb2.UserRegistered(
            user_id=user_id,
            account_id=account_id,
            person_key=person_key,
            acceptances=acceptances(accepted, accepted_at),
            marketing_opt_in=marketing_opt_in,
            marketing_checkbox_text=marketing_checkbox_text,
            age_confirmed=True,
            ip_pseudonym=ip_pseudonym,
            user_agent=user_agent,
            locale=locale,
            role=role,  # type: ignore[arg-type]
        ),
        subject=USER_REGISTERED,
        tenant_id=account_id,
        aggregate_id=user_id,
    )


def user_verified(*, user_id: str, account_id: str, person_key: str) -> EventEnvelope:
    return event(
        events_pb2.UserEmailVerified(user_id=user_id, account_id=account_id, person_key=person_key),
        subject=USER_VERIFIED,
        tenant_id=account_id,
        aggregate_id=user_id,
    )


def user_email_changed(
    *,
    user_id: str,
    account_id: str,
    old_person_key: str,
    new_person_key: str,
    changed_at: datetime,
) -> EventEnvelope:
    """The user's confirmed address change: both person keys, never an address."""
    return event(
        events_pb2.UserEmailChanged(
            user_id=user_id,
            account_id=account_id,
            old_person_key=old_person_key,
            new_person_key=new_person_key,
            changed_at=_stamp(changed_at),
        ),
        subject=USER_EMAIL_CHANGED,
        tenant_id=account_id,
        aggregate_id=user_id,
    )


def legal_accepted(
    *,
    user_id: str,
    account_id: str,
    person_key: str,
    accepted: Sequence[Acceptance],
    accepted_at: datetime,
    ip_pseudonym: str,
    user_agent: str,
) -> EventEnvelope:
    return event(
        events_pb2.LegalAcceptanceRecorded(
            user_id=user_id,
            account_id=account_id,
            person_key=person_key,
            acceptances=acceptances(accepted, accepted_at),
            ip_pseudonym=ip_pseudonym,
            user_agent=user_agent,
        ),
        subject=LEGAL_ACCEPTED,
        tenant_id=account_id,
        aggregate_id=user_id,
    )


def member_removed(
    *, account_id: str, user_id: str, removed_by: str, restorable_until: datetime
) -> EventEnvelope:
    return event(
        events_pb2.MemberRemoved(
            account_id=account_id,
            user_id=user_id,
            removed_by_user_id=removed_by,
            restorable_until=_stamp(restorable_until),
        ),
        subject=MEMBER_REMOVED,
        tenant_id=account_id,
        aggregate_id=user_id,
    )


def member_restored(*, account_id: str, user_id: str, restored_by: str) -> EventEnvelope:
    return event(
        events_pb2.MemberRestored(
            account_id=account_id, user_id=user_id, restored_by_user_id=restored_by
        ),
        subject=MEMBER_RESTORED,
        tenant_id=account_id,
        aggregate_id=user_id,
    )


def deletion_requested(
    *, account_id: str, requested_by: str, purge_after: datetime
) -> EventEnvelope:
    return event(
        events_pb2.AccountDeletionRequested(
            account_id=account_id,
            requested_by_user_id=requested_by,
            purge_after=_stamp(purge_after),
        ),
        subject=ACCOUNT_DELETION_REQUESTED,
        tenant_id=account_id,
        aggregate_id=account_id,
    )


def account_restored(*, account_id: str, restored_by: str) -> EventEnvelope:
    return event(
        events_pb2.AccountRestored(account_id=account_id, restored_by_user_id=restored_by),
        subject=ACCOUNT_RESTORED,
        tenant_id=account_id,
        aggregate_id=account_id,
    )


def account_erased(
    *, account_id: str, user_ids: Sequence[str], person_keys: Sequence[str]
) -> EventEnvelope:
    return event(
        events_pb2.AccountErased(
            account_id=account_id, user_ids=list(user_ids), person_keys=sorted(set(person_keys))
        ),
        subject=ACCOUNT_ERASED,
        tenant_id=account_id,
        aggregate_id=account_id,
    )
