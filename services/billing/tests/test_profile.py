"""GetBillingProfile and UpdateBillingProfile: checked numbers, encrypted tax fields, a field
mask, bad input naming the field and changing nothing, key rotation, access."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import field_mask_pb2

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva_billing import profile as rules
from missiva_billing.jobs import rotate_field_keys
from missiva_platform.crypto import FieldCipher
from missiva_platform.errors import InvalidArgument

from .conftest import bad_fields

pytestmark = pytest.mark.asyncio(loop_scope="module")

IT_COMPANY = pb.BillingProfile(
    business_name="Rossi Consulenze",
    legal_form="S.r.l.",
    address=pb.PostalAddress(
        line1="Via Roma 1", city="Milano", province="mi", postal_code="20121", country_code="it"
    ),
    vat_number="IT 00743110157",
    tax_code="00743110157",
    sdi_code="abc1234",
    rea_number="MI 1234567",
    invoice_email="Fatture@Rossi.example",
)


def _write(tenant_meta, profile, paths=()):
    return pb.UpdateBillingProfileRequest(
        profile=profile, update_mask=field_mask_pb2.FieldMask(paths=list(paths))
    )


async def _update(billing, tenant, profile, paths=()):
    return await billing.stub.UpdateBillingProfile(
        _write(None, profile, paths),
        metadata=billing.billing_admin(tenant, scopes=["billing:write"]),
        timeout=10,
    )


async def _get(billing, tenant):
    reply = await billing.stub.GetBillingProfile(
        pb.GetBillingProfileRequest(), metadata=billing.billing_admin(tenant), timeout=10
    )
    return reply.profile


async def test_an_italian_company_profile_is_normalised_and_read_back(billing):
    tenant = billing.tenant()
    written = (await _update(billing, tenant, IT_COMPANY)).profile
    assert written.vat_number == "IT00743110157"
    assert written.address.country_code == "IT"
    assert written.address.province == "MI"
    assert written.sdi_code == "ABC1234"
    assert written.rea_number == "MI-1234567"
    assert written.invoice_email == "fatture@rossi.example"
    assert written.updated_at.seconds > 0
    read = await _get(billing, tenant)
    assert read == written


async def test_tax_fields_are_encrypted_with_the_account_as_associated_data(billing):
    tenant, other = billing.tenant(), billing.tenant()
    await _update(billing, tenant, IT_COMPANY)
    await _update(billing, other, IT_COMPANY)
    vat, tax = (
        await billing.sql(
            "SELECT vat_number_enc, tax_code_enc FROM billing_profiles WHERE account_id = %s",
            tenant,
        )
    )[0]
    assert b"00743110157" not in bytes(vat)
    assert b"00743110157" not in bytes(tax)
    cipher = FieldCipher.from_file(billing.app.settings.field_keys_file)
    assert cipher.decrypt(bytes(vat), tenant) == b"IT00743110157"
    assert cipher.key_id(bytes(vat)) == cipher.primary_kid
    # A blob copied to another account's row does not decrypt there.
    await billing.sql(
        "UPDATE billing_profiles SET vat_number_enc = %s WHERE account_id = %s", bytes(vat), other
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _get(billing, other)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await _update(billing, other, IT_COMPANY)  # rewritten whole: the row is sound again


async def test_a_mask_changes_only_the_fields_it_names(billing):
    tenant = billing.tenant()
    await _update(billing, tenant, IT_COMPANY)
    change = pb.BillingProfile(business_name="Rossi Due", address=pb.PostalAddress(city="Roma"))
    after = (await _update(billing, tenant, change, ["business_name", "address.city"])).profile
    assert after.business_name == "Rossi Due"
    assert after.address.city == "Roma"
    assert after.address.line1 == "Via Roma 1"
    assert after.vat_number == "IT00743110157"
    # An empty mask replaces every field.
    person = pb.BillingProfile(
        business_name="Mario Rossi",
        address=pb.PostalAddress(
            line1="Via Po 2", city="Torino", province="TO", postal_code="10121", country_code="IT"
        ),
        tax_code="RSSMRA85T10A562S",
    )
    after = (await _update(billing, tenant, person)).profile
    assert after.vat_number == ""
    assert after.tax_code == "RSSMRA85T10A562S"
    assert after.legal_form == ""


@pytest.mark.parametrize(
    ("change", "paths", "field"),
    [
        (pb.BillingProfile(vat_number="IT00743110158"), ["vat_number"], "profile.vat_number"),
        (pb.BillingProfile(vat_number="DE136695976"), ["vat_number"], "profile.vat_number"),
        (pb.BillingProfile(tax_code="RSSMRA85T10A562T"), ["tax_code"], "profile.tax_code"),
        (pb.BillingProfile(sdi_code="ABC"), ["sdi_code"], "profile.sdi_code"),
        (pb.BillingProfile(pec="not-an-address"), ["pec"], "profile.pec"),
        (pb.BillingProfile(rea_number="1234"), ["rea_number"], "profile.rea_number"),
        (
            pb.BillingProfile(address=pb.PostalAddress(postal_code="2012")),
            ["address.postal_code"],
            "profile.address.postal_code",
        ),
        (
            pb.BillingProfile(address=pb.PostalAddress(country_code="ITA")),
            ["address.country_code"],
            "profile.address.country_code",
        ),
        (pb.BillingProfile(business_name="x" * 81), ["business_name"], "profile.business_name"),
        (pb.BillingProfile(business_name="a\x00b"), ["business_name"], "profile.business_name"),
        (pb.BillingProfile(), ["colour"], "update_mask"),
    ],
)
async def test_bad_input_names_the_field_and_changes_nothing(billing, change, paths, field):
    tenant = billing.tenant()
    before = (await _update(billing, tenant, IT_COMPANY)).profile
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _update(billing, tenant, change, paths)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(err.value) == [field]
    assert await _get(billing, tenant) == before


async def test_other_eu_vat_numbers_are_checked_by_their_country_rules(billing):
    tenant = billing.tenant()
    german = pb.BillingProfile(
        business_name="Muster GmbH",
        address=pb.PostalAddress(line1="Hauptstr. 1", city="Berlin", country_code="DE"),
        vat_number="136695976",
    )
    assert (await _update(billing, tenant, german)).profile.vat_number == "DE136695976"
    greek = pb.BillingProfile(
        business_name="Ellada AE", address=pb.PostalAddress(country_code="GR"),
        vat_number="EL094259216",
    )  # fmt: skip
    assert (await _update(billing, tenant, greek)).profile.vat_number == "EL094259216"
    wrong = pb.BillingProfile(vat_number="DE136695977", address=german.address)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _update(billing, tenant, wrong)
    assert bad_fields(err.value) == ["profile.vat_number"]
    # Outside the EU a number is kept as given (no register to check it with).
    swiss = pb.BillingProfile(
        business_name="Beispiel AG", address=pb.PostalAddress(country_code="CH"),
        vat_number="CHE-123.456.788",
    )  # fmt: skip
    assert (await _update(billing, tenant, swiss)).profile.vat_number == "CHE123456788"


async def test_the_tax_code_is_for_italy_only_and_a_company_may_use_its_vat_digits():
    with pytest.raises(InvalidArgument) as err:
        rules.checked(rules.Profile(country_code="FR", tax_code="RSSMRA85T10A562S"))
    assert err.value.violations[0][0] == "profile.tax_code"
    assert rules.checked(rules.Profile(country_code="IT", tax_code="00743110157")).tax_code == (
        "00743110157"
    )


async def test_an_unwritten_profile_is_empty_and_accounts_do_not_see_each_other(billing):
    tenant, other = billing.tenant(), billing.tenant()
    await _update(billing, tenant, IT_COMPANY)
    assert await _get(billing, other) == pb.BillingProfile(address=pb.PostalAddress())


async def test_rotation_re_encrypts_every_tax_field_to_the_newest_key(billing, tmp_path):
    tenant = billing.tenant()
    await _update(billing, tenant, IT_COMPANY)
    old = FieldCipher.from_file(billing.app.settings.field_keys_file)
    new = old.rotate()
    done = await rotate_field_keys(billing.url, new, batch=2)
    assert done["billing_profiles.vat_number_enc"] >= 1
    assert done["billing_profiles.tax_code_enc"] >= 1
    vat, tax = (
        await billing.sql(
            "SELECT vat_number_enc, tax_code_enc FROM billing_profiles WHERE account_id = %s",
            tenant,
        )
    )[0]
    assert new.key_id(bytes(vat)) == new.primary_kid != old.primary_kid
    assert new.decrypt(bytes(vat), tenant) == b"IT00743110157"
    assert new.decrypt(bytes(tax), tenant) == b"00743110157"
    # Nothing is left under an old key: a second run rewrites nothing.
    assert set((await rotate_field_keys(billing.url, new)).values()) == {0}
    # Put the rows back under the service's key for the other tests of the module.
    ring = json.loads(new.to_json())
    ring["primary"] = old.primary_kid
    await rotate_field_keys(billing.url, FieldCipher.from_json(json.dumps(ring)))
    assert (await _get(billing, tenant)).vat_number == "IT00743110157"


@pytest.mark.parametrize(
    ("call", "request_", "scope"),
    [
        ("GetBillingProfile", pb.GetBillingProfileRequest(), "billing:read"),
        ("UpdateBillingProfile", _write(None, IT_COMPANY), "billing:write"),
    ],
)
async def test_the_least_scope_works_and_one_less_is_refused(billing, call, request_, scope):
    tenant = billing.tenant()
    method = getattr(billing.stub, call)
    await method(request_, metadata=billing.billing_admin(tenant, scopes=[scope]), timeout=10)
    other = "billing:write" if scope == "billing:read" else "billing:read"
    for metadata in (
        billing.billing_admin(tenant, scopes=[other]),
        billing.user(tenant, roles=["member"], scopes=[scope]),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await method(request_, metadata=metadata, timeout=10)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
