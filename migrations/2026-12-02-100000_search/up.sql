-- The search box (`search` query, src/search/): every element's searchable name or title,
-- folded (accents off, lower case, German umlauts also spelt out), kept in generated columns
-- that PostgreSQL computes in the writing transaction, with two GIN indexes per table: the
-- full-text one answers word prefixes, the trigram one misspellings (word_similarity, `<%`).
-- E-mails and phones are found in `communications`: exact values through its btree index,
-- phone digits through its trigram index, parts of e-mail addresses through the two indexes
-- at the end.
-- The columns are left out of src/db/schema.rs: nothing writes them (inserts name their
-- columns, kernel/write.rs `insert_columns`), `leads` is at diesel's 32-column limit, and
-- reads go through raw SQL whose `SELECT t.*` rows ignore columns their structs lack.
CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public;

-- unaccent(text) is only STABLE: it finds its dictionary through the search_path. With the
-- dictionary and the function named by schema the result depends on the argument alone, so
-- the wrapper may be IMMUTABLE and serve in generated columns and indexes.
CREATE FUNCTION kontor_unaccent(t text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN public.unaccent('public.unaccent'::regdictionary, t);

-- The searchable form of a text: unaccented and lower case ("Müller" → "muller"); with
-- `german` and an ä, ö or ü in it, followed by the German spelling without umlauts
-- ("muller mueller"), so both "muller" and "mueller" find it. Queries are folded with
-- `german` false: their own spelling is one of the two stored ones.
CREATE FUNCTION kontor_fold(t text, german boolean DEFAULT true) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN lower(kontor_unaccent(t))
        || CASE WHEN german AND lower(t) ~ '[äöü]'
                THEN ' ' || lower(kontor_unaccent(
                    replace(replace(replace(lower(t), 'ä', 'ae'), 'ö', 'oe'), 'ü', 'ue')))
                ELSE '' END;

-- The query for the words typed so far: each word folded as above (without the German
-- spelling) and matched as a prefix, all words required ("anna mül" → 'anna':* & 'mul':*).
-- Each word is quoted as a tsquery lexeme, so nothing in it is read as tsquery syntax.
-- IMMUTABLE, so the planner folds it into a constant and estimates how common the words are.
CREATE FUNCTION kontor_prefix_query(words text[]) RETURNS tsquery
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN (SELECT to_tsquery('simple'::regconfig, string_agg(
                '''' || replace(replace(w, '\', '\\'), '''', '''''') || ''':*', ' & '))
            FROM (SELECT kontor_fold(x, false) AS w FROM unnest(words) x) f WHERE w <> '');

-- What each element type is found by: its names and titles. (`concat_ws` is only STABLE,
-- hence the coalesce chains.)
ALTER TABLE leads
    ADD COLUMN search_text text GENERATED ALWAYS AS (kontor_fold(
        coalesce(first_name, '') || ' ' || coalesce(middle_name, '') || ' ' || coalesce(last_name, '')
        || ' ' || coalesce(company_title, '') || ' ' || coalesce(title, ''))) STORED,
    ADD COLUMN search_words tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, kontor_fold(
        coalesce(first_name, '') || ' ' || coalesce(middle_name, '') || ' ' || coalesce(last_name, '')
        || ' ' || coalesce(company_title, '') || ' ' || coalesce(title, '')))) STORED;
ALTER TABLE contacts
    ADD COLUMN search_text text GENERATED ALWAYS AS (kontor_fold(
        coalesce(first_name, '') || ' ' || coalesce(middle_name, '') || ' ' || coalesce(last_name, ''))) STORED,
    ADD COLUMN search_words tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, kontor_fold(
        coalesce(first_name, '') || ' ' || coalesce(middle_name, '') || ' ' || coalesce(last_name, '')))) STORED;
ALTER TABLE companies
    ADD COLUMN search_text text GENERATED ALWAYS AS (kontor_fold(coalesce(title, ''))) STORED,
    ADD COLUMN search_words tsvector GENERATED ALWAYS AS
        (to_tsvector('simple'::regconfig, kontor_fold(coalesce(title, '')))) STORED;
ALTER TABLE deals
    ADD COLUMN search_text text GENERATED ALWAYS AS (kontor_fold(coalesce(title, ''))) STORED,
    ADD COLUMN search_words tsvector GENERATED ALWAYS AS
        (to_tsvector('simple'::regconfig, kontor_fold(coalesce(title, '')))) STORED;

-- Only the indexes the search statements use: every index slows imports.
CREATE INDEX leads_search_words_idx ON leads USING gin (search_words);
CREATE INDEX leads_search_text_trgm_idx ON leads USING gin (search_text gin_trgm_ops);
CREATE INDEX contacts_search_words_idx ON contacts USING gin (search_words);
CREATE INDEX contacts_search_text_trgm_idx ON contacts USING gin (search_text gin_trgm_ops);
CREATE INDEX companies_search_words_idx ON companies USING gin (search_words);
CREATE INDEX companies_search_text_trgm_idx ON companies USING gin (search_text gin_trgm_ops);
CREATE INDEX deals_search_words_idx ON deals USING gin (search_words);
CREATE INDEX deals_search_text_trgm_idx ON deals USING gin (search_text gin_trgm_ops);

-- Parts of e-mail addresses, all prefix searches on partial btree indexes: a part with an
-- "@" ("anna@", "@mueller.example", "nna@muel") lines up with the address's "@", so the
-- local part ends with what precedes it (its reverse starts with it) and the domain starts
-- with what follows; a word of a text query starts the address or its domain or ends the
-- local part. (The trigram index of `communications` ignores the "@", and rechecking every
-- "anna.…" address for "anna@" took 35 ms at 750,000 addresses; it also serves every
-- element type at once, so a word common in other types' addresses costs a recheck of each.)
CREATE INDEX communications_email_idx ON communications
    (element_type, normalized text_pattern_ops) WHERE kind = 'EMAIL';
CREATE INDEX communications_email_local_idx ON communications
    (element_type, reverse(split_part(normalized, '@', 1)) text_pattern_ops) WHERE kind = 'EMAIL';
CREATE INDEX communications_email_domain_idx ON communications
    (element_type, split_part(normalized, '@', 2) text_pattern_ops) WHERE kind = 'EMAIL';
-- Partial indexes lend the planner no statistics on their expressions; without these it
-- guessed the same row count for every part and read the wrong index.
CREATE STATISTICS communications_email_local_stats ON (reverse(split_part(normalized, '@', 1))) FROM communications;
CREATE STATISTICS communications_email_domain_stats ON (split_part(normalized, '@', 2)) FROM communications;
