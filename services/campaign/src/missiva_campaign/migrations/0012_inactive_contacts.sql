-- Contacts with no interaction for 24 months are flagged; an account may have them deleted.
ALTER TABLE contacts ADD COLUMN inactive_since timestamptz;
CREATE INDEX contacts_activity ON contacts ((COALESCE(last_interaction_at, created_at)))
    WHERE deleted_at IS NULL;

CREATE TABLE contact_policies (
    account_id text PRIMARY KEY,
    delete_inactive boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);
