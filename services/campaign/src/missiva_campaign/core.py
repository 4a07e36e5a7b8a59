"""What campaign's RPC groups and consumers share: settings, the pool, the person key, the
caller, and the protobuf form of a contact."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import uuid_utils
from google.protobuf import timestamp_pb2
from psycopg_pool import AsyncConnectionPool

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_campaign import domain
from missiva_campaign.config import CampaignSettings
from missiva_platform.auth import CallerKind, current_principal
from missiva_platform.crypto import EmailHasher
from missiva_platform.errors import FailedPrecondition
from missiva_platform.secrets import load_email_hasher

log = logging.getLogger(__name__)


def new_id() -> str:
    return str(uuid_utils.uuid7())


def now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


@dataclass(frozen=True)
class Actor:
    """Who made a change: the verified caller's kind and id."""

    kind: str
    id: str

    @property
    def source(self) -> str:
        """A contact created by an API key came through the API; by a person, by hand."""
        return "api" if self.kind == CallerKind.API_KEY.value else "manual"


def current_actor() -> Actor:
    principal = current_principal()
    return Actor(kind=principal.kind.value, id=principal.subject)


def contact_pb(row: dict[str, Any]) -> pb.Contact:
    contact = pb.Contact(
        contact_id=row["id"],
        email=row["email"],
        person_key=row["person_key"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        locale=row["locale"],
        timezone=row["timezone"],
        tags=list(row["tags"]),
        list_ids=list(row.get("list_ids") or ()),
        source=domain.SOURCE_VALUES[row["source"]],  # type: ignore[arg-type]
        suppressed=bool(row.get("suppressed", False)),
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
        last_interaction_at=timestamp(row["last_interaction_at"]),
        deleted_at=timestamp(row["deleted_at"]),
        inactive_since=timestamp(row.get("inactive_since")),
        provenance=pb.ContactProvenance(
            source=domain.SOURCE_VALUES[row["source"]],  # type: ignore[arg-type]
            detail=row["source_detail"],
            actor_kind=row["actor_kind"],
            actor_id=row["actor_id"],
            at=timestamp(row["created_at"]),
        ),
    )
    if row["deleted_at"] is not None:
        contact.restorable_until.FromDatetime(
            (row["deleted_at"] + domain.TRASH_WINDOW).astimezone(UTC)
        )
    contact.attributes.update(row["attributes"])
    return contact


def in_trash(message: Any, row: dict[str, Any]) -> Any:
    """Set a message's ``deleted_at`` and ``restorable_until`` from a row in the trash."""
    deleted = row.get("deleted_at")
    if deleted is not None:
        message.deleted_at.FromDatetime(deleted.astimezone(UTC))
        message.restorable_until.FromDatetime((deleted + domain.TRASH_WINDOW).astimezone(UTC))
    return message


def list_pb(row: dict[str, Any]) -> pb.ContactList:
    found = pb.ContactList(
        list_id=row["id"],
        name=row["name"],
        description=row["description"],
        purpose_id=row["purpose_id"],
        member_count=row["member_count"],
        created_at=timestamp(row["created_at"]),
    )
    return in_trash(found, row)  # type: ignore[no-any-return]


class CampaignCore:
    """Settings, the database pool and the person-key hasher (loaded on first use)."""

    def __init__(
        self, settings: CampaignSettings, pool_of: Callable[[], AsyncConnectionPool | None]
    ) -> None:
        self.settings = settings
        self._pool_of = pool_of

    @property
    def pool(self) -> AsyncConnectionPool:
        pool = self._pool_of()
        if pool is None:
            raise RuntimeError("the service is not started")
        return pool

    @cached_property
    def _hasher(self) -> EmailHasher | None:
        path = self.settings.email_hash_key_file
        return load_email_hasher(path) if path else None

    def person_key(self, address: domain.Address) -> str:
        """The kit's keyed hash of the address: the same key consent computes."""
        if self._hasher is None:
            log.error("campaign: EMAIL_HASH_KEY_FILE is not set; contacts cannot be written")
            raise FailedPrecondition(
                "the campaign service is not configured: EMAIL_HASH_KEY_FILE is not set"
            )
        return self._hasher.person_key(address.key)
