-- Identity: accounts, users, credentials, sessions, keys, audit log.
-- Secrets (tokens, API keys, recovery codes) are stored only as keyed hashes; TOTP secrets
-- and signing keys only encrypted with the field cipher.

CREATE TABLE accounts (
    id                    uuid        PRIMARY KEY,
    name                  text        NOT NULL,
    status                text        NOT NULL CHECK (status IN
                              ('pending_verification', 'active', 'deletion_requested', 'suspended')),
    data_region           text        NOT NULL DEFAULT 'eu',
    created_at            timestamptz NOT NULL DEFAULT now(),
    deletion_requested_at timestamptz,
    purge_after           timestamptz,
    deletion_reason       text,
    inactivity_notice_at  timestamptz
);
CREATE INDEX accounts_purge_idx ON accounts (purge_after) WHERE purge_after IS NOT NULL;

CREATE TABLE users (
    id                uuid        PRIMARY KEY,
    account_id        uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email             text        NOT NULL,
    email_normalised  text        NOT NULL UNIQUE,
    person_key        text        NOT NULL,
    display_name      text        NOT NULL DEFAULT '',
    locale            text        NOT NULL DEFAULT 'en',
    time_zone         text        NOT NULL DEFAULT 'UTC',
    role              text        NOT NULL CHECK (role IN ('primary_admin', 'admin', 'member', 'billing')),
    status            text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'removed')),
    password_hash     text,
    password_changed_at timestamptz,
    email_verified_at timestamptz,
    age_confirmed     boolean     NOT NULL DEFAULT false,
    marketing_opt_in  boolean     NOT NULL DEFAULT false,
    oidc_subject      text        UNIQUE,
    totp_secret       bytea,
    totp_enabled_at   timestamptz,
    totp_last_step    bigint      NOT NULL DEFAULT 0,
    totp_pending_secret bytea,
    totp_pending_expires_at timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_login_at     timestamptz,
    removed_at        timestamptz,
    restorable_until  timestamptz,
    removed_by        uuid
);
CREATE INDEX users_account_idx ON users (account_id, created_at, id);
CREATE INDEX users_person_key_idx ON users (person_key);

-- What each user accepted, as shown to them (the consent service keeps the ledger; this is
-- identity's own record, needed to know who must accept a materially changed version).
CREATE TABLE legal_acceptances (
    id            bigserial   PRIMARY KEY,
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    document_id   text        NOT NULL,
    version       text        NOT NULL,
    checkbox_text text        NOT NULL,
    accepted_at   timestamptz NOT NULL DEFAULT now(),
    ip_pseudonym  text        NOT NULL DEFAULT '',
    user_agent    text        NOT NULL DEFAULT ''
);
CREATE INDEX legal_acceptances_user_idx ON legal_acceptances (user_id, document_id);

-- Versions of legal documents announced by the consent service.
CREATE TABLE legal_documents (
    document_id        text        NOT NULL,
    version            text        NOT NULL,
    kind               integer     NOT NULL DEFAULT 0,
    title              text        NOT NULL DEFAULT '',
    url                text        NOT NULL DEFAULT '',
    checkbox_text      text        NOT NULL DEFAULT '',
    summary_of_changes text        NOT NULL DEFAULT '',
    material           boolean     NOT NULL DEFAULT false,
    effective_at       timestamptz NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, version)
);

-- Single-use tokens sent by email (verification, reset, email change, restore, invitation).
CREATE TABLE email_tokens (
    token_hash  bytea       PRIMARY KEY,
    purpose     text        NOT NULL,
    user_id     uuid        REFERENCES users (id) ON DELETE CASCADE,
    account_id  uuid        REFERENCES accounts (id) ON DELETE CASCADE,
    new_email   text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX email_tokens_user_idx ON email_tokens (user_id, purpose, created_at);

CREATE TABLE sessions (
    id             uuid        PRIMARY KEY,
    user_id        uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account_id     uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    auth_time      timestamptz NOT NULL DEFAULT now(),
    remember_me    boolean     NOT NULL DEFAULT false,
    mfa            boolean     NOT NULL DEFAULT false,
    user_agent     text        NOT NULL DEFAULT '',
    ip_pseudonym   text        NOT NULL DEFAULT '',
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX sessions_user_idx ON sessions (user_id, last_used_at DESC, id);

-- Refresh tokens of a session (its "family"): one is live, the rotated ones are kept until
-- the session ends so that presenting one again is recognised as reuse.
CREATE TABLE refresh_tokens (
    token_hash  bytea       PRIMARY KEY,
    session_id  uuid        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    rotated_at  timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- Half-finished logins waiting for a second factor or a legal acceptance.
CREATE TABLE login_challenges (
    token_hash   bytea       PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         text        NOT NULL CHECK (kind IN ('mfa', 'legal')),
    mfa          boolean     NOT NULL DEFAULT false,
    remember_me  boolean     NOT NULL DEFAULT false,
    attempts     integer     NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);

CREATE TABLE recovery_codes (
    code_hash  bytea       PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz
);
CREATE INDEX recovery_codes_user_idx ON recovery_codes (user_id);

-- Failed and successful sign-in attempts by throttle key ("acct:<person key>",
-- "ip:<pseudonym>"): in the database so every replica sees the same counts.
CREATE TABLE login_attempts (
    id           bigserial   PRIMARY KEY,
    throttle_key text        NOT NULL,
    succeeded    boolean     NOT NULL,
    occurred_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_key_idx ON login_attempts (throttle_key, occurred_at);
CREATE INDEX login_attempts_time_idx ON login_attempts (occurred_at);

CREATE TABLE signing_keys (
    kid          text        PRIMARY KEY,
    private_jwk  bytea       NOT NULL,  -- field-cipher blob, associated data "signing-key:<kid>"
    public_jwk   jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    activates_at timestamptz NOT NULL DEFAULT now(),  -- published before it signs
    retired_at   timestamptz,           -- stops signing (when the next key activates)
    drop_after   timestamptz            -- stops verifying (every token it signed has expired)
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE retired_at IS NULL;

CREATE TABLE api_keys (
    id                 uuid        PRIMARY KEY,
    account_id         uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name               text        NOT NULL,
    prefix             text        NOT NULL,
    secret_hash        bytea       NOT NULL UNIQUE,
    scopes             text[]      NOT NULL,
    created_by_user_id uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    last_used_at       timestamptz,
    expires_at         timestamptz,
    revoked_at         timestamptz,
    -- Only while a create call with an idempotency key may be retried (24 h): the secret,
    -- encrypted, so the retry can return it; cleared by retention.
    replay_secret      bytea
);
CREATE INDEX api_keys_account_idx ON api_keys (account_id, created_at DESC, id);

CREATE TABLE audit_events (
    id            uuid        PRIMARY KEY,
    account_id    uuid,       -- NULL for attempts on unknown addresses
    actor_user_id uuid,
    action        text        NOT NULL,
    target        text        NOT NULL DEFAULT '',
    outcome       text        NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    ip_pseudonym  text        NOT NULL DEFAULT '',
    user_agent    text        NOT NULL DEFAULT '',
    details       jsonb       NOT NULL DEFAULT '{}',
    occurred_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_account_idx ON audit_events (account_id, occurred_at DESC, id DESC);
CREATE INDEX audit_events_time_idx ON audit_events (occurred_at);

CREATE TABLE invitations (
    id                 uuid        PRIMARY KEY,
    account_id         uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email              text        NOT NULL,
    role               text        NOT NULL,
    invited_by_user_id uuid,
    token_hash         bytea       NOT NULL UNIQUE,
    created_at         timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL,
    accepted_at        timestamptz
);
CREATE INDEX invitations_account_idx ON invitations (account_id, created_at);

-- OpenID Connect sign-ins in progress (state, nonce, PKCE verifier).
CREATE TABLE oidc_logins (
    state_hash    bytea       PRIMARY KEY,
    nonce         text        NOT NULL,
    code_verifier text        NOT NULL,
    redirect_uri  text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);
