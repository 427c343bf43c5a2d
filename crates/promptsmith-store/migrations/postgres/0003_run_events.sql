-- Events of a run, in order (progress, trials, results), so a client that connects late or
-- reconnects replays what it missed. Keep in step with the other dialect's file.
CREATE TABLE run_events (
    run_id BIGINT NOT NULL REFERENCES runs (id),
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    data_json TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
