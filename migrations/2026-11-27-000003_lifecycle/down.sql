DROP TABLE IF EXISTS deal_stage_history, lead_conversions, product_rows, products;
ALTER TABLE deals DROP COLUMN IF EXISTS lost_reason;
