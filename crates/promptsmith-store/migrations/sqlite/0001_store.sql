-- promptsmith store schema (SQLite). Keep in step with ../postgres/0001_store.sql: the same
-- tables and columns; only the id columns differ. Times are Unix milliseconds, JSON is TEXT.

CREATE TABLE programs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    next_version BIGINT NOT NULL DEFAULT 1,
    alias_seq BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE program_versions (
    program_id BIGINT NOT NULL REFERENCES programs (id),
    version BIGINT NOT NULL,
    state_json TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    parent_version BIGINT,
    optimizer TEXT,
    params_json TEXT NOT NULL,
    scores_json TEXT NOT NULL,
    dataset_hash TEXT,
    run_id BIGINT,
    created_by TEXT NOT NULL,
    note TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (program_id, version)
);

CREATE TABLE aliases (
    program_id BIGINT NOT NULL REFERENCES programs (id),
    alias TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (program_id, alias),
    FOREIGN KEY (program_id, version) REFERENCES program_versions (program_id, version)
);

CREATE TABLE alias_log (
    id INTEGER PRIMARY KEY,
    program_id BIGINT NOT NULL REFERENCES programs (id),
    seq BIGINT NOT NULL,
    alias TEXT NOT NULL,
    action TEXT NOT NULL,
    from_version BIGINT,
    to_version BIGINT,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    at BIGINT NOT NULL,
    UNIQUE (program_id, seq)
);

CREATE TABLE evaluations (
    id INTEGER PRIMARY KEY,
    program TEXT NOT NULL,
    version BIGINT NOT NULL,
    run_id BIGINT,
    example_index BIGINT,
    inputs_json TEXT NOT NULL,
    outputs_json TEXT,
    labels_json TEXT,
    score DOUBLE PRECISION NOT NULL,
    metrics_json TEXT,
    judge_reasoning TEXT,
    error TEXT,
    latency_ms BIGINT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    metadata_json TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX evaluations_program_time ON evaluations (program, created_at);
CREATE INDEX evaluations_program_version_time ON evaluations (program, version, created_at);
CREATE INDEX evaluations_program_version_score ON evaluations (program, version, score);

CREATE TABLE eval_stats (
    program TEXT NOT NULL,
    version BIGINT NOT NULL,
    n BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    sum_score DOUBLE PRECISION NOT NULL,
    sum_score_sq DOUBLE PRECISION NOT NULL,
    min_score DOUBLE PRECISION NOT NULL,
    max_score DOUBLE PRECISION NOT NULL,
    sum_latency_ms BIGINT NOT NULL,
    sum_prompt_tokens BIGINT NOT NULL,
    sum_completion_tokens BIGINT NOT NULL,
    sum_cost_usd DOUBLE PRECISION NOT NULL,
    first_at BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (program, version)
);

CREATE TABLE feedback (
    id INTEGER PRIMARY KEY,
    evaluation_id BIGINT NOT NULL UNIQUE REFERENCES evaluations (id),
    status TEXT NOT NULL,
    reason TEXT,
    requested_at BIGINT NOT NULL,
    rating DOUBLE PRECISION,
    corrected_json TEXT,
    label TEXT,
    comment TEXT,
    reviewer TEXT,
    received_at BIGINT
);
CREATE INDEX feedback_status ON feedback (status, requested_at);

CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    program TEXT NOT NULL,
    optimizer TEXT,
    params_json TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    usage_json TEXT NOT NULL,
    best_score DOUBLE PRECISION,
    result_version BIGINT,
    error TEXT,
    metadata_json TEXT NOT NULL
);
CREATE INDEX runs_program_time ON runs (program, started_at);

CREATE TABLE trials (
    run_id BIGINT NOT NULL REFERENCES runs (id),
    trial BIGINT NOT NULL,
    candidate TEXT NOT NULL,
    parent_candidate TEXT,
    score DOUBLE PRECISION,
    params_json TEXT NOT NULL,
    state_json TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, trial)
);

CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES runs (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (run_id, name)
);

CREATE TABLE perf_snapshots (
    id INTEGER PRIMARY KEY,
    program TEXT NOT NULL,
    version BIGINT NOT NULL,
    at BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    window_end BIGINT NOT NULL,
    n BIGINT NOT NULL,
    mean_score DOUBLE PRECISION NOT NULL,
    latency_p50_ms DOUBLE PRECISION NOT NULL,
    latency_p95_ms DOUBLE PRECISION NOT NULL,
    cost_per_call DOUBLE PRECISION NOT NULL
);
CREATE INDEX perf_snapshots_program_version_at ON perf_snapshots (program, version, at);
