DROP TRIGGER IF EXISTS api_tokens_access ON api_tokens;
DROP TRIGGER IF EXISTS users_access ON users;
DROP TRIGGER IF EXISTS departments_access ON departments;
DROP TRIGGER IF EXISTS roles_access ON roles;
DROP TRIGGER IF EXISTS role_permissions_access ON role_permissions;
DROP TRIGGER IF EXISTS user_roles_access ON user_roles;
DROP FUNCTION IF EXISTS kontor_access_changed();
