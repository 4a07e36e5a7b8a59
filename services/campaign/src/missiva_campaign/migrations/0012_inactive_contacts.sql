-- Contacts with no interaction for 24 months are flagged; an account may have them deleted.
ALTER TABLE contacts ADD COLUMN inactive_since timestamptz;
-- No index for the daily rule: one more index on contacts would slow every import merge.

CREATE TABLE contact_policies (
    account_id text PRIMARY KEY,
    delete_inactive boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);
