-- Delivery: "View online" (online.py). Message bodies are not stored: a campaign message's
-- view-online page is rendered again from the campaign's compiled template (campaign_contents)
-- and the merge data kept here, sealed with the field cipher exactly as the ledger row held it
-- while the message could still be sent. Only messages whose template links to the page
-- (``view_online_url``) get a copy, when they were sent; it goes VIEW_ONLINE_DAYS after the
-- send (retention.py), with the person (privacy.py), or with its ledger row.
CREATE TABLE online_copies (
    message_id       uuid        PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    tenant_id        text        NOT NULL,
    campaign_id      text        NOT NULL,
    content_revision bigint      NOT NULL,
    person_key       text        NOT NULL,
    payload_enc      bytea       NOT NULL,  -- the ledger row's sealed merge data (AAD: its id)
    sent_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX online_copies_person_idx ON online_copies (person_key, tenant_id);
CREATE INDEX online_copies_sent_idx ON online_copies (sent_at);
CREATE INDEX online_copies_content_idx ON online_copies (tenant_id, campaign_id, content_revision);
