//! Exponential back-off, as a pure function of the attempt number.

use std::time::Duration;

/// `base`, doubling with each attempt, never more than `cap`. No jitter: one controller
/// retries few keys at a time, and a test can name every delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Self { base, cap }
    }

    /// The wait before attempt `attempt + 1`, `attempt` (≥ 1) having failed.
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.cap)
            .min(self.cap)
    }
}

/// Retries of a failed reconcile: 50 ms doubling to 5 s. A reconcile is retried for as long
/// as it fails — the object still needs the work (a namespace left Terminating would be
/// stuck for good) — but never more often than this allows; a change to the object queues
/// it again at once.
pub const RETRY: Backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));

/// Restarts of a controller task that panicked or failed: 100 ms doubling to 30 s; the count
/// starts over once a task has run for [`RESTART_RESET`].
pub const RESTART: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));

/// A task that ran this long before failing is restarted as if it had never failed.
pub const RESTART_RESET: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let b = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
        let ms: Vec<u128> = (1..=9).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(ms, [50, 100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        // Attempt 0 (never failed) waits the base; huge attempts neither overflow nor pass
        // the cap.
        assert_eq!(b.delay(0), Duration::from_millis(50));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(5));
        assert_eq!(RESTART.delay(40), Duration::from_secs(30));
    }
}
