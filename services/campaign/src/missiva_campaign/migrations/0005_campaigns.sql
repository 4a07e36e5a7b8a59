-- Templates, campaigns, their recipient snapshots and the statistics read model.

CREATE TABLE templates (
    id uuid PRIMARY KEY,
    account_id text NOT NULL,
    name text NOT NULL,
    category text NOT NULL CHECK (category IN ('marketing', 'product_update', 'system')),
    locale text NOT NULL DEFAULT '',
    subject text NOT NULL,
    preheader text NOT NULL DEFAULT '',
    html_body text NOT NULL,
    text_body text NOT NULL DEFAULT '',
    revision bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX templates_account_keyset ON templates (account_id, id);

CREATE TABLE campaigns (
    id uuid PRIMARY KEY,
    account_id text NOT NULL,
    name text NOT NULL,
    status text NOT NULL DEFAULT 'draft' CHECK (status IN (
        'draft', 'scheduled', 'sending', 'paused', 'completed', 'completed_with_failures',
        'cancelled')),
    category text NOT NULL CHECK (category IN ('marketing', 'product_update')),
    purpose_id text NOT NULL DEFAULT '',
    template_id text NOT NULL DEFAULT '',
    subject text NOT NULL DEFAULT '',
    preheader text NOT NULL DEFAULT '',
    from_name text NOT NULL DEFAULT '',
    from_address text NOT NULL DEFAULT '',
    reply_to text NOT NULL DEFAULT '',
    sender_domain_id text NOT NULL DEFAULT '',
    list_ids uuid[] NOT NULL DEFAULT '{}',
    segment_ids uuid[] NOT NULL DEFAULT '{}',
    excluded_list_ids uuid[] NOT NULL DEFAULT '{}',
    scheduled_at timestamptz,
    schedule_timezone text NOT NULL DEFAULT '',
    recipient_local_time boolean NOT NULL DEFAULT false,
    pause_reason text NOT NULL DEFAULT '',
    last_error text NOT NULL DEFAULT '',
    missing_credits bigint NOT NULL DEFAULT 0,
    start_attempt bigint NOT NULL DEFAULT 0,   -- the credit reservation's retry key suffix
    generation bigint NOT NULL DEFAULT 0,      -- the current EmitCampaignBatches chain
    chain_idle boolean NOT NULL DEFAULT false, -- the chain ended with recipients not yet due
    credit_reservation_id text NOT NULL DEFAULT '',
    -- The content compiled once when sending starts (sanitised, CSS inlined, text part).
    compiled_subject text NOT NULL DEFAULT '',
    compiled_preheader text NOT NULL DEFAULT '',
    compiled_html text NOT NULL DEFAULT '',
    compiled_text text NOT NULL DEFAULT '',
    compiled_revision bigint NOT NULL DEFAULT 0,
    -- Counters kept with every change (aggregates: they stay when snapshots are anonymised).
    recipient_count bigint NOT NULL DEFAULT 0,
    excluded_count bigint NOT NULL DEFAULT 0,
    batch_count bigint NOT NULL DEFAULT 0,
    batched_count bigint NOT NULL DEFAULT 0,
    dropped_count bigint NOT NULL DEFAULT 0,   -- gone from the account before their batch
    version bigint NOT NULL DEFAULT 1,
    started_at timestamptz,
    completed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_account_keyset ON campaigns (account_id, id DESC);
CREATE INDEX campaigns_due ON campaigns (scheduled_at) WHERE status = 'scheduled';

-- The recipient snapshot: one row per contact a campaign goes to (written by one statement).
-- contact_id and person_key are blanked 6 months after the send ended (retention.py).
CREATE TABLE campaign_recipients (
    campaign_id uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    seq bigint NOT NULL,                 -- order of emission, 1..n
    contact_id uuid,
    person_key text,
    purpose_id text NOT NULL,
    due_at timestamptz NOT NULL,         -- when it may be handed to delivery (local time)
    status text NOT NULL DEFAULT 'queued' CHECK (status IN (
        'queued', 'batched', 'sent', 'delivered', 'deferred', 'bounced', 'complained',
        'failed', 'cancelled')),
    batch_id text NOT NULL DEFAULT '',
    message_id text NOT NULL DEFAULT '',
    engagement_tracking boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    anonymised_at timestamptz,
    PRIMARY KEY (campaign_id, seq)
);
CREATE INDEX campaign_recipients_queued ON campaign_recipients (campaign_id, due_at, seq)
    WHERE status = 'queued';
-- Handed to delivery and not yet answered (not touched when the snapshot is written).
CREATE INDEX campaign_recipients_batched ON campaign_recipients (campaign_id)
    WHERE status = 'batched';
CREATE INDEX campaign_recipients_person ON campaign_recipients (campaign_id, person_key);

-- Per-purpose frequency caps of an account: at most max_messages campaigns per window.
CREATE TABLE frequency_caps (
    account_id text NOT NULL,
    purpose_id text NOT NULL,
    max_messages integer NOT NULL CHECK (max_messages > 0),
    window_days integer NOT NULL CHECK (window_days BETWEEN 1 AND 180),  -- within retention
    PRIMARY KEY (account_id, purpose_id)
);

-- The statistics read model (delivery's events): counters per campaign and per hour.
CREATE TABLE campaign_stats (
    campaign_id uuid PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
    account_id text NOT NULL,
    sent bigint NOT NULL DEFAULT 0,
    delivered bigint NOT NULL DEFAULT 0,
    deferred bigint NOT NULL DEFAULT 0,
    hard_bounces bigint NOT NULL DEFAULT 0,
    soft_bounces bigint NOT NULL DEFAULT 0,
    complaints bigint NOT NULL DEFAULT 0,
    opens bigint NOT NULL DEFAULT 0,
    unique_opens bigint NOT NULL DEFAULT 0,
    clicks bigint NOT NULL DEFAULT 0,
    unique_clicks bigint NOT NULL DEFAULT 0,
    unsubscribes bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0,        -- failed for good: never sent, or bounced
    deferred_now bigint NOT NULL DEFAULT 0,  -- recipients whose message is deferred now
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE campaign_stats_hourly (
    campaign_id uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    bucket_start timestamptz NOT NULL,
    sent bigint NOT NULL DEFAULT 0,
    delivered bigint NOT NULL DEFAULT 0,
    bounces bigint NOT NULL DEFAULT 0,
    opens bigint NOT NULL DEFAULT 0,
    clicks bigint NOT NULL DEFAULT 0,
    complaints bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, bucket_start)
);

CREATE TABLE campaign_link_clicks (
    campaign_id uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    position integer NOT NULL,
    url text NOT NULL,
    clicks bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, position)
);

-- Who opened / clicked, for the unique counts (tracked people only; anonymised with the
-- snapshot).
CREATE TABLE campaign_engagement (
    campaign_id uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    person_key text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('open', 'click')),
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, person_key, kind)
);
