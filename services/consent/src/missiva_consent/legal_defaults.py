"""Missiva's own legal documents: publishing a version, the default drafts, and the operator
command.

- ``publish_document`` is the one way a version gets published (``PublishDocumentVersion``
  uses it too): the immutable row and its ``LegalDocumentPublished`` event, in one
  transaction. Identity learns the current versions from that event, so its sign-up and
  re-acceptance flows work the same whichever way a version was published.
- At first start consent publishes the default Terms of Service and Privacy Policy (English
  and Italian, in ``documents/``, plainly marked as drafts) for the platform account, for each
  document that has no version yet. A transaction-scoped advisory lock makes two replicas
  starting together publish once; a restart finds the versions and publishes nothing.
- ``python -m missiva_consent publish-document`` publishes a new version from a file.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva_consent import domain, legal
from missiva_consent.config import ConsentSettings
from missiva_consent.store import base as db
from missiva_consent.store import documents as document_store
from missiva_platform.errors import InvalidArgument
from missiva_platform.service import ServiceApp

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

DOCUMENTS = Path(__file__).parent / "documents"
DEFAULT_VERSION = "0.1-draft"
_LOCK = "consent:default-platform-documents"

KINDS = {
    "terms": pb.DOCUMENT_KIND_TERMS_OF_SERVICE,
    "privacy": pb.DOCUMENT_KIND_PRIVACY_POLICY,
    "dpa": pb.DOCUMENT_KIND_DATA_PROCESSING_AGREEMENT,
    "cookies": pb.DOCUMENT_KIND_COOKIE_POLICY,
    "subprocessors": pb.DOCUMENT_KIND_SUB_PROCESSOR_LIST,
}

# The sign-up form shows this text beside the box; identity records it with the acceptance.
CHECKBOX_TEXT = {
    ("terms", "en"): "I have read and accept the Terms of Service",
    ("terms", "it"): "Ho letto e accetto le Condizioni di servizio",
    ("privacy", "en"): "I have read the Privacy Policy",
    ("privacy", "it"): "Ho letto l'Informativa privacy",
}


@dataclass(frozen=True)
class DefaultDocument:
    document_id: str  # what identity's REQUIRED_LEGAL_DOCUMENTS names
    kind: str
    locale: str

    @property
    def path(self) -> Path:
        return DOCUMENTS / f"{self.document_id}.{self.locale}.md"


DEFAULTS = tuple(
    DefaultDocument(document_id, document_id, locale)
    for document_id in ("terms", "privacy")
    for locale in ("en", "it")
)


async def publish_document(conn: db.Conn, document: legal.Document) -> bool:
    """Store ``document`` and announce it, in the caller's transaction; ``False`` when that
    version (in that locale) is already published (versions never change)."""
    if not await document_store.insert_document(conn, document):
        return False
    aggregate = f"{document.account_id}:document:{document.document_id}"
    await db.emit(
        conn,
        legal.published_event(document),
        subject=domain.DOCUMENT_SUBJECT,
        tenant_id=document.account_id,
        aggregate_id=aggregate,
        aggregate_version=await db.next_version(conn, aggregate),
    )
    return True


def title_of(body: str) -> str:
    """The first Markdown heading of ``body``."""
    for line in body.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return ""


def document_from_file(
    *,
    path: Path,
    document_id: str,
    kind: str,
    locale: str,
    version: str,
    platform_account_id: str,
    now: datetime,
    title: str = "",
    checkbox_text: str = "",
    material: bool = False,
    effective_at: datetime | None = None,
    summary_of_changes: str = "",
    url: str = "",
) -> legal.Document:
    """A version of a platform document read from ``path``, checked by the same rules as
    ``PublishDocumentVersion`` (``InvalidArgument`` names what is wrong)."""
    if kind not in KINDS:
        raise InvalidArgument.field("kind", f"must be one of {', '.join(KINDS)}")
    try:
        body = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument.field("file", f"cannot be read ({exc})") from None
    language = locale.split("-", 1)[0].lower()
    message = pb.LegalDocumentVersion(
        document_id=document_id,
        kind=KINDS[kind],
        version=version,
        title=title or title_of(body),
        locale=locale,
        body_markdown=body,
        url=url,
        checkbox_text=checkbox_text or CHECKBOX_TEXT.get((document_id, language), ""),
        material=material,
        summary_of_changes=summary_of_changes,
    )
    if effective_at is not None:
        message.effective_at.FromDatetime(effective_at)
    return legal.document_from_pb(
        message, account_id=platform_account_id, platform_account_id=platform_account_id, now=now
    )


async def publish_defaults(
    conn: db.Conn, platform_account_id: str, *, now: datetime | None = None
) -> list[legal.Document]:
    """Publish each default document that has no version at all yet; what was published."""
    now = now or datetime.now(UTC)
    published: list[legal.Document] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_LOCK,))
        cur = await conn.execute(
            "SELECT DISTINCT document_id FROM legal_documents WHERE account_id = %s",
            (platform_account_id,),
        )
        existing = {row[0] for row in await cur.fetchall()}
        for default in DEFAULTS:
            if default.document_id in existing:
                continue
            document = document_from_file(
                path=default.path,
                document_id=default.document_id,
                kind=default.kind,
                locale=default.locale,
                version=DEFAULT_VERSION,
                platform_account_id=platform_account_id,
                now=now,
            )
            if await publish_document(conn, document):
                published.append(document)
    return published


async def ensure_defaults(pool: AsyncConnectionPool, platform_account_id: str) -> None:
    async with pool.connection() as conn:
        published = await publish_defaults(conn, platform_account_id)
    for document in published:
        log.warning(
            "published the DRAFT default %s (%s, version %s): replace it with your own",
            document.document_id, document.locale, document.version,
        )  # fmt: skip


def publish_defaults_at_start(app: ServiceApp, settings: ConsentSettings) -> None:
    """At every start, publish the default documents where none exist (the kit logs a failure
    and serves anyway: the next start tries again)."""
    if not settings.publish_default_documents:
        return

    async def publish() -> None:
        assert app.pool is not None
        await ensure_defaults(app.pool, settings.platform_account_id)

    app.add_startup("default-legal-documents", publish)


# --------------------------------------------------------------------------- the command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m missiva_consent publish-document",
        description="Publish a new version of one of Missiva's own legal documents from a "
        "Markdown file. Published versions never change: fix a mistake with a new version.",
    )
    parser.add_argument("--kind", required=True, choices=sorted(KINDS))
    parser.add_argument("--locale", required=True, help="BCP 47 tag, e.g. en or it")
    parser.add_argument("--file", required=True, type=Path, help="the Markdown body")
    parser.add_argument("--version", required=True, help="e.g. 2027-01 (1-64 of A-Z a-z 0-9 _.+-)")
    parser.add_argument(
        "--document-id",
        help="the id identity asks users to accept (default: the kind, e.g. terms, privacy)",
    )
    parser.add_argument("--title", default="", help="default: the file's first '# ' heading")
    parser.add_argument("--checkbox-text", default="", help="text shown beside the accept box")
    parser.add_argument("--url", default="", help="where the document is published, if anywhere")
    parser.add_argument(
        "--material",
        action="store_true",
        help="a change users must accept again: announced by email, effective 14 days later",
    )
    parser.add_argument("--effective-at", help="ISO 8601 time it takes effect (default: now)")
    parser.add_argument("--summary", default="", help="what changed (required with --material)")
    return parser


async def publish_document_command(app: ServiceApp, argv: list[str]) -> int:
    """``publish-document``: needs only ``DATABASE_URL``; the running service's relay
    publishes the event identity learns the new version from."""
    args = _parser().parse_args(argv)
    settings = app.settings
    assert isinstance(settings, ConsentSettings)
    effective: datetime | None = None
    if args.effective_at:
        try:
            effective = datetime.fromisoformat(args.effective_at)
        except ValueError:
            print("publish-document: --effective-at must be an ISO 8601 time")
            return 2
        if effective.tzinfo is None:
            effective = effective.replace(tzinfo=UTC)
    if args.material and not args.summary.strip():
        print("publish-document: --material needs --summary (it is in the notice email)")
        return 2
    try:
        document = document_from_file(
            path=args.file,
            document_id=args.document_id or args.kind,
            kind=args.kind,
            locale=args.locale,
            version=args.version,
            platform_account_id=settings.platform_account_id,
            now=datetime.now(UTC),
            title=args.title,
            checkbox_text=args.checkbox_text,
            material=args.material,
            effective_at=effective,
            summary_of_changes=args.summary,
            url=args.url,
        )
    except InvalidArgument as exc:
        print(f"publish-document: {exc}")
        return 2
    conn: Any = await psycopg.AsyncConnection.connect(settings.database_url)
    async with conn, conn.transaction():
        published = await publish_document(conn, document)
    if not published:
        print(
            f"publish-document: {document.document_id} version {document.version} "
            f"({document.locale}) is already published; publish a new version"
        )
        return 1
    print(
        f"publish-document: published {document.document_id} version {document.version} "
        f"({document.locale}), effective {document.effective_at.isoformat()}"
    )
    return 0


COMMANDS = {"publish-document": publish_document_command}
