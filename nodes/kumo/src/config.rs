//! What a node is started with: `kumo up` and `kumo control` both fill one [`NodeConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;

use kumo_raft_store::NodeId;
use kumo_registry::Limits;
use kumo_server::api::conns::ConnLimits;

/// Settings of one control-plane node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where the store, certificates, kubeconfig (and a member's identity) live.
    pub data_dir: PathBuf,
    /// Address of the Kubernetes API (HTTPS).
    pub api_addr: SocketAddr,
    /// Limits of the registry (bodies, objects, watchers, pages, retries).
    pub limits: Limits,
    /// Client connections: bounds and timeouts.
    pub connections: ConnLimits,
    /// Bound of the store's event window (see `kumo_raft_store::mvcc::DEFAULT_MAX_EVENTS`).
    pub history_events: usize,
    /// Extra names or addresses the API's serving certificate covers (a load balancer).
    pub tls_san: Vec<String>,
    /// Cut a damaged last Raft log group instead of refusing to start (a member then
    /// catches up from its peers).
    pub truncate_damaged_log: bool,
    /// `None`: one node with no peers (`kumo up`). `Some`: a member of a cluster.
    pub member: Option<Member>,
}

/// How a node takes part in a cluster.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: NodeId,
    /// QUIC address for Raft and forwarded requests.
    pub peer_addr: SocketAddr,
    /// A member's peer address to join through (none: bootstrap a new cluster).
    pub join: Option<SocketAddr>,
}

/// The default data directory: `$KUMO_HOME`, else `$XDG_DATA_HOME/kumo`, else
/// `~/.local/share/kumo`.
pub fn default_data_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("KUMO_HOME") {
        return PathBuf::from(h);
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(x).join("kumo");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".local/share/kumo"),
        None => PathBuf::from("./kumo-data"),
    }
}
