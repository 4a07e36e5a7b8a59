"""Outbound webhook RPCs: endpoints (create, list, get, update, delete, rotate the secret),
a test event, and an endpoint's recent deliveries.

The tenant comes from the caller's token and every query filters by it: another account's
endpoint id is NOT_FOUND. A signing secret is returned by the create and the rotation only
(replays of the same idempotency key open it again from its encrypted column: the
idempotency store never holds it).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from google.protobuf import timestamp_pb2

from missiva.delivery.v1 import delivery_service_pb2 as pb
from missiva_delivery import hooks_domain as hd
from missiva_delivery.store import hooks as store
from missiva_platform.auth import CallerKind, current_principal
from missiva_platform.crypto import TokenKeyring
from missiva_platform.errors import FailedPrecondition, InvalidArgument, NotFound
from missiva_platform.idempotency import run_once
from missiva_platform.pagination import PageTokens, page_size
from missiva_platform.secrets import load_token_keyring

if TYPE_CHECKING:
    from missiva_delivery.core import DeliveryCore

ENDPOINTS_LISTING = "delivery.ListWebhookEndpoints"
DELIVERIES_LISTING = "delivery.ListWebhookDeliveries"
MAX_ENDPOINTS = 20
UPDATABLE = ("url", "description", "event_types", "enabled")
DELIVERY_STATUS_PB = {
    "pending": pb.WEBHOOK_DELIVERY_STATUS_PENDING,
    "delivering": pb.WEBHOOK_DELIVERY_STATUS_DELIVERING,
    "delivered": pb.WEBHOOK_DELIVERY_STATUS_DELIVERED,
    "failed": pb.WEBHOOK_DELIVERY_STATUS_FAILED,
}


def _stamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def _copy_stamps(target: Any, row: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        stamp = _stamp(row[name])
        if stamp is not None:
            getattr(target, name).CopyFrom(stamp)


def endpoint_pb(row: dict[str, Any]) -> pb.WebhookEndpoint:
    reply = pb.WebhookEndpoint(
        webhook_endpoint_id=row["id"],
        url=row["url"],
        description=row["description"],
        event_types=list(row["event_types"]),
        enabled=row["enabled"],
        disabled_reason=row["disabled_reason"],
    )
    _copy_stamps(reply, row, ("created_at", "updated_at", "secret_rotated_at", "failing_since"))
    return reply


def delivery_pb(row: dict[str, Any]) -> pb.WebhookDelivery:
    reply = pb.WebhookDelivery(
        webhook_delivery_id=row["id"],
        webhook_endpoint_id=row["endpoint_id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        status=DELIVERY_STATUS_PB[row["status"]],  # type: ignore[arg-type]
        attempts=row["attempts"],
        last_status_code=row["last_status_code"],
        last_response_excerpt=row["last_response"],
        last_error=row["last_error"],
        last_duration_ms=row["last_duration_ms"],
    )
    _copy_stamps(reply, row, ("created_at", "last_attempt_at", "delivered_at"))
    if row["status"] == "pending":
        _copy_stamps(reply, row, ("next_attempt_at",))
    return reply


def _endpoint_id(value: str) -> str:
    if not value:
        raise InvalidArgument.field("webhook_endpoint_id", "is required")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument.field("webhook_endpoint_id", "is not a webhook endpoint id") from None


class WebhookRpcs:
    core: DeliveryCore
    _hook_pages: PageTokens | None = None
    _hook_keyring: TokenKeyring | None = None

    @property
    def hook_pages(self) -> PageTokens:
        if self._hook_pages is None:
            self._hook_pages = PageTokens(self._page_keyring)
        return self._hook_pages

    def _page_keyring(self) -> TokenKeyring:
        path = self.core.settings.token_keyring_file
        if path:
            return load_token_keyring(path)
        if self._hook_keyring is None:  # settings built in code (tests): a throwaway keyring
            self._hook_keyring = TokenKeyring.generate()
        return self._hook_keyring

    @staticmethod
    def _hooks_tenant() -> str:
        # The access rule admits users with the roles and API keys with the scope.
        principal = current_principal()
        if principal.kind is CallerKind.SERVICE or not principal.tenant_id:
            raise FailedPrecondition("this call needs a caller acting for an account")
        return principal.tenant_id

    def _url(self, field: str, value: str) -> str:
        allow = self.core.settings.webhook_allow_loopback_http
        return hd.valid_url(field, value, allow_loopback_http=allow)

    def _seal(self, tenant: str, endpoint_id: str, secret: str) -> bytes:
        return self.core.cipher.encrypt(secret, hd.secret_aad(tenant, endpoint_id))

    def _open(self, row: dict[str, Any]) -> str:
        aad = hd.secret_aad(row["tenant_id"], row["id"])
        return self.core.cipher.decrypt(bytes(row["secret_enc"]), aad).decode()

    async def _endpoint(self, conn: Any, tenant: str, endpoint_id: str) -> dict[str, Any]:
        row = await store.get_endpoint(conn, tenant, endpoint_id)
        if row is None:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        return row

    async def CreateWebhookEndpoint(
        self, request: pb.CreateWebhookEndpointRequest, context: Any
    ) -> pb.CreateWebhookEndpointResponse:
        tenant = self._hooks_tenant()
        url = self._url("url", request.url)
        event_types = hd.valid_event_types("event_types", request.event_types)
        description = hd.valid_description("description", request.description)
        made: dict[str, str] = {}

        async def work(conn: Any) -> pb.CreateWebhookEndpointResponse:
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"hooks:{tenant}",)
            )
            cur = await conn.execute(
                "SELECT count(*) FROM webhook_endpoints WHERE tenant_id = %s", (tenant,)
            )
            count = (await cur.fetchone())[0]
            if count >= MAX_ENDPOINTS:
                raise FailedPrecondition(
                    f"an account has at most {MAX_ENDPOINTS} webhook endpoints: delete one first"
                )
            endpoint_id = str(uuid.uuid4())
            secret = hd.new_secret()
            row = await store.insert_endpoint(
                conn, endpoint_id=endpoint_id, tenant_id=tenant, url=url,
                description=description, event_types=event_types,
                secret_enc=self._seal(tenant, endpoint_id, secret),
            )  # fmt: skip
            made["secret"] = secret
            return pb.CreateWebhookEndpointResponse(webhook_endpoint=endpoint_pb(row))

        reply = await run_once(
            self.core.pool, tenant_id=tenant, method="CreateWebhookEndpoint", request=request,
            response_type=pb.CreateWebhookEndpointResponse, work=work,
        )  # fmt: skip
        reply.signing_secret = made.get("secret") or await self._current_secret(
            tenant, reply.webhook_endpoint.webhook_endpoint_id
        )
        return reply

    async def _current_secret(self, tenant: str, endpoint_id: str) -> str:
        async with self.core.pool.connection() as conn:
            return self._open(await self._endpoint(conn, tenant, endpoint_id))

    async def ListWebhookEndpoints(
        self, request: pb.ListWebhookEndpointsRequest, context: Any
    ) -> pb.ListWebhookEndpointsResponse:
        tenant = self._hooks_tenant()
        if request.page_size < 0:
            raise InvalidArgument.field("page_size", "must not be negative")
        limit = page_size(request.page_size)
        pages = self.hook_pages
        after = pages.read(
            request.page_token, ENDPOINTS_LISTING, (datetime, str), bound_to=(tenant,)
        )
        async with self.core.pool.connection() as conn:
            rows = await store.page_endpoints(
                conn, tenant, (after[0], after[1]) if after else None, limit + 1
            )
        reply = pb.ListWebhookEndpointsResponse(
            webhook_endpoints=[endpoint_pb(row) for row in rows[:limit]]
        )
        if len(rows) > limit:
            last = rows[limit - 1]
            reply.next_page_token = pages.issue(
                ENDPOINTS_LISTING, (last["created_at"], last["id"]), bound_to=(tenant,)
            )
        return reply

    async def GetWebhookEndpoint(
        self, request: pb.GetWebhookEndpointRequest, context: Any
    ) -> pb.GetWebhookEndpointResponse:
        tenant = self._hooks_tenant()
        endpoint_id = _endpoint_id(request.webhook_endpoint_id)
        async with self.core.pool.connection() as conn:
            row = await self._endpoint(conn, tenant, endpoint_id)
        return pb.GetWebhookEndpointResponse(webhook_endpoint=endpoint_pb(row))

    async def UpdateWebhookEndpoint(
        self, request: pb.UpdateWebhookEndpointRequest, context: Any
    ) -> pb.UpdateWebhookEndpointResponse:
        tenant = self._hooks_tenant()
        endpoint_id = _endpoint_id(request.webhook_endpoint_id)
        paths = list(request.update_mask.paths)
        if not paths:
            raise InvalidArgument.field(
                "update_mask", f"name what to change: {', '.join(UPDATABLE)}"
            )
        given = request.webhook_endpoint
        changes: dict[str, Any] = {}
        for path in paths:
            if path not in UPDATABLE:
                raise InvalidArgument.field(
                    "update_mask", f"{path[:60]!r} cannot be changed (only {', '.join(UPDATABLE)})"
                )
            if path == "url":
                changes["url"] = self._url("webhook_endpoint.url", given.url)
            elif path == "description":
                changes["description"] = hd.valid_description(
                    "webhook_endpoint.description", given.description
                )
            elif path == "event_types":
                changes["event_types"] = hd.valid_event_types(
                    "webhook_endpoint.event_types", given.event_types
                )
            else:
                changes["enabled"] = bool(given.enabled)
        async with self.core.pool.connection() as conn, conn.transaction():
            row = await store.update_endpoint(conn, tenant, endpoint_id, changes)
        if row is None:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        if changes.get("enabled"):
            self.core.hooks_wake()
        return pb.UpdateWebhookEndpointResponse(webhook_endpoint=endpoint_pb(row))

    async def DeleteWebhookEndpoint(
        self, request: pb.DeleteWebhookEndpointRequest, context: Any
    ) -> pb.DeleteWebhookEndpointResponse:
        tenant = self._hooks_tenant()
        endpoint_id = _endpoint_id(request.webhook_endpoint_id)
        async with self.core.pool.connection() as conn, conn.transaction():
            if not await store.delete_endpoint(conn, tenant, endpoint_id):
                raise NotFound(f"no webhook endpoint {endpoint_id}")
        return pb.DeleteWebhookEndpointResponse()

    async def RotateWebhookSecret(
        self, request: pb.RotateWebhookSecretRequest, context: Any
    ) -> pb.RotateWebhookSecretResponse:
        tenant = self._hooks_tenant()
        endpoint_id = _endpoint_id(request.webhook_endpoint_id)
        overlap = timedelta(hours=self.core.settings.webhook_secret_overlap_hours)
        made: dict[str, str] = {}

        async def work(conn: Any) -> pb.RotateWebhookSecretResponse:
            if await store.get_endpoint(conn, tenant, endpoint_id, lock=True) is None:
                raise NotFound(f"no webhook endpoint {endpoint_id}")
            secret = hd.new_secret()
            until = datetime.now(UTC) + overlap
            row = await store.rotate_secret(
                conn, tenant, endpoint_id, self._seal(tenant, endpoint_id, secret), until
            )
            assert row is not None
            made["secret"] = secret
            reply = pb.RotateWebhookSecretResponse(webhook_endpoint=endpoint_pb(row))
            reply.previous_secret_expires_at.FromDatetime(until)
            return reply

        reply = await run_once(
            self.core.pool, tenant_id=tenant, method="RotateWebhookSecret", request=request,
            response_type=pb.RotateWebhookSecretResponse, work=work,
        )  # fmt: skip
        reply.signing_secret = made.get("secret") or await self._current_secret(tenant, endpoint_id)
        return reply

    async def SendTestWebhook(
        self, request: pb.SendTestWebhookRequest, context: Any
    ) -> pb.SendTestWebhookResponse:
        tenant = self._hooks_tenant()
        endpoint_id = _endpoint_id(request.webhook_endpoint_id)
        public_id = "evt_" + uuid.uuid4().hex
        body = hd.body(
            event_id_=public_id, event_type=hd.TEST_EVENT, created_at=datetime.now(UTC),
            account_id=tenant,
            data={"webhook_endpoint_id": endpoint_id,
                  "message": "A test event from Missiva: your endpoint receives and verifies."},
        )  # fmt: skip
        async with self.core.pool.connection() as conn, conn.transaction():
            row = await self._endpoint(conn, tenant, endpoint_id)
            if not row["enabled"]:
                raise FailedPrecondition("the endpoint is disabled: enable it first")
            made = await store.enqueue(
                conn, tenant_id=tenant, endpoint_ids=[endpoint_id], event_id=public_id,
                event_type=hd.TEST_EVENT, person_key="", body=body,
            )  # fmt: skip
        self.core.hooks_wake()
        return pb.SendTestWebhookResponse(webhook_delivery=delivery_pb(made[0]))

    async def ListWebhookDeliveries(
        self, request: pb.ListWebhookDeliveriesRequest, context: Any
    ) -> pb.ListWebhookDeliveriesResponse:
        tenant = self._hooks_tenant()
        endpoint_id = _endpoint_id(request.webhook_endpoint_id)
        if request.page_size < 0:
            raise InvalidArgument.field("page_size", "must not be negative")
        limit = page_size(request.page_size)
        pages = self.hook_pages
        bound = (tenant, endpoint_id)
        before = pages.read(request.page_token, DELIVERIES_LISTING, (datetime, str), bound_to=bound)
        async with self.core.pool.connection() as conn:
            await self._endpoint(conn, tenant, endpoint_id)
            rows = await store.page_deliveries(
                conn, tenant, endpoint_id, (before[0], before[1]) if before else None, limit + 1
            )
        reply = pb.ListWebhookDeliveriesResponse(
            webhook_deliveries=[delivery_pb(row) for row in rows[:limit]]
        )
        if len(rows) > limit:
            last = rows[limit - 1]
            reply.next_page_token = pages.issue(
                DELIVERIES_LISTING, (last["created_at"], last["id"]), bound_to=bound
            )
        return reply
