-- The relay's high-water mark: the last `published_seq` it stamped. Numbering continues from
-- here rather than from max(published_seq), so pruning every retained event during a quiet
-- period cannot restart it; running instances and `after:` resumes rely on numbers only
-- growing. The relay moves it in the same statement that stamps events (under its advisory
-- lock), so it is gapless and never goes backwards. Existing events keep their numbers.
CREATE TABLE event_high_water (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    seq      BIGINT NOT NULL CHECK (seq >= 0)
);
INSERT INTO event_high_water (seq) SELECT coalesce(max(published_seq), 0) FROM events;
