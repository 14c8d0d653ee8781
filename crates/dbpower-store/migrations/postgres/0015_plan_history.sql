-- Plan history (docs/ANALYSIS.md): each plan shape a class ran with (dbpower_analysis::plans: node
-- types, relations, indexes, join order and methods; no costs or row counts), with the newest plan of
-- that shape, how many executions carried it, their time, and when it was first and last seen. At most
-- 50 shapes per class; rows last seen before the organization's retention are deleted with it.
CREATE TABLE class_plans (
    class_id         BIGINT NOT NULL REFERENCES query_classes(id) ON DELETE CASCADE,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    shape            TEXT NOT NULL,
    summary          TEXT NOT NULL,
    plan             JSONB NOT NULL,
    executions       BIGINT NOT NULL,
    total_time_ms    DOUBLE PRECISION NOT NULL,
    first_seen       TIMESTAMPTZ NOT NULL,
    last_seen        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (class_id, shape)
);
CREATE INDEX class_plans_org_seen_idx ON class_plans(organization_id, last_seen);

-- Every organization gets the plan-change rule new ones start with (docs/ALERTS.md): a class whose plan
-- changed and that got slower, to all its channels.
INSERT INTO alert_rules (organization_id, name, kind, enabled, thresholds, resolve_after_secs,
                         created_at, updated_at)
SELECT id, 'Plan changes', 'plan_changed', TRUE, '{}', 3600, now(), now() FROM organizations;

-- A team's weekly report turned off keeps its row (and the week last reported), so turning it on
-- again does not send that week twice.
ALTER TABLE team_reports ADD COLUMN enabled BOOLEAN NOT NULL DEFAULT TRUE;
