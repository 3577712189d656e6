//! The runtime against a real one-node store: relists after 410, resyncs, retries with
//! back-off, restarts a panicking controller, stops with its handle.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use std::time::Duration;

use bytes::Bytes;
use kumo_raft_store::{Command, Precondition, StoreConfig, StoreNode};

use super::*;
use crate::registry::{Api, Limits};

async fn open() -> (tempfile::TempDir, SharedApi) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = StoreNode::open(dir.path(), StoreConfig::single("127.0.0.1:0"))
        .await
        .expect("store opens");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !store.is_leader() {
        assert!(Instant::now() < deadline, "no leader");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (dir, Arc::new(Api::new(store, Limits::default())))
}

fn deleting(name: &str) -> Command {
    let value = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"a","uid":"u-{name}","deletionTimestamp":"t","finalizers":["x"]}}}}"#
    );
    Command::Put {
        key: format!("core/configmaps/a/{name}"),
        value: Bytes::from(value),
        precondition: Precondition::Absent,
    }
}

async fn propose(api: &SharedApi, cmd: Command) {
    api.store.propose(cmd).await.expect("proposed");
}

/// Reconciles every object being deleted; can fail, panic or count as it is told.
#[derive(Default)]
struct Recorder {
    fail: AtomicU32,
    panic_once: AtomicBool,
    reads: AtomicU64,
}

impl Controller for Arc<Recorder> {
    type View = ();
    type Effect = ();

    fn name(&self) -> &'static str {
        "recorder"
    }

    fn triggers(&self, change: &Change<'_>, index: &Index, out: &mut Vec<String>) {
        if index.deleting(change.key).is_some() {
            out.push(change.key.to_string());
        }
    }

    fn resync(
        &self,
        index: &Index,
        after: Option<&str>,
        room: usize,
        out: &mut Vec<String>,
    ) -> bool {
        let mut keys = index.deleting_after(after).map(|(k, _)| k);
        out.extend(keys.by_ref().take(room).cloned());
        keys.next().is_some()
    }

    async fn read(&self, _ctx: &Context, _key: &str) -> ApiResult<()> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        if self.panic_once.swap(false, Ordering::Relaxed) {
            panic!("a controller bug (test)");
        }
        Ok(())
    }

    fn reconcile(&self, _key: &str, _view: &()) -> Action<()> {
        Action::apply(vec![()])
    }

    async fn apply(&self, _ctx: &Context, _effect: ()) -> ApiResult<()> {
        if self
            .fail
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(ApiError::internal("told to fail (test)"));
        }
        Ok(())
    }
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn feed() -> Arc<Feed> {
    let c: Arc<Recorder> = Arc::default();
    Arc::new(Feed {
        name: "recorder",
        triggers: Arc::new(c),
        queue: Mutex::new(WorkQueue::new(QUEUE_CAPACITY, backoff::RETRY)),
        wake: Notify::new(),
        active: AtomicBool::new(true),
        resync: AtomicBool::new(false),
        metrics: Arc::new(ControllerMetrics::new("recorder")),
    })
}

/// Steps the follower until it is caught up.
fn catch_up(
    f: &mut Follower,
    api: &SharedApi,
    r: &Reflector,
    feeds: &[Arc<Feed>],
    m: &RuntimeMetrics,
) -> usize {
    let mut steps = 0;
    while f.step(api.store.shared(), r, feeds, m) {
        steps += 1;
        assert!(steps < 10_000, "never caught up");
    }
    steps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_in_pages_at_one_revision_then_follows_and_relists_after_410() {
    let (_dir, api) = open().await;
    // More than two pages.
    let n = 2 * watcher::LIST_PAGE + 10;
    propose(
        &api,
        Command::Batch((0..n).map(|i| deleting(&format!("c{i:05}"))).collect()),
    )
    .await;
    let reflector = Reflector::default();
    let metrics = RuntimeMetrics::default();
    let feeds = vec![feed()];
    let mut f = Follower::new();
    // The first page fixes the list's revision; writes between pages are not in the list
    // but in the watch that follows it.
    assert!(f.step(api.store.shared(), &reflector, &feeds, &metrics));
    let watcher::Phase::Listing { at: Some(at), .. } = f.phase().clone() else {
        panic!("still listing after one page: {:?}", f.phase());
    };
    propose(&api, deleting("late")).await;
    catch_up(&mut f, &api, &reflector, &feeds, &metrics);
    assert!(matches!(f.phase(), watcher::Phase::Watching { after } if *after > at));
    assert_eq!(reflector.read(|ix| ix.sizes().0), n + 1);
    assert!(reflector.read(|ix| ix.deleting("core/configmaps/a/late").is_some()));
    assert!(
        feeds[0].resync.load(Ordering::Relaxed),
        "a finished list asks for a resync"
    );
    assert_eq!(
        feeds[0].queue(|q| q.len()),
        1,
        "the change after the list was queued"
    );

    // History past the watcher's revision is compacted away (410): it lists again, and the
    // index holds what changed in the gap, including a removal no event reports any more.
    feeds[0].resync.store(false, Ordering::Relaxed);
    propose(
        &api,
        Command::Delete {
            key: "core/configmaps/a/c00000".into(),
            precondition: Precondition::Exists,
        },
    )
    .await;
    propose(&api, deleting("in-the-gap")).await;
    let rev = api.store.shared().read(|m| m.revision());
    propose(&api, Command::Compact { revision: rev }).await;
    catch_up(&mut f, &api, &reflector, &feeds, &metrics);
    assert_eq!(metrics.relists.load(Ordering::Relaxed), 1);
    assert!(matches!(f.phase(), watcher::Phase::Watching { .. }));
    assert!(reflector.read(|ix| ix.deleting("core/configmaps/a/in-the-gap").is_some()));
    assert!(reflector.read(|ix| ix.deleting("core/configmaps/a/c00000").is_none()));
    assert_eq!(reflector.read(|ix| ix.sizes().0), n + 1);
    assert!(
        feeds[0].resync.load(Ordering::Relaxed),
        "the relist asks for a resync"
    );
    assert!(reflector.revision() >= rev);
}

fn start(api: &SharedApi, c: &Arc<Recorder>) -> (RuntimeHandle, Arc<ControllerMetrics>) {
    let metrics = Arc::new(RuntimeMetrics::default());
    let h = Runtime::new(api.clone(), metrics.clone())
        .with(c.clone())
        .start();
    (h, metrics.controller("recorder"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciles_what_is_there_at_start_and_what_changes() {
    let (_dir, api) = open().await;
    propose(&api, deleting("before")).await;
    let c: Arc<Recorder> = Arc::default();
    let (h, m) = start(&api, &c);
    wait_until("the object there at start", || m.reconciles().0 >= 1).await;
    propose(&api, deleting("after")).await;
    wait_until("the new object", || m.reconciles().0 >= 2).await;
    assert_eq!(m.reconciles().1, 0);
    assert_eq!(h.stop().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_with_back_off() {
    let (_dir, api) = open().await;
    let c: Arc<Recorder> = Arc::default();
    c.fail.store(4, Ordering::Relaxed);
    let began = Instant::now();
    propose(&api, deleting("flaky")).await;
    let (h, m) = start(&api, &c);
    wait_until("success after four failures", || m.reconciles().0 == 1).await;
    assert_eq!(m.reconciles().1, 4);
    // 50 + 100 + 200 + 400 ms of back-off at least.
    assert!(
        began.elapsed() >= Duration::from_millis(750),
        "{:?}",
        began.elapsed()
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_controller_is_restarted_and_its_key_not_lost() {
    let (_dir, api) = open().await;
    let c: Arc<Recorder> = Arc::default();
    c.panic_once.store(true, Ordering::Relaxed);
    propose(&api, deleting("boom")).await;
    let (h, m) = start(&api, &c);
    wait_until("the key reconciled after the restart", || {
        m.reconciles().0 == 1
    })
    .await;
    assert_eq!(m.restarts.load(Ordering::Relaxed), 1);
    assert_eq!(
        c.reads.load(Ordering::Relaxed),
        2,
        "the panicked read, then the retry"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_with_its_handle() {
    let (_dir, api) = open().await;
    let c: Arc<Recorder> = Arc::default();
    let (h, m) = start(&api, &c);
    propose(&api, deleting("one")).await;
    wait_until("a reconcile", || m.reconciles().0 == 1).await;
    assert_eq!(h.stop().await, 2, "the watcher and the controller ended");
    propose(&api, deleting("two")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(m.reconciles().0, 1, "nothing runs after stop");
    assert_eq!(c.reads.load(Ordering::Relaxed), 1);
}
