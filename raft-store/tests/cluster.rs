//! In-process clusters over the in-memory transport: membership, forwarding, read index,
//! partitions (the minority never acknowledges), convergence after healing (same state hash
//! at the same index), snapshot catch-up and removal.

use crate::common;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use common::{Member, converged, join};
use kumo_raft_store::node::Leadership;
use kumo_raft_store::{Command, NodeId, Outcome, Precondition, StoreConfig, StoreNode};
use kumo_transport::MemNetwork;

async fn start(net: &MemNetwork, id: NodeId, dir: &Path, snapshot_every: u64) -> Member {
    let mut cfg = StoreConfig::single("");
    cfg.snapshot_every = snapshot_every;
    cfg.keep_behind_snapshot = 10;
    let m = common::start(net, id, dir, cfg).await;
    kumo_raft_store::cluster::guard_elections(m.node.clone(), m.transport.clone());
    m
}

async fn put(node: &StoreNode, key: &str) -> kumo_raft_store::Result<u64> {
    let cmd = Command::Put {
        key: key.into(),
        value: Bytes::from(key.to_string()),
        precondition: Precondition::Absent,
    };
    match node.propose(cmd).await? {
        Outcome::Done { revision, .. } => Ok(revision),
        other => panic!("{other:?}"),
    }
}

async fn three(
    net: &MemNetwork,
    dirs: &[tempfile::TempDir; 3],
    snapshot_every: u64,
) -> Vec<Member> {
    let a = start(net, 1, dirs[0].path(), snapshot_every).await;
    a.node
        .wait_leader(Duration::from_secs(5))
        .await
        .expect("leader");
    let b = start(net, 2, dirs[1].path(), snapshot_every).await;
    let c = start(net, 3, dirs[2].path(), snapshot_every).await;
    join(&b, 1).await;
    join(&c, 2).await; // through a follower: forwarded to the leader
    vec![a, b, c]
}

fn dirs() -> [tempfile::TempDir; 3] {
    [
        tempfile::tempdir().expect("t"),
        tempfile::tempdir().expect("t"),
        tempfile::tempdir().expect("t"),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_through_every_node_converge() {
    let net = MemNetwork::new();
    let d = dirs();
    let m = three(&net, &d, 10_000).await;
    let voters: Vec<NodeId> = m[0]
        .node
        .raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .voter_ids()
        .collect();
    assert_eq!(voters, [1, 2, 3]);
    let mut revs = Vec::new();
    for i in 0..30 {
        let via = &m[i % 3].node;
        revs.push(put(via, &format!("k/{i:02}")).await.expect("put"));
    }
    // Revisions are global and increasing, whichever node took the write.
    assert!(revs.windows(2).all(|w| w[0] < w[1]), "{revs:?}");
    // A read barrier on a follower sees every acknowledged write.
    for member in &m {
        member.node.read_barrier().await.expect("barrier");
        assert_eq!(
            member
                .node
                .shared()
                .read(|s| s.range("k/", None, None, None).expect("r").items.len()),
            30
        );
    }
    converged(&[&m[0], &m[1], &m[2]]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn minority_never_acknowledges_and_healing_converges() {
    let net = MemNetwork::new();
    let d = dirs();
    let m = three(&net, &d, 10_000).await;
    put(&m[0].node, "before").await.expect("put");
    let leader = m[0].node.raft.current_leader().await.expect("leader");
    let old = m
        .iter()
        .find(|x| x.node.node_id() == leader)
        .expect("leader member");
    net.faults().isolate(leader);
    // The isolated leader cannot commit: its write fails or times out, never succeeds.
    let minority = tokio::time::timeout(Duration::from_secs(3), put(&old.node, "minority")).await;
    assert!(
        !matches!(minority, Ok(Ok(_))),
        "the minority acknowledged a write: {minority:?}"
    );
    // Past its lease the cut-off leader stops serving: it says so, and refuses at once
    // (nothing proposed) instead of leaving writes to time out.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    while old.node.leadership() != Leadership::Lost {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cut-off leader still serves: {:?}",
            old.node.leadership()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = tokio::time::timeout(Duration::from_secs(1), put(&old.node, "refused")).await;
    assert!(
        matches!(refused, Ok(Err(kumo_raft_store::Error::NoQuorum))),
        "{refused:?}"
    );
    // The majority elects a new leader and keeps writing.
    let majority: Vec<&Member> = m.iter().filter(|x| x.node.node_id() != leader).collect();
    let mut ok = false;
    for _ in 0..50 {
        if put(&majority[0].node, "majority").await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the majority could not write");
    net.faults().heal();
    let states = converged(&[&m[0], &m[1], &m[2]]).await;
    for member in &m {
        member.node.read_barrier().await.expect("barrier");
        let keys: Vec<String> = member.node.shared().read(|s| {
            s.range("", None, None, None)
                .expect("r")
                .items
                .into_iter()
                .map(|kv| kv.key)
                .collect()
        });
        assert!(
            keys.contains(&"majority".to_string()) && keys.contains(&"before".to_string()),
            "{keys:?}"
        );
        // Neither the write the minority could not commit nor the one it refused applied.
        assert!(
            !keys.contains(&"minority".to_string()) && !keys.contains(&"refused".to_string()),
            "a write to the minority appeared after healing: {keys:?}"
        );
    }
    assert_eq!(states.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn lagging_follower_catches_up_by_snapshot_and_removed_node_stops() {
    let net = MemNetwork::new();
    let d = dirs();
    let m = three(&net, &d, 100).await;
    // Node 3 is cut off while the others write well past a snapshot and purge.
    net.faults().isolate(3);
    for i in 0..400 {
        put(&m[0].node, &format!("s/{i:03}")).await.expect("put");
    }
    let leader = &m[0].node;
    // Snapshots are built in the background; wait (bounded) for the purge behind one.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let purged = loop {
        let purged = leader.raft.metrics().borrow().purged;
        if purged.is_some_and(|p| p.index > 100) || tokio::time::Instant::now() > deadline {
            break purged;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        purged.is_some_and(|p| p.index > 100),
        "log not purged: {purged:?}"
    );
    net.faults().heal();
    converged(&[&m[0], &m[1], &m[2]]).await;
    assert!(
        m[2].node.raft.metrics().borrow().snapshot.is_some(),
        "node 3 did not install a snapshot"
    );
    // Remove node 3: it is no longer a member and later writes do not reach it. Node 3's
    // elections while cut off may have moved the leadership on heal, so the removal goes
    // to whoever leads now.
    m[0].node.remove_anywhere(3).await.expect("remove");
    put(&m[0].node, "after-removal").await.expect("put");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        m[2].node
            .shared()
            .read(|s| s.get("after-removal").is_none())
    );
    let voters: Vec<NodeId> = m[0]
        .node
        .raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .voter_ids()
        .collect();
    assert_eq!(voters, [1, 2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn removing_the_leader_moves_leadership_and_the_rest_keeps_writing() {
    let net = MemNetwork::new();
    let d = dirs();
    let m = three(&net, &d, 10_000).await;
    put(&m[1].node, "before").await.expect("put");
    let leader = m[0].node.raft.current_leader().await.expect("leader");
    // Asked through a follower: the leader itself is removed.
    let via = m
        .iter()
        .find(|x| x.node.node_id() != leader)
        .expect("follower");
    via.node
        .remove_anywhere(leader)
        .await
        .expect("remove the leader");
    let rest: Vec<&Member> = m.iter().filter(|x| x.node.node_id() != leader).collect();
    // The removed leader steps down; the others elect one of themselves and write on.
    let mut ok = false;
    for _ in 0..100 {
        let led_by_rest = rest[0]
            .node
            .raft
            .current_leader()
            .await
            .is_some_and(|l| l != leader);
        if led_by_rest && put(&rest[0].node, "after").await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ok,
        "no new leader among the remaining members, or it could not write"
    );
    let voters: Vec<NodeId> = rest[0]
        .node
        .raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .voter_ids()
        .collect();
    assert!(!voters.contains(&leader), "{voters:?}");
    converged(&[rest[0], rest[1]]).await;
    // The removed node takes no writes any more.
    let old = m.iter().find(|x| x.node.node_id() == leader).expect("old");
    let write = tokio::time::timeout(Duration::from_secs(3), put(&old.node, "from-removed")).await;
    assert!(!matches!(write, Ok(Ok(_))), "{write:?}");
}
