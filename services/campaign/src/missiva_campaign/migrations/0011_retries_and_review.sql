-- Retries of a campaign's failed recipients, and the content screen's findings.
ALTER TABLE campaigns ADD COLUMN retry_count bigint NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN review_flags jsonb NOT NULL DEFAULT '[]';
CREATE INDEX campaign_recipients_failed ON campaign_recipients (campaign_id)
    WHERE status = 'failed';
