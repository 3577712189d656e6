//! Power loss, not only a process kill: the node's files live on a simulated disk that keeps
//! synced and unsynced bytes apart, and a power cut at a random moment drops or tears
//! whatever was not synced (file tails, created, renamed and removed names). Every write
//! acknowledged before the cut must be there after a restart — on one node and on a
//! three-node cluster whose nodes all lose power at once.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{Member, join};
use kumo_raft_store::{Command, NodeId, Outcome, Precondition, SimDisk, StoreConfig, StoreNode};
use kumo_transport::MemNetwork;
use parking_lot::Mutex;

type Acked = Arc<Mutex<BTreeMap<String, Bytes>>>;

/// Small bounds, so snapshots, purges and segment deletion all happen between cuts.
fn small(mut cfg: StoreConfig, disk: &SimDisk) -> StoreConfig {
    cfg.disk = Arc::new(disk.clone());
    cfg.snapshot_every = 40;
    cfg.keep_behind_snapshot = 5;
    cfg.snapshot_log_bytes = 96 << 10;
    cfg.keep_behind_bytes = 16 << 10;
    cfg.log_cache_bytes = 32 << 10;
    cfg
}

fn value(key: &str) -> Bytes {
    let n = key.bytes().map(u64::from).sum::<u64>() as usize % 3000 + 100;
    Bytes::from(format!("{key}:{}", "v".repeat(n)))
}

/// Writers that propose new keys in a loop and record what was acknowledged.
fn writers(node: &StoreNode, boot: u64, acked: &Acked) -> Vec<tokio::task::JoinHandle<()>> {
    (0..4)
        .map(|w| {
            let node = node.clone();
            let acked = acked.clone();
            tokio::spawn(async move {
                for n in 0.. {
                    let key = format!("b{boot}/w{w}/{n:06}");
                    let cmd = Command::Put {
                        key: key.clone(),
                        value: value(&key),
                        precondition: Precondition::Absent,
                    };
                    match node.propose(cmd).await {
                        Ok(Outcome::Done { .. }) => {
                            acked.lock().insert(key.clone(), value(&key));
                        }
                        Ok(other) => panic!("{key}: {other:?}"),
                        // Power gone (or a leader change in a cluster): not acknowledged.
                        Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
            })
        })
        .collect()
}

fn check(node: &StoreNode, acked: &Acked, what: &str) -> usize {
    let acked = acked.lock().clone();
    let stored: BTreeMap<String, Bytes> = node
        .shared()
        .read(|m| m.range("b", None, None, None))
        .expect("range")
        .items
        .into_iter()
        .map(|kv| (kv.key, kv.value))
        .collect();
    for (k, v) in &acked {
        assert_eq!(
            stored.get(k),
            Some(v),
            "{what}: acknowledged write {k} lost"
        );
    }
    acked.len()
}

fn pause(seed: u64, round: u64) -> Duration {
    let x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(round * 1442695040888963407);
    Duration::from_millis(30 + (x >> 33) % 300)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_acknowledged_write_survives_a_power_cut_on_one_node() {
    let dir = PathBuf::from("/sim/node");
    let mut total = 0;
    for seed in 0..8u64 {
        let mut disk = SimDisk::new();
        let acked: Acked = Arc::default();
        for round in 0..4u64 {
            let cfg = small(StoreConfig::single("x"), &disk);
            let (node, _) = StoreNode::open(&dir, cfg)
                .await
                .unwrap_or_else(|e| panic!("seed {seed} round {round}: reopen: {e}"));
            node.wait_leader(Duration::from_secs(10))
                .await
                .expect("leader");
            node.read_barrier().await.expect("barrier");
            check(&node, &acked, &format!("seed {seed} round {round}"));
            let tasks = writers(&node, round, &acked);
            tokio::time::sleep(pause(seed, round)).await;
            // The cut: from here the old process's I/O fails, as if it were gone.
            disk = disk.power_cut(seed * 16 + round);
            for t in &tasks {
                t.abort();
            }
            for t in tasks {
                let _ = t.await;
            }
            let _ = node.shutdown().await;
            drop(node);
        }
        let cfg = small(StoreConfig::single("x"), &disk);
        let (node, _) = StoreNode::open(&dir, cfg).await.expect("last reopen");
        node.wait_leader(Duration::from_secs(10))
            .await
            .expect("leader");
        node.read_barrier().await.expect("barrier");
        let n = check(&node, &acked, &format!("seed {seed} end"));
        assert!(n > 0, "seed {seed}: nothing was acknowledged");
        total += n;
        let _ = node.shutdown().await;
    }
    eprintln!("{total} acknowledged writes checked across 8 seeds x 4 power cuts");
}

async fn start(net: &MemNetwork, id: NodeId, dir: &Path, disk: &SimDisk) -> Member {
    common::start(net, id, dir, small(StoreConfig::single(""), disk)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_acknowledged_write_survives_a_power_cut_of_the_whole_cluster() {
    let dir = |id: NodeId| PathBuf::from(format!("/sim/node{id}"));
    let mut total = 0;
    for seed in 0..4u64 {
        let mut disks: Vec<SimDisk> = (0..3).map(|_| SimDisk::new()).collect();
        let acked: Acked = Arc::default();
        for round in 0..3u64 {
            let net = MemNetwork::new();
            let mut members = Vec::new();
            for id in 1..=3u64 {
                members.push(start(&net, id, &dir(id), &disks[id as usize - 1]).await);
            }
            if round == 0 {
                members[0]
                    .node
                    .wait_leader(Duration::from_secs(10))
                    .await
                    .expect("leader");
                join(&members[1], 1).await;
                join(&members[2], 1).await;
            }
            let leader = members[0]
                .node
                .wait_leader_known(Duration::from_secs(20))
                .await
                .expect("a leader after restart");
            let lm = &members[leader as usize - 1];
            lm.node.read_barrier().await.expect("barrier");
            check(&lm.node, &acked, &format!("seed {seed} round {round}"));
            // Writers on every node (followers forward to the leader).
            let mut tasks = Vec::new();
            for m in &members {
                tasks.extend(writers(&m.node, round * 10 + m.node.node_id(), &acked));
            }
            tokio::time::sleep(pause(seed, round) * 2).await;
            for (i, d) in disks.iter_mut().enumerate() {
                *d = d.power_cut(seed * 64 + round * 4 + i as u64);
            }
            for t in &tasks {
                t.abort();
            }
            for t in tasks {
                let _ = t.await;
            }
            for m in members {
                let _ = m.node.shutdown().await;
                m.transport.shutdown();
            }
        }
        let net = MemNetwork::new();
        let mut members = Vec::new();
        for id in 1..=3u64 {
            members.push(start(&net, id, &dir(id), &disks[id as usize - 1]).await);
        }
        let leader = members[0]
            .node
            .wait_leader_known(Duration::from_secs(20))
            .await
            .expect("a leader after the last restart");
        let lm = &members[leader as usize - 1];
        lm.node.read_barrier().await.expect("barrier");
        let n = check(&lm.node, &acked, &format!("seed {seed} end"));
        assert!(n > 0, "seed {seed}: nothing was acknowledged");
        total += n;
        for m in members {
            let _ = m.node.shutdown().await;
            m.transport.shutdown();
        }
    }
    eprintln!("{total} acknowledged writes checked across 4 seeds x 3 cluster power cuts");
}
