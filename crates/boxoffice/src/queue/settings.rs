//! A queue's settings as its organizer sets and steers them, and as anyone sees them.
//! Split from the buyer's side so the rules of what may change when stay together.
use super::service::{QueueService, ShowQueue};
use super::state::QueueData;
use super::views::{QueueSettingsInput, QueueView};
use crate::accounts::Principal;
use crate::error::{ConflictKind, Error, Result};
use crate::store::queue::QueueSettingsRecord;
use crate::timefmt::{parse_rfc3339, rfc3339};
use boxoffice_domain::organization::Permission;
use boxoffice_domain::queue::{seed_commitment, QueueAction, QueueMethod, QueueState};
use boxoffice_domain::{FieldError, ShowId, Timestamp};
use std::sync::Arc;

/// How soon a request for an unknown queue may send this node to the store again.
const LOOK_AGAIN: std::time::Duration = std::time::Duration::from_millis(200);
/// How often nodes read queue settings from the store (the `queue-settings-refresh`
/// job); a new queue is answered after it, so every node guards reserve with it.
pub const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl QueueService {
    /// Creates or changes a show's queue (its organizer). Order-deciding settings
    /// (method, opening, pre-queue window, winners) are fixed once the queue opened.
    pub async fn configure(
        &self,
        who: &Principal,
        show: ShowId,
        input: QueueSettingsInput,
    ) -> Result<QueueView> {
        self.require(who, show, Permission::ManageCatalog).await?;
        self.know(show).await;
        // One queue object per show: a refresh must not open its own meanwhile.
        let opening = self.opening.lock().await;
        let now = self.clock.now();
        let existing = self.queues.read().get(&show).cloned();
        let current = existing.as_ref().map(|q| q.data.lock().settings.clone());
        let record = self.validate(show, input, current.as_ref(), now)?;
        self.store.put_queue_settings(&record).await?;
        let fresh = existing.is_none();
        let queue = match existing {
            Some(q) => {
                q.data.lock().settings = record;
                q
            }
            None => {
                let q = Arc::new(ShowQueue::new(QueueData::new(record)));
                self.sequencer.open(&q, true).await.map_err(|e| {
                    tracing::warn!(error = %e, "a new queue was not opened");
                    Error::Unavailable("the waiting room is not reachable; retry".into())
                })?;
                self.queues.write().insert(show, q.clone());
                q
            }
        };
        drop(opening);
        queue.bump();
        if fresh && self.sequencer.shared() {
            // Every node reads new queues once a refresh: once answered, none lets a
            // reserve through without a pass.
            tokio::time::sleep(REFRESH_EVERY + LOOK_AGAIN).await;
        }
        let view = self.view(&queue.data.lock());
        Ok(view)
    }

    fn validate(
        &self,
        show: ShowId,
        input: QueueSettingsInput,
        current: Option<&QueueSettingsRecord>,
        now: Timestamp,
    ) -> Result<QueueSettingsRecord> {
        let mut errors = Vec::new();
        let method = QueueMethod::parse(&input.method);
        if method.is_none() {
            errors.push(FieldError::new(
                "method",
                "must be fifo, random_at_opening, lottery or passthrough",
            ));
        }
        let opens_at = parse_rfc3339(&input.opens_at)
            .map_err(|m| errors.push(FieldError::new("opens_at", m)))
            .ok();
        let rate = match (input.admission.as_str(), input.rate_per_sec) {
            ("fixed", Some(r)) if (1..=100_000).contains(&r) => r,
            ("fixed", Some(_)) => {
                errors.push(FieldError::new("rate_per_sec", "must be 1 to 100000"));
                0
            }
            ("fixed", None) => {
                errors.push(FieldError::new(
                    "rate_per_sec",
                    "is required for fixed admission",
                ));
                0
            }
            ("automatic", None) => 0,
            ("automatic", Some(_)) => {
                errors.push(FieldError::new(
                    "rate_per_sec",
                    "must be absent for automatic admission",
                ));
                0
            }
            _ => {
                errors.push(FieldError::new("admission", "must be fixed or automatic"));
                0
            }
        };
        let ttl = input.pass_ttl_secs.unwrap_or(self.config.pass_ttl_secs);
        if !(10..=86_400).contains(&ttl) {
            errors.push(FieldError::new("pass_ttl_secs", "must be 10 to 86400"));
        }
        let max_size = input.max_size.unwrap_or(self.config.max_size);
        if !(1..=10_000_000).contains(&max_size) {
            errors.push(FieldError::new("max_size", "must be 1 to 10000000"));
        }
        let pre_queue = input.pre_queue_secs.unwrap_or(self.config.pre_queue_secs);
        if pre_queue > 86_400 {
            errors.push(FieldError::new("pre_queue_secs", "must be 0 to 86400"));
        }
        let winners = match (method, input.lottery_winners) {
            (Some(QueueMethod::Lottery), Some(n)) if (1..=10_000_000).contains(&n) => n,
            (Some(QueueMethod::Lottery), _) => {
                errors.push(FieldError::new(
                    "lottery_winners",
                    "is required for a lottery: 1 to 10000000",
                ));
                0
            }
            (_, Some(_)) => {
                errors.push(FieldError::new("lottery_winners", "is only for a lottery"));
                0
            }
            (_, None) => 0,
        };
        if let (Some(c), Some(m), Some(at)) = (current, method, opens_at) {
            let opened = now >= c.opens_at || c.drawn_at.is_some();
            if opened && m != c.method {
                errors.push(FieldError::new(
                    "method",
                    "cannot change once the queue opened",
                ));
            }
            if opened && at != c.opens_at {
                errors.push(FieldError::new(
                    "opens_at",
                    "cannot change once the queue opened",
                ));
            }
            if opened && (winners != c.lottery_winners || pre_queue != c.pre_queue_secs) {
                errors.push(FieldError::new(
                    "lottery_winners",
                    "cannot change once the queue opened",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let (method, opens_at) = (method.expect("checked"), opens_at.expect("checked"));
        Ok(match current {
            Some(c) => QueueSettingsRecord {
                method,
                rate_per_sec: rate,
                pass_ttl_secs: ttl,
                max_size,
                opens_at,
                pre_queue_secs: pre_queue,
                lottery_winners: winners,
                verified_only: input.verified_email_only.unwrap_or(c.verified_only),
                updated_at: now,
                ..c.clone()
            },
            None => {
                let seed: [u8; 32] = rand::random();
                QueueSettingsRecord {
                    show_id: show,
                    method,
                    rate_per_sec: rate,
                    pass_ttl_secs: ttl,
                    max_size,
                    opens_at,
                    pre_queue_secs: pre_queue,
                    lottery_winners: winners,
                    verified_only: input.verified_email_only.unwrap_or(false),
                    state: QueueState::Open,
                    seed,
                    drawn_at: None,
                    created_at: now,
                    updated_at: now,
                }
            }
        })
    }

    /// Pauses, resumes, drains or closes a queue (its organizer).
    pub async fn act(&self, who: &Principal, show: ShowId, action: &str) -> Result<QueueView> {
        self.know(show).await;
        self.require(who, show, Permission::ManageCatalog).await?;
        let action = match action {
            "pause" => QueueAction::Pause,
            "resume" => QueueAction::Resume,
            "drain" => QueueAction::Drain,
            "close" => QueueAction::Close,
            _ => {
                return Err(Error::field(
                    "action",
                    "must be pause, resume, drain or close",
                ))
            }
        };
        let queue = self.queue(show)?;
        let record = {
            let mut d = queue.data.lock();
            let next = d.settings.state.apply(action).ok_or_else(|| {
                Error::conflict(
                    ConflictKind::InvalidState,
                    format!(
                        "the queue is {}; it cannot be {}",
                        d.settings.state.as_str(),
                        match action {
                            QueueAction::Pause => "paused",
                            QueueAction::Resume => "resumed",
                            QueueAction::Drain => "drained",
                            QueueAction::Close => "closed",
                        }
                    ),
                )
            })?;
            d.settings.state = next;
            d.settings.updated_at = self.clock.now();
            d.settings.clone()
        };
        self.store.put_queue_settings(&record).await?;
        queue.bump();
        let view = self.view(&queue.data.lock());
        Ok(view)
    }

    /// Makes sure this node knows the queue of `show` if there is one: in the scaled
    /// mode a queue opened through another node reaches this one at the next refresh
    /// (a second); a request for it meanwhile looks in the store first (at most every
    /// 200 ms, whoever asks), rather than answering 404.
    pub async fn know(&self, show: ShowId) {
        if !self.sequencer.shared() || self.queues.read().contains_key(&show) {
            return;
        }
        let mut looked = self.looked.lock().await;
        if self.queues.read().contains_key(&show)
            || looked.is_some_and(|at| at.elapsed() < LOOK_AGAIN)
        {
            return;
        }
        *looked = Some(std::time::Instant::now());
        if let Err(e) = self.refresh().await {
            tracing::warn!(error = %e, "queue settings were not read; retrying later");
        }
    }

    /// Takes the settings other nodes stored: queues opened elsewhere start being
    /// followed here, and changed settings wake every stream. The draw is the log's
    /// to tell, so a copy keeps its own `drawn_at`.
    pub async fn refresh(&self) -> anyhow::Result<()> {
        for mut record in self.store.all_queue_settings().await? {
            let show = record.show_id;
            let existing = self.queues.read().get(&show).cloned();
            match existing {
                Some(queue) => {
                    let changed = {
                        let mut d = queue.data.lock();
                        record.drawn_at = d.settings.drawn_at;
                        let changed = d.settings != record;
                        d.settings = record;
                        changed
                    };
                    if changed {
                        queue.bump();
                    }
                }
                None => {
                    let _opening = self.opening.lock().await;
                    if self.queues.read().contains_key(&show) {
                        continue;
                    }
                    self.adopt(record).await?;
                }
            }
        }
        Ok(())
    }

    /// Follows a queue the store has (at start-up, or opened through another node):
    /// its copy brought up to the log (no draw until the log's), its pace starting now.
    pub(super) async fn adopt(
        &self,
        record: QueueSettingsRecord,
    ) -> anyhow::Result<Arc<ShowQueue>> {
        let show = record.show_id;
        let queue = Arc::new(ShowQueue::new(QueueData::new(record)));
        self.sequencer.open(&queue, false).await?;
        queue.data.lock().last_tick_ms = self.clock.now().millis();
        self.queues.write().insert(show, queue.clone());
        Ok(queue)
    }

    /// A show's queue as anyone may see it.
    pub fn get(&self, show: ShowId) -> Result<QueueView> {
        Ok(self.view(&self.queue(show)?.data.lock()))
    }

    fn view(&self, d: &QueueData) -> QueueView {
        let s = &d.settings;
        QueueView {
            show_id: s.show_id,
            method: s.method.as_str().into(),
            state: s.state.as_str().into(),
            opens_at: rfc3339(s.opens_at),
            joins_from: rfc3339(self.joins_from(s)),
            admission: if s.rate_per_sec == 0 {
                "automatic"
            } else {
                "fixed"
            }
            .into(),
            rate_per_sec: (s.rate_per_sec > 0).then_some(s.rate_per_sec),
            pass_ttl_secs: s.pass_ttl_secs,
            max_size: s.max_size,
            pre_queue_secs: s.pre_queue_secs,
            lottery_winners: (s.method == QueueMethod::Lottery).then_some(s.lottery_winners),
            verified_email_only: s.verified_only,
            waiting: self.engine.len(s.show_id),
            seed_commitment: seed_commitment(&s.seed),
            seed: s.drawn_at.map(|_| hex::encode(s.seed)),
            drawn_at: s.drawn_at.map(rfc3339),
        }
    }

    fn joins_from(&self, s: &QueueSettingsRecord) -> Timestamp {
        if s.method == QueueMethod::Lottery {
            s.created_at
        } else {
            s.opens_at.plus_secs(-i64::from(s.pre_queue_secs))
        }
    }
}
