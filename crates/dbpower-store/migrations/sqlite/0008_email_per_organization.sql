-- no-transaction
-- E-mail addresses are unique per organization (and among platform accounts, which have none), not
-- across organizations: an ORG_ADMIN who creates a user learns nothing about other organizations'
-- accounts, and login names the organization. Organization ids start at 1, so 0 stands for "none".
-- SQLite cannot drop a column's UNIQUE constraint, so the table is rebuilt (the documented procedure:
-- foreign keys off outside the transaction, copy, drop, rename, foreign keys on).
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE users_rebuilt (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    email            TEXT NOT NULL,
    password_hash    TEXT NOT NULL,
    full_name        TEXT,
    role             TEXT NOT NULL CHECK (role IN ('SUPER_ADMIN', 'ORG_ADMIN', 'TEAM_LEAD', 'USER')),
    organization_id  INTEGER REFERENCES organizations(id) ON DELETE CASCADE,
    team_id          INTEGER REFERENCES teams(id) ON DELETE SET NULL,
    identity_id      INTEGER REFERENCES identities(id) ON DELETE SET NULL,
    is_active        BOOLEAN NOT NULL DEFAULT 1,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    last_login_at    TEXT,
    token_version    INTEGER NOT NULL DEFAULT 0
);
INSERT INTO users_rebuilt (id, email, password_hash, full_name, role, organization_id, team_id,
    identity_id, is_active, created_at, updated_at, last_login_at, token_version)
SELECT id, email, password_hash, full_name, role, organization_id, team_id, identity_id, is_active,
    created_at, updated_at, last_login_at, token_version FROM users;
DROP TABLE users;
ALTER TABLE users_rebuilt RENAME TO users;
CREATE INDEX users_organization_idx ON users(organization_id);
CREATE INDEX users_team_idx ON users(team_id);
CREATE UNIQUE INDEX users_organization_email_key ON users (COALESCE(organization_id, 0), email);
COMMIT;
PRAGMA foreign_keys = ON;
