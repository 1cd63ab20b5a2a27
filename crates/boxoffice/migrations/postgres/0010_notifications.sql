-- In-app notifications of buyers, projected from the outbox by the `notifications`
-- consumer. One per event and user, so a replayed event notifies nobody twice; the
-- email that goes with it is tracked here, including when the per-user limit
-- skipped it.
CREATE TABLE notifications (
    -- UUIDv7.
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    detail       TEXT NOT NULL,
    -- pending (not yet handed to the mailer), sent, rate_limited or skipped.
    email_status TEXT NOT NULL,
    emailed_at   BIGINT,
    created_at   BIGINT NOT NULL,
    read_at      BIGINT,
    UNIQUE (event_id, user_id)
);

CREATE INDEX notifications_user ON notifications (user_id, created_at);
CREATE INDEX notifications_emailed ON notifications (user_id, emailed_at);
