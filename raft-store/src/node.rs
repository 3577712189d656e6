//! One store node: the log, the state machine and the openraft instance, opened from a data
//! directory, with the write (propose) and read paths the API server uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{Config, Raft, ServerState, SnapshotPolicy};

use crate::mvcc::{Command, Outcome};
use crate::network::NoPeers;
use crate::state_machine::{Shared, StateMachine};
use crate::{Error, LogStore, Node, NodeId, RecoveryReport, Result, TypeConfig};

/// Settings of a store node.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub node_id: NodeId,
    /// Address peers reach this node at (recorded in the membership).
    pub peer_addr: String,
    /// Address of this node's Kubernetes API (recorded in the membership).
    pub api_addr: String,
    /// A snapshot is built after this many applied entries; the log is purged behind it.
    pub snapshot_every: u64,
    /// A snapshot is also built once the log after the last one holds this many bytes of
    /// entries, or the live data's bytes if more (so building snapshots costs at most about
    /// one write of the live data per write of as much log): the log is bounded by
    /// `max(snapshot_log_bytes, live data)` plus what is written while a snapshot builds.
    pub snapshot_log_bytes: u64,
    /// Entries kept in the log behind a snapshot, for followers slightly behind.
    pub keep_behind_snapshot: u64,
    /// …and at most this many bytes of them.
    pub keep_behind_bytes: u64,
    /// Bound of the log's cache of recent entries in RAM; older entries are read back from
    /// disk (see [`crate::LogOptions::cache_bytes`]).
    pub log_cache_bytes: u64,
    /// Where the node's files are written: the real file system, or a simulated disk that
    /// tests cut the power of ([`crate::SimDisk`]).
    pub disk: Arc<dyn crate::Disk>,
    /// Bound of the retained event window (see [`crate::mvcc::DEFAULT_MAX_EVENTS`]).
    pub max_events: usize,
    /// Cut a damaged (complete but failing its checksum) last log group instead of refusing
    /// to start: the operator's explicit way out (see [`crate::LogOptions`]).
    pub truncate_damaged_log: bool,
}

impl StoreConfig {
    pub fn single(peer_addr: impl Into<String>) -> Self {
        let peer_addr = peer_addr.into();
        Self {
            node_id: 1,
            api_addr: peer_addr.clone(),
            peer_addr,
            snapshot_every: 50_000,
            snapshot_log_bytes: DEFAULT_SNAPSHOT_LOG_BYTES,
            keep_behind_snapshot: 5_000,
            keep_behind_bytes: DEFAULT_KEEP_BEHIND_BYTES,
            log_cache_bytes: crate::log::DEFAULT_LOG_CACHE_BYTES,
            disk: Arc::new(crate::StdDisk),
            max_events: crate::mvcc::DEFAULT_MAX_EVENTS,
            truncate_damaged_log: false,
        }
    }
}

/// Default of [`StoreConfig::snapshot_log_bytes`].
pub const DEFAULT_SNAPSHOT_LOG_BYTES: u64 = 64 << 20;
/// Default of [`StoreConfig::keep_behind_bytes`].
pub const DEFAULT_KEEP_BEHIND_BYTES: u64 = 16 << 20;
/// How often the byte-based snapshot and purge policy looks at the log when nothing is
/// applied (it also looks after every applied batch).
const LOG_POLICY_EVERY: Duration = Duration::from_millis(200);
/// A snapshot asked for by the byte policy is not asked for again before this, unless it
/// was built.
const SNAPSHOT_RETRY: Duration = Duration::from_secs(30);

/// Commands waiting for the batcher. Past this bound, `propose` waits for room
/// (back-pressure on the API).
const PROPOSAL_QUEUE: usize = 16_384;
/// Commands grouped into one log entry at most.
const MAX_BATCH: usize = 1_024;
/// Bytes of keys and values grouped into one log entry at most (a single larger command
/// goes alone). Keeps every entry far below the log's record limit and the transport's
/// frame limit.
const MAX_BATCH_BYTES: usize = 8 << 20;

type Reply = tokio::sync::oneshot::Sender<Result<Outcome>>;

/// A boxed future, for the object-safe [`Peers`] trait.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// How a node reaches the leader for what only the leader can do. Implemented over the
/// transport by [`crate::cluster`]; a one-node cluster has none.
pub trait Peers: Send + Sync + 'static {
    /// Records where a member listens (from the membership), before talking to it.
    fn learn(&self, id: NodeId, node: &Node);
    /// Proposes `cmd` at `leader` and returns its outcome.
    fn forward(&self, leader: NodeId, cmd: Command) -> BoxFuture<'_, Result<Outcome>>;
    /// Asks `leader` for a read index: the log index a linearizable read must wait for.
    fn read_index(&self, leader: NodeId) -> BoxFuture<'_, Result<u64>>;
    /// Asks `leader` to add a member.
    fn join(&self, leader: NodeId, req: crate::protocol::JoinRequest) -> BoxFuture<'_, Result<()>>;
    /// Asks `leader` to remove a member.
    fn leave(&self, leader: NodeId, id: NodeId) -> BoxFuture<'_, Result<()>>;
}

/// The leader this node knows of, with its membership entry, told to `peers`.
async fn known_leader(raft: &Raft<TypeConfig>, peers: Option<&dyn Peers>) -> Option<NodeId> {
    let leader = raft.current_leader().await?;
    if let Some(p) = peers {
        let m = raft.metrics().borrow().membership_config.clone();
        if let Some(node) = m.membership().get_node(&leader) {
            p.learn(leader, node);
        }
    }
    Some(leader)
}

/// Attempts to reach a leader for a read, a join or a removal (each waits for an election if
/// needed).
const LEADER_ATTEMPTS: usize = 20;
/// Pause between attempts while no leader is known or the known one moved.
const LEADER_RETRY: Duration = Duration::from_millis(100);
/// How long a write waits for a leader that takes it (an election, a leader without its
/// quorum) before it is refused as certainly not applied (503).
const LEADER_PATIENCE: Duration = Duration::from_secs(5);
/// Raft timers (milliseconds): heartbeat, and the range of the election timeout.
const HEARTBEAT_MS: u64 = 100;
const ELECTION_MIN_MS: u64 = 300;
const ELECTION_MAX_MS: u64 = 600;
/// How long a leader may go without an acknowledgement from a quorum of voters before it
/// stops serving (answers 503, `/readyz` 503). A follower waits at most 1.2 s (openraft's
/// leader lease, `election_timeout_max`, plus the longest election timeout) before it
/// elects, so past that another node may lead already; but openraft dates an
/// acknowledgement by when its request was sent, and on a loaded 2-core machine a healthy
/// cluster's acknowledgements lagged past 1.2 s (29 writes refused in one `kumo bench api`
/// run), so the lease is 2.5 times that.
pub const LEADER_LEASE: Duration = Duration::from_millis(5 * ELECTION_MAX_MS);
/// How often a pending write checks that its leader still holds its lease.
const LEASE_CHECK: Duration = Duration::from_millis(50);

/// Whether this node may serve as leader, from its Raft metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Leadership {
    /// Another node leads, or none is known.
    Follower,
    /// This node leads and a quorum of voters acknowledged it within the lease.
    Held,
    /// This node leads but no quorum has acknowledged it yet (just elected).
    Unconfirmed,
    /// This node leads but has not heard from a quorum for longer than the lease.
    Lost,
}

/// Decides [`Leadership`] from what openraft reports: who leads, and — for a leader — the
/// milliseconds since a quorum last acknowledged it (`RaftMetrics::millis_since_quorum_ack`).
pub fn leadership(
    id: NodeId,
    state: ServerState,
    current_leader: Option<NodeId>,
    millis_since_quorum_ack: Option<u64>,
    lease: Duration,
) -> Leadership {
    if state != ServerState::Leader || current_leader != Some(id) {
        return Leadership::Follower;
    }
    match millis_since_quorum_ack {
        None => Leadership::Unconfirmed,
        Some(ms) if u128::from(ms) > lease.as_millis() => Leadership::Lost,
        Some(_) => Leadership::Held,
    }
}

fn leadership_of(raft: &Raft<TypeConfig>) -> Leadership {
    let rx = raft.metrics();
    let m = rx.borrow();
    leadership(
        m.id,
        m.state,
        m.current_leader,
        m.millis_since_quorum_ack,
        LEADER_LEASE,
    )
}

/// Resolves once this node should no longer wait for a write it proposed as leader: it
/// stopped leading, lost its lease, or stayed unconfirmed for a whole lease.
async fn leadership_gone(raft: &Raft<TypeConfig>) {
    let started = tokio::time::Instant::now();
    loop {
        match leadership_of(raft) {
            Leadership::Held => {}
            Leadership::Unconfirmed if started.elapsed() <= LEADER_LEASE => {}
            _ => return,
        }
        tokio::time::sleep(LEASE_CHECK).await;
    }
}

/// Resolves once this node's Raft no longer names `leader` as the leader (an election
/// started or ended elsewhere).
async fn leader_moved(raft: &Raft<TypeConfig>, leader: NodeId) {
    let mut rx = raft.metrics();
    loop {
        if rx.borrow_and_update().current_leader != Some(leader) {
            return;
        }
        if rx.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// Waits until this node knows a leader other than `tried`, at most `patience`.
async fn await_other_leader(raft: &Raft<TypeConfig>, tried: Option<NodeId>, patience: Duration) {
    let mut rx = raft.metrics();
    let wait = async {
        loop {
            let now = rx.borrow_and_update().current_leader;
            if now.is_some() && now != tried {
                return;
            }
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    };
    let _ = tokio::time::timeout(patience, wait).await;
}

/// A running store node.
#[derive(Clone)]
pub struct StoreNode {
    pub raft: Raft<TypeConfig>,
    log: LogStore,
    shared: Arc<Shared>,
    node_id: NodeId,
    proposals: tokio::sync::mpsc::Sender<(Command, Reply)>,
    peers: Option<Arc<dyn Peers>>,
    barrier: Arc<parking_lot::Mutex<BarrierRound>>,
    _lock: Arc<crate::disk::DirLock>,
}

/// Readers waiting for the next shared read-index round.
#[derive(Default)]
struct BarrierRound {
    running: bool,
    /// Bounded by the callers (each awaits its answer); one round serves them all.
    waiters: Vec<tokio::sync::oneshot::Sender<Result<u64>>>,
}

/// Groups concurrent proposals into one `Command::Batch` entry: one append, one fsync, one
/// apply for all of them. openraft applies an entry only after its flush, and entries
/// proposed one by one were each waiting for their own flush; batching here is what turns
/// concurrency into throughput.
async fn run_batcher(
    raft: Raft<TypeConfig>,
    peers: Option<Arc<dyn Peers>>,
    disk: Arc<crate::DiskFull>,
    mut rx: tokio::sync::mpsc::Receiver<(Command, Reply)>,
) {
    let mut received: Vec<(Command, Reply)> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut received, MAX_BATCH).await > 0 {
        // Queued before the disk filled but not yet in the log: refused like new ones.
        if disk.is_full() {
            for (_, reply) in received.drain(..) {
                let _ = reply.send(Err(Error::DiskFull));
            }
            continue;
        }
        // Split what arrived into entries of at most MAX_BATCH_BYTES.
        let mut entries: Vec<Vec<(Command, Reply)>> = Vec::new();
        let mut size = 0;
        for item in received.drain(..) {
            let n = item.0.approx_bytes();
            match entries.last_mut() {
                Some(last) if size + n <= MAX_BATCH_BYTES => {
                    size += n;
                    last.push(item);
                }
                _ => {
                    size = n;
                    entries.push(vec![item]);
                }
            }
        }
        for batch in entries {
            propose_batch(&raft, peers.as_deref(), batch).await;
        }
    }
}

async fn propose_batch(
    raft: &Raft<TypeConfig>,
    peers: Option<&dyn Peers>,
    batch: Vec<(Command, Reply)>,
) {
    {
        let (cmds, replies): (Vec<Command>, Vec<Reply>) = batch.into_iter().unzip();
        let cmd = if cmds.len() == 1 {
            cmds.into_iter().next().expect("one")
        } else {
            Command::Batch(cmds)
        };
        let n = replies.len();
        let span = tracing::info_span!("raft.propose", commands = n);
        let written = tracing::Instrument::instrument(write_anywhere(raft, peers, cmd), span);
        match written.await {
            Ok(Outcome::Batch(outs)) if outs.len() == n => {
                for (reply, out) in replies.into_iter().zip(outs) {
                    let _ = reply.send(Ok(out));
                }
            }
            Ok(out) if n == 1 => {
                let _ = replies.into_iter().next().map(|r| r.send(Ok(out)));
            }
            Ok(other) => {
                for reply in replies {
                    let _ = reply.send(Err(Error::Raft(format!("unexpected outcome {other:?}"))));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.for_another_waiter()));
                }
            }
        }
    }
}

/// Snapshots and purges by bytes of log, next to openraft's policy by entries (which alone
/// let a log of large entries grow to `snapshot_every` of them): asks for a snapshot once the
/// log after the last one holds `max(snapshot_log_bytes, live data)` bytes, and purges the
/// log behind a snapshot down to `keep_behind_bytes`. Ends with the node (its proposal
/// queue) or Raft.
async fn run_log_policy(
    raft: Raft<TypeConfig>,
    log: LogStore,
    shared: Arc<Shared>,
    cfg: StoreConfig,
    alive: tokio::sync::mpsc::WeakSender<(Command, Reply)>,
) {
    let mut tick = tokio::time::interval(LOG_POLICY_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Woken by every applied batch (so a fast writer cannot outrun it), and by the tick.
    let mut applied_rx = shared.subscribe();
    let mut asked: Option<(u64, tokio::time::Instant)> = None;
    let mut purge_asked = 0u64;
    let mut purge_checked = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            r = applied_rx.changed() => {
                if r.is_err() {
                    return;
                }
            }
        }
        if alive.strong_count() == 0 {
            return;
        }
        let m = raft.metrics().borrow().clone();
        if m.running_state.is_err() {
            return;
        }
        let snap = m.snapshot.map(|s| s.index);
        let applied = m.last_applied.map_or(0, |l| l.index);
        let done = |i: u64| snap.is_some_and(|s| s >= i);
        let waiting = asked.is_some_and(|(i, at)| !done(i) && at.elapsed() < SNAPSHOT_RETRY);
        // No snapshot by bytes while the disk is full: it would only wait for space too.
        let full = log.disk_full().is_full();
        if !waiting && !full && snap.is_none_or(|s| s < applied) {
            let threshold = cfg.snapshot_log_bytes.max(shared.read(|m| m.value_bytes()));
            if log.bytes_after(snap) >= threshold {
                tracing::info!(applied, threshold, "log bytes past the snapshot threshold");
                if raft.trigger().snapshot().await.is_err() {
                    return;
                }
                asked = Some((applied, tokio::time::Instant::now()));
            }
        }
        // The purge point moves only with the snapshot.
        if let Some(s) = snap
            && purge_checked.replace(s) != Some(s)
            && let Some(p) = log.purge_point(s, cfg.keep_behind_bytes)
            && p > purge_asked
            && m.purged.is_none_or(|x| x.index < p)
        {
            if raft.trigger().purge_log(p).await.is_err() {
                return;
            }
            purge_asked = p;
        }
    }
}

/// Writes through this node when it leads, else through the leader (forwarded over the
/// transport). A write that certainly did not apply because no leader takes it (an
/// election, a leader unreachable before sending) waits for one, up to [`LEADER_PATIENCE`].
/// A leader that lost its quorum refuses at once (`NoQuorum`: 503, retry later).
/// A forwarded write whose leader changes while it is in flight is answered at once as
/// unknown (504): the old leader may have applied it, so it is not retried.
async fn write_anywhere(
    raft: &Raft<TypeConfig>,
    peers: Option<&dyn Peers>,
    cmd: Command,
) -> Result<Outcome> {
    let deadline = tokio::time::Instant::now() + LEADER_PATIENCE;
    loop {
        let leader = known_leader(raft, peers).await;
        let result = match (leader, peers) {
            (Some(l), Some(p)) if l != raft_id(raft) => {
                tokio::select! {
                    r = p.forward(l, cmd.clone()) => r,
                    () = leader_moved(raft, l) => Err(Error::Unknown(
                        "the leader changed while the write was in flight".into(),
                    )),
                }
            }
            _ => write(raft, cmd.clone()).await,
        };
        match result {
            Err(e @ Error::NotLeader { .. }) => {
                let now = tokio::time::Instant::now();
                if peers.is_none() || now >= deadline {
                    return Err(e);
                }
                await_other_leader(raft, leader, LEADER_RETRY.min(deadline - now)).await;
            }
            // A forwarded command whose fate is unknown (the leader may have applied it)
            // is not retried: the caller gets the error and decides.
            other => return other,
        }
    }
}

fn raft_id(raft: &Raft<TypeConfig>) -> NodeId {
    raft.metrics().borrow().id
}

/// Proposes `cmd` on this node's Raft; `NotLeader` when it does not lead, `NoQuorum` (not
/// proposed) when it leads without its lease, `Unknown` when it stops leading or loses its
/// lease while the entry waits to commit (a leader cut off from its quorum never commits).
pub(crate) async fn write(raft: &Raft<TypeConfig>, cmd: Command) -> Result<Outcome> {
    if leadership_of(raft) == Leadership::Lost {
        return Err(Error::NoQuorum);
    }
    let written = raft.client_write(cmd);
    tokio::pin!(written);
    let result = tokio::select! {
        r = &mut written => r,
        () = leadership_gone(raft) => {
            // An answer may have arrived meanwhile (the entry committed as leadership moved).
            match futures::FutureExt::now_or_never(written.as_mut()) {
                Some(r) => r,
                None => return Err(Error::Unknown(
                    "leadership was lost while the write waited to commit".into(),
                )),
            }
        }
    };
    match result {
        Ok(resp) => Ok(resp.data),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => Err(Error::NotLeader {
            leader: f.leader_id,
        }),
        Err(RaftError::APIError(e)) => Err(Error::Raft(e.to_string())),
        Err(RaftError::Fatal(e)) => Err(Error::Raft(format!("fatal: {e}"))),
    }
}

/// Takes an exclusive lock on `dir/LOCK`, so two processes never share a data directory.
fn lock_dir(disk: &dyn crate::Disk, dir: &Path) -> Result<crate::disk::DirLock> {
    disk.lock(dir)?
        .ok_or_else(|| Error::Locked(dir.display().to_string()))
}

impl StoreNode {
    /// Opens the node's data in `dir` (creating it), replays the log, restores the last
    /// snapshot, starts Raft and — on a fresh directory — initialises a one-voter cluster.
    pub async fn open(dir: &Path, cfg: StoreConfig) -> Result<(Self, RecoveryReport)> {
        Self::open_with(dir, cfg, NoPeers, None, true).await
    }

    /// Opens a node that reaches its peers through `network` (Raft) and `peers` (forwarding).
    /// With `bootstrap`, a fresh directory initialises a one-voter cluster of this node;
    /// without, the node waits to be added by a leader (`kumo control --join`).
    pub async fn open_with<N>(
        dir: &Path,
        cfg: StoreConfig,
        network: N,
        peers: Option<Arc<dyn Peers>>,
        bootstrap: bool,
    ) -> Result<(Self, RecoveryReport)>
    where
        N: openraft::network::RaftNetworkFactory<TypeConfig>,
    {
        cfg.disk.create_dir_all(dir)?;
        let lock = lock_dir(&*cfg.disk, dir)?;
        let sm = StateMachine::open_on(cfg.disk.clone(), &dir.join("state"), cfg.max_events)?;
        let log_opts = crate::LogOptions {
            truncate_damaged: cfg.truncate_damaged_log,
            cache_bytes: cfg.log_cache_bytes,
            disk: cfg.disk.clone(),
            durable_snapshot: Some(sm.durable_snapshot()),
        };
        let (log, report) = LogStore::open_with(&dir.join("raft-log"), &log_opts)?;
        // A snapshot waiting for disk space sets the log's disk-full flag too.
        let sm = sm.with_disk_full(log.disk_full().clone(), log.alive());
        let shared = sm.shared();
        let config = Config {
            cluster_name: "kumo".into(),
            heartbeat_interval: HEARTBEAT_MS,
            election_timeout_min: ELECTION_MIN_MS,
            election_timeout_max: ELECTION_MAX_MS,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_every),
            max_in_snapshot_log_to_keep: cfg.keep_behind_snapshot,
            max_payload_entries: 1024,
            ..Default::default()
        };
        let config = Arc::new(config.validate().map_err(|e| Error::Raft(e.to_string()))?);
        let raft = Raft::new(cfg.node_id, config, network, log.clone(), sm)
            .await
            .map_err(|e| Error::Raft(e.to_string()))?;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| Error::Raft(e.to_string()))?;
        if bootstrap && !initialized {
            let members = BTreeMap::from([(
                cfg.node_id,
                Node {
                    peer_addr: cfg.peer_addr.clone(),
                    api_addr: cfg.api_addr.clone(),
                },
            )]);
            raft.initialize(members)
                .await
                .map_err(|e| Error::Raft(e.to_string()))?;
        }
        let (proposals, rx) = tokio::sync::mpsc::channel(PROPOSAL_QUEUE);
        tokio::spawn(run_batcher(
            raft.clone(),
            peers.clone(),
            log.disk_full().clone(),
            rx,
        ));
        tokio::spawn(run_log_policy(
            raft.clone(),
            log.clone(),
            shared.clone(),
            cfg.clone(),
            proposals.downgrade(),
        ));
        let node = Self {
            log,
            raft,
            shared,
            node_id: cfg.node_id,
            proposals,
            peers,
            barrier: Arc::default(),
            _lock: Arc::new(lock),
        };
        Ok((node, report))
    }

    /// Waits until this node knows a leader (itself or a peer).
    pub async fn wait_leader_known(&self, timeout: Duration) -> Result<NodeId> {
        self.raft
            .wait(Some(timeout))
            .metrics(|m| m.current_leader.is_some(), "a leader is known")
            .await
            .map(|m| m.current_leader.unwrap_or_default())
            .map_err(|e| Error::Raft(e.to_string()))
    }

    /// Whether `id` is in the membership (voter or learner).
    pub fn is_member(&self, id: NodeId) -> bool {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&id)
            .is_some()
    }

    /// Whether this node may serve as leader now (see [`leadership`]).
    pub fn leadership(&self) -> Leadership {
        leadership_of(&self.raft)
    }

    /// Whether this node leads now.
    pub fn is_leader(&self) -> bool {
        let rx = self.raft.metrics();
        let m = rx.borrow();
        m.current_leader == Some(m.id)
    }

    /// Waits until this node leads (a one-voter cluster elects itself).
    pub async fn wait_leader(&self, timeout: Duration) -> Result<()> {
        self.raft
            .wait(Some(timeout))
            .state(ServerState::Leader, "wait for leadership")
            .await
            .map(|_| ())
            .map_err(|e| Error::Raft(e.to_string()))
    }

    /// What the Raft log holds now (entries, bytes, cache).
    pub fn log_stats(&self) -> crate::LogStats {
        self.log.stats()
    }

    /// True while the disk is full: writes are refused with [`Error::DiskFull`] (reads are
    /// served), until a retried write of the log or a snapshot goes through.
    pub fn disk_full(&self) -> bool {
        self.log.disk_full().is_full()
    }

    /// A reader of the Raft log (for tools and tests).
    pub fn log_reader(&self) -> LogStore {
        self.log.clone()
    }

    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// Read access to the applied state.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Proposes a command and waits until it is committed and applied; the outcome is the
    /// state machine's answer. Concurrent proposals are grouped into one log entry (see
    /// `run_batcher`): one append and one fsync for all of them.
    /// While the disk is full, refused at once with [`Error::DiskFull`].
    pub async fn propose(&self, cmd: Command) -> Result<Outcome> {
        if self.disk_full() {
            return Err(Error::DiskFull);
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.proposals
            .send((cmd, tx))
            .await
            .map_err(|_| Error::Shutdown)?;
        rx.await.map_err(|_| Error::Shutdown)?
    }

    /// Waits until this node has applied everything committed before the call (read index):
    /// a read after it is linearizable. A follower asks the leader for the index, then
    /// waits for its own state machine to reach it.
    pub async fn read_barrier(&self) -> Result<()> {
        let index = self.shared_read_index().await?;
        self.wait_applied(index).await
    }

    /// A read index shared by every caller that asked while no round was under way:
    /// callers arriving during a round join the next one (a round that started before a
    /// read arrived cannot serve it), so concurrent reads cost one leadership check per
    /// round instead of one each.
    async fn shared_read_index(&self) -> Result<u64> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let start = {
            let mut b = self.barrier.lock();
            b.waiters.push(tx);
            !std::mem::replace(&mut b.running, true)
        };
        if start {
            let node = self.clone();
            tokio::spawn(async move {
                loop {
                    let waiters = {
                        let mut b = node.barrier.lock();
                        if b.waiters.is_empty() {
                            b.running = false;
                            return;
                        }
                        std::mem::take(&mut b.waiters)
                    };
                    let r = node.read_index_once().await;
                    for w in waiters {
                        let _ = w.send(match &r {
                            Ok(i) => Ok(*i),
                            Err(e) => Err(e.for_another_waiter()),
                        });
                    }
                }
            });
        }
        rx.await.map_err(|_| Error::Shutdown)?
    }

    /// One read index: from this node when it leads, else from the leader.
    async fn read_index_once(&self) -> Result<u64> {
        let mut last = Error::NotLeader { leader: None };
        for _ in 0..LEADER_ATTEMPTS {
            let leader = known_leader(&self.raft, self.peers.as_deref()).await;
            let index = match (leader, &self.peers) {
                // A read index asked of a leader that is replaced meanwhile is asked again
                // of the next one at once (a read has no side effect).
                (Some(l), Some(p)) if l != self.node_id => tokio::select! {
                    r = p.read_index(l) => r,
                    () = leader_moved(&self.raft, l) => Err(Error::NotLeader { leader: None }),
                },
                _ => self.local_read_index().await,
            };
            match index {
                Ok(index) => return Ok(index),
                // This node leads without its quorum: refuse at once (503, retry later).
                Err(Error::NoQuorum) if leader == Some(self.node_id) || self.peers.is_none() => {
                    return Err(Error::NoQuorum);
                }
                // A read index has no side effect, so a lost or timed-out request (the
                // leader died with it) is asked again of whoever leads now.
                Err(e @ (Error::NotLeader { .. } | Error::Unknown(_) | Error::NoQuorum)) => {
                    last = match e {
                        Error::Unknown(_) => Error::NotLeader { leader: None },
                        e => e,
                    };
                    if self.peers.is_none() {
                        break;
                    }
                    await_other_leader(&self.raft, leader, LEADER_RETRY).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// The read index when this node leads (after confirming leadership with a quorum).
    ///
    /// While the disk is full on a node that is the only voter, the read index is the applied
    /// index, without asking Raft: openraft 0.9 awaits each log append inline, so its core is
    /// paused while the writer waits for space. That read is linearizable: no other node can
    /// lead, nothing commits while the append waits, and every acknowledged write was applied
    /// before it was acknowledged. (In a cluster, a leader whose disk is full stops sending
    /// heartbeats, so the others elect a new one.)
    pub async fn local_read_index(&self) -> Result<u64> {
        if self.disk_full() && self.sole_voter() {
            return Ok(self.shared.last_applied_index().unwrap_or(0));
        }
        use openraft::error::CheckIsLeaderError;
        if self.leadership() == Leadership::Lost {
            return Err(Error::NoQuorum);
        }
        let checked = tokio::time::timeout(LEADER_LEASE, self.raft.ensure_linearizable()).await;
        match checked {
            Ok(Ok(log_id)) => Ok(log_id.map_or(0, |l| l.index)),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                Err(Error::NotLeader {
                    leader: f.leader_id,
                })
            }
            // The error names every member and its addresses: logged here, never passed on.
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(q)))) => {
                tracing::info!(error = %q, "read index: no quorum");
                Err(Error::NoQuorum)
            }
            Err(_) => Err(Error::NoQuorum),
            Ok(Err(other)) => Err(Error::Raft(other.to_string())),
        }
    }

    /// Whether this node is the only voter (and no membership change is under way).
    fn sole_voter(&self) -> bool {
        let m = self.raft.metrics().borrow().membership_config.clone();
        let configs = m.membership().get_joint_config();
        configs.len() == 1 && configs[0].len() == 1 && configs[0].contains(&self.node_id)
    }

    /// Waits (bounded) until the state machine has applied `index`.
    pub async fn wait_applied(&self, index: u64) -> Result<()> {
        if self.shared.last_applied_index().unwrap_or(0) >= index {
            return Ok(());
        }
        self.raft
            .wait(Some(Duration::from_secs(10)))
            .applied_index_at_least(Some(index), "read barrier")
            .await
            .map(|_| ())
            .map_err(|e| Error::Raft(e.to_string()))
    }

    /// Adds a member when this node leads: as a learner (returning once it has caught up),
    /// then, if `voter`, as a voter. `NotLeader` elsewhere.
    pub async fn add_member(&self, id: NodeId, node: Node, voter: bool) -> Result<()> {
        let map = |e: RaftError<NodeId, ClientWriteError<NodeId, Node>>| match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => Error::NotLeader {
                leader: f.leader_id,
            },
            other => Error::Raft(other.to_string()),
        };
        let already = {
            let m = self.raft.metrics().borrow().membership_config.clone();
            (
                m.membership().get_node(&id).is_some(),
                m.membership().voter_ids().any(|v| v == id),
            )
        };
        if !already.0 {
            self.raft.add_learner(id, node, true).await.map_err(map)?;
        }
        if voter && !already.1 {
            let ids = std::collections::BTreeSet::from([id]);
            self.raft
                .change_membership(openraft::ChangeMembers::AddVoterIds(ids), false)
                .await
                .map_err(map)?;
        }
        Ok(())
    }

    /// Adds a member through whichever node leads.
    pub async fn join(&self, req: crate::protocol::JoinRequest) -> Result<()> {
        for _ in 0..LEADER_ATTEMPTS {
            let leader = known_leader(&self.raft, self.peers.as_deref()).await;
            let r = match (leader, &self.peers) {
                (Some(l), Some(p)) if l != self.node_id => p.join(l, req.clone()).await,
                _ => self.add_member(req.id, req.node.clone(), req.voter).await,
            };
            match r {
                Err(Error::NotLeader { .. }) if self.peers.is_some() => {
                    tokio::time::sleep(LEADER_RETRY).await
                }
                other => return other,
            }
        }
        Err(Error::NotLeader { leader: None })
    }

    /// Removes a member through whichever node leads.
    pub async fn remove_anywhere(&self, id: NodeId) -> Result<()> {
        for _ in 0..LEADER_ATTEMPTS {
            let leader = known_leader(&self.raft, self.peers.as_deref()).await;
            let r = match (leader, &self.peers) {
                (Some(l), Some(p)) if l != self.node_id => p.leave(l, id).await,
                _ => self.remove_member(id).await,
            };
            match r {
                Err(Error::NotLeader { .. }) if self.peers.is_some() => {
                    tokio::time::sleep(LEADER_RETRY).await
                }
                other => return other,
            }
        }
        Err(Error::NotLeader { leader: None })
    }

    /// Removes a member (voter or learner) when this node leads.
    pub async fn remove_member(&self, id: NodeId) -> Result<()> {
        let map = |e: RaftError<NodeId, ClientWriteError<NodeId, Node>>| match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => Error::NotLeader {
                leader: f.leader_id,
            },
            other => Error::Raft(other.to_string()),
        };
        let ids = std::collections::BTreeSet::from([id]);
        let m = self.raft.metrics().borrow().membership_config.clone();
        if m.membership().voter_ids().any(|v| v == id) {
            // Not retained as a learner: this one change removes the node entirely. When the
            // node is this leader, it steps down once the change commits, so there must be
            // no second change from it (openraft 0.9 asserts a leader appends membership).
            let r = self
                .raft
                .change_membership(openraft::ChangeMembers::RemoveVoters(ids), false)
                .await
                .map_err(map)?;
            if r.membership.is_none_or(|m| m.get_node(&id).is_none()) {
                return Ok(());
            }
            return Err(Error::Raft(format!(
                "node {id} is still listed after its removal as a voter"
            )));
        }
        if m.membership().get_node(&id).is_some() {
            self.raft
                .change_membership(openraft::ChangeMembers::RemoveNodes(ids), false)
                .await
                .map_err(map)?;
        }
        Ok(())
    }

    /// Proposes on this node only: `NotLeader` when it does not lead (used for commands
    /// forwarded by a peer, so they never bounce between nodes).
    pub async fn propose_local(&self, cmd: Command) -> Result<Outcome> {
        if self.disk_full() {
            return Err(Error::DiskFull);
        }
        write(&self.raft, cmd).await
    }

    /// Stops Raft; the log writer flushes what it has.
    pub async fn shutdown(&self) -> Result<()> {
        self.raft
            .shutdown()
            .await
            .map_err(|e| Error::Raft(e.to_string()))
    }

    /// Metrics snapshot: (term, last log index, commit index, applied index).
    pub fn raft_metrics(&self) -> (u64, u64, u64, u64) {
        let m = self.raft.metrics().borrow().clone();
        (
            m.current_term,
            m.last_log_index.unwrap_or(0),
            m.last_applied.map_or(0, |l| l.index),
            self.shared.last_applied_index().unwrap_or(0),
        )
    }
}

/// Path helper used by tools: where a node keeps its Raft log.
pub fn log_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("raft-log")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_millis(1200);

    #[test]
    fn a_leader_serves_only_while_a_quorum_acknowledged_it_within_the_lease() {
        let l = ServerState::Leader;
        assert_eq!(leadership(1, l, Some(1), Some(0), LEASE), Leadership::Held);
        assert_eq!(
            leadership(1, l, Some(1), Some(1200), LEASE),
            Leadership::Held
        );
        // Both followers dead: the acknowledgements stop and the lease runs out.
        assert_eq!(
            leadership(1, l, Some(1), Some(1201), LEASE),
            Leadership::Lost
        );
        assert_eq!(
            leadership(1, l, Some(1), Some(60_000), LEASE),
            Leadership::Lost
        );
        // Just elected, nothing acknowledged yet.
        assert_eq!(
            leadership(1, l, Some(1), None, LEASE),
            Leadership::Unconfirmed
        );
    }

    #[test]
    fn a_node_that_does_not_lead_is_a_follower_whatever_it_reports() {
        for state in [
            ServerState::Follower,
            ServerState::Candidate,
            ServerState::Learner,
        ] {
            assert_eq!(
                leadership(1, state, Some(2), Some(5_000), LEASE),
                Leadership::Follower
            );
            assert_eq!(
                leadership(1, state, None, None, LEASE),
                Leadership::Follower
            );
        }
        // Leader state but another leader named (a transition): not this node's to serve.
        assert_eq!(
            leadership(1, ServerState::Leader, Some(2), Some(0), LEASE),
            Leadership::Follower
        );
    }
}
