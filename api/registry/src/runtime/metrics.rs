//! Counters of the controller runtime, read by the server's `/metrics`
//! (`kumo_controller_*`). Atomics only: recording never waits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds (seconds) of the reconcile duration histogram.
pub const DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// One controller's counters.
#[derive(Debug, Default)]
pub struct ControllerMetrics {
    pub name: &'static str,
    /// Keys queued or running.
    pub queue_depth: AtomicU64,
    pub reconciles_ok: AtomicU64,
    pub reconciles_error: AtomicU64,
    /// Keys not queued because the queue was full (found again from the index later).
    pub queue_dropped: AtomicU64,
    /// Restarts of the controller's task after a panic or an error.
    pub restarts: AtomicU64,
    pub duration_buckets: [AtomicU64; DURATION_BUCKETS.len()],
    pub duration_count: AtomicU64,
    pub duration_sum_micros: AtomicU64,
}

impl ControllerMetrics {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            ..Default::default()
        }
    }

    pub fn observe(&self, ok: bool, elapsed: Duration) {
        if ok {
            self.reconciles_ok.fetch_add(1, Ordering::Relaxed);
        } else {
            self.reconciles_error.fetch_add(1, Ordering::Relaxed);
        }
        let secs = elapsed.as_secs_f64();
        for (i, b) in DURATION_BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.duration_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.duration_count.fetch_add(1, Ordering::Relaxed);
        self.duration_sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn reconciles(&self) -> (u64, u64) {
        (
            self.reconciles_ok.load(Ordering::Relaxed),
            self.reconciles_error.load(Ordering::Relaxed),
        )
    }
}

/// Every controller's counters, and the shared watcher's.
#[derive(Debug, Default)]
pub struct RuntimeMetrics {
    controllers: Mutex<Vec<Arc<ControllerMetrics>>>,
    /// Lists started again after the watch fell out of the history window (410).
    pub relists: AtomicU64,
    /// Restarts of the watcher task.
    pub watcher_restarts: AtomicU64,
    /// Revision the reflector's index reflects.
    pub index_revision: AtomicU64,
}

impl RuntimeMetrics {
    /// The counters of controller `name` (created on first use).
    pub fn controller(&self, name: &'static str) -> Arc<ControllerMetrics> {
        let mut all = self.controllers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = all.iter().find(|m| m.name == name) {
            return m.clone();
        }
        let m = Arc::new(ControllerMetrics::new(name));
        all.push(m.clone());
        m
    }

    /// Every controller's counters, in the order they were added.
    pub fn controllers(&self) -> Vec<Arc<ControllerMetrics>> {
        self.controllers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
