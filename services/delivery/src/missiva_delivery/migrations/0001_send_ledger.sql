-- Delivery: the send ledger (one row per message), its status history, and the suppression
-- list fed by delivery's own hard bounces (consent's suppression events come later).
--
-- The recipient address and the template variables (which may hold secret links) are stored
-- only encrypted with the kit's field cipher, and only while the message may still be sent:
-- a message in a final state keeps neither.

CREATE TABLE messages (
    id                uuid        PRIMARY KEY,
    tenant_id         text        NOT NULL,            -- '' for mail about no account yet
    idempotency_key   text        NOT NULL,
    lane              text        NOT NULL CHECK (lane IN ('transactional', 'campaign')),
    priority          smallint    NOT NULL DEFAULT 0,  -- lower is sent first
    category          smallint    NOT NULL,            -- missiva.common.v1.EmailCategory
    template_key      text        NOT NULL DEFAULT '',
    locale            text        NOT NULL DEFAULT 'en',
    campaign_id       text        NOT NULL DEFAULT '',
    batch_id          text        NOT NULL DEFAULT '',
    contact_id        text        NOT NULL DEFAULT '',
    person_key        text        NOT NULL,
    requested_by      text        NOT NULL DEFAULT '',
    to_address_enc    bytea,                           -- field cipher; NULL once final
    payload_enc       bytea,                           -- name + variables (JSON), field cipher
    rfc822_message_id text        NOT NULL UNIQUE,
    subject           text        NOT NULL DEFAULT '',
    status            text        NOT NULL CHECK (status IN
                          ('queued', 'sending', 'sent', 'deferred', 'failed', 'suppressed',
                           'bounced', 'complained')),
    bounce_type       text        CHECK (bounce_type IN ('hard', 'soft')),
    attempts          integer     NOT NULL DEFAULT 0,
    resends           integer     NOT NULL DEFAULT 0,
    last_smtp_reply   text        NOT NULL DEFAULT '',
    failure_reason    text        NOT NULL DEFAULT '',
    queued_at         timestamptz NOT NULL DEFAULT now(),
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    claimed_at        timestamptz,
    sent_at           timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, idempotency_key)
);
-- What the sender claims: due queued/deferred rows, best priority first.
CREATE INDEX messages_due_idx ON messages (priority, next_attempt_at)
    WHERE status IN ('queued', 'deferred');
-- Claims a crashed sender left behind.
CREATE INDEX messages_sending_idx ON messages (claimed_at) WHERE status = 'sending';
CREATE INDEX messages_person_idx ON messages (person_key, tenant_id);
CREATE INDEX messages_queued_at_idx ON messages (queued_at);

CREATE TABLE message_events (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id  uuid        NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    status      text        NOT NULL,
    detail      text        NOT NULL DEFAULT '',
    occurred_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX message_events_message_idx ON message_events (message_id, id);

-- Addresses that may not receive mail, by person key. A hard bounce suppresses even SYSTEM
-- mail; other reasons (later: consent's suppressions) stop only non-SYSTEM mail.
CREATE TABLE suppressions (
    person_key     text        NOT NULL,
    tenant_id      text        NOT NULL DEFAULT '',   -- '' is platform-wide
    reason         text        NOT NULL CHECK (reason IN ('hard_bounce', 'complaint', 'consent')),
    detail         text        NOT NULL DEFAULT '',
    message_id     uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_key, tenant_id)
);
