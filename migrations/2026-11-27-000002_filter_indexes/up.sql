-- Indexes behind the remaining filters the API exposes. B-trees serve eq/in/range and
-- prefix filters; trigram GIN indexes on lower(...) serve the case-insensitive `contains`.
-- Boolean flags (opened, closed, is_my_company) are left unindexed: with two values an
-- index does not beat a scan.

CREATE INDEX leads_first_name_idx ON leads (first_name);
CREATE INDEX leads_middle_name_idx ON leads (middle_name);
CREATE INDEX leads_honorific_idx ON leads (honorific);
CREATE INDEX leads_birthdate_idx ON leads (birthdate);
CREATE INDEX leads_position_idx ON leads (position);
CREATE INDEX leads_currency_idx ON leads (currency);
CREATE INDEX leads_utm_source_idx ON leads (utm_source);
CREATE INDEX leads_utm_medium_idx ON leads (utm_medium);
CREATE INDEX leads_utm_campaign_idx ON leads (utm_campaign);
CREATE INDEX leads_title_trgm_idx ON leads USING gin (lower(title) gin_trgm_ops);
CREATE INDEX leads_name_trgm_idx ON leads
    USING gin (lower(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) gin_trgm_ops);
CREATE INDEX leads_last_name_trgm_idx ON leads USING gin (lower(last_name) gin_trgm_ops);
CREATE INDEX leads_company_title_trgm_idx ON leads USING gin (lower(company_title) gin_trgm_ops);
CREATE INDEX leads_address_trgm_idx ON leads USING gin (lower(address) gin_trgm_ops);
CREATE INDEX leads_comments_trgm_idx ON leads USING gin (lower(comments) gin_trgm_ops);

CREATE INDEX contacts_middle_name_idx ON contacts (middle_name);
CREATE INDEX contacts_honorific_idx ON contacts (honorific);
CREATE INDEX contacts_position_idx ON contacts (position);
CREATE INDEX contacts_birthdate_idx ON contacts (birthdate);
CREATE INDEX contacts_last_name_trgm_idx ON contacts USING gin (lower(last_name) gin_trgm_ops);
CREATE INDEX contacts_first_name_trgm_idx ON contacts USING gin (lower(first_name) gin_trgm_ops);
CREATE INDEX contacts_address_trgm_idx ON contacts USING gin (lower(address) gin_trgm_ops);
CREATE INDEX contacts_comments_trgm_idx ON contacts USING gin (lower(comments) gin_trgm_ops);

CREATE INDEX companies_currency_idx ON companies (currency);
CREATE INDEX companies_legal_name_idx ON companies (legal_name);
CREATE INDEX companies_vat_id_idx ON companies (vat_id);
CREATE INDEX companies_tax_id_idx ON companies (tax_id);
CREATE INDEX companies_address_trgm_idx ON companies USING gin (lower(address) gin_trgm_ops);
CREATE INDEX companies_comments_trgm_idx ON companies USING gin (lower(comments) gin_trgm_ops);

CREATE INDEX deals_probability_idx ON deals (probability);
CREATE INDEX deals_currency_idx ON deals (currency);
CREATE INDEX deals_title_trgm_idx ON deals USING gin (lower(title) gin_trgm_ops);
CREATE INDEX deals_comments_trgm_idx ON deals USING gin (lower(comments) gin_trgm_ops);

-- Communications: `contains` on normalised values (phone digits, e-mail parts).
CREATE INDEX communications_normalized_trgm_idx ON communications USING gin (lower(normalized) gin_trgm_ops);

CREATE INDEX users_created_at_idx ON users (created_at);
