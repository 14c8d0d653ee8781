-- Rows examined and sent per rollup hour, so a window comparison can give each window's rows ratio
-- (rows_known: executions that reported rows examined; PostgreSQL's sources report none). Hours
-- stored before this migration count 0 and show no ratio.
ALTER TABLE query_rollups ADD COLUMN rows_examined BIGINT NOT NULL DEFAULT 0;
ALTER TABLE query_rollups ADD COLUMN rows_known BIGINT NOT NULL DEFAULT 0;
ALTER TABLE query_rollups ADD COLUMN rows_sent BIGINT NOT NULL DEFAULT 0;

-- Weekly e-mail reports (docs/ALERTS.md), opt-in per team: the e-mail channel they go to and the week
-- (its Monday, YYYY-MM-DD) of the last report queued, claimed in the transaction that queues it.
CREATE TABLE team_reports (
    team_id          BIGINT PRIMARY KEY REFERENCES teams(id) ON DELETE CASCADE,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    channel_id       BIGINT NOT NULL REFERENCES alert_channels(id) ON DELETE CASCADE,
    last_week        TEXT,
    created_by       BIGINT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX team_reports_org_idx ON team_reports(organization_id);

ALTER TABLE alert_deliveries DROP CONSTRAINT alert_deliveries_event_check;
ALTER TABLE alert_deliveries ADD CONSTRAINT alert_deliveries_event_check
    CHECK (event IN ('trigger', 'resolve', 'test', 'report'));
