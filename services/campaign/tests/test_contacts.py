"""Contacts over gRPC: create, read, update, the trash, listing, tags; bad input names the
field (never INTERNAL); another account's ids are not found; each RPC works with its least
scope and refuses one less."""

from __future__ import annotations

import grpc
import pytest
from campaign_testkit import violated_fields
from google.protobuf import field_mask_pb2, struct_pb2

from missiva.campaign.v1 import campaign_service_pb2 as pb
from missiva_platform.auth import CallerKind

pytestmark = pytest.mark.asyncio(loop_scope="module")


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def attrs(**values: object) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


async def expect(code: grpc.StatusCode, call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code, caught.value.details()
    return caught.value


async def test_create_and_get_a_contact_with_its_provenance(campaign) -> None:
    tenant = campaign.tenant()
    email = campaign.email("Grace.Hopper")
    created = await campaign.stub.CreateContact(
        pb.CreateContactRequest(
            contact=pb.Contact(
                email=f"  {email.replace('example.org', 'EXAMPLE.org')} ",
                first_name="Grace",
                last_name="Hopper",
                locale="it-it",
                timezone="Europe/Rome",
                attributes=attrs(city="Rome", orders=3, vip=True, sizes=["s", "m"]),
                tags=["customer", "customer", "rome"],
            )
        ),
        metadata=campaign.md(tenant, scopes=["contacts:write"], subject="user-7"),
        timeout=10,
    )
    contact = created.contact
    assert contact.email == email  # the domain lower-cased, the local part as given
    assert contact.person_key == campaign.key(email)  # the kit's keyed hash, as consent's
    assert contact.locale == "it-IT"
    assert contact.timezone == "Europe/Rome"
    assert contact.attributes["city"] == "Rome"
    assert contact.attributes["orders"] == 3
    assert list(contact.tags) == ["customer", "rome"]
    assert contact.source == pb.CONTACT_SOURCE_MANUAL
    assert contact.provenance.actor_kind == "user"
    assert contact.provenance.actor_id == "user-7"
    assert contact.provenance.at == contact.created_at
    assert not contact.HasField("deleted_at")
    assert not contact.suppressed

    got = await campaign.stub.GetContact(
        pb.GetContactRequest(contact_id=contact.contact_id),
        metadata=campaign.md(tenant, scopes=["contacts:read"]),
        timeout=10,
    )
    assert got.contact == contact
    stored = await campaign.sql(
        "SELECT email_key, attributes->>'orders' FROM contacts WHERE id = %s", contact.contact_id
    )
    assert stored == [(email.lower(), "3")]


async def test_an_api_key_creates_an_api_contact(campaign) -> None:
    tenant = campaign.tenant()
    reply = await campaign.stub.CreateContact(
        pb.CreateContactRequest(contact=pb.Contact(email=campaign.email())),
        metadata=campaign.md(
            tenant,
            kind=CallerKind.API_KEY,
            subject="key-1",
            scopes=["contacts:write"],
            roles=["member"],
        ),
        timeout=10,
    )
    assert reply.contact.source == pb.CONTACT_SOURCE_API
    assert reply.contact.provenance.actor_kind == "api_key"
    assert reply.contact.provenance.actor_id == "key-1"


async def test_one_live_contact_per_normalised_address(campaign) -> None:
    tenant = campaign.tenant()
    email = campaign.email()
    await campaign.create(tenant, email)
    err = await expect(grpc.StatusCode.ALREADY_EXISTS, campaign.create(tenant, email.upper()))
    assert "contact.email" in err.details()
    # another account may hold the same address
    other = await campaign.create(campaign.tenant(), email)
    assert other.person_key == campaign.key(email)


async def test_a_retried_create_with_its_key_creates_one_contact(campaign) -> None:
    tenant = campaign.tenant()
    request = pb.CreateContactRequest(
        contact=pb.Contact(email=campaign.email()), idempotency_key="create-1"
    )
    first = await campaign.stub.CreateContact(request, metadata=campaign.md(tenant), timeout=10)
    again = await campaign.stub.CreateContact(request, metadata=campaign.md(tenant), timeout=10)
    assert again.contact.contact_id == first.contact.contact_id
    count = await campaign.scalar("SELECT count(*) FROM contacts WHERE account_id = %s", tenant)
    assert count == 1


@pytest.mark.parametrize(
    ("contact", "field"),
    [
        (pb.Contact(email=""), "contact.email"),
        (pb.Contact(email="not-an-address"), "contact.email"),
        (pb.Contact(email="a@b.test"), "contact.email"),
        (pb.Contact(email="nul\x00@example.org"), "contact.email"),
        (pb.Contact(email="x" * 250 + "@example.org"), "contact.email"),
        (pb.Contact(email="ok@example.org", first_name="Gr\x00ce"), "contact.first_name"),
        (pb.Contact(email="ok@example.org", last_name="x" * 201), "contact.last_name"),
        (pb.Contact(email="ok@example.org", locale="english please"), "contact.locale"),
        (pb.Contact(email="ok@example.org", timezone="Mars/Olympus"), "contact.timezone"),
        (pb.Contact(email="ok@example.org", timezone="../../etc/passwd"), "contact.timezone"),
        (pb.Contact(email="ok@example.org", attributes=attrs(city="Ro\x00me")),
         "contact.attributes.city"),
        (pb.Contact(email="ok@example.org", attributes=attrs(**{"bad key": 1})),
         "contact.attributes.bad key"),
        (pb.Contact(email="ok@example.org", attributes=attrs(nested={"a": 1})),
         "contact.attributes.nested"),
        (pb.Contact(email="ok@example.org", attributes=attrs(n=float("nan"))),
         "contact.attributes.n"),
        (pb.Contact(email="ok@example.org",
                    attributes=attrs(**{f"k{i}": "x" * 1000 for i in range(20)})),
         "contact.attributes"),
        (pb.Contact(email="ok@example.org",
                    attributes=attrs(**{f"k{i}": i for i in range(101)})),
         "contact.attributes"),
        (pb.Contact(email="ok@example.org", tags=[""]), "contact.tags[0]"),
        (pb.Contact(email="ok@example.org", tags=["a", "t" * 65]), "contact.tags[1]"),
    ],
)  # fmt: skip
async def test_bad_contacts_are_refused_naming_the_field(campaign, contact, field) -> None:
    tenant = campaign.tenant()
    err = await expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        campaign.stub.CreateContact(
            pb.CreateContactRequest(contact=contact), metadata=campaign.md(tenant), timeout=10
        ),
    )
    assert violated_fields(err) == [field]
    assert await campaign.scalar("SELECT count(*) FROM contacts WHERE account_id = %s", tenant) == 0


async def test_update_changes_the_masked_fields_only(campaign) -> None:
    tenant = campaign.tenant()
    contact = await campaign.create(
        tenant, first_name="Ada", attributes=attrs(city="London", plan="free")
    )
    reply = await campaign.stub.UpdateContact(
        pb.UpdateContactRequest(
            contact=pb.Contact(
                contact_id=contact.contact_id,
                first_name="Augusta",
                last_name="ignored: not in the mask",
                attributes=attrs(plan="pro"),
            ),
            update_mask=mask("first_name", "attributes.plan", "attributes.city"),
        ),
        metadata=campaign.md(tenant, scopes=["contacts:write"]),
        timeout=10,
    )
    updated = reply.contact
    assert updated.first_name == "Augusta"
    assert updated.last_name == ""
    assert dict(updated.attributes) == {"plan": "pro"}  # city: in the mask, absent → removed
    assert updated.updated_at.ToDatetime() >= contact.updated_at.ToDatetime()
    version = await campaign.scalar(
        "SELECT version FROM contacts WHERE id = %s", contact.contact_id
    )
    assert version == 2


async def test_changing_the_address_changes_the_person_key(campaign) -> None:
    tenant = campaign.tenant()
    contact = await campaign.create(tenant)
    new = campaign.email("moved")
    reply = await campaign.stub.UpdateContact(
        pb.UpdateContactRequest(
            contact=pb.Contact(contact_id=contact.contact_id, email=new), update_mask=mask("email")
        ),
        metadata=campaign.md(tenant),
        timeout=10,
    )
    assert reply.contact.email == new
    assert reply.contact.person_key == campaign.key(new)


@pytest.mark.parametrize(
    ("paths", "contact", "field"),
    [
        ((), pb.Contact(), "update_mask"),
        (("nickname",), pb.Contact(), "update_mask"),
        (("tags",), pb.Contact(), "update_mask"),
        (("email",), pb.Contact(email="nope"), "contact.email"),
        (("locale",), pb.Contact(locale="x" * 40), "contact.locale"),
        (("attributes.9lives",), pb.Contact(), "update_mask.attributes.9lives"),
        (("attributes.city",), pb.Contact(attributes=attrs(city="\x00")),
         "contact.attributes.city"),
    ],
)  # fmt: skip
async def test_bad_updates_are_refused_and_change_nothing(campaign, paths, contact, field) -> None:
    tenant = campaign.tenant()
    existing = await campaign.create(tenant, first_name="Kept")
    contact.contact_id = existing.contact_id
    err = await expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        campaign.stub.UpdateContact(
            pb.UpdateContactRequest(contact=contact, update_mask=mask(*paths)),
            metadata=campaign.md(tenant),
            timeout=10,
        ),
    )
    assert violated_fields(err) == [field]
    got = await campaign.stub.GetContact(
        pb.GetContactRequest(contact_id=existing.contact_id), metadata=campaign.md(tenant)
    )
    assert got.contact == existing


async def test_an_update_to_another_contacts_address_is_refused(campaign) -> None:
    tenant = campaign.tenant()
    first, second = await campaign.create(tenant), await campaign.create(tenant)
    await expect(
        grpc.StatusCode.ALREADY_EXISTS,
        campaign.stub.UpdateContact(
            pb.UpdateContactRequest(
                contact=pb.Contact(contact_id=second.contact_id, email=first.email),
                update_mask=mask("email"),
            ),
            metadata=campaign.md(tenant),
            timeout=10,
        ),
    )


async def test_another_accounts_contact_is_not_found(campaign) -> None:
    owner, stranger = campaign.tenant(), campaign.tenant()
    contact = await campaign.create(owner)
    ours = campaign.md(stranger)
    calls = [
        campaign.stub.GetContact(
            pb.GetContactRequest(contact_id=contact.contact_id), metadata=ours
        ),
        campaign.stub.UpdateContact(
            pb.UpdateContactRequest(
                contact=pb.Contact(contact_id=contact.contact_id, first_name="X"),
                update_mask=mask("first_name"),
            ),
            metadata=ours,
        ),
        campaign.stub.DeleteContact(
            pb.DeleteContactRequest(contact_id=contact.contact_id), metadata=ours
        ),
        campaign.stub.RestoreContact(
            pb.RestoreContactRequest(contact_id=contact.contact_id), metadata=ours
        ),
        campaign.stub.AddTags(
            pb.AddTagsRequest(contact_ids=[contact.contact_id], tags=["x"]), metadata=ours
        ),
        campaign.stub.RemoveTags(
            pb.RemoveTagsRequest(contact_ids=[contact.contact_id], tags=["x"]), metadata=ours
        ),
    ]
    for call in calls:
        await expect(grpc.StatusCode.NOT_FOUND, call)
    listed = await campaign.stub.ListContacts(pb.ListContactsRequest(), metadata=ours)
    assert list(listed.contacts) == []
    got = await campaign.stub.GetContact(
        pb.GetContactRequest(contact_id=contact.contact_id), metadata=campaign.md(owner)
    )
    assert got.contact == contact


async def test_ids_that_are_not_ids_are_refused(campaign) -> None:
    tenant = campaign.tenant()
    err = await expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        campaign.stub.GetContact(
            pb.GetContactRequest(contact_id="'; DROP"), metadata=campaign.md(tenant)
        ),
    )
    assert violated_fields(err) == ["contact_id"]
    err = await expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        campaign.stub.AddTags(
            pb.AddTagsRequest(contact_ids=["x"], tags=["a"]), metadata=campaign.md(tenant)
        ),
    )
    assert violated_fields(err) == ["contact_ids[0]"]
    for call in (
        campaign.stub.DeleteContact(pb.DeleteContactRequest(), metadata=campaign.md(tenant)),
        campaign.stub.RestoreContact(
            pb.RestoreContactRequest(contact_id="42"), metadata=campaign.md(tenant)
        ),
    ):
        err = await expect(grpc.StatusCode.INVALID_ARGUMENT, call)
        assert violated_fields(err) == ["contact_id"]
    err = await expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        campaign.stub.UpdateContact(
            pb.UpdateContactRequest(
                contact=pb.Contact(first_name="x"), update_mask=mask("first_name")
            ),
            metadata=campaign.md(tenant),
        ),
    )
    assert violated_fields(err) == ["contact.contact_id"]
