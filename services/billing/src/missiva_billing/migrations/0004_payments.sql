-- Payment providers: which provider customer is which account, and the provider events
-- already applied (a webhook is applied once per event id, whatever is redelivered).
-- No card data: the provider keeps it; we keep its ids.

CREATE TABLE provider_customers (
    provider    text NOT NULL,
    customer_id text NOT NULL,
    account_id  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, customer_id)
);
CREATE INDEX provider_customers_account ON provider_customers (account_id, provider);

CREATE TABLE provider_events (
    provider    text NOT NULL,
    event_id    text NOT NULL,
    event_type  text NOT NULL,
    account_id  text,
    handled     boolean NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);
CREATE INDEX provider_events_received ON provider_events (received_at);
