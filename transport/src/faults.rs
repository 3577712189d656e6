//! Fault filters: partitions, isolation, random drops, delays and duplicates.
//!
//! One [`Faults`] handle is shared by every transport of a test cluster (or a chaos run);
//! each request consults it on the sending side, so a partition cuts both directions.
//! Every random choice comes from one seeded generator ([`Faults::with_seed`]).
//!
//! What the caller sees:
//! - cut by a partition or isolation: [`Error::Unreachable`] at once, nothing delivered;
//! - dropped: [`Error::Timeout`] when its timeout ends. Half of the drops lose the request
//!   (the handler never runs), half lose the response (the handler ran);
//! - delayed: the delay counts against the request's timeout;
//! - duplicated: the handler runs twice, the caller gets one response.
//!
//! Streams ([`crate::StreamSender`], [`crate::StreamReceiver`]) are filtered when opened
//! (a cut fails the open with [`Error::Unreachable`], a delay delays it, a drop makes it
//! time out; duplicates do not apply) and while open: both ends watch the filters, and a
//! partition or isolation that starts later breaks the stream (the next or pending `send`
//! or `recv` fails with [`Error::Unreachable`], and the peer's with an error too). Healing
//! does not mend a broken stream. Frames of an open stream are never dropped, delayed or
//! duplicated: a stream is reliable and ordered, as QUIC makes it.

use std::collections::BTreeSet;
use std::future::Future;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::NodeId;
use crate::error::Error;

/// A shared, cheaply cloned set of fault filters.
#[derive(Clone)]
pub struct Faults {
    inner: Arc<Mutex<State>>,
    /// Bumped whenever partitions or isolations change, so open streams re-check.
    changes: Arc<watch::Sender<u64>>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            inner: Arc::default(),
            changes: Arc::new(watch::Sender::new(0)),
        }
    }
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.inner.lock();
        f.debug_struct("Faults")
            .field("partitions", &s.partitions)
            .field("isolated", &s.isolated)
            .field("drop_rate", &s.drop_rate)
            .field("duplicate_rate", &s.duplicate_rate)
            .field("delay", &s.delay)
            .finish()
    }
}

#[derive(Default)]
struct State {
    partitions: Vec<(BTreeSet<NodeId>, BTreeSet<NodeId>)>,
    isolated: BTreeSet<NodeId>,
    drop_rate: f64,
    duplicate_rate: f64,
    delay: Option<(Duration, Duration)>,
    rng: SplitMix64,
}

/// SplitMix64: tiny, seedable, and stable across dependency upgrades.
#[derive(Default)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.next_f64() < p
    }
}

/// Which half of a round trip a drop loses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lost {
    Request,
    Response,
}

/// What the filters decided for one request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Cut(String),
    Deliver {
        delay: Duration,
        lost: Option<Lost>,
        duplicate: bool,
    },
}

impl Faults {
    /// No faults; the random generator seeded with 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// No faults; the random generator seeded with `seed`.
    pub fn with_seed(seed: u64) -> Self {
        let f = Self::default();
        f.inner.lock().rng = SplitMix64(seed);
        f
    }

    /// Cuts traffic between every node of `a` and every node of `b`, both ways.
    pub fn partition(&self, a: &[NodeId], b: &[NodeId]) {
        self.inner
            .lock()
            .partitions
            .push((a.iter().copied().collect(), b.iter().copied().collect()));
        self.changed();
    }

    /// Cuts all traffic to and from `node` (its requests to itself still pass).
    pub fn isolate(&self, node: NodeId) {
        self.inner.lock().isolated.insert(node);
        self.changed();
    }

    /// Removes every partition and isolation.
    pub fn heal(&self) {
        {
            let mut s = self.inner.lock();
            s.partitions.clear();
            s.isolated.clear();
        }
        self.changed();
    }

    /// Drops each request with probability `p` (0 turns drops off).
    pub fn drop_rate(&self, p: f64) {
        self.inner.lock().drop_rate = p.clamp(0.0, 1.0);
    }

    /// Delivers each request twice with probability `p`; the second reply is discarded.
    pub fn duplicate_rate(&self, p: f64) {
        self.inner.lock().duplicate_rate = p.clamp(0.0, 1.0);
    }

    /// Delays each request by a uniformly drawn duration in `range` (e.g. `d..=d` for a
    /// fixed delay, `Duration::ZERO..Duration::ZERO` for none).
    pub fn delay(&self, range: impl RangeBounds<Duration>) {
        let lo = match range.start_bound() {
            Bound::Included(d) | Bound::Excluded(d) => *d,
            Bound::Unbounded => Duration::ZERO,
        };
        let hi = match range.end_bound() {
            Bound::Included(d) | Bound::Excluded(d) => *d,
            Bound::Unbounded => lo,
        }
        .max(lo);
        self.inner.lock().delay = (!hi.is_zero()).then_some((lo, hi));
    }

    /// Removes every fault (the random generator keeps its position).
    pub fn clear(&self) {
        let mut s = self.inner.lock();
        s.partitions.clear();
        s.isolated.clear();
        s.drop_rate = 0.0;
        s.duplicate_rate = 0.0;
        s.delay = None;
        drop(s);
        self.changed();
    }

    /// Whether traffic between `a` and `b` is cut by a partition or an isolation.
    pub fn is_cut(&self, a: NodeId, b: NodeId) -> bool {
        cut_reason(&self.inner.lock(), a, b).is_some()
    }

    /// Why traffic between `a` and `b` is cut, if it is.
    pub(crate) fn cut(&self, a: NodeId, b: NodeId) -> Option<String> {
        cut_reason(&self.inner.lock(), a, b)
    }

    /// Wakes whenever partitions or isolations change.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn decide(&self, from: NodeId, to: NodeId) -> Verdict {
        let mut s = self.inner.lock();
        if let Some(reason) = cut_reason(&s, from, to) {
            return Verdict::Cut(reason);
        }
        let delay = match s.delay {
            Some((lo, hi)) if hi > lo => {
                let span = (hi - lo).as_nanos() as f64;
                lo + Duration::from_nanos((s.rng.next_f64() * span) as u64)
            }
            Some((lo, _)) => lo,
            None => Duration::ZERO,
        };
        let drop_rate = s.drop_rate;
        let lost = if s.rng.chance(drop_rate) {
            Some(if s.rng.next_u64() & 1 == 0 {
                Lost::Request
            } else {
                Lost::Response
            })
        } else {
            None
        };
        let duplicate_rate = s.duplicate_rate;
        let duplicate = s.rng.chance(duplicate_rate);
        Verdict::Deliver {
            delay,
            lost,
            duplicate,
        }
    }
}

fn cut_reason(s: &State, a: NodeId, b: NodeId) -> Option<String> {
    if a == b {
        return None;
    }
    for n in [a, b] {
        if s.isolated.contains(&n) {
            return Some(format!("node {n} is isolated"));
        }
    }
    s.partitions
        .iter()
        .any(|(x, y)| (x.contains(&a) && y.contains(&b)) || (x.contains(&b) && y.contains(&a)))
        .then(|| format!("partition between {a} and {b}"))
}

/// Admits the opening of a stream: a cut fails it, a delay delays it, a drop never
/// completes (the caller's timeout ends it). Duplicates do not apply to streams.
pub(crate) async fn admit_stream(faults: &Faults, from: NodeId, to: NodeId) -> Result<(), Error> {
    match faults.decide(from, to) {
        Verdict::Cut(reason) => Err(Error::Unreachable { node: to, reason }),
        Verdict::Deliver { delay, lost, .. } => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if lost.is_some() {
                return std::future::pending().await;
            }
            Ok(())
        }
    }
}

/// Runs one request through the filters. `send` delivers it once (it is called twice for
/// a duplicate); the caller bounds the whole by its timeout, which a drop runs into.
pub(crate) async fn deliver<F, Fut>(
    faults: &Faults,
    from: NodeId,
    to: NodeId,
    send: F,
) -> Result<Bytes, Error>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Bytes, Error>> + Send + 'static,
{
    match faults.decide(from, to) {
        Verdict::Cut(reason) => Err(Error::Unreachable { node: to, reason }),
        Verdict::Deliver {
            delay,
            lost,
            duplicate,
        } => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if lost == Some(Lost::Request) {
                return std::future::pending().await;
            }
            if duplicate {
                let twin = send();
                tokio::spawn(async move {
                    let _ = twin.await;
                });
            }
            let reply = send().await;
            if lost == Some(Lost::Response) {
                return std::future::pending().await;
            }
            reply
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_cut_both_ways_and_heal() {
        let f = Faults::new();
        f.partition(&[1], &[2, 3]);
        assert!(f.is_cut(1, 2) && f.is_cut(3, 1));
        assert!(!f.is_cut(2, 3));
        f.isolate(4);
        assert!(f.is_cut(4, 2) && f.is_cut(2, 4) && !f.is_cut(4, 4));
        f.heal();
        assert!(!f.is_cut(1, 2) && !f.is_cut(4, 2));
    }

    #[test]
    fn same_seed_same_decisions() {
        let run = |seed| {
            let f = Faults::with_seed(seed);
            f.drop_rate(0.3);
            f.duplicate_rate(0.2);
            f.delay(Duration::from_millis(1)..Duration::from_millis(9));
            (0..200).map(|_| f.decide(1, 2)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let drops = run(7)
            .iter()
            .filter(|v| matches!(v, Verdict::Deliver { lost: Some(_), .. }))
            .count();
        assert!((30..90).contains(&drops), "{drops} drops of 200 at p=0.3");
    }

    #[test]
    fn delay_range_is_respected() {
        let f = Faults::with_seed(1);
        f.delay(Duration::from_millis(5)..=Duration::from_millis(5));
        assert!(
            matches!(f.decide(1, 2), Verdict::Deliver { delay, .. } if delay == Duration::from_millis(5))
        );
        f.delay(Duration::from_millis(2)..Duration::from_millis(4));
        for _ in 0..100 {
            let Verdict::Deliver { delay, .. } = f.decide(1, 2) else {
                panic!()
            };
            assert!(delay >= Duration::from_millis(2) && delay <= Duration::from_millis(4));
        }
        f.clear();
        assert!(
            matches!(f.decide(1, 2), Verdict::Deliver { delay, lost: None, duplicate: false } if delay.is_zero())
        );
    }
}
