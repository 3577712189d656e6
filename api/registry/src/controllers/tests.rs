//! The controllers' decisions, triggers and resyncs, without a store.

use serde_json::json;

use super::*;
use crate::runtime::index::meta;

fn put(ix: &mut Index, key: &str, json: Value) -> Vec<String> {
    ix.put(
        key,
        object_ref(key).as_ref(),
        &meta(json.to_string().as_bytes()),
    )
}

fn triggers<C: Controller>(c: &C, ix: &mut Index, key: &str, value: Option<Value>) -> Vec<String> {
    let object = object_ref(key);
    let (deleted, mut owners) = match &value {
        Some(v) => (false, put(ix, key, v.clone())),
        None => (true, ix.remove(key)),
    };
    if let Some(v) = &value {
        owners.extend(meta(v.to_string().as_bytes()).owners);
    }
    let mut out = Vec::new();
    c.triggers(
        &Change {
            key,
            object: object.as_ref(),
            deleted,
            owners: &owners,
        },
        ix,
        &mut out,
    );
    out
}

#[test]
fn system_work_from_keys() {
    assert_eq!(
        system_work("core/namespaces/a"),
        SystemWork::RootCa("a".into())
    );
    assert_eq!(
        system_work("core/configmaps/a/kube-root-ca.crt"),
        SystemWork::RootCa("a".into())
    );
    assert_eq!(system_work("core/configmaps/a/other"), SystemWork::None);
    assert_eq!(
        system_work("core/services/default/kubernetes"),
        SystemWork::KubernetesService
    );
    assert_eq!(system_work("core/services/x/kubernetes"), SystemWork::None);
    let cm = root_ca_configmap("a", "PEM");
    assert_eq!(cm["data"]["ca.crt"], "PEM");
    assert_eq!(cm["metadata"]["namespace"], "a");
}

#[test]
fn namespace_steps() {
    let live = json!({"metadata": {"name": "a"}});
    let dying = json!({"metadata": {"name": "a", "deletionTimestamp": "2026-01-01T00:00:00Z"}});
    assert_eq!(namespace_step(&live, 3), NamespaceStep::Nothing);
    assert_eq!(namespace_step(&dying, 3), NamespaceStep::DeleteContent);
    assert_eq!(namespace_step(&dying, 0), NamespaceStep::Finish);
    let fin =
        json!({"metadata": {"deletionTimestamp": "t"}, "spec": {"finalizers": ["kubernetes"]}});
    assert_eq!(namespace_step(&fin, 0), NamespaceStep::RemoveFinalizer);
    let held = json!({"metadata": {"deletionTimestamp": "t", "finalizers": ["example.com/hold"]}, "spec": {"finalizers": []}});
    assert_eq!(namespace_step(&held, 0), NamespaceStep::Wait);
}

fn ns_view(ns: Option<Value>, remaining: usize) -> NamespaceView {
    NamespaceView {
        name: "a".into(),
        ns,
        remaining,
    }
}

#[test]
fn namespace_decisions_carry_their_effects() {
    assert_eq!(
        NamespaceController::decide(&ns_view(None, 0)),
        Action::await_change()
    );
    let dying = json!({"metadata": {"name": "a", "deletionTimestamp": "t", "resourceVersion": "7"},
        "spec": {"finalizers": ["kubernetes", "example.com/x"]}});
    let a = NamespaceController::decide(&ns_view(Some(dying.clone()), 2));
    assert_eq!(a.effects, [NamespaceEffect::DeleteContent("a".into())]);
    assert_eq!(a.requeue, Some(STILL_WORKING));
    let a = NamespaceController::decide(&ns_view(Some(dying), 0));
    assert_eq!(
        a.effects,
        [NamespaceEffect::SetSpecFinalizers {
            name: "a".into(),
            finalizers: vec!["example.com/x".into()],
            rv: json!("7"),
        }]
    );
    let done = json!({"metadata": {"name": "a", "deletionTimestamp": "t", "resourceVersion": "9"},
        "spec": {"finalizers": []}});
    let a = NamespaceController::decide(&ns_view(Some(done), 0));
    assert_eq!(
        a,
        Action::apply(vec![NamespaceEffect::Remove {
            name: "a".into(),
            rv: 9
        }])
    );
}

#[test]
fn namespace_triggers_on_itself_and_its_content_once_terminating() {
    let c = NamespaceController;
    let mut ix = Index::default();
    assert!(
        triggers(
            &c,
            &mut ix,
            "core/namespaces/a",
            Some(json!({"metadata": {}}))
        )
        .is_empty()
    );
    assert!(triggers(&c, &mut ix, "core/configmaps/a/x", Some(json!({}))).is_empty());
    let dying = json!({"metadata": {"uid": "u", "deletionTimestamp": "t"}});
    assert_eq!(
        triggers(&c, &mut ix, "core/namespaces/a", Some(dying)),
        ["core/namespaces/a"]
    );
    assert_eq!(
        triggers(&c, &mut ix, "core/configmaps/a/x", None),
        ["core/namespaces/a"]
    );
    assert!(triggers(&c, &mut ix, "core/configmaps/b/x", None).is_empty());
    assert!(triggers(&c, &mut ix, "core/_clusterips/10.96.0.9", Some(json!({}))).is_empty());
    // Resync: every Terminating namespace, nothing else, from a cursor.
    put(
        &mut ix,
        "core/namespaces/b",
        json!({"metadata": {"deletionTimestamp": "t"}}),
    );
    put(
        &mut ix,
        "core/pods/b/p",
        json!({"metadata": {"deletionTimestamp": "t"}}),
    );
    put(
        &mut ix,
        "apps/deployments/b/d",
        json!({"metadata": {"deletionTimestamp": "t"}}),
    );
    let mut out = Vec::new();
    assert!(c.resync(&ix, None, 1, &mut out));
    assert_eq!(out, ["core/namespaces/a"]);
    let mut out = Vec::new();
    assert!(!c.resync(&ix, Some("core/namespaces/a"), 10, &mut out));
    assert_eq!(out, ["core/namespaces/b"]);
}

fn at(key: &str) -> ObjectRef {
    object_ref(key).expect("an object key")
}

fn owner(fins: &[&str]) -> Option<(ObjectRef, Value)> {
    Some((
        at("apps/replicasets/a/rs"),
        json!({"metadata": {"name": "rs", "namespace": "a", "uid": "rs-uid",
            "resourceVersion": "5", "deletionTimestamp": "t", "finalizers": fins}}),
    ))
}

fn dependent(name: &str, dying: bool) -> Dependent {
    let mut obj = json!({"metadata": {"name": name, "namespace": "a", "resourceVersion": "3",
        "ownerReferences": [{"uid": "rs-uid"}, {"uid": "other"}]}});
    if dying {
        obj["metadata"]["deletionTimestamp"] = json!("t");
    }
    Dependent {
        at: at(&format!("core/pods/a/{name}")),
        obj,
    }
}

#[test]
fn foreground_deletes_live_dependents_then_lets_the_owner_go() {
    let view = OwnerView {
        owner: owner(&["foregroundDeletion", "example.com/keep"]),
        dependents: vec![dependent("p1", false), dependent("p2", true)],
        total: 2,
    };
    let a = GarbageCollector::decide(&view);
    assert_eq!(
        a.effects,
        [GcEffect::DeleteForeground(at("core/pods/a/p1"))],
        "a dependent already being deleted is waited for, not deleted again"
    );
    assert_eq!(a.requeue, Some(STILL_WORKING));
    let view = OwnerView {
        dependents: vec![],
        total: 0,
        ..view
    };
    let a = GarbageCollector::decide(&view);
    assert_eq!(
        a,
        Action::apply(vec![GcEffect::PatchOwner {
            at: at("apps/replicasets/a/rs"),
            body: json!({"metadata": {"finalizers": ["example.com/keep"], "resourceVersion": "5"}}),
        }])
    );
}

#[test]
fn orphan_lets_go_of_every_dependent_then_of_the_finalizer() {
    let view = OwnerView {
        owner: owner(&["orphan"]),
        dependents: vec![dependent("p1", false)],
        total: 2,
    };
    // More dependents than one pass: patch these, keep the finalizer, go on at once.
    let a = GarbageCollector::decide(&view);
    assert_eq!(
        a.effects,
        [GcEffect::PatchDependent {
            at: at("core/pods/a/p1"),
            body: json!({"metadata": {"ownerReferences": [{"uid": "other"}], "resourceVersion": "3"}}),
        }]
    );
    assert_eq!(a.requeue, Some(Duration::ZERO));
    let view = OwnerView { total: 1, ..view };
    let a = GarbageCollector::decide(&view);
    assert_eq!(a.effects.len(), 2);
    assert_eq!(
        a.effects[1],
        GcEffect::PatchOwner {
            at: at("apps/replicasets/a/rs"),
            body: json!({"metadata": {"finalizers": [], "resourceVersion": "5"}}),
        }
    );
    assert_eq!(a.requeue, None);
    // Nothing of ours to do: wait.
    let none = OwnerView {
        owner: owner(&["example.com/x"]),
        dependents: vec![],
        total: 0,
    };
    assert_eq!(GarbageCollector::decide(&none), Action::await_change());
}

#[test]
fn a_dependent_change_wakes_its_owner() {
    let c = GarbageCollector;
    let mut ix = Index::default();
    let rs =
        json!({"metadata": {"uid": "rs-uid", "deletionTimestamp": "t", "finalizers": ["orphan"]}});
    assert_eq!(
        triggers(&c, &mut ix, "apps/replicasets/a/rs", Some(rs)),
        ["apps/replicasets/a/rs"]
    );
    let pod = json!({"metadata": {"uid": "p", "ownerReferences": [{"uid": "rs-uid"}]}});
    assert_eq!(
        triggers(&c, &mut ix, "core/pods/a/p", Some(pod)),
        ["apps/replicasets/a/rs"]
    );
    // Let go of the owner (the orphan patch): the owner hears of it.
    assert_eq!(
        triggers(
            &c,
            &mut ix,
            "core/pods/a/p",
            Some(json!({"metadata": {"uid": "p"}}))
        ),
        ["apps/replicasets/a/rs"]
    );
    // An owner deleted without a propagation finalizer is none of ours.
    let plain = json!({"metadata": {"uid": "d", "deletionTimestamp": "t", "finalizers": ["x"]}});
    assert!(triggers(&c, &mut ix, "apps/deployments/a/d", Some(plain)).is_empty());
    let mut out = Vec::new();
    assert!(!c.resync(&ix, None, 10, &mut out));
    assert_eq!(out, ["apps/replicasets/a/rs"]);
}

#[test]
fn system_objects_decisions() {
    let live = Some(json!({"metadata": {"name": "a"}}));
    let view = |namespace: Option<Value>, configmap: Option<Value>| SystemView::RootCa {
        ns: "a".into(),
        namespace,
        configmap,
    };
    assert_eq!(
        SystemObjects::decide(&view(None, None), "PEM"),
        Action::await_change()
    );
    let dying = Some(json!({"metadata": {"name": "a", "deletionTimestamp": "t"}}));
    assert_eq!(
        SystemObjects::decide(&view(dying, None), "PEM"),
        Action::await_change()
    );
    assert_eq!(
        SystemObjects::decide(&view(live.clone(), None), "PEM").effects,
        [SystemEffect::CreateConfigMap {
            ns: "a".into(),
            obj: root_ca_configmap("a", "PEM")
        }]
    );
    let right = root_ca_configmap("a", "PEM");
    assert_eq!(
        SystemObjects::decide(&view(live.clone(), Some(right)), "PEM"),
        Action::await_change()
    );
    let mut tampered = root_ca_configmap("a", "evil");
    tampered["binaryData"] = json!({"x": "eA=="});
    let a = SystemObjects::decide(&view(live, Some(tampered)), "PEM");
    let [SystemEffect::UpdateConfigMap { obj, .. }] = a.effects.as_slice() else {
        panic!("{a:?}");
    };
    assert_eq!(obj["data"]["ca.crt"], "PEM");
    assert!(obj.get("binaryData").is_none());
    assert_eq!(
        SystemObjects::decide(&SystemView::Service(None), "PEM").effects,
        [SystemEffect::CreateService(kubernetes_service())]
    );
    assert_eq!(
        SystemObjects::decide(&SystemView::Service(Some(json!({}))), "PEM"),
        Action::await_change()
    );
}

#[test]
fn system_objects_resync_walks_namespaces_then_the_service() {
    let c = SystemObjects {
        ca_pem: "PEM".into(),
    };
    let mut ix = Index::default();
    for n in ["a", "b", "c"] {
        put(&mut ix, &format!("core/namespaces/{n}"), json!({}));
    }
    let mut out = Vec::new();
    assert!(c.resync(&ix, None, 2, &mut out));
    assert_eq!(out, ["core/namespaces/a", "core/namespaces/b"]);
    let mut out = Vec::new();
    assert!(c.resync(&ix, Some("core/namespaces/b"), 1, &mut out));
    assert_eq!(out, ["core/namespaces/c"]);
    let mut out = Vec::new();
    assert!(!c.resync(&ix, Some("core/namespaces/c"), 1, &mut out));
    assert_eq!(out, [KUBERNETES_SERVICE_KEY]);
    let mut out = Vec::new();
    assert!(!c.resync(&ix, Some(KUBERNETES_SERVICE_KEY), 1, &mut out));
    assert!(out.is_empty());
    assert_eq!(
        triggers(&c, &mut ix, "core/configmaps/b/kube-root-ca.crt", None),
        ["core/namespaces/b"]
    );
}
