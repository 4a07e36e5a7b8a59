-- Invoices and credit notes: one invoice per payment, numbered per fiscal year.
--
-- Numbering: one counter row per (series, fiscal year) incremented in the transaction that
-- inserts the invoice (INSERT ... ON CONFLICT DO UPDATE ... RETURNING): concurrent issuers
-- queue on the row, a rolled-back transaction gives its number back, so numbers have no gap
-- and no repeat (and UNIQUE (series, fiscal_year, number) holds them to it).
-- Immutable once issued: a trigger refuses any change to what the invoice says. Only its
-- payment state, its SDI state and the encrypted tax fields' key (rotation re-encrypts the
-- same value) may change; a row may be deleted only once its 10-year retention has passed.

CREATE TABLE invoice_counters (
    series      text NOT NULL,
    fiscal_year int  NOT NULL,
    last_number int  NOT NULL CHECK (last_number > 0),
    PRIMARY KEY (series, fiscal_year)
);

CREATE TABLE invoices (
    invoice_id        uuid PRIMARY KEY,
    account_id        text NOT NULL,
    -- invoice (TD01) or credit_note (TD04, for a refund of an earlier invoice)
    kind              text NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
    series            text NOT NULL,
    fiscal_year       int  NOT NULL,
    number            int  NOT NULL CHECK (number > 0),
    number_text       text NOT NULL,
    issued_at         timestamptz NOT NULL,
    issue_date        date NOT NULL,
    currency          text NOT NULL DEFAULT 'EUR',
    lines             jsonb NOT NULL,
    subtotal_cents    bigint NOT NULL,
    vat_cents         bigint NOT NULL,
    total_cents       bigint NOT NULL CHECK (total_cents = subtotal_cents + vat_cents),
    vat_kind          text NOT NULL,
    vat_rate_bps      int  NOT NULL,
    natura            text NOT NULL DEFAULT '',
    vat_note          text NOT NULL DEFAULT '',
    language          text NOT NULL CHECK (language IN ('en', 'it')),
    -- The billing profile as it was at issue time (tax fields apart, encrypted).
    billed_to         jsonb NOT NULL,
    billed_vat_enc    bytea,
    billed_tax_enc    bytea,
    -- What it was issued for: the payment (one invoice per payment) or the refunded invoice.
    provider          text NOT NULL,
    payment_ref       text NOT NULL,
    credited_invoice  uuid REFERENCES invoices (invoice_id),
    status            text NOT NULL CHECK (status IN ('issued', 'paid', 'void')),
    paid_at           timestamptz,
    sdi_status        text NOT NULL
        CHECK (sdi_status IN ('not_applicable', 'pending', 'sent', 'delivered', 'rejected')),
    sdi_file_name     text NOT NULL DEFAULT '',
    sdi_errors        jsonb NOT NULL DEFAULT '[]',
    sdi_updated_at    timestamptz,
    retain_until      timestamptz NOT NULL,
    UNIQUE (series, fiscal_year, number),
    UNIQUE (kind, provider, payment_ref)
);
CREATE INDEX invoices_account ON invoices (account_id, issued_at DESC, invoice_id DESC);
CREATE INDEX invoices_sdi_pending ON invoices (sdi_status) WHERE sdi_status = 'pending';

CREATE FUNCTION invoices_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.retain_until > now() THEN
            RAISE EXCEPTION 'invoice % is kept until %', OLD.number_text, OLD.retain_until
                USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF (NEW.invoice_id, NEW.account_id, NEW.kind, NEW.series, NEW.fiscal_year, NEW.number,
        NEW.number_text, NEW.issued_at, NEW.issue_date, NEW.currency, NEW.lines,
        NEW.subtotal_cents, NEW.vat_cents, NEW.total_cents, NEW.vat_kind, NEW.vat_rate_bps,
        NEW.natura, NEW.vat_note, NEW.language, NEW.billed_to, NEW.provider, NEW.payment_ref,
        NEW.credited_invoice, NEW.retain_until)
       IS DISTINCT FROM
       (OLD.invoice_id, OLD.account_id, OLD.kind, OLD.series, OLD.fiscal_year, OLD.number,
        OLD.number_text, OLD.issued_at, OLD.issue_date, OLD.currency, OLD.lines,
        OLD.subtotal_cents, OLD.vat_cents, OLD.total_cents, OLD.vat_kind, OLD.vat_rate_bps,
        OLD.natura, OLD.vat_note, OLD.language, OLD.billed_to, OLD.provider, OLD.payment_ref,
        OLD.credited_invoice, OLD.retain_until) THEN
        RAISE EXCEPTION 'invoice % is issued: its content cannot change', OLD.number_text
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (OLD.billed_vat_enc IS NULL) <> (NEW.billed_vat_enc IS NULL)
       OR (OLD.billed_tax_enc IS NULL) <> (NEW.billed_tax_enc IS NULL) THEN
        RAISE EXCEPTION 'invoice % is issued: its tax fields cannot be removed', OLD.number_text
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.status = 'void' AND NEW.status <> 'void' THEN
        RAISE EXCEPTION 'invoice % was cancelled by a credit note', OLD.number_text
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER invoices_immutable BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_immutable();

CREATE FUNCTION invoices_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'invoices are kept 10 years' USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER invoices_no_truncate BEFORE TRUNCATE ON invoices
    FOR EACH STATEMENT EXECUTE FUNCTION invoices_no_truncate();
