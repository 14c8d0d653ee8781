-- Collector agents, one per api key: the newest heartbeat (name, version, sources, spool health, last
-- error) and when it arrived. Online/offline is computed from last_seen and the agent's interval.
CREATE TABLE agents (
    api_key_id       BIGINT PRIMARY KEY REFERENCES api_keys(id) ON DELETE CASCADE,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    team_id          BIGINT,
    identity_id      BIGINT,
    heartbeat        TEXT NOT NULL,
    last_seen        TEXT NOT NULL
);
CREATE INDEX agents_org_idx ON agents(organization_id);
