//! What is particular to a member of a cluster (`kumo control`): its QUIC identity issued
//! from the cluster CA in `DIR/pki`, its record in `DIR/node.json`, joining through any
//! member, and guarding elections.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kumo_raft_store::cluster::{ClusterService, TransportPeers};
use kumo_raft_store::node::Peers;
use kumo_raft_store::protocol::JoinRequest;
use kumo_raft_store::{Node, NodeId, StoreNode};
use kumo_transport::{ANY_NODE, ClusterCa, NodeIdentity, QuicTransport, Transport};
use serde::{Deserialize, Serialize};

use crate::config::{Member, NodeConfig};
use crate::error::{NodeError, cluster_err};
use kumo_server::pki;

/// What a data directory records about its node (`DIR/node.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub id: NodeId,
    pub peer_addr: String,
    pub api_addr: String,
}

pub const CLUSTER_CA_KEY: &str = "cluster-ca.key";
/// How long a node waits for its peer address to become free at start.
const PORT_PATIENCE: Duration = Duration::from_secs(10);
/// How long a new node keeps asking to join before giving up.
const JOIN_PATIENCE: Duration = Duration::from_secs(120);

/// What `kumo control` was told, reconciled with what its data directory records: flags
/// left out are taken from the record (so a node restarts with `--data-dir` alone), and a
/// flag that contradicts it is refused — the cluster knows a node by its recorded
/// addresses, so a node that moved would be unreachable to its peers.
pub fn reconcile(
    record: Option<&NodeRecord>,
    id: Option<NodeId>,
    peer_addr: Option<SocketAddr>,
    api_addr: Option<SocketAddr>,
) -> Result<(NodeId, SocketAddr, SocketAddr), String> {
    let Some(rec) = record else {
        return match (id, peer_addr, api_addr) {
            (Some(i), Some(p), Some(a)) => Ok((i, p, a)),
            _ => Err("a new node needs --id, --peer-addr and --api-addr".into()),
        };
    };
    let parse = |s: &str, what: &str| {
        s.parse::<SocketAddr>()
            .map_err(|e| format!("node.json has a bad {what} {s:?}: {e}"))
    };
    let (rp, ra) = (
        parse(&rec.peer_addr, "peer address")?,
        parse(&rec.api_addr, "API address")?,
    );
    if let Some(i) = id
        && i != rec.id
    {
        return Err(format!(
            "this data directory belongs to node {}, not node {i}; pass --id {} or another --data-dir",
            rec.id, rec.id
        ));
    }
    for (what, given, recorded) in [("--peer-addr", peer_addr, rp), ("--api-addr", api_addr, ra)] {
        if let Some(g) = given
            && g != recorded
        {
            return Err(format!(
                "node {} is known to the cluster at {what} {recorded}, not {g}; start it with its \
                 recorded addresses (or leave them out), or remove it with `kumo members --remove {}` \
                 and join a fresh data directory at the new address",
                rec.id, rec.id
            ));
        }
    }
    Ok((rec.id, rp, ra))
}

/// Reads `DIR/node.json` if there is one.
pub fn read_record(data_dir: &Path) -> Result<Option<NodeRecord>, NodeError> {
    let path = data_dir.join("node.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| cluster_err(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Checks or writes `DIR/node.json`: a data directory belongs to one node id for life.
fn record_node(cfg: &NodeConfig, m: &Member) -> Result<(), NodeError> {
    let path = cfg.data_dir.join("node.json");
    let me = NodeRecord {
        id: m.id,
        peer_addr: m.peer_addr.to_string(),
        api_addr: cfg.api_addr.to_string(),
    };
    if let Ok(text) = std::fs::read_to_string(&path) {
        let old: NodeRecord = serde_json::from_str(&text)
            .map_err(|e| cluster_err(format!("{}: {e}", path.display())))?;
        if old.id != me.id {
            return Err(cluster_err(format!(
                "{} belongs to node {}, not node {}; pass --id {} or another --data-dir",
                cfg.data_dir.display(),
                old.id,
                me.id,
                old.id
            )));
        }
    }
    let text = serde_json::to_string_pretty(&me).map_err(|e| cluster_err(e.to_string()))?;
    std::fs::write(&path, text)?;
    Ok(())
}

/// This node's QUIC identity: loaded from `DIR/pki`, or issued from the cluster CA there
/// (a first node generates the CA).
fn identity(cfg: &NodeConfig, m: &Member) -> Result<NodeIdentity, NodeError> {
    let dir = cfg.data_dir.join("pki");
    std::fs::create_dir_all(&dir)?;
    if let Ok(id) = NodeIdentity::load(&dir) {
        if id.node != m.id {
            return Err(cluster_err(format!(
                "{} holds the certificate of node {}",
                dir.display(),
                id.node
            )));
        }
        return Ok(id);
    }
    let ca_cert = dir.join(kumo_transport::CA_CERT_FILE);
    let ca_key = dir.join(CLUSTER_CA_KEY);
    let ca = if ca_key.exists() {
        let cert = std::fs::read_to_string(&ca_cert)?;
        let key = std::fs::read_to_string(&ca_key)?;
        ClusterCa::from_pem(&cert, &key)?
    } else if m.join.is_none() {
        let ca = ClusterCa::try_generate()?;
        let (cert, key) = ca.to_pem();
        pki::write_private(&ca_cert, cert.as_bytes())?;
        pki::write_private(&ca_key, key.as_bytes())?;
        ca
    } else {
        return Err(cluster_err(format!(
            "no cluster CA in {}: copy {} and {} from a member of the cluster before joining",
            dir.display(),
            kumo_transport::CA_CERT_FILE,
            CLUSTER_CA_KEY
        )));
    };
    let hosts = vec![m.peer_addr.ip().to_string()];
    let id = ca.issue(m.id, &hosts, 3650)?;
    id.save(&dir)?;
    Ok(id)
}

/// Binds this member's QUIC endpoint (its identity issued from the cluster CA), serving
/// `svc`. A node restarted right after a crash may find its port still held for a moment
/// (the old process exiting): the bind is retried for a few seconds.
pub async fn bind(
    cfg: &NodeConfig,
    m: &Member,
    svc: Arc<ClusterService>,
) -> Result<QuicTransport, NodeError> {
    let identity = identity(cfg, m)?;
    let deadline = Instant::now() + PORT_PATIENCE;
    loop {
        match QuicTransport::bind(m.id, m.peer_addr, identity.clone(), svc.clone()) {
            Err(kumo_transport::Error::Io(e))
                if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline =>
            {
                tracing::info!(addr = %m.peer_addr, "peer address in use; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return Ok(other?),
        }
    }
}

/// What a member does once its store is open: records its identity in the data directory,
/// serves its peers, guards elections, and joins the cluster (or confirms it still belongs).
pub async fn take_part(
    cfg: &NodeConfig,
    m: &Member,
    store: &StoreNode,
    transport: &QuicTransport,
    svc: &ClusterService,
) -> Result<(), NodeError> {
    record_node(cfg, m)?;
    // This process holds the data directory now: its pid is for scripts on this machine
    // (`kumo members` asks the node itself).
    std::fs::write(cfg.data_dir.join("pid"), std::process::id().to_string())?;
    svc.set_node(store.clone());
    kumo_raft_store::cluster::guard_elections(store.clone(), transport.clone());
    let Some(via) = m.join else { return Ok(()) };
    if !store.is_member(m.id) {
        return join(cfg, m, transport, via).await;
    }
    // It believes it is a member, but a node removed while it was away never hears of it. A
    // join is a no-op for a member and re-adds a removed node, so ask once in the
    // background; a restart must not wait on `via` being up.
    let (req, transport) = (join_request(cfg, m), transport.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        transport.set_peer(ANY_NODE, via);
        let peers = TransportPeers::new(transport);
        // Bounded: a few tries while elections settle, then the node carries on.
        for attempt in 1..=5 {
            match peers.join(ANY_NODE, req.clone()).await {
                Ok(()) => {
                    tracing::info!(via = %via, "membership confirmed");
                    return;
                }
                Err(e) => {
                    tracing::info!(via = %via, attempt, error = %e, "membership not confirmed yet");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        }
    });
    Ok(())
}

/// This node's request to be a voting member.
fn join_request(cfg: &NodeConfig, m: &Member) -> JoinRequest {
    JoinRequest {
        id: m.id,
        node: Node {
            peer_addr: m.peer_addr.to_string(),
            api_addr: cfg.api_addr.to_string(),
        },
        voter: true,
    }
}

/// Asks the node at `via` to add this one (as a learner until caught up, then a voter).
async fn join(
    cfg: &NodeConfig,
    m: &Member,
    transport: &QuicTransport,
    via: SocketAddr,
) -> Result<(), NodeError> {
    transport.set_peer(ANY_NODE, via);
    let peers = TransportPeers::new(transport.clone());
    let req = join_request(cfg, m);
    let deadline = Instant::now() + JOIN_PATIENCE;
    loop {
        match peers.join(ANY_NODE, req.clone()).await {
            Ok(()) => {
                tracing::info!(node = m.id, via = %via, "joined the cluster");
                return Ok(());
            }
            Err(e) if Instant::now() < deadline => {
                tracing::info!(via = %via, error = %e, "join not accepted yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(cluster_err(format!("could not join through {via}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> NodeRecord {
        NodeRecord {
            id: 2,
            peer_addr: "127.0.0.2:7001".into(),
            api_addr: "127.0.0.2:7000".into(),
        }
    }

    #[test]
    fn a_restart_needs_only_the_data_dir() {
        let (id, peer, api) = reconcile(Some(&rec()), None, None, None).expect("ok");
        assert_eq!(id, 2);
        assert_eq!(peer.to_string(), "127.0.0.2:7001");
        assert_eq!(api.to_string(), "127.0.0.2:7000");
        // Repeating what is recorded is fine.
        assert!(reconcile(Some(&rec()), Some(2), Some(peer), Some(api)).is_ok());
    }

    #[test]
    fn contradicting_the_record_is_refused() {
        let err = reconcile(Some(&rec()), Some(3), None, None).unwrap_err();
        assert!(err.contains("belongs to node 2"), "{err}");
        let moved: SocketAddr = "127.0.0.5:7001".parse().expect("addr");
        let err = reconcile(Some(&rec()), None, Some(moved), None).unwrap_err();
        assert!(
            err.contains("--peer-addr 127.0.0.2:7001, not 127.0.0.5:7001"),
            "{err}"
        );
    }

    #[test]
    fn a_new_node_needs_every_flag() {
        let a: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        assert!(reconcile(None, Some(1), Some(a), None).is_err());
        assert!(reconcile(None, Some(1), Some(a), Some(a)).is_ok());
    }
}
