-- Billing profiles: who an account's invoices are made out to (one per account).
--
-- The VAT number and the tax code are encrypted (the kit's AES-256-GCM field cipher; the blob
-- names its key id) with the account id as associated data: a blob copied to another row
-- does not decrypt. `python -m missiva_billing rotate-field-keys` re-encrypts them under the
-- newest key. An erased profile keeps its row with every field emptied (`anonymised_at`).

CREATE TABLE billing_profiles (
    account_id     text PRIMARY KEY,
    business_name  text NOT NULL DEFAULT '',
    legal_form     text NOT NULL DEFAULT '',
    line1          text NOT NULL DEFAULT '',
    line2          text NOT NULL DEFAULT '',
    city           text NOT NULL DEFAULT '',
    province       text NOT NULL DEFAULT '',
    postal_code    text NOT NULL DEFAULT '',
    country_code   text NOT NULL DEFAULT '',
    vat_number_enc bytea,
    tax_code_enc   bytea,
    sdi_code       text NOT NULL DEFAULT '',
    pec            text NOT NULL DEFAULT '',
    rea_number     text NOT NULL DEFAULT '',
    invoice_email  text NOT NULL DEFAULT '',
    -- Keyed hashes (the platform's person key) of invoice_email and pec: how a privacy
    -- request about a person finds the profiles that name them.
    person_keys    text[] NOT NULL DEFAULT '{}',
    anonymised_at  timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX billing_profiles_person_keys ON billing_profiles USING gin (person_keys);
