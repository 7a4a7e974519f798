DROP TABLE IF EXISTS events, timeline_entries, communications, deal_contacts, contact_companies,
    deals, leads, contacts, companies, stages, pipelines, status_items, api_tokens, users,
    departments CASCADE;
