//! Organizer webhooks: endpoints an organization registers for the events of its
//! shows, each delivery signed (HMAC-SHA256, Stripe-style) and retried until settled.
//!
//! The outbox feeds a fan-out consumer ([`WebhookFanOut`], offset `webhooks`) that
//! writes one delivery per matching endpoint; the [`Dispatcher`] sends due deliveries
//! from the store, so nothing acknowledged is lost across a restart.
mod consumer;
mod dispatcher;
pub mod http;
mod service;

pub use consumer::WebhookFanOut;
pub use dispatcher::{envelope, Dispatcher, EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER};
pub use service::{
    new_secret, signing_secrets, AttemptView, DeliveryDetail, DeliveryView, NewWebhook,
    WebhookChange, WebhookService, WebhookView, WebhookWithSecret,
};

/// Name of the fan-out's row in `consumer_offsets`.
pub const OUTBOX_CONSUMER: &str = "webhooks";
