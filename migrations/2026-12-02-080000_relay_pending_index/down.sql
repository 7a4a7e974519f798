DROP INDEX events_pending_seq_idx;
