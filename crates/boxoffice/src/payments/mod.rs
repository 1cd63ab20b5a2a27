//! Payments: the checkout saga that turns a hold into money taken exactly once, the
//! gateway port with its adapters, refunds and the ledger every charge is written to.
pub mod gateway;
pub mod http;
mod resolver;
mod service;
pub mod settle;
pub mod views;

pub use resolver::resolve_payments;
pub use service::{PaymentService, SagaTiming};
