-- A projection of consent's state per (account, person, purpose), fed by consent.purpose.*
-- events, so an audience can be one SQL statement. The highest aggregate version wins.

CREATE TABLE consent_states (
    account_id text NOT NULL,
    person_key text NOT NULL,
    purpose_id text NOT NULL,
    status text NOT NULL
        CHECK (status IN ('granted', 'withdrawn', 'objected', 'restricted', 'pending',
                          'not_recorded')),
    kind text NOT NULL DEFAULT '',        -- 'email' or 'tracking' when an event said so
    aggregate_version bigint NOT NULL,
    changed_at timestamptz NOT NULL,      -- when consent recorded it (the event's time)
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, purpose_id, person_key)
);
CREATE INDEX consent_states_person ON consent_states (person_key);
CREATE INDEX consent_states_inactive ON consent_states (updated_at)
    WHERE status IN ('withdrawn', 'objected', 'not_recorded');
