//! The one error type of the service layer. Services speak in these neutral terms;
//! `http::problem` turns each into an RFC 9457 problem response with a stable `type`.
use crate::store::StoreError;
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
    RequestInFlight,
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
            ConflictKind::RequestInFlight => "request-in-flight",
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
    #[error("this method is not allowed on this resource")]
    MethodNotAllowed,
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

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Error::NotFound("resource"),
            StoreError::Conflict(c) => Error::conflict(
                ConflictKind::Duplicate,
                format!("conflicts with existing data ({c})"),
            ),
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
