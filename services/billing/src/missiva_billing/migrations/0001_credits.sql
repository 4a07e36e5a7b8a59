-- Credits: an append-only ledger, the balance projection and the reservations.
--
-- Every change to an account's credits is one ledger row with the deltas it applies to the
-- projection (available, reserved), written in the transaction that updates the projection:
-- SUM(available_delta) = credit_balances.available and SUM(reserved_delta) = reserved, per
-- account. No row names a person: account ids, amounts, reservation and message ids, and the
-- caller's reference ("campaign:<id>").

CREATE TABLE credit_balances (
    account_id   text PRIMARY KEY,
    available    bigint NOT NULL DEFAULT 0 CHECK (available >= 0),
    reserved     bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    -- The last grant's amount: the low-balance warning fires at 10% of it.
    last_grant   bigint NOT NULL DEFAULT 0 CHECK (last_grant >= 0),
    -- Whether the warning for the current crossing was sent (reset once above the threshold).
    low_notified boolean NOT NULL DEFAULT false,
    version      bigint NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE credit_reservations (
    reservation_id uuid PRIMARY KEY,
    account_id     text NOT NULL,
    amount         bigint NOT NULL CHECK (amount > 0),
    committed      bigint NOT NULL DEFAULT 0 CHECK (committed >= 0),
    released       bigint NOT NULL DEFAULT 0 CHECK (released >= 0),
    reference      text NOT NULL DEFAULT '',
    -- open: reservable use; settling: its campaign ended, waiting for the sends it reported;
    -- closed: nothing held.
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'settling', 'closed')),
    expires_at     timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    closed_at      timestamptz,
    CHECK (committed + released <= amount),
    CHECK ((status = 'closed') = (committed + released = amount))
);
CREATE INDEX credit_reservations_reference ON credit_reservations (account_id, reference)
    WHERE status <> 'closed';
CREATE INDEX credit_reservations_expiry ON credit_reservations (expires_at)
    WHERE status <> 'closed';

CREATE TABLE credit_ledger (
    entry_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id      text NOT NULL,
    kind            text NOT NULL
        CHECK (kind IN ('grant', 'reserve', 'commit', 'release', 'expire', 'adjust')),
    amount          bigint NOT NULL CHECK (amount <> 0),
    available_delta bigint NOT NULL,
    reserved_delta  bigint NOT NULL,
    reservation_id  uuid,
    -- Commits from delivery's MessageSent: one per message, ever.
    message_id      text,
    -- Grants: what granted them ("plan:free"), once per account.
    grant_key       text,
    reference       text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (kind = 'adjust' OR amount > 0),
    CHECK (kind IN ('reserve', 'commit', 'release', 'expire') = (reservation_id IS NOT NULL)),
    CHECK ((kind = 'grant') = (grant_key IS NOT NULL))
);
CREATE UNIQUE INDEX credit_ledger_grant_once ON credit_ledger (account_id, grant_key)
    WHERE grant_key IS NOT NULL;
CREATE UNIQUE INDEX credit_ledger_message_once ON credit_ledger (account_id, message_id)
    WHERE message_id IS NOT NULL;
CREATE INDEX credit_ledger_account ON credit_ledger (account_id, entry_id);
CREATE INDEX credit_ledger_reservation ON credit_ledger (reservation_id)
    WHERE reservation_id IS NOT NULL;

-- Entries are never changed or removed.
CREATE FUNCTION credit_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'credit_ledger is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER credit_ledger_no_update_or_delete
    BEFORE UPDATE OR DELETE ON credit_ledger
    FOR EACH ROW EXECUTE FUNCTION credit_ledger_append_only();
CREATE TRIGGER credit_ledger_no_truncate
    BEFORE TRUNCATE ON credit_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION credit_ledger_append_only();
