//! This node's view of the cluster, served at `/kumo/v1/status` and read by `kumo members`:
//! the store's typed [`NodeStatus`].

use kumo_raft_store::{NodeStatus, StoreNode};

/// This node's view of the cluster, served at `/kumo/v1/status`.
pub fn status(store: &StoreNode) -> NodeStatus {
    store.status()
}
