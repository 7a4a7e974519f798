-- Activities: calls, meetings, tasks, e-mails and to-dos, bound to one or more elements.
CREATE TABLE activities (
    id              BIGSERIAL PRIMARY KEY,
    type            TEXT NOT NULL CHECK (type IN ('CALL', 'MEETING', 'TASK', 'EMAIL', 'TODO')),
    subject         TEXT NOT NULL,
    description     TEXT,
    direction       TEXT CHECK (direction IN ('INCOMING', 'OUTGOING')),
    priority        TEXT NOT NULL DEFAULT 'MEDIUM' CHECK (priority IN ('LOW', 'MEDIUM', 'HIGH')),
    start_at        TIMESTAMPTZ,
    end_at          TIMESTAMPTZ,
    deadline        TIMESTAMPTZ,
    completed       BOOLEAN NOT NULL DEFAULT false,
    completed_at    TIMESTAMPTZ,
    responsible_id  BIGINT NOT NULL REFERENCES users (id),
    owner_type      TEXT NOT NULL CHECK (owner_type IN ('LEAD', 'CONTACT', 'COMPANY', 'DEAL')),
    owner_id        BIGINT NOT NULL,
    communications  JSONB NOT NULL DEFAULT '[]',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by_id   BIGINT REFERENCES users (id),
    updated_by_id   BIGINT REFERENCES users (id),
    version         INTEGER NOT NULL DEFAULT 1
);
-- Counters read a user's open activities by deadline.
CREATE INDEX activities_open_by_responsible_idx ON activities (responsible_id, deadline) WHERE NOT completed;
CREATE INDEX activities_responsible_id_idx ON activities (responsible_id);
CREATE INDEX activities_type_idx ON activities (type);
CREATE INDEX activities_deadline_idx ON activities (deadline);
CREATE INDEX activities_completed_idx ON activities (completed);
CREATE INDEX activities_owner_idx ON activities (owner_type, owner_id);
CREATE INDEX activities_created_at_idx ON activities (created_at);
CREATE INDEX activities_created_by_id_idx ON activities (created_by_id);
CREATE INDEX activities_updated_by_id_idx ON activities (updated_by_id);

-- Every element an activity belongs to, its owner included.
CREATE TABLE activity_bindings (
    activity_id   BIGINT NOT NULL REFERENCES activities (id) ON DELETE CASCADE,
    element_type  TEXT NOT NULL CHECK (element_type IN ('LEAD', 'CONTACT', 'COMPANY', 'DEAL')),
    element_id    BIGINT NOT NULL,
    PRIMARY KEY (activity_id, element_type, element_id)
);
CREATE INDEX activity_bindings_element_idx ON activity_bindings (element_type, element_id, activity_id);
