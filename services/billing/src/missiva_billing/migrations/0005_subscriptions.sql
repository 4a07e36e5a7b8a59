-- Subscriptions (one per account), the account's owner for the one-trial rule, and the trial
-- registry: the person keys (keyed email hashes) that had a trial. The registry names no
-- account, so it outlives account deletion; it keeps nothing but the key and when.

CREATE TABLE subscriptions (
    subscription_id      uuid PRIMARY KEY,
    account_id           text NOT NULL UNIQUE,
    plan_id              text NOT NULL,
    status               text NOT NULL
        CHECK (status IN ('incomplete', 'trialing', 'active', 'past_due', 'canceled')),
    provider             text NOT NULL,
    current_period_start timestamptz NOT NULL,
    current_period_end   timestamptz NOT NULL CHECK (current_period_end > current_period_start),
    trial_ends_at        timestamptz,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    canceled_at          timestamptz,
    cancel_reason        text NOT NULL DEFAULT '',
    pending_plan_id      text,
    -- the invoice of the current period, until paid
    open_invoice_id      uuid,
    past_due_since       timestamptz,
    reminders_sent       int NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_due ON subscriptions (current_period_end) WHERE status <> 'canceled';

-- Who created the account (identity's UserRegistered of its primary admin): whose trial it is.
-- Marked when the account is erased; the retention job then deletes the row.
CREATE TABLE account_owners (
    account_id text PRIMARY KEY,
    user_id    text NOT NULL,
    person_key text NOT NULL,
    erased_at  timestamptz
);

CREATE TABLE trial_registry (
    person_key text PRIMARY KEY,
    used_at    timestamptz NOT NULL DEFAULT now()
);
