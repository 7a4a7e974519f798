-- Roles and access permissions (DOMAIN.md "Access permissions"). A role grants, per element
-- type (deals optionally per pipeline), each action at a level. A user's rights are the union
-- of their roles' rights; administrators bypass roles.
CREATE TABLE roles (
    id                   BIGSERIAL PRIMARY KEY,
    name                 TEXT NOT NULL,
    -- May change CRM settings (status lists, pipelines, custom fields, roles, users).
    settings             BOOLEAN NOT NULL DEFAULT false,
    -- Given to every new user.
    is_default           BOOLEAN NOT NULL DEFAULT false,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX roles_name_key ON roles (lower(name));

CREATE TABLE role_permissions (
    id            BIGSERIAL PRIMARY KEY,
    role_id       BIGINT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    element_type  TEXT NOT NULL CHECK (element_type IN ('LEAD', 'CONTACT', 'COMPANY', 'DEAL')),
    -- Deals only: this pipeline (NULL: every pipeline without its own line).
    pipeline_id   BIGINT REFERENCES pipelines (id) ON DELETE CASCADE,
    action        TEXT NOT NULL CHECK (action IN ('READ', 'ADD', 'WRITE', 'DELETE', 'EXPORT', 'IMPORT')),
    level         TEXT NOT NULL CHECK (level IN ('NONE', 'OWN', 'DEPARTMENT', 'SUBDEPARTMENTS', 'OPEN', 'ALL')),
    CHECK (pipeline_id IS NULL OR element_type = 'DEAL')
);
CREATE UNIQUE INDEX role_permissions_key ON role_permissions (role_id, element_type, coalesce(pipeline_id, 0), action);

CREATE TABLE user_roles (
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id  BIGINT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_role_id_idx ON user_roles (role_id);

-- The role every user had before roles existed: everything at ALL, no settings.
INSERT INTO roles (name, is_default) VALUES ('Employee', true);
INSERT INTO role_permissions (role_id, element_type, action, level)
SELECT r.id, et, act, 'ALL' FROM roles r,
    unnest(ARRAY['LEAD', 'CONTACT', 'COMPANY', 'DEAL']) et,
    unnest(ARRAY['READ', 'ADD', 'WRITE', 'DELETE', 'EXPORT', 'IMPORT']) act;
INSERT INTO user_roles (user_id, role_id) SELECT u.id, r.id FROM users u, roles r WHERE NOT u.is_admin;

-- Permission levels compare an element's assignee with the user's department (tree).
CREATE INDEX departments_name_idx ON departments (name);
