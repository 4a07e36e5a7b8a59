-- The privacy commands a service has answered, by (request id, kind): a command sent again
-- for the same data-subject request (a new event id, so the inbox cannot tell) gets no second,
-- different reply. Request ids only, no personal data; kept 90 days (retention.KIT_RULES).
CREATE TABLE kit_privacy_answers (
    request_id     text        NOT NULL,
    kind           text        NOT NULL CHECK (kind IN ('export', 'erase')),
    reply_event_id uuid        NOT NULL,
    answered_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, kind)
);
CREATE INDEX kit_privacy_answers_answered_at ON kit_privacy_answers (answered_at);
