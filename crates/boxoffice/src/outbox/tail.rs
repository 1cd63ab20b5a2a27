//! The outbox's newest events as this process last read them, shared by its
//! consumers: during a sale every consumer reads the same events, and reading and
//! decoding each of them once per consumer cost more CPU than the holds that wrote
//! them. Reads are kept as they came (shared, never copied) and handed out as slices.
//!
//! Only events at consecutive positions are kept. Such a run has no hole, so nothing
//! can appear inside it later (a transaction that commits out of order on PostgreSQL
//! fills a hole, it cannot add to a run) and events never change once written: a
//! slice of the run is what reading the table would have answered first.
use crate::store::{OutboxEvent, StoreResult};
use std::collections::VecDeque;
use std::future::Future;
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// Events kept at most: a few seconds of a busy sale.
pub const TAIL_EVENTS: usize = 16_384;

/// Events after an offset: `events()` is a slice of one read.
pub struct Segment {
    read: Arc<[OutboxEvent]>,
    range: Range<usize>,
    /// Straight from the table (rather than from the run): fewer than asked means
    /// there are no more now.
    pub from_table: bool,
}

impl Segment {
    pub fn events(&self) -> &[OutboxEvent] {
        &self.read[self.range.clone()]
    }

    pub fn of_table(read: Vec<OutboxEvent>) -> Self {
        let range = 0..read.len();
        Self {
            read: read.into(),
            range,
            from_table: true,
        }
    }
}

/// One read kept: its first `consecutive` events follow one another without a hole.
struct Kept {
    read: Arc<[OutboxEvent]>,
    consecutive: usize,
}

impl Kept {
    fn first(&self) -> i64 {
        self.read[0].seq
    }

    fn last(&self) -> i64 {
        self.read[self.consecutive - 1].seq
    }
}

pub struct OutboxTail {
    /// Reads in order, each starting right after the one before ends.
    run: Mutex<VecDeque<Kept>>,
    max: usize,
}

impl Default for OutboxTail {
    fn default() -> Self {
        Self::new(TAIL_EVENTS)
    }
}

impl OutboxTail {
    pub fn new(max: usize) -> Self {
        Self {
            run: Mutex::new(VecDeque::new()),
            max: max.max(1),
        }
    }

    /// Events after `offset`, at most `limit`: the run's events from there to the end
    /// of the read that holds them, or else what `read(offset, limit)` answers.
    pub async fn after<R, F>(&self, offset: i64, limit: u32, read: R) -> StoreResult<Segment>
    where
        R: FnOnce(i64, u32) -> F,
        F: Future<Output = StoreResult<Vec<OutboxEvent>>>,
    {
        if let Some(kept) = self.kept(offset, limit as usize) {
            return Ok(kept);
        }
        let fresh = Segment::of_table(read(offset, limit).await?);
        self.remember(offset, &fresh.read);
        Ok(fresh)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Kept>> {
        self.run.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn kept(&self, offset: i64, limit: usize) -> Option<Segment> {
        let run = self.lock();
        let kept = run
            .iter()
            .find(|k| k.first() <= offset + 1 && offset < k.last())?;
        let start = usize::try_from(offset + 1 - kept.first()).ok()?;
        let end = kept.consecutive.min(start + limit);
        Some(Segment {
            read: kept.read.clone(),
            range: start..end,
            from_table: false,
        })
    }

    /// Keeps the consecutive start of `read` (the events after `after`): after the
    /// run when it starts where the run ends, in place of a run it is newer than.
    fn remember(&self, after: i64, read: &Arc<[OutboxEvent]>) {
        let consecutive = read
            .iter()
            .zip(after + 1..)
            .take_while(|(e, seq)| e.seq == *seq)
            .count();
        if consecutive == 0 {
            return;
        }
        let mut run = self.lock();
        match run.back().map(Kept::last) {
            Some(last) if last == after => {}
            // A slower reader's older events do not displace the newest ones.
            Some(last) if last > after => return,
            _ => run.clear(),
        }
        run.push_back(Kept {
            read: read.clone(),
            consecutive,
        });
        let mut held: usize = run.iter().map(|k| k.consecutive).sum();
        while held > self.max && run.len() > 1 {
            if let Some(oldest) = run.pop_front() {
                held -= oldest.consecutive;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::consumer::tests::ev;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// The table: positions handed out in order, visible when their transaction
    /// commits (perhaps after later ones), never when it rolls back.
    #[derive(Default)]
    struct Table {
        next: i64,
        pending: Vec<i64>,
        visible: BTreeMap<i64, OutboxEvent>,
        reads: usize,
    }

    impl Table {
        fn read(&self, after: i64, limit: u32) -> Vec<OutboxEvent> {
            self.visible
                .range(after + 1..)
                .take(limit as usize)
                .map(|(_, e)| e.clone())
                .collect()
        }

        fn commit(&mut self, seqs: impl IntoIterator<Item = i64>) {
            for seq in seqs {
                self.visible.insert(seq, ev(seq));
                self.next = self.next.max(seq);
            }
        }
    }

    async fn read_through(tail: &OutboxTail, table: &mut Table, after: i64, limit: u32) -> Segment {
        let mut direct = 0;
        let got = tail
            .after(after, limit, |a, l| {
                direct += 1;
                std::future::ready(Ok(table.read(a, l)))
            })
            .await
            .expect("read");
        table.reads += direct;
        got
    }

    fn seqs(s: &Segment) -> Vec<i64> {
        s.events().iter().map(|e| e.seq).collect()
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// A transaction takes the next positions.
        Begin(u8),
        /// The pending transaction at this index (modulo) commits or rolls back.
        End(usize, bool),
        /// A consumer reads after (newest visible − back) with this limit.
        Read(u8, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1u8..5).prop_map(Op::Begin),
            (any::<usize>(), prop::bool::weighted(0.9)).prop_map(|(i, c)| Op::End(i, c)),
            (0u8..12, 1u32..6).prop_map(|(b, l)| Op::Read(b, l)),
        ]
    }

    proptest! {
        /// Whatever the interleaving of commits, late commits, rollbacks and reads, a
        /// segment is the start of what the table answers, all of it when it comes
        /// from the table, and never empty while the table has more.
        #[test]
        fn a_segment_is_what_the_table_answers_first(ops in prop::collection::vec(op(), 1..150), max in 1usize..16) {
            let rt = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
            rt.block_on(async {
                let tail = OutboxTail::new(max);
                let mut table = Table::default();
                for op in ops {
                    match op {
                        Op::Begin(n) => {
                            for _ in 0..n {
                                table.next += 1;
                                table.pending.push(table.next);
                            }
                        }
                        Op::End(i, commit) if !table.pending.is_empty() => {
                            let seq = table.pending.remove(i % table.pending.len());
                            if commit {
                                table.visible.insert(seq, ev(seq));
                            }
                        }
                        Op::End(..) => {}
                        Op::Read(back, limit) => {
                            let newest = table.visible.keys().next_back().copied().unwrap_or(0);
                            let after = (newest - i64::from(back)).max(0);
                            let key = |e: &OutboxEvent| (e.seq, e.id.clone(), e.payload.clone());
                            let expected: Vec<_> = table.read(after, limit).iter().map(key).collect();
                            let got = read_through(&tail, &mut table, after, limit).await;
                            let got: Vec<_> = got.events().iter().map(key).collect();
                            prop_assert!(!got.is_empty() || expected.is_empty(), "after {}", after);
                            prop_assert_eq!(&got[..], &expected[..got.len()], "after {} limit {}", after, limit);
                        }
                    }
                }
                Ok(())
            })?;
        }
    }

    #[tokio::test]
    async fn consumers_behind_one_another_read_the_table_once() {
        let tail = OutboxTail::new(100);
        let mut table = Table::default();
        table.commit(1..=10);
        // The first consumer reads the ten events from the table; three more find
        // them kept, without a read.
        let first = read_through(&tail, &mut table, 0, 50).await;
        assert!(first.from_table);
        assert_eq!(seqs(&first), (1..=10).collect::<Vec<_>>());
        for _ in 0..3 {
            let s = read_through(&tail, &mut table, 0, 50).await;
            assert!(!s.from_table);
            assert_eq!(seqs(&s), (1..=10).collect::<Vec<_>>());
        }
        assert_eq!(table.reads, 1);
        // A consumer further on gets the rest of the kept read, bounded by its limit.
        assert_eq!(seqs(&read_through(&tail, &mut table, 7, 2).await), [8, 9]);
        // Past the end, the table answers, and the run grows by that read.
        table.commit(11..=12);
        let s = read_through(&tail, &mut table, 10, 50).await;
        assert!(s.from_table);
        assert_eq!(seqs(&s), [11, 12]);
        assert_eq!(
            seqs(&read_through(&tail, &mut table, 10, 50).await),
            [11, 12]
        );
        assert_eq!(table.reads, 2);
    }

    #[tokio::test]
    async fn a_hole_is_never_kept_so_a_late_commit_is_not_missed() {
        let tail = OutboxTail::new(100);
        let mut table = Table::default();
        table.commit([1, 2, 4]);
        assert_eq!(
            seqs(&read_through(&tail, &mut table, 0, 10).await),
            [1, 2, 4]
        );
        // 3 commits late: a reader after 2 must see it.
        table.commit([3]);
        assert_eq!(seqs(&read_through(&tail, &mut table, 2, 10).await), [3, 4]);
        assert_eq!(seqs(&read_through(&tail, &mut table, 0, 10).await), [1, 2]);
    }

    #[tokio::test]
    async fn the_run_keeps_about_its_bound() {
        let tail = OutboxTail::new(10);
        let mut table = Table::default();
        for n in 0..5 {
            table.commit(n * 4 + 1..=n * 4 + 4);
            read_through(&tail, &mut table, n * 4, 100).await;
        }
        let kept: usize = tail.lock().iter().map(|k| k.consecutive).sum();
        assert!(kept <= 10, "{kept} kept");
        assert_eq!(tail.lock().back().map(Kept::last), Some(20));
        // The oldest reads are gone: asking for them reads the table again.
        let before = table.reads;
        read_through(&tail, &mut table, 0, 100).await;
        assert_eq!(table.reads, before + 1);
    }
}
