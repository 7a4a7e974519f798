-- Kontor core data model. Every CRM element carries audit columns and a version for
-- optimistic concurrency; every foreign key and every exposed filter column is indexed.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE departments (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    parent_id   BIGINT REFERENCES departments (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX departments_parent_id_idx ON departments (parent_id);

CREATE TABLE users (
    id             BIGSERIAL PRIMARY KEY,
    email          TEXT NOT NULL,
    name           TEXT NOT NULL,
    time_zone      TEXT NOT NULL DEFAULT 'UTC',
    department_id  BIGINT REFERENCES departments (id),
    is_admin       BOOLEAN NOT NULL DEFAULT false,
    active         BOOLEAN NOT NULL DEFAULT true,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    version        INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_department_id_idx ON users (department_id);
CREATE INDEX users_name_idx ON users (name);

-- Only the SHA-256 of a token is stored; the token itself is shown once.
CREATE TABLE api_tokens (
    id            BIGSERIAL PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    BYTEA NOT NULL UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

CREATE TABLE status_items (
    id          BIGSERIAL PRIMARY KEY,
    list_kind   TEXT NOT NULL,
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    sort        INTEGER NOT NULL DEFAULT 100,
    semantics   TEXT NOT NULL DEFAULT 'PROCESS' CHECK (semantics IN ('PROCESS', 'SUCCESS', 'FAILURE')),
    color       TEXT,
    is_system   BOOLEAN NOT NULL DEFAULT false,
    UNIQUE (list_kind, code)
);

CREATE TABLE pipelines (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    is_default  BOOLEAN NOT NULL DEFAULT false,
    sort        INTEGER NOT NULL DEFAULT 100,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX pipelines_one_default ON pipelines (is_default) WHERE is_default;

CREATE TABLE stages (
    id           BIGSERIAL PRIMARY KEY,
    pipeline_id  BIGINT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    code         TEXT NOT NULL,
    name         TEXT NOT NULL,
    sort         INTEGER NOT NULL DEFAULT 100,
    semantics    TEXT NOT NULL DEFAULT 'PROCESS' CHECK (semantics IN ('PROCESS', 'SUCCESS', 'FAILURE')),
    probability  INTEGER NOT NULL DEFAULT 0 CHECK (probability BETWEEN 0 AND 100),
    color        TEXT,
    UNIQUE (pipeline_id, code)
);

CREATE TABLE companies (
    id                    BIGSERIAL PRIMARY KEY,
    title                 TEXT NOT NULL,
    type_id               BIGINT REFERENCES status_items (id),
    industry_id           BIGINT REFERENCES status_items (id),
    employees_id          BIGINT REFERENCES status_items (id),
    revenue               NUMERIC(20, 2),
    currency              TEXT,
    address               TEXT,
    comments              TEXT,
    assigned_to_id        BIGINT REFERENCES users (id),
    opened                BOOLEAN NOT NULL DEFAULT true,
    is_my_company         BOOLEAN NOT NULL DEFAULT false,
    legal_name            TEXT,
    vat_id                TEXT,
    tax_id                TEXT,
    registration_address  TEXT,
    bank_name             TEXT,
    iban                  TEXT,
    bic                   TEXT,
    origin_lead_id        BIGINT,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by_id         BIGINT REFERENCES users (id),
    updated_by_id         BIGINT REFERENCES users (id),
    version               INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX companies_one_my_company ON companies (is_my_company) WHERE is_my_company;
CREATE INDEX companies_title_idx ON companies (title);
CREATE INDEX companies_title_trgm_idx ON companies USING gin (lower(title) gin_trgm_ops);
CREATE INDEX companies_type_id_idx ON companies (type_id);
CREATE INDEX companies_industry_id_idx ON companies (industry_id);
CREATE INDEX companies_employees_id_idx ON companies (employees_id);
CREATE INDEX companies_assigned_to_id_idx ON companies (assigned_to_id);
CREATE INDEX companies_created_at_idx ON companies (created_at);
CREATE INDEX companies_updated_at_idx ON companies (updated_at);
CREATE INDEX companies_revenue_idx ON companies (revenue);
CREATE INDEX companies_created_by_id_idx ON companies (created_by_id);
CREATE INDEX companies_updated_by_id_idx ON companies (updated_by_id);
CREATE INDEX companies_origin_lead_id_idx ON companies (origin_lead_id);

CREATE TABLE contacts (
    id                  BIGSERIAL PRIMARY KEY,
    honorific           TEXT,
    first_name          TEXT,
    middle_name         TEXT,
    last_name           TEXT,
    photo_url           TEXT,
    position            TEXT,
    type_id             BIGINT REFERENCES status_items (id),
    source_id           BIGINT REFERENCES status_items (id),
    source_description  TEXT,
    birthdate           DATE,
    address             TEXT,
    comments            TEXT,
    assigned_to_id      BIGINT REFERENCES users (id),
    opened              BOOLEAN NOT NULL DEFAULT true,
    origin_lead_id      BIGINT,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by_id       BIGINT REFERENCES users (id),
    updated_by_id       BIGINT REFERENCES users (id),
    version             INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX contacts_last_name_idx ON contacts (last_name, first_name);
CREATE INDEX contacts_first_name_idx ON contacts (first_name);
CREATE INDEX contacts_full_name_trgm_idx ON contacts
    USING gin (lower(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) gin_trgm_ops);
CREATE INDEX contacts_type_id_idx ON contacts (type_id);
CREATE INDEX contacts_source_id_idx ON contacts (source_id);
CREATE INDEX contacts_assigned_to_id_idx ON contacts (assigned_to_id);
CREATE INDEX contacts_created_at_idx ON contacts (created_at);
CREATE INDEX contacts_updated_at_idx ON contacts (updated_at);
CREATE INDEX contacts_created_by_id_idx ON contacts (created_by_id);
CREATE INDEX contacts_updated_by_id_idx ON contacts (updated_by_id);
CREATE INDEX contacts_origin_lead_id_idx ON contacts (origin_lead_id);

CREATE TABLE leads (
    id                  BIGSERIAL PRIMARY KEY,
    title               TEXT,
    honorific           TEXT,
    first_name          TEXT,
    middle_name         TEXT,
    last_name           TEXT,
    birthdate           DATE,
    position            TEXT,
    company_title       TEXT,
    address             TEXT,
    source_id           BIGINT REFERENCES status_items (id),
    source_description  TEXT,
    status_id           BIGINT NOT NULL REFERENCES status_items (id),
    status_description  TEXT,
    opportunity         NUMERIC(20, 2),
    currency            TEXT,
    comments            TEXT,
    assigned_to_id      BIGINT REFERENCES users (id),
    opened              BOOLEAN NOT NULL DEFAULT true,
    contact_id          BIGINT REFERENCES contacts (id) ON DELETE SET NULL,
    company_id          BIGINT REFERENCES companies (id) ON DELETE SET NULL,
    utm_source          TEXT,
    utm_medium          TEXT,
    utm_campaign        TEXT,
    utm_content         TEXT,
    utm_term            TEXT,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by_id       BIGINT REFERENCES users (id),
    updated_by_id       BIGINT REFERENCES users (id),
    version             INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX leads_title_idx ON leads (title);
CREATE INDEX leads_last_name_idx ON leads (last_name, first_name);
CREATE INDEX leads_company_title_idx ON leads (company_title);
CREATE INDEX leads_status_id_idx ON leads (status_id);
CREATE INDEX leads_source_id_idx ON leads (source_id);
CREATE INDEX leads_assigned_to_id_idx ON leads (assigned_to_id);
CREATE INDEX leads_contact_id_idx ON leads (contact_id);
CREATE INDEX leads_company_id_idx ON leads (company_id);
CREATE INDEX leads_opportunity_idx ON leads (opportunity);
CREATE INDEX leads_created_at_idx ON leads (created_at);
CREATE INDEX leads_updated_at_idx ON leads (updated_at);
CREATE INDEX leads_created_by_id_idx ON leads (created_by_id);
CREATE INDEX leads_updated_by_id_idx ON leads (updated_by_id);

CREATE TABLE deals (
    id                     BIGSERIAL PRIMARY KEY,
    title                  TEXT NOT NULL,
    pipeline_id            BIGINT NOT NULL REFERENCES pipelines (id),
    stage_id               BIGINT NOT NULL REFERENCES stages (id),
    probability            INTEGER CHECK (probability BETWEEN 0 AND 100),
    opportunity            NUMERIC(20, 2),
    currency               TEXT,
    is_manual_opportunity  BOOLEAN NOT NULL DEFAULT false,
    type_id                BIGINT REFERENCES status_items (id),
    source_id              BIGINT REFERENCES status_items (id),
    begin_date             DATE,
    close_date             DATE,
    closed                 BOOLEAN NOT NULL DEFAULT false,
    company_id             BIGINT REFERENCES companies (id) ON DELETE SET NULL,
    origin_lead_id         BIGINT REFERENCES leads (id) ON DELETE SET NULL,
    comments               TEXT,
    assigned_to_id         BIGINT REFERENCES users (id),
    opened                 BOOLEAN NOT NULL DEFAULT true,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by_id          BIGINT REFERENCES users (id),
    updated_by_id          BIGINT REFERENCES users (id),
    version                INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX deals_title_idx ON deals (title);
CREATE INDEX deals_pipeline_id_idx ON deals (pipeline_id);
CREATE INDEX deals_stage_id_idx ON deals (stage_id);
CREATE INDEX deals_type_id_idx ON deals (type_id);
CREATE INDEX deals_source_id_idx ON deals (source_id);
CREATE INDEX deals_company_id_idx ON deals (company_id);
CREATE INDEX deals_origin_lead_id_idx ON deals (origin_lead_id);
CREATE INDEX deals_assigned_to_id_idx ON deals (assigned_to_id);
CREATE INDEX deals_opportunity_idx ON deals (opportunity);
CREATE INDEX deals_begin_date_idx ON deals (begin_date);
CREATE INDEX deals_close_date_idx ON deals (close_date);
CREATE INDEX deals_created_at_idx ON deals (created_at);
CREATE INDEX deals_updated_at_idx ON deals (updated_at);
CREATE INDEX deals_created_by_id_idx ON deals (created_by_id);
CREATE INDEX deals_updated_by_id_idx ON deals (updated_by_id);

ALTER TABLE companies ADD CONSTRAINT companies_origin_lead_fk
    FOREIGN KEY (origin_lead_id) REFERENCES leads (id) ON DELETE SET NULL;
ALTER TABLE contacts ADD CONSTRAINT contacts_origin_lead_fk
    FOREIGN KEY (origin_lead_id) REFERENCES leads (id) ON DELETE SET NULL;

CREATE TABLE contact_companies (
    contact_id  BIGINT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    company_id  BIGINT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    is_primary  BOOLEAN NOT NULL DEFAULT false,
    sort        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (contact_id, company_id)
);
CREATE INDEX contact_companies_company_id_idx ON contact_companies (company_id, contact_id);

CREATE TABLE deal_contacts (
    deal_id     BIGINT NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
    contact_id  BIGINT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    is_primary  BOOLEAN NOT NULL DEFAULT false,
    sort        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (deal_id, contact_id)
);
CREATE INDEX deal_contacts_contact_id_idx ON deal_contacts (contact_id, deal_id);

-- Multi-fields (phones, emails, webs, IMs) of leads, contacts and companies. `normalized`
-- holds E.164 phones and lower-cased e-mails for filters and duplicate search.
CREATE TABLE communications (
    id            BIGSERIAL PRIMARY KEY,
    element_type  TEXT NOT NULL CHECK (element_type IN ('LEAD', 'CONTACT', 'COMPANY')),
    element_id    BIGINT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('PHONE', 'EMAIL', 'WEB', 'IM')),
    value_type    TEXT NOT NULL,
    value         TEXT NOT NULL,
    normalized    TEXT NOT NULL,
    sort          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX communications_element_idx ON communications (element_type, element_id, kind, sort);
CREATE INDEX communications_normalized_idx ON communications (kind, normalized, element_type);

-- Append-only history of every element, newest first by id.
CREATE TABLE timeline_entries (
    id            BIGSERIAL PRIMARY KEY,
    element_type  TEXT NOT NULL,
    element_id    BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    author_id     BIGINT REFERENCES users (id),
    text          TEXT,
    changes       JSONB NOT NULL DEFAULT '[]'
);
CREATE INDEX timeline_entries_element_idx ON timeline_entries (element_type, element_id, id DESC);
CREATE INDEX timeline_entries_at_idx ON timeline_entries (at);
CREATE INDEX timeline_entries_author_id_idx ON timeline_entries (author_id);
CREATE INDEX timeline_entries_kind_idx ON timeline_entries (kind);

-- Transactional outbox: every write appends its events in its own transaction. The id
-- orders events for a single writer but has gaps and commits out of order; the relay
-- (real-time issue) stamps the gapless delivery order into `published_seq`.
CREATE TABLE events (
    id             BIGSERIAL PRIMARY KEY,
    element_type   TEXT NOT NULL,
    element_id     BIGINT NOT NULL,
    action         TEXT NOT NULL,
    changed        TEXT[] NOT NULL DEFAULT '{}',
    payload        JSONB NOT NULL,
    actor_id       BIGINT REFERENCES users (id),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_seq  BIGINT UNIQUE,
    published_at   TIMESTAMPTZ
);
CREATE INDEX events_unpublished_idx ON events (id) WHERE published_seq IS NULL;
CREATE INDEX events_created_at_idx ON events (created_at);
CREATE INDEX events_element_idx ON events (element_type, element_id);
