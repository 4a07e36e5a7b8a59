-- A recipient's own corrections of their contact (CorrectMyContact, GDPR Art. 16): which
-- fields, when; never the values (the contact holds the current ones). Kept two years as the
-- record of the rectification, and gone with the contact (erasure, purge) by the foreign key.
CREATE TABLE contact_rectifications (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id text NOT NULL,
    contact_id uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    fields text[] NOT NULL,
    corrected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contact_rectifications_contact ON contact_rectifications (contact_id);
CREATE INDEX contact_rectifications_at ON contact_rectifications (corrected_at);
