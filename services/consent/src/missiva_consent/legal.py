"""Legal documents (terms, privacy notices, DPAs), their notice periods and events, and the
proof bundle ``ExportProof`` returns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.consent.v1 import events_pb2
from missiva_consent.domain import (
    _DOC_ID,
    _VERSION,
    KIND_PB,
    MAX_BODY,
    DocumentKind,
    LedgerEntry,
    check_locale,
    check_text,
    fmt_time,
    from_pb,
    utc,
)
from missiva_platform.errors import InvalidArgument

# --------------------------------------------------------------------------- documents

PLATFORM_KINDS = frozenset(
    {
        DocumentKind.TERMS_OF_SERVICE,
        DocumentKind.PRIVACY_POLICY,
        DocumentKind.DATA_PROCESSING_AGREEMENT,
        DocumentKind.COOKIE_POLICY,
        DocumentKind.SUB_PROCESSOR_LIST,
    }
)
MATERIAL_NOTICE = timedelta(days=14)
SUB_PROCESSOR_NOTICE = timedelta(days=30)


@dataclass(frozen=True)
class Document:
    account_id: str
    document_id: str
    version: str
    locale: str
    kind: DocumentKind
    title: str
    body_markdown: str
    body_sha256: str
    url: str
    checkbox_text: str
    material: bool
    summary_of_changes: str
    published_at: datetime
    effective_at: datetime
    notice_at: datetime | None = None

    def to_pb(self, *, with_body: bool = True) -> pb.LegalDocumentVersion:
        message = pb.LegalDocumentVersion(
            document_id=self.document_id,
            kind=KIND_PB[self.kind],
            version=self.version,
            title=self.title,
            locale=self.locale,
            body_markdown=self.body_markdown if with_body else "",
            body_sha256=self.body_sha256,
            url=self.url,
            checkbox_text=self.checkbox_text,
            material=self.material,
            summary_of_changes=self.summary_of_changes,
            account_id=self.account_id,
        )
        message.published_at.FromDatetime(self.published_at)
        message.effective_at.FromDatetime(self.effective_at)
        if self.notice_at:
            message.notice_at.FromDatetime(self.notice_at)
        return message


def document_from_pb(
    message: pb.LegalDocumentVersion,
    *,
    account_id: str,
    platform_account_id: str,
    now: datetime,
) -> Document:
    """Validate a version to publish; the server sets published_at, the hash and notice_at."""
    kind = from_pb(KIND_PB, message.kind, "document.kind")
    if kind in PLATFORM_KINDS and account_id != platform_account_id:
        raise InvalidArgument.field(
            "document.kind", "an account publishes only its own privacy notice"
        )
    if kind is DocumentKind.ACCOUNT_PRIVACY_NOTICE and account_id == platform_account_id:
        raise InvalidArgument.field("document.kind", "the platform publishes a privacy policy")
    if not _DOC_ID.fullmatch(message.document_id):
        raise InvalidArgument.field("document.document_id", "must be 1-64 of a-z, 0-9, _ . -")
    if not _VERSION.fullmatch(message.version):
        raise InvalidArgument.field("document.version", "must be 1-64 of A-Z a-z 0-9 _ . + -")
    check_text(message.title, "document.title", limit=300, required=True)
    check_text(message.body_markdown, "document.body_markdown", limit=MAX_BODY, required=True)
    check_text(message.checkbox_text, "document.checkbox_text")
    check_text(message.summary_of_changes, "document.summary_of_changes", limit=10_000)
    check_text(message.url, "document.url", limit=500)
    locale = check_locale(message.locale or "en", "document.locale")
    published = utc(now)
    effective = (
        utc(message.effective_at.ToDatetime(UTC)) if message.HasField("effective_at") else published
    )
    if effective < published - timedelta(minutes=5):
        raise InvalidArgument.field("document.effective_at", "must not be in the past")
    notice_at: datetime | None = None
    if kind is DocumentKind.SUB_PROCESSOR_LIST:
        if effective < published + SUB_PROCESSOR_NOTICE:
            raise InvalidArgument.field(
                "document.effective_at",
                "a sub-processor change is announced 30 days before it takes effect",
            )
        notice_at = published
    if message.material:
        if effective < published + MATERIAL_NOTICE:
            raise InvalidArgument.field(
                "document.effective_at",
                "a material change takes effect at least 14 days after publication",
            )
        notice_at = effective - MATERIAL_NOTICE
    body_hash = hashlib.sha256(message.body_markdown.encode("utf-8")).hexdigest()
    return Document(
        account_id=account_id,
        document_id=message.document_id,
        version=message.version,
        locale=locale,
        kind=kind,
        title=message.title.strip(),
        body_markdown=message.body_markdown,
        body_sha256=body_hash,
        url=message.url,
        checkbox_text=message.checkbox_text,
        material=message.material,
        summary_of_changes=message.summary_of_changes,
        published_at=published,
        effective_at=effective,
        notice_at=notice_at,
    )


def published_event(document: Document) -> events_pb2.LegalDocumentPublished:
    message = events_pb2.LegalDocumentPublished(
        document_id=document.document_id,
        kind=KIND_PB[document.kind],
        version=document.version,
        title=document.title,
        url=document.url,
        material=document.material,
        summary_of_changes=document.summary_of_changes,
        account_id=document.account_id,
        locale=document.locale,
    )
    message.effective_at.FromDatetime(document.effective_at)
    if document.notice_at:
        message.notice_at.FromDatetime(document.notice_at)
    return message


# --------------------------------------------------------------------------- daily digest


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


@dataclass
class ProofBundle:
    """What ``ExportProof`` returns as JSON (see verify_proof.py for the checks)."""

    account_id: str
    person_key: str
    entries: list[LedgerEntry]
    digest: dict[str, Any] | None = None
    documents: list[dict[str, Any]] = field(default_factory=list)

    def to_json_dict(self, generated_at: datetime) -> dict[str, Any]:
        from missiva_consent.verify_proof import FORMAT

        return {
            "format": FORMAT,
            "algorithm": "sha256",
            "canonical_form": (
                "JSON of every entry field except entry_hash; keys sorted; separators ',' and "
                "':'; UTF-8 without \\u escapes; times UTC YYYY-MM-DDTHH:MM:SS.ffffffZ"
            ),
            "verify_with": "python -m missiva_consent.verify_proof bundle.json",
            "generated_at": fmt_time(generated_at),
            "account_id": self.account_id,
            "person_key": self.person_key,
            "entries": [entry.canonical_fields() for entry in self.entries],
            "digest": self.digest,
            "documents": self.documents,
        }
