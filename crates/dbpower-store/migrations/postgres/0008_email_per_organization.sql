-- E-mail addresses are unique per organization (and among platform accounts, which have none), not
-- across organizations: an ORG_ADMIN who creates a user learns nothing about other organizations'
-- accounts, and login names the organization. Organization ids start at 1, so 0 stands for "none".
ALTER TABLE users DROP CONSTRAINT users_email_key;
CREATE UNIQUE INDEX users_organization_email_key ON users (COALESCE(organization_id, 0), email);
