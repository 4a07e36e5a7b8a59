-- Consent: purposes, the append-only hash-chained ledger and its current-state projection,
-- the suppression list, double opt-in, link IP hashes, legal documents and daily digests.
-- Enumerations are stored as readable text (see domain.py); the proto enums map onto them.

-- Refuses any change to an append-only table, whoever asks (a trigger binds the table's
-- owner too; only disabling the trigger gets around it, and the hash chain and the
-- published digests make such tampering detectable).
CREATE FUNCTION consent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- ------------------------------------------------------------------------------ purposes

CREATE TABLE purposes (
    purpose_id          uuid        PRIMARY KEY,
    account_id          text        NOT NULL,
    key                 text        NOT NULL,
    name                text        NOT NULL,
    description         text        NOT NULL DEFAULT '',
    kind                text        NOT NULL CHECK (kind IN ('email', 'engagement_tracking')),
    category            text        NOT NULL DEFAULT ''
                        CHECK (category IN ('', 'system', 'product_update', 'marketing')),
    legal_basis         text        NOT NULL
                        CHECK (legal_basis IN ('consent', 'legitimate_interest', 'contract')),
    double_opt_in       boolean     NOT NULL DEFAULT false,
    frequency_cap_count integer     NOT NULL DEFAULT 0 CHECK (frequency_cap_count >= 0),
    frequency_cap_days  integer     NOT NULL DEFAULT 0 CHECK (frequency_cap_days >= 0),
    state               text        NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'archived')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, key)
);

-- ------------------------------------------------------------------------------ the ledger

-- One row per consent fact, never changed. Each (account, person) has its own hash chain:
-- seq counts from 1, prev_hash is the entry_hash of seq - 1 (64 zeros for the first), and
-- entry_hash is SHA-256 over the row's canonical form (every column but entry_hash; see
-- domain.canonical_entry).
CREATE TABLE consent_ledger (
    record_id        uuid        PRIMARY KEY,
    account_id       text        NOT NULL,
    person_key       text        NOT NULL,
    seq              bigint      NOT NULL CHECK (seq >= 1),
    purpose_id       text        NOT NULL DEFAULT '',  -- '' for a document acceptance
    purpose_key      text        NOT NULL DEFAULT '',
    action           text        NOT NULL CHECK (action IN
                     ('request', 'grant', 'confirm', 'withdraw', 'object', 'restrict', 'lift', 'accept')),
    resulting_status text        NOT NULL,
    state_version    bigint      NOT NULL DEFAULT 0,
    legal_basis      text        NOT NULL,
    source           text        NOT NULL,
    source_detail    text        NOT NULL DEFAULT '',
    campaign_id      text        NOT NULL DEFAULT '',
    checkbox_text    text        NOT NULL DEFAULT '',
    document_id      text        NOT NULL DEFAULT '',
    document_version text        NOT NULL DEFAULT '',
    ip_hash          text        NOT NULL DEFAULT '',
    user_agent       text        NOT NULL DEFAULT '',
    occurred_at      timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL,
    prev_hash        text        NOT NULL,
    entry_hash       text        NOT NULL,
    UNIQUE (account_id, person_key, seq)  -- a chain can never fork
);
CREATE INDEX consent_ledger_account_recorded ON consent_ledger (account_id, recorded_at);

CREATE TRIGGER consent_ledger_append_only
    BEFORE UPDATE OR DELETE ON consent_ledger
    FOR EACH ROW EXECUTE FUNCTION consent_append_only();
CREATE TRIGGER consent_ledger_no_truncate
    BEFORE TRUNCATE ON consent_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION consent_append_only();

-- The head of every chain; its row lock serialises appends per (account, person).
CREATE TABLE ledger_chains (
    account_id  text        NOT NULL,
    person_key  text        NOT NULL,
    seq         bigint      NOT NULL DEFAULT 0,
    head_hash   text        NOT NULL,
    recorded_at timestamptz,
    PRIMARY KEY (account_id, person_key)
);

-- Current state per (account, purpose, person), written in the ledger's transaction.
CREATE TABLE consent_states (
    account_id     text        NOT NULL,
    purpose_id     uuid        NOT NULL,
    person_key     text        NOT NULL,
    status         text        NOT NULL
                   CHECK (status IN ('not_recorded', 'pending', 'granted', 'withdrawn', 'objected')),
    restricted     boolean     NOT NULL DEFAULT false,
    version        bigint      NOT NULL,
    since          timestamptz NOT NULL,
    last_record_id uuid        NOT NULL,
    PRIMARY KEY (account_id, purpose_id, person_key)
);
CREATE INDEX consent_states_person ON consent_states (account_id, person_key);

-- Daily seal of each account's ledger: a Merkle root over every chain head at the end of
-- the UTC day, chained to the previous day's digest and published as an event.
CREATE TABLE ledger_digests (
    account_id      text        NOT NULL,
    day             date        NOT NULL,
    chain_count     bigint      NOT NULL,
    record_count    bigint      NOT NULL,
    merkle_root     text        NOT NULL,
    previous_digest text        NOT NULL,
    digest          text        NOT NULL,
    sealed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, day)
);
CREATE TRIGGER ledger_digests_append_only
    BEFORE UPDATE OR DELETE ON ledger_digests
    FOR EACH ROW EXECUTE FUNCTION consent_append_only();

-- Per-aggregate versions of events that have no projection row of their own (suppression
-- entries, documents), so read models elsewhere can order them.
CREATE TABLE aggregate_versions (
    aggregate_id text   PRIMARY KEY,
    version      bigint NOT NULL
);

-- ------------------------------------------------------------------------------ suppression

-- scope is the account id, or '' for platform-wide entries (hard bounces, complaints).
-- purpose_id '' covers every purpose. Kept forever; email is nulled on erasure.
CREATE TABLE suppressions (
    entry_id      bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    scope         text        NOT NULL,
    person_key    text        NOT NULL,
    reason        text        NOT NULL
                  CHECK (reason IN ('unsubscribed', 'hard_bounce', 'complaint', 'manual', 'erased')),
    purpose_id    text        NOT NULL DEFAULT '',
    source        text        NOT NULL,
    source_detail text        NOT NULL DEFAULT '',
    note          text        NOT NULL DEFAULT '',
    email         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, person_key, reason, purpose_id)
);
CREATE INDEX suppressions_scope_entry ON suppressions (scope, entry_id DESC);

-- Who lifted which suppression and why (the entry itself is deleted).
CREATE TABLE suppression_removals (
    scope      text        NOT NULL,
    person_key text        NOT NULL,
    reason     text        NOT NULL,
    purpose_id text        NOT NULL,
    note       text        NOT NULL DEFAULT '',
    removed_by text        NOT NULL,
    removed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX suppression_removals_person ON suppression_removals (scope, person_key);

-- ------------------------------------------------------------------------------ double opt-in

-- A pending request is not consent: the ledger records it only once confirmed. Deleted 60
-- days after it started (retention); the address is dropped as soon as it is confirmed.
CREATE TABLE double_opt_ins (
    confirmation_id  uuid        PRIMARY KEY,
    account_id       text        NOT NULL,
    person_key       text        NOT NULL,
    email            text,
    to_name          text,
    purpose_ids      uuid[]      NOT NULL,
    source           text        NOT NULL,
    source_detail    text        NOT NULL DEFAULT '',
    checkbox_text    text        NOT NULL DEFAULT '',
    document_id      text        NOT NULL DEFAULT '',
    document_version text        NOT NULL DEFAULT '',
    ip_hash          text        NOT NULL DEFAULT '',
    user_agent       text        NOT NULL DEFAULT '',
    locale           text        NOT NULL DEFAULT '',
    started_at       timestamptz NOT NULL,
    link_expires_at  timestamptz NOT NULL,
    confirmed_at     timestamptz,
    sends            integer     NOT NULL DEFAULT 1,
    last_sent_at     timestamptz NOT NULL
);
CREATE INDEX double_opt_ins_person ON double_opt_ins (account_id, person_key);
CREATE INDEX double_opt_ins_started ON double_opt_ins (started_at);

-- Our own users whose address identity verified (a sign-up marketing box counts from then;
-- remembered in case the verification is processed before the sign-up). Kept 30 days.
CREATE TABLE verified_users (
    person_key  text        PRIMARY KEY,
    user_id     text        NOT NULL,
    verified_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX verified_users_verified_at ON verified_users (verified_at);

-- ------------------------------------------------------------------------------ link IP hashes

-- Consent's own yearly IP salt for unsubscribe/preference links (see the README, "Consent").
CREATE TABLE ip_hash_salts (
    year         integer     PRIMARY KEY,
    salt         bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    retire_after timestamptz NOT NULL  -- end of the year: deleted 90 days later
);

-- One row per (IP hash, day, link kind, person): enough to count distinct people per IP.
CREATE TABLE link_hits (
    ip_hash    text        NOT NULL,
    day        date        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('unsubscribe', 'preferences')),
    account_id text        NOT NULL,
    person_key text        NOT NULL,
    seen_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ip_hash, day, kind, account_id, person_key)
);
CREATE INDEX link_hits_ip_seen ON link_hits (ip_hash, seen_at);
CREATE INDEX link_hits_seen ON link_hits (seen_at);

-- IP hashes that unsubscribed many different people: for a human to review.
CREATE TABLE ip_review_flags (
    ip_hash         text        NOT NULL,
    day             date        NOT NULL,
    distinct_people integer     NOT NULL,
    flagged_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ip_hash, day)
);
CREATE INDEX ip_review_flags_flagged ON ip_review_flags (flagged_at);

-- ------------------------------------------------------------------------------ legal documents

-- Published versions are immutable (same trigger as the ledger).
CREATE TABLE legal_documents (
    account_id         text        NOT NULL,
    document_id        text        NOT NULL,
    version            text        NOT NULL,
    locale             text        NOT NULL,
    kind               text        NOT NULL,
    title              text        NOT NULL,
    body_markdown      text        NOT NULL,
    body_sha256        text        NOT NULL,
    url                text        NOT NULL DEFAULT '',
    checkbox_text      text        NOT NULL DEFAULT '',
    material           boolean     NOT NULL,
    summary_of_changes text        NOT NULL DEFAULT '',
    published_at       timestamptz NOT NULL,
    effective_at       timestamptz NOT NULL,
    notice_at          timestamptz,
    PRIMARY KEY (account_id, document_id, version, locale)
);
CREATE INDEX legal_documents_effective ON legal_documents (account_id, document_id, effective_at DESC);
CREATE TRIGGER legal_documents_append_only
    BEFORE UPDATE OR DELETE ON legal_documents
    FOR EACH ROW EXECUTE FUNCTION consent_append_only();
