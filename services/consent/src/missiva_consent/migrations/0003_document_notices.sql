-- Notices of material changes to accounts' own privacy notices (notices.py): once a version's
-- notice time has come, consent queues a SendDocumentNoticeCommand to campaign, which owns the
-- contacts' addresses. One row per (account, document, version, locale) once handled, written
-- in the transaction that queues the command, so a notice is queued once. legal_documents rows
-- cannot change once published, hence a table of its own. No personal data: kept like the
-- documents, and append-only like them (the record of what was announced, and when).
CREATE TABLE document_notices (
    account_id    text        NOT NULL,
    document_id   text        NOT NULL,
    version       text        NOT NULL,
    locale        text        NOT NULL,
    notice_at     timestamptz NOT NULL,
    effective_at  timestamptz NOT NULL,
    -- When the job queued the command (or recorded the version as superseded).
    handled_at    timestamptz NOT NULL,
    -- The later version announced instead of this one; NULL when this one was announced.
    superseded_by text,
    -- The command's event id (the outbox row's, and the Nats-Msg-Id); NULL when superseded.
    command_id    uuid,
    PRIMARY KEY (account_id, document_id, version, locale),
    FOREIGN KEY (account_id, document_id, version, locale)
        REFERENCES legal_documents (account_id, document_id, version, locale),
    CHECK ((superseded_by IS NULL) <> (command_id IS NULL))
);
CREATE TRIGGER document_notices_append_only
    BEFORE UPDATE OR DELETE ON document_notices
    FOR EACH ROW EXECUTE FUNCTION consent_append_only();
CREATE TRIGGER document_notices_no_truncate
    BEFORE TRUNCATE ON document_notices
    FOR EACH STATEMENT EXECUTE FUNCTION consent_append_only();

-- What the job scans: material versions of accounts' privacy notices by notice time.
CREATE INDEX legal_documents_notices_due ON legal_documents (notice_at)
    WHERE material AND kind = 'account_privacy_notice';
