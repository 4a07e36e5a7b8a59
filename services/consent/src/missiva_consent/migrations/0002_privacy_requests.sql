-- Data-subject requests (DSAR): consent opens them, asks every service through its command
-- work queue and records each answer. See dsar.py (the orchestration) and retention.py (how
-- long each part is kept, and why).

-- One row per request. No address, no IP: the person is named by the person key (a keyed
-- hash of the address) and, for our own users, the user id; the requester's IP only by a
-- hash under consent's yearly link salt (deleted after 90 days).
CREATE TABLE privacy_requests (
    request_id         uuid        PRIMARY KEY,
    account_id         text        NOT NULL,  -- '' for one of our users about themselves
    person_key         text        NOT NULL DEFAULT '',
    user_id            text,
    kind               text        NOT NULL CHECK (kind IN ('export', 'erase')),
    status             text        NOT NULL
                       CHECK (status IN ('open', 'in_progress', 'completed', 'rejected')),
    requested_by       text        NOT NULL,  -- 'account_user:<id>', 'api_key:<id>', 'data_subject', 'self:<user id>'
    ip_hash            text,
    opened_at          timestamptz NOT NULL,
    due_at             timestamptz NOT NULL,
    extension_reason   text        NOT NULL DEFAULT '',
    completed_at       timestamptz,
    rejection_reason   text        NOT NULL DEFAULT '',
    export_deleted_at  timestamptz,
    CHECK (person_key <> '' OR user_id IS NOT NULL)
);
-- Get/List are per account, oldest due first (keyset on (due_at, request_id)).
CREATE INDEX privacy_requests_account_due ON privacy_requests (account_id, due_at, request_id);
-- The open-requests gauge and the retention rules.
CREATE INDEX privacy_requests_open_due ON privacy_requests (due_at) WHERE completed_at IS NULL;
CREATE INDEX privacy_requests_completed ON privacy_requests (completed_at)
    WHERE completed_at IS NOT NULL;

-- Each asked service's progress; `answer` is its serialised PersonDataErased (categories,
-- counts, what was kept and why: no personal data) for erasures, empty for exports.
CREATE TABLE privacy_request_services (
    request_id  uuid        NOT NULL REFERENCES privacy_requests ON DELETE CASCADE,
    service     text        NOT NULL,
    answered_at timestamptz,
    answer      bytea,
    PRIMARY KEY (request_id, service)
);

-- The exported sections of each service: personal data, so AES-256-GCM-encrypted with the
-- field key (associated data: request id and service) and deleted PRIVACY_EXPORT_DAYS after
-- the request completed.
CREATE TABLE privacy_export_parts (
    request_id  uuid        NOT NULL REFERENCES privacy_requests ON DELETE CASCADE,
    service     text        NOT NULL,
    sealed      bytea       NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, service)
);

-- Our own users are named in the platform account's ledger as 'user:<id>' (sign-up, legal
-- acceptances): how a self-service request finds the user's person key.
CREATE INDEX consent_ledger_users ON consent_ledger (account_id, source_detail, recorded_at)
    WHERE source_detail LIKE 'user:%';
