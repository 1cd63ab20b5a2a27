//! The one error type of the service layer. Services speak in these neutral terms;
//! `http::problem` turns each into an RFC 9457 problem response with a stable `type`.
use crate::store::{Conflict, StoreError};
use boxoffice_domain::stock::StockError;
use boxoffice_domain::FieldError;

/// Why a request conflicts with the current state; each kind has its own problem type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictKind {
    SoldOut,
    LimitReached,
    SaleNotOpen,
    SaleClosed,
    HoldExpired,
    InvalidState,
    Duplicate,
    InUse,
    /// The change would leave an organization without an owner.
    LastOwner,
    RequestInFlight,
    /// A paid booking is confirmed by its payment (`POST /bookings/{id}/checkout`).
    PaymentRequired,
    /// A payment for this booking is with the gateway; its answer comes first.
    PaymentInProgress,
    /// A write broke a rule of the stored data that has no more specific meaning.
    DataConflict,
    /// A seat asked for is held or sold.
    SeatTaken,
    /// Enough seats are left in the zone, but not that many side by side.
    NoAdjacentSeats,
    /// The show's waiting room takes no places now (not yet open for joining,
    /// draining, closed, or its lottery already drawn).
    QueueClosed,
    /// The show's waiting room holds as many places as it may.
    QueueFull,
}

impl ConflictKind {
    pub fn slug(self) -> &'static str {
        match self {
            ConflictKind::SoldOut => "sold-out",
            ConflictKind::LimitReached => "limit-reached",
            ConflictKind::SaleNotOpen => "sale-not-open",
            ConflictKind::SaleClosed => "sale-closed",
            ConflictKind::HoldExpired => "hold-expired",
            ConflictKind::InvalidState => "invalid-state",
            ConflictKind::Duplicate => "duplicate",
            ConflictKind::InUse => "in-use",
            ConflictKind::LastOwner => "last-owner",
            ConflictKind::RequestInFlight => "request-in-flight",
            ConflictKind::PaymentRequired => "payment-required",
            ConflictKind::PaymentInProgress => "payment-in-progress",
            ConflictKind::DataConflict => "data-conflict",
            ConflictKind::SeatTaken => "seat-taken",
            ConflictKind::NoAdjacentSeats => "no-adjacent-seats",
            ConflictKind::QueueClosed => "queue-closed",
            ConflictKind::QueueFull => "queue-full",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    /// `X-Queue-Pass` is missing or does not admit this request (403, with the header
    /// named as the wrong field).
    #[error("X-Queue-Pass {0}")]
    QueuePass(String),
    /// The platform policy asks this caller for a second factor it has not set up.
    #[error("this account must enable multi-factor authentication (POST /api/v1/auth/mfa/totp) and sign in again before using this endpoint")]
    MfaRequired,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{detail}")]
    Conflict { kind: ConflictKind, detail: String },
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyMismatch,
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(String),
    /// The payment gateway is down (its circuit breaker is open): retry after the
    /// given time, the booking keeps its hold meanwhile.
    #[error(
        "the payment provider is unavailable; the hold is kept, retry in {retry_after_secs} s"
    )]
    PaymentUnavailable { retry_after_secs: u64 },
    #[error("this method is not allowed on this resource")]
    MethodNotAllowed,
    /// The caller's bucket for this route is empty (answered with `Retry-After`).
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn conflict(kind: ConflictKind, detail: impl Into<String>) -> Self {
        Error::Conflict {
            kind,
            detail: detail.into(),
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(field, message)])
    }
}

impl From<Vec<FieldError>> for Error {
    fn from(v: Vec<FieldError>) -> Self {
        Error::Validation(v)
    }
}

/// Store conflicts in a client's terms: the field or resource concerned, never the
/// schema's table or constraint names.
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Error::NotFound("resource"),
            StoreError::Conflict(c) => match c {
                Conflict::EmailTaken => Error::field("email", "is already registered"),
                Conflict::ZoneNameTaken => {
                    Error::field("name", "a zone with this name already exists in the show")
                }
                Conflict::Duplicate { what } => Error::conflict(
                    ConflictKind::Duplicate,
                    format!("this {what} already exists"),
                ),
                Conflict::Referenced { what } => Error::conflict(
                    ConflictKind::InUse,
                    format!(
                        "this {what} is still referenced by other records; it cannot be deleted"
                    ),
                ),
                Conflict::UnknownReference { what } => Error::NotFound(what),
                Conflict::Unknown => Error::conflict(
                    ConflictKind::DataConflict,
                    "the request conflicts with existing data",
                ),
            },
            StoreError::Other(e) => Error::Internal(e),
        }
    }
}

impl From<StockError> for Error {
    fn from(e: StockError) -> Self {
        match e {
            StockError::SoldOut { .. } => Error::conflict(ConflictKind::SoldOut, e.to_string()),
            StockError::LimitReached { .. } => {
                Error::conflict(ConflictKind::LimitReached, e.to_string())
            }
            StockError::UnknownZone => Error::NotFound("zone"),
            StockError::BelowCommitted { .. } => Error::field("capacity", e.to_string()),
            StockError::InUse { .. } => Error::conflict(ConflictKind::InUse, e.to_string()),
            StockError::Inconsistent => Error::Internal(anyhow::anyhow!("inventory inconsistency")),
            StockError::Seat(boxoffice_domain::seating::SeatError::Taken { .. }) => {
                Error::conflict(ConflictKind::SeatTaken, e.to_string())
            }
            StockError::Seat(_) | StockError::NotSeated | StockError::SeatsRequired => {
                Error::field("items", e.to_string())
            }
            StockError::NoAdjacentSeats { .. } => {
                Error::conflict(ConflictKind::NoAdjacentSeats, e.to_string())
            }
            StockError::SeatedCapacity => Error::field("capacity", e.to_string()),
            StockError::Unavailable => Error::Unavailable(e.to_string()),
        }
    }
}

/// Maps `StoreError::NotFound` to a named not-found error.
pub trait OrNotFound<T> {
    fn or_not_found(self, what: &'static str) -> Result<T>;
}

impl<T> OrNotFound<T> for std::result::Result<T, StoreError> {
    fn or_not_found(self, what: &'static str) -> Result<T> {
        self.map_err(|e| match e {
            StoreError::NotFound => Error::NotFound(what),
            other => other.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem_of(c: Conflict) -> crate::http::problem::Problem {
        Error::from(StoreError::Conflict(c)).to_problem()
    }

    #[test]
    fn store_conflicts_become_problems_a_client_understands() {
        let email = problem_of(Conflict::EmailTaken);
        assert_eq!(
            (email.status, email.kind.as_str()),
            (422, "/problems/validation")
        );
        assert_eq!(email.errors[0].field, "email");
        assert_eq!(email.errors[0].message, "is already registered");

        let zone = problem_of(Conflict::ZoneNameTaken);
        assert_eq!((zone.status, zone.errors[0].field.as_str()), (422, "name"));

        let dup = problem_of(Conflict::Duplicate { what: "booking" });
        assert_eq!(
            (dup.status, dup.kind.as_str()),
            (409, "/problems/duplicate")
        );
        assert_eq!(dup.detail, "this booking already exists");

        let used = problem_of(Conflict::Referenced { what: "zone" });
        assert_eq!((used.status, used.kind.as_str()), (409, "/problems/in-use"));
        assert!(used.detail.starts_with("this zone is still referenced"));

        let dangling = problem_of(Conflict::UnknownReference { what: "event" });
        assert_eq!(
            (dangling.status, dangling.kind.as_str()),
            (404, "/problems/not-found")
        );
        assert_eq!(dangling.detail, "event not found");

        let unknown = problem_of(Conflict::Unknown);
        assert_eq!(
            (unknown.status, unknown.kind.as_str()),
            (409, "/problems/data-conflict")
        );
        assert_eq!(unknown.title, "Conflicts with existing data");
        assert_eq!(unknown.detail, "the request conflicts with existing data");
    }
}
