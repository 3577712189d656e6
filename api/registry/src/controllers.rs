//! The controllers that live in the API process until the `actors/` crate takes them over,
//! each on the controller runtime ([`crate::runtime`]): a pure decision per key, its
//! effects carried out by the runtime's driver, only on the leader.
//!
//! - [`NamespaceController`]: a Terminating namespace's content is deleted, then its
//!   `kubernetes` finalizer dropped, then the namespace removed.
//! - [`GarbageCollector`]: the propagation finalizers (`foregroundDeletion`: delete the
//!   dependents and wait for them; `orphan`: let the dependents go), dependents found
//!   through the runtime's index of owner uids.
//! - [`SystemObjects`]: the objects every cluster keeps (`kube-root-ca.crt` in every
//!   namespace, the `kubernetes` Service in `default`).

use std::sync::Arc;
use std::time::Duration;

use kumo_apimachinery::patch::PatchType;
use kumo_apimachinery::resources::{self, ResourceInfo};
use serde_json::Value;

use crate::error::{ApiError, ApiResult, Reason};
use crate::registry::{self, DeleteOpts, ListQuery, SharedApi, WriteOpts};
use crate::runtime::{
    Action, Change, Context, Controller, Index, ObjectRef, Runtime, RuntimeHandle, RuntimeMetrics,
    object_ref,
};

/// A reconcile that started work whose end it may not see as a change (deletes that
/// failed, dependents held by finalizers) looks again after this, as the loops before the
/// runtime did; the changes it waits for bring it back sooner.
pub const STILL_WORKING: Duration = Duration::from_secs(1);
/// Dependents one reconcile of the garbage collector reads and acts on; past it the rest
/// wait for the next pass (queued at once).
pub const DEPENDENTS_PER_PASS: usize = 500;

/// Starts the controllers of this process on one runtime; they stop with the handle.
pub fn start(api: SharedApi, ca_pem: String, metrics: Arc<RuntimeMetrics>) -> RuntimeHandle {
    Runtime::new(api, metrics)
        .with(NamespaceController)
        .with(GarbageCollector)
        .with(SystemObjects { ca_pem })
        .start()
}

fn str_list(obj: &Value, pointer: &str) -> Vec<String> {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some()
}

fn rv_of(obj: &Value) -> Value {
    obj.pointer("/metadata/resourceVersion")
        .cloned()
        .unwrap_or(Value::Null)
}

fn not_found(e: &ApiError) -> bool {
    e.reason == Reason::NotFound
}

/// Reads an object, `None` when it does not exist.
async fn get_opt(
    api: &SharedApi,
    res: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
) -> ApiResult<Option<Value>> {
    match api.get(res, ns, name).await {
        Ok(o) => Ok(Some(o)),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

fn gc_opts(manager: &str) -> WriteOpts {
    WriteOpts {
        field_manager: Some(manager.into()),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------
// Namespaces

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
    if !deleting(ns) {
        return NamespaceStep::Nothing;
    }
    if remaining > 0 {
        return NamespaceStep::DeleteContent;
    }
    let spec = str_list(ns, "/spec/finalizers");
    if spec.iter().any(|f| f == "kubernetes") {
        return NamespaceStep::RemoveFinalizer;
    }
    if spec.is_empty() && str_list(ns, "/metadata/finalizers").is_empty() {
        NamespaceStep::Finish
    } else {
        // Someone else's finalizer holds it; their controller removes it.
        NamespaceStep::Wait
    }
}

const NAMESPACE_PREFIX: &str = "core/namespaces/";

/// Empties and removes Terminating namespaces. Keys: `core/namespaces/<name>`.
pub struct NamespaceController;

/// A namespace as the namespace controller decides from it.
#[derive(Debug)]
pub struct NamespaceView {
    pub name: String,
    pub ns: Option<Value>,
    /// Resources that still hold objects in it (0: empty).
    pub remaining: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceEffect {
    /// Delete every object left in the namespace (page by page).
    DeleteContent(String),
    /// Write `spec.finalizers` through the `finalize` subresource, pinned to `rv`.
    SetSpecFinalizers {
        name: String,
        finalizers: Vec<String>,
        rv: Value,
    },
    /// Remove the namespace's object, if still at revision `rv`.
    Remove { name: String, rv: u64 },
}

impl NamespaceController {
    /// The decision. Pure.
    pub fn decide(view: &NamespaceView) -> Action<NamespaceEffect> {
        let Some(ns) = &view.ns else {
            return Action::await_change();
        };
        let name = view.name.clone();
        match namespace_step(ns, view.remaining) {
            NamespaceStep::Nothing | NamespaceStep::Wait => Action::await_change(),
            NamespaceStep::DeleteContent => {
                Action::apply(vec![NamespaceEffect::DeleteContent(name)])
                    .then_requeue(STILL_WORKING)
            }
            NamespaceStep::RemoveFinalizer => {
                let finalizers = str_list(ns, "/spec/finalizers")
                    .into_iter()
                    .filter(|f| f != "kubernetes")
                    .collect();
                Action::apply(vec![NamespaceEffect::SetSpecFinalizers {
                    name,
                    finalizers,
                    rv: rv_of(ns),
                }])
                .then_requeue(STILL_WORKING)
            }
            NamespaceStep::Finish => {
                let rv = rv_of(ns).as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
                Action::apply(vec![NamespaceEffect::Remove { name, rv }])
            }
        }
    }
}

impl Controller for NamespaceController {
    type View = NamespaceView;
    type Effect = NamespaceEffect;

    fn name(&self) -> &'static str {
        "namespace"
    }

    fn triggers(&self, change: &Change<'_>, index: &Index, out: &mut Vec<String>) {
        // The namespace itself, or anything in it, once it is being deleted.
        let Some(obj) = change.object else { return };
        let key = match &obj.namespace {
            None if obj.res.kind == "Namespace" => change.key.to_string(),
            Some(ns) => format!("{NAMESPACE_PREFIX}{ns}"),
            None => return,
        };
        if index.deleting(&key).is_some() && out.last() != Some(&key) {
            out.push(key);
        }
    }

    fn resync(
        &self,
        index: &Index,
        after: Option<&str>,
        room: usize,
        out: &mut Vec<String>,
    ) -> bool {
        let from = after.unwrap_or(NAMESPACE_PREFIX);
        let mut keys = index
            .deleting_after(Some(from))
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(NAMESPACE_PREFIX));
        for k in keys.by_ref().take(room) {
            out.push(k.clone());
        }
        keys.next().is_some()
    }

    async fn read(&self, ctx: &Context, key: &str) -> ApiResult<NamespaceView> {
        let name = key
            .strip_prefix(NAMESPACE_PREFIX)
            .unwrap_or(key)
            .to_string();
        let ns = get_opt(&ctx.api, namespaces(), None, &name).await?;
        let remaining = match &ns {
            Some(n) if deleting(n) => ctx.api.count_in_namespace(&name),
            _ => 0,
        };
        Ok(NamespaceView {
            name,
            ns,
            remaining,
        })
    }

    fn reconcile(&self, _key: &str, view: &NamespaceView) -> Action<NamespaceEffect> {
        Self::decide(view)
    }

    async fn apply(&self, ctx: &Context, effect: NamespaceEffect) -> ApiResult<()> {
        let api = &ctx.api;
        match effect {
            NamespaceEffect::DeleteContent(ns) => {
                delete_content(api, &ns).await;
                Ok(())
            }
            NamespaceEffect::SetSpecFinalizers {
                name,
                finalizers,
                rv,
            } => {
                // Pinned to the revision read: a concurrent change makes this a conflict,
                // and the retry starts over.
                let body = serde_json::json!({
                    "metadata": {"resourceVersion": rv},
                    "spec": {"finalizers": finalizers},
                });
                api.patch(
                    namespaces(),
                    None,
                    &name,
                    PatchType::Merge,
                    body.to_string().as_bytes(),
                    Some("finalize"),
                    &gc_opts("namespace-controller"),
                )
                .await?;
                Ok(())
            }
            NamespaceEffect::Remove { name, rv } => {
                let cmd = kumo_raft_store::Command::Delete {
                    key: registry::key(namespaces(), None, &name),
                    precondition: kumo_raft_store::Precondition::Revision(rv),
                };
                match api.store.propose(cmd).await.map_err(ApiError::from)? {
                    kumo_raft_store::Outcome::Done { .. } | kumo_raft_store::Outcome::NotFound => {
                        tracing::info!(namespace = %name, "namespace deleted");
                        Ok(())
                    }
                    // Changed since read: look again.
                    _ => Err(ApiError::conflict(namespaces(), &name)),
                }
            }
        }
    }
}

fn namespaces() -> &'static ResourceInfo {
    resources::lookup("", "v1", "namespaces").expect("registered")
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

// ---------------------------------------------------------------------------------------
// Propagation finalizers

const FOREGROUND: &str = "foregroundDeletion";
const ORPHAN: &str = "orphan";

fn propagates(finalizers: &[String]) -> bool {
    finalizers.iter().any(|f| f == FOREGROUND || f == ORPHAN)
}

/// Removes `foregroundDeletion` / `orphan` finalizers once their work is done: no dependent
/// remains (foreground, after deleting them), or no dependent points at the owner any more
/// (orphan). Keys: the store keys of objects being deleted with one of them.
pub struct GarbageCollector;

/// A dependent as read for the decision.
#[derive(Debug, Clone)]
pub struct Dependent {
    pub at: ObjectRef,
    pub obj: Value,
}

/// An owner being deleted, with (a page of) its dependents.
#[derive(Debug)]
pub struct OwnerView {
    pub owner: Option<(ObjectRef, Value)>,
    /// Dependents not being deleted come first; at most [`DEPENDENTS_PER_PASS`].
    pub dependents: Vec<Dependent>,
    /// All dependents, this page included.
    pub total: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcEffect {
    /// Delete a dependent with foreground propagation (failures are retried by the next
    /// pass, not reported).
    DeleteForeground(ObjectRef),
    /// Merge-patch a dependent (its ownerReferences), pinned to the revision read.
    PatchDependent { at: ObjectRef, body: Value },
    /// Merge-patch the owner's finalizers, pinned to the revision read.
    PatchOwner { at: ObjectRef, body: Value },
}

impl GarbageCollector {
    /// The decision. Pure.
    pub fn decide(view: &OwnerView) -> Action<GcEffect> {
        let Some((at, obj)) = &view.owner else {
            return Action::await_change();
        };
        let fins = str_list(obj, "/metadata/finalizers");
        if !propagates(&fins) {
            return Action::await_change();
        }
        let uid = registry::meta_str(obj, "uid").unwrap_or("");
        let mut effects = Vec::new();
        let mut done: Vec<&str> = Vec::new();
        for f in &fins {
            match f.as_str() {
                FOREGROUND => {
                    effects.extend(
                        view.dependents
                            .iter()
                            .filter(|d| !deleting(&d.obj))
                            .map(|d| GcEffect::DeleteForeground(d.at.clone())),
                    );
                    if view.total == 0 {
                        done.push(FOREGROUND);
                    }
                }
                ORPHAN => {
                    for d in &view.dependents {
                        let kept: Vec<Value> = d
                            .obj
                            .pointer("/metadata/ownerReferences")
                            .and_then(Value::as_array)
                            .map(|refs| {
                                refs.iter()
                                    .filter(|r| r.get("uid").and_then(Value::as_str) != Some(uid))
                                    .cloned()
                                    .collect()
                            })
                            .unwrap_or_default();
                        effects.push(GcEffect::PatchDependent {
                            at: d.at.clone(),
                            body: serde_json::json!({"metadata": {
                                "ownerReferences": kept, "resourceVersion": rv_of(&d.obj)}}),
                        });
                    }
                    if view.dependents.len() >= view.total {
                        done.push(ORPHAN);
                    }
                }
                _ => {}
            }
        }
        if done.is_empty() {
            // More dependents than one pass reads: the next pass goes on at once.
            let next = if view.dependents.len() < view.total && fins.iter().any(|f| f == ORPHAN) {
                Duration::ZERO
            } else {
                STILL_WORKING
            };
            return Action::apply(effects).then_requeue(next);
        }
        let kept: Vec<&String> = fins
            .iter()
            .filter(|f| !done.contains(&f.as_str()))
            .collect();
        effects.push(GcEffect::PatchOwner {
            at: at.clone(),
            body: serde_json::json!({"metadata": {"finalizers": kept, "resourceVersion": rv_of(obj)}}),
        });
        Action::apply(effects)
    }

    /// `key`'s object when it waits on a propagation finalizer.
    fn wanted(index: &Index, key: &str) -> bool {
        index
            .deleting(key)
            .is_some_and(|d| propagates(&d.finalizers))
    }
}

impl Controller for GarbageCollector {
    type View = OwnerView;
    type Effect = GcEffect;

    fn name(&self) -> &'static str {
        "garbage-collector"
    }

    fn triggers(&self, change: &Change<'_>, index: &Index, out: &mut Vec<String>) {
        if Self::wanted(index, change.key) {
            out.push(change.key.to_string());
        }
        // A dependent that changed, went away or let go concerns its owners.
        for uid in change.owners {
            if let Some(owner) = index.deleting_uid(uid)
                && Self::wanted(index, owner)
                && out.last().map(String::as_str) != Some(owner)
            {
                out.push(owner.to_string());
            }
        }
    }

    fn resync(
        &self,
        index: &Index,
        after: Option<&str>,
        room: usize,
        out: &mut Vec<String>,
    ) -> bool {
        let mut keys = index
            .deleting_after(after)
            .filter(|(_, d)| propagates(&d.finalizers))
            .map(|(k, _)| k);
        for k in keys.by_ref().take(room) {
            out.push(k.clone());
        }
        keys.next().is_some()
    }

    async fn read(&self, ctx: &Context, key: &str) -> ApiResult<OwnerView> {
        let empty = OwnerView {
            owner: None,
            dependents: Vec::new(),
            total: 0,
        };
        let Some(at) = object_ref(key) else {
            return Ok(empty);
        };
        // The index then names every dependent the store had when the owner is read.
        ctx.consistent().await?;
        let shared = ctx.api.store.shared();
        let Some(kv) = shared.read(|m| m.get(key).cloned()) else {
            return Ok(empty);
        };
        let obj = registry::decode(at.res, &kv);
        let uid = registry::meta_str(&obj, "uid").unwrap_or("").to_string();
        let owner_ns = at.namespace.clone();
        // Dependents in the owner's namespace (or cluster-scoped ones), not being deleted
        // first: those are the ones a pass acts on.
        let (page, total) = ctx.reflector.read(|ix| {
            let mut live = Vec::new();
            let mut dying = Vec::new();
            let mut total = 0;
            for k in ix.dependents(&uid) {
                let Some(d) = object_ref(k) else { continue };
                if owner_ns.is_some() && d.namespace.is_some() && d.namespace != owner_ns {
                    continue;
                }
                total += 1;
                if ix.deleting(k).is_some() {
                    if dying.len() < DEPENDENTS_PER_PASS {
                        dying.push((k.clone(), d));
                    }
                } else if live.len() < DEPENDENTS_PER_PASS {
                    live.push((k.clone(), d));
                }
            }
            live.extend(dying);
            live.truncate(DEPENDENTS_PER_PASS);
            (live, total)
        });
        let mut total = total;
        let dependents = shared.read(|m| {
            page.into_iter()
                .filter_map(|(k, at)| match m.get(&k) {
                    Some(kv) => Some(Dependent {
                        obj: registry::decode(at.res, kv),
                        at,
                    }),
                    None => {
                        // Gone since the index was read.
                        total -= 1;
                        None
                    }
                })
                .collect()
        });
        Ok(OwnerView {
            owner: Some((at, obj)),
            dependents,
            total,
        })
    }

    fn reconcile(&self, _key: &str, view: &OwnerView) -> Action<GcEffect> {
        Self::decide(view)
    }

    async fn apply(&self, ctx: &Context, effect: GcEffect) -> ApiResult<()> {
        let api = &ctx.api;
        match effect {
            GcEffect::DeleteForeground(at) => {
                let opts = DeleteOpts {
                    propagation: Some("Foreground".into()),
                    ..Default::default()
                };
                let _ = api
                    .delete(at.res, at.namespace.as_deref(), &at.name, &opts)
                    .await;
                Ok(())
            }
            GcEffect::PatchDependent { at, body } | GcEffect::PatchOwner { at, body } => {
                api.patch(
                    at.res,
                    at.namespace.as_deref(),
                    &at.name,
                    PatchType::Merge,
                    body.to_string().as_bytes(),
                    None,
                    &gc_opts("generic-garbage-collector"),
                )
                .await?;
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// System objects

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
const KUBERNETES_SERVICE_KEY: &str = "core/services/default/kubernetes";

/// What a stored change asks of the system-objects controller. Pure.
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
    if let Some(ns) = key.strip_prefix(NAMESPACE_PREFIX) {
        return SystemWork::RootCa(ns.to_string());
    }
    if let Some(rest) = key.strip_prefix("core/configmaps/")
        && let Some((ns, name)) = rest.split_once('/')
        && name == ROOT_CA_NAME
    {
        return SystemWork::RootCa(ns.to_string());
    }
    if key == KUBERNETES_SERVICE_KEY {
        return SystemWork::KubernetesService;
    }
    SystemWork::None
}

/// Keeps the objects every cluster has in place, as Kubernetes' controllers do: a
/// `kube-root-ca.crt` ConfigMap in every namespace (re-created or corrected when deleted or
/// edited) and the `kubernetes` Service in `default` (re-created when deleted). Keys:
/// `core/namespaces/<name>` (its ConfigMap) and `core/services/default/kubernetes`.
pub struct SystemObjects {
    pub ca_pem: String,
}

#[derive(Debug)]
pub enum SystemView {
    RootCa {
        ns: String,
        namespace: Option<Value>,
        configmap: Option<Value>,
    },
    Service(Option<Value>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemEffect {
    CreateConfigMap { ns: String, obj: Value },
    UpdateConfigMap { ns: String, obj: Value },
    CreateService(Value),
}

impl SystemObjects {
    /// The decision. Pure.
    pub fn decide(view: &SystemView, ca_pem: &str) -> Action<SystemEffect> {
        match view {
            SystemView::RootCa {
                ns,
                namespace,
                configmap,
            } => {
                // Nothing to do for a namespace that is gone or Terminating.
                if namespace.as_ref().is_none_or(deleting) {
                    return Action::await_change();
                }
                let want = root_ca_configmap(ns, ca_pem);
                match configmap {
                    None => Action::apply(vec![SystemEffect::CreateConfigMap {
                        ns: ns.clone(),
                        obj: want,
                    }]),
                    Some(cm) if cm.get("data") == want.get("data") => Action::await_change(),
                    Some(cm) => {
                        let mut fixed = cm.clone();
                        fixed["data"] = want["data"].clone();
                        if let Some(o) = fixed.as_object_mut() {
                            o.remove("binaryData");
                        }
                        Action::apply(vec![SystemEffect::UpdateConfigMap {
                            ns: ns.clone(),
                            obj: fixed,
                        }])
                    }
                }
            }
            SystemView::Service(Some(_)) => Action::await_change(),
            SystemView::Service(None) => {
                Action::apply(vec![SystemEffect::CreateService(kubernetes_service())])
            }
        }
    }
}

fn system_opts() -> WriteOpts {
    WriteOpts {
        field_manager: Some("kube-controller-manager".into()),
        ..Default::default()
    }
}

fn configmaps() -> &'static ResourceInfo {
    resources::lookup("", "v1", "configmaps").expect("registered")
}

impl Controller for SystemObjects {
    type View = SystemView;
    type Effect = SystemEffect;

    fn name(&self) -> &'static str {
        "system-objects"
    }

    fn triggers(&self, change: &Change<'_>, _index: &Index, out: &mut Vec<String>) {
        match system_work(change.key) {
            SystemWork::RootCa(ns) => out.push(format!("{NAMESPACE_PREFIX}{ns}")),
            SystemWork::KubernetesService => out.push(KUBERNETES_SERVICE_KEY.to_string()),
            SystemWork::None => {}
        }
    }

    /// Every namespace in name order, then the `kubernetes` Service (its key sorts after
    /// every namespace key).
    fn resync(
        &self,
        index: &Index,
        after: Option<&str>,
        room: usize,
        out: &mut Vec<String>,
    ) -> bool {
        if after == Some(KUBERNETES_SERVICE_KEY) {
            return false;
        }
        let from = after.and_then(|a| a.strip_prefix(NAMESPACE_PREFIX));
        let mut names = index.namespaces_after(from);
        for n in names.by_ref().take(room) {
            out.push(format!("{NAMESPACE_PREFIX}{n}"));
        }
        if names.next().is_some() {
            return true;
        }
        if out.len() < room {
            out.push(KUBERNETES_SERVICE_KEY.to_string());
            false
        } else {
            true
        }
    }

    async fn read(&self, ctx: &Context, key: &str) -> ApiResult<SystemView> {
        let api = &ctx.api;
        if key == KUBERNETES_SERVICE_KEY {
            let svc = resources::lookup("", "v1", "services").expect("registered");
            return Ok(SystemView::Service(
                get_opt(api, svc, Some("default"), "kubernetes").await?,
            ));
        }
        let ns = key
            .strip_prefix(NAMESPACE_PREFIX)
            .unwrap_or(key)
            .to_string();
        let namespace = get_opt(api, namespaces(), None, &ns).await?;
        let configmap = match &namespace {
            Some(n) if !deleting(n) => get_opt(api, configmaps(), Some(&ns), ROOT_CA_NAME).await?,
            _ => None,
        };
        Ok(SystemView::RootCa {
            ns,
            namespace,
            configmap,
        })
    }

    fn reconcile(&self, _key: &str, view: &SystemView) -> Action<SystemEffect> {
        Self::decide(view, &self.ca_pem)
    }

    async fn apply(&self, ctx: &Context, effect: SystemEffect) -> ApiResult<()> {
        let api = &ctx.api;
        let result = match effect {
            SystemEffect::CreateConfigMap { ns, obj } => api
                .create(configmaps(), Some(&ns), obj, &system_opts())
                .await
                .map(|_| ()),
            SystemEffect::UpdateConfigMap { ns, obj } => api
                .update(
                    configmaps(),
                    Some(&ns),
                    ROOT_CA_NAME,
                    obj,
                    None,
                    &system_opts(),
                )
                .await
                .map(|_| ()),
            SystemEffect::CreateService(obj) => {
                let svc = resources::lookup("", "v1", "services").expect("registered");
                match api.create(svc, Some("default"), obj, &system_opts()).await {
                    // Someone created it first: in place.
                    Err(e) if e.reason == Reason::AlreadyExists => Ok(()),
                    r => r.map(|_| ()),
                }
            }
        };
        match result {
            // The namespace started terminating (403): nothing to keep there.
            Err(e) if e.reason == Reason::Forbidden => Ok(()),
            r => r,
        }
    }
}

/// The `kubernetes` Service in `default`: the API's address inside the cluster. Pure.
pub fn kubernetes_service() -> Value {
    serde_json::json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default",
        "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}})
}

#[cfg(test)]
mod tests;
