-- Delivery: link and open tracking of campaign mail (tracking.py).
--
-- A campaign revision whose purpose allows tracking has its links rewritten once, when it is
-- compiled: each distinct target gets a position, and the target is kept here, so a click
-- token (which names the revision's link set, the message and the position, never a URL)
-- can only lead where the campaign's own template led. Engagement is kept with the person
-- only when they allowed engagement tracking at send time and still do; otherwise only the
-- count per (campaign, kind, position) grows.

-- Whether the recipient allowed personal engagement tracking when the batch was handed over.
ALTER TABLE messages ADD COLUMN tracking boolean NOT NULL DEFAULT false;

-- One per tracked campaign revision; its id is the one click and open tokens carry.
CREATE TABLE tracked_contents (
    link_set_id       uuid        PRIMARY KEY,
    tenant_id         text        NOT NULL,
    campaign_id       text        NOT NULL,
    template_revision bigint      NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, campaign_id, template_revision)
);

-- Link position → target URL of a tracked revision (no personal data: the template's links).
CREATE TABLE tracked_links (
    link_set_id uuid     NOT NULL REFERENCES tracked_contents (link_set_id) ON DELETE CASCADE,
    position    smallint NOT NULL CHECK (position > 0),
    url         text     NOT NULL,
    PRIMARY KEY (link_set_id, position)
);

-- Counters of every open and click (personal or not): position 0 for opens.
CREATE TABLE engagement_counts (
    tenant_id   text        NOT NULL,
    campaign_id text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('open', 'click')),
    position    smallint    NOT NULL DEFAULT 0,
    anonymous   bigint      NOT NULL DEFAULT 0,
    personal    bigint      NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, campaign_id, kind, position)
);
CREATE INDEX engagement_counts_updated_idx ON engagement_counts (updated_at);

-- Personal opens and clicks: only of people who allowed engagement tracking (18 months).
CREATE TABLE engagement_events (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   text        NOT NULL,
    campaign_id text        NOT NULL,
    message_id  uuid        NOT NULL,             -- the ledger row (which goes first, at 90 days)
    person_key  text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('open', 'click')),
    position    smallint    NOT NULL DEFAULT 0,
    url         text        NOT NULL DEFAULT '',
    device_class text       NOT NULL DEFAULT '',
    occurred_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX engagement_events_person_idx ON engagement_events (person_key, tenant_id);
CREATE INDEX engagement_events_occurred_idx ON engagement_events (occurred_at);
