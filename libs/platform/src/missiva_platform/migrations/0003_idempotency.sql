-- Responses of mutating RPCs a client may retry, by (tenant, method, idempotency key);
-- kept 24 hours, so a retried call returns the first answer instead of acting twice.
CREATE TABLE kit_idempotency (
    tenant_id       text        NOT NULL,
    method          text        NOT NULL,
    idempotency_key text        NOT NULL,
    request_hash    bytea       NOT NULL,
    response        bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, method, idempotency_key)
);
CREATE INDEX kit_idempotency_created_at ON kit_idempotency (created_at);
