"""Billing profiles of the four kinds of customer the invoices are tested for."""

from __future__ import annotations

from missiva.billing.v1 import billing_service_pb2 as pb

ITALIAN_COMPANY = pb.BillingProfile(
    business_name="Rossi Consulenze",
    legal_form="S.r.l.",
    address=pb.PostalAddress(
        line1="Via Roma 1", city="Milano", province="MI", postal_code="20121", country_code="IT"
    ),
    vat_number="IT00743110157",
    tax_code="00743110157",
    sdi_code="ABC1234",
    rea_number="MI-1234567",
    invoice_email="fatture@rossi.example",
)
ITALIAN_PERSON = pb.BillingProfile(
    business_name="Mario Rossi",
    address=pb.PostalAddress(
        line1="Via Po 2", city="Torino", province="TO", postal_code="10121", country_code="IT"
    ),
    tax_code="RSSMRA85T10A562S",
    invoice_email="mario@rossi.example",
)
EU_BUSINESS = pb.BillingProfile(
    business_name="Muster GmbH",
    address=pb.PostalAddress(
        line1="Hauptstrasse 1", city="Berlin", postal_code="10115", country_code="DE"
    ),
    vat_number="DE136695976",
    invoice_email="rechnung@muster.example",
)
EU_CONSUMER = pb.BillingProfile(
    business_name="Jeanne Martin",
    address=pb.PostalAddress(line1="1 rue de la Paix", city="Paris", country_code="FR"),
)
OUTSIDE_EU = pb.BillingProfile(
    business_name="Example Inc.",
    address=pb.PostalAddress(line1="1 Main St", city="Springfield", country_code="US"),
    vat_number="123456789",
)


async def write(billing, tenant, profile) -> None:
    await billing.stub.UpdateBillingProfile(
        pb.UpdateBillingProfileRequest(profile=profile),
        metadata=billing.billing_admin(tenant, scopes=["billing:write"]),
        timeout=10,
    )
