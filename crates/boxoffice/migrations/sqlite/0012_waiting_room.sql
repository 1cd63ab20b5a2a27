-- The virtual waiting room. A queue's settings (one row per show), and its log:
-- every join, admission, pass use, departure and revocation, appended in order and
-- group-committed, so a restart replays every acknowledged place and pass. Orders
-- drawn at opening are not stored: they are recomputed from the seed and the joins.
CREATE TABLE queue_settings (
    show_id          TEXT PRIMARY KEY,
    -- fifo, random_at_opening, lottery or passthrough.
    method           TEXT NOT NULL,
    -- Buyers admitted per second; 0: automatic, from the tickets still available.
    rate_per_sec     BIGINT NOT NULL,
    pass_ttl_secs    BIGINT NOT NULL,
    max_size         BIGINT NOT NULL,
    opens_at         BIGINT NOT NULL,
    pre_queue_secs   BIGINT NOT NULL,
    lottery_winners  BIGINT NOT NULL,
    verified_only    BIGINT NOT NULL,
    -- open, paused, draining or closed.
    state            TEXT NOT NULL,
    -- Hex of the 32-byte draw seed; published once drawn_at is set.
    seed             TEXT NOT NULL,
    drawn_at         BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE queue_log (
    show_id  TEXT NOT NULL,
    -- Position of the entry in the show's log, from 1.
    seq      BIGINT NOT NULL,
    -- prejoin (in the pre-queue window), join, draw, admit, use, leave or revoke.
    kind     TEXT NOT NULL,
    user_id  TEXT,
    -- The place (join) or the pass (admit, use, revoke).
    ref_id   TEXT,
    at       BIGINT NOT NULL,
    -- When the pass expires (admit).
    until_at BIGINT,
    PRIMARY KEY (show_id, seq)
);
