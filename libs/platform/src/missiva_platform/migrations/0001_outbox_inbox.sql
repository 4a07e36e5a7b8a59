-- The transactional outbox: events written in the same transaction as the state change,
-- published by the relay (Nats-Msg-Id = event_id) and then deleted.
CREATE TABLE kit_outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    uuid        NOT NULL UNIQUE,
    subject     text        NOT NULL,
    payload     bytea       NOT NULL,
    headers     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The inbox: event ids a consumer has processed, written in the handler's own transaction,
-- so a redelivered event has no second effect.
CREATE TABLE kit_inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX kit_inbox_processed_at ON kit_inbox (processed_at);
