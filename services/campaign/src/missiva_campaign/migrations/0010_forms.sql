-- Subscribe forms (hosted, embedded, popup) and their submissions waiting for consent's
-- confirmation. Numbered 0010 to leave 0006-0009 to other branches.

CREATE TABLE forms (
    id uuid PRIMARY KEY,
    account_id text NOT NULL,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('hosted', 'popup')),
    fields jsonb NOT NULL DEFAULT '[]',          -- [{name, label, required}]
    list_ids uuid[] NOT NULL,
    title text NOT NULL DEFAULT '',
    description text NOT NULL DEFAULT '',
    submit_label text NOT NULL DEFAULT '',
    consent_text text NOT NULL,
    policy_document_id text NOT NULL DEFAULT '',
    policy_version text NOT NULL DEFAULT '',
    single_opt_in boolean NOT NULL DEFAULT false,
    thank_you_message text NOT NULL DEFAULT '',
    thank_you_url text NOT NULL DEFAULT '',
    confirmed_message text NOT NULL DEFAULT '',
    confirmed_url text NOT NULL DEFAULT '',
    popup jsonb NOT NULL DEFAULT '{}',
    min_fill_seconds integer NOT NULL DEFAULT 3 CHECK (min_fill_seconds BETWEEN 0 AND 600),
    challenge_required boolean NOT NULL DEFAULT false,
    locale text NOT NULL DEFAULT '',
    active boolean NOT NULL DEFAULT true,
    submission_count bigint NOT NULL DEFAULT 0,
    confirmed_count bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz                       -- in the trash since; purged 30 days later
);
CREATE UNIQUE INDEX forms_live_name ON forms (account_id, lower(name)) WHERE deleted_at IS NULL;
CREATE INDEX forms_account_keyset ON forms (account_id, id);
CREATE INDEX forms_trash ON forms (deleted_at) WHERE deleted_at IS NOT NULL;

-- A submission holds what the visitor typed until consent confirms (then the contact is
-- written and the address is blanked here) or until it expires (retention.py).
CREATE TABLE form_submissions (
    id uuid PRIMARY KEY,
    account_id text NOT NULL,
    form_id uuid NOT NULL REFERENCES forms (id) ON DELETE CASCADE,
    person_key text NOT NULL,
    email text NOT NULL,
    first_name text NOT NULL DEFAULT '',
    last_name text NOT NULL DEFAULT '',
    locale text NOT NULL DEFAULT '',
    attributes jsonb NOT NULL DEFAULT '{}',
    list_ids uuid[] NOT NULL,
    purpose_ids text[] NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'confirmed')),
    confirmation_id text NOT NULL DEFAULT '',
    contact_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    confirmed_at timestamptz
);
CREATE INDEX form_submissions_pending ON form_submissions (account_id, person_key)
    WHERE status = 'pending';
CREATE INDEX form_submissions_person ON form_submissions (person_key);
CREATE INDEX form_submissions_created ON form_submissions (created_at);
