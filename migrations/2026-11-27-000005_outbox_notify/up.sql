-- Wake the outbox relay when events commit, on whichever instance wrote them, instead of
-- having it poll. NOTIFY is delivered at commit, and repeats within one transaction fold
-- into one.
CREATE FUNCTION kontor_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kontor_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION kontor_outbox_notify();
