-- Account lifecycle: verified emails, single-use emailed tokens (verification and
-- password reset), sessions as first-class records, and login failure counters.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;

-- A session is one sign-in on one device; its id is the `family_id` of the refresh
-- tokens rotated from that sign-in.
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    ip           TEXT NOT NULL,
    user_agent   TEXT,
    revoked_at   BIGINT
);
CREATE INDEX sessions_user ON sessions (user_id, last_used_at);

-- Only a SHA-256 digest of each token is kept. `email` is the address the token was
-- sent to: a verification token stops counting once the account's email changes.
CREATE TABLE account_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    email      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);

-- Consecutive failed logins per email (SHA-256 of the normalised address, known or
-- not), kept in the store so a lockout survives restarts and holds across nodes.
CREATE TABLE login_failures (
    email_digest   TEXT PRIMARY KEY,
    failures       BIGINT NOT NULL,
    last_failed_at BIGINT NOT NULL,
    locked_until   BIGINT NOT NULL
);
