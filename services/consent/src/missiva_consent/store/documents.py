"""Legal documents: immutable versions and the ones in effect.

Every function takes an open connection and runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from missiva_consent import domain
from missiva_consent.legal import Document
from missiva_consent.store.base import Conn

DOCUMENT_COLUMNS = (
    "account_id, document_id, version, locale, kind, title, body_markdown, body_sha256, url, "
    "checkbox_text, material, summary_of_changes, published_at, effective_at, notice_at"
)

_INSERT_DOCUMENT = f"""
INSERT INTO legal_documents ({DOCUMENT_COLUMNS})
VALUES ({", ".join(["%s"] * 15)})
ON CONFLICT DO NOTHING
RETURNING account_id
"""

_DOCUMENT_VERSION = f"""
SELECT {DOCUMENT_COLUMNS} FROM legal_documents
WHERE account_id = ANY(%(accounts)s) AND document_id = %(document)s AND version = %(version)s
ORDER BY (locale = %(locale)s) DESC, published_at LIMIT 1
"""


# The version in effect: the latest effective one, in the wanted locale when it exists.
_CURRENT_DOCUMENTS = f"""
SELECT DISTINCT ON (account_id, document_id) {DOCUMENT_COLUMNS} FROM legal_documents
WHERE account_id = ANY(%(accounts)s) AND effective_at <= %(now)s
  AND (%(document)s = '' OR document_id = %(document)s)
ORDER BY account_id, document_id, effective_at DESC, (locale = %(locale)s) DESC,
         published_at DESC
"""

_DOCUMENT_VERSIONS = f"""
SELECT {DOCUMENT_COLUMNS} FROM legal_documents
WHERE account_id = ANY(%(accounts)s) AND document_id = %(document)s
  AND (%(first)s OR (published_at, version, locale) < (%(at)s, %(version)s, %(locale)s))
ORDER BY published_at DESC, version DESC, locale DESC LIMIT %(limit)s
"""


def document_of_row(row: Sequence[Any]) -> Document:
    return Document(
        account_id=row[0],
        document_id=row[1],
        version=row[2],
        locale=row[3],
        kind=domain.DocumentKind(row[4]),
        title=row[5],
        body_markdown=row[6],
        body_sha256=row[7],
        url=row[8],
        checkbox_text=row[9],
        material=row[10],
        summary_of_changes=row[11],
        published_at=row[12],
        effective_at=row[13],
        notice_at=row[14],
    )


async def insert_document(conn: Conn, document: Document) -> bool:
    cur = await conn.execute(
        _INSERT_DOCUMENT,
        (
            document.account_id, document.document_id, document.version, document.locale,
            str(document.kind), document.title, document.body_markdown, document.body_sha256,
            document.url, document.checkbox_text, document.material,
            document.summary_of_changes, document.published_at, document.effective_at,
            document.notice_at,
        ),
    )  # fmt: skip
    return await cur.fetchone() is not None


async def document_version(
    conn: Conn, accounts: list[str], document_id: str, version: str, locale: str
) -> Document | None:
    cur = await conn.execute(
        _DOCUMENT_VERSION,
        {"accounts": accounts, "document": document_id, "version": version, "locale": locale},
    )
    row = await cur.fetchone()
    return document_of_row(row) if row else None


async def current_documents(
    conn: Conn, accounts: list[str], *, now: datetime, locale: str, document_id: str = ""
) -> list[Document]:
    cur = await conn.execute(
        _CURRENT_DOCUMENTS,
        {"accounts": accounts, "now": now, "locale": locale, "document": document_id},
    )
    return [document_of_row(row) for row in await cur.fetchall()]


async def document_versions(
    conn: Conn,
    accounts: list[str],
    document_id: str,
    *,
    before: tuple[datetime, str, str] | None,
    limit: int,
) -> list[Document]:
    at, version, locale = before or (datetime.now(UTC), "", "")
    cur = await conn.execute(
        _DOCUMENT_VERSIONS,
        {
            "accounts": accounts,
            "document": document_id,
            "first": before is None,
            "at": at,
            "version": version,
            "locale": locale,
            "limit": limit,
        },
    )
    return [document_of_row(row) for row in await cur.fetchall()]
