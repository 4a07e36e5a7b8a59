-- Wake the outbox relay as soon as events commit. NOTIFY is transactional, so a rolled-back
-- insert wakes nobody; one notification per statement (and PostgreSQL folds identical ones
-- within a transaction), so a bulk insert costs one wake-up, not one per row.
CREATE FUNCTION kit_outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kit_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER kit_outbox_notify
    AFTER INSERT ON kit_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION kit_outbox_notify();
