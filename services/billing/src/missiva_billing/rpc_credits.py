"""Credit RPCs: the balance, and reserve / commit / release for the campaign service.

Reserve, commit and release need an idempotency key (kit ``idempotency.run_once``): a retry
with the same key gets the first answer and changes nothing; a refusal (not enough credits)
is not stored, so a retry after a top-up can succeed.
"""

from __future__ import annotations

import string
from datetime import timedelta
from typing import Any

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva_billing.domain import MAX_AMOUNT, MAX_REFERENCE
from missiva_billing.rpc_base import (
    RpcBase,
    balance_pb,
    positive,
    required_key,
    timestamp,
    valid_id,
)
from missiva_billing.store import ledger
from missiva_platform.auth import current_tenant
from missiva_platform.errors import InvalidArgument
from missiva_platform.idempotency import run_once

_PRINTABLE = set(string.printable) - set("\t\n\r\x0b\x0c")
_SERVICE = "missiva.billing.v1.BillingService"


def _reference(value: str) -> str:
    if len(value) > MAX_REFERENCE:
        raise InvalidArgument.field("reference", f"at most {MAX_REFERENCE} characters")
    if not set(value) <= _PRINTABLE:
        raise InvalidArgument.field("reference", "only printable ASCII, e.g. campaign:<id>")
    return value


MAX_LEDGER_PAGE = 200
LEDGER_CURSOR_PREFIX = "ce:"
_ENTRY_KINDS = {
    "grant": pb.CREDIT_ENTRY_KIND_GRANT,
    "reserve": pb.CREDIT_ENTRY_KIND_RESERVE,
    "release": pb.CREDIT_ENTRY_KIND_RELEASE,
    "expire": pb.CREDIT_ENTRY_KIND_EXPIRE,
    "adjust": pb.CREDIT_ENTRY_KIND_ADJUST,
}


def _ledger_position(token: str) -> int:
    """The entry id a ``ListCreditEntries`` page token stands for (the first page: beyond
    every entry). The account filter of the query, not the token, decides what is seen."""
    if not token:
        return 2**63 - 1
    digits = token.removeprefix(LEDGER_CURSOR_PREFIX)
    if not token.startswith(LEDGER_CURSOR_PREFIX) or not digits.isdigit() or len(digits) > 18:
        raise InvalidArgument.field("page_token", "is not a token from ListCreditEntries")
    return int(digits)


class CreditRpcs(RpcBase):
    def _ttl(self, request: pb.ReserveCreditsRequest) -> timedelta:
        if not request.HasField("ttl"):
            return timedelta(seconds=self.settings.reservation_default_ttl_seconds)
        ttl = request.ttl.ToTimedelta()
        maximum = self.settings.reservation_max_ttl_seconds
        if ttl < timedelta(minutes=1) or ttl > timedelta(seconds=maximum):
            raise InvalidArgument.field("ttl", f"must be between 60 and {maximum} seconds")
        return ttl

    async def GetCreditBalance(
        self, request: pb.GetCreditBalanceRequest, context: Any
    ) -> pb.GetCreditBalanceResponse:
        tenant = current_tenant()
        async with self.pool.connection() as conn:
            balance = await ledger.read(conn, tenant)
        return pb.GetCreditBalanceResponse(balance=balance_pb(balance))

    async def ListCreditEntries(
        self, request: pb.ListCreditEntriesRequest, context: Any
    ) -> pb.ListCreditEntriesResponse:
        tenant = current_tenant()
        if request.page_size < 0:
            raise InvalidArgument.field("page_size", "must not be negative")
        size = min(request.page_size or 50, MAX_LEDGER_PAGE)
        before = _ledger_position(request.page_token)
        async with self.pool.connection() as conn:
            lines = await ledger.page(conn, tenant, before=before, limit=size + 1)
        reply = pb.ListCreditEntriesResponse(
            entries=[
                pb.CreditEntry(
                    entry_id=line.entry_id,
                    kind=_ENTRY_KINDS[line.kind],
                    amount=line.amount,
                    reference=line.reference,
                    reservation_id=line.reservation_id or "",
                    committed=line.committed,
                    created_at=timestamp(line.created_at),
                )
                for line in lines[:size]
            ]
        )
        if len(lines) > size:
            reply.next_page_token = f"{LEDGER_CURSOR_PREFIX}{lines[size - 1].entry_id}"
        return reply

    async def ReserveCredits(
        self, request: pb.ReserveCreditsRequest, context: Any
    ) -> pb.ReserveCreditsResponse:
        amount = positive("amount", request.amount, MAX_AMOUNT)
        reference = _reference(request.reference)
        ttl = self._ttl(request)
        required_key(request.idempotency_key)
        tenant = current_tenant()

        async def work(conn: Any) -> pb.ReserveCreditsResponse:
            held = await self.credits.reserve(conn, tenant, amount, reference, ttl)
            return pb.ReserveCreditsResponse(
                reservation_id=held.reservation.reservation_id,
                expires_at=timestamp(held.expires_at),
                balance=balance_pb(held.balance),
            )

        return await run_once(
            self.pool,
            tenant_id=tenant,
            method=f"{_SERVICE}/ReserveCredits",
            request=request,
            response_type=pb.ReserveCreditsResponse,
            work=work,
        )

    async def CommitCredits(
        self, request: pb.CommitCreditsRequest, context: Any
    ) -> pb.CommitCreditsResponse:
        reservation_id = valid_id("reservation_id", request.reservation_id)
        amount = positive("amount", request.amount, MAX_AMOUNT)
        required_key(request.idempotency_key)
        tenant = current_tenant()

        async def work(conn: Any) -> pb.CommitCreditsResponse:
            done = await self.credits.commit(conn, tenant, reservation_id, amount)
            return pb.CommitCreditsResponse(
                committed=done.committed, released=done.released, balance=balance_pb(done.balance)
            )

        return await run_once(
            self.pool,
            tenant_id=tenant,
            method=f"{_SERVICE}/CommitCredits",
            request=request,
            response_type=pb.CommitCreditsResponse,
            work=work,
        )

    async def ReleaseCredits(
        self, request: pb.ReleaseCreditsRequest, context: Any
    ) -> pb.ReleaseCreditsResponse:
        reservation_id = valid_id("reservation_id", request.reservation_id)
        required_key(request.idempotency_key)
        tenant = current_tenant()

        async def work(conn: Any) -> pb.ReleaseCreditsResponse:
            done = await self.credits.release(conn, tenant, reservation_id)
            return pb.ReleaseCreditsResponse(
                released=done.released, balance=balance_pb(done.balance)
            )

        return await run_once(
            self.pool,
            tenant_id=tenant,
            method=f"{_SERVICE}/ReleaseCredits",
            request=request,
            response_type=pb.ReleaseCreditsResponse,
            work=work,
        )
