//! The built-in consumers fed by NATS JetStream: with an event stream configured, the
//! job runner reads each consumer's events from a durable pull consumer of its own
//! (named after it) instead of the outbox table, so the stream is the one bus and an
//! outside service sees exactly what the platform's own consumers see.
//!
//! Delivery stays at least once with explicit acknowledgements: a message is acked only
//! after its event was handled or parked for a retry, so a worker killed mid-batch gets
//! it again after `ack_wait`, and a NATS restart resumes from the durable's ack floor.
//! Retries and dead letters keep going through the store exactly as for table-fed
//! consumers. The switch from the table is exact: when a durable is first created, the
//! consumer's stored offset is recorded as its hand-over point and events at or below
//! it (already handled from the table) are acknowledged without running again.
use super::consumer::OutboxConsumer;
use super::jetstream::{open_stream, SEQ_HEADER, SUBJECT_PREFIX};
use crate::store::{DynStore, OutboxEvent};
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::{self, AckKind};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The suffix of the `consumer_offsets` row holding a consumer's hand-over point.
pub const HANDOVER_SUFFIX: &str = "@jetstream";

/// How the followers read.
#[derive(Clone)]
pub struct FollowSettings {
    pub store: DynStore,
    /// Messages handled per batch (and pulled per request).
    pub batch: usize,
    /// How often parked events are retried, and the pause before reattaching after
    /// NATS failed.
    pub poll: Duration,
    /// How long a delivered message may stay unacknowledged before it is redelivered.
    pub ack_wait: Duration,
}

/// Reads the event stream on behalf of the built-in consumers.
#[derive(Clone)]
pub struct StreamFollower {
    context: jetstream::Context,
    stream: String,
    settings: FollowSettings,
}

impl StreamFollower {
    pub(super) fn new(
        context: jetstream::Context,
        stream: String,
        settings: FollowSettings,
    ) -> Self {
        Self {
            context,
            stream,
            settings: FollowSettings {
                batch: settings.batch.max(1),
                ..settings
            },
        }
    }

    /// Feeds `consumer` from its durable until `stop`; reattaches after NATS failures.
    pub async fn run(self, consumer: Arc<OutboxConsumer>, stop: CancellationToken) {
        loop {
            match self.follow(&consumer, &stop).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(consumer = consumer.name(), error = %format!("{e:#}"), "reading the event stream failed; reattaching")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.poll) => {}
                () = stop.cancelled() => break,
            }
        }
    }

    /// The durable of `consumer` and its hand-over point, created on first use.
    async fn attach(&self, consumer: &OutboxConsumer) -> anyhow::Result<(PullConsumer, i64)> {
        let store = &self.settings.store;
        let stream = open_stream(&self.context, &self.stream).await?;
        let name = consumer.name();
        let key = format!("{name}{HANDOVER_SUFFIX}");
        let handover = match stream.consumer_info(name).await {
            Ok(_) => store.consumer_offset(&key).await?,
            Err(e) if e.kind() == ConsumerInfoErrorKind::NotFound => {
                let offset = store.consumer_offset(name).await?;
                store.save_consumer_offset(&key, offset).await?;
                tracing::info!(
                    consumer = name,
                    offset,
                    "consumer moves from the outbox table to the event stream"
                );
                offset
            }
            Err(e) => return Err(anyhow::anyhow!("consumer {name}: {e}")),
        };
        let durable = stream
            .get_or_create_consumer(
                name,
                pull::Config {
                    durable_name: Some(name.to_owned()),
                    description: Some(format!("boxoffice {name} consumer")),
                    deliver_policy: DeliverPolicy::All,
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: self.settings.ack_wait,
                    filter_subject: format!("{SUBJECT_PREFIX}.>"),
                    max_ack_pending: (self.settings.batch * 4) as i64,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("consumer {name}: {e}"))?;
        Ok((durable, handover))
    }

    /// One attachment: handles batches as they come and retries what is due, until
    /// `stop` (`Ok`) or a NATS failure (`Err`).
    async fn follow(
        &self,
        consumer: &OutboxConsumer,
        stop: &CancellationToken,
    ) -> anyhow::Result<()> {
        let (durable, handover) = self.attach(consumer).await?;
        let store = &self.settings.store;
        let mut high = store.consumer_offset(consumer.name()).await?;
        let mut messages = durable
            .stream()
            .max_messages_per_batch(self.settings.batch)
            .messages()
            .await
            .map_err(|e| anyhow::anyhow!("pulling: {e}"))?
            .ready_chunks(self.settings.batch);
        let mut retries = tokio::time::interval(self.settings.poll);
        retries.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                chunk = messages.next() => {
                    let Some(chunk) = chunk else {
                        anyhow::bail!("the message stream ended");
                    };
                    let mut failure = None;
                    let mut delivered = Vec::with_capacity(chunk.len());
                    for m in chunk {
                        match m {
                            Ok(m) => delivered.push(m),
                            Err(e) => failure = Some(anyhow::anyhow!("pulling: {e}")),
                        }
                    }
                    if let Some(top) = self.handle(consumer, delivered, handover).await? {
                        if top > high {
                            high = top;
                            store.save_consumer_offset(consumer.name(), high).await?;
                        }
                    }
                    if let Some(e) = failure {
                        return Err(e);
                    }
                }
                _ = retries.tick() => {
                    if let Err(e) = consumer.retry_due().await {
                        tracing::warn!(consumer = consumer.name(), error = %format!("{e:#}"), "outbox retries failed; retrying");
                    }
                }
                () = stop.cancelled() => return Ok(()),
            }
        }
    }

    /// Handles one batch and acknowledges it; the highest position handled.
    async fn handle(
        &self,
        consumer: &OutboxConsumer,
        messages: Vec<jetstream::Message>,
        handover: i64,
    ) -> anyhow::Result<Option<i64>> {
        let mut events = Vec::with_capacity(messages.len());
        let mut foreign = Vec::new();
        for (n, m) in messages.iter().enumerate() {
            match event_of(m) {
                Ok(e) if e.seq > handover => events.push(e),
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(consumer = consumer.name(), subject = %m.subject, error = %e, "a message on the event stream is not an outbox event; dropped");
                    foreign.push(n);
                }
            }
        }
        // Parking a failure may fail (the store is down): nothing is acknowledged then,
        // and the batch comes again.
        consumer.deliver(&events).await?;
        for (n, m) in messages.iter().enumerate() {
            let kind = if foreign.contains(&n) {
                AckKind::Term
            } else {
                AckKind::Ack
            };
            m.ack_with(kind)
                .await
                .map_err(|e| anyhow::anyhow!("acknowledging: {e}"))?;
        }
        Ok(events.iter().map(|e| e.seq).max())
    }
}

/// The outbox event a message carries (what [`super::jetstream`] publishes).
fn event_of(m: &jetstream::Message) -> Result<OutboxEvent, String> {
    #[derive(serde::Deserialize)]
    struct Body {
        id: String,
        #[serde(rename = "type")]
        event_type: String,
        aggregate_id: String,
        created_at: String,
        payload: serde_json::Value,
    }
    let headers = m.headers.as_ref().ok_or("no headers")?;
    let seq = headers
        .get(SEQ_HEADER)
        .ok_or_else(|| format!("no {SEQ_HEADER} header"))?
        .as_str()
        .parse::<i64>()
        .map_err(|e| format!("{SEQ_HEADER}: {e}"))?;
    let body: Body = serde_json::from_slice(&m.payload).map_err(|e| e.to_string())?;
    Ok(OutboxEvent {
        seq,
        id: body.id,
        event_type: body.event_type,
        aggregate_id: body.aggregate_id,
        payload: body.payload,
        created_at: crate::timefmt::parse_rfc3339(&body.created_at)
            .map_err(|e| format!("created_at {e}"))?,
        trace_context: headers.get("traceparent").map(|v| v.as_str().to_owned()),
    })
}
