-- The orphaned rows removed by up.sql belonged to deleted elements and cannot come back.
SELECT 1;
