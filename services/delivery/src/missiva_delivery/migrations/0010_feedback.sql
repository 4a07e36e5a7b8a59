-- Delivery: what comes back after a message was sent. Bounce reports (DSNs) and complaints
-- (ARF) received by the inbound SMTP server or a provider's webhook, the provider events
-- received (replays are refused by event id), and the reputation guard's alerts per campaign.
-- Nothing here holds an address: people are named by person key, recipients by domain.

-- A bounce may also be 'blocked': refused by policy or reputation, the address stays good.
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_bounce_type_check;
ALTER TABLE messages ADD CONSTRAINT messages_bounce_type_check
    CHECK (bounce_type IN ('hard', 'soft', 'blocked'));
-- The reputation guard counts a campaign's messages sent since a moment.
CREATE INDEX IF NOT EXISTS messages_campaign_sent_idx ON messages (campaign_id, sent_at)
    WHERE campaign_id <> '';

CREATE TABLE bounce_records (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id       uuid        NOT NULL,           -- the ledger row (which may be gone first)
    tenant_id        text        NOT NULL,
    campaign_id      text        NOT NULL DEFAULT '',
    person_key       text        NOT NULL,
    kind             text        NOT NULL CHECK (kind IN ('bounce', 'delayed', 'complaint')),
    bounce_class     text        CHECK (bounce_class IN ('hard', 'soft', 'blocked')),
    rule             text        NOT NULL DEFAULT '',  -- the classification table's line
    status_code      text        NOT NULL DEFAULT '',  -- RFC 3463, e.g. 5.1.1
    diagnostic       text        NOT NULL DEFAULT '',  -- the reply, addresses removed
    feedback_type    text        NOT NULL DEFAULT '',  -- ARF Feedback-Type
    recipient_domain text        NOT NULL DEFAULT '',
    source           text        NOT NULL CHECK (source IN ('dsn', 'arf', 'webhook')),
    report_digest    text        NOT NULL,           -- the same report twice is one record
    received_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (message_id, report_digest)
);
CREATE INDEX bounce_records_person_idx ON bounce_records (person_key);
CREATE INDEX bounce_records_received_idx ON bounce_records (received_at);
CREATE INDEX bounce_records_blocks_idx ON bounce_records (recipient_domain, received_at)
    WHERE bounce_class = 'blocked';

CREATE TABLE provider_events (
    provider       text        NOT NULL,
    event_id       text        NOT NULL,
    event_type     text        NOT NULL,
    message_id     uuid,
    tenant_id      text        NOT NULL DEFAULT '',
    person_key     text        NOT NULL DEFAULT '',
    payload_digest text        NOT NULL,             -- SHA-256 of the body as signed
    outcome        text        NOT NULL,             -- applied, duplicate_report, unknown_message, ignored
    signed_at      timestamptz NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);
CREATE INDEX provider_events_person_idx ON provider_events (person_key) WHERE person_key <> '';
CREATE INDEX provider_events_received_idx ON provider_events (received_at);

-- The guard's state per campaign: when it last alerted (the next window starts there).
CREATE TABLE campaign_reputation (
    tenant_id      text        NOT NULL,
    campaign_id    text        NOT NULL,
    last_alert_at  timestamptz,
    last_signal    text        NOT NULL DEFAULT '',
    alerts         integer     NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, campaign_id)
);
