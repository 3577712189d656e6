//! A full disk is a wait, not a failure. The log writer and the snapshot builder retry a
//! write that failed for lack of space (`ENOSPC`, `EDQUOT`) with a bounded back-off instead
//! of failing openraft's storage (which would stop Raft for good, reads included); while one
//! of them waits, [`DiskFull::is_full`] is set and `StoreNode::propose` refuses new writes
//! with [`crate::Error::DiskFull`]. The flag clears by itself when the write goes through.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// First pause before retrying a write that found the disk full.
const FIRST_RETRY: Duration = Duration::from_millis(50);
/// Longest pause between retries (the back-off doubles up to it).
pub(crate) const MAX_RETRY: Duration = Duration::from_secs(1);
/// While the disk stays full, the warning is repeated at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Whether a store write is waiting for disk space, shared by the log writer, the snapshot
/// writers and the node (which refuses writes while it is set).
#[derive(Debug, Default)]
pub struct DiskFull {
    /// Writers waiting for space now (a snapshot built here and one received from the
    /// leader may wait at once, next to the log).
    waiting: AtomicUsize,
}

/// Which writer found the disk full.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Writer {
    Log,
    /// A snapshot built by this node.
    Snapshot,
    /// A snapshot received from the leader (`install_snapshot`).
    Install,
}

impl DiskFull {
    /// True while the Raft log or a snapshot cannot be written for lack of space.
    pub fn is_full(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) > 0
    }

    /// Starts waiting for space after `e`: sets the flag (until the [`Waiting`] is done or
    /// dropped) and warns.
    pub(crate) fn waiting(&self, w: Writer, e: &io::Error) -> Waiting<'_> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(writer = ?w, error = %e,
            "the disk is full: writes are refused and the store retries until space is freed");
        let now = Instant::now();
        Waiting {
            disk: self,
            writer: w,
            since: now,
            logged: now,
            delay: FIRST_RETRY,
        }
    }
}

/// A writer waiting for space; [`Waiting::done`] (or dropping it, when the writer gives up)
/// clears its part of the flag.
pub(crate) struct Waiting<'a> {
    disk: &'a DiskFull,
    writer: Writer,
    since: Instant,
    logged: Instant,
    delay: Duration,
}

impl Waiting<'_> {
    /// The pause before the next attempt (doubling up to [`MAX_RETRY`]); warns again at
    /// most once per [`LOG_EVERY`].
    pub(crate) fn next_delay(&mut self, e: &io::Error) -> Duration {
        if self.logged.elapsed() >= LOG_EVERY {
            self.logged = Instant::now();
            tracing::warn!(writer = ?self.writer, error = %e,
                waited_s = self.since.elapsed().as_secs(), "the disk is still full");
        }
        let d = self.delay;
        self.delay = (self.delay * 2).min(MAX_RETRY);
        d
    }

    /// The write went through: clears the flag (see [`Drop`]).
    pub(crate) fn done(self) {
        tracing::info!(writer = ?self.writer, waited_ms = self.since.elapsed().as_millis() as u64,
            "disk space is back: writes are served again");
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.disk.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Pauses the log writer's own thread (not a runtime thread) before its next attempt.
#[allow(
    clippy::disallowed_methods,
    reason = "runs on the dedicated raft-log-writer thread, never on a runtime worker"
)]
pub(crate) fn pause_writer_thread(d: Duration) {
    std::thread::sleep(d);
}

/// Whether `e` says the disk (or the quota) is full: a condition to wait out.
pub(crate) fn is_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}
