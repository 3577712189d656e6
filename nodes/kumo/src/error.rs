//! The errors that stop a node from starting, each with what to do about it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use kumo_server::pki;

/// Errors that stop a node from starting, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cluster transport")]
    Transport(#[from] kumo_transport::Error),
    #[error("{0}")]
    Cluster(String),
    #[error(
        "data directory {dir} is in use by another kumo process; stop it first, or pass another --data-dir"
    )]
    InUse { dir: PathBuf },
    #[error(
        "cannot listen on {addr} (is another API server running there? pass --api-addr to pick another address)"
    )]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the store at {dir}")]
    Store {
        dir: PathBuf,
        source: kumo_raft_store::Error,
    },
    #[error("certificates")]
    Pki(#[from] pki::Error),
    #[error("the store elected no leader within {0:?}")]
    NoLeader(Duration),
    #[error("i/o")]
    Io(#[from] std::io::Error),
}

/// A cluster error with its explanation.
pub fn cluster_err(msg: impl Into<String>) -> NodeError {
    NodeError::Cluster(msg.into())
}
