//! An outbox consumer under a stream of commits: it reads at most once per pace and
//! loses nothing, and once idle it reads at the first commit without waiting out the
//! pace.
use crate::outbox_figures::fill;
use crate::support::{Backend, TestDb};
use async_trait::async_trait;
use boxoffice::outbox::registry::{run, Pace};
use boxoffice::outbox::{
    Backoff, ConsumerSettings, EventFailure, LocalRelay, OutboxConsumer, OutboxHandler, OutboxRelay,
};
use boxoffice::store::{DynStore, OutboxEvent, SqlStore};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Records the size of every batch it is handed.
#[derive(Default)]
struct Batches(Mutex<Vec<usize>>);

impl Batches {
    fn sizes(&self) -> Vec<usize> {
        self.0.lock().unwrap().clone()
    }

    fn events(&self) -> usize {
        self.sizes().iter().sum()
    }

    async fn wait_for(&self, events: usize, within: Duration) -> Duration {
        let started = Instant::now();
        while self.events() < events {
            assert!(
                started.elapsed() < within,
                "{} of {events} events handled after {within:?}: {:?}",
                self.events(),
                self.sizes()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        started.elapsed()
    }
}

#[async_trait]
impl OutboxHandler for Batches {
    async fn handle(&self, events: &[OutboxEvent]) -> anyhow::Result<Vec<EventFailure>> {
        self.0.lock().unwrap().push(events.len());
        Ok(Vec::new())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_in_a_stream_are_read_once_per_pace_and_an_idle_consumer_reads_at_once() {
    let db = TestDb::create(Backend::Sqlite).await;
    let sql = SqlStore::connect(&db.url, 4, Default::default())
        .await
        .unwrap();
    sql.migrate().await.unwrap();
    let store: DynStore = Arc::new(sql.clone());
    let batches = Arc::new(Batches::default());
    let consumer = Arc::new(OutboxConsumer::new(
        "pace-test",
        store,
        batches.clone(),
        Arc::new(boxoffice::clock::SystemClock),
        ConsumerSettings {
            batch: 1_000,
            gap_grace: Duration::from_secs(5),
            backoff: Backoff::default(),
        },
    ));
    let relay = LocalRelay::default();
    let least = Duration::from_millis(800);
    let stop = CancellationToken::new();
    let pace = Pace {
        // Only commits wake it in this test.
        poll: Duration::from_secs(60),
        least,
    };
    let task = tokio::spawn(run(consumer, relay.subscribe(), pace, stop.clone()));

    // A commit every 20 ms for two seconds: a hundred events.
    let started = Instant::now();
    let commits = 100;
    for _ in 0..commits {
        fill(&db.url, 1).await;
        relay.committed();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    batches.wait_for(commits, Duration::from_secs(10)).await;
    let elapsed = started.elapsed();
    let sizes = batches.sizes();
    // One read at the first commit, then at most one per pace.
    let most = 1 + (elapsed.as_millis() / least.as_millis()) as usize + 1;
    assert!(
        sizes.len() <= most,
        "{} reads in {elapsed:?} at a pace of {least:?}: {sizes:?}",
        sizes.len()
    );
    assert_eq!(batches.events(), commits, "every event once: {sizes:?}");

    // Idle for longer than the pace: the next commit is read at once.
    tokio::time::sleep(least + Duration::from_millis(200)).await;
    fill(&db.url, 1).await;
    relay.committed();
    let waited = batches.wait_for(commits + 1, Duration::from_secs(10)).await;
    assert!(
        waited < least / 2,
        "an idle consumer read a commit after {waited:?} (pace {least:?})"
    );

    stop.cancel();
    task.await.unwrap();
    sql.close().await;
}
