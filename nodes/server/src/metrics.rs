//! Prometheus-format metrics of the API server and the store, served at `/metrics`.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use kumo_registry::runtime::{RuntimeMetrics, metrics::DURATION_BUCKETS};

use kumo_registry::Api;

/// Upper bounds (seconds) of the request latency histogram.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Label sets kept; past it, new (verb, resource, code) combinations are counted under
/// resource "other" so a client cannot grow the map without bound.
const MAX_SERIES: usize = 2_000;

#[derive(Default)]
struct Series {
    count: AtomicU64,
    sum_micros: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
}

/// Request metrics.
#[derive(Default)]
pub struct Metrics {
    requests: DashMap<(&'static str, String, u16), Series>,
    /// The controller runtime's counters, when this node runs controllers.
    controllers: Option<Arc<RuntimeMetrics>>,
}

impl Metrics {
    /// Also renders the counters of the controllers that record into `m`.
    pub fn with_controllers(mut self, m: Arc<RuntimeMetrics>) -> Self {
        self.controllers = Some(m);
        self
    }

    pub fn observe_request(
        &self,
        verb: &'static str,
        resource: &str,
        code: u16,
        elapsed: Duration,
    ) {
        let resource = if self.requests.len() >= MAX_SERIES
            && !self
                .requests
                .contains_key(&(verb, resource.to_string(), code))
        {
            "other".to_string()
        } else {
            resource.to_string()
        };
        let series = self.requests.entry((verb, resource, code)).or_default();
        let secs = elapsed.as_secs_f64();
        series.count.fetch_add(1, Ordering::Relaxed);
        series
            .sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                series.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Renders every metric in the Prometheus text format.
    pub fn render(&self, api: &Api) -> String {
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total Requests by verb, resource and code.\n# TYPE apiserver_request_total counter\n");
        let mut rows: Vec<_> = self
            .requests
            .iter()
            .map(|e| (e.key().clone(), e.value().count.load(Ordering::Relaxed)))
            .collect();
        rows.sort();
        for ((verb, res, code), n) in &rows {
            let _ = writeln!(
                out,
                "apiserver_request_total{{verb=\"{verb}\",resource=\"{res}\",code=\"{code}\"}} {n}"
            );
        }
        out.push_str("# HELP apiserver_request_duration_seconds Request latency by verb and resource.\n# TYPE apiserver_request_duration_seconds histogram\n");
        let mut hist: std::collections::BTreeMap<
            (&'static str, String),
            ([u64; BUCKETS.len()], u64, u64),
        > = Default::default();
        for e in self.requests.iter() {
            let (verb, res, _) = e.key();
            let h = hist
                .entry((verb, res.clone()))
                .or_insert(([0; BUCKETS.len()], 0, 0));
            for (i, b) in e.value().buckets.iter().enumerate() {
                h.0[i] += b.load(Ordering::Relaxed);
            }
            h.1 += e.value().count.load(Ordering::Relaxed);
            h.2 += e.value().sum_micros.load(Ordering::Relaxed);
        }
        for ((verb, res), (buckets, count, sum)) in &hist {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "apiserver_request_duration_seconds_bucket{{verb=\"{verb}\",resource=\"{res}\",le=\"{b}\"}} {}",
                    buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_bucket{{verb=\"{verb}\",resource=\"{res}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_sum{{verb=\"{verb}\",resource=\"{res}\"}} {}",
                *sum as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_count{{verb=\"{verb}\",resource=\"{res}\"}} {count}"
            );
        }
        let m = api.store.raft.metrics().borrow().clone();
        let commit = m.last_applied.map_or(0, |l| l.index);
        let last_log = m.last_log_index.unwrap_or(0);
        let applied = api.store.shared().last_applied_index().unwrap_or(0);
        let (keys, bytes, revision, events) = api
            .store
            .shared()
            .read(|s| (s.len(), s.value_bytes(), s.revision(), s.event_count()));
        let gauges: [(&str, &str, f64); 11] = [
            (
                "kumo_raft_term",
                "Current Raft term.",
                m.current_term as f64,
            ),
            (
                "kumo_raft_last_log_index",
                "Index of the last log entry.",
                last_log as f64,
            ),
            (
                "kumo_raft_commit_index",
                "Index of the last committed (applied by Raft) entry.",
                commit as f64,
            ),
            (
                "kumo_raft_applied_index",
                "Index of the last entry applied to the state machine.",
                applied as f64,
            ),
            (
                "kumo_raft_apply_lag",
                "Log entries not yet applied.",
                last_log.saturating_sub(applied) as f64,
            ),
            (
                "kumo_raft_is_leader",
                "1 when this node leads.",
                if m.current_leader == Some(m.id) {
                    1.0
                } else {
                    0.0
                },
            ),
            ("kumo_store_objects", "Objects in the store.", keys as f64),
            (
                "kumo_store_bytes",
                "Bytes of object values in the store.",
                bytes as f64,
            ),
            (
                "kumo_store_revision",
                "Current store revision.",
                revision as f64,
            ),
            (
                "kumo_store_disk_full",
                "1 while the disk is full: writes are refused (507) until space is freed.",
                if api.store.disk_full() { 1.0 } else { 0.0 },
            ),
            (
                "kumo_store_watch_events_retained",
                "Events retained for watches.",
                events as f64,
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let _ = writeln!(
            out,
            "# HELP apiserver_registered_watchers Open watch streams.\n# TYPE apiserver_registered_watchers gauge\napiserver_registered_watchers {}",
            api.watchers.load(Ordering::Relaxed)
        );
        if let Some(c) = &self.controllers {
            render_controllers(c, &mut out);
        }
        if let Some(rss) = resident_bytes() {
            let _ = writeln!(
                out,
                "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}"
            );
        }
        out
    }
}

/// `kumo_controller_*`: per controller, its queue, reconciles (by result), their duration,
/// keys dropped at a full queue and restarts; the shared watcher's relists and restarts.
fn render_controllers(m: &RuntimeMetrics, out: &mut String) {
    let all = m.controllers();
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    out.push_str("# HELP kumo_controller_queue_depth Keys queued or being reconciled.\n# TYPE kumo_controller_queue_depth gauge\n");
    for c in &all {
        let _ = writeln!(
            out,
            "kumo_controller_queue_depth{{controller=\"{}\"}} {}",
            c.name,
            load(&c.queue_depth)
        );
    }
    out.push_str("# HELP kumo_controller_reconciles_total Reconciles by controller and result.\n# TYPE kumo_controller_reconciles_total counter\n");
    for c in &all {
        let (ok, err) = c.reconciles();
        let _ = writeln!(
            out,
            "kumo_controller_reconciles_total{{controller=\"{}\",result=\"success\"}} {ok}",
            c.name
        );
        let _ = writeln!(
            out,
            "kumo_controller_reconciles_total{{controller=\"{}\",result=\"error\"}} {err}",
            c.name
        );
    }
    out.push_str("# HELP kumo_controller_reconcile_seconds Duration of reconciles (read, decide, effects).\n# TYPE kumo_controller_reconcile_seconds histogram\n");
    for c in &all {
        for (i, b) in DURATION_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "kumo_controller_reconcile_seconds_bucket{{controller=\"{}\",le=\"{b}\"}} {}",
                c.name,
                load(&c.duration_buckets[i])
            );
        }
        let count = load(&c.duration_count);
        let _ = writeln!(
            out,
            "kumo_controller_reconcile_seconds_bucket{{controller=\"{}\",le=\"+Inf\"}} {count}",
            c.name
        );
        let _ = writeln!(
            out,
            "kumo_controller_reconcile_seconds_sum{{controller=\"{}\"}} {}",
            c.name,
            load(&c.duration_sum_micros) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "kumo_controller_reconcile_seconds_count{{controller=\"{}\"}} {count}",
            c.name
        );
    }
    out.push_str("# HELP kumo_controller_queue_dropped_total Keys not queued because the queue was full (found again by a resync).\n# TYPE kumo_controller_queue_dropped_total counter\n");
    for c in &all {
        let _ = writeln!(
            out,
            "kumo_controller_queue_dropped_total{{controller=\"{}\"}} {}",
            c.name,
            load(&c.queue_dropped)
        );
    }
    out.push_str("# HELP kumo_controller_restarts_total Restarts of a controller task after a panic or an error.\n# TYPE kumo_controller_restarts_total counter\n");
    for c in &all {
        let _ = writeln!(
            out,
            "kumo_controller_restarts_total{{controller=\"{}\"}} {}",
            c.name,
            load(&c.restarts)
        );
    }
    let _ = writeln!(
        out,
        "kumo_controller_restarts_total{{controller=\"watcher\"}} {}",
        load(&m.watcher_restarts)
    );
    let _ = writeln!(
        out,
        "# HELP kumo_controller_relists_total Lists of the store started again after the controllers' watch fell out of the history window.\n# TYPE kumo_controller_relists_total counter\nkumo_controller_relists_total {}",
        load(&m.relists)
    );
}

/// Resident set size of this process, from /proc/self/statm.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
