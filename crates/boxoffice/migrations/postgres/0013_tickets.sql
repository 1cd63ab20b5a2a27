-- E-tickets and check-in. A confirmed booking gets one ticket per admission (or
-- seat), issued once by the `tickets` outbox consumer: `issue_key` names the slot a
-- ticket fills, so a replayed event issues nothing twice. A transfer revokes the old
-- code and issues a new ticket in the same transaction.
CREATE TABLE tickets (
    id            TEXT PRIMARY KEY,
    -- "<booking id>:<n>" for a booking's n-th admission; "<old ticket id>:transfer".
    issue_key     TEXT NOT NULL UNIQUE,
    -- What the holder shows when the QR code cannot be read: 128 random bits.
    code          TEXT NOT NULL UNIQUE,
    booking_id    TEXT NOT NULL,
    show_id       TEXT NOT NULL,
    zone_id       TEXT NOT NULL,
    seat_id       TEXT,
    seat_label    TEXT,
    holder_id     TEXT NOT NULL,
    holder_name   TEXT NOT NULL,
    -- valid or revoked.
    status        TEXT NOT NULL,
    -- cancelled, refunded or transferred.
    revoke_reason TEXT,
    -- The ticket a transfer issued in this one's place.
    replaced_by   TEXT,
    issued_at     BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX tickets_booking ON tickets (booking_id);
CREATE INDEX tickets_holder ON tickets (holder_id, issued_at);
CREATE INDEX tickets_show ON tickets (show_id, zone_id);

-- Every scan of a known ticket, online or uploaded by a gate that was offline. The
-- ticket's admission on record is its one row with `admitted = 1` (the earliest scan);
-- the unique index makes two gates scanning at once admit exactly one.
CREATE TABLE checkins (
    id          TEXT PRIMARY KEY,
    ticket_id   TEXT NOT NULL,
    show_id     TEXT NOT NULL,
    list_id     TEXT,
    gate        TEXT NOT NULL,
    scanned_at  BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    offline     BIGINT NOT NULL,
    admitted    BIGINT NOT NULL,
    -- What the scan came to: valid, already_used, wrong_show, not_on_list or revoked.
    result      TEXT NOT NULL
);
CREATE UNIQUE INDEX checkins_admission ON checkins (ticket_id) WHERE admitted = 1;
CREATE INDEX checkins_show ON checkins (show_id, admitted);

-- Check-in lists: which zones an entrance admits (an empty list of zones: all).
CREATE TABLE checkin_lists (
    id         TEXT PRIMARY KEY,
    show_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    -- JSON array of zone ids.
    zone_ids   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (show_id, name)
);

-- Per-show ticket rules set by the organizer; a show without a row allows transfers.
CREATE TABLE ticket_policies (
    show_id           TEXT PRIMARY KEY,
    transfers_allowed BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
