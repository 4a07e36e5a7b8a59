-- Notice emails of material changes to the platform's legal documents: consent announces the
-- version (`consent.document.published`, `notice_at` 14 days before it takes effect) and
-- identity, which holds the users' addresses, sends them (`send-legal-notices`).

-- One row per announced version (the key makes a redelivered event a no-op).
CREATE TABLE legal_notices (
    document_id        text        NOT NULL,
    version            text        NOT NULL,
    kind               integer     NOT NULL DEFAULT 0,
    title              text        NOT NULL DEFAULT '',
    url                text        NOT NULL DEFAULT '',
    summary_of_changes text        NOT NULL DEFAULT '',
    effective_at       timestamptz NOT NULL,
    notice_at          timestamptz NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    completed_at       timestamptz,  -- every user it concerns has been sent the notice
    PRIMARY KEY (document_id, version)
);
CREATE INDEX legal_notices_due_idx ON legal_notices (notice_at) WHERE completed_at IS NULL;

-- One row per (notice, user) sent, written in the transaction that queues the email: the
-- job's progress, so a crash mid-run neither skips nor doubles anyone.
CREATE TABLE legal_notice_sends (
    document_id text        NOT NULL,
    version     text        NOT NULL,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sent_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, version, user_id),
    FOREIGN KEY (document_id, version) REFERENCES legal_notices (document_id, version)
        ON DELETE CASCADE
);
CREATE INDEX legal_notice_sends_user_idx ON legal_notice_sends (user_id);
