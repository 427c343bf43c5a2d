-- A/B experiments: a program's control and challenger versions, the share of traffic the
-- challenger gets and the stopping rules; predictions record the experiment and arm that served
-- them. At most one running experiment per program. Keep in step with the other dialect's file.

CREATE TABLE experiments (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    program TEXT NOT NULL,
    control_version BIGINT NOT NULL,
    challenger_version BIGINT NOT NULL,
    traffic DOUBLE PRECISION NOT NULL,
    metric TEXT NOT NULL,
    settings_json TEXT NOT NULL,
    status TEXT NOT NULL,
    decision TEXT,
    created_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE UNIQUE INDEX experiments_one_running ON experiments (program) WHERE status = 'running';
CREATE INDEX experiments_tenant_created ON experiments (tenant, created_at);

ALTER TABLE evaluations ADD COLUMN experiment_id TEXT;
ALTER TABLE evaluations ADD COLUMN arm TEXT;
CREATE INDEX evaluations_experiment_arm ON evaluations (experiment_id, arm);
