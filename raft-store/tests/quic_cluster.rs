//! Store nodes over the real QUIC transport with mutual TLS: a node of the cluster's CA
//! joins and replicates; a node holding a certificate from a foreign CA cannot join.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use kumo_raft_store::cluster::{ClusterService, TransportNetwork, TransportPeers};
use kumo_raft_store::node::Peers;
use kumo_raft_store::protocol::JoinRequest;
use kumo_raft_store::{Command, Node, NodeId, Outcome, Precondition, StoreConfig, StoreNode};
use kumo_transport::{ANY_NODE, ClusterCa, QuicTransport, Transport};

fn free_addr() -> SocketAddr {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr")
}

async fn start(
    ca: &ClusterCa,
    id: NodeId,
    dir: &std::path::Path,
    bootstrap: bool,
) -> (StoreNode, QuicTransport, SocketAddr) {
    let addr = free_addr();
    let identity = ca.issue(id, &["127.0.0.1".to_string()], 30).expect("issue");
    let svc = ClusterService::new();
    let t = QuicTransport::bind(id, addr, identity, svc.clone()).expect("bind");
    let mut cfg = StoreConfig::single(addr.to_string());
    cfg.node_id = id;
    let (node, _) = StoreNode::open_with(
        dir,
        cfg,
        TransportNetwork::new(t.clone()),
        Some(TransportPeers::new(t.clone())),
        bootstrap,
    )
    .await
    .expect("open");
    svc.set_node(node.clone());
    kumo_raft_store::cluster::guard_elections(node.clone(), t.clone());
    (node, t, addr)
}

async fn join(
    t: &QuicTransport,
    via: SocketAddr,
    id: NodeId,
    me: SocketAddr,
) -> kumo_raft_store::Result<()> {
    t.set_peer(ANY_NODE, via);
    let peers = TransportPeers::new(t.clone());
    let req = JoinRequest {
        id,
        node: Node {
            peer_addr: me.to_string(),
            api_addr: String::new(),
        },
        voter: true,
    };
    peers.join(ANY_NODE, req).await
}

#[tokio::test(flavor = "multi_thread")]
async fn members_join_over_mtls_and_foreign_ca_is_refused() {
    let ca = ClusterCa::generate();
    let (d1, d2, d3) = (
        tempfile::tempdir().expect("t"),
        tempfile::tempdir().expect("t"),
        tempfile::tempdir().expect("t"),
    );
    let (n1, t1, a1) = start(&ca, 1, d1.path(), true).await;
    n1.wait_leader(Duration::from_secs(5))
        .await
        .expect("leader");
    // A node certified by the cluster CA joins through node 1's address alone.
    let (n2, t2, a2) = start(&ca, 2, d2.path(), false).await;
    join(&t2, a1, 2, a2).await.expect("join");
    let cmd = Command::Put {
        key: "k".into(),
        value: Bytes::from_static(b"v"),
        precondition: Precondition::Absent,
    };
    assert!(matches!(
        n2.propose(cmd).await.expect("write through node 2"),
        Outcome::Done { .. }
    ));
    n1.read_barrier().await.expect("barrier");
    assert!(n1.shared().read(|m| m.get("k").is_some()));
    // A node with a certificate from another CA is refused at the handshake.
    let foreign = ClusterCa::generate();
    let (n3, t3, a3) = start(&foreign, 3, d3.path(), false).await;
    let refused = tokio::time::timeout(Duration::from_secs(10), join(&t3, a1, 3, a3)).await;
    assert!(
        !matches!(refused, Ok(Ok(()))),
        "a foreign-CA node joined: {refused:?}"
    );
    assert!(!n1.is_member(3));
    let voters: Vec<NodeId> = n1
        .raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .voter_ids()
        .collect();
    assert_eq!(voters, [1, 2]);
    for n in [&n1, &n2, &n3] {
        let _ = n.shutdown().await;
    }
    for t in [t1, t2, t3] {
        t.shutdown().await;
    }
}
