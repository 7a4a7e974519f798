-- Back to cents: prices with sub-cent digits are rounded.
ALTER TABLE product_rows
    DROP CONSTRAINT product_rows_discount_amount_range,
    DROP CONSTRAINT product_rows_unit_price_range,
    ALTER COLUMN unit_price TYPE NUMERIC(20, 2),
    ALTER COLUMN discount_amount TYPE NUMERIC(20, 2);
ALTER TABLE products
    DROP CONSTRAINT products_price_range,
    ALTER COLUMN price TYPE NUMERIC(20, 2);
