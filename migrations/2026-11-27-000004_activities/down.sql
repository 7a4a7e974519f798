DROP TABLE IF EXISTS activity_bindings, activities;
