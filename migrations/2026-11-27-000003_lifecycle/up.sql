-- Lead and deal lifecycle: products and product rows, lead conversion, deal stage history
-- and lost reasons.

CREATE TABLE products (
    id             BIGSERIAL PRIMARY KEY,
    name           TEXT NOT NULL,
    sku            TEXT,
    description    TEXT,
    price          NUMERIC(20, 2) NOT NULL DEFAULT 0,
    currency       TEXT NOT NULL,
    tax_rate       NUMERIC(5, 2) NOT NULL DEFAULT 0,
    tax_included   BOOLEAN NOT NULL DEFAULT false,
    unit           TEXT NOT NULL DEFAULT 'pcs',
    active         BOOLEAN NOT NULL DEFAULT true,
    sort           INTEGER NOT NULL DEFAULT 100,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by_id  BIGINT REFERENCES users (id),
    updated_by_id  BIGINT REFERENCES users (id),
    version        INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX products_sku_key ON products (lower(sku)) WHERE sku IS NOT NULL;
CREATE INDEX products_name_idx ON products (name);
CREATE INDEX products_name_trgm_idx ON products USING gin (lower(name) gin_trgm_ops);
CREATE INDEX products_sku_idx ON products (sku);
CREATE INDEX products_price_idx ON products (price);
CREATE INDEX products_currency_idx ON products (currency);
CREATE INDEX products_sort_idx ON products (sort);
CREATE INDEX products_created_by_id_idx ON products (created_by_id);
CREATE INDEX products_updated_by_id_idx ON products (updated_by_id);

-- Rows of a lead's or deal's product list; line amounts are stored as computed.
CREATE TABLE product_rows (
    id                BIGSERIAL PRIMARY KEY,
    owner_type        TEXT NOT NULL CHECK (owner_type IN ('LEAD', 'DEAL')),
    owner_id          BIGINT NOT NULL,
    product_id        BIGINT REFERENCES products (id),
    name              TEXT NOT NULL,
    unit_price        NUMERIC(20, 2) NOT NULL,
    quantity          NUMERIC(20, 4) NOT NULL CHECK (quantity > 0),
    discount_percent  NUMERIC(7, 4),
    discount_amount   NUMERIC(20, 2),
    tax_rate          NUMERIC(5, 2) NOT NULL DEFAULT 0,
    tax_included      BOOLEAN NOT NULL DEFAULT false,
    unit              TEXT,
    sort              INTEGER NOT NULL DEFAULT 0,
    line_net          NUMERIC(20, 2) NOT NULL,
    line_tax          NUMERIC(20, 2) NOT NULL,
    line_gross        NUMERIC(20, 2) NOT NULL
);
CREATE INDEX product_rows_owner_idx ON product_rows (owner_type, owner_id, sort, id);
CREATE INDEX product_rows_product_id_idx ON product_rows (product_id);

-- What a converted lead became (one row per converted lead).
CREATE TABLE lead_conversions (
    lead_id       BIGINT PRIMARY KEY REFERENCES leads (id) ON DELETE CASCADE,
    converted_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    contact_id    BIGINT REFERENCES contacts (id) ON DELETE SET NULL,
    company_id    BIGINT REFERENCES companies (id) ON DELETE SET NULL,
    deal_id       BIGINT REFERENCES deals (id) ON DELETE SET NULL,
    converted_by_id BIGINT REFERENCES users (id)
);
CREATE INDEX lead_conversions_contact_id_idx ON lead_conversions (contact_id);
CREATE INDEX lead_conversions_company_id_idx ON lead_conversions (company_id);
CREATE INDEX lead_conversions_deal_id_idx ON lead_conversions (deal_id);
CREATE INDEX lead_conversions_converted_at_idx ON lead_conversions (converted_at);

ALTER TABLE deals ADD COLUMN lost_reason TEXT;

CREATE TABLE deal_stage_history (
    id             BIGSERIAL PRIMARY KEY,
    deal_id        BIGINT NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
    from_stage_id  BIGINT REFERENCES stages (id),
    to_stage_id    BIGINT NOT NULL REFERENCES stages (id),
    at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    by_id          BIGINT REFERENCES users (id)
);
CREATE INDEX deal_stage_history_deal_idx ON deal_stage_history (deal_id, id);
CREATE INDEX deal_stage_history_to_stage_idx ON deal_stage_history (to_stage_id);
CREATE INDEX deal_stage_history_from_stage_idx ON deal_stage_history (from_stage_id);
CREATE INDEX deal_stage_history_by_id_idx ON deal_stage_history (by_id);
