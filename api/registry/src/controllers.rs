//! Control loops that live in the API process until the `actors/` crate takes them over:
//! namespace finalization (delete a Terminating namespace's content, then the namespace),
//! the garbage collector's propagation finalizers (`foregroundDeletion`, `orphan`), and the
//! system objects every cluster keeps (`kube-root-ca.crt` per namespace, the `kubernetes`
//! Service).

use std::time::Duration;

use kumo_apimachinery::patch::PatchType;
use kumo_apimachinery::resources;
use serde_json::Value;

use crate::registry::{self, DeleteOpts, ListQuery, SharedApi, WriteOpts};

/// What to do with a namespace being deleted. Pure.
#[derive(Debug, PartialEq, Eq)]
pub enum NamespaceStep {
    /// Not being deleted.
    Nothing,
    /// Delete its remaining content.
    DeleteContent,
    /// Empty: drop the `kubernetes` finalizer from `spec.finalizers`.
    RemoveFinalizer,
    /// Empty and no finalizer left: remove the namespace.
    Finish,
    /// Empty, but other finalizers hold it.
    Wait,
}

pub fn namespace_step(ns: &Value, remaining: usize) -> NamespaceStep {
    let list = |p: &str| -> Vec<String> {
        ns.pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    if ns.pointer("/metadata/deletionTimestamp").is_none() {
        return NamespaceStep::Nothing;
    }
    if remaining > 0 {
        return NamespaceStep::DeleteContent;
    }
    let spec = list("/spec/finalizers");
    if spec.iter().any(|f| f == "kubernetes") {
        return NamespaceStep::RemoveFinalizer;
    }
    if spec.is_empty() && list("/metadata/finalizers").is_empty() {
        NamespaceStep::Finish
    } else {
        // Someone else's finalizer holds it; their controller removes it.
        NamespaceStep::Wait
    }
}

/// The resource a store key belongs to (`apps/deployments/ns/name`).
fn resource_of_key(key: &str) -> Option<&'static resources::ResourceInfo> {
    let mut parts = key.splitn(3, '/');
    let prefix = format!("{}/{}", parts.next()?, parts.next()?);
    resources::stored().find(|r| r.storage_prefix() == prefix)
}

fn name_of_key(res: &resources::ResourceInfo, key: &str) -> (Option<String>, String) {
    let rest = key[res.storage_prefix().len() + 1..].to_string();
    match rest.split_once('/') {
        Some((ns, name)) if res.namespaced => (Some(ns.to_string()), name.to_string()),
        _ => (None, rest),
    }
}

/// Runs the loops until the process ends. Event-driven and level-triggered: the store's
/// event window names the objects being deleted; each pass re-reads those objects.
pub async fn run(api: SharedApi) {
    let mut applied = api.store.shared().subscribe();
    let mut pending: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut last = rescan(&api, &mut pending);
    loop {
        let batch = api
            .store
            .shared()
            .read(|m| m.events_after(last, "", 10_000));
        match batch {
            Ok((events, upto)) => {
                for ev in events {
                    if ev.kind == kumo_raft_store::EventKind::Put
                        && contains(&ev.kv.value, b"deletionTimestamp")
                    {
                        pending.insert(ev.kv.key.clone());
                    }
                }
                last = upto;
            }
            Err(_) => last = rescan(&api, &mut pending),
        }
        // Only the leader acts: followers keep their pending set warm for a failover.
        let keys: Vec<String> = if api.store.is_leader() {
            pending.iter().cloned().collect()
        } else {
            Vec::new()
        };
        for key in keys {
            match step(&api, &key).await {
                Ok(true) => {}
                Ok(false) => {
                    pending.remove(&key);
                }
                Err(e) => {
                    tracing::debug!(key, error = %e.message, "controller step failed; will retry")
                }
            }
        }
        // Wake on the next change, or after a second at most (retries of pending work).
        let _ = tokio::time::timeout(Duration::from_secs(1), applied.changed()).await;
    }
}

/// Substring search (SIMD, via memchr): this runs on every stored change.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// Full scan for objects being deleted; returns the revision it read at.
fn rescan(api: &SharedApi, pending: &mut std::collections::BTreeSet<String>) -> u64 {
    api.store.shared().read(|m| {
        if let Ok(page) = m.range("", None, None, None) {
            for kv in page.items {
                if contains(&kv.value, b"deletionTimestamp") {
                    pending.insert(kv.key);
                }
            }
        }
        m.revision()
    })
}

/// Works on one object being deleted. `Ok(true)`: more work remains.
async fn step(api: &SharedApi, key: &str) -> Result<bool, crate::error::ApiError> {
    let Some(res) = resource_of_key(key) else {
        return Ok(false);
    };
    let (ns, name) = name_of_key(res, key);
    let obj = match api.get(res, ns.as_deref(), &name).await {
        Ok(o) => o,
        Err(e) if e.code == 404 => return Ok(false),
        Err(e) => return Err(e),
    };
    if res.kind == "Namespace" {
        let remaining = api.count_in_namespace(&name);
        return match namespace_step(&obj, remaining) {
            NamespaceStep::Nothing => Ok(false),
            NamespaceStep::DeleteContent => {
                delete_content(api, &name).await;
                Ok(true)
            }
            NamespaceStep::Wait => Ok(true),
            NamespaceStep::RemoveFinalizer => {
                let kept: Vec<Value> = obj
                    .pointer("/spec/finalizers")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter(|f| f.as_str() != Some("kubernetes"))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                // Pinned to the revision read: a concurrent change makes this a conflict,
                // and the next pass starts over.
                let body = serde_json::json!({
                    "metadata": {"resourceVersion": obj.pointer("/metadata/resourceVersion")},
                    "spec": {"finalizers": kept},
                });
                api.patch(
                    res,
                    None,
                    &name,
                    PatchType::Merge,
                    body.to_string().as_bytes(),
                    Some("finalize"),
                    &gc_opts("namespace-controller"),
                )
                .await?;
                Ok(true)
            }
            NamespaceStep::Finish => {
                let rev = obj
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let cmd = kumo_raft_store::Command::Delete {
                    key: key.to_string(),
                    precondition: kumo_raft_store::Precondition::Revision(rev),
                };
                match api
                    .store
                    .propose(cmd)
                    .await
                    .map_err(crate::error::ApiError::from)?
                {
                    kumo_raft_store::Outcome::Done { .. } | kumo_raft_store::Outcome::NotFound => {
                        tracing::info!(namespace = %name, "namespace deleted");
                        Ok(false)
                    }
                    // Changed since read: look again.
                    _ => Ok(true),
                }
            }
        };
    }
    propagation_finalizers(api, res, &obj).await
}

/// Objects listed per page while emptying a namespace (bounds the memory of one step).
const DELETE_PAGE: i64 = 500;
/// Deletes in flight at once while emptying a namespace.
const DELETE_CONCURRENCY: usize = 64;

async fn delete_content(api: &SharedApi, ns: &str) {
    use futures::StreamExt;
    let mut seen = std::collections::HashSet::new();
    for r in resources::stored().filter(|r| r.namespaced) {
        if !seen.insert(r.storage_prefix()) {
            continue;
        }
        let mut cont: Option<String> = None;
        loop {
            let q = ListQuery {
                limit: Some(DELETE_PAGE),
                continue_token: cont.take(),
                ..Default::default()
            };
            let Ok(page) = api.list(r, Some(ns), &q).await else {
                break;
            };
            let names: Vec<String> = page
                .items
                .iter()
                .filter(|o| o.pointer("/metadata/deletionTimestamp").is_none())
                .filter_map(|o| registry::meta_str(o, "name").map(str::to_string))
                .collect();
            futures::stream::iter(names)
                .for_each_concurrent(DELETE_CONCURRENCY, |name| async move {
                    if let Err(e) = api.delete(r, Some(ns), &name, &DeleteOpts::default()).await {
                        tracing::debug!(namespace = ns, name, error = %e.message, "delete during namespace termination");
                    }
                })
                .await;
            match page.cont {
                Some(c) => cont = Some(c),
                None => break,
            }
        }
    }
}

/// Removes `foregroundDeletion` / `orphan` finalizers once their work is done: no dependent
/// remains (foreground), or dependents no longer point at the owner (orphan).
/// `Ok(true)`: still waiting on dependents.
async fn propagation_finalizers(
    api: &SharedApi,
    r: &'static resources::ResourceInfo,
    obj: &Value,
) -> Result<bool, crate::error::ApiError> {
    let fins: Vec<String> = obj
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if !fins
        .iter()
        .any(|f| f == "foregroundDeletion" || f == "orphan")
    {
        return Ok(false);
    }
    let uid = registry::meta_str(obj, "uid").unwrap_or("").to_string();
    let ns = registry::meta_str(obj, "namespace").map(str::to_string);
    let dependents = dependents_of(api, ns.as_deref(), &uid).await;
    let mut done = Vec::new();
    for f in &fins {
        match f.as_str() {
            "foregroundDeletion" => {
                for (dr, dn, dns) in &dependents {
                    let opts = DeleteOpts {
                        propagation: Some("Foreground".into()),
                        ..Default::default()
                    };
                    let _ = api.delete(dr, dns.as_deref(), dn, &opts).await;
                }
                if dependents.is_empty() {
                    done.push(f.clone());
                }
            }
            "orphan" => {
                for (dr, dn, dns) in &dependents {
                    if let Ok(d) = api.get(dr, dns.as_deref(), dn).await {
                        let refs: Vec<Value> = d
                            .pointer("/metadata/ownerReferences")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        let kept: Vec<Value> = refs
                            .into_iter()
                            .filter(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str()))
                            .collect();
                        // Pinned to the revision read, so a concurrent change is not lost.
                        let body = serde_json::json!({"metadata": {"ownerReferences": kept, "resourceVersion": d.pointer("/metadata/resourceVersion")}});
                        api.patch(
                            dr,
                            dns.as_deref(),
                            dn,
                            kumo_apimachinery::patch::PatchType::Merge,
                            body.to_string().as_bytes(),
                            None,
                            &gc_opts("generic-garbage-collector"),
                        )
                        .await?;
                    }
                }
                done.push(f.clone());
            }
            _ => {}
        }
    }
    if done.is_empty() {
        return Ok(true);
    }
    let kept: Vec<&String> = fins.iter().filter(|f| !done.contains(f)).collect();
    let name = registry::meta_str(obj, "name").unwrap_or("").to_string();
    let body = serde_json::json!({"metadata": {"finalizers": kept, "resourceVersion": obj.pointer("/metadata/resourceVersion")}});
    api.patch(
        r,
        ns.as_deref(),
        &name,
        kumo_apimachinery::patch::PatchType::Merge,
        body.to_string().as_bytes(),
        None,
        &gc_opts("generic-garbage-collector"),
    )
    .await?;
    Ok(false)
}

fn gc_opts(manager: &str) -> WriteOpts {
    WriteOpts {
        field_manager: Some(manager.into()),
        ..Default::default()
    }
}

async fn dependents_of(
    api: &SharedApi,
    ns: Option<&str>,
    uid: &str,
) -> Vec<(&'static resources::ResourceInfo, String, Option<String>)> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in resources::stored() {
        if !seen.insert(r.storage_prefix()) {
            continue;
        }
        let scope = if r.namespaced { ns } else { None };
        let Ok(page) = api
            .list(
                r,
                scope,
                &ListQuery {
                    resource_version: Some("0".into()),
                    ..Default::default()
                },
            )
            .await
        else {
            continue;
        };
        for obj in page.items {
            let owned = obj
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| {
                    refs.iter()
                        .any(|o| o.get("uid").and_then(Value::as_str) == Some(uid))
                });
            if owned {
                out.push((
                    r,
                    registry::meta_str(&obj, "name").unwrap_or("").to_string(),
                    registry::meta_str(&obj, "namespace").map(str::to_string),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}

/// The ConfigMap Kubernetes' root-CA publisher keeps in every namespace: the API's CA, for
/// clients in pods to verify the API server. Pure.
pub fn root_ca_configmap(ns: &str, ca_pem: &str) -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": ROOT_CA_NAME, "namespace": ns},
        "data": {"ca.crt": ca_pem},
    })
}

const ROOT_CA_NAME: &str = "kube-root-ca.crt";

/// What a stored change asks of the system-objects loop. Pure.
#[derive(Debug, PartialEq, Eq)]
pub enum SystemWork {
    /// Make sure this namespace's root-CA ConfigMap exists with the current CA.
    RootCa(String),
    /// The `kubernetes` Service (or its namespace) changed: make sure it exists.
    KubernetesService,
    None,
}

/// Classifies a changed store key.
pub fn system_work(key: &str) -> SystemWork {
    if let Some(ns) = key.strip_prefix("core/namespaces/") {
        return SystemWork::RootCa(ns.to_string());
    }
    if let Some(rest) = key.strip_prefix("core/configmaps/")
        && let Some((ns, name)) = rest.split_once('/')
        && name == ROOT_CA_NAME
    {
        return SystemWork::RootCa(ns.to_string());
    }
    if key == "core/services/default/kubernetes" {
        return SystemWork::KubernetesService;
    }
    SystemWork::None
}

/// Keeps the objects every cluster has in place, as Kubernetes' controllers do: a
/// `kube-root-ca.crt` ConfigMap in every namespace (re-created or corrected when deleted or
/// edited) and the `kubernetes` Service in `default` (re-created when deleted). Only the
/// leader acts; the work is driven by stored changes, with a full pass on start and after
/// falling behind the history window.
pub async fn run_system_objects(api: SharedApi, ca_pem: String) {
    let mut applied = api.store.shared().subscribe();
    let mut pending: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut service = true;
    let mut last = all_namespaces(&api, &mut pending);
    loop {
        let batch = api
            .store
            .shared()
            .read(|m| m.events_after(last, "core/", 10_000));
        match batch {
            Ok((events, upto)) => {
                for ev in events {
                    match system_work(&ev.kv.key) {
                        SystemWork::RootCa(ns) => {
                            pending.insert(ns);
                        }
                        SystemWork::KubernetesService => service = true,
                        SystemWork::None => {}
                    }
                }
                last = upto;
            }
            Err(_) => {
                last = all_namespaces(&api, &mut pending);
                service = true;
            }
        }
        if api.store.is_leader() {
            if service && ensure_kubernetes_service(&api).await {
                service = false;
            }
            // Bounded per pass; the rest waits for the next one.
            let batch: Vec<String> = pending.iter().take(256).cloned().collect();
            for ns in batch {
                if ensure_root_ca(&api, &ns, &ca_pem).await {
                    pending.remove(&ns);
                }
            }
        }
        // At most five passes a second: under a write load every applied batch would wake
        // it, and none of this work is urgent.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), applied.changed()).await;
    }
}

/// Every namespace into `pending`; returns the revision read at.
fn all_namespaces(api: &SharedApi, pending: &mut std::collections::BTreeSet<String>) -> u64 {
    api.store.shared().read(|m| {
        if let Ok(page) = m.range("core/namespaces/", None, None, None) {
            for kv in page.items {
                if let SystemWork::RootCa(ns) = system_work(&kv.key) {
                    pending.insert(ns);
                }
            }
        }
        m.revision()
    })
}

fn system_opts() -> WriteOpts {
    WriteOpts {
        field_manager: Some("kube-controller-manager".into()),
        ..Default::default()
    }
}

/// `true` when done (in place, or nothing to do: the namespace is gone or terminating).
async fn ensure_root_ca(api: &SharedApi, ns: &str, ca_pem: &str) -> bool {
    let ns_res = resources::lookup("", "v1", "namespaces").expect("registered");
    let cm_res = resources::lookup("", "v1", "configmaps").expect("registered");
    match api.get(ns_res, None, ns).await {
        Ok(n) if n.pointer("/metadata/deletionTimestamp").is_none() => {}
        Ok(_) => return true,
        Err(e) if e.code == 404 => return true,
        Err(_) => return false,
    }
    let want = root_ca_configmap(ns, ca_pem);
    let result = match api.get(cm_res, Some(ns), ROOT_CA_NAME).await {
        Ok(cm) if cm.get("data") == want.get("data") => return true,
        Ok(cm) => {
            let mut fixed = cm.clone();
            fixed["data"] = want["data"].clone();
            if let Some(o) = fixed.as_object_mut() {
                o.remove("binaryData");
            }
            api.update(cm_res, Some(ns), ROOT_CA_NAME, fixed, None, &system_opts())
                .await
                .map(|_| ())
        }
        Err(e) if e.code == 404 => api
            .create(cm_res, Some(ns), want, &system_opts())
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => true,
        // Terminating namespace (403) or a concurrent change (409): the next pass decides.
        Err(e) if e.code == 403 => true,
        Err(e) => {
            tracing::debug!(namespace = ns, error = %e.message, "root CA ConfigMap; will retry");
            false
        }
    }
}

/// `true` when the Service is in place.
async fn ensure_kubernetes_service(api: &SharedApi) -> bool {
    let svc = resources::lookup("", "v1", "services").expect("registered");
    match api.get(svc, Some("default"), "kubernetes").await {
        Ok(_) => return true,
        Err(e) if e.code == 404 => {}
        Err(_) => return false,
    }
    match api
        .create(svc, Some("default"), kubernetes_service(), &system_opts())
        .await
    {
        Ok(_) => true,
        Err(e) if e.code == 409 => true,
        Err(e) => {
            tracing::debug!(error = %e.message, "kubernetes Service; will retry");
            false
        }
    }
}

/// The `kubernetes` Service in `default`: the API's address inside the cluster. Pure.
pub fn kubernetes_service() -> Value {
    serde_json::json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default",
        "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}})
}
