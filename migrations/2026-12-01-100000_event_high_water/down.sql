DROP TABLE IF EXISTS event_high_water;
