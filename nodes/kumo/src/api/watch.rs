//! Watch streams: initial state (when asked), then every change after a revision, in order,
//! without gaps or duplicates, filtered by selectors; bookmarks; 410 as an ERROR event when
//! the revision is compacted.

use std::time::Duration;

use bytes::Bytes;
use kumo_apimachinery::resources::ResourceInfo;
use kumo_apimachinery::selectors;
use kumo_raft_store::EventKind;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::error::{ApiError, ApiResult};
use super::registry::{self, ListQuery, SharedApi, WatchSlot, decode};

/// Events fetched from the store per wake-up.
const BATCH: usize = 1_000;
/// Encoded events buffered toward a slow client, at most (the byte bounds of
/// [`registry::Limits`] usually bind first).
const CHANNEL: usize = 1_024;

/// One encoded event on its way to the client, holding its share of the byte budgets
/// until the response body hands it to the connection.
pub struct Chunk {
    pub bytes: Bytes,
    _own: tokio::sync::OwnedSemaphorePermit,
    _all: tokio::sync::OwnedSemaphorePermit,
}

/// Why the producer stopped sending.
enum Stop {
    /// The client went away.
    Closed,
    /// The buffer stayed full past the stall deadline.
    Stalled,
}

/// The producer side of a watch: a channel bounded in events and in bytes (per watcher
/// and across all watchers).
struct Out {
    tx: mpsc::Sender<Chunk>,
    own: std::sync::Arc<tokio::sync::Semaphore>,
    own_max: usize,
    all: std::sync::Arc<tokio::sync::Semaphore>,
    all_max: usize,
    stall: Duration,
}

impl Out {
    async fn send(&self, bytes: Bytes) -> Result<(), Stop> {
        // An event larger than a budget takes the whole budget (it is sent alone).
        let n = |max: usize| bytes.len().clamp(1, max.max(1)) as u32;
        let take = async {
            let own = self.own.clone().acquire_many_owned(n(self.own_max)).await;
            let all = self.all.clone().acquire_many_owned(n(self.all_max)).await;
            (own, all)
        };
        let (own, all) = tokio::select! {
            r = tokio::time::timeout(self.stall, take) => match r {
                Ok((Ok(o), Ok(a))) => (o, a),
                Ok(_) => return Err(Stop::Closed),
                Err(_) => return Err(Stop::Stalled),
            },
            _ = self.tx.closed() => return Err(Stop::Closed),
        };
        let chunk = Chunk {
            bytes,
            _own: own,
            _all: all,
        };
        match tokio::time::timeout(self.stall, self.tx.send(chunk)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Stop::Closed),
            Err(_) => Err(Stop::Stalled),
        }
    }
}
/// Longest a watch stays open; clients re-watch from their last revision.
const MAX_TIMEOUT: Duration = Duration::from_secs(1800);
const BOOKMARK_EVERY: Duration = Duration::from_secs(5);

/// Watch query parameters.
#[derive(Debug, Clone, Default)]
pub struct WatchQuery {
    pub list: ListQuery,
    pub allow_bookmarks: bool,
    pub send_initial_events: Option<bool>,
    pub timeout: Option<Duration>,
    /// Watch one object (`.../configmaps/NAME?watch=1`), not the collection.
    pub name: Option<String>,
    /// Objects are rendered as stored JSON (no table, no version conversion): events can
    /// then be written without parsing when no selector needs the object's fields.
    pub raw_json: bool,
}

/// An event line built from stored bytes, without parsing them.
fn raw_line(kind: &str, kv: &kumo_raft_store::KeyValue) -> Bytes {
    let obj = registry::with_rv(kv);
    let mut v = Vec::with_capacity(obj.len() + 32);
    v.extend_from_slice(b"{\"type\":\"");
    v.extend_from_slice(kind.as_bytes());
    v.extend_from_slice(b"\",\"object\":");
    v.extend_from_slice(&obj);
    v.extend_from_slice(b"}\n");
    Bytes::from(v)
}

/// How each event's object is rendered.
pub type Render = std::sync::Arc<dyn Fn(&Value) -> Value + Send + Sync>;

fn line(kind: &str, object: Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn bookmark(res: &ResourceInfo, rev: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rev.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": meta})
}

/// Starts a watch; the receiver yields newline-delimited JSON events.
pub async fn start(
    api: SharedApi,
    res: &'static ResourceInfo,
    ns: Option<String>,
    q: WatchQuery,
    render: Render,
) -> ApiResult<mpsc::Receiver<Chunk>> {
    let slot = api.take_watch_slot()?;
    let label = selectors::parse_label_selector(q.list.label_selector.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
    let field = registry::parse_field_selector(res, q.list.field_selector.as_deref())?;
    let rv = q.list.resource_version.clone().unwrap_or_default();
    // Kubernetes: no resourceVersion, or "0", means "the current state, then changes";
    // sendInitialEvents asks for that explicitly.
    let initial = q.send_initial_events.unwrap_or(rv.is_empty() || rv == "0");
    let start_rev: Option<u64> = if rv.is_empty() || rv == "0" {
        None
    } else {
        Some(
            rv.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        )
    };
    if start_rev.is_none() {
        api.store.read_barrier().await?;
    }
    let fast = q.raw_json && label.is_empty() && field.is_none();
    let exact = q
        .name
        .as_deref()
        .map(|n| registry::key(res, ns.as_deref(), n));
    let (tx, rx) = mpsc::channel(CHANNEL);
    let own_max = api
        .limits
        .watch_buffer
        .min(tokio::sync::Semaphore::MAX_PERMITS);
    let tx = Out {
        tx,
        own: std::sync::Arc::new(tokio::sync::Semaphore::new(own_max)),
        own_max,
        all: api.watch_budget.clone(),
        all_max: api
            .limits
            .watch_buffer_total
            .min(tokio::sync::Semaphore::MAX_PERMITS),
        stall: api.limits.watch_stall,
    };
    let pfx = registry::prefix(res, ns.as_deref());
    tokio::spawn(async move {
        let _slot: WatchSlot = slot;
        let cut = |r: Result<(), Stop>| match r {
            Ok(()) => false,
            Err(Stop::Closed) => true,
            Err(Stop::Stalled) => {
                api.watchers_cut
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(
                    resource = res.plural,
                    "watch ended: its client stopped reading"
                );
                true
            }
        };
        let mut applied = api.store.shared().subscribe();
        // timeoutSeconds=0 (or absent) means the server's default, as in Kubernetes.
        let timeout = q
            .timeout
            .filter(|t| !t.is_zero())
            .unwrap_or(MAX_TIMEOUT)
            .min(MAX_TIMEOUT);
        let deadline = tokio::time::Instant::now() + timeout;
        let matches = |obj: &Value| api.matches(res, obj, &label, field.as_ref());
        let mut last = match start_rev {
            Some(r) => r,
            None => api.store.shared().read(|m| m.revision()),
        };
        if initial {
            let page = api
                .store
                .shared()
                // sendInitialEvents=true reads "not older than" the revision: the current
                // state serves it even when that revision is compacted.
                .read(|m| {
                    let at = if q.send_initial_events == Some(true) {
                        None
                    } else {
                        start_rev.or(Some(last))
                    };
                    m.range(&pfx, None, None, at)
                });
            match page {
                Ok(page) => {
                    last = page.revision;
                    for kv in &page.items {
                        if exact.as_ref().is_some_and(|k| *k != kv.key) {
                            continue;
                        }
                        if fast {
                            if cut(tx.send(raw_line("ADDED", kv)).await) {
                                return;
                            }
                            continue;
                        }
                        let obj = decode(res, kv);
                        if matches(&obj) && cut(tx.send(line("ADDED", render(&obj))).await) {
                            return;
                        }
                    }
                }
                Err(c) => {
                    let e = ApiError::gone(format!(
                        "too old resource version: {} ({})",
                        c.requested, c.compact_revision
                    ));
                    let _ = tx.send(line("ERROR", e.status())).await;
                    return;
                }
            }
            if q.send_initial_events == Some(true)
                && q.allow_bookmarks
                && cut(tx.send(line("BOOKMARK", bookmark(res, last, true))).await)
            {
                return;
            }
        }
        let mut next_bookmark = tokio::time::Instant::now() + BOOKMARK_EVERY;
        loop {
            let batch = api
                .store
                .shared()
                .read(|m| m.events_after(last, &pfx, BATCH));
            let (events, upto) = match batch {
                Ok(b) => b,
                Err(c) => {
                    let e = ApiError::gone(format!(
                        "too old resource version: {} ({})",
                        c.requested, c.compact_revision
                    ));
                    let _ = tx.send(line("ERROR", e.status())).await;
                    return;
                }
            };
            for ev in &events {
                if exact.as_ref().is_some_and(|k| *k != ev.kv.key) {
                    continue;
                }
                if fast {
                    let kind = match (ev.kind, &ev.prev) {
                        (EventKind::Delete, _) => "DELETED",
                        (EventKind::Put, None) => "ADDED",
                        (EventKind::Put, Some(_)) => "MODIFIED",
                    };
                    if cut(tx.send(raw_line(kind, &ev.kv)).await) {
                        return;
                    }
                    continue;
                }
                let new_obj = decode(res, &ev.kv);
                let (kind, obj) = match ev.kind {
                    EventKind::Delete => {
                        if !matches(&new_obj) {
                            continue;
                        }
                        ("DELETED", new_obj)
                    }
                    EventKind::Put => {
                        let now = matches(&new_obj);
                        let before = ev.prev.as_ref().map(|p| {
                            let mut o = decode(res, p);
                            registry::set_rv(&mut o, ev.revision);
                            o
                        });
                        let was = before.as_ref().is_some_and(&matches);
                        match (was, now) {
                            (false, true) => ("ADDED", new_obj),
                            (true, true) => ("MODIFIED", new_obj),
                            // Left the selection: a DELETED of its last matching state.
                            (true, false) => ("DELETED", before.unwrap_or(new_obj)),
                            (false, false) => continue,
                        }
                    }
                };
                if cut(tx.send(line(kind, render(&obj))).await) {
                    return;
                }
            }
            last = upto;
            if events.len() >= BATCH {
                continue;
            }
            tokio::select! {
                changed = applied.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(next_bookmark) => {
                    if q.allow_bookmarks && cut(tx.send(line("BOOKMARK", bookmark(res, last, false))).await) {
                        return;
                    }
                    next_bookmark = tokio::time::Instant::now() + BOOKMARK_EVERY;
                }
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tx.tx.closed() => return,
            }
        }
    });
    Ok(rx)
}
