"""Privacy requests: open (``dsar.py``), read, list, extend, and download the export.

Who may see or manage a request is decided here from the verified caller (an admin or a key
with ``privacy:read``/``privacy:write``, the signed-in person, or a my-data token); the
download is authorised by the signed token of its link.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from missiva.consent.v1 import consent_service_pb2 as pb
from missiva.privacy.v1 import events_pb2 as privacy_events
from missiva.privacy.v1 import privacy_service_pb2 as ppb
from missiva_consent import domain, links
from missiva_consent.core import utc_now
from missiva_consent.dsar import (
    EXPORT_TOKEN,
    MAX_EXTENSION_DAYS,
    MAX_REASON,
    READ_SCOPE,
    STATUS_OF_PB,
    WRITE_SCOPE,
    export_aad,
    may_manage,
    parse_request_id,
    stamp,
)
from missiva_consent.links import LinkScope
from missiva_consent.rpc_base import ConsentRpcs
from missiva_consent.store import privacy_requests as dsar_store
from missiva_consent.store.privacy_requests import RequestRow
from missiva_platform.auth import CallerKind, Principal, current_principal_or_none
from missiva_platform.crypto import DecryptionError, InvalidToken
from missiva_platform.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from missiva_platform.pagination import page_size

log = logging.getLogger(__name__)

# A download in one message must stay under a client's default 4 MiB receive limit; a larger
# export is streamed (StreamPrivacyExport) in pieces of EXPORT_CHUNK_BYTES.
MAX_SINGLE_MESSAGE_BYTES = 4 * 1024 * 1024 - 64 * 1024
EXPORT_CHUNK_BYTES = 1024 * 1024

LIST_REQUESTS = "consent.ListPrivacyRequests"


class PrivacyRequestRpcs(ConsentRpcs):
    async def OpenPrivacyRequest(self, request: Any, context: Any) -> Any:
        return await self.privacy_requests.open(request)

    async def GetPrivacyRequest(self, request: Any, context: Any) -> Any:
        request_id = parse_request_id(request.request_id, "request_id")
        scope = (
            self.privacy_requests.verified_scope(request.verification_token, "verification_token")
            if request.verification_token
            else None
        )
        principal = current_principal_or_none()
        if scope is None and principal is None:
            raise Unauthenticated(
                "this call needs an access token or the verification_token of a my-data link"
            )
        async with self.svc.pool.connection() as conn:
            row = await dsar_store.find_request(conn, request_id)
            if row is None or not self._may_see(row, principal, scope):
                raise NotFound(f"request_id: no privacy request {request_id}")
            progress = await dsar_store.progress_of(conn, [row.request_id])
        return pb.GetPrivacyRequestResponse(
            privacy_request=self.privacy_requests.to_pb(row, progress[row.request_id])
        )

    def _may_see(
        self, row: RequestRow, principal: Principal | None, scope: LinkScope | None
    ) -> bool:
        if scope is not None:
            return (row.account_id, row.person_key) == (scope.account_id, scope.person_key)
        if principal is None or principal.kind is CallerKind.SERVICE:
            return False
        if row.account_id == "":
            if row.user_id == principal.subject and principal.kind is CallerKind.USER:
                return True
            return principal.tenant_id == self.svc.platform and may_manage(principal, READ_SCOPE)
        return row.account_id == principal.tenant_id and may_manage(principal, READ_SCOPE)

    async def ListPrivacyRequests(self, request: Any, context: Any) -> Any:
        principal = current_principal_or_none()
        if principal is None or not principal.tenant_id:
            raise PermissionDenied("this call needs a caller acting for an account")
        if not may_manage(principal, READ_SCOPE):
            raise PermissionDenied(
                "only an account admin, or an API key with the privacy:read scope, lists "
                "privacy requests"
            )
        status = ""
        if request.status:
            if request.status not in STATUS_OF_PB:
                raise InvalidArgument.field("status", "is not a privacy request status")
            status = STATUS_OF_PB[request.status]
        limit = page_size(request.page_size)
        accounts = [principal.tenant_id]
        if principal.tenant_id == self.svc.platform:
            accounts.append("")  # Missiva's own users' requests are the platform's
        bound = (principal.tenant_id, status)
        position = self.svc.pages.read(
            request.page_token, LIST_REQUESTS, (datetime, str), bound_to=bound
        )
        after = (position[0], position[1]) if position else _START
        async with self.svc.pool.connection() as conn:
            rows = await dsar_store.list_requests(
                conn, accounts, status=status, after=after, limit=limit + 1
            )
            progress = await dsar_store.progress_of(conn, [r.request_id for r in rows[:limit]])
        reply = pb.ListPrivacyRequestsResponse(
            privacy_requests=[
                self.privacy_requests.to_pb(r, progress[r.request_id]) for r in rows[:limit]
            ]
        )
        if len(rows) > limit:
            last = rows[limit - 1]
            reply.next_page_token = self.svc.pages.issue(
                LIST_REQUESTS, [last.due_at, last.request_id], bound_to=bound
            )
        return reply

    async def ExtendPrivacyRequest(self, request: Any, context: Any) -> Any:
        request_id = parse_request_id(request.request_id, "request_id")
        principal = current_principal_or_none()
        if principal is None or not principal.tenant_id:
            raise PermissionDenied("this call needs a caller acting for an account")
        if not may_manage(principal, WRITE_SCOPE):
            raise PermissionDenied(
                "only an account admin, or an API key with the privacy:write scope, extends a "
                "privacy request"
            )
        if not 1 <= request.days <= MAX_EXTENSION_DAYS:
            raise InvalidArgument.field("days", f"must be 1 to {MAX_EXTENSION_DAYS}")
        reason = request.reason.strip()
        if not reason:
            raise InvalidArgument.field("reason", "is required: the person is told why")
        if len(reason) > MAX_REASON:
            raise InvalidArgument.field("reason", f"must be at most {MAX_REASON} characters")
        now = utc_now()
        async with self.svc.pool.connection() as conn, conn.transaction():
            row = await dsar_store.find_request(conn, request_id, lock=True)
            if row is None or not self._may_see(row, principal, None):
                raise NotFound(f"request_id: no privacy request {request_id}")
            if row.completed_at is not None or row.status == "rejected":
                raise FailedPrecondition("the request is finished: there is nothing to extend")
            if row.extension_reason:
                raise FailedPrecondition("the request was extended already (once at most)")
            if row.due_at <= now:
                raise FailedPrecondition(
                    "the deadline has passed: an extension must be announced before it"
                )
            extended = await dsar_store.extend(
                conn, request_id, days=request.days, reason=reason, now=now
            )
            assert extended is not None  # the row is locked and every condition held
            progress = await dsar_store.progress_of(conn, [request_id])
        log.info("privacy request extended", extra={"request_id": request_id, "days": request.days})
        return pb.ExtendPrivacyRequestResponse(
            privacy_request=self.privacy_requests.to_pb(extended, progress[request_id])
        )

    # -- download ----------------------------------------------------------------------------

    async def DownloadPrivacyExport(self, request: Any, context: Any) -> Any:
        row, bundle, expires = await self._export(request.token)
        if len(bundle) > MAX_SINGLE_MESSAGE_BYTES:
            raise FailedPrecondition(
                f"this export is {len(bundle)} bytes, more than one message carries; "
                "download it with StreamPrivacyExport",
                [("EXPORT_TOO_LARGE", "token", "use StreamPrivacyExport")],
            )
        return pb.DownloadPrivacyExportResponse(
            request_id=row.request_id,
            media_type="application/json",
            file_name=f"missiva-export-{row.request_id}.json",
            content=bundle,
            expires_at=stamp(expires),
        )

    async def StreamPrivacyExport(self, request: Any, context: Any) -> AsyncIterator[Any]:
        row, bundle, expires = await self._export(request.token)
        yield pb.StreamPrivacyExportResponse(
            request_id=row.request_id,
            media_type="application/json",
            file_name=f"missiva-export-{row.request_id}.json",
            expires_at=stamp(expires),
            total_bytes=len(bundle),
            chunk=bundle[:EXPORT_CHUNK_BYTES],
        )
        for start in range(EXPORT_CHUNK_BYTES, len(bundle), EXPORT_CHUNK_BYTES):
            yield pb.StreamPrivacyExportResponse(chunk=bundle[start : start + EXPORT_CHUNK_BYTES])

    async def _export(self, token: str) -> tuple[RequestRow, bytes, datetime]:
        """The finished export a download token names, as its JSON bundle and expiry."""
        if not token:
            raise InvalidArgument.field("token", "is required")
        try:
            claims = self.svc.keys.tokens.verify(token, EXPORT_TOKEN)
        except InvalidToken as exc:
            message = links.TOKEN_MESSAGES[exc.reason]
            if exc.reason == "expired":
                raise FailedPrecondition(
                    "this export has expired", [("EXPORT_EXPIRED", "token", message)]
                ) from None
            raise InvalidArgument.field("token", message) from None
        request_id = parse_request_id(str(claims.get("r", "")), "token")
        now = utc_now()
        async with self.svc.pool.connection() as conn:
            row = await dsar_store.find_request(conn, request_id)
            if row is None or row.kind != "export":
                raise NotFound("this export does not exist")
            if row.completed_at is None:
                raise FailedPrecondition("this export is not complete yet")
            expires = row.completed_at + self.privacy_requests.export_window
            if row.export_deleted_at is not None or expires <= now:
                raise FailedPrecondition(
                    "this export has expired: its content was deleted",
                    [("EXPORT_EXPIRED", "token", "ask for a new export")],
                )
            parts = await dsar_store.parts_of(conn, request_id)
        bundle = self._bundle(row, parts)
        log.info(
            "privacy export downloaded",
            extra={"request_id": request_id, "services": len(parts), "bytes": len(bundle)},
        )
        return row, bundle, expires

    def _bundle(self, row: RequestRow, parts: list[tuple[str, bytes]]) -> bytes:
        cipher = self.svc.keys.field_cipher
        services = []
        for service, sealed in parts:
            try:
                clear = cipher.decrypt(sealed, export_aad(row.request_id, service))
            except DecryptionError as exc:  # a retired key or tampering: say so, loudly
                log.error(
                    "privacy export part does not decrypt",
                    extra={"request_id": row.request_id, "service": service, "reason": exc.reason},
                )
                raise FailedPrecondition(
                    f"the part of {service} cannot be read; the operators were alerted"
                ) from None
            answer = privacy_events.PersonDataExported.FromString(clear)
            services.append(
                {"service": service, "sections": [_section(s) for s in answer.sections]}
            )
        document = {
            "request_id": row.request_id,
            "kind": row.kind,
            "opened_at": domain.fmt_time(row.opened_at),
            "completed_at": domain.fmt_time(row.completed_at) if row.completed_at else None,
            "person": {"person_key": row.person_key, "user_id": row.user_id},
            "services": services,
        }
        return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")


_START = (datetime(1970, 1, 1, tzinfo=UTC), "00000000-0000-0000-0000-000000000000")


def _section(section: ppb.DataSection) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": section.name,
        "description": section.description,
        "media_type": section.media_type,
    }
    content = bytes(section.content)
    if section.media_type == "application/json":
        try:
            item["content"] = json.loads(content)
            return item
        except ValueError:
            pass
    try:
        item["content_text"] = content.decode("utf-8")
    except UnicodeDecodeError:
        item["content_base64"] = base64.b64encode(content).decode("ascii")
    return item
