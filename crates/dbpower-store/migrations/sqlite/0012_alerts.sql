-- Alerts (docs/ALERTS.md): hourly latency histograms per rollup row, so a window's distribution can be
-- compared with its baseline's without raw rows; rules, channels, alerts, their deliveries (a
-- transactional outbox), class mutes; and when a class's analysis became CRITICAL.

-- Log buckets of dbpower_sql::Histogram per rollup row (class, team, identity, hour): additive.
CREATE TABLE rollup_buckets (
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    class_id         BIGINT NOT NULL REFERENCES query_classes(id) ON DELETE CASCADE,
    team_id          BIGINT NOT NULL DEFAULT 0,
    identity_id      BIGINT NOT NULL DEFAULT 0,
    hour             TEXT NOT NULL,
    bucket           INTEGER NOT NULL,
    count            BIGINT NOT NULL,
    PRIMARY KEY (class_id, team_id, identity_id, hour, bucket)
);
CREATE INDEX rollup_buckets_org_hour_idx ON rollup_buckets(organization_id, hour);

ALTER TABLE analysis_results ADD COLUMN critical_since TEXT;
UPDATE analysis_results SET critical_since = analyzed_at WHERE severity = 'CRITICAL';

CREATE TABLE alert_channels (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id    BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    team_id            BIGINT,
    name               TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('webhook', 'slack', 'email', 'pagerduty')),
    enabled            BOOLEAN NOT NULL,
    -- What may be shown: a webhook's URL, an e-mail channel's addresses, a custom PagerDuty URL.
    config             TEXT NOT NULL,
    -- AES-256-GCM under the master key: a webhook's whsec_ secret, a Slack URL, a PagerDuty routing key.
    secret_ciphertext  TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (organization_id, name),
    FOREIGN KEY (team_id) REFERENCES teams(id) ON DELETE CASCADE
);

CREATE TABLE alert_rules (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id     BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('regression', 'new_class', 'volume_spike',
                                                      'severity_raised', 'plan_changed')),
    enabled             BOOLEAN NOT NULL,
    team_id             BIGINT REFERENCES teams(id) ON DELETE CASCADE,
    identity_id         BIGINT REFERENCES identities(id) ON DELETE CASCADE,
    database_name       TEXT,
    engine              TEXT CHECK (engine IN ('mysql', 'postgresql')),
    thresholds          TEXT NOT NULL,
    -- null: every channel of the organization.
    channel_ids         TEXT,
    resolve_after_secs  INTEGER NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE alerts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    rule_id          BIGINT NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
    class_id         BIGINT NOT NULL REFERENCES query_classes(id) ON DELETE CASCADE,
    -- The sending scope, 0 for none (as in query_rollups).
    team_id          BIGINT NOT NULL DEFAULT 0,
    identity_id      BIGINT NOT NULL DEFAULT 0,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    severity         TEXT NOT NULL,
    opened_at        TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    last_true_at     TEXT NOT NULL,
    resolved_at      TEXT,
    resolved_by      BIGINT,
    acknowledged_by  BIGINT,
    evidence         TEXT NOT NULL
);
-- One unresolved alert per rule, class and sending scope.
CREATE UNIQUE INDEX alerts_one_unresolved_idx ON alerts(rule_id, class_id, team_id, identity_id)
    WHERE status IN ('open', 'acknowledged');
CREATE INDEX alerts_org_idx ON alerts(organization_id, id DESC);
CREATE INDEX alerts_key_idx ON alerts(rule_id, class_id, team_id, identity_id, id DESC);

-- The outbox: written in the transaction that opens or resolves an alert; a deliverer leases rows.
CREATE TABLE alert_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    channel_id       BIGINT NOT NULL REFERENCES alert_channels(id) ON DELETE CASCADE,
    alert_id         BIGINT REFERENCES alerts(id) ON DELETE CASCADE,
    -- Stable across attempts (the webhook-id, PagerDuty's dedup_key is the alert's).
    delivery_id      TEXT NOT NULL UNIQUE,
    event            TEXT NOT NULL CHECK (event IN ('trigger', 'resolve', 'test')),
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
CREATE INDEX alert_deliveries_due_idx ON alert_deliveries(status, next_attempt_at);
CREATE INDEX alert_deliveries_channel_idx ON alert_deliveries(channel_id, id DESC);

CREATE TABLE class_mutes (
    class_id         BIGINT PRIMARY KEY REFERENCES query_classes(id) ON DELETE CASCADE,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    until            TEXT NOT NULL,
    created_by       BIGINT,
    created_at       TEXT NOT NULL
);

-- Every organization starts with a regression rule and a new-class rule that notify all its channels.
INSERT INTO alert_rules (organization_id, name, kind, enabled, thresholds, resolve_after_secs,
                         created_at, updated_at)
SELECT id, 'Regressions', 'regression', 1, '{}', 3600, strftime('%Y-%m-%dT%H:%M:%S.000000+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%S.000000+00:00', 'now') FROM organizations;
INSERT INTO alert_rules (organization_id, name, kind, enabled, thresholds, resolve_after_secs,
                         created_at, updated_at)
SELECT id, 'New slow queries', 'new_class', 1, '{}', 3600, strftime('%Y-%m-%dT%H:%M:%S.000000+00:00', 'now'), strftime('%Y-%m-%dT%H:%M:%S.000000+00:00', 'now') FROM organizations;
