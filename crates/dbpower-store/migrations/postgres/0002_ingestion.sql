-- Slow-query ingestion: query classes (one per organization and fingerprint), raw slow queries, hourly
-- rollups for dashboards, per-class analysis results, the analysis job queue, and idempotency records.

CREATE TABLE query_classes (
    id                   BIGSERIAL PRIMARY KEY,
    organization_id      BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    database_type        TEXT NOT NULL CHECK (database_type IN ('mysql', 'postgresql')),
    query_id             TEXT NOT NULL,
    fingerprint          TEXT NOT NULL,
    fingerprint_version  INTEGER NOT NULL,
    sample_sql           TEXT NOT NULL,
    count                BIGINT NOT NULL DEFAULT 0,
    total_time_ms        DOUBLE PRECISION NOT NULL DEFAULT 0,
    min_time_ms          DOUBLE PRECISION NOT NULL DEFAULT 0,
    max_time_ms          DOUBLE PRECISION NOT NULL DEFAULT 0,
    lock_time_ms         DOUBLE PRECISION NOT NULL DEFAULT 0,
    rows_examined        BIGINT NOT NULL DEFAULT 0,
    rows_sent            BIGINT NOT NULL DEFAULT 0,
    first_seen           TIMESTAMPTZ NOT NULL,
    last_seen            TIMESTAMPTZ NOT NULL,
    p95_time_ms          DOUBLE PRECISION,
    p99_time_ms          DOUBLE PRECISION,
    severity             TEXT,
    UNIQUE (organization_id, database_type, query_id)
);
CREATE INDEX query_classes_org_total_idx ON query_classes(organization_id, total_time_ms DESC);

-- Log-bucket latency histogram per class (see dbpower_sql::Histogram): additive, so concurrent
-- batches merge with a plain upsert.
CREATE TABLE class_histogram (
    class_id  BIGINT NOT NULL REFERENCES query_classes(id) ON DELETE CASCADE,
    bucket    INTEGER NOT NULL,
    count     BIGINT NOT NULL,
    PRIMARY KEY (class_id, bucket)
);

CREATE TABLE class_databases (
    class_id  BIGINT NOT NULL REFERENCES query_classes(id) ON DELETE CASCADE,
    name      TEXT NOT NULL,
    PRIMARY KEY (class_id, name)
);

CREATE TABLE slow_queries (
    id                 BIGSERIAL PRIMARY KEY,
    organization_id    BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    team_id            BIGINT,
    identity_id        BIGINT,
    api_key_id         BIGINT,
    class_id           BIGINT NOT NULL REFERENCES query_classes(id) ON DELETE CASCADE,
    query_id           TEXT NOT NULL,
    sql_text           TEXT NOT NULL,
    database_type      TEXT NOT NULL,
    database_name      TEXT,
    db_user            TEXT,
    client_host        TEXT,
    execution_time_ms  DOUBLE PRECISION NOT NULL,
    lock_time_ms       DOUBLE PRECISION,
    rows_examined      BIGINT,
    rows_sent          BIGINT,
    rows_affected      BIGINT,
    calls              BIGINT NOT NULL DEFAULT 1,
    observed_at        TIMESTAMPTZ NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    explain            JSONB,
    source             TEXT
);
CREATE INDEX slow_queries_org_observed_idx ON slow_queries(organization_id, observed_at DESC, id DESC);
CREATE INDEX slow_queries_org_time_idx ON slow_queries(organization_id, execution_time_ms DESC);
CREATE INDEX slow_queries_class_idx ON slow_queries(class_id);
CREATE INDEX slow_queries_team_idx ON slow_queries(organization_id, team_id, observed_at DESC);
CREATE INDEX slow_queries_identity_idx ON slow_queries(organization_id, identity_id, observed_at DESC);

CREATE TABLE query_rollups (
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    class_id         BIGINT NOT NULL REFERENCES query_classes(id) ON DELETE CASCADE,
    team_id          BIGINT NOT NULL DEFAULT 0,
    identity_id      BIGINT NOT NULL DEFAULT 0,
    hour             TIMESTAMPTZ NOT NULL,
    -- Slow-query rows (row_count) and the executions they stand for (count: pg_stat_statements deltas carry calls).
    row_count        BIGINT NOT NULL,
    count            BIGINT NOT NULL,
    total_time_ms    DOUBLE PRECISION NOT NULL,
    max_time_ms      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (class_id, team_id, identity_id, hour)
);
CREATE INDEX query_rollups_org_hour_idx ON query_rollups(organization_id, hour);

CREATE TABLE analysis_results (
    class_id         BIGINT PRIMARY KEY REFERENCES query_classes(id) ON DELETE CASCADE,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    severity         TEXT NOT NULL CHECK (severity IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    issue_count      INTEGER NOT NULL,
    report           JSONB NOT NULL,
    analyzed_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE analysis_jobs (
    id               BIGSERIAL PRIMARY KEY,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    class_id         BIGINT NOT NULL REFERENCES query_classes(id) ON DELETE CASCADE,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    reason           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    lease_token      TEXT,
    lease_until      TIMESTAMPTZ,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
-- At most one pending job per class: a new fingerprint seen twice is analysed once.
CREATE UNIQUE INDEX analysis_jobs_one_pending_idx ON analysis_jobs(class_id) WHERE status IN ('queued', 'running');
CREATE INDEX analysis_jobs_claim_idx ON analysis_jobs(status, id);

CREATE TABLE ingest_requests (
    api_key_id   BIGINT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    request_id   TEXT NOT NULL,
    response     JSONB,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (api_key_id, request_id)
);
