-- Delivery: outbound webhooks. An account's HTTPS endpoints and the deliveries of its
-- events to them (hooks_*.py).
--
-- A signing secret is a secret: stored only encrypted with the kit's field cipher
-- (associated data: tenant, endpoint, generation). During a rotation's overlap the previous
-- secret is kept (encrypted) until previous_secret_expires_at, and both sign.
-- A delivery's body names the account's own contact (contact_id) and message, never an
-- address; person_key is kept only so a person's erasure finds their rows. Deliveries are
-- kept WEBHOOK_DELIVERY_DAYS (retention.py); endpoints go with the account.

CREATE TABLE webhook_endpoints (
    id                         uuid        PRIMARY KEY,
    tenant_id                  text        NOT NULL,
    url                        text        NOT NULL,
    description                text        NOT NULL DEFAULT '',
    event_types                text[]      NOT NULL,
    enabled                    boolean     NOT NULL DEFAULT true,
    disabled_reason            text        NOT NULL DEFAULT '',
    secret_generation          integer     NOT NULL DEFAULT 1,
    secret_enc                 bytea       NOT NULL,
    previous_secret_enc        bytea,
    previous_secret_expires_at timestamptz,
    -- Set by the first failed attempt after a success; an endpoint failing for
    -- WEBHOOK_DISABLE_AFTER_HOURS is disabled.
    failing_since              timestamptz,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    secret_rotated_at          timestamptz
);
CREATE INDEX webhook_endpoints_page_idx ON webhook_endpoints (tenant_id, created_at, id);
CREATE INDEX webhook_endpoints_events_idx ON webhook_endpoints USING gin (event_types)
    WHERE enabled;

CREATE TABLE webhook_deliveries (
    id               uuid        PRIMARY KEY,
    tenant_id        text        NOT NULL,
    endpoint_id      uuid        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         text        NOT NULL,              -- the public event id (payload "id")
    event_type       text        NOT NULL,              -- the public type, e.g. message.bounced
    person_key       text        NOT NULL DEFAULT '',   -- for the privacy erase only
    body             text        NOT NULL,              -- the exact JSON that is signed and sent
    -- pending: waiting for its (next) attempt; delivering: claimed by a worker;
    -- delivered: a 2xx; failed: retries ran out, or the endpoint was disabled.
    status           text        NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'delivering', 'delivered', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    claimed_at       timestamptz,
    last_status_code integer     NOT NULL DEFAULT 0,    -- 0: no HTTP answer
    last_response    text        NOT NULL DEFAULT '',   -- the first bytes of the answer's body
    last_error       text        NOT NULL DEFAULT '',   -- why there was no answer
    last_duration_ms integer     NOT NULL DEFAULT 0,
    last_attempt_at  timestamptz,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status IN ('pending', 'delivering');
CREATE INDEX webhook_deliveries_page_idx
    ON webhook_deliveries (tenant_id, endpoint_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_person_idx ON webhook_deliveries (person_key)
    WHERE person_key <> '';
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at);
