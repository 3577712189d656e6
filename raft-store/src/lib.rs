//! Kumo's replicated object store: the openraft type config, the durable checksummed Raft
//! log, and the state machine — a versioned key/value store with watch, compaction and
//! snapshots, whose revision is every object's `resourceVersion`.
//!
//! Owns: consensus, durability, revisions, conditional writes, watch history.
//! Must not: know about HTTP, Kubernetes object shapes or actors. Values are opaque bytes;
//! peers are reached only through openraft's network traits ([`network`]).

// openraft's `StorageError` is large by design and is the error type its traits require;
// boxing it at every call would only add allocations on the log path.
#![allow(clippy::result_large_err)]

pub mod cluster;
pub mod disk;
pub mod disk_full;
pub mod log;
pub mod mvcc;
pub mod network;
pub mod node;
pub mod protocol;
pub mod state_machine;
pub mod status;

use std::io::Cursor;

pub use disk::{Disk, NoSpaceAt, SimDisk, StdDisk};
pub use disk_full::DiskFull;
pub use log::{LogOptions, LogStats, LogStore, RecoveryReport};
pub use mvcc::{
    Command, Compacted, Event, EventKind, Failure, KeyValue, MAX_TXN_BYTES, MAX_TXN_OPS, Mvcc, Op,
    OpResult, Outcome, Page, Precondition, Revision, Txn, TxnError, TxnOutcome,
};
pub use node::{StoreConfig, StoreNode};
pub use state_machine::{Shared, StateMachine};
pub use status::{MemberStatus, NodeStatus, RaftRole};

/// Node ids are plain integers, unique in a cluster.
pub type NodeId = u64;
/// A node as Raft membership records it: where peers and clients reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Node {
    /// QUIC address for Raft and forwarded requests.
    pub peer_addr: String,
    /// HTTPS address of its Kubernetes API.
    pub api_addr: String,
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "peer={} api={}", self.peer_addr, self.api_addr)
    }
}

openraft::declare_raft_types!(
    /// The Raft type configuration of the object store.
    pub TypeConfig:
        D = Command,
        R = Outcome,
        NodeId = NodeId,
        Node = Node,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The store's errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("i/o")]
    Io(#[from] std::io::Error),
    /// Durable data failed its checksum or could not be decoded.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// A complete group of the Raft log fails its checks: damage to data that may have been
    /// acknowledged, not a torn write. The node refuses to start unless told to cut it.
    #[error(
        "{}: the raft log group at offset {offset} is complete but damaged ({reason}); it may \
         hold acknowledged writes, so the node refuses to start. To discard it and start \
         anyway, open with truncate_damaged_log (`kumo up --truncate-damaged-log`, or \
         `kumo control --truncate-damaged-log` on a cluster node, which then catches up from \
         its peers); or restore this node from a peer or a backup",
        path.display()
    )]
    DamagedLog {
        path: std::path::PathBuf,
        offset: u64,
        reason: &'static str,
    },
    /// This node is not the leader; writes go to `leader` (if known).
    #[error("not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    /// Raft refused or failed the operation; retryable unless fatal.
    #[error("raft: {0}")]
    Raft(String),
    /// The data directory is used by another process.
    #[error("data directory {0} is in use by another process")]
    Locked(String),
    #[error("the store is shutting down")]
    Shutdown,
    /// This node is not (or no longer) a member of the cluster.
    #[error("this node is not a member of the cluster")]
    NotMember,
    /// A write was sent to the leader but no answer came back: it may or may not have been
    /// applied.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// This node leads but has not heard from a quorum of voters within its lease: it takes
    /// no writes or reads (nothing was proposed; safe to retry elsewhere or later).
    #[error("the leader has lost contact with a quorum of the cluster")]
    NoQuorum,
    /// The node's disk is full: the write was refused before entering the log. Writes are
    /// served again, without a restart, once space is freed (see [`disk_full`]).
    #[error("the node's disk is full: writes are refused until space is freed")]
    DiskFull,
}

impl Error {
    /// The same error for another waiter of a shared operation (a batch, a read-index
    /// round): what a caller decides on is kept; I/O and other details become `Raft`.
    pub fn for_another_waiter(&self) -> Error {
        match self {
            Error::NotLeader { leader } => Error::NotLeader { leader: *leader },
            Error::NotMember => Error::NotMember,
            Error::Unknown(m) => Error::Unknown(m.clone()),
            Error::NoQuorum => Error::NoQuorum,
            Error::Shutdown => Error::Shutdown,
            Error::DiskFull => Error::DiskFull,
            other => Error::Raft(other.to_string()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
