//! The work queue of one controller: keys of objects to reconcile, each at most once, each
//! due at a time. Pure: the caller passes the clock.
//!
//! - **De-duplication.** A key queued twice is queued once, due at the earlier of the two
//!   times (kube-runtime's scheduler does the same).
//! - **One reconcile per key at a time.** A key being reconciled is *running*; a push for it
//!   then marks it to run again once the running reconcile finishes, never concurrently.
//! - **Bounded.** At most `capacity` keys, queued and running together. Past it a new key is
//!   refused ([`Pushed::Full`]): the caller counts the drop and later re-reads its index
//!   from a cursor (every controller's work is in an index, so nothing is lost, only late).
//!   A key already queued or running is always accepted: it takes no new slot.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use super::backoff::Backoff;

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Added,
    /// Already queued: one entry, due at the earlier time.
    Merged,
    /// Running: it runs again after the running reconcile.
    Deferred,
    /// The queue is full: not queued.
    Full,
}

/// How a reconcile ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Succeeded; run again after this long, or only on the next change (`None`).
    Done(Option<Duration>),
    /// Failed: retried after the back-off of its consecutive failures.
    Failed,
}

#[derive(Debug, Clone, Copy)]
struct Queued {
    due: Instant,
    attempts: u32,
}

#[derive(Debug, Clone, Copy)]
struct Running {
    attempts: u32,
    again: Option<Instant>,
}

#[derive(Debug)]
pub struct WorkQueue {
    capacity: usize,
    retry: Backoff,
    queued: HashMap<String, Queued>,
    by_due: BTreeSet<(Instant, String)>,
    running: HashMap<String, Running>,
}

impl WorkQueue {
    pub fn new(capacity: usize, retry: Backoff) -> Self {
        Self {
            capacity: capacity.max(1),
            retry,
            queued: HashMap::new(),
            by_due: BTreeSet::new(),
            running: HashMap::new(),
        }
    }

    /// Keys held, queued and running.
    pub fn len(&self) -> usize {
        self.queued.len() + self.running.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Slots free for new keys.
    pub fn room(&self) -> usize {
        self.capacity.saturating_sub(self.len())
    }

    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Asks for `key` to be reconciled at `at` (or earlier, if already asked).
    pub fn push(&mut self, key: &str, at: Instant) -> Pushed {
        if let Some(r) = self.running.get_mut(key) {
            r.again = Some(r.again.map_or(at, |a| a.min(at)));
            return Pushed::Deferred;
        }
        if let Some(q) = self.queued.get_mut(key) {
            if at < q.due {
                self.by_due.remove(&(q.due, key.to_string()));
                q.due = at;
                self.by_due.insert((at, key.to_string()));
            }
            return Pushed::Merged;
        }
        if self.len() >= self.capacity {
            return Pushed::Full;
        }
        self.insert(key.to_string(), at, 0);
        Pushed::Added
    }

    fn insert(&mut self, key: String, due: Instant, attempts: u32) {
        self.by_due.insert((due, key.clone()));
        self.queued.insert(key, Queued { due, attempts });
    }

    /// The earliest due time, if any key is queued.
    pub fn next_due(&self) -> Option<Instant> {
        self.by_due.first().map(|(t, _)| *t)
    }

    /// Takes the earliest key due at `now`, marking it running. Returns it with the number
    /// of its consecutive failures so far.
    pub fn pop(&mut self, now: Instant) -> Option<(String, u32)> {
        let (due, _) = self.by_due.first()?;
        if *due > now {
            return None;
        }
        let (_, key) = self.by_due.pop_first()?;
        let q = self.queued.remove(&key)?;
        self.running.insert(
            key.clone(),
            Running {
                attempts: q.attempts,
                again: None,
            },
        );
        Some((key, q.attempts))
    }

    /// Ends the reconcile of a running `key`: it is queued again at the earliest of what
    /// the reconcile asked, its retry, and a push that came while it ran.
    pub fn finish(&mut self, key: &str, how: Finished, now: Instant) {
        let Some(r) = self.running.remove(key) else {
            return;
        };
        let (attempts, next) = match how {
            Finished::Done(requeue) => (0, requeue.map(|d| now + d)),
            Finished::Failed => {
                let a = r.attempts.saturating_add(1);
                (a, Some(now + self.retry.delay(a)))
            }
        };
        let due = match (next, r.again) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(due) = due {
            // Its slot was held while it ran: no capacity check.
            self.insert(key.to_string(), due, attempts);
        }
    }

    /// After the task running reconciles was restarted: whatever was running is queued
    /// again, due now, keeping its failures.
    pub fn requeue_running(&mut self, now: Instant) {
        for (key, r) in std::mem::take(&mut self.running) {
            self.insert(key, now, r.attempts);
        }
    }

    /// Drops every key (this node stopped leading: the new leader has the work).
    pub fn clear(&mut self) {
        self.queued.clear();
        self.by_due.clear();
        self.running.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(cap: usize) -> WorkQueue {
        WorkQueue::new(
            cap,
            Backoff::new(Duration::from_millis(10), Duration::from_millis(80)),
        )
    }

    #[test]
    fn a_key_is_queued_once_at_the_earlier_time() {
        let t = Instant::now();
        let mut w = q(10);
        assert_eq!(w.push("a", t + Duration::from_secs(5)), Pushed::Added);
        assert_eq!(w.push("a", t + Duration::from_secs(9)), Pushed::Merged);
        assert_eq!(w.next_due(), Some(t + Duration::from_secs(5)));
        assert_eq!(w.push("a", t), Pushed::Merged);
        assert_eq!(w.len(), 1);
        assert_eq!(w.next_due(), Some(t));
        assert_eq!(w.pop(t), Some(("a".into(), 0)));
        assert_eq!(w.pop(t), None, "one entry, popped once");
    }

    #[test]
    fn keys_come_out_in_due_order_and_not_before() {
        let t = Instant::now();
        let mut w = q(10);
        w.push("late", t + Duration::from_secs(2));
        w.push("early", t + Duration::from_secs(1));
        assert_eq!(w.pop(t), None);
        assert_eq!(w.pop(t + Duration::from_secs(3)).unwrap().0, "early");
        assert_eq!(w.pop(t + Duration::from_secs(3)).unwrap().0, "late");
    }

    #[test]
    fn a_running_key_runs_again_after_never_beside() {
        let t = Instant::now();
        let mut w = q(10);
        w.push("a", t);
        let (k, _) = w.pop(t).unwrap();
        assert_eq!(w.push("a", t), Pushed::Deferred);
        assert_eq!(w.pop(t), None, "not handed out while it runs");
        assert_eq!(w.len(), 1);
        w.finish(&k, Finished::Done(None), t);
        assert_eq!(w.pop(t), Some(("a".into(), 0)), "runs again after");
        w.finish("a", Finished::Done(None), t);
        assert!(w.is_empty(), "done and not asked again: gone");
    }

    #[test]
    fn bounded_and_what_happens_past_it() {
        let t = Instant::now();
        let mut w = q(2);
        assert_eq!(w.push("a", t), Pushed::Added);
        assert_eq!(w.push("b", t), Pushed::Added);
        assert_eq!(w.push("c", t), Pushed::Full);
        // Keys already held are still accepted.
        assert_eq!(w.push("a", t), Pushed::Merged);
        // A running key holds its slot, and a requeue never fails.
        let (a, _) = w.pop(t).unwrap();
        assert_eq!(w.push("c", t), Pushed::Full);
        w.finish(&a, Finished::Done(Some(Duration::from_secs(1))), t);
        assert_eq!(w.len(), 2);
        assert_eq!(w.room(), 0);
    }

    #[test]
    fn failures_back_off_and_success_resets() {
        let t = Instant::now();
        let mut w = q(10);
        w.push("a", t);
        let mut now = t;
        let mut waits = Vec::new();
        for _ in 0..5 {
            let (k, _) = w.pop(now).unwrap();
            w.finish(&k, Finished::Failed, now);
            let due = w.next_due().unwrap();
            waits.push((due - now).as_millis());
            now = due;
        }
        assert_eq!(waits, [10, 20, 40, 80, 80]);
        let (k, attempts) = w.pop(now).unwrap();
        assert_eq!(attempts, 5);
        w.finish(&k, Finished::Done(Some(Duration::ZERO)), now);
        assert_eq!(
            w.pop(now),
            Some(("a".into(), 0)),
            "success resets the count"
        );
        // A change while a failing key runs brings its retry forward.
        w.finish("a", Finished::Failed, now);
        w.push("a", now);
        assert_eq!(w.next_due(), Some(now));
    }

    #[test]
    fn restart_and_clear() {
        let t = Instant::now();
        let mut w = q(10);
        w.push("a", t);
        w.push("b", t + Duration::from_secs(60));
        let _ = w.pop(t).unwrap();
        w.requeue_running(t);
        assert_eq!(
            w.pop(t).unwrap().0,
            "a",
            "a running key is not lost by a restart"
        );
        w.clear();
        assert!(w.is_empty());
        assert_eq!(w.next_due(), None);
    }
}
