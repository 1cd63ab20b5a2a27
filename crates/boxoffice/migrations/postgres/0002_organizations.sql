-- Organizations own events; users are members with a role. Every organizer of the
-- existing data gets an organization of their own (same id as the user, so this
-- migration needs no id generator), becomes its owner, and their events move to it.
CREATE TABLE organizations (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE memberships (
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('owner', 'manager', 'box_office')),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE invitations (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('owner', 'manager', 'box_office')),
    token_hash      TEXT NOT NULL UNIQUE,
    invited_by      TEXT NOT NULL REFERENCES users (id),
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    accepted_at     BIGINT,
    revoked_at      BIGINT
);
CREATE INDEX invitations_organization ON invitations (organization_id, created_at);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    scope           TEXT NOT NULL CHECK (scope IN ('read', 'write')),
    -- SHA-256 of the secret part; the key itself is shown once.
    secret_hash     TEXT NOT NULL,
    created_by      TEXT NOT NULL REFERENCES users (id),
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT,
    last_used_at    BIGINT,
    revoked_at      BIGINT
);
CREATE INDEX api_keys_organization ON api_keys (organization_id, created_at);

ALTER TABLE events ADD COLUMN organization_id TEXT REFERENCES organizations (id);

INSERT INTO organizations (id, name, created_at, updated_at)
SELECT id, display_name, created_at, updated_at FROM users
WHERE role = 'organizer' OR id IN (SELECT organizer_id FROM events);

INSERT INTO memberships (organization_id, user_id, role, created_at, updated_at)
SELECT id, id, 'owner', created_at, updated_at FROM organizations;

UPDATE events SET organization_id = organizer_id;
CREATE INDEX events_organization ON events (organization_id);
ALTER TABLE events ALTER COLUMN organization_id SET NOT NULL;
