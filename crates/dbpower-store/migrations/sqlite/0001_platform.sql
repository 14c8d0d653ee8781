-- Platform core: tenants, people, credentials and the tamper-evident audit log.
-- Timestamps are RFC 3339 text written by the application.

CREATE TABLE organizations (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL UNIQUE,
    settings        TEXT NOT NULL DEFAULT '{}',
    retention_days  INTEGER NOT NULL DEFAULT 90 CHECK (retention_days BETWEEN 1 AND 3650),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE teams (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id  INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    description      TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE identities (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id  INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    team_id          INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (organization_id, name)
);
CREATE INDEX identities_team_idx ON identities(team_id);

CREATE TABLE users (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    email            TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,
    full_name        TEXT,
    role             TEXT NOT NULL CHECK (role IN ('SUPER_ADMIN', 'ORG_ADMIN', 'TEAM_LEAD', 'USER')),
    organization_id  INTEGER REFERENCES organizations(id) ON DELETE CASCADE,
    team_id          INTEGER REFERENCES teams(id) ON DELETE SET NULL,
    identity_id      INTEGER REFERENCES identities(id) ON DELETE SET NULL,
    is_active        BOOLEAN NOT NULL DEFAULT 1,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    last_login_at    TEXT
);
CREATE INDEX users_organization_idx ON users(organization_id);
CREATE INDEX users_team_idx ON users(team_id);

CREATE TABLE api_keys (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id    INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    team_id            INTEGER REFERENCES teams(id) ON DELETE SET NULL,
    identity_id        INTEGER REFERENCES identities(id) ON DELETE SET NULL,
    key_id             TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL,
    secret_ciphertext  TEXT NOT NULL,
    created_by         INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at         TEXT NOT NULL,
    last_used_at       TEXT,
    revoked_at         TEXT
);
CREATE INDEX api_keys_organization_idx ON api_keys(organization_id);

CREATE TABLE refresh_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    jti         TEXT NOT NULL UNIQUE,
    family_id   TEXT NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    issued_at   TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    revoked_at  TEXT
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens(user_id);

-- No foreign key to organizations: the audit trail outlives what it describes.
CREATE TABLE audit_logs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    chain_key       INTEGER NOT NULL,
    organization_id INTEGER,
    actor_user_id   INTEGER,
    actor_email     TEXT,
    action          TEXT NOT NULL,
    resource_type   TEXT NOT NULL,
    resource_id     TEXT,
    outcome         TEXT NOT NULL,
    request_id      TEXT,
    ip              TEXT,
    details         TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL
);
CREATE INDEX audit_logs_org_time_idx ON audit_logs(organization_id, created_at);
CREATE INDEX audit_logs_chain_idx ON audit_logs(chain_key, id);

CREATE TABLE audit_chain_heads (
    chain_key  INTEGER PRIMARY KEY,
    last_hash  TEXT NOT NULL
);

CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs
BEGIN
    SELECT RAISE(ABORT, 'audit_logs is append-only');
END;
CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs
BEGIN
    SELECT RAISE(ABORT, 'audit_logs is append-only');
END;
