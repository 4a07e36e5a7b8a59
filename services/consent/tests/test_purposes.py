"""Purposes: each account's topics and lists, and Missiva's own three categories."""

import grpc
import pytest
from google.protobuf import field_mask_pb2

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as pb

from .conftest import PLATFORM, status_details

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_the_platform_account_has_system_product_update_and_marketing(consent):
    reply = await consent.stub.ListPurposes(
        pb.ListPurposesRequest(), metadata=consent.md(PLATFORM), timeout=10
    )
    by_key = {p.key: p for p in reply.purposes}
    assert set(by_key) == {"system", "product_update", "marketing"}
    system, updates, marketing = by_key["system"], by_key["product_update"], by_key["marketing"]
    assert system.legal_basis == types_pb2.LEGAL_BASIS_CONTRACT
    assert system.default_enabled
    assert not system.changeable
    assert updates.legal_basis == types_pb2.LEGAL_BASIS_LEGITIMATE_INTEREST
    assert updates.default_enabled
    assert updates.changeable
    assert (updates.frequency_cap_count, updates.frequency_cap_days) == (3, 30)
    assert marketing.legal_basis == types_pb2.LEGAL_BASIS_CONSENT
    assert not marketing.default_enabled


async def test_an_account_creates_lists_and_updates_its_purposes(consent):
    tenant = consent.tenant()
    created = await consent.purpose(tenant, "newsletter", frequency_cap_count=4)
    assert created.purpose_id
    assert created.key == "newsletter"
    assert (created.frequency_cap_count, created.frequency_cap_days) == (4, 30)
    assert not created.default_enabled
    await consent.purpose(
        tenant,
        "tips",
        category=types_pb2.EMAIL_CATEGORY_PRODUCT_UPDATE,
        legal_basis=types_pb2.LEGAL_BASIS_LEGITIMATE_INTEREST,
    )
    page = await consent.stub.ListPurposes(
        pb.ListPurposesRequest(page_size=1), metadata=consent.md(tenant), timeout=10
    )
    assert [p.key for p in page.purposes] == ["newsletter"]
    assert page.next_page_token
    rest = await consent.stub.ListPurposes(
        pb.ListPurposesRequest(page_size=1, page_token=page.next_page_token),
        metadata=consent.md(tenant),
        timeout=10,
    )
    assert [p.key for p in rest.purposes] == ["tips"]
    assert not rest.next_page_token

    updated = await consent.stub.UpdatePurpose(
        pb.UpdatePurposeRequest(
            purpose=pb.Purpose(purpose_id=created.purpose_id, name="Weekly letter"),
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        ),
        metadata=consent.md(tenant),
        timeout=10,
    )
    assert updated.purpose.name == "Weekly letter"
    assert updated.purpose.legal_basis == types_pb2.LEGAL_BASIS_CONSENT


@pytest.mark.parametrize(
    ("purpose", "field"),
    [
        (pb.Purpose(key="Bad Key", name="x"), "purpose.key"),
        (
            pb.Purpose(
                key="deals",
                name="Deals",
                kind=pb.PURPOSE_KIND_EMAIL,
                category=types_pb2.EMAIL_CATEGORY_MARKETING,
                legal_basis=types_pb2.LEGAL_BASIS_LEGITIMATE_INTEREST,
            ),
            "purpose.legal_basis",
        ),
        (
            pb.Purpose(
                key="deals",
                name="Deals",
                kind=pb.PURPOSE_KIND_EMAIL,
                category=types_pb2.EMAIL_CATEGORY_MARKETING,
            ),
            "purpose.legal_basis",
        ),
    ],
)
async def test_a_malformed_purpose_is_refused_with_the_field_named(consent, purpose, field):
    tenant = consent.tenant()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.CreatePurpose(
            pb.CreatePurposeRequest(purpose=purpose), metadata=consent.md(tenant), timeout=10
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field in err.value.details()
    [bad] = status_details(err.value)
    assert bad.field_violations[0].field == field
    listed = await consent.stub.ListPurposes(
        pb.ListPurposesRequest(), metadata=consent.md(tenant), timeout=10
    )
    assert list(listed.purposes) == []


async def test_a_duplicate_key_and_a_change_of_legal_basis_are_refused(consent):
    tenant = consent.tenant()
    created = await consent.purpose(tenant, "news")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.purpose(tenant, "news")
    assert err.value.code() is grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.UpdatePurpose(
            pb.UpdatePurposeRequest(
                purpose=pb.Purpose(
                    purpose_id=created.purpose_id,
                    legal_basis=types_pb2.LEGAL_BASIS_LEGITIMATE_INTEREST,
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["legal_basis"]),
            ),
            metadata=consent.md(tenant),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "legal basis" in err.value.details()


async def test_a_member_cannot_create_purposes(consent):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.CreatePurpose(
            pb.CreatePurposeRequest(purpose=pb.Purpose(key="x", name="x")),
            metadata=consent.md(consent.tenant(), roles=("member",)),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_another_tenant_neither_sees_nor_changes_an_accounts_purposes(consent):
    owner, other = consent.tenant(), consent.tenant()
    created = await consent.purpose(owner, "secret-list")
    listed = await consent.stub.ListPurposes(
        pb.ListPurposesRequest(), metadata=consent.md(other), timeout=10
    )
    assert list(listed.purposes) == []
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await consent.stub.UpdatePurpose(
            pb.UpdatePurposeRequest(
                purpose=pb.Purpose(purpose_id=created.purpose_id, name="hijacked"),
                update_mask=field_mask_pb2.FieldMask(paths=["name"]),
            ),
            metadata=consent.md(other),
            timeout=10,
        )
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    mine = await consent.stub.ListPurposes(
        pb.ListPurposesRequest(), metadata=consent.md(owner), timeout=10
    )
    assert [p.name for p in mine.purposes] == ["Secret-List"]
