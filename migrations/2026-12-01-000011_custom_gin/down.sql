DROP INDEX IF EXISTS leads_custom_gin;
DROP INDEX IF EXISTS contacts_custom_gin;
DROP INDEX IF EXISTS companies_custom_gin;
DROP INDEX IF EXISTS deals_custom_gin;
