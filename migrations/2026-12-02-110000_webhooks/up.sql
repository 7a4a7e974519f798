-- Outgoing webhooks (Standard Webhooks): endpoints, one delivery row per event and endpoint,
-- and the fan-out cursor over the relay's gapless `published_seq`.
CREATE TABLE webhooks (
    id bigserial PRIMARY KEY,
    name text,
    url text NOT NULL,
    events text[] NOT NULL,
    payload text NOT NULL DEFAULT 'FULL' CHECK (payload IN ('FULL', 'THIN')),
    active boolean NOT NULL DEFAULT true,
    -- `whsec_…`; the previous one is still signed with until `previous_secret_until`.
    secret text NOT NULL,
    previous_secret text,
    previous_secret_until timestamptz,
    -- Events are delivered from here on (set at creation and when the endpoint is enabled again).
    start_seq bigint NOT NULL,
    -- The webhook sees what this user may read.
    created_by_id bigint NOT NULL REFERENCES users (id),
    failing_since timestamptz,
    disabled_at timestamptz,
    disabled_reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id bigserial PRIMARY KEY,
    webhook_id bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    -- NULL for a test message (`testWebhook`).
    event_seq bigint,
    event_type text NOT NULL,
    -- Deliveries of one element to one endpoint go out in event order: `LEAD:5`.
    element_key text NOT NULL,
    status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SUCCEEDED', 'RETRYING', 'FAILED')),
    attempts integer NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error text,
    last_duration_ms integer,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- An instance sending it holds it until then (each delivery goes out from one instance).
    locked_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    UNIQUE (webhook_id, event_seq)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status IN ('PENDING', 'RETRYING');
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (webhook_id, element_key, event_seq)
    WHERE status IN ('PENDING', 'RETRYING');
CREATE INDEX webhook_deliveries_list_idx ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_prune_idx ON webhook_deliveries (created_at);

-- How far the fan-out has turned events into deliveries. One row; whoever holds its lock
-- fans out, so each event becomes one delivery per endpoint however many instances run.
CREATE TABLE webhook_fanout (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    seq bigint NOT NULL
);
INSERT INTO webhook_fanout (seq)
SELECT greatest((SELECT seq FROM event_high_water), (SELECT coalesce(max(published_seq), 0) FROM events));
