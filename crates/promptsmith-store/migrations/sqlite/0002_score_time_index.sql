-- Score-range queries come back newest first: with created_at in the index, the ids of the
-- matching rows are found and ordered from the index alone (no table lookups before LIMIT).
DROP INDEX evaluations_program_version_score;
CREATE INDEX evaluations_program_version_score_time ON evaluations (program, version, score, created_at);
