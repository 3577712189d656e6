//! A node's view of the cluster as a typed value: what `/kumo/v1/status` serves and
//! `kumo members` reads (both through this type, with its JSON field names fixed here).

use std::collections::BTreeMap;

use openraft::ServerState;
use serde::{Deserialize, Serialize};

use crate::NodeId;
use crate::node::{Leadership, StoreNode};

/// Where this node stands in Raft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RaftRole {
    Leader,
    Follower,
    Candidate,
    Learner,
    Shutdown,
}

impl From<ServerState> for RaftRole {
    fn from(s: ServerState) -> Self {
        match s {
            ServerState::Leader => RaftRole::Leader,
            ServerState::Follower => RaftRole::Follower,
            ServerState::Candidate => RaftRole::Candidate,
            ServerState::Learner => RaftRole::Learner,
            ServerState::Shutdown => RaftRole::Shutdown,
        }
    }
}

/// One member of the cluster as this node's membership records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    pub id: NodeId,
    pub peer_addr: String,
    pub api_addr: String,
    pub voter: bool,
}

/// This node's view of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    pub id: NodeId,
    pub state: RaftRole,
    pub term: u64,
    /// Who leads, as far as this node knows.
    pub leader: Option<NodeId>,
    /// Whether it may serve as leader: `Lost` when it leads but no quorum has answered it
    /// within its lease (it then refuses writes and reads with 503).
    pub leadership: Leadership,
    pub last_log_index: u64,
    pub applied: u64,
    pub members: Vec<MemberStatus>,
    /// On a leader: the last log index each node is known to hold.
    pub replication: BTreeMap<NodeId, u64>,
    /// The process this node runs in (for scripts on its machine).
    pub pid: u32,
}

impl NodeStatus {
    /// Whether this node is the leader it knows of.
    pub fn leads(&self) -> bool {
        self.leader == Some(self.id)
    }

    /// How many entries node `id` is behind this node's log, if this node leads.
    pub fn lag_of(&self, id: NodeId) -> Option<u64> {
        if !self.leads() {
            return None;
        }
        if id == self.id {
            return Some(0);
        }
        let matched = self.replication.get(&id).copied().unwrap_or(0);
        Some(self.last_log_index.saturating_sub(matched))
    }
}

impl StoreNode {
    /// This node's view of the cluster now.
    pub fn status(&self) -> NodeStatus {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let members = membership
            .nodes()
            .map(|(id, n)| MemberStatus {
                id: *id,
                peer_addr: n.peer_addr.clone(),
                api_addr: n.api_addr.clone(),
                voter: voters.contains(id),
            })
            .collect();
        let replication = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .map(|(id, l)| (*id, l.map_or(0, |l| l.index)))
                    .collect()
            })
            .unwrap_or_default();
        NodeStatus {
            id: m.id,
            state: m.state.into(),
            term: m.current_term,
            leader: m.current_leader,
            leadership: self.leadership(),
            last_log_index: m.last_log_index.unwrap_or(0),
            applied: self.shared().last_applied_index().unwrap_or(0),
            members,
            replication,
            pid: std::process::id(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: NodeId, leader: NodeId) -> NodeStatus {
        NodeStatus {
            id,
            state: RaftRole::Leader,
            term: 3,
            leader: Some(leader),
            leadership: Leadership::Held,
            last_log_index: 100,
            applied: 100,
            members: vec![],
            replication: [(1, 100), (2, 90)].into_iter().collect(),
            pid: 7,
        }
    }

    #[test]
    fn the_lag_is_known_only_to_the_leader() {
        let l = status(1, 1);
        assert_eq!(l.lag_of(1), Some(0));
        assert_eq!(l.lag_of(2), Some(10));
        assert_eq!(l.lag_of(3), Some(100));
        assert_eq!(status(2, 1).lag_of(2), None);
    }

    #[test]
    fn it_reads_back_what_it_serves() {
        let s = status(1, 1);
        let json = serde_json::to_string(&s).expect("encode");
        assert!(json.contains("\"lastLogIndex\":100"), "{json}");
        assert_eq!(
            serde_json::from_str::<NodeStatus>(&json).expect("decode"),
            s
        );
    }
}
