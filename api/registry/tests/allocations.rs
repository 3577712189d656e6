//! A Service and its allocations (cluster IP and node port claim keys) are written in one
//! transaction — on create, update and delete — on a real in-process store; the repair pass
//! frees claims no Service holds (left by older code, written here by hand) and keeps the
//! ones a live Service holds.

use crate::common::{self, rv};

use bytes::Bytes;
use kumo_apimachinery::resources::{self, ResourceInfo};
use kumo_raft_store::{Command, KeyValue, Outcome, Precondition};
use kumo_registry::alloc::{CLUSTER_IP_CLAIMS, NODE_PORT_CLAIMS};
use kumo_registry::{Api, DeleteOpts, Repaired, WriteOpts, key};
use serde_json::{Value, json};

struct Harness {
    _dir: tempfile::TempDir,
    api: Api,
}

fn services() -> &'static ResourceInfo {
    resources::lookup("", "v1", "services").expect("services")
}

async fn start() -> Harness {
    let dir = tempfile::tempdir().expect("tmp");
    let api = common::open_api(dir.path()).await;
    let ns = resources::lookup("", "v1", "namespaces").expect("namespaces");
    api.create(
        ns,
        None,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
        &WriteOpts::default(),
    )
    .await
    .expect("namespace");
    Harness { _dir: dir, api }
}

impl Harness {
    /// Every claim key with its value and revision.
    fn claims(&self) -> Vec<KeyValue> {
        self.api.store.shared().read(|m| {
            [CLUSTER_IP_CLAIMS, NODE_PORT_CLAIMS]
                .iter()
                .flat_map(|p| m.range(p, None, None, None).expect("range").items)
                .collect()
        })
    }

    fn stored(&self, k: &str) -> Option<KeyValue> {
        self.api.store.shared().read(|m| m.get(k).cloned())
    }

    async fn create(&self, spec: Value, name: &str) -> Result<Value, String> {
        let obj = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec});
        self.api
            .create(services(), Some("default"), obj, &WriteOpts::default())
            .await
            .map(|w| w.obj)
            .map_err(|e| e.message)
    }

    async fn put_by_hand(&self, k: &str, owner: &str) {
        let out = self
            .api
            .store
            .propose(Command::Put {
                key: k.into(),
                value: Bytes::from(owner.to_string()),
                precondition: Precondition::Absent,
            })
            .await
            .expect("propose");
        assert!(matches!(out, Outcome::Done { .. }), "{out:?}");
    }
}

fn node_port(svc: &Value) -> i64 {
    svc.pointer("/spec/ports/0/nodePort")
        .and_then(Value::as_i64)
        .expect("nodePort")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_and_its_claims_are_written_together() {
    let h = start().await;
    let web_key = key(services(), Some("default"), "web");
    let web = h
        .create(
            json!({"type": "NodePort", "clusterIP": "10.96.7.7", "ports": [{"port": 80}]}),
            "web",
        )
        .await
        .expect("create");
    let port = node_port(&web);
    // The Service and both claims: one revision, one transaction.
    let claims = h.claims();
    let got: Vec<_> = claims
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.clone(), kv.mod_revision))
        .collect();
    let want_ip = format!("{CLUSTER_IP_CLAIMS}10.96.7.7");
    let want_port = format!("{NODE_PORT_CLAIMS}{port}");
    assert_eq!(
        got,
        [
            (want_ip.as_str(), Bytes::from(web_key.clone()), rv(&web)),
            (want_port.as_str(), Bytes::from(web_key.clone()), rv(&web)),
        ]
    );
    // A refused create leaves nothing: its IP is free, the taken port refused it.
    let err = h
        .create(
            json!({"type": "NodePort", "clusterIP": "10.96.8.8",
                "ports": [{"name": "a", "port": 81}, {"name": "b", "port": 82, "nodePort": port}]}),
            "clash",
        )
        .await
        .expect_err("a taken port");
    assert!(err.contains("provided port is already allocated"), "{err}");
    assert_eq!(h.claims().len(), 2);
    // Becoming ClusterIP gives the port up in the update's own transaction.
    let mut update = web.clone();
    update["spec"]["type"] = json!("ClusterIP");
    let updated = h
        .api
        .update(
            services(),
            Some("default"),
            "web",
            update,
            None,
            &WriteOpts::default(),
        )
        .await
        .expect("update")
        .obj;
    assert!(h.stored(&want_port).is_none());
    assert_eq!(
        h.stored(&want_ip).map(|kv| kv.mod_revision),
        Some(rv(&web)),
        "a kept claim is not rewritten"
    );
    assert_eq!(h.api.store.shared().read(|m| m.revision()), rv(&updated));
    // Deleting it frees its IP at the delete's revision; nothing is left.
    let deleted = h
        .api
        .delete(services(), Some("default"), "web", &DeleteOpts::default())
        .await
        .expect("delete");
    assert!(deleted.gone);
    assert!(h.claims().is_empty());
    let (events, _) = h
        .api
        .store
        .shared()
        .read(|m| m.events_after(rv(&updated), "", 100))
        .expect("events");
    let keys: Vec<_> = events
        .iter()
        .map(|e| (e.kv.key.as_str(), e.revision))
        .collect();
    assert_eq!(
        keys,
        [
            (web_key.as_str(), rv(&updated) + 1),
            (want_ip.as_str(), rv(&updated) + 1)
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn repair_frees_orphaned_claims_and_keeps_held_ones() {
    let h = start().await;
    let web = h
        .create(json!({"type": "NodePort", "ports": [{"port": 80}]}), "web")
        .await
        .expect("create");
    let web_key = key(services(), Some("default"), "web");
    let ip = web["spec"]["clusterIP"].as_str().expect("ip").to_string();
    let port = node_port(&web);
    let held = [
        format!("{CLUSTER_IP_CLAIMS}{ip}"),
        format!("{NODE_PORT_CLAIMS}{port}"),
    ];
    // Orphans as older code could leave them (the claim proposed, then a crash before the
    // Service): a Service that was never written, a port the live Service does not use,
    // and a value that is no key.
    let spare = if port == 30999 { 30998 } else { 30999 };
    let orphans = [
        format!("{CLUSTER_IP_CLAIMS}10.96.9.9"),
        format!("{NODE_PORT_CLAIMS}{spare}"),
        format!("{NODE_PORT_CLAIMS}31234"),
    ];
    h.put_by_hand(&orphans[0], &key(services(), Some("default"), "ghost"))
        .await;
    h.put_by_hand(&orphans[1], &web_key).await;
    h.put_by_hand(&orphans[2], "").await;
    assert_eq!(h.claims().len(), 5);

    let r = h.api.repair_allocations().await.expect("repair");
    assert_eq!(
        r,
        Repaired {
            checked: 5,
            freed: 3
        }
    );
    let left: Vec<String> = h.claims().into_iter().map(|kv| kv.key).collect();
    let mut want = held.to_vec();
    want.sort();
    assert_eq!(left, want, "the live Service's claims are kept");
    // Nothing more to free, and what was freed can be taken again.
    assert_eq!(
        h.api.repair_allocations().await.expect("repair"),
        Repaired {
            checked: 2,
            freed: 0
        }
    );
    h.create(
        json!({"clusterIP": "10.96.9.9", "ports": [{"port": 80}]}),
        "again",
    )
    .await
    .expect("the freed IP is free");
}
