-- Platform core: tenants, people, credentials and the tamper-evident audit log.

CREATE TABLE organizations (
    id              BIGSERIAL PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    settings        JSONB NOT NULL DEFAULT '{}'::jsonb,
    retention_days  INTEGER NOT NULL DEFAULT 90 CHECK (retention_days BETWEEN 1 AND 3650),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE teams (
    id               BIGSERIAL PRIMARY KEY,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    description      TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE identities (
    id               BIGSERIAL PRIMARY KEY,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    team_id          BIGINT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (organization_id, name)
);
CREATE INDEX identities_team_idx ON identities(team_id);

CREATE TABLE users (
    id               BIGSERIAL PRIMARY KEY,
    email            TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,
    full_name        TEXT,
    role             TEXT NOT NULL CHECK (role IN ('SUPER_ADMIN', 'ORG_ADMIN', 'TEAM_LEAD', 'USER')),
    organization_id  BIGINT REFERENCES organizations(id) ON DELETE CASCADE,
    team_id          BIGINT REFERENCES teams(id) ON DELETE SET NULL,
    identity_id      BIGINT REFERENCES identities(id) ON DELETE SET NULL,
    is_active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    last_login_at    TIMESTAMPTZ
);
CREATE INDEX users_organization_idx ON users(organization_id);
CREATE INDEX users_team_idx ON users(team_id);

CREATE TABLE api_keys (
    id                 BIGSERIAL PRIMARY KEY,
    organization_id    BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    team_id            BIGINT REFERENCES teams(id) ON DELETE SET NULL,
    identity_id        BIGINT REFERENCES identities(id) ON DELETE SET NULL,
    key_id             TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL,
    secret_ciphertext  TEXT NOT NULL,
    created_by         BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    last_used_at       TIMESTAMPTZ,
    revoked_at         TIMESTAMPTZ
);
CREATE INDEX api_keys_organization_idx ON api_keys(organization_id);

CREATE TABLE refresh_tokens (
    id          BIGSERIAL PRIMARY KEY,
    jti         TEXT NOT NULL UNIQUE,
    family_id   TEXT NOT NULL,
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    issued_at   TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens(user_id);

-- No foreign key to organizations: the audit trail outlives what it describes.
CREATE TABLE audit_logs (
    id              BIGSERIAL PRIMARY KEY,
    chain_key       BIGINT NOT NULL,
    organization_id BIGINT,
    actor_user_id   BIGINT,
    actor_email     TEXT,
    action          TEXT NOT NULL,
    resource_type   TEXT NOT NULL,
    resource_id     TEXT,
    outcome         TEXT NOT NULL,
    request_id      TEXT,
    ip              TEXT,
    details         JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL
);
CREATE INDEX audit_logs_org_time_idx ON audit_logs(organization_id, created_at);
CREATE INDEX audit_logs_chain_idx ON audit_logs(chain_key, id);

-- One row per chain (0 = platform, else the organization id): the lock that serializes appends.
CREATE TABLE audit_chain_heads (
    chain_key  BIGINT PRIMARY KEY,
    last_hash  TEXT NOT NULL
);

CREATE FUNCTION audit_logs_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_logs is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_logs_no_update BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION audit_logs_append_only();
