-- Reserved seating and orders of several items. A venue layout is drawn once by an
-- organization and reused by its shows; a show maps the layout's price categories to
-- its zones and may block seats. Every booking lists what it bought in booking_items:
-- one row per seat, or one row per general-admission zone with its quantity.
CREATE TABLE venue_layouts (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX venue_layouts_organization ON venue_layouts (organization_id);

CREATE TABLE layout_seats (
    id         TEXT PRIMARY KEY,
    layout_id  TEXT NOT NULL REFERENCES venue_layouts (id),
    -- Position in (row_order, number) order: the seat's index in a show's status map.
    idx        BIGINT NOT NULL,
    section    TEXT NOT NULL,
    row_label  TEXT NOT NULL,
    -- Rows across the whole layout, and each row's distance to the stage.
    row_order  BIGINT NOT NULL,
    row_rank   BIGINT NOT NULL,
    number     BIGINT NOT NULL,
    label      TEXT NOT NULL,
    x          BIGINT NOT NULL,
    y          BIGINT NOT NULL,
    category   TEXT NOT NULL,
    accessible BIGINT NOT NULL,
    companion  BIGINT NOT NULL,
    UNIQUE (layout_id, idx)
);

CREATE TABLE show_seating (
    show_id    TEXT PRIMARY KEY REFERENCES shows (id) ON DELETE CASCADE,
    layout_id  TEXT NOT NULL REFERENCES venue_layouts (id),
    updated_at BIGINT NOT NULL
);

CREATE TABLE show_seat_categories (
    show_id  TEXT NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
    category TEXT NOT NULL,
    zone_id  TEXT NOT NULL REFERENCES zones (id),
    PRIMARY KEY (show_id, category)
);

CREATE TABLE show_blocked_seats (
    show_id TEXT NOT NULL REFERENCES shows (id) ON DELETE CASCADE,
    seat_id TEXT NOT NULL REFERENCES layout_seats (id),
    PRIMARY KEY (show_id, seat_id)
);

ALTER TABLE bookings ADD COLUMN total_minor BIGINT NOT NULL DEFAULT 0;
UPDATE bookings SET total_minor = unit_price_minor * quantity;

CREATE TABLE booking_items (
    booking_id       TEXT NOT NULL REFERENCES bookings (id),
    position         BIGINT NOT NULL,
    zone_id          TEXT NOT NULL REFERENCES zones (id),
    -- NULL: general admission, `quantity` tickets; otherwise one seat, quantity 1.
    seat_id          TEXT REFERENCES layout_seats (id),
    quantity         BIGINT NOT NULL CHECK (quantity > 0),
    unit_price_minor BIGINT NOT NULL,
    PRIMARY KEY (booking_id, position)
);
CREATE INDEX booking_items_seat ON booking_items (seat_id) WHERE seat_id IS NOT NULL;

INSERT INTO booking_items (booking_id, position, zone_id, seat_id, quantity, unit_price_minor)
SELECT id, 0, zone_id, NULL, quantity, unit_price_minor FROM bookings;
