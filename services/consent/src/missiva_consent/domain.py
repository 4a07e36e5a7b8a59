"""Consent rules, with no I/O: vocabularies, purposes, state transitions, the ledger's
canonical form, and the events a change produces (links, suppression and legal documents
have their own modules)."""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.consent.v1 import events_pb2
from missiva_consent.verify_proof import GENESIS, entry_hash
from missiva_platform.errors import FailedPrecondition, InvalidArgument

__all__ = ["GENESIS", "entry_hash"]

# --------------------------------------------------------------------------- vocabularies

# Roles of an account's administrators (identity's vocabulary).
ADMIN_ROLES = frozenset({"admin", "primary_admin"})


class Action(enum.StrEnum):
    REQUEST = "request"
    GRANT = "grant"
    CONFIRM = "confirm"
    WITHDRAW = "withdraw"
    OBJECT = "object"
    RESTRICT = "restrict"
    LIFT = "lift"
    ACCEPT = "accept"


class Status(enum.StrEnum):
    NOT_RECORDED = "not_recorded"
    PENDING = "pending"
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"
    OBJECTED = "objected"
    RESTRICTED = "restricted"  # shown while a restriction lasts; never stored as a state


class Basis(enum.StrEnum):
    CONSENT = "consent"
    LEGITIMATE_INTEREST = "legitimate_interest"
    CONTRACT = "contract"


class Source(enum.StrEnum):
    FORM = "form"
    IMPORT = "import"
    API = "api"
    SIGN_UP = "sign_up"
    CONFIRMATION_LINK = "confirmation_link"
    UNSUBSCRIBE_LINK = "unsubscribe_link"
    PREFERENCE_CENTER = "preference_center"
    ADMIN = "admin"
    PRIVACY_REQUEST = "privacy_request"
    DELIVERY_FEEDBACK = "delivery_feedback"


class Reason(enum.StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    MANUAL = "manual"
    ERASED = "erased"


class DocumentKind(enum.StrEnum):
    TERMS_OF_SERVICE = "terms_of_service"
    PRIVACY_POLICY = "privacy_policy"
    DATA_PROCESSING_AGREEMENT = "data_processing_agreement"
    COOKIE_POLICY = "cookie_policy"
    SUB_PROCESSOR_LIST = "sub_processor_list"
    ACCOUNT_PRIVACY_NOTICE = "account_privacy_notice"


ACTION_PB = {
    Action.REQUEST: pb.CONSENT_ACTION_REQUESTED,
    Action.GRANT: pb.CONSENT_ACTION_GRANTED,
    Action.CONFIRM: pb.CONSENT_ACTION_CONFIRMED,
    Action.WITHDRAW: pb.CONSENT_ACTION_WITHDRAWN,
    Action.OBJECT: pb.CONSENT_ACTION_OBJECTED,
    Action.RESTRICT: pb.CONSENT_ACTION_RESTRICTED,
    Action.LIFT: pb.CONSENT_ACTION_LIFTED,
    Action.ACCEPT: pb.CONSENT_ACTION_ACCEPTED,
}
STATUS_PB = {
    Status.NOT_RECORDED: pb.CONSENT_STATUS_NOT_RECORDED,
    Status.PENDING: pb.CONSENT_STATUS_PENDING,
    Status.GRANTED: pb.CONSENT_STATUS_GRANTED,
    Status.WITHDRAWN: pb.CONSENT_STATUS_WITHDRAWN,
    Status.OBJECTED: pb.CONSENT_STATUS_OBJECTED,
    Status.RESTRICTED: pb.CONSENT_STATUS_RESTRICTED,
}
BASIS_PB = {
    Basis.CONSENT: types_pb2.LEGAL_BASIS_CONSENT,
    Basis.LEGITIMATE_INTEREST: types_pb2.LEGAL_BASIS_LEGITIMATE_INTEREST,
    Basis.CONTRACT: types_pb2.LEGAL_BASIS_CONTRACT,
}
SOURCE_PB = {
    Source.FORM: pb.CONSENT_SOURCE_FORM,
    Source.IMPORT: pb.CONSENT_SOURCE_IMPORT,
    Source.API: pb.CONSENT_SOURCE_API,
    Source.SIGN_UP: pb.CONSENT_SOURCE_SIGN_UP,
    Source.CONFIRMATION_LINK: pb.CONSENT_SOURCE_CONFIRMATION_LINK,
    Source.UNSUBSCRIBE_LINK: pb.CONSENT_SOURCE_UNSUBSCRIBE_LINK,
    Source.PREFERENCE_CENTER: pb.CONSENT_SOURCE_PREFERENCE_CENTER,
    Source.ADMIN: pb.CONSENT_SOURCE_ADMIN,
    Source.PRIVACY_REQUEST: pb.CONSENT_SOURCE_PRIVACY_REQUEST,
    Source.DELIVERY_FEEDBACK: pb.CONSENT_SOURCE_DELIVERY_FEEDBACK,
}
REASON_PB = {
    Reason.UNSUBSCRIBED: pb.SUPPRESSION_REASON_UNSUBSCRIBED,
    Reason.HARD_BOUNCE: pb.SUPPRESSION_REASON_HARD_BOUNCE,
    Reason.COMPLAINT: pb.SUPPRESSION_REASON_COMPLAINT,
    Reason.MANUAL: pb.SUPPRESSION_REASON_MANUAL,
    Reason.ERASED: pb.SUPPRESSION_REASON_ERASED,
}
KIND_PB = {
    DocumentKind.TERMS_OF_SERVICE: pb.DOCUMENT_KIND_TERMS_OF_SERVICE,
    DocumentKind.PRIVACY_POLICY: pb.DOCUMENT_KIND_PRIVACY_POLICY,
    DocumentKind.DATA_PROCESSING_AGREEMENT: pb.DOCUMENT_KIND_DATA_PROCESSING_AGREEMENT,
    DocumentKind.COOKIE_POLICY: pb.DOCUMENT_KIND_COOKIE_POLICY,
    DocumentKind.SUB_PROCESSOR_LIST: pb.DOCUMENT_KIND_SUB_PROCESSOR_LIST,
    DocumentKind.ACCOUNT_PRIVACY_NOTICE: pb.DOCUMENT_KIND_ACCOUNT_PRIVACY_NOTICE,
}
CATEGORY_PB = {
    "": types_pb2.EMAIL_CATEGORY_UNSPECIFIED,
    "system": types_pb2.EMAIL_CATEGORY_SYSTEM,
    "product_update": types_pb2.EMAIL_CATEGORY_PRODUCT_UPDATE,
    "marketing": types_pb2.EMAIL_CATEGORY_MARKETING,
}
PURPOSE_KIND_PB = {
    "email": pb.PURPOSE_KIND_EMAIL,
    "engagement_tracking": pb.PURPOSE_KIND_ENGAGEMENT_TRACKING,
}


def from_pb(mapping: Mapping[Any, int], value: int, field_name: str) -> Any:
    """The domain value of a proto enum value; InvalidArgument for unset or unknown ones."""
    for domain_value, proto_value in mapping.items():
        if proto_value == value and proto_value != 0:
            return domain_value
    raise InvalidArgument.field(field_name, "is required" if value == 0 else "has an unknown value")


# --------------------------------------------------------------------------- validation

_KEY = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_DOC_ID = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
_PERSON_KEY = re.compile(r"^[0-9a-f]{64}$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
MAX_TEXT = 2_000
MAX_BODY = 1_000_000
MAX_USER_AGENT = 512


def check_person_key(value: str, field_name: str = "person.person_key") -> str:
    if not _PERSON_KEY.fullmatch(value):
        raise InvalidArgument.field(field_name, "must be a person key (64 lower-case hex digits)")
    return value


def check_text(
    value: str, field_name: str, *, limit: int = MAX_TEXT, required: bool = False
) -> str:
    if required and not value.strip():
        raise InvalidArgument.field(field_name, "is required")
    if len(value) > limit:
        raise InvalidArgument.field(field_name, f"must be at most {limit} characters")
    return value


def check_locale(value: str, field_name: str = "locale") -> str:
    if value and not _LOCALE.fullmatch(value):
        raise InvalidArgument.field(
            field_name, "must be a BCP 47 language tag, e.g. 'en' or 'it-IT'"
        )
    return value


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def new_id() -> str:
    import uuid_utils

    return str(uuid_utils.uuid7())


def utc(moment: datetime) -> datetime:
    """UTC, truncated to the microsecond PostgreSQL keeps (so hashes survive a round trip)."""
    return moment.astimezone(UTC)


def fmt_time(moment: datetime) -> str:
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- purposes


@dataclass(frozen=True)
class Purpose:
    purpose_id: str
    account_id: str
    key: str
    name: str
    description: str
    kind: str
    category: str
    legal_basis: Basis
    double_opt_in: bool = False
    frequency_cap_count: int = 0
    frequency_cap_days: int = 0
    state: str = "active"
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def default_enabled(self) -> bool:
        """Consent is opt-in; legitimate interest and contract apply until objected to."""
        return self.legal_basis is not Basis.CONSENT

    @property
    def changeable(self) -> bool:
        """A contract purpose (SYSTEM mail) cannot be turned off."""
        return self.legal_basis is not Basis.CONTRACT

    @property
    def active(self) -> bool:
        return self.state == "active"

    def to_pb(self) -> pb.Purpose:
        message = pb.Purpose(
            purpose_id=self.purpose_id,
            key=self.key,
            name=self.name,
            description=self.description,
            kind=PURPOSE_KIND_PB[self.kind],
            category=CATEGORY_PB[self.category],
            legal_basis=BASIS_PB[self.legal_basis],
            double_opt_in=self.double_opt_in,
            state=pb.PURPOSE_STATE_ACTIVE if self.active else pb.PURPOSE_STATE_ARCHIVED,
            default_enabled=self.default_enabled,
            frequency_cap_count=self.frequency_cap_count,
            frequency_cap_days=self.frequency_cap_days,
            changeable=self.changeable,
        )
        if self.frequency_cap_days == 30:
            message.max_emails_per_month = self.frequency_cap_count
        if self.created_at:
            message.created_at.FromDatetime(self.created_at)
        if self.updated_at:
            message.updated_at.FromDatetime(self.updated_at)
        return message


def purpose_from_pb(message: pb.Purpose, account_id: str) -> Purpose:
    """Validate a purpose to create (output-only fields ignored)."""
    key = message.key.strip()
    if not _KEY.fullmatch(key) or is_uuid(key):
        raise InvalidArgument.field(
            "purpose.key", "must be 1-64 of a-z, 0-9, '_', '.', '-', starting with a letter"
        )
    check_text(message.name, "purpose.name", limit=200, required=True)
    check_text(message.description, "purpose.description")
    kind = from_pb(PURPOSE_KIND_PB, message.kind, "purpose.kind")
    basis = from_pb(BASIS_PB, message.legal_basis, "purpose.legal_basis")
    category = ""
    if kind == "email":
        category = from_pb(CATEGORY_PB, message.category, "purpose.category")
    if category == "system" and basis is not Basis.CONTRACT:
        raise InvalidArgument.field("purpose.legal_basis", "SYSTEM mail relies on the contract")
    if category == "marketing" and basis is not Basis.CONSENT:
        raise InvalidArgument.field("purpose.legal_basis", "marketing needs the person's consent")
    if kind == "engagement_tracking" and basis is not Basis.CONSENT:
        raise InvalidArgument.field("purpose.legal_basis", "personal tracking needs consent")
    if basis is Basis.CONTRACT and message.double_opt_in:
        raise InvalidArgument.field("purpose.double_opt_in", "a contract purpose needs no opt-in")
    count, days = frequency_cap(message)
    return Purpose(
        purpose_id=new_id(),
        account_id=account_id,
        key=key,
        name=message.name.strip(),
        description=message.description,
        kind=kind,
        category=category,
        legal_basis=basis,
        double_opt_in=message.double_opt_in,
        frequency_cap_count=count,
        frequency_cap_days=days,
    )


def frequency_cap(message: pb.Purpose) -> tuple[int, int]:
    count, days = message.frequency_cap_count, message.frequency_cap_days
    if not count and message.max_emails_per_month:
        count, days = message.max_emails_per_month, 30
    if count < 0 or days < 0:
        raise InvalidArgument.field("purpose.frequency_cap_count", "must not be negative")
    if count and not days:
        days = 30
    if days > 366:
        raise InvalidArgument.field("purpose.frequency_cap_days", "must be at most 366")
    return (count, days) if count else (0, 0)


UPDATABLE_PURPOSE_FIELDS = frozenset(
    {"name", "description", "double_opt_in", "frequency_cap_count", "frequency_cap_days",
     "max_emails_per_month", "state"}
)  # fmt: skip


def platform_purposes(account_id: str) -> list[Purpose]:
    """Missiva's own categories of mail to its users (seeded at start, idempotently)."""
    return [
        Purpose(
            purpose_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"missiva:{account_id}:system")),
            account_id=account_id,
            key="system",
            name="Service emails",
            description="Account, security and billing messages. Needed to run the service.",
            kind="email",
            category="system",
            legal_basis=Basis.CONTRACT,
        ),
        Purpose(
            purpose_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"missiva:{account_id}:product_update")),
            account_id=account_id,
            key="product_update",
            name="Product updates",
            description="New features and tips, at most 3 in 30 days. One click to stop them.",
            kind="email",
            category="product_update",
            legal_basis=Basis.LEGITIMATE_INTEREST,
            frequency_cap_count=3,
            frequency_cap_days=30,
        ),
        Purpose(
            purpose_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"missiva:{account_id}:marketing")),
            account_id=account_id,
            key="marketing",
            name="Offers and news",
            description="Promotions and offers. Only if you ask for them.",
            kind="email",
            category="marketing",
            legal_basis=Basis.CONSENT,
        ),
    ]


# --------------------------------------------------------------------------- state


@dataclass(frozen=True)
class State:
    """A person's current state for one purpose (the projection row)."""

    status: Status = Status.NOT_RECORDED
    restricted: bool = False
    version: int = 0
    since: datetime | None = None

    @property
    def shown(self) -> Status:
        return Status.RESTRICTED if self.restricted else self.status


def allowed(purpose: Purpose, state: State, suppressed: bool) -> bool:
    """Whether mail (or tracking) for ``purpose`` may happen now."""
    if suppressed or state.restricted or not purpose.active:
        return False
    if purpose.legal_basis is Basis.CONTRACT:
        return True
    if state.status is Status.NOT_RECORDED:
        return purpose.default_enabled
    return state.status is Status.GRANTED


def suppression_applies(reason: Reason, entry_purpose: str, purpose: Purpose | None) -> bool:
    """Whether a suppression entry stops mail for ``purpose`` (None: any mail at all).

    An unsubscription never stops SYSTEM mail (a password reset must still arrive); a bounce,
    a complaint or an erasure stops everything.
    """
    if entry_purpose and (purpose is None or entry_purpose != purpose.purpose_id):
        return False
    if reason in (Reason.UNSUBSCRIBED, Reason.MANUAL) and purpose is not None:
        return purpose.legal_basis is not Basis.CONTRACT
    return True


def withdrawal_action(purpose: Purpose) -> Action:
    """Turning a purpose off: an objection under legitimate interest, else a withdrawal."""
    return Action.OBJECT if purpose.legal_basis is Basis.LEGITIMATE_INTEREST else Action.WITHDRAW


# Sources that prove the person themselves controls the address (they count as the
# confirmation a double opt-in purpose needs, and lift their own unsubscription).
SELF_SERVICE = frozenset({Source.CONFIRMATION_LINK, Source.PREFERENCE_CENTER, Source.SIGN_UP})


def transition(purpose: Purpose, state: State, action: Action, source: Source) -> State | None:
    """The state after ``action``, or None when nothing would change (an idempotent no-op).

    Raises FailedPrecondition for what the rules forbid.
    """
    if action is Action.GRANT:
        if purpose.legal_basis is Basis.CONTRACT:
            raise FailedPrecondition(f"purpose {purpose.key} relies on the contract: no consent")
        if not purpose.active:
            raise FailedPrecondition(f"purpose {purpose.key} is archived")
        if purpose.double_opt_in and source not in SELF_SERVICE:
            raise FailedPrecondition(
                f"purpose {purpose.key} needs double opt-in: use StartDoubleOptIn",
                [("DOUBLE_OPT_IN_REQUIRED", purpose.purpose_id, "confirm by email first")],
            )
        return State(Status.GRANTED, state.restricted, state.version + 1)
    if action is Action.REQUEST:
        return State(Status.PENDING, state.restricted, state.version + 1)
    if action is Action.CONFIRM:
        return State(Status.GRANTED, state.restricted, state.version + 1)
    if action in (Action.WITHDRAW, Action.OBJECT):
        if purpose.legal_basis is Basis.CONTRACT:
            raise FailedPrecondition(
                f"{purpose.name} cannot be turned off: it is needed to run the service",
                [("PURPOSE_NOT_CHANGEABLE", purpose.purpose_id, "contract purpose")],
            )
        if state.status in (Status.WITHDRAWN, Status.OBJECTED):
            return None
        if state.status is Status.NOT_RECORDED and not purpose.default_enabled:
            return None  # never granted: there is nothing to withdraw
        final = Status.OBJECTED if action is Action.OBJECT else Status.WITHDRAWN
        return State(final, state.restricted, state.version + 1)
    if action is Action.RESTRICT:
        if state.restricted:
            return None
        return State(state.status, True, state.version + 1)
    if action is Action.LIFT:
        if not state.restricted:
            return None
        return State(state.status, False, state.version + 1)
    raise ValueError(f"{action} does not change a purpose's state")


# --------------------------------------------------------------------------- ledger entries


@dataclass(frozen=True)
class Evidence:
    """The proof that comes with an entry."""

    source: Source
    source_detail: str = ""
    checkbox_text: str = ""
    document_id: str = ""
    document_version: str = ""
    ip_hash: str = ""
    user_agent: str = ""
    campaign_id: str = ""
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class Change:
    """One entry a caller wants appended: a purpose change, or a document acceptance."""

    action: Action
    evidence: Evidence
    purpose: Purpose | None = None
    legal_basis: Basis | None = None  # acceptances: the purpose supplies it otherwise


@dataclass(frozen=True)
class LedgerEntry:
    """A ledger row as stored and hashed."""

    record_id: str
    account_id: str
    person_key: str
    seq: int
    purpose_id: str
    purpose_key: str
    action: Action
    resulting_status: Status
    state_version: int
    legal_basis: Basis
    source: Source
    source_detail: str
    campaign_id: str
    checkbox_text: str
    document_id: str
    document_version: str
    ip_hash: str
    user_agent: str
    occurred_at: datetime
    recorded_at: datetime
    prev_hash: str
    entry_hash: str = ""

    def canonical_fields(self) -> dict[str, Any]:
        """The fields as the canonical form (and the proof bundle) writes them."""
        return {
            "account_id": self.account_id,
            "action": str(self.action),
            "campaign_id": self.campaign_id,
            "checkbox_text": self.checkbox_text,
            "document_id": self.document_id,
            "document_version": self.document_version,
            "entry_hash": self.entry_hash,
            "ip_hash": self.ip_hash,
            "legal_basis": str(self.legal_basis),
            "occurred_at": fmt_time(self.occurred_at),
            "person_key": self.person_key,
            "prev_hash": self.prev_hash,
            "purpose_id": self.purpose_id,
            "purpose_key": self.purpose_key,
            "record_id": self.record_id,
            "recorded_at": fmt_time(self.recorded_at),
            "resulting_status": str(self.resulting_status),
            "seq": self.seq,
            "source": str(self.source),
            "source_detail": self.source_detail,
            "state_version": self.state_version,
            "user_agent": self.user_agent,
        }

    def sealed(self) -> LedgerEntry:
        """This entry with its hash filled in."""
        from dataclasses import replace

        return replace(self, entry_hash=entry_hash(self.canonical_fields()))

    def to_pb(self) -> pb.ConsentRecord:
        record = pb.ConsentRecord(
            record_id=self.record_id,
            person_key=self.person_key,
            purpose_id=self.purpose_id,
            action=ACTION_PB[self.action],
            resulting_status=STATUS_PB[self.resulting_status],
            source=SOURCE_PB[self.source],
            source_detail=self.source_detail,
            checkbox_text=self.checkbox_text,
            policy_document_id=self.document_id,
            policy_version=self.document_version,
            ip_hash=self.ip_hash,
            user_agent=self.user_agent,
            version=self.state_version,
            legal_basis=BASIS_PB[self.legal_basis],
            sequence=self.seq,
            previous_hash=self.prev_hash,
            entry_hash=self.entry_hash,
            campaign_id=self.campaign_id,
            account_id=self.account_id,
            purpose_key=self.purpose_key,
        )
        record.occurred_at.FromDatetime(self.occurred_at)
        record.recorded_at.FromDatetime(self.recorded_at)
        return record


def pending_record(
    purpose: Purpose, person_key: str, evidence: Evidence, at: datetime
) -> pb.ConsentRecord:
    """How a pending double opt-in is shown (it is not a ledger entry until confirmed)."""
    record = pb.ConsentRecord(
        person_key=person_key,
        purpose_id=purpose.purpose_id,
        purpose_key=purpose.key,
        account_id=purpose.account_id,
        action=pb.CONSENT_ACTION_REQUESTED,
        resulting_status=pb.CONSENT_STATUS_PENDING,
        source=SOURCE_PB[evidence.source],
        source_detail=evidence.source_detail,
        checkbox_text=evidence.checkbox_text,
        policy_document_id=evidence.document_id,
        policy_version=evidence.document_version,
        ip_hash=evidence.ip_hash,
        user_agent=evidence.user_agent,
        legal_basis=BASIS_PB[purpose.legal_basis],
    )
    record.occurred_at.FromDatetime(at)
    return record


# --------------------------------------------------------------------------- events

PURPOSE_SUBJECTS = {
    Action.GRANT: "consent.purpose.granted",
    Action.CONFIRM: "consent.purpose.granted",
    Action.WITHDRAW: "consent.purpose.withdrawn",
    Action.OBJECT: "consent.purpose.objected",
    Action.RESTRICT: "consent.purpose.restricted",
    Action.LIFT: "consent.purpose.restriction_lifted",
}
SUPPRESSED_SUBJECT = "consent.contact.suppressed"
UNSUPPRESSED_SUBJECT = "consent.contact.unsuppressed"
DOCUMENT_SUBJECT = "consent.document.published"
DIGEST_SUBJECT = "consent.digest.published"


def state_aggregate(account_id: str, person_key: str, purpose_id: str) -> str:
    return f"{account_id}:{person_key}:{purpose_id}"


def suppression_aggregate(scope: str, person_key: str, reason: Reason, purpose_id: str) -> str:
    return f"{scope or 'platform'}:{person_key}:suppression:{reason}:{purpose_id}"


def purpose_event(entry: LedgerEntry, purpose: Purpose) -> tuple[str, Message] | None:
    """The event a purpose entry publishes (none for a pending request)."""
    subject = PURPOSE_SUBJECTS.get(entry.action)
    if subject is None:
        return None
    common: dict[str, Any] = {
        "person_key": entry.person_key,
        "purpose_id": purpose.purpose_id,
        "purpose_key": purpose.key,
        "category": CATEGORY_PB[purpose.category],
        "source": SOURCE_PB[entry.source],
        "record_id": entry.record_id,
    }
    message: Message
    if entry.action in (Action.GRANT, Action.CONFIRM):
        message = events_pb2.ConsentGranted(
            **common, kind=PURPOSE_KIND_PB[purpose.kind], legal_basis=BASIS_PB[purpose.legal_basis]
        )
    elif entry.action is Action.WITHDRAW:
        message = events_pb2.ConsentWithdrawn(
            **common, kind=PURPOSE_KIND_PB[purpose.kind], campaign_id=entry.campaign_id
        )
    elif entry.action is Action.OBJECT:
        message = events_pb2.ConsentObjected(**common, campaign_id=entry.campaign_id)
    elif entry.action is Action.RESTRICT:
        message = events_pb2.ConsentRestricted(**common)
    else:
        message = events_pb2.ConsentRestrictionLifted(
            **common, resulting_status=STATUS_PB[entry.resulting_status]
        )
    return subject, message
