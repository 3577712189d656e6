//! The in-process cluster harness of the raft-store suites: nodes on a `MemNetwork` (whose
//! faults partition them), each opened from its own directory on the disk its
//! `StoreConfig` names (a temporary directory, or a `SimDisk` that a test cuts the power of
//! or fills), joined through the cluster protocol as a real node would be.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::Duration;

use kumo_raft_store::cluster::{ClusterService, TransportNetwork, TransportPeers};
use kumo_raft_store::node::Peers;
use kumo_raft_store::protocol::JoinRequest;
use kumo_raft_store::{Node, NodeId, StoreConfig, StoreNode};
use kumo_transport::{MemNetwork, MemTransport};

pub struct Member {
    pub node: StoreNode,
    pub transport: MemTransport,
}

pub fn info(id: NodeId) -> Node {
    Node {
        peer_addr: MemNetwork::addr_of(id).to_string(),
        api_addr: format!("api-{id}"),
    }
}

/// Opens node `id` in `dir` with `cfg` (its id and addresses set here) and serves the
/// cluster protocol on `net`. Node 1 bootstraps a one-voter cluster on a fresh directory;
/// the others wait to be joined ([`join`]).
pub async fn start(net: &MemNetwork, id: NodeId, dir: &Path, mut cfg: StoreConfig) -> Member {
    let svc = ClusterService::new();
    let transport = net.join(id, svc.clone());
    cfg.node_id = id;
    cfg.peer_addr = info(id).peer_addr;
    cfg.api_addr = info(id).api_addr;
    let (node, _) = StoreNode::open_with(
        dir,
        cfg,
        TransportNetwork::new(transport.clone()),
        Some(TransportPeers::new(transport.clone())),
        id == 1,
    )
    .await
    .unwrap_or_else(|e| panic!("open node {id}: {e}"));
    svc.set_node(node.clone());
    Member { node, transport }
}

/// Adds `m` as a voter, asking node `via` (forwarded to the leader if `via` does not lead).
pub async fn join(m: &Member, via: NodeId) {
    let peers = TransportPeers::new(m.transport.clone());
    peers.learn(via, &info(via));
    let req = JoinRequest {
        id: m.node.node_id(),
        node: info(m.node.node_id()),
        voter: true,
    };
    peers.join(via, req).await.expect("join");
}

/// (last applied index, hash of every key, value and revision).
pub fn state(node: &StoreNode) -> (u64, u64) {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    node.shared().read(|m| {
        for kv in m.range("", None, None, None).expect("range").items {
            (
                kv.key,
                kv.value.to_vec(),
                kv.mod_revision,
                kv.create_revision,
            )
                .hash(&mut h);
        }
        m.revision().hash(&mut h);
    });
    (node.shared().last_applied_index().unwrap_or(0), h.finish())
}

/// Waits (at most `within`) until every member has applied the same index with the same
/// state; panics with the states otherwise.
pub async fn converged_within(
    members: &[&Member],
    within: Duration,
) -> BTreeMap<NodeId, (u64, u64)> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let states: BTreeMap<NodeId, (u64, u64)> = members
            .iter()
            .map(|m| (m.node.node_id(), state(&m.node)))
            .collect();
        let first = states.values().next().copied();
        if states.values().all(|s| Some(*s) == first) {
            return states;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no convergence: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// [`converged_within`] 15 s.
pub async fn converged(members: &[&Member]) -> BTreeMap<NodeId, (u64, u64)> {
    converged_within(members, Duration::from_secs(15)).await
}
