-- Outbox consumers that fail on an event park it in `outbox_retries` (a copy of the
-- event, so pruning the outbox never loses it) and retry it with backoff; after the
-- last attempt it becomes a dead letter that admins inspect, replay or discard.
CREATE TABLE outbox_retries (
    consumer         TEXT NOT NULL,
    event_seq        BIGINT NOT NULL,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    aggregate_id     TEXT NOT NULL,
    payload          TEXT NOT NULL,
    event_created_at BIGINT NOT NULL,
    -- Failed attempts so far; kept here, so a restart resumes the count.
    attempts         INTEGER NOT NULL,
    first_failed_at  BIGINT NOT NULL,
    last_failed_at   BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    last_error       TEXT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

CREATE INDEX outbox_retries_due ON outbox_retries (consumer, next_attempt_at);

CREATE TABLE dead_letters (
    -- UUIDv7.
    id               TEXT PRIMARY KEY,
    consumer         TEXT NOT NULL,
    event_seq        BIGINT NOT NULL,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    aggregate_id     TEXT NOT NULL,
    payload          TEXT NOT NULL,
    event_created_at BIGINT NOT NULL,
    -- Truncated; never a secret (handlers report causes, not payloads).
    last_error       TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    first_failed_at  BIGINT NOT NULL,
    last_failed_at   BIGINT NOT NULL,
    -- open, replayed or discarded.
    status           TEXT NOT NULL,
    resolved_at      BIGINT,
    UNIQUE (consumer, event_id)
);

CREATE INDEX dead_letters_listing ON dead_letters (status, consumer, last_failed_at);
CREATE INDEX dead_letters_resolved ON dead_letters (resolved_at);

-- Retention prunes the outbox by age below the slowest consumer's offset.
CREATE INDEX outbox_created_at ON outbox (created_at);
