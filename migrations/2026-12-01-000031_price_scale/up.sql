-- Unit prices (catalogue and rows) and per-unit discounts take up to four decimal places
-- (0.1234 EUR per screw); line amounts stay in cents. Unconstrained NUMERIC keeps each
-- value's own scale ("100.00" stays "100.00" instead of becoming "100.0000"); the checks
-- keep the bounds the application enforces: four places, 18 integer digits.
ALTER TABLE products
    ALTER COLUMN price TYPE NUMERIC,
    ADD CONSTRAINT products_price_range CHECK (scale(price) <= 4 AND price < 1e18);
ALTER TABLE product_rows
    ALTER COLUMN unit_price TYPE NUMERIC,
    ALTER COLUMN discount_amount TYPE NUMERIC,
    ADD CONSTRAINT product_rows_unit_price_range CHECK (scale(unit_price) <= 4 AND unit_price < 1e18),
    ADD CONSTRAINT product_rows_discount_amount_range
        CHECK (scale(discount_amount) <= 4 AND discount_amount < 1e18);
