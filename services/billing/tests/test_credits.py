"""Credit RPCs: balance, reserve, commit, release; bad input, other tenants, idempotent retries
and the 50-concurrent-reservations race on one account."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2

from missiva.billing.v1 import billing_service_pb2 as pb

from .conftest import bad_fields, status_details

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_new_account_has_no_credits_and_a_grant_shows_in_the_balance(billing):
    tenant = billing.tenant()
    assert (await billing.balance(tenant)).available == 0
    await billing.grant(tenant, 500)
    balance = await billing.balance(tenant)
    assert (balance.available, balance.reserved) == (500, 0)


async def test_reserve_holds_credits_and_the_ledger_sums_to_the_balance(billing):
    tenant = billing.tenant()
    await billing.grant(tenant)
    reply = await billing.reserve(tenant, 120, reference="campaign:c-1")
    assert reply.reservation_id
    assert reply.expires_at.seconds > 0
    assert (reply.balance.available, reply.balance.reserved) == (380, 120)
    balance = await billing.balance(tenant)
    assert (balance.available, balance.reserved) == (380, 120)
    assert await billing.ledger_sums(tenant) == (380, 120)
    kinds = await billing.sql(
        "SELECT kind, amount FROM credit_ledger WHERE account_id = %s ORDER BY entry_id", tenant
    )
    assert kinds == [("grant", 500), ("reserve", 120)]


async def test_not_enough_credits_is_failed_precondition_naming_the_number_missing(billing):
    tenant = billing.tenant()
    await billing.grant(tenant, 100)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await billing.reserve(tenant, 130)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "30 missing" in caught.value.details()
    [failure] = status_details(caught.value)
    assert isinstance(failure, error_details_pb2.PreconditionFailure)
    [violation] = failure.violations
    assert violation.type == "CREDITS_INSUFFICIENT"
    assert violation.description == "30 credits missing"
    assert (await billing.balance(tenant)).available == 100  # nothing held


async def test_the_same_key_reserves_once_and_returns_the_first_answer(billing):
    tenant = billing.tenant()
    await billing.grant(tenant)
    key = billing.key()
    first = await billing.reserve(tenant, 50, reference="campaign:c-2", key=key)
    again = await billing.reserve(tenant, 50, reference="campaign:c-2", key=key)
    assert again == first
    assert (await billing.balance(tenant)).available == 450
    assert await billing.scalar("SELECT count(*) FROM credit_reservations WHERE account_id = %s",
                                tenant) == 1  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as caught:  # same key, another request
        await billing.reserve(tenant, 60, reference="campaign:c-2", key=key)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await billing.balance(tenant)).available == 450


async def test_concurrent_retries_with_one_key_reserve_once(billing):
    tenant = billing.tenant()
    await billing.grant(tenant)
    key = billing.key()
    replies = await asyncio.gather(*(billing.reserve(tenant, 10, key=key) for _ in range(10)))
    assert len({r.reservation_id for r in replies}) == 1
    assert (await billing.balance(tenant)).available == 490


async def test_fifty_concurrent_reservations_of_twenty_on_500_grant_exactly_25(billing):
    tenant = billing.tenant()
    await billing.grant(tenant, 500)

    async def attempt(i: int) -> grpc.StatusCode:
        try:
            await billing.reserve(tenant, 20, reference=f"campaign:race-{i}")
        except grpc.aio.AioRpcError as err:
            return err.code()
        return grpc.StatusCode.OK

    outcomes = await asyncio.gather(*(attempt(i) for i in range(50)))
    assert outcomes.count(grpc.StatusCode.OK) == 25
    assert outcomes.count(grpc.StatusCode.FAILED_PRECONDITION) == 25
    balance = await billing.balance(tenant)
    assert (balance.available, balance.reserved) == (0, 500)
    assert await billing.ledger_sums(tenant) == (0, 500)
    assert (
        await billing.scalar(
            "SELECT count(*) FROM credit_reservations WHERE account_id = %s", tenant
        )
        == 25
    )


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": 10_000_001}, "amount"),
        ({"amount": 10, "idempotency_key": ""}, "idempotency_key"),
        ({"amount": 10, "idempotency_key": "k" * 129}, "idempotency_key"),
        ({"amount": 10, "reference": "x" * 201}, "reference"),
        ({"amount": 10, "reference": "campaign:\n1"}, "reference"),
        ({"amount": 10, "ttl": duration_pb2.Duration(seconds=5)}, "ttl"),
        ({"amount": 10, "ttl": duration_pb2.Duration(seconds=40 * 86_400)}, "ttl"),
    ],
)
async def test_bad_reservations_are_invalid_argument_naming_the_field(
    billing, request_fields, field
):
    tenant = billing.tenant()
    await billing.grant(tenant)
    fields = {"idempotency_key": billing.key(), **request_fields}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await billing.stub.ReserveCredits(
            pb.ReserveCreditsRequest(**fields), metadata=billing.service(tenant), timeout=10
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(caught.value) == [field]
    balance = await billing.balance(tenant)
    assert (balance.available, balance.reserved) == (500, 0)


async def test_a_ttl_sets_the_expiry(billing):
    tenant = billing.tenant()
    await billing.grant(tenant)
    reply = await billing.stub.ReserveCredits(
        pb.ReserveCreditsRequest(
            amount=5, ttl=duration_pb2.Duration(seconds=3600), idempotency_key=billing.key()
        ),
        metadata=billing.service(tenant),
        timeout=10,
    )
    stored = await billing.scalar(
        "SELECT extract(epoch FROM expires_at - created_at)::int FROM credit_reservations"
        " WHERE reservation_id = %s",
        reply.reservation_id,
    )
    assert 3590 <= stored <= 3610


async def test_commit_spends_part_and_releases_the_rest(billing):
    tenant = billing.tenant()
    await billing.grant(tenant)
    held = await billing.reserve(tenant, 100)
    reply = await billing.stub.CommitCredits(
        pb.CommitCreditsRequest(
            reservation_id=held.reservation_id, amount=70, idempotency_key=billing.key()
        ),
        metadata=billing.service(tenant),
        timeout=10,
    )
    assert (reply.committed, reply.released) == (70, 30)
    assert (reply.balance.available, reply.balance.reserved) == (430, 0)
    assert await billing.ledger_sums(tenant) == (430, 0)
    status = await billing.scalar(
        "SELECT status FROM credit_reservations WHERE reservation_id = %s", held.reservation_id
    )
    assert status == "closed"


async def test_commit_retried_with_its_key_commits_once(billing):
    tenant = billing.tenant()
    await billing.grant(tenant)
    held = await billing.reserve(tenant, 100)
    request = pb.CommitCreditsRequest(
        reservation_id=held.reservation_id, amount=40, idempotency_key=billing.key()
    )
    first = await billing.stub.CommitCredits(request, metadata=billing.service(tenant), timeout=10)
    again = await billing.stub.CommitCredits(request, metadata=billing.service(tenant), timeout=10)
    assert again == first
    assert (await billing.balance(tenant)).available == 460
    with pytest.raises(grpc.aio.AioRpcError) as caught:  # a new key on a closed reservation
        await billing.stub.CommitCredits(
            pb.CommitCreditsRequest(
                reservation_id=held.reservation_id, amount=1, idempotency_key=billing.key()
            ),
            metadata=billing.service(tenant),
            timeout=10,
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"reservation_id": ""}, "reservation_id"),
        ({"reservation_id": "not-an-id"}, "reservation_id"),
        ({"amount": 0}, "amount"),
        ({"amount": -1}, "amount"),
        ({"amount": 101}, "amount"),  # more than it holds
        ({"idempotency_key": ""}, "idempotency_key"),
    ],
)
async def test_bad_commits_are_invalid_argument_and_change_nothing(billing, request_fields, field):
    tenant = billing.tenant()
    await billing.grant(tenant)
    held = await billing.reserve(tenant, 100)
    fields = {
        "reservation_id": held.reservation_id,
        "amount": 10,
        "idempotency_key": billing.key(),
        **request_fields,
    }
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await billing.stub.CommitCredits(
            pb.CommitCreditsRequest(**fields), metadata=billing.service(tenant), timeout=10
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(caught.value) == [field]
    balance = await billing.balance(tenant)
    assert (balance.available, balance.reserved) == (400, 100)


async def test_release_gives_the_whole_reservation_back_once(billing):
    tenant = billing.tenant()
    await billing.grant(tenant)
    held = await billing.reserve(tenant, 100)
    key = billing.key()
    request = pb.ReleaseCreditsRequest(reservation_id=held.reservation_id, idempotency_key=key)
    reply = await billing.stub.ReleaseCredits(request, metadata=billing.service(tenant), timeout=10)
    assert reply.released == 100
    assert (reply.balance.available, reply.balance.reserved) == (500, 0)
    again = await billing.stub.ReleaseCredits(request, metadata=billing.service(tenant), timeout=10)
    assert again == reply
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await billing.stub.ReleaseCredits(
            pb.ReleaseCreditsRequest(
                reservation_id=held.reservation_id, idempotency_key=billing.key()
            ),
            metadata=billing.service(tenant),
            timeout=10,
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert await billing.ledger_sums(tenant) == (500, 0)


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"reservation_id": "nope"}, "reservation_id"),
        ({"idempotency_key": ""}, "idempotency_key"),
    ],
)
async def test_bad_releases_are_invalid_argument(billing, request_fields, field):
    tenant = billing.tenant()
    await billing.grant(tenant)
    held = await billing.reserve(tenant, 10)
    fields = {"reservation_id": held.reservation_id, "idempotency_key": billing.key()}
    fields.update(request_fields)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await billing.stub.ReleaseCredits(
            pb.ReleaseCreditsRequest(**fields), metadata=billing.service(tenant), timeout=10
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(caught.value) == [field]
    assert (await billing.balance(tenant)).reserved == 10


async def test_another_tenants_reservation_is_not_found(billing):
    owner, other = billing.tenant(), billing.tenant()
    await billing.grant(owner)
    await billing.grant(other)
    held = await billing.reserve(owner, 100)
    for call, request in (
        (
            billing.stub.CommitCredits,
            pb.CommitCreditsRequest(
                reservation_id=held.reservation_id, amount=10, idempotency_key=billing.key()
            ),
        ),
        (
            billing.stub.ReleaseCredits,
            pb.ReleaseCreditsRequest(
                reservation_id=held.reservation_id, idempotency_key=billing.key()
            ),
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request, metadata=billing.service(other), timeout=10)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    owner_balance = await billing.balance(owner)
    assert (owner_balance.available, owner_balance.reserved) == (400, 100)
    assert (await billing.balance(other)).available == 500


async def test_balance_is_the_callers_account_only(billing):
    mine, theirs = billing.tenant(), billing.tenant()
    await billing.grant(theirs, 777)
    assert (await billing.balance(mine)).available == 0
    assert (await billing.balance(theirs)).available == 777
