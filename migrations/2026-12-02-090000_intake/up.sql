-- Lead channels: web forms (and the website widget, which posts to them), calls reported by
-- a telephone system, incoming e-mail.

CREATE TABLE web_forms (
    id               BIGSERIAL PRIMARY KEY,
    -- The unguessable key in the form's public addresses.
    public_key       TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    fields           JSONB NOT NULL,
    success_message  TEXT,
    redirect_url     TEXT,
    assigned_to_id   BIGINT REFERENCES users (id) ON DELETE SET NULL,
    source_id        BIGINT REFERENCES status_items (id) ON DELETE SET NULL,
    allowed_origins  TEXT[] NOT NULL DEFAULT '{}',
    consent_text     TEXT,
    active           BOOLEAN NOT NULL DEFAULT true,
    created_by_id    BIGINT NOT NULL REFERENCES users (id),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE web_form_submissions (
    id               BIGSERIAL PRIMARY KEY,
    form_id          BIGINT NOT NULL REFERENCES web_forms (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL CHECK (kind IN ('FORM', 'CALLBACK')),
    status           TEXT NOT NULL CHECK (status IN ('ACCEPTED', 'SPAM', 'REJECTED')),
    reason           TEXT,
    fields           JSONB NOT NULL,
    page_url         TEXT,
    referrer         TEXT,
    utm              JSONB NOT NULL DEFAULT '{}',
    ip               TEXT,
    idempotency_key  TEXT,
    lead_id          BIGINT REFERENCES leads (id) ON DELETE SET NULL,
    activity_id      BIGINT REFERENCES activities (id) ON DELETE SET NULL,
    consent_hash     TEXT,
    consent_at       TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (form_id, idempotency_key)
);
CREATE INDEX web_form_submissions_form ON web_form_submissions (form_id, id DESC);

CREATE TABLE calls (
    id                BIGSERIAL PRIMARY KEY,
    external_call_id  TEXT NOT NULL UNIQUE,
    direction         TEXT NOT NULL CHECK (direction IN ('INCOMING', 'OUTGOING')),
    phone             TEXT NOT NULL,
    normalized        TEXT NOT NULL,
    line_number       TEXT,
    status            TEXT CHECK (status IN ('ANSWERED', 'MISSED', 'BUSY', 'FAILED')),
    started_at        TIMESTAMPTZ NOT NULL,
    duration_seconds  INT,
    recording_url     TEXT,
    user_id           BIGINT NOT NULL REFERENCES users (id),
    activity_id       BIGINT REFERENCES activities (id) ON DELETE SET NULL,
    created_lead_id   BIGINT REFERENCES leads (id) ON DELETE SET NULL,
    -- [{"type": "CONTACT", "id": 5}, ...]: who the number belonged to when the call came in.
    matches           JSONB NOT NULL DEFAULT '[]',
    registered_by_id  BIGINT NOT NULL REFERENCES users (id),
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at       TIMESTAMPTZ
);

CREATE TABLE mail_messages (
    id             BIGSERIAL PRIMARY KEY,
    -- Without angle brackets; a reply names it in In-Reply-To or References.
    message_id     TEXT UNIQUE,
    from_email     TEXT NOT NULL,
    from_name      TEXT,
    subject        TEXT NOT NULL,
    automatic      BOOLEAN NOT NULL,
    activity_id    BIGINT REFERENCES activities (id) ON DELETE SET NULL,
    created_lead_id BIGINT REFERENCES leads (id) ON DELETE SET NULL,
    elements       JSONB NOT NULL DEFAULT '[]',
    received_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX mail_messages_sender ON mail_messages (from_email, received_at);

CREATE TABLE mail_attachments (
    id            BIGSERIAL PRIMARY KEY,
    message_id    BIGINT NOT NULL REFERENCES mail_messages (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL,
    -- NULL when the attachment is larger than the configured limit: the name and size stay.
    data          BYTEA
);
CREATE INDEX mail_attachments_message ON mail_attachments (message_id);
