"""ListCreditEntries: the account's credit ledger as its billing page shows it (newest first,
each reservation with what its sends used), in pages; bad tokens, scopes and other accounts."""

from __future__ import annotations

import grpc
import pytest

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva_platform.auth import CallerKind

from .conftest import bad_fields

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _entries(billing, tenant, **request):
    return await billing.stub.ListCreditEntries(
        pb.ListCreditEntriesRequest(**request), metadata=billing.user(tenant), timeout=10
    )


async def test_the_ledger_lists_grants_reservations_with_their_use_and_releases(billing):
    tenant = billing.tenant()
    await billing.grant(tenant, 500, key="plan:free")
    held = await billing.reserve(tenant, 100, reference="campaign:c-1")
    await billing.stub.CommitCredits(
        pb.CommitCreditsRequest(
            reservation_id=held.reservation_id, amount=70, idempotency_key=billing.key()
        ),
        metadata=billing.service(tenant),
        timeout=10,
    )
    reply = await _entries(billing, tenant)
    lines = [(e.kind, e.amount, e.reference, e.committed) for e in reply.entries]
    assert lines == [
        (pb.CREDIT_ENTRY_KIND_RELEASE, 30, "campaign:c-1", 0),
        (pb.CREDIT_ENTRY_KIND_RESERVE, 100, "campaign:c-1", 70),
        (pb.CREDIT_ENTRY_KIND_GRANT, 500, "", 0),
    ]
    assert reply.entries[1].reservation_id == held.reservation_id
    assert all(e.created_at.seconds for e in reply.entries)
    assert reply.next_page_token == ""
    # No commit line: they are summed on the reservation.
    assert await billing.scalar(
        "SELECT count(*) FROM credit_ledger WHERE account_id = %s AND kind = 'commit'", tenant
    )


async def test_pages_follow_each_other_without_gaps_or_repeats(billing):
    tenant = billing.tenant()
    for n in range(5):
        await billing.grant(tenant, 10 + n, key=f"test:{n}")
    seen, token = [], ""
    while True:
        reply = await _entries(billing, tenant, page_size=2, page_token=token)
        seen += [e.amount for e in reply.entries]
        token = reply.next_page_token
        if not token:
            break
    assert seen == [14, 13, 12, 11, 10]


async def test_bad_pages_are_refused_naming_the_field(billing):
    tenant = billing.tenant()
    for request, field in (
        ({"page_token": "nope"}, "page_token"),
        ({"page_token": "ce:12x"}, "page_token"),
        ({"page_token": "ce:" + "9" * 30}, "page_token"),
        ({"page_size": -1}, "page_size"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _entries(billing, tenant, **request)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad_fields(err.value) == [field]


async def test_only_the_account_with_credits_read_sees_its_ledger(billing):
    tenant, other = billing.tenant(), billing.tenant()
    await billing.grant(tenant, 500, key="plan:free")
    mine = await _entries(billing, tenant)
    # Another account sees nothing of it, even with this account's page token.
    assert list((await _entries(billing, other)).entries) == []
    token = f"ce:{mine.entries[0].entry_id + 1}"
    assert list((await _entries(billing, other, page_token=token)).entries) == []
    # An API key with credits:read reads it; one scope less is refused.
    key = billing.user(tenant, roles=(), scopes=("credits:read",), kind=CallerKind.API_KEY)
    reply = await billing.stub.ListCreditEntries(
        pb.ListCreditEntriesRequest(), metadata=key, timeout=10
    )
    assert [e.amount for e in reply.entries] == [500]
    for md in (
        billing.user(tenant, roles=(), scopes=("billing:read",), kind=CallerKind.API_KEY),
        billing.service(tenant),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await billing.stub.ListCreditEntries(
                pb.ListCreditEntriesRequest(), metadata=md, timeout=10
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
