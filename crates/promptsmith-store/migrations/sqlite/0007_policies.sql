-- Continuous optimization: a policy per program (JSON, what triggers a re-optimization and
-- what deploys its result) and the timeline of the policy engine's decisions, each with its
-- reason. Keep in step with the other dialect's file: only the id columns differ.

CREATE TABLE policies (
    program TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    policy_json TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE timeline (
    id INTEGER PRIMARY KEY,
    program TEXT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT NOT NULL,
    data_json TEXT NOT NULL
);
CREATE INDEX timeline_program ON timeline (program, id);
