-- Rows examined and sent per rollup hour, so a window comparison can give each window's rows ratio
-- (rows_known: executions that reported rows examined; PostgreSQL's sources report none). Hours
-- stored before this migration count 0 and show no ratio.
ALTER TABLE query_rollups ADD COLUMN rows_examined BIGINT NOT NULL DEFAULT 0;
ALTER TABLE query_rollups ADD COLUMN rows_known BIGINT NOT NULL DEFAULT 0;
ALTER TABLE query_rollups ADD COLUMN rows_sent BIGINT NOT NULL DEFAULT 0;

-- Weekly e-mail reports (docs/ALERTS.md), opt-in per team: the e-mail channel they go to and the week
-- (its Monday, YYYY-MM-DD) of the last report queued, claimed in the transaction that queues it.
CREATE TABLE team_reports (
    team_id          INTEGER PRIMARY KEY REFERENCES teams(id) ON DELETE CASCADE,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    channel_id       BIGINT NOT NULL REFERENCES alert_channels(id) ON DELETE CASCADE,
    last_week        TEXT,
    created_by       BIGINT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX team_reports_org_idx ON team_reports(organization_id);

-- SQLite cannot change a CHECK constraint: the outbox is rebuilt with 'report' allowed.
CREATE TABLE alert_deliveries_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    channel_id       BIGINT NOT NULL REFERENCES alert_channels(id) ON DELETE CASCADE,
    alert_id         BIGINT REFERENCES alerts(id) ON DELETE CASCADE,
    delivery_id      TEXT NOT NULL UNIQUE,
    event            TEXT NOT NULL CHECK (event IN ('trigger', 'resolve', 'test', 'report')),
    message          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    lease_token      TEXT,
    lease_until      TEXT,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
INSERT INTO alert_deliveries_new SELECT id, organization_id, channel_id, alert_id, delivery_id, event,
    message, status, attempts, next_attempt_at, lease_token, lease_until, last_error, created_at,
    updated_at FROM alert_deliveries;
DROP TABLE alert_deliveries;
ALTER TABLE alert_deliveries_new RENAME TO alert_deliveries;
CREATE INDEX alert_deliveries_due_idx ON alert_deliveries(status, next_attempt_at);
CREATE INDEX alert_deliveries_channel_idx ON alert_deliveries(channel_id, id DESC);
