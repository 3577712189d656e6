//! The store's peer protocol: the service numbers it answers on (inside the range the
//! transport reserves for the store, [`kumo_transport::services::STORE`]) and the types of
//! its requests and refusals as they travel between nodes (postcard). [`crate::cluster`]
//! carries them; [`crate::node`] uses the request types without knowing the transport.

use kumo_transport::Service;
use kumo_transport::services::{STORE, within};
use serde::{Deserialize, Serialize};

use crate::{Error, Node, NodeId};

/// Raft AppendEntries.
pub const SVC_APPEND: Service = 1;
/// Raft Vote.
pub const SVC_VOTE: Service = 2;
/// Raft InstallSnapshot (one chunk per request; openraft chunks snapshots).
pub const SVC_SNAPSHOT: Service = 3;
/// A write proposed at the leader on a follower's behalf.
pub const SVC_FORWARD: Service = 10;
/// The leader's read index.
pub const SVC_READ_INDEX: Service = 11;
/// Add a node: as a learner, then as a voter once it has caught up.
pub const SVC_JOIN: Service = 12;
/// Remove a node from the membership.
pub const SVC_LEAVE: Service = 13;
/// A liveness probe: answered at once with an empty body, whatever the node's state.
pub const SVC_PING: Service = 14;

// Every number above lies in the store's range.
const _: () = {
    let all = [
        SVC_APPEND,
        SVC_VOTE,
        SVC_SNAPSHOT,
        SVC_FORWARD,
        SVC_READ_INDEX,
        SVC_JOIN,
        SVC_LEAVE,
        SVC_PING,
    ];
    let mut i = 0;
    while i < all.len() {
        assert!(within(all[i], &STORE));
        i += 1;
    }
};

/// Why a peer could not do what was asked, as it travels back over the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RemoteFailure {
    /// The peer does not lead; `leader` if it knows who does.
    NotLeader {
        leader: Option<NodeId>,
    },
    /// The peer is still starting.
    NotReady,
    /// The asking node is not a member of the cluster (it was removed, or never joined).
    NotMember,
    Other(String),
    /// The peer does not know whether the operation took effect.
    Unknown(String),
    /// The peer leads but has lost contact with its quorum (nothing was proposed).
    NoQuorum,
    /// The peer's disk is full: it refused the write (nothing was proposed). Appended last,
    /// so the other variants keep their wire numbers.
    DiskFull,
}

impl From<Error> for RemoteFailure {
    fn from(e: Error) -> Self {
        match e {
            Error::NotLeader { leader } => RemoteFailure::NotLeader { leader },
            Error::NotMember => RemoteFailure::NotMember,
            Error::Unknown(m) => RemoteFailure::Unknown(m),
            Error::NoQuorum => RemoteFailure::NoQuorum,
            Error::DiskFull => RemoteFailure::DiskFull,
            other => RemoteFailure::Other(other.to_string()),
        }
    }
}

impl From<RemoteFailure> for Error {
    fn from(f: RemoteFailure) -> Self {
        match f {
            RemoteFailure::NotLeader { leader } => Error::NotLeader { leader },
            RemoteFailure::NotReady => Error::NotLeader { leader: None },
            RemoteFailure::NotMember => Error::NotMember,
            RemoteFailure::Other(s) => Error::Raft(s),
            RemoteFailure::Unknown(s) => Error::Unknown(s),
            RemoteFailure::NoQuorum => Error::NoQuorum,
            RemoteFailure::DiskFull => Error::DiskFull,
        }
    }
}

/// A request to join the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRequest {
    pub id: NodeId,
    pub node: Node,
    /// Join as a voter (else stay a learner).
    pub voter: bool,
}

#[cfg(test)]
mod remote_failure_tests {
    use super::*;

    /// A leader's refusals reach the follower's client as the same error (a full disk is
    /// 507 there too, not a 500 with the leader's text).
    #[test]
    fn refusals_cross_the_wire_unchanged() {
        for e in [Error::DiskFull, Error::NoQuorum, Error::NotMember] {
            let want = format!("{e:?}");
            let wire = postcard::to_allocvec(&RemoteFailure::from(e)).expect("encode");
            let back: RemoteFailure = postcard::from_bytes(&wire).expect("decode");
            assert_eq!(format!("{:?}", Error::from(back)), want);
        }
    }
}
