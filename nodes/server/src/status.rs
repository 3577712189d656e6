//! This node's view of the cluster, served at `/kumo/v1/status` and read by `kumo members`.

use kumo_raft_store::{NodeId, StoreNode};
use serde_json::{Value, json};

/// This node's view of the cluster, served at `/kumo/v1/status`.
pub fn status(store: &StoreNode) -> Value {
    let m = store.raft.metrics().borrow().clone();
    let membership = m.membership_config.membership();
    let voters: Vec<NodeId> = membership.voter_ids().collect();
    let members: Vec<Value> = membership
        .nodes()
        .map(|(id, n)| json!({"id": id, "peerAddr": n.peer_addr, "apiAddr": n.api_addr, "voter": voters.contains(id)}))
        .collect();
    let replication: serde_json::Map<String, Value> = m
        .replication
        .as_ref()
        .map(|r| {
            r.iter()
                .map(|(id, l)| (id.to_string(), json!(l.map_or(0, |l| l.index))))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "id": m.id,
        "state": format!("{:?}", m.state),
        "term": m.current_term,
        "leader": m.current_leader,
        // Whether it may serve as leader: `Lost` when it leads but no quorum has answered it
        // within its lease (it then refuses writes and reads with 503).
        "leadership": format!("{:?}", store.leadership()),
        "lastLogIndex": m.last_log_index.unwrap_or(0),
        "applied": store.shared().last_applied_index().unwrap_or(0),
        "members": members,
        "replication": replication,
        "pid": std::process::id(),
    })
}
