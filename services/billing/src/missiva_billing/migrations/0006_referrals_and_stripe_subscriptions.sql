-- Referrals: each account's code, the accounts referred by one (once each, rewarded once
-- when the referee first pays) and the visits of referral links. A click keeps no cookie and
-- no address: the referring page without query or fragment, the user agent, and a salted
-- hash of the visitor's /24 (IPv4) or /64 (IPv6) network; deleted after 180 days.

CREATE TABLE referral_codes (
    account_id text PRIMARY KEY,
    code       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE referrals (
    referee_account_id  text PRIMARY KEY,
    referrer_account_id text NOT NULL,
    code                text NOT NULL,
    linked_at           timestamptz NOT NULL DEFAULT now(),
    rewarded_at         timestamptz,
    reward_credits      bigint NOT NULL CHECK (reward_credits >= 0),
    CHECK (referee_account_id <> referrer_account_id)
);
CREATE INDEX referrals_referrer ON referrals (referrer_account_id);

CREATE TABLE referral_clicks (
    click_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code            text NOT NULL,
    clicked_at      timestamptz NOT NULL DEFAULT now(),
    referrer        text NOT NULL DEFAULT '',
    user_agent      text NOT NULL DEFAULT '',
    ip_network_hash text NOT NULL DEFAULT ''
);
CREATE INDEX referral_clicks_at ON referral_clicks (clicked_at);
CREATE INDEX referral_clicks_code ON referral_clicks (code, clicked_at);

-- Subscriptions paid through Stripe: its customer, subscription and the open invoice that a
-- failed payment left (retried on our schedule).
ALTER TABLE subscriptions
    ADD COLUMN provider_customer_id     text,
    ADD COLUMN provider_subscription_id text,
    ADD COLUMN provider_invoice_id      text;
CREATE UNIQUE INDEX subscriptions_provider_subscription
    ON subscriptions (provider, provider_subscription_id)
    WHERE provider_subscription_id IS NOT NULL;
