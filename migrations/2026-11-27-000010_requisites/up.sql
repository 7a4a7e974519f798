-- Company details: the legal requisites of a company (client companies and our own, the
-- company flagged `is_my_company`), with bank accounts.
CREATE TABLE requisites (
    company_id             BIGINT PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
    legal_name             TEXT,
    vat_id                 TEXT,
    tax_id                 TEXT,
    registration_number    TEXT,
    registration_address   TEXT,
    -- [{bankName, accountHolder, iban, bic}], IBAN and BIC validated on write.
    bank_accounts          JSONB NOT NULL DEFAULT '[]',
    updated_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by_id          BIGINT REFERENCES users (id)
);
