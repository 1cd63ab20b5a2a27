//! Supervision of the background tasks (group-commit writer, expiry, purger, WAL
//! checkpoints): a task that ends or panics while the server runs would leave it
//! answering while nothing commits or expires, so that is logged, fails readiness and
//! stops the process with an error instead of being dropped silently.
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Whether every background task is alive; readiness reads it, `serve` waits on it.
#[derive(Clone)]
pub struct Health {
    failure: watch::Sender<Option<String>>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            failure: watch::Sender::new(None),
        }
    }
}

impl Health {
    /// Records the first failure; later ones are only logged by their caller.
    pub fn fail(&self, reason: String) {
        self.failure.send_if_modified(|f| {
            if f.is_none() {
                *f = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// Why the process is no longer healthy, if it is not.
    pub fn failure(&self) -> Option<String> {
        self.failure.borrow().clone()
    }

    /// Resolves once a failure is recorded.
    pub async fn failed(&self) {
        let mut rx = self.failure.subscribe();
        let _ = rx.wait_for(Option::is_some).await;
    }
}

/// A group of tasks stopped together by one token and watched while they run.
pub struct TaskGroup {
    stop: CancellationToken,
    health: Health,
    watchers: Vec<JoinHandle<()>>,
}

impl TaskGroup {
    pub fn new(health: &Health) -> Self {
        Self {
            stop: CancellationToken::new(),
            health: health.clone(),
            watchers: Vec::new(),
        }
    }

    /// The token the group's tasks end on.
    pub fn token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Watches a spawned task: ending before the group is stopped, or panicking at
    /// any time, marks the process unhealthy.
    pub fn watch(&mut self, name: &'static str, task: JoinHandle<()>) {
        let stop = self.stop.clone();
        let health = self.health.clone();
        self.watchers.push(tokio::spawn(async move {
            let reason = match task.await {
                Ok(()) if stop.is_cancelled() => return,
                Ok(()) => "ended unexpectedly".to_string(),
                Err(e) if e.is_panic() => "panicked".to_string(),
                Err(e) => format!("was aborted: {e}"),
            };
            tracing::error!(task = name, reason = %reason, "background task failed");
            health.fail(format!("background task {name} {reason}"));
        }));
    }

    /// Spawns `task` and watches it.
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.watch(name, tokio::spawn(task));
    }

    /// Runs `step` every `every` until the group stops.
    pub fn every<F, Fut>(&mut self, name: &'static str, every: Duration, mut step: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let stop = self.stop.clone();
        self.spawn(name, async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = stop.cancelled() => break,
                }
                step().await;
            }
        });
    }

    /// Stops the group and waits until each task has ended.
    pub async fn stop(self) {
        self.stop.cancel();
        for w in self.watchers {
            let _ = w.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_fails_health_and_a_stopped_one_does_not() {
        let health = Health::default();
        let mut group = TaskGroup::new(&health);
        let token = group.token();
        group.spawn("steady", async move { token.cancelled().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(health.failure(), None);

        let mut bad = TaskGroup::new(&health);
        bad.spawn("doomed", async { panic!("injected failure") });
        tokio::time::timeout(Duration::from_secs(5), health.failed())
            .await
            .expect("the failure is noticed");
        let reason = health.failure().unwrap();
        assert!(
            reason.contains("doomed") && reason.contains("panicked"),
            "{reason}"
        );

        group.stop().await;
        assert!(
            health.failure().unwrap().contains("doomed"),
            "first failure kept"
        );
    }

    #[tokio::test]
    async fn a_task_that_returns_early_is_a_failure() {
        let health = Health::default();
        let mut group = TaskGroup::new(&health);
        group.spawn("quitter", async {});
        tokio::time::timeout(Duration::from_secs(5), health.failed())
            .await
            .expect("noticed");
        assert!(health.failure().unwrap().contains("ended unexpectedly"));
        group.stop().await;
    }
}
