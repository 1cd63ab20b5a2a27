-- The audit log: an append-only record of security- and money-relevant actions, and
-- the offsets of in-process outbox consumers (the audit projection of booking events
-- is one). Retention is out of scope: nothing here ever removes an entry.
CREATE TABLE audit_log (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    -- UUIDv7; an entry projected from the outbox reuses its event's id, so a replay
    -- inserts nothing twice.
    id              TEXT NOT NULL UNIQUE,
    at              BIGINT NOT NULL,
    actor_type      TEXT NOT NULL,
    actor_id        TEXT,
    organization_id TEXT,
    action          TEXT NOT NULL,
    target_type     TEXT,
    target_id       TEXT,
    ip              TEXT,
    user_agent      TEXT,
    request_id      TEXT,
    detail          TEXT NOT NULL
);

CREATE INDEX audit_log_actor ON audit_log (actor_id, seq);
CREATE INDEX audit_log_organization ON audit_log (organization_id, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_target ON audit_log (target_id, seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- Even a bug in this code base cannot rewrite history.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE consumer_offsets (
    name TEXT PRIMARY KEY,
    -- The last outbox seq the consumer has handled.
    seq  BIGINT NOT NULL
);
