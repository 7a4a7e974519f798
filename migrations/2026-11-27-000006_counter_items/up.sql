-- Activity counters maintained incrementally (DOMAIN.md "Activity counters"). One row per user
-- and in-progress element that can count for that user: the earliest deadline among the
-- user's open activities on it, whether one of them is INCOMING, and whether the element is
-- assigned to the user with no open activity at all (idle). Rows that cannot count are not
-- stored. Triggers keep the table true in the writing transaction, whatever wrote (the API,
-- merges, conversion, seeding), so reading a user's counters is one index-only range scan.
CREATE TABLE counter_items (
    user_id       BIGINT NOT NULL,
    element_type  TEXT NOT NULL,
    element_id    BIGINT NOT NULL,
    pipeline_id   BIGINT,
    earliest      TIMESTAMPTZ,
    incoming      BOOLEAN NOT NULL,
    idle          BOOLEAN NOT NULL,
    PRIMARY KEY (user_id, element_type, element_id) INCLUDE (pipeline_id, earliest, incoming, idle)
);
CREATE INDEX counter_items_element_idx ON counter_items (element_type, element_id);
-- The ticker finds the next deadline to pass.
CREATE INDEX counter_items_earliest_idx ON counter_items (earliest) WHERE earliest IS NOT NULL;

-- When the ticker last ran: deadlines between then and now have passed (one row).
CREATE TABLE counter_ticker (
    id         INTEGER PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    last_tick  TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO counter_ticker DEFAULT VALUES;

-- Recomputes the rows of the given elements and, when any user's rows changed, writes one
-- COUNTERS event naming those users (countersChanged subscribers recompute on it).
CREATE FUNCTION kontor_counters_refresh(p_types TEXT[], p_ids BIGINT[], p_notify BOOLEAN DEFAULT true)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    changed_users BIGINT[];
BEGIN
    -- Writers of one element take turns here; the statement below then reads what the
    -- earlier writer committed (each statement of a function takes a new snapshot).
    PERFORM 1 FROM leads WHERE id IN (SELECT i FROM unnest(p_types, p_ids) u(t, i) WHERE t = 'LEAD')
        ORDER BY id FOR NO KEY UPDATE;
    PERFORM 1 FROM deals WHERE id IN (SELECT i FROM unnest(p_types, p_ids) u(t, i) WHERE t = 'DEAL')
        ORDER BY id FOR NO KEY UPDATE;
    PERFORM 1 FROM contacts WHERE id IN (SELECT i FROM unnest(p_types, p_ids) u(t, i) WHERE t = 'CONTACT')
        ORDER BY id FOR NO KEY UPDATE;
    PERFORM 1 FROM companies WHERE id IN (SELECT i FROM unnest(p_types, p_ids) u(t, i) WHERE t = 'COMPANY')
        ORDER BY id FOR NO KEY UPDATE;

    WITH refs AS (
        SELECT DISTINCT t AS element_type, i AS element_id FROM unnest(p_types, p_ids) u(t, i)
    ), el AS (
        -- Only elements still in progress count.
        SELECT 'LEAD'::text AS et, l.id, NULL::bigint AS pipeline_id, l.assigned_to_id FROM leads l
          JOIN status_items s ON s.id = l.status_id AND s.semantics = 'PROCESS'
          WHERE l.id IN (SELECT element_id FROM refs WHERE element_type = 'LEAD')
        UNION ALL
        SELECT 'DEAL', d.id, d.pipeline_id, d.assigned_to_id FROM deals d
          JOIN stages st ON st.id = d.stage_id AND st.semantics = 'PROCESS'
          WHERE d.id IN (SELECT element_id FROM refs WHERE element_type = 'DEAL')
        UNION ALL
        SELECT 'CONTACT', c.id, NULL, c.assigned_to_id FROM contacts c
          WHERE c.id IN (SELECT element_id FROM refs WHERE element_type = 'CONTACT')
        UNION ALL
        SELECT 'COMPANY', co.id, NULL, co.assigned_to_id FROM companies co
          WHERE NOT co.is_my_company AND co.id IN (SELECT element_id FROM refs WHERE element_type = 'COMPANY')
    ), per_user AS (
        SELECT b.element_type, b.element_id, a.responsible_id AS user_id, min(a.deadline) AS earliest,
               bool_or(a.direction IS NOT DISTINCT FROM 'INCOMING') AS incoming
        FROM activity_bindings b JOIN activities a ON a.id = b.activity_id AND NOT a.completed
        WHERE (b.element_type, b.element_id) IN (SELECT et, id FROM el)
        GROUP BY 1, 2, 3
    ), fresh AS (
        -- Every open activity has a responsible user, so an element without per-user rows
        -- has no open activity at all: idle for its assignee.
        SELECT coalesce(p.user_id, e.assigned_to_id) AS user_id, e.et AS element_type, e.id AS element_id,
               e.pipeline_id, p.earliest, coalesce(p.incoming, false) AS incoming, p.user_id IS NULL AS idle
        FROM el e LEFT JOIN per_user p ON p.element_type = e.et AND p.element_id = e.id
        WHERE coalesce(p.user_id, e.assigned_to_id) IS NOT NULL
          AND (p.earliest IS NOT NULL OR coalesce(p.incoming, false) OR p.user_id IS NULL)
    ), old AS (
        SELECT c.user_id, c.element_type, c.element_id, c.pipeline_id, c.earliest, c.incoming, c.idle
        FROM counter_items c JOIN refs r ON r.element_type = c.element_type AND r.element_id = c.element_id
    ), gone AS (
        DELETE FROM counter_items c
        USING (SELECT user_id, element_type, element_id FROM old
               EXCEPT SELECT user_id, element_type, element_id FROM fresh) g
        WHERE c.user_id = g.user_id AND c.element_type = g.element_type AND c.element_id = g.element_id
        RETURNING c.user_id
    ), put AS (
        INSERT INTO counter_items (user_id, element_type, element_id, pipeline_id, earliest, incoming, idle)
        SELECT * FROM (SELECT * FROM fresh EXCEPT SELECT * FROM old) n
        ON CONFLICT (user_id, element_type, element_id) DO UPDATE
            SET pipeline_id = EXCLUDED.pipeline_id, earliest = EXCLUDED.earliest,
                incoming = EXCLUDED.incoming, idle = EXCLUDED.idle
        RETURNING user_id
    )
    SELECT array_agg(DISTINCT u ORDER BY u) INTO changed_users
    FROM (SELECT user_id AS u FROM gone UNION ALL SELECT user_id FROM put) x;

    IF p_notify AND changed_users IS NOT NULL THEN
        INSERT INTO events (element_type, element_id, action, payload)
        VALUES ('USER', 0, 'COUNTERS', jsonb_build_object('users', to_jsonb(changed_users)));
    END IF;
END;
$$;

-- Statement-level triggers with transition tables: one recomputation per statement, however
-- many rows it touched.
CREATE FUNCTION kontor_counters_bindings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t TEXT[];
    i BIGINT[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(element_type), array_agg(element_id) INTO t, i FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(element_type), array_agg(element_id) INTO t, i FROM old_rows;
    ELSE
        SELECT array_agg(element_type), array_agg(element_id) INTO t, i
        FROM (SELECT element_type, element_id FROM old_rows UNION SELECT element_type, element_id FROM new_rows) x;
    END IF;
    IF t IS NOT NULL THEN
        PERFORM kontor_counters_refresh(t, i);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER activity_bindings_counters_ins AFTER INSERT ON activity_bindings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_counters_bindings();
CREATE TRIGGER activity_bindings_counters_del AFTER DELETE ON activity_bindings
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_counters_bindings();
CREATE TRIGGER activity_bindings_counters_upd AFTER UPDATE ON activity_bindings
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_counters_bindings();

-- An activity changing (completed, deadline, responsible, direction) changes its elements.
-- Inserts need nothing (an activity counts once bound); deletes cascade to the bindings.
CREATE FUNCTION kontor_counters_activities() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t TEXT[];
    i BIGINT[];
BEGIN
    SELECT array_agg(b.element_type), array_agg(b.element_id) INTO t, i
    FROM activity_bindings b
    WHERE b.activity_id IN (
        SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (n.completed, n.deadline, n.responsible_id, n.direction)
              IS DISTINCT FROM (o.completed, o.deadline, o.responsible_id, o.direction));
    IF t IS NOT NULL THEN
        PERFORM kontor_counters_refresh(t, i);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER activities_counters_upd AFTER UPDATE ON activities
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_counters_activities();

-- An element created, deleted, reassigned, moved or closed (TG_ARGV[0] is its type).
CREATE FUNCTION kontor_counters_elements() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    i BIGINT[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(id) INTO i FROM new_rows;
    ELSE
        SELECT array_agg(id) INTO i FROM old_rows;
    END IF;
    IF i IS NOT NULL THEN
        PERFORM kontor_counters_refresh(array_fill(TG_ARGV[0]::text, ARRAY[cardinality(i)]), i);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER leads_counters_ins AFTER INSERT ON leads
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_counters_elements('LEAD');
CREATE TRIGGER leads_counters_upd AFTER UPDATE ON leads
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_counters_elements('LEAD');
CREATE TRIGGER leads_counters_del AFTER DELETE ON leads
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_counters_elements('LEAD');
CREATE TRIGGER deals_counters_ins AFTER INSERT ON deals
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_counters_elements('DEAL');
CREATE TRIGGER deals_counters_upd AFTER UPDATE ON deals
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_counters_elements('DEAL');
CREATE TRIGGER deals_counters_del AFTER DELETE ON deals
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_counters_elements('DEAL');
CREATE TRIGGER contacts_counters_ins AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_counters_elements('CONTACT');
CREATE TRIGGER contacts_counters_upd AFTER UPDATE ON contacts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_counters_elements('CONTACT');
CREATE TRIGGER contacts_counters_del AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_counters_elements('CONTACT');
CREATE TRIGGER companies_counters_ins AFTER INSERT ON companies
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_counters_elements('COMPANY');
CREATE TRIGGER companies_counters_upd AFTER UPDATE ON companies
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_counters_elements('COMPANY');
CREATE TRIGGER companies_counters_del AFTER DELETE ON companies
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_counters_elements('COMPANY');

-- A stage or lead status changing its semantics moves every element on it in or out of
-- progress.
CREATE FUNCTION kontor_counters_semantics() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    i BIGINT[];
BEGIN
    IF TG_ARGV[0] = 'DEAL' THEN
        SELECT array_agg(d.id) INTO i FROM deals d JOIN new_rows n ON n.id = d.stage_id
            JOIN old_rows o ON o.id = n.id AND o.semantics IS DISTINCT FROM n.semantics;
    ELSE
        SELECT array_agg(l.id) INTO i FROM leads l JOIN new_rows n ON n.id = l.status_id
            JOIN old_rows o ON o.id = n.id AND o.semantics IS DISTINCT FROM n.semantics;
    END IF;
    IF i IS NOT NULL THEN
        PERFORM kontor_counters_refresh(array_fill(TG_ARGV[0]::text, ARRAY[cardinality(i)]), i);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stages_counters_upd AFTER UPDATE ON stages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_counters_semantics('DEAL');
CREATE TRIGGER status_items_counters_upd AFTER UPDATE ON status_items
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_counters_semantics('LEAD');

-- Existing data.
SELECT kontor_counters_refresh(array_agg(t), array_agg(i), false)
FROM (SELECT 'LEAD' AS t, id AS i FROM leads UNION ALL SELECT 'DEAL', id FROM deals
      UNION ALL SELECT 'CONTACT', id FROM contacts UNION ALL SELECT 'COMPANY', id FROM companies) x;
