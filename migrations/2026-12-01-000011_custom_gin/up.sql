-- Custom-field equality and `in` filters compile to containment (`custom @> '{"UF_X": v}'`),
-- which these indexes answer for every field at once; ranges, sorts and isNull use the
-- per-field btree expression index created with the field.
CREATE INDEX leads_custom_gin ON leads USING gin (custom jsonb_path_ops);
CREATE INDEX contacts_custom_gin ON contacts USING gin (custom jsonb_path_ops);
CREATE INDEX companies_custom_gin ON companies USING gin (custom jsonb_path_ops);
CREATE INDEX deals_custom_gin ON deals USING gin (custom jsonb_path_ops);
