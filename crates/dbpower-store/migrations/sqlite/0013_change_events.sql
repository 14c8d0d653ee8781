-- Change markers (docs/ALERTS.md): deploys, schema and configuration changes, notes; posted by users or
-- signed by an api key, cited by alerts. The sending scope is 0 for none, as in query_rollups.
CREATE TABLE change_events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    team_id          BIGINT NOT NULL DEFAULT 0,
    identity_id      BIGINT NOT NULL DEFAULT 0,
    kind             TEXT NOT NULL CHECK (kind IN ('deploy', 'schema', 'config', 'note')),
    title            TEXT NOT NULL,
    at               TEXT NOT NULL,
    labels           TEXT NOT NULL,
    source           TEXT NOT NULL CHECK (source IN ('user', 'api_key')),
    created_by       BIGINT,
    api_key_id       BIGINT,
    -- A signed request's id: the same request sent twice records one marker.
    request_id       TEXT,
    created_at       TEXT NOT NULL
);
CREATE INDEX change_events_org_at_idx ON change_events(organization_id, at DESC, id DESC);
CREATE UNIQUE INDEX change_events_request_idx ON change_events(api_key_id, request_id);
