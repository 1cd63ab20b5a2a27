//! What each constraint of the schema means to a caller: a violation becomes a neutral
//! `Conflict`, and constraint and table names go to the logs, never to callers.
use crate::store::{Conflict, StoreError};
use sqlx::error::ErrorKind;

/// What a statement does to which table. A foreign key broken by a write is a
/// reference to nothing; broken by a delete, it is a row still referenced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    /// Reads, and statements whose foreign keys mean nothing to a caller.
    Other,
    Write(&'static str),
    Delete(&'static str),
}

/// Unique constraints: PostgreSQL's name, the columns SQLite's message names
/// (`UNIQUE constraint failed: users.email`), and what a violation means.
const UNIQUE: &[(&str, &str, Conflict)] = &[
    ("users_email_key", "users.email", Conflict::EmailTaken),
    (
        "zones_show_id_name_key",
        "zones.show_id, zones.name",
        Conflict::ZoneNameTaken,
    ),
    (
        "users_pkey",
        "users.id",
        Conflict::Duplicate { what: "user" },
    ),
    (
        "refresh_tokens_pkey",
        "refresh_tokens.token_hash",
        Conflict::Duplicate {
            what: "refresh token",
        },
    ),
    (
        "events_pkey",
        "events.id",
        Conflict::Duplicate { what: "event" },
    ),
    (
        "shows_pkey",
        "shows.id",
        Conflict::Duplicate { what: "show" },
    ),
    (
        "zones_pkey",
        "zones.id",
        Conflict::Duplicate { what: "zone" },
    ),
    (
        "bookings_pkey",
        "bookings.id",
        Conflict::Duplicate { what: "booking" },
    ),
    // A booking's items go in with it: a repeated booking repeats its first item.
    (
        "booking_items_pkey",
        "booking_items.booking_id, booking_items.position",
        Conflict::Duplicate { what: "booking" },
    ),
    (
        "settings_pkey",
        "settings.key",
        Conflict::Duplicate { what: "setting" },
    ),
    (
        "sessions_pkey",
        "sessions.id",
        Conflict::Duplicate { what: "session" },
    ),
    (
        "account_tokens_pkey",
        "account_tokens.token_hash",
        Conflict::Duplicate {
            what: "account token",
        },
    ),
    (
        "idempotency_keys_pkey",
        "idempotency_keys.scope, idempotency_keys.key",
        Conflict::Duplicate {
            what: "idempotency key",
        },
    ),
];

/// Foreign keys: table, column (PostgreSQL names the key `{table}_{column}_fkey`)
/// and what the column refers to.
const FOREIGN: &[(&str, &str, &str)] = &[
    ("refresh_tokens", "user_id", "user"),
    ("sessions", "user_id", "user"),
    ("account_tokens", "user_id", "user"),
    ("events", "organizer_id", "user"),
    ("events", "organization_id", "organization"),
    ("shows", "event_id", "event"),
    ("zones", "show_id", "show"),
    ("bookings", "user_id", "user"),
    ("bookings", "show_id", "show"),
    ("bookings", "zone_id", "zone"),
    ("booking_items", "zone_id", "zone"),
    ("webhook_endpoints", "organization_id", "organization"),
    ("webhook_deliveries", "endpoint_id", "webhook"),
];

/// What a reference points at when the database cannot say which key broke.
const SOME_RECORD: &str = "referenced record";

/// What one row of a table is, in a caller's words.
fn row_of(table: &str) -> &'static str {
    match table {
        "users" => "user",
        "events" => "event",
        "shows" => "show",
        "zones" => "zone",
        "bookings" => "booking",
        "webhook_endpoints" => "webhook",
        _ => "record",
    }
}

/// A driver error in store terms; `op` is what the failing statement did.
pub(super) fn store_error(e: sqlx::Error, op: Op) -> StoreError {
    match e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(ref d) if d.is_unique_violation() || d.is_foreign_key_violation() => {
            let conflict = classify(d.kind(), d.constraint(), d.message(), op);
            let constraint = d.constraint().unwrap_or(d.message());
            if conflict == Conflict::Unknown {
                tracing::warn!(
                    constraint,
                    ?op,
                    "a constraint the store has no meaning for was violated"
                );
            } else {
                tracing::debug!(constraint, ?conflict, "constraint violated");
            }
            StoreError::Conflict(conflict)
        }
        other => StoreError::Other(other.into()),
    }
}

/// The conflict a violation means. PostgreSQL names the constraint; SQLite only
/// names the columns of a unique one and nothing of a foreign key, so there the
/// statement's table has to tell.
pub(super) fn classify(
    kind: ErrorKind,
    constraint: Option<&str>,
    message: &str,
    op: Op,
) -> Conflict {
    match kind {
        ErrorKind::UniqueViolation => {
            let columns = message.strip_prefix("UNIQUE constraint failed: ");
            UNIQUE
                .iter()
                .find(|(name, cols, _)| match constraint {
                    Some(c) => c == *name,
                    None => columns == Some(*cols),
                })
                .map_or(Conflict::Unknown, |(_, _, conflict)| *conflict)
        }
        ErrorKind::ForeignKeyViolation => match op {
            Op::Delete(table) => Conflict::Referenced {
                what: row_of(table),
            },
            Op::Write(table) => match constraint {
                Some(name) => FOREIGN
                    .iter()
                    .find(|(t, c, _)| name == format!("{t}_{c}_fkey"))
                    .map_or(Conflict::Unknown, |(_, _, what)| {
                        Conflict::UnknownReference { what }
                    }),
                None => {
                    let mut targets = FOREIGN.iter().filter(|(t, ..)| *t == table);
                    let what = match (targets.next(), targets.next()) {
                        (Some((_, _, only)), None) => only,
                        _ => SOME_RECORD,
                    };
                    Conflict::UnknownReference { what }
                }
            },
            Op::Other => Conflict::Unknown,
        },
        _ => Conflict::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIQUE_KIND: ErrorKind = ErrorKind::UniqueViolation;
    const FK: ErrorKind = ErrorKind::ForeignKeyViolation;

    /// PostgreSQL: the constraint is named, the message is prose around the name.
    fn pg(kind: ErrorKind, name: &str, op: Op) -> Conflict {
        let message = format!("duplicate key value violates unique constraint \"{name}\"");
        classify(kind, Some(name), &message, op)
    }

    /// SQLite: no name, only a message.
    fn sqlite(kind: ErrorKind, message: &str, op: Op) -> Conflict {
        classify(kind, None, message, op)
    }

    #[test]
    fn unique_violations_mean_the_same_on_both_backends() {
        let users = Op::Write("users");
        let zones = Op::Write("zones");
        let cases = [
            (
                pg(UNIQUE_KIND, "users_email_key", users),
                sqlite(UNIQUE_KIND, "UNIQUE constraint failed: users.email", users),
                Conflict::EmailTaken,
            ),
            (
                pg(UNIQUE_KIND, "zones_show_id_name_key", zones),
                sqlite(
                    UNIQUE_KIND,
                    "UNIQUE constraint failed: zones.show_id, zones.name",
                    zones,
                ),
                Conflict::ZoneNameTaken,
            ),
            (
                pg(UNIQUE_KIND, "bookings_pkey", Op::Write("bookings")),
                sqlite(
                    UNIQUE_KIND,
                    "UNIQUE constraint failed: bookings.id",
                    Op::Write("bookings"),
                ),
                Conflict::Duplicate { what: "booking" },
            ),
            (
                pg(UNIQUE_KIND, "idempotency_keys_pkey", Op::Other),
                sqlite(
                    UNIQUE_KIND,
                    "UNIQUE constraint failed: idempotency_keys.scope, idempotency_keys.key",
                    Op::Other,
                ),
                Conflict::Duplicate {
                    what: "idempotency key",
                },
            ),
        ];
        for (on_pg, on_sqlite, expected) in cases {
            assert_eq!((on_pg, on_sqlite), (expected, expected));
        }
    }

    #[test]
    fn unknown_unique_constraints_stay_unknown() {
        assert_eq!(
            pg(UNIQUE_KIND, "users_handle_key", Op::Write("users")),
            Conflict::Unknown
        );
        assert_eq!(
            sqlite(
                UNIQUE_KIND,
                "UNIQUE constraint failed: users.handle",
                Op::Write("users")
            ),
            Conflict::Unknown
        );
        // A name is matched whole, not by a prefix of the SQLite column list.
        assert_eq!(
            sqlite(
                UNIQUE_KIND,
                "UNIQUE constraint failed: users.email, users.role",
                Op::Write("users")
            ),
            Conflict::Unknown
        );
    }

    #[test]
    fn a_delete_breaking_a_foreign_key_leaves_a_referenced_row() {
        let pg = classify(
            FK,
            Some("bookings_zone_id_fkey"),
            "update or delete on table \"zones\" violates foreign key constraint \"bookings_zone_id_fkey\" on table \"bookings\"",
            Op::Delete("zones"),
        );
        let sqlite = sqlite(FK, "FOREIGN KEY constraint failed", Op::Delete("zones"));
        let expected = Conflict::Referenced { what: "zone" };
        assert_eq!((pg, sqlite), (expected, expected));
        // Deleting an event cascades to its shows, which bookings reference: the
        // event is what is still in use.
        assert_eq!(
            classify(FK, Some("bookings_show_id_fkey"), "", Op::Delete("events")),
            Conflict::Referenced { what: "event" }
        );
    }

    #[test]
    fn a_write_breaking_a_foreign_key_refers_to_nothing() {
        let on_pg = |name: &str, table| {
            classify(
                FK,
                Some(name),
                &format!("insert or update on table \"{table}\" violates foreign key constraint \"{name}\""),
                Op::Write(table),
            )
        };
        assert_eq!(
            on_pg("shows_event_id_fkey", "shows"),
            Conflict::UnknownReference { what: "event" }
        );
        assert_eq!(
            on_pg("bookings_zone_id_fkey", "bookings"),
            Conflict::UnknownReference { what: "zone" }
        );
        assert_eq!(
            on_pg("bookings_user_id_fkey", "bookings"),
            Conflict::UnknownReference { what: "user" }
        );
        assert_eq!(
            on_pg("bookings_seat_id_fkey", "bookings"),
            Conflict::Unknown
        );
        // SQLite names no key: a table with one foreign key still says which.
        let fk_failed = "FOREIGN KEY constraint failed";
        assert_eq!(
            sqlite(FK, fk_failed, Op::Write("shows")),
            Conflict::UnknownReference { what: "event" }
        );
        assert_eq!(
            sqlite(FK, fk_failed, Op::Write("zones")),
            Conflict::UnknownReference { what: "show" }
        );
        assert_eq!(
            sqlite(FK, fk_failed, Op::Write("bookings")),
            Conflict::UnknownReference { what: SOME_RECORD }
        );
        // Without knowing what the statement did, a broken key means nothing.
        assert_eq!(sqlite(FK, fk_failed, Op::Other), Conflict::Unknown);
    }

    #[test]
    fn other_violations_are_unknown() {
        assert_eq!(
            sqlite(
                ErrorKind::CheckViolation,
                "CHECK constraint failed: capacity > 0",
                Op::Write("zones")
            ),
            Conflict::Unknown
        );
    }
}
