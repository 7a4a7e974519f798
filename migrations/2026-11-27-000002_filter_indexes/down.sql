DROP INDEX IF EXISTS leads_first_name_idx, leads_middle_name_idx, leads_honorific_idx, leads_birthdate_idx,
    leads_position_idx, leads_currency_idx, leads_utm_source_idx, leads_utm_medium_idx, leads_utm_campaign_idx,
    leads_title_trgm_idx, leads_name_trgm_idx, leads_last_name_trgm_idx, leads_company_title_trgm_idx,
    leads_address_trgm_idx, leads_comments_trgm_idx, contacts_middle_name_idx, contacts_honorific_idx,
    contacts_position_idx, contacts_birthdate_idx, contacts_last_name_trgm_idx, contacts_first_name_trgm_idx,
    contacts_address_trgm_idx, contacts_comments_trgm_idx, companies_currency_idx, companies_legal_name_idx,
    companies_vat_id_idx, companies_tax_id_idx, companies_address_trgm_idx, companies_comments_trgm_idx,
    deals_probability_idx, deals_currency_idx, deals_title_trgm_idx, deals_comments_trgm_idx,
    communications_normalized_trgm_idx, users_created_at_idx;
