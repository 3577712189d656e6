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

/// One encoded event on its way to the client: its parts (slices of the stored value where
/// possible, so watchers share the bytes of one version instead of copying it). Each part
/// holds the event's budgets until the connection has written and dropped it.
pub struct Chunk {
    pub parts: Vec<Bytes>,
}

/// Why the producer stopped sending.
enum Stop {
    /// The client went away.
    Closed,
    /// The buffer stayed full past the stall deadline.
    Stalled,
}

type Permits = std::sync::Arc<(
    tokio::sync::OwnedSemaphorePermit,
    Option<tokio::sync::OwnedSemaphorePermit>,
)>;

/// A part of an event with the budgets it holds.
struct Held {
    bytes: Bytes,
    _permits: Permits,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// What an event costs the budgets: its length, of which `copied` bytes are its own (the
/// rest are slices of stored values, shared with the store and other watchers).
struct Cost {
    len: usize,
    copied: usize,
}

/// The producer side of a watch: a channel bounded in events and in bytes — per watcher
/// (every byte it has queued, shared or not) and across all watchers (bytes copied for
/// them: rendered objects and envelopes). Budgets are taken before an event is built and
/// given back when the connection has written it.
struct Out {
    tx: mpsc::Sender<Chunk>,
    own: std::sync::Arc<tokio::sync::Semaphore>,
    own_max: usize,
    all: std::sync::Arc<tokio::sync::Semaphore>,
    all_max: usize,
    stall: Duration,
}

impl Out {
    /// Takes the budgets for an event of `cost`; `Stalled` when this watcher's own buffer
    /// stays full past the deadline.
    async fn reserve(&self, cost: Cost) -> Result<Permits, Stop> {
        // An event larger than a budget takes the whole budget (it is sent alone).
        let n = |len: usize, max: usize| len.clamp(1, max.max(1)) as u32;
        let own_take = self
            .own
            .clone()
            .acquire_many_owned(n(cost.len, self.own_max));
        let own = tokio::select! {
            r = tokio::time::timeout(self.stall, own_take) => match r {
                Ok(Ok(p)) => p,
                Ok(Err(_)) => return Err(Stop::Closed),
                Err(_) => return Err(Stop::Stalled),
            },
            _ = self.tx.closed() => return Err(Stop::Closed),
        };
        // The shared budget is held by other watchers' buffers; those of stalled clients
        // are freed within their own deadline (their connections are closed), so a
        // watcher waits twice that before giving up too.
        let all = if cost.copied == 0 {
            None
        } else {
            let all_take = self
                .all
                .clone()
                .acquire_many_owned(n(cost.copied, self.all_max));
            Some(tokio::select! {
                r = tokio::time::timeout(2 * self.stall, all_take) => match r {
                    Ok(Ok(p)) => p,
                    Ok(Err(_)) => return Err(Stop::Closed),
                    Err(_) => return Err(Stop::Stalled),
                },
                _ = self.tx.closed() => return Err(Stop::Closed),
            })
        };
        Ok(std::sync::Arc::new((own, all)))
    }

    async fn send_parts(&self, permits: Permits, parts: Vec<Bytes>) -> Result<(), Stop> {
        let parts = parts
            .into_iter()
            .map(|bytes| {
                Bytes::from_owner(Held {
                    bytes,
                    _permits: permits.clone(),
                })
            })
            .collect();
        match tokio::time::timeout(self.stall, self.tx.send(Chunk { parts })).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Stop::Closed),
            Err(_) => Err(Stop::Stalled),
        }
    }

    /// Sends an event built from stored bytes without parsing or copying them.
    async fn raw(&self, kind: &str, kv: &kumo_raft_store::KeyValue) -> Result<(), Stop> {
        let len = kv.value.len() + ENVELOPE;
        let copied = if kv.value.len() < COPY_BELOW {
            len
        } else {
            ENVELOPE
        };
        let permits = self.reserve(Cost { len, copied }).await?;
        self.send_parts(permits, raw_parts(kind, kv)).await
    }

    /// Sends a line built by `build`; the budgets are taken for `estimate` bytes first, so
    /// nothing is built for a watcher that has no room.
    async fn line(&self, estimate: usize, build: impl FnOnce() -> Bytes) -> Result<(), Stop> {
        let permits = self
            .reserve(Cost {
                len: estimate,
                copied: estimate,
            })
            .await?;
        self.send_parts(permits, vec![build()]).await
    }
}

/// Longest a watch stays open; clients re-watch from their last revision.
const MAX_TIMEOUT: Duration = Duration::from_secs(1800);
const BOOKMARK_EVERY: Duration = Duration::from_secs(5);

/// Bytes of an event's envelope and inserted resourceVersion, at most.
const ENVELOPE: usize = 96;

/// An event line built from stored bytes without parsing or copying them: the envelope,
/// then the stored object sliced around an inserted `resourceVersion`.
/// A small object is copied into one line instead (one write for the connection: measured
/// 5,743 against 7,446 creates/s with 4 watchers when every event went out in five parts).
fn raw_parts(kind: &str, kv: &kumo_raft_store::KeyValue) -> Vec<Bytes> {
    if kv.value.len() < COPY_BELOW {
        let obj = registry::with_rv(kv);
        let mut v = Vec::with_capacity(obj.len() + 32);
        v.extend_from_slice(b"{\"type\":\"");
        v.extend_from_slice(kind.as_bytes());
        v.extend_from_slice(b"\",\"object\":");
        v.extend_from_slice(&obj);
        v.extend_from_slice(b"}\n");
        return vec![Bytes::from(v)];
    }
    let head = Bytes::from(format!("{{\"type\":\"{kind}\",\"object\":"));
    let tail = Bytes::from_static(b"}\n");
    match registry::split_for_rv(kv) {
        Some((before, rv, after)) => vec![head, before, rv, after, tail],
        None => vec![head, registry::with_rv(kv), tail],
    }
}

/// Objects smaller than this are copied into their watch events (cheaper than writing five
/// parts); larger ones are sliced, shared by every watcher.
const COPY_BELOW: usize = 16 << 10;

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

/// What the caller does when its watcher is ended for not reading (the API server closes
/// the connection, which frees what is buffered toward it).
pub type OnStall = Box<dyn Fn() + Send + Sync>;

/// Starts a watch; the receiver yields newline-delimited JSON events.
pub async fn start(
    api: SharedApi,
    res: &'static ResourceInfo,
    ns: Option<String>,
    q: WatchQuery,
    render: Render,
    on_stall: Option<OnStall>,
) -> ApiResult<mpsc::Receiver<Chunk>> {
    let slot = api.take_watch_slot()?;
    let label = selectors::parse_label_selector(q.list.label_selector.as_deref().unwrap_or(""))
        .map_err(registry::selector_error)?;
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
    match start_rev {
        None => api.store.read_barrier().await?,
        // A resourceVersion from the future: wait a little for it, else 504 (Kubernetes).
        Some(r) => api.wait_revision(r).await?,
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
                // The connection cannot be written to: close it, which frees the events
                // still buffered toward it (the client re-watches on a new connection).
                if let Some(f) = &on_stall {
                    f();
                }
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
                            if cut(tx.raw("ADDED", kv).await) {
                                return;
                            }
                            continue;
                        }
                        let obj = decode(res, kv);
                        if matches(&obj)
                            && cut(tx
                                .line(kv.value.len() + ENVELOPE, || line("ADDED", render(&obj)))
                                .await)
                        {
                            return;
                        }
                    }
                }
                Err(c) => {
                    let e = ApiError::gone(format!(
                        "too old resource version: {} ({})",
                        c.requested, c.compact_revision
                    ));
                    let _ = tx.line(512, || line("ERROR", e.status())).await;
                    return;
                }
            }
            if q.send_initial_events == Some(true)
                && q.allow_bookmarks
                && cut(tx
                    .line(512, || line("BOOKMARK", bookmark(res, last, true)))
                    .await)
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
                    let _ = tx.line(512, || line("ERROR", e.status())).await;
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
                    if cut(tx.raw(kind, &ev.kv).await) {
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
                if cut(tx
                    .line(ev.kv.value.len() + ENVELOPE, || line(kind, render(&obj)))
                    .await)
                {
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
                    if q.allow_bookmarks && cut(tx.line(512, || line("BOOKMARK", bookmark(res, last, false))).await) {
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
