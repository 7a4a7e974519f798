-- A WebSocket connection authenticates once, in connection_init, and its subscriptions run
-- with the rights it had then. Every statement that may change who can do what writes one
-- ACCESS event (tokens revoked or deleted; users deactivated, promoted or moved; roles, their
-- lines and assignments; department moves); each live connection then re-checks its token
-- and is closed if the token stopped working or its rights changed (src/events/access.rs).
-- Such changes are rare, so the events name nobody: every connection checks.
CREATE FUNCTION kontor_access_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (element_type, element_id, action, payload) VALUES ('USER', 0, 'ACCESS', '{}');
    RETURN NULL;
END;
$$;

CREATE TRIGGER api_tokens_access AFTER UPDATE OF revoked_at OR DELETE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_changed();
CREATE TRIGGER users_access AFTER UPDATE OF is_admin, active, department_id OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_changed();
CREATE TRIGGER departments_access AFTER UPDATE OF parent_id OR DELETE ON departments
    FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_changed();
CREATE TRIGGER roles_access AFTER UPDATE OF settings OR DELETE ON roles
    FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_changed();
CREATE TRIGGER role_permissions_access AFTER INSERT OR UPDATE OR DELETE ON role_permissions
    FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_changed();
CREATE TRIGGER user_roles_access AFTER INSERT OR DELETE ON user_roles
    FOR EACH STATEMENT EXECUTE FUNCTION kontor_access_changed();
