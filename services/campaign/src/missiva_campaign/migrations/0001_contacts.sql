-- Contacts of each account, the trash, the suppression projection and the document notices.

CREATE TABLE contacts (
    id uuid PRIMARY KEY,
    account_id text NOT NULL,
    email text NOT NULL,                 -- as validated (email-validator's normalised form)
    email_key text NOT NULL,             -- the kit's normalised form: unique per live contact
    person_key text NOT NULL,            -- keyed hash of the address, identical to consent's
    first_name text NOT NULL DEFAULT '',
    last_name text NOT NULL DEFAULT '',
    locale text NOT NULL DEFAULT '',
    timezone text NOT NULL DEFAULT '',
    attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
    tags text[] NOT NULL DEFAULT '{}',
    source text NOT NULL CHECK (source IN ('api', 'form', 'import', 'manual')),
    source_detail text NOT NULL DEFAULT '',
    actor_kind text NOT NULL,
    actor_id text NOT NULL,
    version bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    last_interaction_at timestamptz,
    deleted_at timestamptz               -- in the trash since; purged 30 days later
);

CREATE UNIQUE INDEX contacts_live_email ON contacts (account_id, email_key)
    WHERE deleted_at IS NULL;
CREATE INDEX contacts_account_keyset ON contacts (account_id, id);
CREATE INDEX contacts_email_prefix ON contacts (account_id, email_key text_pattern_ops);
CREATE INDEX contacts_person ON contacts (person_key);
CREATE INDEX contacts_attributes ON contacts USING gin (attributes jsonb_path_ops);
CREATE INDEX contacts_tags ON contacts USING gin (tags);
CREATE INDEX contacts_trash ON contacts (deleted_at) WHERE deleted_at IS NOT NULL;

-- Consent's suppression list, as far as campaign needs it (fed by consent.contact.suppressed
-- and .unsuppressed). scope is the account id, or '' for a platform-wide entry. The highest
-- aggregate version seen wins, so a late, older event never undoes a newer one.
CREATE TABLE suppressions (
    scope text NOT NULL,
    person_key text NOT NULL,
    reason text NOT NULL,
    purpose_id text NOT NULL DEFAULT '',
    active boolean NOT NULL,
    aggregate_version bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, person_key, reason, purpose_id)
);
CREATE INDEX suppressions_person ON suppressions (person_key) WHERE active;

-- One notice per contact per (document, version): the row commits with the outgoing command.
CREATE TABLE document_notices_sent (
    account_id text NOT NULL,
    document_id text NOT NULL,
    version text NOT NULL,
    contact_id uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    locale text NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, document_id, version, contact_id)
);
CREATE INDEX document_notices_sent_contact ON document_notices_sent (contact_id);
CREATE INDEX document_notices_sent_at ON document_notices_sent (sent_at);
