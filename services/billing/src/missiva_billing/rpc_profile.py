"""GetBillingProfile and UpdateBillingProfile: the account's invoicing details.

The VAT number and the tax code are answered decrypted (the caller is the account's admin or
billing member); a bad field is INVALID_ARGUMENT naming it (``profile.vat_number``...) and
nothing is written.
"""

from __future__ import annotations

from typing import Any

from missiva.billing.v1 import billing_service_pb2 as pb
from missiva_billing.profile import Profile, masked_fields
from missiva_billing.rpc_base import RpcBase, timestamp
from missiva_platform.auth import current_tenant


def profile_pb(profile: Profile) -> pb.BillingProfile:
    message = pb.BillingProfile(
        business_name=profile.business_name,
        legal_form=profile.legal_form,
        address=pb.PostalAddress(
            line1=profile.line1,
            line2=profile.line2,
            city=profile.city,
            province=profile.province,
            postal_code=profile.postal_code,
            country_code=profile.country_code,
        ),
        vat_number=profile.vat_number,
        tax_code=profile.tax_code,
        sdi_code=profile.sdi_code,
        pec=profile.pec,
        rea_number=profile.rea_number,
        invoice_email=profile.invoice_email,
    )
    if profile.updated_at is not None:
        message.updated_at.CopyFrom(timestamp(profile.updated_at))
    return message


def profile_from_pb(message: pb.BillingProfile) -> Profile:
    address = message.address
    return Profile(
        business_name=message.business_name,
        legal_form=message.legal_form,
        line1=address.line1,
        line2=address.line2,
        city=address.city,
        province=address.province,
        postal_code=address.postal_code,
        country_code=address.country_code,
        vat_number=message.vat_number,
        tax_code=message.tax_code,
        sdi_code=message.sdi_code,
        pec=message.pec,
        rea_number=message.rea_number,
        invoice_email=message.invoice_email,
    )


class ProfileRpcs(RpcBase):
    async def GetBillingProfile(
        self, request: pb.GetBillingProfileRequest, context: Any
    ) -> pb.GetBillingProfileResponse:
        account = current_tenant()
        async with self.pool.connection() as conn:
            profile = await self.profiles.get(conn, account)
        return pb.GetBillingProfileResponse(profile=profile_pb(profile))

    async def UpdateBillingProfile(
        self, request: pb.UpdateBillingProfileRequest, context: Any
    ) -> pb.UpdateBillingProfileResponse:
        account = current_tenant()
        names = masked_fields(list(request.update_mask.paths))
        given = profile_from_pb(request.profile)
        async with self.pool.connection() as conn, conn.transaction():
            profile = await self.profiles.update(conn, account, given, names)
        return pb.UpdateBillingProfileResponse(profile=profile_pb(profile))
