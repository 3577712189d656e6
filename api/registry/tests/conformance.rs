//! The registry's conformance suite (the idea of Kubernetes' `resttest`): every stored kind,
//! through its strategy's sample object, goes through create, get, list, update, patch,
//! create-on-PUT, delete and watch on an in-process store, and each step answers as the
//! generic store promises (identity, resourceVersion, generation, events in order).

use crate::common::{self, rv};
use std::sync::Arc;
use std::time::Duration;

use kumo_apimachinery::patch::PatchType;
use kumo_apimachinery::resources::{self, ResourceInfo};
use kumo_apimachinery::strategy::Lifecycle;
use kumo_registry::watch::{self, WatchQuery};
use kumo_registry::{DeleteOpts, ListQuery, SharedApi, WriteOpts};
use serde_json::{Value, json};

async fn open_api(dir: &std::path::Path) -> SharedApi {
    Arc::new(common::open_api(dir).await)
}

fn ns_of(res: &ResourceInfo) -> Option<&'static str> {
    res.namespaced.then_some("default")
}

fn opts() -> WriteOpts {
    WriteOpts {
        field_manager: Some("conformance".into()),
        ..Default::default()
    }
}

/// The next watch events (type, object) until `until` matches one, within a few seconds.
async fn events_until(
    rx: &mut tokio::sync::mpsc::Receiver<watch::Chunk>,
    kind: &str,
    until: impl Fn(&str, &Value) -> bool,
) -> Vec<(String, Value)> {
    let mut seen = Vec::new();
    let mut pending = Vec::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("{kind}: no watch event within 10 s; saw {seen:?}"))
            .unwrap_or_else(|| panic!("{kind}: watch ended; saw {seen:?}"));
        for part in chunk.parts {
            pending.extend_from_slice(&part);
        }
        while let Some(nl) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=nl).collect();
            let ev: Value = serde_json::from_slice(&line).expect("watch line is JSON");
            let ty = ev["type"].as_str().unwrap_or("").to_string();
            let done = until(&ty, &ev["object"]);
            seen.push((ty, ev["object"].clone()));
            if done {
                return seen;
            }
        }
    }
}

/// One kind through every verb.
async fn conform(api: &SharedApi, res: &'static ResourceInfo) {
    let s = res.strategy;
    let kind = res.kind;
    let ns = ns_of(res);
    let sample = s.sample();
    let name = sample["metadata"]["name"].as_str().unwrap().to_string();

    // create
    let created = api
        .create(res, ns, sample.clone(), &opts())
        .await
        .unwrap_or_else(|e| panic!("{kind}: create: {}", e.message));
    assert!(created.created, "{kind}");
    let obj = created.obj;
    assert_eq!(obj["kind"], kind);
    assert_eq!(obj["apiVersion"], res.api_version().as_str(), "{kind}");
    assert!(obj.pointer("/metadata/uid").is_some(), "{kind}: uid");
    assert!(obj.pointer("/metadata/creationTimestamp").is_some());
    let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64);
    assert_eq!(
        generation,
        s.tracks_generation().then_some(1),
        "{kind}: generation"
    );
    let created_rv = rv(&obj);
    let err = api
        .create(res, ns, sample.clone(), &opts())
        .await
        .unwrap_err();
    assert_eq!(err.code, 409, "{kind}: second create");

    // watch from the created revision: the changes below arrive in order
    let q = WatchQuery {
        list: ListQuery {
            resource_version: Some(created_rv.to_string()),
            ..Default::default()
        },
        ..Default::default()
    };
    let render: watch::Render = Arc::new(|o: &Value| o.clone());
    let mut rx = watch::start(api.clone(), res, ns.map(String::from), q, render, None)
        .await
        .unwrap_or_else(|e| panic!("{kind}: watch: {}", e.message));

    // get and list
    let got = api.get(res, ns, &name).await.expect("get");
    assert_eq!(got["metadata"]["uid"], obj["metadata"]["uid"], "{kind}");
    assert_eq!(rv(&got), created_rv, "{kind}");
    let page = api
        .list(res, ns, &ListQuery::default())
        .await
        .expect("list");
    assert!(
        page.items
            .iter()
            .any(|i| i["metadata"]["name"] == name.as_str()),
        "{kind}: list lacks {name}"
    );
    assert!(page.revision >= created_rv);

    // update (PUT): a label; the revision grows, the generation does not (no spec change)
    let mut next = got.clone();
    next["metadata"]["labels"]["conformance"] = json!("updated");
    let updated = api
        .update(res, ns, &name, next, None, &opts())
        .await
        .unwrap_or_else(|e| panic!("{kind}: update: {}", e.message))
        .obj;
    assert_eq!(updated["metadata"]["labels"]["conformance"], "updated");
    assert!(rv(&updated) > created_rv, "{kind}: update revision");
    assert_eq!(
        updated
            .pointer("/metadata/generation")
            .and_then(Value::as_i64),
        generation,
        "{kind}"
    );
    // a stale resourceVersion conflicts
    let mut stale = got.clone();
    stale["metadata"]["labels"]["stale"] = json!("yes");
    let err = api
        .update(res, ns, &name, stale, None, &opts())
        .await
        .unwrap_err();
    assert_eq!(err.code, 409, "{kind}: stale update");

    // patch (merge)
    let patched = api
        .patch(
            res,
            ns,
            &name,
            PatchType::Merge,
            br#"{"metadata":{"labels":{"patched":"yes"}}}"#,
            None,
            &opts(),
        )
        .await
        .unwrap_or_else(|e| panic!("{kind}: patch: {}", e.message))
        .obj;
    assert_eq!(patched["metadata"]["labels"]["patched"], "yes");
    assert_eq!(patched["metadata"]["labels"]["conformance"], "updated");
    assert!(rv(&patched) > rv(&updated));

    // PUT of a missing name: created where the strategy allows it, else 404
    let mut fresh = sample.clone();
    fresh["metadata"]["name"] = json!("sample-put");
    match api
        .update(res, ns, "sample-put", fresh, None, &opts())
        .await
    {
        Ok(w) => {
            assert!(s.allow_create_on_update(), "{kind}: PUT created");
            assert!(w.created, "{kind}");
            api.delete(res, ns, "sample-put", &DeleteOpts::default())
                .await
                .expect("delete sample-put");
        }
        Err(e) => {
            assert!(!s.allow_create_on_update(), "{kind}: PUT: {}", e.message);
            assert_eq!(e.code, 404, "{kind}");
        }
    }

    // delete
    let deleted = api
        .delete(res, ns, &name, &DeleteOpts::default())
        .await
        .unwrap_or_else(|e| panic!("{kind}: delete: {}", e.message));
    match s.lifecycle() {
        Lifecycle::Object => {
            assert!(deleted.gone, "{kind}");
            assert_eq!(api.get(res, ns, &name).await.unwrap_err().code, 404);
        }
        Lifecycle::Namespace => {
            // Finished by the namespace controller, which this suite does not run.
            assert!(!deleted.gone);
            assert_eq!(deleted.obj["status"]["phase"], "Terminating");
        }
    }

    // the watch saw the update, the patch and the delete, in order
    let events = events_until(&mut rx, kind, |ty, o| {
        o["metadata"]["name"] == name.as_str()
            && (ty == "DELETED" || o.pointer("/metadata/deletionTimestamp").is_some())
    })
    .await;
    let ours: Vec<(&str, u64)> = events
        .iter()
        .filter(|(_, o)| o["metadata"]["name"] == name.as_str())
        .map(|(t, o)| (t.as_str(), rv(o)))
        .collect();
    assert!(ours.len() >= 3, "{kind}: {ours:?}");
    assert_eq!(ours[0], ("MODIFIED", rv(&updated)), "{kind}");
    assert_eq!(ours[1], ("MODIFIED", rv(&patched)), "{kind}");
    assert!(ours.windows(2).all(|w| w[0].1 < w[1].1), "{kind}: {ours:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_through_every_verb() {
    let dir = tempfile::tempdir().expect("temp dir");
    let api = open_api(dir.path()).await;
    let nsres = resources::lookup("", "v1", "namespaces").unwrap();
    api.create(
        nsres,
        None,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
        &opts(),
    )
    .await
    .expect("namespace default");
    let mut kinds = Vec::new();
    for res in resources::stored() {
        // A kind served at several versions is exercised at its sample's.
        if res.strategy.sample()["apiVersion"] != res.api_version().as_str() {
            continue;
        }
        conform(&api, res).await;
        kinds.push(res.kind);
    }
    let mut served: Vec<&str> = resources::stored().map(|r| r.kind).collect();
    served.dedup();
    kinds.dedup();
    assert_eq!(kinds, served, "every stored kind is exercised");
}
