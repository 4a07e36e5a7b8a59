-- consent_apply_unsubscribe (0004) took the chain head's lock before recording the link
-- visit, while the locking path and the preference centre record the visit first: two
-- unsubscribes of one person from one address could deadlock. Same function, same contract,
-- locks in one order: link hit, chain head, suppression. (When the head moved, the visit stays
-- recorded; the locking path records it again as a no-op.)
CREATE OR REPLACE FUNCTION consent_apply_unsubscribe(
    p_account text,
    p_person text,
    p_seq bigint,                -- chain head the rows were prepared against
    p_head text,
    p_entry jsonb,               -- the consent_ledger row (NULL: already withdrawn)
    p_state jsonb,               -- its consent_states row
    p_event_id uuid,             -- its event's outbox row (NULL: no event)
    p_subject text,
    p_payload bytea,
    p_headers jsonb,
    p_suppression jsonb,         -- suppressions row (scope, person_key, reason, purpose_id, source, source_detail)
    p_aggregate text,            -- its aggregate id, and the version its event carries
    p_version bigint,
    p_suppressed_event_id uuid,  -- the ContactSuppressed outbox row, written only if the entry is new
    p_suppressed_subject text,
    p_suppressed_payload bytea,
    p_suppressed_headers jsonb,
    p_hit_ip text,               -- link visit by salted IP hash (NULL: none recorded)
    p_hit_day date,
    p_hit_at timestamptz,
    p_window_start timestamptz,
    p_threshold integer
) RETURNS TABLE (applied boolean, suppression_added boolean, people bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_seq bigint;
    v_head text;
    v_added boolean := false;
    v_version bigint;
    v_people bigint := 0;
BEGIN
    -- The link visit first: every path takes its locks in the same order (link hit, chain
    -- head, suppression), as the locking path and the preference centre do.
    IF p_hit_ip IS NOT NULL THEN
        INSERT INTO link_hits (ip_hash, day, kind, account_id, person_key, seen_at)
        VALUES (p_hit_ip, p_hit_day, 'unsubscribe', p_account, p_person, p_hit_at)
        ON CONFLICT DO NOTHING;
        -- Counting stops at the threshold, as in the locking path.
        SELECT count(*) INTO v_people FROM (
            SELECT DISTINCT h.account_id, h.person_key FROM link_hits h
            WHERE h.ip_hash = p_hit_ip AND h.kind = 'unsubscribe' AND h.seen_at > p_window_start
            LIMIT p_threshold
        ) distinct_people;
    END IF;

    SELECT c.seq, c.head_hash INTO v_seq, v_head FROM ledger_chains c
    WHERE c.account_id = p_account AND c.person_key = p_person
    FOR UPDATE;
    IF NOT FOUND OR v_seq <> p_seq OR v_head <> p_head THEN
        RETURN QUERY SELECT false, false, v_people;
        RETURN;
    END IF;

    IF p_entry IS NOT NULL THEN
        INSERT INTO consent_ledger
        SELECT * FROM jsonb_populate_record(NULL::consent_ledger, p_entry);
        INSERT INTO consent_states
        SELECT * FROM jsonb_populate_record(NULL::consent_states, p_state)
        ON CONFLICT (account_id, purpose_id, person_key) DO UPDATE
        SET status = EXCLUDED.status, restricted = EXCLUDED.restricted,
            version = EXCLUDED.version, since = EXCLUDED.since,
            last_record_id = EXCLUDED.last_record_id;
        UPDATE ledger_chains
        SET seq = (p_entry->>'seq')::bigint, head_hash = p_entry->>'entry_hash',
            recorded_at = (p_entry->>'recorded_at')::timestamptz
        WHERE account_id = p_account AND person_key = p_person;
        IF p_event_id IS NOT NULL THEN
            INSERT INTO kit_outbox (event_id, subject, payload, headers)
            VALUES (p_event_id, p_subject, p_payload, p_headers);
        END IF;
    END IF;

    INSERT INTO suppressions (scope, person_key, reason, purpose_id, source, source_detail)
    SELECT s.scope, s.person_key, s.reason, s.purpose_id, s.source, s.source_detail
    FROM jsonb_populate_record(NULL::suppressions, p_suppression) s
    ON CONFLICT (scope, person_key, reason, purpose_id) DO NOTHING;
    v_added := FOUND;
    IF v_added THEN
        INSERT INTO aggregate_versions (aggregate_id, version) VALUES (p_aggregate, 1)
        ON CONFLICT (aggregate_id) DO UPDATE SET version = aggregate_versions.version + 1
        RETURNING version INTO v_version;
        IF v_version <> p_version THEN
            RAISE EXCEPTION 'suppression % changed while unsubscribing', p_aggregate
                USING ERRCODE = 'serialization_failure';
        END IF;
        INSERT INTO kit_outbox (event_id, subject, payload, headers)
        VALUES (p_suppressed_event_id, p_suppressed_subject, p_suppressed_payload,
                p_suppressed_headers);
    END IF;

    RETURN QUERY SELECT true, v_added, v_people;
END
$$;
