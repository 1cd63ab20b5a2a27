//! The outbox, the platform's event log: the built-in consumers (audit, notifications,
//! webhooks, tickets) read it with stored offsets, or from NATS JetStream when an event
//! stream is configured; they retry what fails and park what keeps failing as dead
//! letters; the relay wakes them at each commit and retention prunes what all of them
//! have handled.
mod backoff;
pub mod consumer;
pub mod dead_letters;
pub mod follower;
pub mod http;
pub mod jetstream;
pub mod registry;
pub mod relay;
pub mod retention;
pub mod tail;

pub use backoff::Backoff;
pub use consumer::{ConsumerSettings, EventFailure, OutboxConsumer, OutboxHandler};
pub use dead_letters::{DeadLetterService, DeadLetterView, Operator};
pub use follower::{FollowSettings, StreamFollower};
pub use jetstream::JetStreamRelay;
pub use registry::Consumers;
pub use relay::{LocalRelay, OutboxRelay};
pub use retention::Retention;
pub use tail::OutboxTail;
