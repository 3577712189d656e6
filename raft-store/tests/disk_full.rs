//! A full disk is waited out, not fatal (issue 6, item 7): while a node's disk is full,
//! its writes are refused with `DiskFull` and reads are served where they can be; once
//! space is freed the write that was waiting goes through and new writes are served,
//! without reopening the node; every acknowledged write survives (a power cut, here).
//!
//! Most cases run on a `SimDisk` that runs out of space on demand — on a log group's write
//! or fdatasync, when a new log segment is started, when a snapshot is built or received —
//! on one node and in a three-node cluster (a follower's disk, the leader's). One case
//! fills a real filesystem: a tmpfs mounted for the test (root); where `mount` is not
//! permitted it says so and skips.

use crate::common;

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Member, converged_within, join};
use kumo_raft_store::{
    Command, Error, NoSpaceAt, NodeId, Outcome, Precondition, SimDisk, StoreConfig, StoreNode,
};
use kumo_transport::MemNetwork;

/// A tmpfs mounted on a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` when this process may not mount (not root, no CAP_SYS_ADMIN).
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Proc::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        if !out.status.success() {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs to fill (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Proc::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Proc::new("umount").arg("-l").arg(self.dir.path()).status();
        }
    }
}

/// Fills the filesystem of `dir` with one file until not even a byte fits; returns it.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("create filler");
    for chunk in [1 << 20, 64 << 10, 4 << 10, 1] {
        let buf = vec![0xa5u8; chunk];
        loop {
            match f.write_all(&buf) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling: {e}"),
            }
        }
    }
    path
}

fn put_cmd(key: &str, len: usize) -> Command {
    Command::Put {
        key: key.into(),
        value: Bytes::from(vec![b'v'; len]),
        precondition: Precondition::Absent,
    }
}

fn done(r: kumo_raft_store::Result<Outcome>) -> u64 {
    match r.expect("write") {
        Outcome::Done { revision, .. } => revision,
        other => panic!("{other:?}"),
    }
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_writes_serves_reads_and_recovers_without_a_restart() {
    let Some(fs) = Tmpfs::mount("8m") else {
        return;
    };
    let data = fs.path().join("data");
    let cfg = StoreConfig::single("127.0.0.1:0");
    let mut acked: Vec<String> = Vec::new();
    {
        let (node, _) = StoreNode::open(&data, cfg.clone()).await.expect("open");
        node.wait_leader(Duration::from_secs(10))
            .await
            .expect("leader");
        for i in 0..20 {
            let key = format!("before/{i}");
            done(node.propose(put_cmd(&key, 1000)).await);
            acked.push(key);
        }

        let filler = fill(fs.path());
        // The next write needs new pages: its group hits ENOSPC and waits in the writer.
        let queued = tokio::spawn({
            let node = node.clone();
            async move { node.propose(put_cmd("queued", 64 << 10)).await }
        });
        until("the node notices the full disk", || node.disk_full()).await;

        // Writes are refused at once, with the disk-full error.
        let t = Instant::now();
        match node.propose(put_cmd("refused", 10)).await {
            Err(e @ Error::DiskFull) => {
                assert_eq!(
                    e.to_string(),
                    "the node's disk is full: writes are refused until space is freed"
                );
            }
            other => panic!("expected DiskFull, got {other:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(1));
        // Reads are served: read barrier, then the local state machine.
        for _ in 0..3 {
            tokio::time::timeout(Duration::from_secs(5), node.read_barrier())
                .await
                .expect("read barrier in time")
                .expect("read barrier while the disk is full");
            let n = node
                .shared()
                .read(|m| acked.iter().filter(|k| m.get(k).is_some()).count());
            assert_eq!(n, acked.len());
            assert!(node.shared().read(|m| m.get("refused").is_none()));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert!(!queued.is_finished(), "the queued write waits for space");
        assert!(node.disk_full());

        // Space is back: the queued write goes through and new writes are served, without
        // reopening the node.
        std::fs::remove_file(&filler).expect("free space");
        let r = tokio::time::timeout(Duration::from_secs(10), queued)
            .await
            .expect("queued write completes once space is back")
            .expect("join");
        done(r);
        acked.push("queued".into());
        until("the flag clears", || !node.disk_full()).await;
        for i in 0..5 {
            let key = format!("after/{i}");
            done(node.propose(put_cmd(&key, 1000)).await);
            acked.push(key);
        }
        node.read_barrier().await.expect("read barrier");
        node.shutdown().await.expect("shutdown");
    }

    // Every acknowledged write survives a restart, and the log has no torn tail: the
    // failed attempts were cut back.
    let (node, report) = StoreNode::open(&data, cfg).await.expect("reopen");
    assert_eq!(report.truncated_tail, None, "{report:?}");
    node.wait_leader(Duration::from_secs(10))
        .await
        .expect("leader");
    node.read_barrier().await.expect("read barrier");
    let missing: Vec<&String> = node
        .shared()
        .read(|m| acked.iter().filter(|k| m.get(k).is_none()).collect());
    assert!(missing.is_empty(), "lost after restart: {missing:?}");
    node.shutdown().await.expect("shutdown");
    drop(node);
}

// ---------------------------------------------------------------------------------------
// On a simulated disk that runs out of space on demand (deterministic, in memory).

/// Every case is bounded: a hang fails in this time instead of stalling the suite.
async fn bounded(limit: Duration, case: impl Future<Output = ()>) {
    tokio::time::timeout(limit, case)
        .await
        .expect("the case did not finish in time");
}

type Acked = BTreeMap<String, Bytes>;

fn value_of(key: &str, len: usize) -> Bytes {
    let mut v = format!("{key}=").into_bytes();
    v.resize(len.max(v.len()), b'v');
    Bytes::from(v)
}

fn put_of(key: &str, len: usize) -> Command {
    Command::Put {
        key: key.into(),
        value: value_of(key, len),
        precondition: Precondition::Absent,
    }
}

/// Writes `key` through `node`; it must be acknowledged.
async fn put_ok(node: &StoreNode, key: &str, len: usize, acked: &mut Acked) {
    done(node.propose(put_of(key, len)).await);
    acked.insert(key.into(), value_of(key, len));
}

/// Every acknowledged write is on `node`, with its value.
fn assert_has(node: &StoreNode, acked: &Acked, what: &str) {
    let missing: Vec<&String> = node.shared().read(|m| {
        acked
            .iter()
            .filter(|(k, v)| m.get(k).map(|kv| &kv.value) != Some(*v))
            .map(|(k, _)| k)
            .collect()
    });
    assert!(
        missing.is_empty(),
        "{what}: node {} lacks acknowledged writes {missing:?}",
        node.node_id()
    );
}

/// A write through `node` is refused at once as `DiskFull`.
async fn refused_as_full(node: &StoreNode) {
    let r = tokio::time::timeout(Duration::from_secs(1), node.propose(put_of("refused", 10))).await;
    assert!(
        matches!(r, Ok(Err(Error::DiskFull))),
        "node {}: expected DiskFull at once, got {r:?}",
        node.node_id()
    );
}

/// A linearizable read through `node` is served and sees every acknowledged write.
async fn reads_served(node: &StoreNode, acked: &Acked, what: &str) {
    tokio::time::timeout(Duration::from_secs(5), node.read_barrier())
        .await
        .unwrap_or_else(|_| panic!("{what}: read barrier on node {} in time", node.node_id()))
        .unwrap_or_else(|e| panic!("{what}: read barrier on node {}: {e}", node.node_id()));
    assert_has(node, acked, what);
}

fn sim_cfg(disk: &SimDisk) -> StoreConfig {
    let mut cfg = StoreConfig::single("sim");
    cfg.disk = Arc::new(disk.clone());
    cfg
}

/// Cuts the power of a one-node store and opens it again: every acknowledged write is
/// there (the failed attempts were cut back: replay refuses damage followed by valid data).
async fn every_acked_write_survives_a_power_cut(
    node: StoreNode,
    disk: &SimDisk,
    dir: &Path,
    acked: &Acked,
) {
    let after = disk.power_cut(7);
    let _ = node.shutdown().await;
    drop(node);
    let (node, _) = StoreNode::open(dir, sim_cfg(&after))
        .await
        .expect("reopen after the power cut");
    node.wait_leader(Duration::from_secs(10))
        .await
        .expect("leader");
    reads_served(&node, acked, "after the power cut").await;
    node.shutdown().await.expect("shutdown");
}

/// One node; its disk fills (found `at` the write or the fdatasync of a log group) while a
/// write is on its way to the log.
async fn a_full_log_group_is_waited_out(at: NoSpaceAt) {
    let disk = SimDisk::new();
    let dir = Path::new("/sim/node");
    let (node, _) = StoreNode::open(dir, sim_cfg(&disk)).await.expect("open");
    node.wait_leader(Duration::from_secs(10))
        .await
        .expect("leader");
    let mut acked = Acked::new();
    for i in 0..20 {
        put_ok(&node, &format!("before/{i}"), 1000, &mut acked).await;
    }

    // Room for less than the next write's group: it is written (or written back) part way.
    disk.fill_but(1000, at);
    let queued = tokio::spawn({
        let node = node.clone();
        async move { node.propose(put_of("queued", 64 << 10)).await }
    });
    until("the node notices the full disk", || node.disk_full()).await;
    refused_as_full(&node).await;
    for _ in 0..3 {
        reads_served(&node, &acked, "while the disk is full").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!queued.is_finished(), "the queued write waits for space");
    assert!(node.disk_full());

    disk.free_space();
    let r = tokio::time::timeout(Duration::from_secs(10), queued)
        .await
        .expect("the queued write completes once space is back")
        .expect("join");
    done(r);
    acked.insert("queued".into(), value_of("queued", 64 << 10));
    until("the flag clears", || !node.disk_full()).await;
    for i in 0..5 {
        put_ok(&node, &format!("after/{i}"), 1000, &mut acked).await;
    }
    reads_served(&node, &acked, "after space is back").await;
    every_acked_write_survives_a_power_cut(node, &disk, dir, &acked).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn enospc_on_the_write_of_a_log_group_is_waited_out() {
    bounded(
        Duration::from_secs(60),
        a_full_log_group_is_waited_out(NoSpaceAt::Write),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn enospc_on_the_fdatasync_of_a_log_group_is_waited_out() {
    bounded(
        Duration::from_secs(60),
        a_full_log_group_is_waited_out(NoSpaceAt::Sync),
    )
    .await;
}

/// The disk has room for the group that ends a segment but not for the next segment: the
/// group is acknowledged, the segment goes on past its size, the next write waits for space
/// (refused meanwhile), and the new segment is started once space is back.
#[tokio::test(flavor = "multi_thread")]
async fn enospc_when_starting_a_new_log_segment_is_waited_out() {
    bounded(Duration::from_secs(60), async {
        let disk = SimDisk::new();
        let dir = Path::new("/sim/node");
        let (node, _) = StoreNode::open(dir, sim_cfg(&disk)).await.expect("open");
        node.wait_leader(Duration::from_secs(10))
            .await
            .expect("leader");
        let log_dir = dir.join("raft-log");
        let segments = || -> Vec<usize> {
            disk.files()
                .into_iter()
                .filter(|(p, _)| p.parent() == Some(log_dir.as_path()))
                .filter(|(p, _)| p.extension().is_some_and(|e| e == "wal"))
                .map(|(_, len)| len)
                .collect()
        };
        let segment = kumo_raft_store::log::SEGMENT_BYTES as usize;
        let mut acked = Acked::new();
        const MIB: usize = 1 << 20;
        for i in 0.. {
            let len = segments();
            assert_eq!(len.len(), 1);
            if len[0] + 2 * MIB > segment {
                break;
            }
            put_ok(&node, &format!("fill/{i:02}"), MIB, &mut acked).await;
        }
        // A write whose group reaches the segment's end, with room for it and for the
        // small records after it, but none for a new file.
        let crossing = segment - segments()[0];
        disk.fill_but((crossing + 2048) as u64, NoSpaceAt::Write);
        put_ok(&node, "crossing", crossing, &mut acked).await;
        let len = segments();
        assert_eq!(len.len(), 1, "a new segment without space: {len:?}");
        assert!(len[0] >= segment, "{len:?}");

        let queued = tokio::spawn({
            let node = node.clone();
            async move { node.propose(put_of("queued", 64 << 10)).await }
        });
        until("the node notices the full disk", || node.disk_full()).await;
        refused_as_full(&node).await;
        reads_served(&node, &acked, "while the disk is full").await;
        assert!(!queued.is_finished(), "the queued write waits for space");

        disk.free_space();
        let r = tokio::time::timeout(Duration::from_secs(10), queued)
            .await
            .expect("the queued write completes once space is back")
            .expect("join");
        done(r);
        acked.insert("queued".into(), value_of("queued", 64 << 10));
        until("the flag clears", || !node.disk_full()).await;
        put_ok(&node, "after", 1000, &mut acked).await;
        let len = segments();
        assert_eq!(len.len(), 2, "the new segment once space is back: {len:?}");
        every_acked_write_survives_a_power_cut(node, &disk, dir, &acked).await;
    })
    .await;
}

/// A snapshot built by the node finds the disk full: it waits (its partial file removed),
/// writes are refused and reads served meanwhile, and it is written once space is back.
#[tokio::test(flavor = "multi_thread")]
async fn enospc_while_writing_a_built_snapshot_is_waited_out_and_retried() {
    bounded(Duration::from_secs(60), async {
        let disk = SimDisk::new();
        let dir = Path::new("/sim/node");
        let (node, _) = StoreNode::open(dir, sim_cfg(&disk)).await.expect("open");
        node.wait_leader(Duration::from_secs(10))
            .await
            .expect("leader");
        let mut acked = Acked::new();
        for i in 0..50 {
            put_ok(&node, &format!("before/{i}"), 1000, &mut acked).await;
        }
        // Room for the temporary file and a little of it: the write fails part way.
        disk.fill_but(
            kumo_raft_store::disk::SIM_FILE_BYTES + 1000,
            NoSpaceAt::Write,
        );
        node.raft.trigger().snapshot().await.expect("trigger");
        until("the node notices the full disk", || node.disk_full()).await;
        refused_as_full(&node).await;
        reads_served(&node, &acked, "while the snapshot waits").await;
        let state = dir.join("state");
        let snapshot_files = || -> Vec<PathBuf> {
            disk.files()
                .into_keys()
                .filter(|p| p.parent() == Some(state.as_path()))
                .collect()
        };
        assert_eq!(
            snapshot_files(),
            Vec::<PathBuf>::new(),
            "no partial snapshot is kept"
        );
        assert!(node.raft.metrics().borrow().snapshot.is_none());

        disk.free_space();
        until("the snapshot is written", || {
            node.raft.metrics().borrow().snapshot.is_some()
        })
        .await;
        until("the flag clears", || !node.disk_full()).await;
        assert_eq!(snapshot_files(), [state.join("snapshot.bin")]);
        put_ok(&node, "after", 1000, &mut acked).await;
        reads_served(&node, &acked, "after space is back").await;
        every_acked_write_survives_a_power_cut(node, &disk, dir, &acked).await;
    })
    .await;
}

/// Three nodes, each on its own simulated disk (snapshot every 100 entries, 10 kept behind).
async fn sim_three(net: &MemNetwork, disks: &[SimDisk; 3]) -> Vec<Member> {
    let cfg = |id: NodeId| {
        let mut cfg = sim_cfg(&disks[id as usize - 1]);
        cfg.snapshot_every = 100;
        cfg.keep_behind_snapshot = 10;
        cfg
    };
    let dir = |id: NodeId| PathBuf::from(format!("/sim/node{id}"));
    let mut members = Vec::new();
    for id in 1..=3 {
        let m = common::start(net, id, &dir(id), cfg(id)).await;
        kumo_raft_store::cluster::guard_elections(m.node.clone(), m.transport.clone());
        if id == 1 {
            m.node
                .wait_leader(Duration::from_secs(10))
                .await
                .expect("leader");
        } else {
            join(&m, 1).await;
        }
        members.push(m);
    }
    members
}

/// Writes `n` new keys through `via` (round robin), each acknowledged before the next; a
/// write refused or of unknown outcome (a leader change) is tried again under a new key.
async fn write_through(via: &[&StoreNode], prefix: &str, n: usize, acked: &mut Acked) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut attempt = 0;
    for i in 0..n {
        loop {
            let key = format!("{prefix}/{i:03}/{attempt}");
            let node = via[attempt % via.len()];
            attempt += 1;
            match node.propose(put_of(&key, 1000)).await {
                Ok(Outcome::Done { .. }) => {
                    acked.insert(key.clone(), value_of(&key, 1000));
                    break;
                }
                Ok(other) => panic!("{key}: {other:?}"),
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "{key}: no write goes through: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

fn leader_of(members: &[Member]) -> Option<NodeId> {
    members
        .iter()
        .find(|m| m.node.is_leader())
        .map(|m| m.node.node_id())
}

/// Raft of `node` still runs (a storage error would have stopped it for good).
fn assert_running(node: &StoreNode) {
    let m = node.raft.metrics().borrow().clone();
    assert!(
        m.running_state.is_ok(),
        "node {}'s Raft stopped: {:?}",
        node.node_id(),
        m.running_state
    );
}

/// Ends the case: every node converges and has every acknowledged write; a write through
/// each node is served.
async fn all_converge_with(members: &[Member], acked: &mut Acked) {
    let all: Vec<&Member> = members.iter().collect();
    converged_within(&all, Duration::from_secs(20)).await;
    for m in members {
        assert_running(&m.node);
        reads_served(&m.node, acked, "at the end").await;
    }
    for m in members {
        let via = [&m.node];
        write_through(&via, &format!("end/{}", m.node.node_id()), 1, acked).await;
    }
    converged_within(&all, Duration::from_secs(20)).await;
    for m in members {
        reads_served(&m.node, acked, "at the very end").await;
    }
}

/// A follower far behind receives a snapshot from the leader while its disk has no room
/// for it: the install waits for space (it used to fail openraft's storage and stop the
/// follower's Raft for good), the follower refuses writes, the others go on; once space is
/// back the snapshot is installed and the follower catches up.
#[tokio::test(flavor = "multi_thread")]
async fn enospc_while_installing_a_snapshot_from_the_leader_is_waited_out() {
    bounded(Duration::from_secs(90), async {
        let net = MemNetwork::new();
        let disks = [SimDisk::new(), SimDisk::new(), SimDisk::new()];
        let m = sim_three(&net, &disks).await;
        let mut acked = Acked::new();
        write_through(&[&m[0].node], "before", 20, &mut acked).await;

        // Node 3 is cut off while the others write past snapshots and purge its place.
        net.faults().isolate(3);
        write_through(&[&m[0].node, &m[1].node], "cut", 300, &mut acked).await;
        let behind = m[2]
            .node
            .raft
            .metrics()
            .borrow()
            .last_log_index
            .unwrap_or(0);
        until("the leader purges past node 3's log", || {
            m.iter().filter(|x| x.node.node_id() != 3).all(|x| {
                x.node
                    .raft
                    .metrics()
                    .borrow()
                    .purged
                    .is_some_and(|p| p.index > behind + 1)
            })
        })
        .await;
        // Room for small log records, none for the snapshot (300 values of 1000 bytes).
        disks[2].fill_but(32 << 10, NoSpaceAt::Write);
        net.faults().heal();

        let start = Instant::now();
        while !m[2].node.disk_full() {
            assert_running(&m[2].node);
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "node 3 never waited for space to install the snapshot"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        refused_as_full(&m[2].node).await;
        write_through(&[&m[0].node, &m[1].node], "while-full", 20, &mut acked).await;
        for x in &m[..2] {
            reads_served(&x.node, &acked, "while node 3's disk is full").await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_running(&m[2].node);
        assert!(m[2].node.disk_full());
        assert!(m[2].node.raft.metrics().borrow().snapshot.is_none());

        disks[2].free_space();
        until("node 3's flag clears", || !m[2].node.disk_full()).await;
        all_converge_with(&m, &mut acked).await;
        assert!(
            m[2].node.raft.metrics().borrow().snapshot.is_some(),
            "node 3 installed the snapshot"
        );
    })
    .await;
}

/// A follower's disk fills: the other two go on taking writes (through either of them), the
/// full one refuses its own; once space is back it catches up.
#[tokio::test(flavor = "multi_thread")]
async fn a_followers_full_disk_leaves_the_cluster_writing_and_it_catches_up() {
    bounded(Duration::from_secs(90), async {
        let net = MemNetwork::new();
        let disks = [SimDisk::new(), SimDisk::new(), SimDisk::new()];
        let m = sim_three(&net, &disks).await;
        let mut acked = Acked::new();
        write_through(
            &[&m[0].node, &m[1].node, &m[2].node],
            "before",
            20,
            &mut acked,
        )
        .await;
        let leader = leader_of(&m).expect("a leader");
        let full = m
            .iter()
            .position(|x| x.node.node_id() != leader)
            .expect("a follower");
        let others: Vec<&StoreNode> = m
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != full)
            .map(|(_, x)| &x.node)
            .collect();

        disks[full].fill(NoSpaceAt::Write);
        write_through(&others, "while-full", 30, &mut acked).await;
        until("the follower notices its full disk", || {
            m[full].node.disk_full()
        })
        .await;
        refused_as_full(&m[full].node).await;
        write_through(&others, "still-full", 30, &mut acked).await;
        for node in &others {
            reads_served(node, &acked, "while a follower's disk is full").await;
        }
        assert_running(&m[full].node);
        assert!(m[full].node.disk_full());

        disks[full].free_space();
        until("the follower's flag clears", || !m[full].node.disk_full()).await;
        all_converge_with(&m, &mut acked).await;
    })
    .await;
}

/// The leader's disk fills: it stops (its Raft waits for the log), the other two elect a
/// new leader and go on taking writes; the old leader refuses writes as `DiskFull`; once
/// space is back it rejoins as a follower and converges.
#[tokio::test(flavor = "multi_thread")]
async fn a_leaders_full_disk_moves_the_leadership_and_it_rejoins() {
    bounded(Duration::from_secs(90), async {
        let net = MemNetwork::new();
        let disks = [SimDisk::new(), SimDisk::new(), SimDisk::new()];
        let m = sim_three(&net, &disks).await;
        let mut acked = Acked::new();
        write_through(
            &[&m[0].node, &m[1].node, &m[2].node],
            "before",
            20,
            &mut acked,
        )
        .await;
        let old = leader_of(&m).expect("a leader");
        let li = m
            .iter()
            .position(|x| x.node.node_id() == old)
            .expect("leader");
        let others: Vec<&StoreNode> = m
            .iter()
            .filter(|x| x.node.node_id() != old)
            .map(|x| &x.node)
            .collect();

        disks[li].fill(NoSpaceAt::Write);
        // A write the leader takes but cannot log: its outcome is not acknowledged here.
        let stuck = tokio::spawn({
            let node = m[li].node.clone();
            async move { node.propose(put_of("stuck", 1000)).await }
        });
        until("the leader notices its full disk", || {
            m[li].node.disk_full()
        })
        .await;
        refused_as_full(&m[li].node).await;

        let start = Instant::now();
        let new = loop {
            let led = others
                .iter()
                .filter(|n| n.is_leader())
                .map(|n| n.node_id())
                .next();
            if let Some(l) = led {
                break l;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "no new leader while the old one's disk is full"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_ne!(new, old);
        write_through(&others, "while-full", 30, &mut acked).await;
        for node in &others {
            reads_served(node, &acked, "while the old leader's disk is full").await;
        }
        refused_as_full(&m[li].node).await;
        assert_running(&m[li].node);

        disks[li].free_space();
        until("the old leader's flag clears", || !m[li].node.disk_full()).await;
        if let Ok(Ok(Ok(Outcome::Done { .. }))) =
            tokio::time::timeout(Duration::from_secs(10), stuck).await
        {
            acked.insert("stuck".into(), value_of("stuck", 1000));
        }
        // The old leader follows now: its writes are forwarded to the new one.
        let start = Instant::now();
        while m[li].node.is_leader() {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "the old leader stays leader"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        write_through(&[&m[li].node], "via-old-leader", 5, &mut acked).await;
        all_converge_with(&m, &mut acked).await;
    })
    .await;
}
