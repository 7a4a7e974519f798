-- A WebSocket connection authenticates once, in connection_init, and its subscriptions run
-- with the rights it had then. Every statement that changes who can do what writes one ACCESS
-- event: tokens revoked or deleted; users added to a department, deactivated, promoted or
-- moved; role settings, role lines and role assignments; department moves. Each live
-- connection then re-checks its token and is closed if the token stopped working or its
-- rights changed (src/events/access.rs). Such changes are rare, so the events name nobody.
-- The triggers compare old and new rows: statements that rewrite a column with its old value
-- (renaming a user also sets their department) say nothing.
CREATE FUNCTION kontor_access_event() RETURNS void LANGUAGE sql AS $$
    INSERT INTO events (element_type, element_id, action, payload) VALUES ('USER', 0, 'ACCESS', '{}');
$$;

-- Any row inserted, changed or deleted counts. Each branch names only the transition table
-- its event has (one expression naming both would fail to plan).
CREATE FUNCTION kontor_access_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF EXISTS (SELECT 1 FROM new_rows) THEN
            PERFORM kontor_access_event();
        END IF;
    ELSIF EXISTS (SELECT 1 FROM old_rows) THEN
        PERFORM kontor_access_event();
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION kontor_access_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF EXISTS (SELECT 1 FROM new_rows WHERE department_id IS NOT NULL) THEN
            PERFORM kontor_access_event();
        END IF;
    ELSIF EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
                   WHERE (o.is_admin, o.active, o.department_id) IS DISTINCT FROM (n.is_admin, n.active, n.department_id)) THEN
        PERFORM kontor_access_event();
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION kontor_access_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
                WHERE o.revoked_at IS NULL AND n.revoked_at IS NOT NULL) THEN
        PERFORM kontor_access_event();
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION kontor_access_departments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE o.parent_id IS DISTINCT FROM n.parent_id) THEN
        PERFORM kontor_access_event();
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION kontor_access_roles() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE o.settings IS DISTINCT FROM n.settings) THEN
        PERFORM kontor_access_event();
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER api_tokens_access_upd AFTER UPDATE ON api_tokens
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_tokens();
CREATE TRIGGER api_tokens_access_del AFTER DELETE ON api_tokens
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_rows();
CREATE TRIGGER users_access_ins AFTER INSERT ON users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_users();
CREATE TRIGGER users_access_upd AFTER UPDATE ON users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_users();
CREATE TRIGGER users_access_del AFTER DELETE ON users
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_rows();
CREATE TRIGGER departments_access_upd AFTER UPDATE ON departments
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_departments();
CREATE TRIGGER departments_access_del AFTER DELETE ON departments
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_rows();
CREATE TRIGGER roles_access_upd AFTER UPDATE ON roles
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_roles();
CREATE TRIGGER roles_access_del AFTER DELETE ON roles
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_rows();
CREATE TRIGGER role_permissions_access_ins AFTER INSERT ON role_permissions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_rows();
CREATE TRIGGER role_permissions_access_upd AFTER UPDATE ON role_permissions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_rows();
CREATE TRIGGER role_permissions_access_del AFTER DELETE ON role_permissions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_rows();
CREATE TRIGGER user_roles_access_ins AFTER INSERT ON user_roles
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_rows();
CREATE TRIGGER user_roles_access_del AFTER DELETE ON user_roles
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_rows();
