-- Deleting an element used to leave its product rows, its activities and the bindings to it
-- behind (they point at it without a foreign key, as they point at elements of several
-- types): rows nobody could see, and product rows that kept a product from being deleted.
-- Deleting now takes them along (README "Merging and deleting"); this clears what earlier
-- deletes left, by the same rule: an activity whose owner is gone passes to the first element
-- it is still bound to (by type name, then id), or goes if there is none.
CREATE FUNCTION kontor_element_exists(p_type TEXT, p_id BIGINT) RETURNS BOOLEAN LANGUAGE sql STABLE AS $$
    SELECT CASE p_type
        WHEN 'LEAD' THEN EXISTS (SELECT 1 FROM leads WHERE id = p_id)
        WHEN 'CONTACT' THEN EXISTS (SELECT 1 FROM contacts WHERE id = p_id)
        WHEN 'COMPANY' THEN EXISTS (SELECT 1 FROM companies WHERE id = p_id)
        WHEN 'DEAL' THEN EXISTS (SELECT 1 FROM deals WHERE id = p_id)
        ELSE false
    END;
$$;

DELETE FROM product_rows WHERE NOT kontor_element_exists(owner_type, owner_id);
DELETE FROM communications WHERE NOT kontor_element_exists(element_type, element_id);
DELETE FROM activity_bindings WHERE NOT kontor_element_exists(element_type, element_id);
UPDATE activities a SET owner_type = n.element_type, owner_id = n.element_id, version = a.version + 1, updated_at = now()
FROM (SELECT DISTINCT ON (activity_id) activity_id, element_type, element_id FROM activity_bindings
      ORDER BY activity_id, element_type, element_id) n
WHERE n.activity_id = a.id AND NOT kontor_element_exists(a.owner_type, a.owner_id);
DELETE FROM activities WHERE NOT kontor_element_exists(owner_type, owner_id);

DROP FUNCTION kontor_element_exists(TEXT, BIGINT);
