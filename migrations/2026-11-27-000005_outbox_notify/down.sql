DROP TRIGGER IF EXISTS events_notify ON events;
DROP FUNCTION IF EXISTS kontor_outbox_notify();
