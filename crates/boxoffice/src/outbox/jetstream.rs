//! The outbox relayed to NATS JetStream, for consumers outside this process: every
//! event is published to `boxoffice.<event type>` (`boxoffice.booking.reserved` …) with
//! the outbox id as `Nats-Msg-Id`, so JetStream drops a repeat within its duplicate
//! window, and with the writing request's `traceparent`. It runs as one more outbox
//! consumer: it resumes from its stored offset after NATS or the worker restarts,
//! retries with backoff, and parks an event NATS keeps refusing as a dead letter.
use super::follower::{FollowSettings, StreamFollower};
use super::{EventFailure, OutboxHandler};
use crate::store::OutboxEvent;
use async_nats::jetstream::{self, stream};
use async_trait::async_trait;
use std::time::Duration;
use tokio::sync::OnceCell;

/// The consumer's name (its offset row and dead letters).
pub const OUTBOX_CONSUMER: &str = "jetstream-relay";
/// Subjects are `<prefix>.<event type>`.
pub const SUBJECT_PREFIX: &str = "boxoffice";
/// The header carrying the event's outbox position.
pub const SEQ_HEADER: &str = "Boxoffice-Outbox-Seq";

pub struct JetStreamRelay {
    client: async_nats::Client,
    context: jetstream::Context,
    stream: String,
    /// Created (or found) once NATS first answers.
    ready: OnceCell<()>,
}

impl JetStreamRelay {
    /// Connects in the background: a worker starts while NATS is down, and the relay
    /// catches up from its offset once it is back.
    pub async fn connect(url: &str, stream: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(timeout)
            .request_timeout(Some(timeout))
            .retry_on_initial_connect()
            .connect(url)
            .await?;
        Ok(Self {
            context: jetstream::new(client.clone()),
            client,
            stream: stream.to_owned(),
            ready: OnceCell::new(),
        })
    }

    /// Whether NATS is connected (readiness: events wait in the outbox meanwhile).
    pub fn probe(&self) -> Result<(), String> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            other => Err(format!("NATS is {other}")),
        }
    }

    /// The built-in consumers' reader of the stream this relay writes.
    pub fn follower(&self, settings: FollowSettings) -> StreamFollower {
        StreamFollower::new(self.context.clone(), self.stream.clone(), settings)
    }

    async fn ensure_stream(&self) -> anyhow::Result<()> {
        self.ready
            .get_or_try_init(|| async { open_stream(&self.context, &self.stream).await.map(drop) })
            .await
            .map(|_| ())
    }
}

/// The stream, created on first use: file storage, a week of events, repeats of an
/// outbox id within two minutes dropped.
pub(super) async fn open_stream(
    context: &jetstream::Context,
    name: &str,
) -> anyhow::Result<stream::Stream> {
    context
        .get_or_create_stream(stream::Config {
            name: name.to_owned(),
            subjects: vec![format!("{SUBJECT_PREFIX}.>")],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::from_secs(7 * 24 * 3600),
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("JetStream stream {name}: {e}"))
}

/// What a subscriber receives: the event as the outbox holds it.
pub(super) fn body(e: &OutboxEvent) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&serde_json::json!({
        "id": e.id,
        "type": e.event_type,
        "aggregate_id": e.aggregate_id,
        "created_at": crate::timefmt::rfc3339(e.created_at),
        "payload": e.payload,
    }))
}

#[async_trait]
impl OutboxHandler for JetStreamRelay {
    async fn handle(&self, events: &[OutboxEvent]) -> anyhow::Result<Vec<EventFailure>> {
        self.ensure_stream().await?;
        // Published back to back, then every acknowledgement awaited: one round trip
        // for the batch, not one per event.
        let mut pending = Vec::with_capacity(events.len());
        for e in events {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, e.id.as_str());
            headers.insert(SEQ_HEADER, e.seq.to_string().as_str());
            if let Some(traceparent) = &e.trace_context {
                headers.insert("traceparent", traceparent.as_str());
            }
            let subject = format!("{SUBJECT_PREFIX}.{}", e.event_type);
            let sent = match body(e) {
                Ok(body) => self
                    .context
                    .publish_with_headers(subject, headers, body.into())
                    .await
                    .map_err(anyhow::Error::from),
                Err(err) => Err(err.into()),
            };
            pending.push(sent);
        }
        let mut failures = Vec::new();
        for (index, sent) in pending.into_iter().enumerate() {
            let acked = match sent {
                Ok(ack) => ack.await.map(drop).map_err(anyhow::Error::from),
                Err(e) => Err(e),
            };
            if let Err(error) = acked {
                failures.push(EventFailure { index, error });
            }
        }
        Ok(failures)
    }
}
