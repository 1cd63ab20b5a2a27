//! The order of a waiting room behind a port. Its operations are those of a Redis
//! sorted set per show (`ZADD NX`, `ZRANK`, `ZCARD`, `ZPOPMIN`, `ZREM`, `ZADD XX`), so
//! a scaled-out adapter keeps the same semantics with one key per show.
//!
//! The in-process adapter keeps members in score order with a Fenwick tree over who
//! is still waiting, so "people ahead" is O(log n) even with 100,000 waiting.
use boxoffice_domain::{ShowId, UserId};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// An ordered set of waiting members per show; lower scores come first.
pub trait QueueEngine: Send + Sync {
    /// `ZADD NX`: adds `member` at `score` unless it is there; whether it was added.
    fn add(&self, show: ShowId, member: UserId, score: u64) -> bool;
    /// `ZRANK`: how many wait ahead of `member`; `None` when it is not waiting.
    fn rank(&self, show: ShowId, member: UserId) -> Option<u64>;
    /// `ZCARD`: how many wait.
    fn len(&self, show: ShowId) -> u64;
    /// `ZPOPMIN`: removes and returns up to `n` members from the front.
    fn pop_front(&self, show: ShowId, n: u64) -> Vec<UserId>;
    /// `ZRANGE 0 n-1`: up to `n` members from the front, left where they are.
    fn front(&self, show: ShowId, n: u64) -> Vec<UserId>;
    /// `ZREM`: whether `member` was waiting.
    fn remove(&self, show: ShowId, member: UserId) -> bool;
    /// `ZADD XX` for many: gives waiting members new scores (the draw at opening).
    fn rescore(&self, show: ShowId, scores: &[(UserId, u64)]);
    /// Forgets a show's queue.
    fn clear(&self, show: ShowId);
}

pub type DynQueueEngine = Arc<dyn QueueEngine>;

/// Prefix sums over 0/1 flags that grow at the end: O(log n) push, set and sum.
#[derive(Default)]
struct Fenwick {
    /// 1-based; `tree[0]` unused.
    tree: Vec<i64>,
}

impl Fenwick {
    fn len(&self) -> usize {
        self.tree.len().saturating_sub(1)
    }

    /// Sum of the first `n` values.
    fn prefix(&self, mut n: usize) -> i64 {
        let mut sum = 0;
        while n > 0 {
            sum += self.tree[n];
            n &= n - 1;
        }
        sum
    }

    fn push(&mut self, value: i64) {
        if self.tree.is_empty() {
            self.tree.push(0);
        }
        let i = self.tree.len();
        let low = i & i.wrapping_neg();
        let node = value + self.prefix(i - 1) - self.prefix(i - low);
        self.tree.push(node);
    }

    fn add(&mut self, index: usize, delta: i64) {
        let mut i = index + 1;
        while i <= self.len() {
            self.tree[i] += delta;
            i += i & i.wrapping_neg();
        }
    }
}

/// One show's order: slots in score order, who is still waiting, and where.
#[derive(Default)]
struct Order {
    slots: Vec<(u64, UserId)>,
    waiting: Fenwick,
    index: HashMap<UserId, usize>,
    /// Slots before this one are all gone.
    head: usize,
}

impl Order {
    fn rebuild(&mut self, mut members: Vec<(u64, UserId)>) {
        members.sort_unstable();
        *self = Order::default();
        for (score, member) in members {
            self.append(score, member);
        }
    }

    fn append(&mut self, score: u64, member: UserId) {
        self.index.insert(member, self.slots.len());
        self.slots.push((score, member));
        self.waiting.push(1);
    }

    fn members(&self) -> Vec<(u64, UserId)> {
        self.index.values().map(|i| self.slots[*i]).collect()
    }

    fn take(&mut self, member: UserId) -> bool {
        match self.index.remove(&member) {
            Some(i) => {
                self.waiting.add(i, -1);
                true
            }
            None => false,
        }
    }

    /// Drops the consumed front once it is most of the vector.
    fn compact(&mut self) {
        if self.head > 4096 && self.head * 2 > self.slots.len() {
            let members = self.members();
            self.rebuild(members);
        }
    }
}

/// The in-process adapter.
#[derive(Default)]
pub struct LocalQueueEngine {
    shows: Mutex<HashMap<ShowId, Arc<Mutex<Order>>>>,
}

impl LocalQueueEngine {
    fn order(&self, show: ShowId) -> Arc<Mutex<Order>> {
        self.shows.lock().entry(show).or_default().clone()
    }
}

impl QueueEngine for LocalQueueEngine {
    fn add(&self, show: ShowId, member: UserId, score: u64) -> bool {
        let order = self.order(show);
        let mut o = order.lock();
        if o.index.contains_key(&member) {
            return false;
        }
        match o.slots.last() {
            Some((last, _)) if *last > score => {
                // Out of order (rare: joins are numbered in order): re-sort.
                let mut members = o.members();
                members.push((score, member));
                o.rebuild(members);
            }
            _ => o.append(score, member),
        }
        true
    }

    fn rank(&self, show: ShowId, member: UserId) -> Option<u64> {
        let order = self.order(show);
        let o = order.lock();
        let i = *o.index.get(&member)?;
        u64::try_from(o.waiting.prefix(i)).ok()
    }

    fn len(&self, show: ShowId) -> u64 {
        self.order(show).lock().index.len() as u64
    }

    fn pop_front(&self, show: ShowId, n: u64) -> Vec<UserId> {
        let order = self.order(show);
        let mut o = order.lock();
        let mut out = Vec::new();
        while (out.len() as u64) < n && o.head < o.slots.len() {
            let (_, member) = o.slots[o.head];
            if o.index.get(&member) == Some(&o.head) {
                o.take(member);
                out.push(member);
            }
            o.head += 1;
        }
        o.compact();
        out
    }

    fn front(&self, show: ShowId, n: u64) -> Vec<UserId> {
        let order = self.order(show);
        let o = order.lock();
        o.slots[o.head..]
            .iter()
            .enumerate()
            .filter(|(i, (_, m))| o.index.get(m) == Some(&(o.head + i)))
            .map(|(_, (_, m))| *m)
            .take(usize::try_from(n).unwrap_or(usize::MAX))
            .collect()
    }

    fn remove(&self, show: ShowId, member: UserId) -> bool {
        self.order(show).lock().take(member)
    }

    fn rescore(&self, show: ShowId, scores: &[(UserId, u64)]) {
        let order = self.order(show);
        let mut o = order.lock();
        let new: HashMap<UserId, u64> = scores.iter().copied().collect();
        let members = o
            .members()
            .into_iter()
            .map(|(score, m)| (new.get(&m).copied().unwrap_or(score), m))
            .collect();
        o.rebuild(members);
    }

    fn clear(&self, show: ShowId) {
        self.shows.lock().remove(&show);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn users(n: usize) -> Vec<UserId> {
        (0..n).map(|_| UserId::new()).collect()
    }

    #[test]
    fn fifo_ranks_pops_and_removals() {
        let e = LocalQueueEngine::default();
        let show = ShowId::new();
        let u = users(5);
        for (i, m) in u.iter().enumerate() {
            assert!(e.add(show, *m, i as u64));
        }
        assert!(!e.add(show, u[0], 99), "one place per member");
        assert_eq!(e.rank(show, u[3]), Some(3));
        assert!(e.remove(show, u[1]));
        assert!(!e.remove(show, u[1]));
        assert_eq!(e.rank(show, u[3]), Some(2));
        assert_eq!(e.front(show, 2), vec![u[0], u[2]]);
        assert_eq!(e.pop_front(show, 2), vec![u[0], u[2]]);
        assert_eq!(e.rank(show, u[3]), Some(0));
        assert_eq!(e.rank(show, u[0]), None);
        assert_eq!(e.len(show), 2);
        e.rescore(show, &[(u[4], 0)]);
        assert_eq!(e.pop_front(show, 10), vec![u[4], u[3]]);
        assert_eq!(e.len(show), 0);
    }

    proptest! {
        /// The engine agrees with a sorted list under any mix of operations.
        #[test]
        fn agrees_with_a_plain_model(ops in proptest::collection::vec((0..4u8, 0..40usize, 0..5u64), 1..300)) {
            let e = LocalQueueEngine::default();
            let show = ShowId::new();
            let u = users(40);
            let mut model: Vec<(u64, usize)> = Vec::new();
            let mut next = 0u64;
            for (op, who, n) in ops {
                match op {
                    0 => {
                        next += 1;
                        let added = e.add(show, u[who], next);
                        let fresh = !model.iter().any(|(_, m)| *m == who);
                        prop_assert_eq!(added, fresh);
                        if fresh { model.push((next, who)); }
                    }
                    1 => {
                        let seen = e.front(show, n);
                        let popped = e.pop_front(show, n);
                        model.sort_unstable();
                        let k = (n as usize).min(model.len());
                        let expected: Vec<UserId> = model.drain(..k).map(|(_, m)| u[m]).collect();
                        prop_assert_eq!(&seen, &expected);
                        prop_assert_eq!(popped, expected);
                    }
                    2 => {
                        let removed = e.remove(show, u[who]);
                        let before = model.len();
                        model.retain(|(_, m)| *m != who);
                        prop_assert_eq!(removed, before != model.len());
                    }
                    _ => {
                        model.sort_unstable();
                        let expected = model.iter().position(|(_, m)| *m == who).map(|p| p as u64);
                        prop_assert_eq!(e.rank(show, u[who]), expected);
                    }
                }
                prop_assert_eq!(e.len(show), model.len() as u64);
            }
        }
    }
}
