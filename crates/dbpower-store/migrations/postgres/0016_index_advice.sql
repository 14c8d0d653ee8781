-- What-if validation of index advice (docs/ANALYSIS.md): one row per class and recommended DDL, asked of
-- the agent that ships the class's statements (claimed with a lease, answered with planner costs or
-- sandbox timings). An unavailable answer is asked again when the class is analysed again.
CREATE TABLE index_validations (
    id               BIGSERIAL PRIMARY KEY,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    class_id         BIGINT NOT NULL REFERENCES query_classes(id) ON DELETE CASCADE,
    ddl              TEXT NOT NULL,
    target           JSONB NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'validated', 'rejected', 'unavailable')),
    method           TEXT CHECK (method IN ('hypopg', 'sandbox')),
    cost_before      DOUBLE PRECISION,
    cost_after       DOUBLE PRECISION,
    time_before_ms   DOUBLE PRECISION,
    time_after_ms    DOUBLE PRECISION,
    uses_index       BOOLEAN,
    reason           TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    leased_by        BIGINT,
    lease_until      TIMESTAMPTZ,
    requested_at     TIMESTAMPTZ NOT NULL,
    checked_at       TIMESTAMPTZ,
    UNIQUE (class_id, ddl)
);
CREATE INDEX index_validations_pending_idx ON index_validations(organization_id, status, id);
-- A claim asks, per pending validation, for the newest slow query of its class that the agent shipped.
CREATE INDEX slow_queries_class_key_idx ON slow_queries(class_id, api_key_id, id);

-- The newest description of each table the agents described (columns, indexes with their usage,
-- primary and foreign keys), for the workload's index advice: unused and redundant indexes, and the
-- indexes that exist when advice is consolidated. One row per shipping api key (an agent watches one
-- server: a primary and its replica count their index scans apart), with the key's team.
CREATE TABLE table_snapshots (
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    api_key_id       BIGINT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    database_type    TEXT NOT NULL CHECK (database_type IN ('mysql', 'postgresql')),
    database_name    TEXT NOT NULL,
    table_key        TEXT NOT NULL,
    team_id          BIGINT,
    snapshot         JSONB NOT NULL,
    first_seen       TIMESTAMPTZ NOT NULL,
    seen_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (organization_id, database_type, database_name, table_key, api_key_id)
);
