-- Notifications: a per-user feed written in the transaction of the change that causes it.
CREATE TABLE notifications (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind text NOT NULL,
    title text NOT NULL,
    body text,
    element_type text,
    element_id bigint,
    actor_id bigint REFERENCES users (id) ON DELETE SET NULL,
    -- An unread notification with the same tag is replaced by a new one.
    tag text,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at timestamptz
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id);
CREATE INDEX notifications_unread_idx ON notifications (user_id) WHERE read_at IS NULL;
CREATE UNIQUE INDEX notifications_unread_tag_idx ON notifications (user_id, tag) WHERE read_at IS NULL AND tag IS NOT NULL;
CREATE INDEX notifications_read_at_idx ON notifications (read_at) WHERE read_at IS NOT NULL;
