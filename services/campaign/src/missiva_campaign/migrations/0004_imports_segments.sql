-- Saved segments (rule trees, compiled to SQL at use) and contact imports with their
-- progress and their rejected rows.

CREATE TABLE segments (
    id uuid PRIMARY KEY,
    account_id text NOT NULL,
    name text NOT NULL,
    rule_tree jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz                 -- in the trash since; purged 30 days later
);
CREATE UNIQUE INDEX segments_live_name ON segments (account_id, lower(name))
    WHERE deleted_at IS NULL;
CREATE INDEX segments_account_keyset ON segments (account_id, id);
CREATE INDEX segments_trash ON segments (deleted_at) WHERE deleted_at IS NOT NULL;

-- One row per import: options (no personal data), progress, and how far the rows were merged
-- (lines_done: every line up to it is in contacts or in import_errors, committed together).
CREATE TABLE contact_imports (
    id uuid PRIMARY KEY,
    account_id text NOT NULL,
    idempotency_key text NOT NULL DEFAULT '',
    status text NOT NULL CHECK (status IN ('running', 'completed', 'cancelled', 'interrupted')),
    options jsonb NOT NULL,
    consent_mode text NOT NULL CHECK (consent_mode IN ('proof', 'double_opt_in')),
    list_id uuid,
    purpose_id text NOT NULL DEFAULT '',
    lines_done bigint NOT NULL DEFAULT 0,
    rows_read bigint NOT NULL DEFAULT 0,
    total_rows bigint NOT NULL DEFAULT 0,
    good bigint NOT NULL DEFAULT 0,
    bad bigint NOT NULL DEFAULT 0,
    created bigint NOT NULL DEFAULT 0,
    updated bigint NOT NULL DEFAULT 0,
    skipped bigint NOT NULL DEFAULT 0,
    chunks bigint NOT NULL DEFAULT 0,
    actor_kind text NOT NULL,
    actor_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE UNIQUE INDEX contact_imports_key ON contact_imports (account_id, idempotency_key)
    WHERE idempotency_key <> '';
CREATE INDEX contact_imports_updated ON contact_imports (updated_at);

-- Rejected rows: line, field, reason (never the row's content: it may hold an address).
CREATE TABLE import_errors (
    import_id uuid NOT NULL REFERENCES contact_imports (id) ON DELETE CASCADE,
    line bigint NOT NULL,
    field text NOT NULL,
    reason text NOT NULL,
    PRIMARY KEY (import_id, line)
);

-- Contact search by name prefix (ListContacts' query matches the address or either name):
-- with these beside contacts_email_prefix the three prefixes are one bitmap OR of indexes.
CREATE INDEX contacts_first_name_prefix ON contacts (account_id, lower(first_name) text_pattern_ops);
CREATE INDEX contacts_last_name_prefix ON contacts (account_id, lower(last_name) text_pattern_ops);

-- The import that last created or updated a contact: a later row of the same address in that
-- import is a duplicate (the first row of an address wins), and a resumed import never applies
-- a row twice.
ALTER TABLE contacts ADD COLUMN last_import_id uuid;
