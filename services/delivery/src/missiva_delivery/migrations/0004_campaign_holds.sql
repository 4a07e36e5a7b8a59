-- Delivery: campaign's pauses, resumptions and cancellations, as delivery last heard them
-- (the highest aggregate version wins). A paused campaign's waiting rows are held (their
-- next attempt far in the future); a cancelled campaign's waiting rows fail.
CREATE TABLE campaign_holds (
    tenant_id         text        NOT NULL,
    campaign_id       text        NOT NULL,
    state             text        NOT NULL CHECK (state IN ('running', 'paused', 'cancelled')),
    aggregate_version bigint      NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, campaign_id)
);
