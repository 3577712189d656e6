//! The registry suites' shared prelude: a registry over a one-node store in a directory.

use std::path::Path;
use std::time::Duration;

use kumo_raft_store::{StoreConfig, StoreNode};
use kumo_registry::{Api, Limits};
use serde_json::Value;

/// A registry with default limits over a new one-node store in `dir`, once it leads.
pub async fn open_api(dir: &Path) -> Api {
    let (store, _) = StoreNode::open(dir, StoreConfig::single("127.0.0.1:0"))
        .await
        .expect("open store");
    store
        .wait_leader(Duration::from_secs(10))
        .await
        .expect("a one-node store leads");
    Api::new(store, Limits::default())
}

/// An object's resourceVersion as a number.
pub fn rv(obj: &Value) -> u64 {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .expect("resourceVersion")
}
