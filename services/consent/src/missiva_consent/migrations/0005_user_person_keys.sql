-- Every person key each of our own users has had (identity.user.email_changed): a changed
-- address changes the key, and the ledger stays under the key of its time (append-only), so
-- a user's data-subject request and consent's export/erasure of that user look up all of
-- them here (dsar_store.user_person_keys). Pseudonymous (keys and ids, never an address).
-- Kept like the ledger those keys name, except that the rows of a user go when their account
-- is erased (identity.account.erased) or they have themselves erased (retention.py).
CREATE TABLE user_person_keys (
    user_id       text        NOT NULL,
    person_key    text        NOT NULL,
    account_id    text        NOT NULL,
    -- When this key became the user's current one (the change's time); NULL for a key only
    -- known as the one the user changed away from. The current key has the latest.
    current_since timestamptz,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, person_key)
);
CREATE INDEX user_person_keys_account ON user_person_keys (account_id);
