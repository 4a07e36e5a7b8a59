-- Campaign: which sender domains delivery has verified (delivery.sender_domain.verified /
-- .unverified). A campaign may be scheduled or sent only from a verified domain. A domain is
-- not personal data; the account's rows go with the account.

CREATE TABLE sender_domains (
    account_id       text        NOT NULL,
    sender_domain_id text        NOT NULL,
    domain           text        NOT NULL,   -- lower case ASCII
    verified         boolean     NOT NULL,
    version          bigint      NOT NULL,   -- the event's aggregate version: newest wins
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, sender_domain_id)
);
CREATE INDEX sender_domains_domain_idx ON sender_domains (account_id, domain);
