-- The trash for lists, templates and campaigns: deleted_at set when one is deleted; restorable
-- for 30 days, then purged by retention.py. A list's name is unique among the live lists only,
-- so a deleted list's name is free for a new one (restoring then refuses while that one lives).

ALTER TABLE contact_lists ADD COLUMN deleted_at timestamptz;  -- in the trash since
DROP INDEX contact_lists_name;
CREATE UNIQUE INDEX contact_lists_live_name ON contact_lists (account_id, lower(name))
    WHERE deleted_at IS NULL;
CREATE INDEX contact_lists_trash ON contact_lists (deleted_at) WHERE deleted_at IS NOT NULL;

ALTER TABLE templates ADD COLUMN deleted_at timestamptz;      -- in the trash since
CREATE INDEX templates_trash ON templates (deleted_at) WHERE deleted_at IS NOT NULL;

ALTER TABLE campaigns ADD COLUMN deleted_at timestamptz;      -- in the trash since
CREATE INDEX campaigns_trash ON campaigns (deleted_at) WHERE deleted_at IS NOT NULL;
