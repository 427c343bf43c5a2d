-- The service's tables: durable optimization jobs (queue, lease, progress, result) with their
-- call journal and event log, stored datasets, API keys (hashed) and the audit log. Keep in
-- step with the other dialect's file. Times are Unix milliseconds, JSON is TEXT.

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    program TEXT NOT NULL,
    status TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    plan_json TEXT NOT NULL,
    progress_json TEXT NOT NULL,
    result_json TEXT,
    error TEXT,
    cancel_requested BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_status_created ON jobs (status, created_at);
CREATE INDEX jobs_tenant_created ON jobs (tenant, created_at);

CREATE TABLE job_journal (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    seq BIGINT NOT NULL,
    entry_json TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE job_events (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    data_json TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE datasets (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    format TEXT NOT NULL,
    num_rows BIGINT NOT NULL,
    columns_json TEXT NOT NULL,
    content TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX datasets_tenant_created ON datasets (tenant, created_at);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    actor TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status BIGINT NOT NULL,
    detail TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX audit_log_tenant_at ON audit_log (tenant, at);

-- Served predictions are evaluations without a score until feedback gives one: they stay out of
-- the score statistics and samples.
ALTER TABLE evaluations ADD COLUMN unscored BIGINT NOT NULL DEFAULT 0;
