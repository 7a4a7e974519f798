-- Import jobs: one row per uploaded file, its counters and state; the runner updates it as
-- it goes, so any instance can show progress.
CREATE TABLE import_jobs (
    id               BIGSERIAL PRIMARY KEY,
    element_type     TEXT NOT NULL CHECK (element_type IN ('LEAD', 'CONTACT', 'COMPANY', 'DEAL')),
    status           TEXT NOT NULL DEFAULT 'QUEUED'
                     CHECK (status IN ('QUEUED', 'RUNNING', 'DONE', 'FAILED', 'CANCELLED', 'ROLLED_BACK')),
    dry_run          BOOLEAN NOT NULL DEFAULT false,
    file_name        TEXT NOT NULL,
    -- Duplicate mode, match keys, mapping and defaults as given.
    options          JSONB NOT NULL,
    -- Header names and columns nothing mapped to.
    headers          JSONB NOT NULL DEFAULT '[]',
    unknown_columns  JSONB NOT NULL DEFAULT '[]',
    total            BIGINT NOT NULL DEFAULT 0,
    processed        BIGINT NOT NULL DEFAULT 0,
    created          BIGINT NOT NULL DEFAULT 0,
    updated          BIGINT NOT NULL DEFAULT 0,
    skipped          BIGINT NOT NULL DEFAULT 0,
    failed           BIGINT NOT NULL DEFAULT 0,
    message          TEXT,
    cancel_requested BOOLEAN NOT NULL DEFAULT false,
    created_by_id    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    -- The runner touches it with every batch; a RUNNING job whose heartbeat stopped lost its
    -- instance.
    heartbeat_at     TIMESTAMPTZ
);
CREATE INDEX import_jobs_newest ON import_jobs (id DESC);

-- What happened to each row: the verdict (also for dry runs), the element it created or
-- changed, and that element's values before the change (for rollback).
CREATE TABLE import_rows (
    job_id      BIGINT NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    row_number  BIGINT NOT NULL,
    verdict     TEXT NOT NULL CHECK (verdict IN ('CREATE', 'UPDATE', 'SKIP', 'FAIL')),
    element_id  BIGINT,
    before      JSONB,
    PRIMARY KEY (job_id, row_number)
);

-- Failed rows with the cells as they were in the file, for `errors.csv`.
CREATE TABLE import_errors (
    job_id      BIGINT NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    row_number  BIGINT NOT NULL,
    column_name TEXT,
    field       TEXT,
    message     TEXT NOT NULL,
    raw         JSONB NOT NULL,
    PRIMARY KEY (job_id, row_number)
);
