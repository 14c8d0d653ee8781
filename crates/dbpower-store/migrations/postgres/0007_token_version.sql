-- A per-user session version carried in every access token. Logout, a password change or reset and a
-- refresh-token reuse bump it, and the user row (read on every authenticated request anyway) refuses
-- tokens of an older version: access tokens end with the session, not up to 30 minutes later.
ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;
