-- The newest aggregate version each consumer has applied (versions.is_newer), so an event
-- that arrives after a later one of the same aggregate is recognised as stale.
CREATE TABLE kit_aggregate_versions (
    consumer   text        NOT NULL,
    aggregate  text        NOT NULL,  -- "<service>.<entity>:<aggregate id>"
    version    bigint      NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, aggregate)
);
