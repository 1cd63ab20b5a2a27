-- Organizer webhooks: endpoints an organization registers with the event types it
-- wants, one delivery row per (endpoint, outbox event) and a log of every attempt.
-- Secrets are sealed by the vault (`<key id>:<base64>`), never stored in clear; while
-- a secret rotates, the previous one keeps signing until `previous_expires_at`.
CREATE TABLE webhook_endpoints (
    id                     TEXT PRIMARY KEY,
    organization_id        TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url                    TEXT NOT NULL,
    description            TEXT NOT NULL,
    -- Comma-separated event types, from the closed list of the domain.
    event_types            TEXT NOT NULL,
    enabled                BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    secret_sealed          TEXT NOT NULL,
    previous_secret_sealed TEXT,
    previous_expires_at    BIGINT,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_organization ON webhook_endpoints (organization_id, created_at);

CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- The outbox event's id (the receiver's idempotency key); one delivery per
    -- endpoint and event, so a replayed outbox batch adds nothing.
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    -- The event's data as JSON text; the envelope is built around it when sending.
    payload          TEXT NOT NULL,
    event_created_at BIGINT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT,
    -- Start of the retry window (the first attempt since creation or redelivery).
    first_attempt_at BIGINT,
    last_attempt_at  BIGINT,
    last_status      BIGINT,
    last_error       TEXT,
    delivered_at     BIGINT,
    created_at       BIGINT NOT NULL,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);

CREATE TABLE webhook_attempts (
    delivery_id     TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt         BIGINT NOT NULL,
    at              BIGINT NOT NULL,
    -- NULL when no HTTP answer came (connection refused, timeout).
    response_status BIGINT,
    duration_ms     BIGINT NOT NULL,
    error           TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
