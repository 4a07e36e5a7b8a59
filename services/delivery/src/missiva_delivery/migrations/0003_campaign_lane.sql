-- Delivery: the campaign lane of the send ledger, the campaigns' compiled content, and the
-- replica of consent's suppressions and purpose blocks (checked right before each batch).

-- A campaign row: one per (campaign, contact), whatever how often its batch is delivered.
ALTER TABLE messages ADD COLUMN purpose_id text NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN content_revision bigint NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN credit_reservation_id text NOT NULL DEFAULT '';
CREATE UNIQUE INDEX messages_campaign_contact_idx ON messages (tenant_id, campaign_id, contact_id)
    WHERE lane = 'campaign';
-- A campaign's counters (GetCampaignDeliveryStats).
CREATE INDEX messages_campaign_idx ON messages (tenant_id, campaign_id) WHERE lane = 'campaign';

-- What every batch of a campaign renders: the template compiled by campaign (no personal
-- data), stored once per (campaign, template revision), and who it is sent as.
CREATE TABLE campaign_contents (
    tenant_id         text        NOT NULL,
    campaign_id       text        NOT NULL,
    template_revision bigint      NOT NULL,
    template_id       text        NOT NULL DEFAULT '',
    subject           text        NOT NULL,
    preheader         text        NOT NULL DEFAULT '',
    html_body         text        NOT NULL,
    text_body         text        NOT NULL DEFAULT '',
    category          smallint    NOT NULL,
    purpose_id        text        NOT NULL DEFAULT '',
    from_name         text        NOT NULL DEFAULT '',
    from_address      text        NOT NULL,
    reply_to          text        NOT NULL DEFAULT '',
    sender_domain_id  text        NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, campaign_id, template_revision)
);

-- Consent's view of who may not be mailed, by person key: suppression entries (source
-- 'suppression:<reason>', purpose '' for every purpose, tenant '' platform-wide) and purpose
-- blocks (source 'purpose': withdrawn, objected or restricted). The highest aggregate
-- version applied wins, so redelivered or reordered events converge on consent's state.
CREATE TABLE consent_blocks (
    tenant_id         text        NOT NULL,
    person_key        text        NOT NULL,
    purpose_id        text        NOT NULL DEFAULT '',
    source            text        NOT NULL,
    active            boolean     NOT NULL,
    aggregate_version bigint      NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_key, tenant_id, purpose_id, source)
);
CREATE INDEX consent_blocks_updated_idx ON consent_blocks (updated_at) WHERE NOT active;
