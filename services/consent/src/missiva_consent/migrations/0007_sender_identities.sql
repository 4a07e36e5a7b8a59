-- Who each account is to its recipients (the data controller of its contacts' data): the
-- name, postal address and privacy contact every public page of its links shows (the
-- preference centre, unsubscribe, confirmation and my-data pages). Business contact data
-- the account declares for publication, not data about its recipients. Kept while the
-- account exists; deleted with it (identity.account.erased, store.people.purge_account).
CREATE TABLE sender_identities (
    account_id      text        PRIMARY KEY,
    name            text        NOT NULL,
    postal_address  text        NOT NULL DEFAULT '',
    privacy_contact text        NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
