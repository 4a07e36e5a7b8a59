"""Legal documents: publish a version, read one, list versions, the ones in effect."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva_consent import domain, legal
from missiva_consent.core import utc_now
from missiva_consent.legal_defaults import publish_document
from missiva_consent.rpc_base import ConsentRpcs
from missiva_consent.store import base as db
from missiva_consent.store import documents as document_store
from missiva_platform.auth import current_principal_or_none, current_tenant
from missiva_platform.errors import AlreadyExists, InvalidArgument, NotFound
from missiva_platform.pagination import page_size

LIST_VERSIONS = "consent.ListDocumentVersions"


class DocumentRpcs(ConsentRpcs):
    def _document_accounts(self) -> list[str]:
        principal = current_principal_or_none()
        accounts = [self.svc.platform]
        if (
            principal is not None
            and principal.tenant_id
            and principal.tenant_id != self.svc.platform
        ):
            accounts.append(principal.tenant_id)
        return accounts

    async def PublishDocumentVersion(self, request: Any, context: Any) -> Any:
        account = current_tenant()
        document = legal.document_from_pb(
            request.document,
            account_id=account,
            platform_account_id=self.svc.platform,
            now=utc_now(),
        )

        async def work(conn: db.Conn) -> pb.PublishDocumentVersionResponse:
            if not await publish_document(conn, document):
                raise AlreadyExists(
                    f"version {document.version} of {document.document_id} ({document.locale}) "
                    "is already published and cannot change: publish a new version"
                )
            return pb.PublishDocumentVersionResponse(document=document.to_pb())

        return await self._once(
            "PublishDocumentVersion", request, pb.PublishDocumentVersionResponse, work
        )

    async def GetDocument(self, request: Any, context: Any) -> Any:
        if not request.document_id:
            raise InvalidArgument.field("document_id", "is required")
        locale = domain.check_locale(request.locale) or "en"
        accounts = self._document_accounts()
        async with self.pool.connection() as conn:
            if request.version:
                found = await document_store.document_version(
                    conn, accounts, request.document_id, request.version, locale
                )
            else:
                current = await document_store.current_documents(
                    conn, accounts, now=utc_now(), locale=locale, document_id=request.document_id
                )
                # The account's own document wins over a platform one of the same id.
                current.sort(key=lambda d: d.account_id == self.svc.platform)
                found = current[0] if current else None
        if found is None:
            raise NotFound(
                f"no document {request.document_id!r} (version {request.version or 'in effect'})"
            )
        return pb.GetDocumentResponse(document=found.to_pb())

    async def ListDocumentVersions(self, request: Any, context: Any) -> Any:
        if not request.document_id:
            raise InvalidArgument.field("document_id", "is required")
        limit = page_size(request.page_size)
        accounts = self._document_accounts()
        bound = (request.document_id, *accounts)
        position = self.svc.pages.read(
            request.page_token, LIST_VERSIONS, (datetime, str, str), bound_to=bound
        )
        before = (position[0], position[1], position[2]) if position else None
        async with self.pool.connection() as conn:
            found = await document_store.document_versions(
                conn, accounts, request.document_id, before=before, limit=limit + 1
            )
        reply = pb.ListDocumentVersionsResponse(
            documents=[d.to_pb(with_body=False) for d in found[:limit]]
        )
        if len(found) > limit:
            last = found[limit - 1]
            reply.next_page_token = self.svc.pages.issue(
                LIST_VERSIONS, [last.published_at, last.version, last.locale], bound_to=bound
            )
        return reply

    async def GetCurrentDocuments(self, request: Any, context: Any) -> Any:
        kinds = {domain.from_pb(domain.KIND_PB, k, "kinds") for k in request.kinds}
        locale = domain.check_locale(request.locale) or "en"
        async with self.pool.connection() as conn:
            found = await document_store.current_documents(
                conn, self._document_accounts(), now=utc_now(), locale=locale
            )
        return pb.GetCurrentDocumentsResponse(
            documents=[d.to_pb() for d in found if not kinds or d.kind in kinds]
        )
