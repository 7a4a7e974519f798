-- The relay reads and marks events numbered but not yet published, in number order. Without
-- this index both statements walked every published event first: at 200,000 events (a
-- large import) each took 300-450 ms, and the relay fell tens of thousands behind.
CREATE INDEX events_pending_seq_idx ON events (published_seq) WHERE published_at IS NULL;
