//! The controller runtime: one change-driven driver for every controller, in the shape
//! kube-runtime gives its controllers, reading the store directly (no HTTP).
//!
//! ```text
//!  store's event window ──► watcher (list → watch → relist after 410)      one per node
//!                             │ every change, in order
//!                             ▼
//!                           reflector: Index (deleting objects, dependents by owner uid,
//!                             │          namespaces) — keys and uids, never objects
//!                             │ Controller::triggers(change, index) → keys
//!                             ▼
//!  per controller:          WorkQueue (bounded, one entry per key, due times, back-off)
//!                             │ the leader only
//!                             ▼
//!                           read(key) → View ─► reconcile(key, view) → Action  (pure)
//!                                                  │ effects, in order; requeue
//!                                                  ▼
//!                                               apply(effect) through the registry
//! ```
//!
//! Level-triggered: a reconcile starts from what it reads now, never from the event that
//! queued it, so a missed or merged event costs nothing but time. After every (re)list,
//! after a queue overflow and on gaining leadership, each controller walks its part of the
//! index again ([`Controller::resync`]), page by page from a cursor.
//!
//! Every task — the watcher, each controller's driver — runs under a supervisor that
//! restarts it with back-off when it panics or fails ([`backoff::RESTART`], counted in
//! `/metrics`), and all of them end when the [`RuntimeHandle`] is stopped (the node stops).
//!
//! Limits: pages of [`watcher::LIST_PAGE`] keys and batches of [`watcher::EVENT_BATCH`]
//! events per read lock; [`QUEUE_CAPACITY`] keys per controller (past it a key is dropped,
//! counted, and found again by a resync); [`Controller::concurrency`] reconciles at once per
//! controller; retries back off from 50 ms to 5 s ([`backoff::RETRY`]).

pub mod backoff;
pub mod index;
pub mod metrics;
pub mod queue;
pub mod watcher;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use kumo_raft_store::{EventKind, Revision, Shared};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use index::{Change, Deleting, Index, Meta, ObjectRef, object_ref};
pub use metrics::{ControllerMetrics, RuntimeMetrics};
use queue::{Finished, Pushed, WorkQueue};

use crate::error::{ApiError, ApiResult};
use crate::registry::SharedApi;

/// Keys a controller holds at once, queued and running. Past it a new key is dropped and
/// counted (`kumo_controller_queue_dropped_total`); the controller then walks its index
/// again once the queue has drained to half, so the key is reconciled late, not lost.
pub const QUEUE_CAPACITY: usize = 16_384;
/// Reconciles one controller runs at once, unless it says otherwise.
pub const CONCURRENCY: usize = 8;
/// How often an idle driver looks whether this node leads (only the leader acts).
pub const LEADER_POLL: Duration = Duration::from_millis(500);
/// How long a reconcile waits for the index to reflect what it read from the store.
pub const INDEX_WAIT: Duration = Duration::from_secs(5);
/// How long a stopping task may take before it is aborted.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// What a reconcile decided: effects for the driver to carry out in order (it stops at the
/// first that fails and retries the key with back-off), then when to look again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action<E> {
    pub effects: Vec<E>,
    /// `None`: only when something the controller watches changes.
    pub requeue: Option<Duration>,
}

impl<E> Action<E> {
    /// Nothing to do until a change.
    pub fn await_change() -> Self {
        Self {
            effects: Vec::new(),
            requeue: None,
        }
    }

    /// Nothing to do now; look again after `after`.
    pub fn requeue(after: Duration) -> Self {
        Self {
            effects: Vec::new(),
            requeue: Some(after),
        }
    }

    /// Carry out `effects`, then wait for a change.
    pub fn apply(effects: Vec<E>) -> Self {
        Self {
            effects,
            requeue: None,
        }
    }

    pub fn then_requeue(mut self, after: Duration) -> Self {
        self.requeue = Some(after);
        self
    }
}

/// What a controller reads and writes through.
pub struct Context {
    pub api: SharedApi,
    pub reflector: Arc<Reflector>,
}

impl Context {
    /// A read barrier, then waits until the index reflects the store as it is now, so what
    /// the index says is at least as new as any object read after this.
    pub async fn consistent(&self) -> ApiResult<()> {
        self.api.store.read_barrier().await?;
        let rev = self.api.store.shared().read(|m| m.revision());
        self.reflector.caught_up(rev, INDEX_WAIT).await
    }
}

/// A controller: which keys a change concerns, what to read for a key, the decision, and
/// how each of its effects is carried out.
pub trait Controller: Send + Sync + 'static {
    /// What [`Controller::reconcile`] decides from.
    type View: Send;
    /// One write for the driver to carry out.
    type Effect: Send + std::fmt::Debug;

    /// Its name in logs and metrics.
    fn name(&self) -> &'static str;

    /// Keys of its queue, at most this many.
    fn queue_capacity(&self) -> usize {
        QUEUE_CAPACITY
    }

    /// Reconciles at once.
    fn concurrency(&self) -> usize {
        CONCURRENCY
    }

    /// The keys a change asks to reconcile, the index already holding the change. Pure.
    fn triggers(&self, change: &Change<'_>, index: &Index, out: &mut Vec<String>);

    /// Every key the index says may need work, in order after `after`, at most `room` of
    /// them. Returns whether more remain. Pure.
    fn resync(
        &self,
        index: &Index,
        after: Option<&str>,
        room: usize,
        out: &mut Vec<String>,
    ) -> bool;

    /// Reads what the decision needs.
    fn read(&self, ctx: &Context, key: &str) -> impl Future<Output = ApiResult<Self::View>> + Send;

    /// The decision. Pure.
    fn reconcile(&self, key: &str, view: &Self::View) -> Action<Self::Effect>;

    /// Carries out one effect.
    fn apply(
        &self,
        ctx: &Context,
        effect: Self::Effect,
    ) -> impl Future<Output = ApiResult<()>> + Send;
}

/// The index, shared by the watcher (writer) and the controllers (readers), with the
/// revision it reflects.
pub struct Reflector {
    index: RwLock<Index>,
    revision: watch::Sender<Revision>,
}

impl Default for Reflector {
    fn default() -> Self {
        Self {
            index: RwLock::new(Index::default()),
            revision: watch::channel(0).0,
        }
    }
}

impl Reflector {
    /// Runs `f` on the index (a read lock for as long as `f` runs: keep it short).
    pub fn read<T>(&self, f: impl FnOnce(&Index) -> T) -> T {
        f(&self.index.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn write<T>(&self, f: impl FnOnce(&mut Index) -> T) -> T {
        f(&mut self.index.write().unwrap_or_else(|e| e.into_inner()))
    }

    /// The revision the index reflects (0 until the first list is complete).
    pub fn revision(&self) -> Revision {
        *self.revision.borrow()
    }

    fn advance(&self, rev: Revision) {
        self.revision.send_if_modified(|r| {
            let moved = rev > *r;
            *r = (*r).max(rev);
            moved
        });
    }

    /// Waits until the index reflects revision `rev`; 504 after `timeout`.
    pub async fn caught_up(&self, rev: Revision, timeout: Duration) -> ApiResult<()> {
        let mut rx = self.revision.subscribe();
        let wait = rx.wait_for(|r| *r >= rev);
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(ApiError::timeout(format!(
                "the controllers' index has not reached revision {rev} (at {})",
                self.revision()
            ))),
        }
    }
}

/// The object-safe part of a controller, for the watcher.
trait Triggers: Send + Sync {
    fn triggers(&self, change: &Change<'_>, index: &Index, out: &mut Vec<String>);
}

impl<C: Controller> Triggers for C {
    fn triggers(&self, change: &Change<'_>, index: &Index, out: &mut Vec<String>) {
        Controller::triggers(self, change, index, out);
    }
}

/// One controller's queue and flags, shared by the watcher (which pushes) and its driver.
struct Feed {
    name: &'static str,
    triggers: Arc<dyn Triggers>,
    queue: Mutex<WorkQueue>,
    wake: Notify,
    /// Set while this node leads and the driver takes work; the watcher queues nothing
    /// for an inactive controller.
    active: AtomicBool,
    /// Walk the index again: a list replaced it, or a key was dropped.
    resync: AtomicBool,
    metrics: Arc<ControllerMetrics>,
}

impl Feed {
    fn queue<T>(&self, f: impl FnOnce(&mut WorkQueue) -> T) -> T {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let out = f(&mut q);
        self.metrics
            .queue_depth
            .store(q.len() as u64, Ordering::Relaxed);
        out
    }

    fn push(&self, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        let now = Instant::now();
        let dropped = self.queue(|q| {
            keys.iter()
                .filter(|k| q.push(k, now) == Pushed::Full)
                .count()
        });
        if dropped > 0 {
            self.metrics
                .queue_dropped
                .fetch_add(dropped as u64, Ordering::Relaxed);
            self.resync.store(true, Ordering::Relaxed);
            tracing::debug!(
                controller = self.name,
                dropped,
                "controller queue full; keys will be found again by a resync"
            );
        }
        self.wake.notify_one();
    }
}

/// The watcher's shell: one read of the store per [`Follower::step`], each under the state
/// machine's read lock for one page or one batch of events.
pub struct Follower {
    watcher: watcher::Watcher,
    building: Option<Index>,
}

impl Default for Follower {
    fn default() -> Self {
        Self::new()
    }
}

impl Follower {
    pub fn new() -> Self {
        Self {
            watcher: watcher::Watcher::new(),
            building: None,
        }
    }

    pub fn phase(&self) -> &watcher::Phase {
        self.watcher.phase()
    }

    /// One read. `false`: nothing new (caught up with the store).
    fn step(
        &mut self,
        shared: &Shared,
        reflector: &Reflector,
        feeds: &[Arc<Feed>],
        metrics: &RuntimeMetrics,
    ) -> bool {
        match self.watcher.next() {
            watcher::Read::Page { after, at, limit } => {
                let page =
                    shared.read(|m| m.range_counted("", after.as_deref(), Some(limit), at, false));
                let page = match page {
                    Ok(p) => p,
                    Err(c) => {
                        tracing::info!(error = %c, "controller list fell out of the history window; listing again");
                        self.relist(metrics);
                        return true;
                    }
                };
                let last = page.items.last().map(|kv| kv.key.clone());
                let step = self.watcher.on_page(page.revision, last, page.more);
                if step.first || self.building.is_none() {
                    self.building = Some(Index::default());
                }
                let building = self.building.as_mut().expect("set above");
                for kv in &page.items {
                    building.put(
                        &kv.key,
                        object_ref(&kv.key).as_ref(),
                        &index::meta(&kv.value),
                    );
                }
                if step.done {
                    let mut fresh = self.building.take().expect("set above");
                    fresh.set_revision(step.revision);
                    reflector.write(|ix| *ix = fresh);
                    reflector.advance(step.revision);
                    metrics
                        .index_revision
                        .store(step.revision, Ordering::Relaxed);
                    // Level-triggered: after a list every controller looks at all its work.
                    for f in feeds {
                        f.resync.store(true, Ordering::Relaxed);
                        f.wake.notify_one();
                    }
                }
                true
            }
            watcher::Read::Events { after, limit } => {
                let batch = shared.read(|m| m.events_after(after, "", limit));
                let (events, upto) = match batch {
                    Ok(b) => b,
                    Err(c) => {
                        tracing::info!(error = %c, "controller watch fell out of the history window; listing again");
                        self.relist(metrics);
                        return true;
                    }
                };
                if events.is_empty() && upto <= after {
                    return false;
                }
                let active: Vec<bool> = feeds
                    .iter()
                    .map(|f| f.active.load(Ordering::Relaxed))
                    .collect();
                let mut keys: Vec<Vec<String>> = vec![Vec::new(); feeds.len()];
                reflector.write(|ix| {
                    for ev in &events {
                        let key = ev.kv.key.as_str();
                        let object = object_ref(key);
                        let (deleted, owners) = match ev.kind {
                            EventKind::Put => {
                                let m = index::meta(&ev.kv.value);
                                let mut owners = ix.put(key, object.as_ref(), &m);
                                for o in m.owners {
                                    if !owners.contains(&o) {
                                        owners.push(o);
                                    }
                                }
                                (false, owners)
                            }
                            EventKind::Delete => (true, ix.remove(key)),
                        };
                        let change = Change {
                            key,
                            object: object.as_ref(),
                            deleted,
                            owners: &owners,
                        };
                        for (i, f) in feeds.iter().enumerate() {
                            if active[i] {
                                f.triggers.triggers(&change, ix, &mut keys[i]);
                            }
                        }
                    }
                    ix.set_revision(upto);
                });
                reflector.advance(upto);
                metrics.index_revision.store(upto, Ordering::Relaxed);
                for (f, k) in feeds.iter().zip(&keys) {
                    f.push(k);
                }
                self.watcher.on_events(upto);
                true
            }
        }
    }

    fn relist(&mut self, metrics: &RuntimeMetrics) {
        self.watcher.on_compacted();
        self.building = None;
        metrics.relists.fetch_add(1, Ordering::Relaxed);
    }
}

/// Asked to stop, or the handle is gone.
fn should_stop(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// Waits until asked to stop (or the handle is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// The watcher task.
async fn follow(
    api: SharedApi,
    reflector: Arc<Reflector>,
    feeds: Arc<Vec<Arc<Feed>>>,
    metrics: Arc<RuntimeMetrics>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let shared = api.store.shared().clone();
    let mut applied = shared.subscribe();
    let mut follower = Follower::new();
    loop {
        if should_stop(&stop) {
            return Ok(());
        }
        // Marked seen before reading, so a batch applied after the read wakes us.
        applied.borrow_and_update();
        if follower.step(&shared, &reflector, &feeds, &metrics) {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            r = applied.changed() => {
                if r.is_err() {
                    // The store is shutting down; the node stops us next.
                    stopped(&mut stop).await;
                }
            }
            _ = stopped(&mut stop) => {}
        }
    }
}

type Outcome = (String, ApiResult<Option<Duration>>, Duration);

async fn run_one<C: Controller>(c: Arc<C>, ctx: Arc<Context>, key: String) -> Outcome {
    let began = Instant::now();
    let result = async {
        let view = c.read(&ctx, &key).await?;
        let action = c.reconcile(&key, &view);
        for effect in action.effects {
            c.apply(&ctx, effect).await?;
        }
        Ok(action.requeue)
    }
    .await;
    (key, result, began.elapsed())
}

/// One controller's driver task: keeps up to `concurrency` reconciles running while this
/// node leads, resyncs from the index when asked, and records each outcome.
async fn drive<C: Controller>(
    c: Arc<C>,
    feed: Arc<Feed>,
    ctx: Arc<Context>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    // After a restart: what was running is queued again, and the index walked again.
    feed.queue(|q| q.requeue_running(Instant::now()));
    feed.resync.store(true, Ordering::Relaxed);
    let capacity = c.queue_capacity();
    let mut cursor: Option<Option<String>> = None;
    let mut running = FuturesUnordered::new();
    loop {
        if should_stop(&stop) {
            return Ok(());
        }
        let leads = ctx.api.store.is_leader();
        if !leads {
            if feed.active.swap(false, Ordering::Relaxed) {
                // The new leader has the work; what runs here finishes or fails.
                feed.queue(WorkQueue::clear);
                cursor = None;
            }
        } else if !feed.active.swap(true, Ordering::Relaxed) {
            feed.resync.store(true, Ordering::Relaxed);
        }
        if leads {
            if feed.resync.swap(false, Ordering::Relaxed) {
                cursor = Some(None);
            }
            if let Some(after) = &cursor {
                let room = feed.queue(|q| q.room());
                if room >= capacity / 2 {
                    let mut keys = Vec::new();
                    let more = ctx
                        .reflector
                        .read(|ix| c.resync(ix, after.as_deref(), room, &mut keys));
                    cursor = if more {
                        Some(keys.last().cloned().or_else(|| after.clone()))
                    } else {
                        None
                    };
                    feed.push(&keys);
                }
            }
            let now = Instant::now();
            while running.len() < c.concurrency() {
                let Some((key, _)) = feed.queue(|q| q.pop(now)) else {
                    break;
                };
                running.push(run_one(c.clone(), ctx.clone(), key));
            }
        }
        // Wake for the next due key only when there is a free slot to run it in.
        let poll = Instant::now() + LEADER_POLL;
        let due = if leads && running.len() < c.concurrency() {
            feed.queue(|q| q.next_due()).map_or(poll, |d| d.min(poll))
        } else {
            poll
        };
        tokio::select! {
            Some((key, result, elapsed)) = running.next(), if !running.is_empty() => {
                let how = match &result {
                    Ok(requeue) => Finished::Done(*requeue),
                    Err(e) => {
                        tracing::debug!(controller = c.name(), key, error = %e.message, "reconcile failed; will retry");
                        Finished::Failed
                    }
                };
                feed.metrics.observe(result.is_ok(), elapsed);
                feed.queue(|q| q.finish(&key, how, Instant::now()));
            }
            _ = feed.wake.notified() => {}
            _ = tokio::time::sleep_until(due) => {}
            _ = stopped(&mut stop) => {}
        }
    }
}

/// Runs a task, restarting it with back-off when it panics, fails or ends on its own,
/// until asked to stop; then gives it [`STOP_GRACE`] to end and aborts it.
async fn supervise<F, Fut>(
    name: &'static str,
    mut stop: watch::Receiver<bool>,
    restarts: Arc<dyn Fn() + Send + Sync>,
    mut start: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let mut failures = 0u32;
    loop {
        let began = Instant::now();
        let mut task = tokio::spawn(start());
        let ended = tokio::select! {
            r = &mut task => Some(r),
            _ = stopped(&mut stop) => None,
        };
        let Some(result) = ended else {
            if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
                tracing::warn!(task = name, "controller task did not stop in time; aborted");
                task.abort();
                let _ = task.await;
            }
            return;
        };
        if should_stop(&stop) {
            return;
        }
        match result {
            Ok(Ok(())) => tracing::warn!(task = name, "controller task ended; restarting"),
            Ok(Err(e)) => {
                tracing::warn!(task = name, error = %e, "controller task failed; restarting")
            }
            Err(e) if e.is_panic() => {
                tracing::error!(task = name, "controller task panicked; restarting")
            }
            Err(_) => tracing::warn!(task = name, "controller task cancelled; restarting"),
        }
        restarts();
        if began.elapsed() >= backoff::RESTART_RESET {
            failures = 0;
        }
        failures = failures.saturating_add(1);
        tokio::select! {
            _ = tokio::time::sleep(backoff::RESTART.delay(failures)) => {}
            _ = stopped(&mut stop) => return,
        }
    }
}

type Starter = Box<dyn FnOnce(watch::Receiver<bool>) -> JoinHandle<()> + Send>;

/// Controllers to start together, on one watcher.
pub struct Runtime {
    api: SharedApi,
    ctx: Arc<Context>,
    metrics: Arc<RuntimeMetrics>,
    feeds: Vec<Arc<Feed>>,
    starters: Vec<Starter>,
}

impl Runtime {
    pub fn new(api: SharedApi, metrics: Arc<RuntimeMetrics>) -> Self {
        let ctx = Arc::new(Context {
            api: api.clone(),
            reflector: Arc::new(Reflector::default()),
        });
        Self {
            api,
            ctx,
            metrics,
            feeds: Vec::new(),
            starters: Vec::new(),
        }
    }

    pub fn with<C: Controller>(mut self, controller: C) -> Self {
        let c = Arc::new(controller);
        let name = c.name();
        let metrics = self.metrics.controller(name);
        let feed = Arc::new(Feed {
            name,
            triggers: c.clone(),
            queue: Mutex::new(WorkQueue::new(c.queue_capacity(), backoff::RETRY)),
            wake: Notify::new(),
            active: AtomicBool::new(false),
            resync: AtomicBool::new(true),
            metrics: metrics.clone(),
        });
        self.feeds.push(feed.clone());
        let ctx = self.ctx.clone();
        self.starters
            .push(Box::new(move |stop: watch::Receiver<bool>| {
                let restarts: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
                    metrics.restarts.fetch_add(1, Ordering::Relaxed);
                });
                let task_stop = stop.clone();
                tokio::spawn(supervise(name, stop, restarts, move || {
                    drive(c.clone(), feed.clone(), ctx.clone(), task_stop.clone())
                }))
            }));
        self
    }

    /// Starts the watcher and every controller, each under a supervisor.
    pub fn start(self) -> RuntimeHandle {
        let (stop, rx) = watch::channel(false);
        let feeds = Arc::new(self.feeds);
        let mut tasks = Vec::new();
        {
            let (api, reflector, metrics) = (
                self.api.clone(),
                self.ctx.reflector.clone(),
                self.metrics.clone(),
            );
            let m = self.metrics.clone();
            let restarts: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
                m.watcher_restarts.fetch_add(1, Ordering::Relaxed);
            });
            let task_stop = rx.clone();
            tasks.push(tokio::spawn(supervise(
                "watcher",
                rx.clone(),
                restarts,
                move || {
                    follow(
                        api.clone(),
                        reflector.clone(),
                        feeds.clone(),
                        metrics.clone(),
                        task_stop.clone(),
                    )
                },
            )));
        }
        for s in self.starters {
            tasks.push(s(rx.clone()));
        }
        RuntimeHandle {
            stop,
            tasks,
            reflector: self.ctx.reflector.clone(),
            metrics: self.metrics,
        }
    }
}

/// The running controllers. Dropping it stops them too (without waiting).
pub struct RuntimeHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    reflector: Arc<Reflector>,
    metrics: Arc<RuntimeMetrics>,
}

impl RuntimeHandle {
    pub fn reflector(&self) -> &Arc<Reflector> {
        &self.reflector
    }

    pub fn metrics(&self) -> &Arc<RuntimeMetrics> {
        &self.metrics
    }

    /// Stops every task and waits for them (each is aborted after [`STOP_GRACE`]).
    /// Returns how many tasks ended.
    pub async fn stop(self) -> usize {
        let _ = self.stop.send(true);
        let mut ended = 0;
        for t in self.tasks {
            if t.await.is_ok() {
                ended += 1;
            }
        }
        ended
    }
}
