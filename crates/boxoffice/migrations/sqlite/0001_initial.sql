-- Initial schema. Instants are BIGINT milliseconds since the Unix epoch and ids are
-- UUID text, so the SQLite and PostgreSQL schemas stay column-for-column identical.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('buyer', 'organizer', 'admin')),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE events (
    id           TEXT PRIMARY KEY,
    organizer_id TEXT NOT NULL REFERENCES users (id),
    title        TEXT NOT NULL,
    description  TEXT NOT NULL,
    category     TEXT NOT NULL,
    city         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX events_organizer ON events (organizer_id);
CREATE INDEX events_category ON events (category);

CREATE TABLE shows (
    id             TEXT PRIMARY KEY,
    event_id       TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    venue          TEXT NOT NULL,
    starts_at      BIGINT NOT NULL,
    sale_opens_at  BIGINT NOT NULL,
    sale_closes_at BIGINT NOT NULL,
    hold_ttl_secs  BIGINT NOT NULL,
    per_user_limit BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX shows_event ON shows (event_id, starts_at);

CREATE TABLE zones (
    id          TEXT PRIMARY KEY,
    show_id     TEXT NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    price_minor BIGINT NOT NULL CHECK (price_minor >= 0),
    currency    TEXT NOT NULL,
    capacity    BIGINT NOT NULL CHECK (capacity > 0),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (show_id, name)
);

CREATE TABLE bookings (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id),
    show_id          TEXT NOT NULL REFERENCES shows (id),
    zone_id          TEXT NOT NULL REFERENCES zones (id),
    quantity         BIGINT NOT NULL CHECK (quantity > 0),
    unit_price_minor BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    status           TEXT NOT NULL,
    expires_at       BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
) WITHOUT ROWID; -- clustered on the time-ordered id: one b-tree less per hold
CREATE INDEX bookings_user ON bookings (user_id, created_at);
CREATE INDEX bookings_show_status ON bookings (show_id, status);

CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Unique by construction (UUIDv7); consumers deduplicate on it.
    id           TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status       BIGINT,
    content_type TEXT,
    body         TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
