-- Payments: one row per attempt to take the money for a booking, the refunds of
-- captured payments, the ledger every movement of money is written to, and per-show
-- refund policies.
CREATE TABLE payments (
    id              TEXT PRIMARY KEY,
    booking_id      TEXT NOT NULL REFERENCES bookings (id),
    user_id         TEXT NOT NULL,
    show_id         TEXT NOT NULL,
    attempt         BIGINT NOT NULL,
    amount_minor    BIGINT NOT NULL CHECK (amount_minor > 0),
    currency        TEXT NOT NULL,
    payment_method  TEXT NOT NULL,
    status          TEXT NOT NULL,
    intent_id       TEXT UNIQUE,
    failure_code    TEXT,
    captured_at     BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (booking_id, attempt)
);
CREATE INDEX payments_status ON payments (status, updated_at);

CREATE TABLE refunds (
    id                 TEXT PRIMARY KEY,
    booking_id         TEXT NOT NULL REFERENCES bookings (id),
    payment_id         TEXT NOT NULL REFERENCES payments (id),
    show_id            TEXT NOT NULL,
    user_id            TEXT NOT NULL,
    amount_minor       BIGINT NOT NULL CHECK (amount_minor >= 0),
    currency           TEXT NOT NULL,
    percent            BIGINT NOT NULL,
    reason             TEXT NOT NULL,
    status             TEXT NOT NULL,
    requested_by       TEXT,
    decided_by         TEXT,
    gateway_refund_id  TEXT UNIQUE,
    failure            TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX refunds_booking ON refunds (booking_id);
CREATE INDEX refunds_show_status ON refunds (show_id, status);
CREATE INDEX refunds_status ON refunds (status, updated_at);

CREATE TABLE ledger_entries (
    id            TEXT PRIMARY KEY,
    booking_id    TEXT NOT NULL,
    show_id       TEXT NOT NULL,
    payment_id    TEXT NOT NULL,
    refund_id     TEXT,
    kind          TEXT NOT NULL,
    amount_minor  BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    -- The gateway's id of what moved (intent, refund): a movement is written once.
    external_ref  TEXT NOT NULL,
    at            BIGINT NOT NULL,
    UNIQUE (kind, external_ref)
);
CREATE INDEX ledger_show ON ledger_entries (show_id, booking_id);
CREATE INDEX ledger_booking ON ledger_entries (booking_id);

CREATE TABLE refund_policies (
    show_id     TEXT PRIMARY KEY REFERENCES shows (id) ON DELETE CASCADE,
    tiers       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Holds whose payment is still open past their deadline are looked up by status.
CREATE INDEX bookings_status_expiry ON bookings (status, expires_at);
