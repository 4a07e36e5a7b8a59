-- Delivery: sender domains and their DKIM keys.
--
-- A domain is not personal data. A DKIM private key is a secret: stored only encrypted with
-- the kit's field cipher (associated data: tenant, domain, selector), and deleted by the
-- retention rule once it has been superseded for DKIM_RETIRE_AFTER_DAYS.

CREATE TABLE sender_domains (
    id               uuid        PRIMARY KEY,
    tenant_id        text        NOT NULL,
    domain           text        NOT NULL,              -- lower case, ASCII (A-labels)
    return_path      text        NOT NULL,              -- the bounce domain: bounces.<domain>
    status           text        NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'verified', 'failed')),
    checks           jsonb       NOT NULL DEFAULT '{}', -- "TYPE name" → {"ok", "found"}
    version          bigint      NOT NULL DEFAULT 1,    -- aggregate version of its events
    created_at       timestamptz NOT NULL DEFAULT now(),
    verified_at      timestamptz,
    last_checked_at  timestamptz,
    dkim_rotated_at  timestamptz,
    UNIQUE (tenant_id, domain)
);
CREATE INDEX sender_domains_page_idx ON sender_domains (tenant_id, created_at, id);

CREATE TABLE dkim_keys (
    sender_domain_id uuid        NOT NULL REFERENCES sender_domains (id) ON DELETE CASCADE,
    selector         text        NOT NULL,
    tenant_id        text        NOT NULL,
    algorithm        text        NOT NULL CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
    -- pending: made by a rotation, signs once its record verifies; active: signs;
    -- retiring: superseded, still published until the retention rule deletes it.
    state            text        NOT NULL CHECK (state IN ('pending', 'active', 'retiring')),
    private_key_enc  bytea       NOT NULL,
    dns_value        text        NOT NULL,              -- the TXT value publishing it
    created_at       timestamptz NOT NULL DEFAULT now(),
    superseded_at    timestamptz,
    PRIMARY KEY (sender_domain_id, selector)
);
CREATE INDEX dkim_keys_superseded_idx ON dkim_keys (superseded_at) WHERE superseded_at IS NOT NULL;
