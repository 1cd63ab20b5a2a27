//! Integration tests: the real application on port 0 over an isolated SQLite or
//! PostgreSQL database, driven through HTTP (and, for the store suite, the store
//! ports directly).
mod support;

mod accounts;
mod admin_users;
mod audit;
mod authorization;
mod bad_input;
mod booking;
mod catalog;
mod concurrency;
mod conflicts;
mod crash;
mod dead_letters;
mod event_stream;
mod expiry;
mod gateway;
mod idempotency;
mod lifecycle;
mod mfa;
mod nodes;
mod notifications;
mod observability;
mod openapi;
mod operations;
mod organization_audit;
mod organizations;
mod outbox_figures;
mod outbox_pace;
mod payment_chaos;
mod payment_store;
mod payments;
mod privacy;
mod queue;
mod queue_nodes;
mod rate_limits;
mod retention;
mod scaled;
mod seated_crash;
mod seating;
mod smtp;
mod store_suite;
mod tickets;
mod web;
mod webhooks;
