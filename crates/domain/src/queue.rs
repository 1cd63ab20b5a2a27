//! The rules of a waiting room: which methods and states a queue has, which moves
//! between states are legal, who may join when, and the auditable draw.
//!
//! The draw is what makes the start fair and checkable. Its algorithm is fixed here
//! and documented so anyone can recompute an order from the published seed:
//!
//! 1. `rng = ChaCha20(key = seed (32 bytes), nonce = 0, block counter from 0)`; each
//!    draw is the next 64-bit word, little-endian, of its key stream (`rand_chacha`'s
//!    `ChaCha20Rng::from_seed(seed).next_u64()`).
//! 2. A uniform index below `bound` is `x % bound` of the first draw `x` that is below
//!    `(u64::MAX / bound) * bound` (rejection, so no index is favoured).
//! 3. Fisher–Yates (Durstenfeld): for `i` from `n - 1` down to `1`, swap the items at
//!    `i` and at a uniform index below `i + 1`.
//!
//! The participants, in the order they joined, are shuffled; the result is the
//! queue order (random at opening) or, for a lottery, the winners first.
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How places are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueMethod {
    /// First come, first served.
    Fifo,
    /// Whoever joined in the pre-queue window is ordered at random at opening;
    /// later arrivals are first come, first served.
    RandomAtOpening,
    /// Registration until opening; then a draw picks the winners, the others lose.
    Lottery,
    /// Nobody waits: a join is admitted at once.
    Passthrough,
}

impl QueueMethod {
    pub const ALL: [QueueMethod; 4] = [
        QueueMethod::Fifo,
        QueueMethod::RandomAtOpening,
        QueueMethod::Lottery,
        QueueMethod::Passthrough,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueMethod::Fifo => "fifo",
            QueueMethod::RandomAtOpening => "random_at_opening",
            QueueMethod::Lottery => "lottery",
            QueueMethod::Passthrough => "passthrough",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether the opening shuffles who joined before it.
    pub fn draws(self) -> bool {
        matches!(self, QueueMethod::RandomAtOpening | QueueMethod::Lottery)
    }
}

/// The life of a queue as its organizer steers it. Before `opens_at` a scheduled
/// queue takes joins (pre-queue) but admits nobody.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueState {
    /// Admitting at the configured pace (or waiting for `opens_at`).
    Open,
    /// Joins go on, nobody is admitted.
    Paused,
    /// No new joins; those waiting are still admitted.
    Draining,
    /// No joins, no admissions; passes already issued stay valid until they expire.
    Closed,
}

/// What an organizer does to a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueAction {
    Pause,
    Resume,
    Drain,
    Close,
}

impl QueueState {
    pub const ALL: [QueueState; 4] = [
        QueueState::Open,
        QueueState::Paused,
        QueueState::Draining,
        QueueState::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueState::Open => "open",
            QueueState::Paused => "paused",
            QueueState::Draining => "draining",
            QueueState::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The state after `action`, or `None` when the move is not legal.
    pub fn apply(self, action: QueueAction) -> Option<QueueState> {
        use QueueAction as A;
        use QueueState as S;
        match (self, action) {
            (S::Open, A::Pause) => Some(S::Paused),
            (S::Paused, A::Resume) => Some(S::Open),
            (S::Open | S::Paused, A::Drain) => Some(S::Draining),
            (S::Open | S::Paused | S::Draining, A::Close) => Some(S::Closed),
            _ => None,
        }
    }

    /// Whether the admission task lets people in.
    pub fn admits(self) -> bool {
        matches!(self, QueueState::Open | QueueState::Draining)
    }
}

/// Why a join is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JoinRefusal {
    #[error("the queue opens for joining at {opens_for_joining_ms} (epoch ms)")]
    NotYet { opens_for_joining_ms: i64 },
    #[error("the queue is {0} and takes no new places")]
    Closed(&'static str),
    #[error("registration for the lottery closed when the draw was made")]
    LotteryDrawn,
    #[error("the queue is full ({0} places)")]
    Full(u64),
}

/// When and how a queue takes joins, from its settings.
#[derive(Clone, Copy, Debug)]
pub struct JoinWindow {
    pub method: QueueMethod,
    pub state: QueueState,
    pub opens_at_ms: i64,
    /// How long before `opens_at` joins are taken (lotteries register from creation).
    pub pre_queue_ms: i64,
    pub drawn: bool,
    pub max_size: u64,
}

impl JoinWindow {
    /// Whether a join at `now_ms` is taken when `size` places are waiting; `Ok(true)`
    /// when the joiner is in the pre-queue (ordered by the draw at opening).
    pub fn check(&self, now_ms: i64, size: u64) -> Result<bool, JoinRefusal> {
        match self.state {
            QueueState::Draining | QueueState::Closed => {
                return Err(JoinRefusal::Closed(self.state.as_str()))
            }
            QueueState::Open | QueueState::Paused => {}
        }
        let before_opening = now_ms < self.opens_at_ms;
        if self.method == QueueMethod::Lottery {
            if self.drawn || !before_opening {
                return Err(JoinRefusal::LotteryDrawn);
            }
        } else if before_opening && now_ms < self.opens_at_ms - self.pre_queue_ms {
            return Err(JoinRefusal::NotYet {
                opens_for_joining_ms: self.opens_at_ms - self.pre_queue_ms,
            });
        }
        if size >= self.max_size {
            return Err(JoinRefusal::Full(self.max_size));
        }
        Ok(before_opening && self.method.draws())
    }
}

/// The published commitment to a seed: hex SHA-256 of its 32 bytes. Shown before
/// the draw, so the seed revealed after it cannot have been picked to suit anyone.
pub fn seed_commitment(seed: &[u8; 32]) -> String {
    hex::encode(Sha256::digest(seed))
}

/// A uniform index below `bound` (`bound >= 1`), by rejection (see the module doc).
fn uniform_below(rng: &mut ChaCha20Rng, bound: u64) -> u64 {
    let limit = (u64::MAX / bound) * bound;
    loop {
        let x = rng.next_u64();
        if x < limit {
            return x % bound;
        }
    }
}

/// Shuffles `items` in place with the published algorithm (see the module doc).
pub fn seeded_shuffle<T>(items: &mut [T], seed: &[u8; 32]) {
    let mut rng = ChaCha20Rng::from_seed(*seed);
    for i in (1..items.len()).rev() {
        let j = uniform_below(&mut rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// A lottery: `entrants` in join order, shuffled; the first `winners` win, in the
/// order they will be admitted. Returns (winners, losers).
pub fn lottery_draw<T: Clone>(entrants: &[T], winners: usize, seed: &[u8; 32]) -> (Vec<T>, Vec<T>) {
    let mut order = entrants.to_vec();
    seeded_shuffle(&mut order, seed);
    let losers = order.split_off(winners.min(order.len()));
    (order, losers)
}

/// How many may be admitted in a step of `elapsed_ms` at `per_sec`, carrying the
/// fraction over: a token bucket holding at most one step's worth plus one, so the
/// pace never exceeds the rate by more than a single buyer, whatever the ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pace {
    /// Admissions owed, in thousandths of a buyer.
    credit_milli: u64,
}

impl Pace {
    /// Admissions allowed now; `cap_ms` bounds how much unused time counts (a paused
    /// queue does not save up a burst).
    pub fn allow(&mut self, per_sec: u32, elapsed_ms: u64, cap_ms: u64) -> u64 {
        let earned = u64::from(per_sec).saturating_mul(elapsed_ms.min(cap_ms));
        let ceiling = u64::from(per_sec).saturating_mul(cap_ms).max(1000);
        self.credit_milli = (self.credit_milli + earned).min(ceiling);
        let whole = self.credit_milli / 1000;
        self.credit_milli -= whole * 1000;
        whole
    }
}

/// How long a waiting buyer goes between looks at its place, in milliseconds: a
/// tenth of its estimated wait, so the estimate it sees is never more than 10 %
/// stale, between `base_ms` and `max_ms` (never below `base_ms`). Near the front it
/// is `base_ms`, so a pass is seen quickly; far back it is longer, so 100,000 people
/// waiting cost a fraction of the polls (or stream updates) a fixed pace would. A
/// zero base means no pacing at all.
pub fn look_again_after_ms(base_ms: u64, estimated_wait_secs: Option<u64>, max_ms: u64) -> u64 {
    if base_ms == 0 {
        return 0;
    }
    let tenth = estimated_wait_secs.map_or(0, |s| s.saturating_mul(100));
    tenth.min(max_ms).max(base_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_core::RngCore;

    #[test]
    fn a_long_wait_is_looked_at_less_often() {
        // 5 s base, 30 s at most: near the front and unknown waits keep the base.
        assert_eq!(look_again_after_ms(5_000, None, 30_000), 5_000);
        assert_eq!(look_again_after_ms(5_000, Some(20), 30_000), 5_000);
        assert_eq!(look_again_after_ms(5_000, Some(120), 30_000), 12_000);
        assert_eq!(look_again_after_ms(5_000, Some(3_600), 30_000), 30_000);
        assert_eq!(look_again_after_ms(0, Some(3_600), 30_000), 0, "no pacing");
        assert_eq!(look_again_after_ms(60_000, Some(3_600), 30_000), 60_000);
    }

    proptest! {
        #[test]
        fn the_pace_stays_within_its_bounds_and_grows_with_the_wait(
            base in 1u64..10_000, max in 1u64..100_000, a in 0u64..100_000, b in 0u64..100_000,
        ) {
            let (short, long) = (a.min(b), a.max(b));
            let p = look_again_after_ms(base, Some(short), max);
            let q = look_again_after_ms(base, Some(long), max);
            prop_assert!(p >= base && q >= base);
            prop_assert!(p <= max.max(base) && q <= max.max(base));
            prop_assert!(p <= q);
            // Never more than a tenth of the wait beyond the base.
            prop_assert!(p <= base.max(short * 100));
        }
    }

    #[test]
    fn the_shuffle_is_pinned_to_its_published_algorithm() {
        // Reference values: a change here breaks everyone's recomputation.
        let mut v: Vec<u32> = (0..10).collect();
        seeded_shuffle(&mut v, &[0u8; 32]);
        let mut again: Vec<u32> = (0..10).collect();
        seeded_shuffle(&mut again, &[0u8; 32]);
        assert_eq!(v, again);
        assert_ne!(v, (0..10).collect::<Vec<_>>());
        // The first word of ChaCha20 with an all-zero key (RFC 7539 test vector 1,
        // block 0: 76 b8 e0 ad a0 f1 3d 90 …) read little-endian.
        let mut rng = ChaCha20Rng::from_seed([0u8; 32]);
        assert_eq!(
            rng.next_u64(),
            u64::from_le_bytes([0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90])
        );
        let mut w: Vec<u32> = (0..10).collect();
        seeded_shuffle(&mut w, &[1u8; 32]);
        assert_ne!(v, w, "another seed, another order");
    }

    #[test]
    fn the_shuffle_matches_a_plain_reimplementation() {
        // The module doc, followed literally with nothing but the key stream.
        let seed = [42u8; 32];
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut expected: Vec<usize> = (0..100).collect();
        let mut i = expected.len() - 1;
        while i >= 1 {
            let bound = i as u64 + 1;
            let j = loop {
                let x = rng.next_u64();
                if x < (u64::MAX / bound) * bound {
                    break (x % bound) as usize;
                }
            };
            expected.swap(i, j);
            i -= 1;
        }
        let mut got: Vec<usize> = (0..100).collect();
        seeded_shuffle(&mut got, &seed);
        assert_eq!(got, expected);
    }

    #[test]
    fn the_shuffle_is_close_to_uniform() {
        // Position of item 0 after shuffling 4 items, over many seeds.
        let mut counts = [0u32; 4];
        for s in 0..4000u32 {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&s.to_le_bytes());
            let mut v = [0, 1, 2, 3];
            seeded_shuffle(&mut v, &seed);
            counts[v.iter().position(|x| *x == 0).unwrap()] += 1;
        }
        for c in counts {
            assert!((850..1150).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn lottery_picks_winners_from_the_shuffle() {
        let entrants: Vec<u32> = (0..50).collect();
        let seed = [3u8; 32];
        let (winners, losers) = lottery_draw(&entrants, 10, &seed);
        assert_eq!((winners.len(), losers.len()), (10, 40));
        let mut order = entrants.clone();
        seeded_shuffle(&mut order, &seed);
        assert_eq!(winners, order[..10]);
        let (all, none) = lottery_draw(&entrants, 80, &seed);
        assert_eq!((all.len(), none.len()), (50, 0));
        assert_eq!(seed_commitment(&seed).len(), 64);
    }

    #[test]
    fn state_moves() {
        use QueueAction as A;
        use QueueState as S;
        assert_eq!(S::Open.apply(A::Pause), Some(S::Paused));
        assert_eq!(S::Paused.apply(A::Resume), Some(S::Open));
        assert_eq!(S::Paused.apply(A::Drain), Some(S::Draining));
        assert_eq!(S::Draining.apply(A::Close), Some(S::Closed));
        assert_eq!(S::Closed.apply(A::Resume), None);
        assert_eq!(S::Draining.apply(A::Resume), None);
        assert_eq!(S::Open.apply(A::Resume), None);
        assert!(S::Draining.admits() && !S::Paused.admits() && !S::Closed.admits());
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
        for m in QueueMethod::ALL {
            assert_eq!(QueueMethod::parse(m.as_str()), Some(m));
        }
    }

    #[test]
    fn join_windows() {
        let w = JoinWindow {
            method: QueueMethod::RandomAtOpening,
            state: QueueState::Open,
            opens_at_ms: 100_000,
            pre_queue_ms: 10_000,
            drawn: false,
            max_size: 2,
        };
        assert_eq!(
            w.check(80_000, 0),
            Err(JoinRefusal::NotYet {
                opens_for_joining_ms: 90_000
            })
        );
        assert_eq!(w.check(95_000, 0), Ok(true), "pre-queue");
        assert_eq!(w.check(100_000, 1), Ok(false), "after opening: FIFO");
        assert_eq!(w.check(100_000, 2), Err(JoinRefusal::Full(2)));
        let fifo = JoinWindow {
            method: QueueMethod::Fifo,
            ..w
        };
        assert_eq!(fifo.check(95_000, 0), Ok(false));
        let lottery = JoinWindow {
            method: QueueMethod::Lottery,
            ..w
        };
        assert_eq!(lottery.check(0, 0), Ok(true), "registration from the start");
        assert_eq!(lottery.check(100_000, 0), Err(JoinRefusal::LotteryDrawn));
        let closed = JoinWindow {
            state: QueueState::Draining,
            ..w
        };
        assert_eq!(
            closed.check(100_000, 0),
            Err(JoinRefusal::Closed("draining"))
        );
    }

    proptest! {
        #[test]
        fn a_shuffle_is_a_permutation(n in 0..300usize, seed in any::<[u8; 32]>()) {
            let mut v: Vec<usize> = (0..n).collect();
            seeded_shuffle(&mut v, &seed);
            let mut sorted = v.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sorted, (0..n).collect::<Vec<_>>());
        }

        #[test]
        fn the_pace_never_exceeds_the_rate(per_sec in 1..5000u32, steps in proptest::collection::vec(0..400u64, 1..200)) {
            let mut pace = Pace::default();
            let (mut admitted, mut elapsed) = (0u64, 0u64);
            for step in steps {
                elapsed += step;
                admitted += pace.allow(per_sec, step, 1000);
                // At most the rate over the elapsed time, plus one buyer.
                prop_assert!(admitted * 1000 <= u64::from(per_sec) * elapsed + 1000,
                    "{} admitted in {} ms at {}/s", admitted, elapsed, per_sec);
            }
        }
    }
}
