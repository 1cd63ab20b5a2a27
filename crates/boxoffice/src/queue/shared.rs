//! The waiting room shared by every node: each queue's log is a Redis stream, its
//! entries numbered by one script call, and every node follows the stream and
//! applies each entry to its own copy, so any node answers any buyer the same.
//!
//! Keys share the show's hash tag with its inventory (`bo:queue:{show:ID}:…`). The
//! store keeps every entry as it does in one process; when Redis loses the stream,
//! one node writes it back from the store (under `…:rebuilding`, after giving other
//! nodes' last commits time to land) with a new epoch, and every node starts its
//! copy again from the stream.
use super::sequencer::{Replica, Sequencer};
use super::service::ShowQueue;
use super::state::{Applied, Refusal};
use crate::error::{Error, Result};
use crate::store::queue::{QueueLogKind, QueueLogRecord};
use async_trait::async_trait;
use boxoffice_domain::{ShowId, Timestamp, UserId};
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncCommands, RedisError, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Most entries one read of the stream applies.
const READ_BATCH: usize = 4096;
/// How long a read waits for new entries before looking at the epoch again.
const BLOCK_MS: u64 = 1000;
/// Entries written per round trip by a rebuild.
const REBUILD_CHUNK: usize = 1000;

struct Keys {
    epoch: String,
    seq: String,
    log: String,
    rebuilding: String,
    show: String,
}

impl Keys {
    fn of(show: ShowId) -> Self {
        let key = |suffix: &str| format!("bo:queue:{{show:{show}}}:{suffix}");
        Self {
            epoch: key("epoch"),
            seq: key("seq"),
            log: key("log"),
            rebuilding: key("rebuilding"),
            show: show.to_string(),
        }
    }

    fn pass(&self, jti: Uuid) -> String {
        format!("bo:queue:{{show:{}}}:pass:{jti}", self.show)
    }
}

/// This node's following of one queue's stream.
struct Follow {
    /// Entries this node appended, waiting to hear what applying them did.
    awaiting: Mutex<HashMap<Uuid, oneshot::Sender<Applied>>>,
    /// The last sequence number applied here.
    applied: watch::Sender<u64>,
}

pub(super) struct RedisSequencer {
    client: redis::Client,
    connection: ConnectionManager,
    append: redis::Script,
    replica: Replica,
    timeout: Duration,
    follows: Mutex<HashMap<ShowId, Arc<Follow>>>,
    node: String,
    stop: CancellationToken,
}

fn unavailable(e: &RedisError) -> Error {
    tracing::warn!(error = %e, "the shared waiting room did not answer");
    Error::Unavailable("the waiting room is not reachable; retry".into())
}

impl RedisSequencer {
    pub(super) async fn connect(
        url: &str,
        timeout: Duration,
        replica: Replica,
        stop: CancellationToken,
    ) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(timeout)
            .set_connection_timeout(timeout)
            .set_number_of_retries(3)
            .set_max_delay(500);
        let connection = ConnectionManager::new_with_config(client.clone(), config).await?;
        let append = redis::Script::new(include_str!("append.lua"));
        append
            .prepare_invoke()
            .load_async(&mut connection.clone())
            .await?;
        Ok(Self {
            client,
            connection,
            append,
            replica,
            timeout,
            follows: Mutex::default(),
            node: Uuid::now_v7().to_string(),
            stop,
        })
    }

    /// A connection of its own for a follower: its reads block.
    async fn reader(&self) -> std::result::Result<MultiplexedConnection, RedisError> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout + Duration::from_millis(BLOCK_MS));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// Writes the queue's log back from the store when Redis has none (first use,
    /// or Redis lost it), unless another node is doing it. Whether the log is there.
    /// A `new` queue has nothing committing anywhere: no wait for other nodes.
    async fn ensure_log(&self, show: ShowId, new: bool) -> anyhow::Result<bool> {
        let keys = Keys::of(show);
        let mut con = self.connection.clone();
        if con.exists::<_, bool>(&keys.epoch).await? {
            return Ok(true);
        }
        let ttl = (self.timeout * 4 + Duration::from_secs(30)).as_millis() as u64;
        let mine: bool = redis::cmd("SET")
            .arg(&keys.rebuilding)
            .arg(&self.node)
            .arg("NX")
            .arg("PX")
            .arg(ttl)
            .query_async::<Option<String>>(&mut con)
            .await?
            .is_some();
        if !mine {
            return Ok(false);
        }
        if !new {
            // Entries another node appended to the lost stream may still be committing.
            tokio::time::sleep(self.timeout).await;
        }
        let entries = self.replica.store.queue_log(show).await?;
        con.del::<_, ()>(&[&keys.log, &keys.seq]).await?;
        for chunk in entries.chunks(REBUILD_CHUNK) {
            let mut pipe = redis::pipe();
            for e in chunk {
                let fields = fields(e, "");
                pipe.cmd("XADD")
                    .arg(&keys.log)
                    .arg(format!("{}-1", e.seq))
                    .arg(&fields)
                    .ignore();
            }
            pipe.query_async::<()>(&mut con).await?;
        }
        let last = entries.last().map_or(0, |e| e.seq);
        let epoch = Uuid::now_v7().to_string();
        redis::pipe()
            .set(&keys.seq, last)
            .ignore()
            .set(&keys.epoch, &epoch)
            .ignore()
            .del(&keys.rebuilding)
            .ignore()
            .query_async::<()>(&mut con)
            .await?;
        tracing::info!(show = %show, entries = entries.len(), "queue log written to Redis from the store");
        Ok(true)
    }

    /// Reads the stream after `after` and applies what it holds; the last seq read.
    async fn catch_up(
        &self,
        con: &mut MultiplexedConnection,
        queue: &ShowQueue,
        follow: &Follow,
        keys: &Keys,
        after: u64,
        block: bool,
    ) -> std::result::Result<u64, RedisError> {
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT").arg(READ_BATCH);
        if block {
            cmd.arg("BLOCK").arg(BLOCK_MS);
        }
        cmd.arg("STREAMS").arg(&keys.log).arg(format!("{after}-1"));
        let reply: Value = cmd.query_async(con).await?;
        let entries = parse_read(&reply, queue.show());
        let Some(last) = entries.last().map(|(_, e)| e.seq) else {
            return Ok(after);
        };
        let mut outcomes = Vec::with_capacity(entries.len());
        {
            let mut d = queue.data.lock();
            for (_, e) in &entries {
                outcomes.push(self.replica.apply(&mut d, e));
            }
        }
        {
            let mut awaiting = follow.awaiting.lock();
            for ((proposal, _), applied) in entries.iter().zip(&outcomes) {
                if let Some(tx) = proposal.and_then(|p| awaiting.remove(&p)) {
                    let _ = tx.send(*applied);
                }
            }
        }
        let records: Vec<QueueLogRecord> = entries.into_iter().map(|(_, e)| e).collect();
        queue.announce(&records, &outcomes);
        follow.applied.send_replace(last);
        Ok(last)
    }

    /// Follows the stream until the service stops: applies new entries as they come
    /// and starts over when the epoch changes (Redis lost the log, another node wrote
    /// it back).
    async fn follow(self: Arc<Self>, queue: Arc<ShowQueue>, follow: Arc<Follow>, epoch: String) {
        let keys = Keys::of(queue.show());
        let mut epoch = Some(epoch);
        let mut after = *follow.applied.borrow();
        let mut con: Option<MultiplexedConnection> = None;
        while !self.stop.is_cancelled() {
            let step = async {
                let c = match con.as_mut() {
                    Some(c) => c,
                    None => con.insert(self.reader().await?),
                };
                let now: Option<String> = c.get(&keys.epoch).await?;
                if now != epoch {
                    if now.is_none() {
                        if let Err(e) = self.ensure_log(queue.show(), false).await {
                            tracing::warn!(error = %e, "the queue log was not written back; retrying");
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        return Ok(());
                    }
                    // Another copy of the log: this node's copy starts over from it.
                    tracing::info!(show = %queue.show(), "the queue log changed epoch; following it again");
                    self.replica.reset(&mut queue.data.lock());
                    after = 0;
                    epoch = now;
                }
                after = self
                    .catch_up(c, &queue, &follow, &keys, after, true)
                    .await?;
                Ok::<(), RedisError>(())
            };
            tokio::select! {
                r = step => {
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "reading the queue log failed; retrying");
                        con = None;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                () = self.stop.cancelled() => break,
            }
        }
    }
}

/// The six values of an entry in the stream, in the order of [`FIELDS`].
fn values(e: &QueueLogRecord, proposal: &str) -> [String; 6] {
    let id = |v: Option<Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
    [
        proposal.to_owned(),
        e.kind.as_str().to_owned(),
        id(e.user_id.map(|u| *u.as_uuid())),
        id(e.ref_id),
        e.at.millis().to_string(),
        e.until.map(|t| t.millis().to_string()).unwrap_or_default(),
    ]
}

/// Field names of an entry: proposal, kind, user, ref, at, until.
const FIELDS: [&str; 6] = ["p", "k", "u", "r", "a", "t"];

/// An entry as `XADD` fields.
fn fields(e: &QueueLogRecord, proposal: &str) -> Vec<String> {
    FIELDS
        .into_iter()
        .zip(values(e, proposal))
        .flat_map(|(k, v)| [k.to_owned(), v])
        .collect()
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// The entries of an `XREAD` reply (one stream), with the node's proposal id if any.
fn parse_read(reply: &Value, show: ShowId) -> Vec<(Option<Uuid>, QueueLogRecord)> {
    let streams = match reply {
        Value::Array(a) => a.as_slice(),
        Value::Map(m) => {
            return m
                .iter()
                .flat_map(|(_, entries)| parse_entries(entries, show))
                .collect()
        }
        _ => &[],
    };
    streams
        .iter()
        .flat_map(|s| match s {
            Value::Array(pair) if pair.len() == 2 => parse_entries(&pair[1], show),
            _ => Vec::new(),
        })
        .collect()
}

fn parse_entries(entries: &Value, show: ShowId) -> Vec<(Option<Uuid>, QueueLogRecord)> {
    let Value::Array(entries) = entries else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let Value::Array(parts) = entry else {
                return None;
            };
            let [id, Value::Array(kv)] = parts.as_slice() else {
                return None;
            };
            let seq: u64 = text(id)?.split('-').next()?.parse().ok()?;
            let mut map = HashMap::new();
            for pair in kv.chunks(2) {
                if let [k, v] = pair {
                    map.insert(text(k)?, text(v)?);
                }
            }
            let get = |k: &str| map.get(k).filter(|v| !v.is_empty());
            let uuid = |k: &str| get(k).and_then(|v| Uuid::parse_str(v).ok());
            let millis = |k: &str| {
                get(k)
                    .and_then(|v| v.parse::<i64>().ok())
                    .map(Timestamp::from_millis)
            };
            let Some(kind) = get("k").and_then(|k| QueueLogKind::parse(k)) else {
                tracing::warn!(seq, "queue log entry with an unknown kind skipped");
                return None;
            };
            Some((
                uuid("p"),
                QueueLogRecord {
                    show_id: show,
                    seq,
                    kind,
                    user_id: uuid("u").map(UserId::from_uuid),
                    ref_id: uuid("r"),
                    at: millis("a")?,
                    until: millis("t"),
                },
            ))
        })
        .collect()
}

#[async_trait]
impl Sequencer for Arc<RedisSequencer> {
    fn shared(&self) -> bool {
        true
    }

    async fn open(&self, queue: &Arc<ShowQueue>, new: bool) -> anyhow::Result<()> {
        let show = queue.show();
        if self.follows.lock().contains_key(&show) {
            return Ok(());
        }
        let keys = Keys::of(show);
        let started = tokio::time::Instant::now();
        while !self.ensure_log(show, new).await? {
            if started.elapsed() > self.timeout * 4 + Duration::from_secs(30) {
                anyhow::bail!(
                    "the queue log of show {show} is not in Redis and nobody wrote it back"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut con = self.reader().await?;
        let epoch: String = con.get(&keys.epoch).await?;
        let follow = Arc::new(Follow {
            awaiting: Mutex::default(),
            applied: watch::Sender::new(0),
        });
        self.replica.reset(&mut queue.data.lock());
        // Everything there is now, before anyone reads this node's copy.
        let mut after = 0;
        loop {
            let last = self
                .catch_up(&mut con, queue, &follow, &keys, after, false)
                .await?;
            if last == after {
                break;
            }
            after = last;
        }
        {
            let mut follows = self.follows.lock();
            if follows.contains_key(&show) {
                return Ok(());
            }
            follows.insert(show, follow.clone());
        }
        tokio::spawn(self.clone().follow(queue.clone(), follow, epoch));
        Ok(())
    }

    async fn submit(
        &self,
        queue: &Arc<ShowQueue>,
        mut entries: Vec<QueueLogRecord>,
    ) -> Result<Vec<Applied>> {
        let show = queue.show();
        let follow = self
            .follows
            .lock()
            .get(&show)
            .cloned()
            .ok_or(Error::NotFound("queue"))?;
        let proposals: Vec<Uuid> = entries.iter().map(|_| Uuid::now_v7()).collect();
        let receivers: Vec<oneshot::Receiver<Applied>> = {
            let mut awaiting = follow.awaiting.lock();
            proposals
                .iter()
                .map(|p| {
                    let (tx, rx) = oneshot::channel();
                    awaiting.insert(*p, tx);
                    rx
                })
                .collect()
        };
        let forget = || {
            let mut awaiting = follow.awaiting.lock();
            for p in &proposals {
                awaiting.remove(p);
            }
        };
        let keys = Keys::of(show);
        let mut invocation = self.append.prepare_invoke();
        invocation.key(&keys.epoch).key(&keys.seq).key(&keys.log);
        for (e, p) in entries.iter().zip(&proposals) {
            for v in values(e, &p.to_string()) {
                invocation.arg(v);
            }
        }
        let seqs: Vec<u64> = match invocation.invoke_async(&mut self.connection.clone()).await {
            Ok(seqs) => seqs,
            Err(e) => {
                forget();
                return Err(unavailable(&e));
            }
        };
        let mut pending = Vec::with_capacity(entries.len());
        for (e, seq) in entries.iter_mut().zip(seqs) {
            e.seq = seq;
            pending.push(self.replica.log.append(e.clone()));
        }
        for p in pending {
            p.durable().await?;
        }
        let applied = tokio::time::timeout(
            self.timeout * 4 + Duration::from_secs(2),
            futures_util::future::join_all(receivers),
        )
        .await;
        match applied {
            Ok(outcomes) => Ok(outcomes
                .into_iter()
                .map(|o| o.unwrap_or(Applied::Refused(Refusal::Incomplete)))
                .collect()),
            Err(_) => {
                forget();
                Err(Error::Unavailable(
                    "the waiting room is catching up with other nodes; retry".into(),
                ))
            }
        }
    }

    async fn hold_pass(&self, show: ShowId, jti: Uuid, ttl: Duration) -> Result<bool> {
        let key = Keys::of(show).pass(jti);
        let ttl = ttl.as_millis().max(1_000) as u64;
        let held: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(&self.node)
            .arg("NX")
            .arg("PX")
            .arg(ttl)
            .query_async(&mut self.connection.clone())
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(held.is_some())
    }

    async fn release_pass(&self, show: ShowId, jti: Uuid) {
        let key = Keys::of(show).pass(jti);
        if let Err(e) = self.connection.clone().del::<_, ()>(&key).await {
            tracing::warn!(error = %e, "a queue pass was not released; it frees itself at expiry");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    /// An entry written with `fields` reads back the same from an `XREAD` reply (RESP2
    /// arrays and RESP3 maps), with its proposal id; an unknown kind is skipped.
    #[test]
    fn entries_read_back_as_written() {
        let show = ShowId::new();
        let proposal = Uuid::now_v7();
        let written = QueueLogRecord {
            show_id: show,
            seq: 42,
            kind: QueueLogKind::Admit,
            user_id: Some(UserId::new()),
            ref_id: Some(Uuid::now_v7()),
            at: Timestamp::from_millis(1_800_000_000_123),
            until: Some(Timestamp::from_millis(1_800_000_600_123)),
        };
        let bare = QueueLogRecord {
            seq: 43,
            kind: QueueLogKind::Draw,
            user_id: None,
            ref_id: None,
            until: None,
            ..written.clone()
        };
        let entry = |seq: u64, e: &QueueLogRecord, p: &str| {
            let kv = fields(e, p).iter().map(|f| bulk(f)).collect();
            Value::Array(vec![bulk(&format!("{seq}-1")), Value::Array(kv)])
        };
        let mut odd = fields(&bare, "");
        odd[3] = "teleport".into();
        let odd = Value::Array(vec![
            bulk("44-1"),
            Value::Array(odd.iter().map(|f| bulk(f)).collect()),
        ]);
        let entries = Value::Array(vec![
            entry(42, &written, &proposal.to_string()),
            entry(43, &bare, ""),
            odd,
        ]);
        let expected = vec![(Some(proposal), written), (None, bare)];
        let resp2 = Value::Array(vec![Value::Array(vec![bulk("log"), entries.clone()])]);
        assert_eq!(parse_read(&resp2, show), expected);
        let resp3 = Value::Map(vec![(bulk("log"), entries)]);
        assert_eq!(parse_read(&resp3, show), expected);
        assert!(parse_read(&Value::Nil, show).is_empty());
    }
}
