-- Jobs are claimed first in, first out. `created_at` has millisecond resolution, so jobs
-- submitted within one millisecond need a tie-breaker in insertion order: an identity
-- column in PostgreSQL, the implicit rowid here. Keep in step with the other dialect's file.
SELECT 1; -- enqueued_seq: nothing to add, SQLite's rowid grows with each insert
