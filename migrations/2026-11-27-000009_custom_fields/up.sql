-- Custom fields (DOMAIN.md "Custom fields"): defined per element type at run time; values
-- live in each element's `custom` object, keyed by the field's code. Each field gets an
-- expression index on its value (created with the field) so filters and sorts on it stay fast.
CREATE TABLE custom_fields (
    id              BIGSERIAL PRIMARY KEY,
    element_type    TEXT NOT NULL CHECK (element_type IN ('LEAD', 'CONTACT', 'COMPANY', 'DEAL')),
    code            TEXT NOT NULL CHECK (code ~ '^UF_[A-Z0-9_]{1,46}$'),
    label           TEXT NOT NULL,
    field_type      TEXT NOT NULL CHECK (field_type IN ('STRING', 'INTEGER', 'DOUBLE', 'BOOLEAN', 'DATE', 'DATETIME',
                        'ENUMERATION', 'MONEY', 'URL', 'ADDRESS', 'EMPLOYEE', 'ELEMENT_LINK')),
    multiple        BOOLEAN NOT NULL DEFAULT false,
    mandatory       BOOLEAN NOT NULL DEFAULT false,
    default_value   JSONB,
    -- ENUMERATION: the allowed values, in order.
    items           TEXT[] NOT NULL DEFAULT '{}',
    sort            INTEGER NOT NULL DEFAULT 100,
    show_in_filter  BOOLEAN NOT NULL DEFAULT true,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (element_type, code)
);

ALTER TABLE leads ADD COLUMN custom JSONB NOT NULL DEFAULT '{}';
ALTER TABLE contacts ADD COLUMN custom JSONB NOT NULL DEFAULT '{}';
ALTER TABLE companies ADD COLUMN custom JSONB NOT NULL DEFAULT '{}';
ALTER TABLE deals ADD COLUMN custom JSONB NOT NULL DEFAULT '{}';
