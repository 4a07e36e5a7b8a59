-- The tax rates made at a payment provider (Stripe TaxRate objects) for our VAT rates, so a
-- checkout charges the VAT our invoice states. One per (provider, rate); no personal data.

CREATE TABLE provider_tax_rates (
    provider    text NOT NULL,
    rate_bps    int  NOT NULL CHECK (rate_bps > 0 AND rate_bps < 10000),
    tax_rate_id text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, rate_bps)
);
