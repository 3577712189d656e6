//! The storage semantics of the Kubernetes API: how create, update, patch, delete, get and
//! list turn into conditional writes and reads on the replicated store. Everything about an
//! object's shape is decided by `kumo_apimachinery`; this module sequences it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use kumo_apimachinery::resources::{self, ResourceInfo};
use kumo_apimachinery::strategy::{Allocations, Lifecycle};
use kumo_apimachinery::{apply, convert, patch, selectors, typed, validation};
use kumo_raft_store::{
    Command, Failure, KeyValue, Op, OpResult, Outcome, Precondition, StoreNode, Txn, TxnOutcome,
};
use rand::Rng;
use serde_json::{Map, Value, json};

use super::error::{ApiError, ApiResult, Reason, qualified};
use crate::alloc::{
    self, AllocError, CLUSTER_IP_CLAIMS, Held, NODE_PORT_CLAIMS, claims_of, needs_node_ports,
    node_ports,
};

/// Limits the API server enforces. Past each one the request is refused with the status
/// code named here.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Request bodies above this get 413 (Kubernetes: 3 MiB).
    pub max_body: usize,
    /// Objects above this after encoding get 413 (etcd's default request limit, 1.5 MiB).
    pub max_object: usize,
    /// Concurrent watch streams; past it, 429.
    pub max_watchers: usize,
    /// Largest page a list returns at once, whatever `limit` asks.
    pub max_page: usize,
    /// Retries of a read-modify-write (unconditional update, patch, delete) that lost an
    /// optimistic-concurrency race; past it, 409 Conflict. Each retry waits a random 0–2 ms
    /// so contenders spread out.
    pub max_retries: usize,
    /// Bytes of encoded events buffered toward one watcher. An event larger than this is
    /// buffered alone.
    pub watch_buffer: usize,
    /// Bytes of encoded events buffered toward all watchers together.
    pub watch_buffer_total: usize,
    /// A watcher whose buffer stays full this long is ended (counted in `/metrics`); its
    /// client re-watches from the last resourceVersion it saw, as with Kubernetes.
    pub watch_stall: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body: 3 << 20,
            max_object: 3 << 19,
            max_watchers: 10_000,
            max_page: 10_000,
            max_retries: 64,
            watch_buffer: 2 << 20,
            watch_buffer_total: 256 << 20,
            watch_stall: std::time::Duration::from_secs(10),
        }
    }
}

/// `fieldValidation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

/// Options common to writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub field_validation: FieldValidation,
    pub force: bool,
    pub user_agent: String,
}

impl WriteOpts {
    fn manager(&self) -> String {
        match &self.field_manager {
            Some(m) if !m.is_empty() => m.clone(),
            _ => self
                .user_agent
                .split('/')
                .next()
                .unwrap_or("unknown")
                .chars()
                .take(128)
                .collect(),
        }
    }
}

/// Result of a write.
#[derive(Debug, Clone)]
pub struct Written {
    pub obj: Value,
    pub created: bool,
    pub warnings: Vec<String>,
}

/// `DeleteOptions` that matter here.
#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    pub dry_run: bool,
    pub propagation: Option<String>,
    pub grace_period: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
}

/// Result of a delete: the object, and whether it is gone (else it waits on finalizers).
#[derive(Debug, Clone)]
pub struct Deleted {
    pub obj: Value,
    pub gone: bool,
}

/// The API's state: the store and the limits.
pub struct Api {
    pub store: StoreNode,
    pub limits: Limits,
    pub watchers: AtomicUsize,
    /// The bytes of [`Limits::watch_buffer_total`] not yet taken by any watcher.
    pub watch_budget: Arc<tokio::sync::Semaphore>,
    /// Watchers ended because their buffer stayed full past [`Limits::watch_stall`].
    pub watchers_cut: std::sync::atomic::AtomicU64,
}

pub type SharedApi = Arc<Api>;

/// Storage version of a resource: the first registered version of its storage prefix.
pub fn storage_api_version(res: &ResourceInfo) -> String {
    let prefix = res.storage_prefix();
    resources::RESOURCES
        .iter()
        .find(|r| r.storage_prefix() == prefix)
        .map_or_else(|| res.api_version(), |r| r.api_version())
}

pub fn key(res: &ResourceInfo, ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) if res.namespaced => format!("{}/{ns}/{name}", res.storage_prefix()),
        _ => format!("{}/{name}", res.storage_prefix()),
    }
}

pub fn prefix(res: &ResourceInfo, ns: Option<&str>) -> String {
    match ns {
        Some(ns) if res.namespaced => format!("{}/{ns}/", res.storage_prefix()),
        _ => format!("{}/", res.storage_prefix()),
    }
}

/// On update, before defaulting: a port that leaves out its node port keeps the one it had
/// (matched by port and protocol) while the type still has node ports; when the type no
/// longer has them, node ports left as they were are dropped (Kubernetes'
/// `dropTypeDependentFields`) and a changed one is left for validation to refuse.
fn carry_node_ports(old: &Value, new: &mut Value) {
    let key = |p: &Value| {
        (
            p.get("port").and_then(Value::as_i64),
            p.get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("TCP")
                .to_string(),
        )
    };
    let old_ports: Vec<((Option<i64>, String), i64)> = old
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| Some((key(p), p.get("nodePort")?.as_i64()?)))
                .collect()
        })
        .unwrap_or_default();
    let keep = needs_node_ports(new);
    let had = needs_node_ports(old);
    let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) else {
        return;
    };
    for p in ports.iter_mut() {
        let was = old_ports
            .iter()
            .find(|(k, _)| *k == key(p))
            .map(|(_, n)| *n);
        let Some(m) = p.as_object_mut() else { continue };
        let now = m
            .get("nodePort")
            .and_then(Value::as_i64)
            .filter(|n| *n != 0);
        match (keep, now, was) {
            (true, None, Some(n)) => {
                m.insert("nodePort".into(), json!(n));
            }
            (false, Some(n), Some(w)) if had && n == w => {
                m.remove("nodePort");
            }
            _ => {}
        }
    }
}

/// Whether the registry allocates a cluster IP and node ports for objects of `res` (a
/// Service), which its writes claim and its deletes release.
fn allocates_addresses(res: &ResourceInfo) -> bool {
    match res.strategy.allocations() {
        Allocations::ServiceAddresses => true,
        Allocations::None => false,
    }
}

/// Whether `res` is served with the namespace lifecycle ([`Lifecycle::Namespace`]).
fn namespace_lifecycle(res: &ResourceInfo) -> bool {
    match res.strategy.lifecycle() {
        Lifecycle::Namespace => true,
        Lifecycle::Object => false,
    }
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Decodes a stored value, setting `resourceVersion` to its revision and converting it to
/// the version the client asked for.
pub fn decode(res: &ResourceInfo, kv: &KeyValue) -> Value {
    let mut obj: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
    set_rv(&mut obj, kv.mod_revision);
    if obj.get("apiVersion").and_then(Value::as_str) != Some(res.api_version().as_str())
        && let Ok(c) = convert::convert(&obj, &res.api_version())
    {
        obj = c;
    }
    obj
}

/// The object with `apiVersion`, `kind` and `metadata` first: stored bytes always start
/// that way, which lets [`with_rv`] find the top-level metadata without parsing.
fn canonical(obj: &Value) -> Value {
    let Some(m) = obj.as_object() else {
        return obj.clone();
    };
    let mut out = Map::with_capacity(m.len());
    for k in ["apiVersion", "kind", "metadata"] {
        if let Some(v) = m.get(k) {
            out.insert(k.to_string(), v.clone());
        }
    }
    for (k, v) in m {
        if !matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// The stored JSON with `metadata.resourceVersion` spliced in, without parsing. Stored bytes
/// are canonical (see [`canonical`]): the first `"metadata":{` is the top-level one, since
/// `apiVersion` and `kind` are plain strings in which an unescaped quote cannot occur.
/// Falls back to parsing for anything else.
/// A label selector that does not parse: 400 with the parser's message, prefixed as
/// Kubernetes does unless it already is.
pub fn selector_error(e: impl std::fmt::Display) -> ApiError {
    let m = e.to_string();
    if m.starts_with("unable to parse requirement") {
        ApiError::bad_request(m)
    } else {
        ApiError::bad_request(format!("unable to parse requirement: {m}"))
    }
}

/// The stored object split where [`with_rv`] inserts the resourceVersion: (before, the
/// inserted field, after), the outer parts being slices of the stored bytes (no copy).
/// `None` when the object has no `"metadata":{` to insert into.
pub fn split_for_rv(kv: &KeyValue) -> Option<(Bytes, Bytes, Bytes)> {
    const NEEDLE: &[u8] = b"\"metadata\":{";
    let v = &kv.value;
    let at = memchr::memmem::find(v, NEEDLE)? + NEEDLE.len();
    let comma = if v.get(at) != Some(&b'}') { "," } else { "" };
    let field = format!("\"resourceVersion\":\"{}\"{comma}", kv.mod_revision);
    Some((v.slice(..at), Bytes::from(field), v.slice(at..)))
}

pub fn with_rv(kv: &KeyValue) -> Bytes {
    const NEEDLE: &[u8] = b"\"metadata\":{";
    let v = &kv.value;
    if let Some(pos) = memchr::memmem::find(v, NEEDLE) {
        let at = pos + NEEDLE.len();
        let mut out = Vec::with_capacity(v.len() + 32);
        out.extend_from_slice(&v[..at]);
        out.extend_from_slice(b"\"resourceVersion\":\"");
        out.extend_from_slice(kv.mod_revision.to_string().as_bytes());
        out.extend_from_slice(b"\"");
        if v.get(at) != Some(&b'}') {
            out.push(b',');
        }
        out.extend_from_slice(&v[at..]);
        return Bytes::from(out);
    }
    let mut obj: Value = serde_json::from_slice(v).unwrap_or(Value::Null);
    set_rv(&mut obj, kv.mod_revision);
    Bytes::from(serde_json::to_vec(&obj).unwrap_or_default())
}

pub fn set_rv(obj: &mut Value, rev: u64) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("resourceVersion".into(), Value::String(rev.to_string()));
    }
}

fn meta(obj: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    obj.get("metadata")
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata is an object")
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj).get(field).and_then(Value::as_str)
}

fn generate_suffix() -> String {
    // Kubernetes' alphabet for generated names: no vowels, no confusable digits.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Parses a request body as JSON, or YAML when the content type says so.
pub fn parse_body(body: &[u8], content_type: &str) -> ApiResult<Value> {
    if kumo_apimachinery::protobuf::is_protobuf(content_type) {
        return kumo_apimachinery::protobuf::decode(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the object provided is unrecognized or malformed: {e}"
            ))
        });
    }
    if content_type.contains("cbor") {
        // client-go falls back to JSON on 415 for CBOR.
        return Err(ApiError::unsupported_media(content_type));
    }
    let v: Value = if content_type.contains("yaml") {
        serde_yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the object provided is unrecognized or malformed: couldn't get version/kind; json parse error: {e}"
            ))
        })?
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    Ok(v)
}

impl Api {
    pub fn new(store: StoreNode, limits: Limits) -> Self {
        Self {
            store,
            watch_budget: Arc::new(tokio::sync::Semaphore::new(
                limits
                    .watch_buffer_total
                    .min(tokio::sync::Semaphore::MAX_PERMITS),
            )),
            limits,
            watchers: AtomicUsize::new(0),
            watchers_cut: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Reads one stored object (after a read barrier, so it is at least as new as any
    /// acknowledged write).
    pub async fn get_kv(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
    ) -> ApiResult<Option<KeyValue>> {
        self.store.read_barrier().await?;
        let k = key(res, ns, name);
        Ok(self.store.shared().read(|m| m.get(&k).cloned()))
    }

    pub async fn get(&self, res: &ResourceInfo, ns: Option<&str>, name: &str) -> ApiResult<Value> {
        match self.get_kv(res, ns, name).await? {
            Some(kv) => Ok(decode(res, &kv)),
            None => Err(ApiError::not_found(res, name)),
        }
    }

    async fn propose(&self, cmd: Command) -> ApiResult<Outcome> {
        Ok(self.store.propose(cmd).await?)
    }

    /// The checks of a create that read nothing from the store: identity (apiVersion, kind,
    /// namespace) and fields. Returns the unknown-field warnings. A review is checked so and
    /// answered without being stored.
    pub fn check_body(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        obj: &mut Value,
        fv: FieldValidation,
    ) -> ApiResult<Vec<String>> {
        self.check_identity(res, ns, obj)?;
        self.check_fields(res, obj, fv)
    }

    /// Checks a body's apiVersion/kind/namespace against the request.
    fn check_identity(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        obj: &mut Value,
    ) -> ApiResult<()> {
        let api_version = res.api_version();
        match obj.get("kind").and_then(Value::as_str) {
            None | Some("") => obj["kind"] = json!(res.kind),
            Some(k) if k == res.kind => {}
            Some(k) => {
                return Err(ApiError::bad_request(format!(
                    "the kind in the body ({k}) does not match the kind of the resource ({})",
                    res.kind
                )));
            }
        }
        match obj.get("apiVersion").and_then(Value::as_str) {
            None | Some("") => obj["apiVersion"] = json!(api_version),
            Some(v) if v == api_version => {}
            Some(v) => {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({v}) does not match the expected API version ({api_version})"
                )));
            }
        }
        if !obj.get("metadata").is_none_or(Value::is_object) {
            return Err(ApiError::bad_request("metadata must be an object"));
        }
        let m = meta_mut(obj);
        if res.namespaced {
            let ns = ns.unwrap_or("default");
            match m.get("namespace").and_then(Value::as_str) {
                None | Some("") => {
                    m.insert("namespace".into(), json!(ns));
                }
                Some(x) if x == ns => {}
                Some(_) => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
            }
        } else {
            m.remove("namespace");
        }
        Ok(())
    }

    /// Unknown-field and type checks on a body. Returns warnings (Warn mode).
    fn check_fields(
        &self,
        res: &ResourceInfo,
        obj: &Value,
        fv: FieldValidation,
    ) -> ApiResult<Vec<String>> {
        if let Some(msg) = res.strategy.decode_error(obj) {
            return Err(ApiError::bad_request(msg));
        }
        match typed::unknown_fields(res.kind, obj) {
            Err(e) => Err(ApiError::bad_request(format!(
                "{} in body is invalid: {e}",
                res.kind
            ))),
            Ok(unknown) if unknown.is_empty() || fv == FieldValidation::Ignore => Ok(Vec::new()),
            Ok(unknown) if fv == FieldValidation::Strict => {
                let list: Vec<String> = unknown
                    .iter()
                    .map(|f| format!("unknown field \"{f}\""))
                    .collect();
                Err(ApiError::bad_request(format!(
                    "strict decoding error: {}",
                    list.join(", ")
                )))
            }
            Ok(unknown) => Ok(unknown
                .iter()
                .map(|f| format!("unknown field \"{f}\""))
                .collect()),
        }
    }

    /// `None` when the namespace does not exist, else whether it is terminating and its
    /// revision. Reads only the metadata field it needs (this runs on every namespaced create).
    async fn namespace_state(&self, ns: &str) -> ApiResult<Option<(bool, u64)>> {
        #[derive(serde::Deserialize)]
        struct Meta {
            #[serde(rename = "deletionTimestamp")]
            deletion_timestamp: Option<serde::de::IgnoredAny>,
        }
        #[derive(serde::Deserialize)]
        struct Ns {
            metadata: Meta,
        }
        let nsres = resources::lookup("", "v1", "namespaces").expect("namespaces registered");
        Ok(self.get_kv(nsres, None, ns).await?.map(|kv| {
            let terminating = serde_json::from_slice::<Ns>(&kv.value)
                .map(|n| n.metadata.deletion_timestamp.is_some())
                .unwrap_or(false);
            (terminating, kv.mod_revision)
        }))
    }

    pub async fn create(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOpts,
    ) -> ApiResult<Written> {
        self.check_identity(res, ns, &mut obj)?;
        let warnings = self.check_fields(res, &obj, opts.field_validation)?;
        if meta_str(&obj, "resourceVersion").is_some_and(|s| !s.is_empty()) {
            return Err(ApiError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        if meta_str(&obj, "name").is_none_or(str::is_empty)
            && let Some(g) = meta_str(&obj, "generateName").filter(|g| !g.is_empty())
        {
            let name = format!("{g}{}", generate_suffix());
            meta_mut(&mut obj).insert("name".into(), json!(name));
        }
        let name = meta_str(&obj, "name").unwrap_or("").to_string();
        let uid = uuid::Uuid::new_v4().to_string();
        {
            let m = meta_mut(&mut obj);
            m.insert("uid".into(), json!(uid));
            m.insert("creationTimestamp".into(), json!(now_rfc3339()));
            m.remove("deletionTimestamp");
            m.remove("deletionGracePeriodSeconds");
            m.remove("resourceVersion");
            m.remove("selfLink");
            if res.strategy.tracks_generation() {
                m.insert("generation".into(), json!(1));
            } else {
                m.remove("generation");
            }
        }
        let strategy = res.strategy;
        strategy.prepare_for_create(&mut obj, &uid);
        strategy.defaults(&mut obj);
        // After defaulting, as Kubernetes does: a pod's QoS class counts requests defaulted
        // from limits.
        strategy.complete_create(&mut obj);
        let mut errs = validation::validate_object_meta(
            res.kind,
            res.namespaced,
            obj.get("metadata").unwrap_or(&Value::Null),
        );
        if errs.is_empty() {
            errs.extend(strategy.validate(&obj));
        }
        if !errs.is_empty() {
            return Err(ApiError::invalid(res, &name, &errs));
        }
        if obj.pointer("/metadata/managedFields").is_none() {
            apply::update_managed_fields(
                res.kind,
                None,
                &mut obj,
                &opts.manager(),
                "Update",
                None,
                &now_rfc3339(),
                &res.api_version(),
            );
        }
        let ns_of = meta_str(&obj, "namespace").map(str::to_string);
        let k = key(res, ns_of.as_deref(), &name);
        // Every check runs before anything is written: the size first. A Service's
        // allocations are chosen next and written with it, in one transaction.
        let bytes = self.encode(res, &obj)?;
        if opts.dry_run {
            if res.namespaced {
                self.namespace_guard(res, &name, ns_of.as_deref().unwrap_or("default"))
                    .await?;
            }
            if self.get_kv(res, ns_of.as_deref(), &name).await?.is_some() {
                return Err(ApiError::already_exists(res, &name));
            }
            return Ok(Written {
                obj,
                created: true,
                warnings,
            });
        }
        let kv = self
            .create_guarded(res, &name, ns_of.as_deref(), &k, &mut obj, bytes)
            .await?;
        // The object as stored, without parsing it back.
        set_rv(&mut obj, kv.mod_revision);
        if namespace_lifecycle(res) {
            self.ensure_default_service_account(&name).await;
        }
        Ok(Written {
            obj,
            created: true,
            warnings,
        })
    }

    /// The namespace's store key and revision, after checking it exists and is not being
    /// deleted (404 / 403).
    async fn namespace_guard(
        &self,
        res: &ResourceInfo,
        name: &str,
        ns: &str,
    ) -> ApiResult<(String, u64)> {
        match self.namespace_state(ns).await? {
            None => Err(ApiError::namespace_not_found(ns)),
            Some((true, _)) => Err(ApiError::forbidden(
                res,
                name,
                &format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            )),
            Some((false, rev)) => {
                let nsres =
                    resources::lookup("", "v1", "namespaces").expect("namespaces registered");
                Ok((key(nsres, None, ns), rev))
            }
        }
    }

    /// Writes a new object in one transaction with what it depends on: a namespaced one
    /// only while its namespace is unchanged since it was checked (so nothing lands in a
    /// namespace being deleted); a Service with the claims of its cluster IP and node
    /// ports (chosen here, into `obj`). Retried — checked and chosen again — when the
    /// namespace changed or a claim was taken in between.
    async fn create_guarded(
        &self,
        res: &ResourceInfo,
        name: &str,
        ns: Option<&str>,
        k: &str,
        obj: &mut Value,
        bytes: Bytes,
    ) -> ApiResult<KeyValue> {
        let requested = obj.clone();
        let mut why = "the namespace kept changing; try again";
        for _ in 0..self.limits.max_retries {
            let mut ops = Vec::new();
            if res.namespaced {
                let (guard_key, guard_revision) = self
                    .namespace_guard(res, name, ns.unwrap_or("default"))
                    .await?;
                ops.push(Op::check_revision(guard_key, guard_revision));
            }
            let at = ops.len();
            if allocates_addresses(res) {
                *obj = requested.clone();
                self.allocate(res, name, k, None, obj, false)?;
                ops.push(Op::put(k, self.encode(res, obj)?, Precondition::Absent));
                ops.extend(self.claim_ops(k, None, Some(obj)));
            } else {
                ops.push(Op::put(k, bytes.clone(), Precondition::Absent));
            }
            match self.propose_ops(ops).await? {
                Ok(mut results) => {
                    return results
                        .swap_remove(at)
                        .kv
                        .ok_or_else(|| ApiError::internal("a committed create returned no value"));
                }
                Err((op, Failure::AlreadyExists { .. })) if op == at => {
                    return Err(ApiError::already_exists(res, name));
                }
                // The namespace changed since it was checked: check it again.
                Err((op, _)) if op < at => why = "the namespace kept changing; try again",
                // A claim was taken since it was read: choose again.
                Err(_) => why = "the allocations kept changing; try again",
            }
        }
        Err(ApiError::conflict_msg(res, name, why))
    }

    /// Proposes `ops` as one all-or-nothing transaction: `Ok` with what each did, or
    /// `Err((i, failure))` when the precondition of `ops[i]` failed (nothing was written).
    async fn propose_ops(
        &self,
        ops: Vec<Op>,
    ) -> ApiResult<Result<Vec<OpResult>, (usize, Failure)>> {
        // Past the store's limits (`MAX_TXN_OPS`, `MAX_TXN_BYTES`): a Service with about a
        // thousand node ports. Refused, nothing written.
        let txn = Txn::new(ops).map_err(|e| ApiError::internal(e.to_string()))?;
        match self.propose(txn.into()).await? {
            Outcome::Txn(TxnOutcome::Committed { results, .. }) => Ok(Ok(results)),
            Outcome::Txn(TxnOutcome::Failed { op, failure, .. }) => Ok(Err((op, failure))),
            other => Err(ApiError::internal(format!(
                "unexpected store outcome {other:?}"
            ))),
        }
    }

    /// Chooses a Service's allocations into `obj`: on create (`old` is `None`) its cluster
    /// IP, and the node ports it lacks (an update keeps those of `old`). Reads the claims
    /// from this node's store; the transaction's preconditions settle any race.
    fn allocate(
        &self,
        res: &ResourceInfo,
        name: &str,
        svc_key: &str,
        old: Option<&Value>,
        obj: &mut Value,
        dry_run: bool,
    ) -> ApiResult<()> {
        let free = |k: &str| {
            self.store
                .shared()
                .read(|m| m.get(k).is_none_or(|kv| kv.value == svc_key.as_bytes()))
        };
        let mut rng = rand::rng();
        let refused = |e: AllocError| match e {
            AllocError::Invalid(cause) => ApiError::invalid(res, name, &[cause]),
            AllocError::Full(msg) => ApiError::internal(msg),
        };
        if old.is_none() {
            alloc::assign_cluster_ip(obj, &mut rng, free).map_err(refused)?;
        }
        let ours = old.map(node_ports).unwrap_or_default();
        alloc::assign_node_ports(obj, &ours, dry_run, &mut rng, free).map_err(refused)
    }

    /// The claim operations that go with a Service's write: from the claims of `old` (none
    /// on create) to those of `new` (none on delete).
    fn claim_ops(&self, svc_key: &str, old: Option<&Value>, new: Option<&Value>) -> Vec<Op> {
        let before = old.map(claims_of).unwrap_or_default();
        let after = new.map(claims_of).unwrap_or_default();
        alloc::claim_ops(svc_key, &before, &after, |k| {
            self.store.shared().read(|m| m.get(k).map(Held::of))
        })
    }

    fn encode(&self, res: &ResourceInfo, obj: &Value) -> ApiResult<Bytes> {
        let mut stored = canonical(obj);
        if let Some(m) = stored.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        let storage_version = storage_api_version(res);
        if res.api_version() != storage_version {
            stored = convert::convert(&stored, &storage_version)
                .map_err(|e| ApiError::internal(e.to_string()))?;
        }
        let bytes = serde_json::to_vec(&stored).map_err(|e| ApiError::internal(e.to_string()))?;
        if bytes.len() > self.limits.max_object {
            return Err(ApiError::too_large(format!(
                "Request entity too large: object is {} bytes, limit is {}",
                bytes.len(),
                self.limits.max_object
            )));
        }
        Ok(Bytes::from(bytes))
    }

    /// Boxed: it calls `create`, which calls it.
    fn ensure_default_service_account<'a>(
        &'a self,
        ns: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(self.ensure_default_service_account_inner(ns))
    }

    async fn ensure_default_service_account_inner(&self, ns: &str) {
        let sa = resources::lookup("", "v1", "serviceaccounts").expect("registered");
        let obj = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}});
        let opts = WriteOpts {
            field_manager: Some("kube-controller-manager".into()),
            ..Default::default()
        };
        match self.create(sa, Some(ns), obj, &opts).await {
            Ok(_) => {}
            Err(e) if e.reason == Reason::AlreadyExists => {}
            Err(e) => {
                tracing::warn!(namespace = ns, error = %e.message, "could not create the default service account")
            }
        }
    }

    /// Update (PUT) of the object or its `status` subresource.
    pub async fn update(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        mut obj: Value,
        sub: Option<&str>,
        opts: &WriteOpts,
    ) -> ApiResult<Written> {
        self.check_identity(res, ns, &mut obj)?;
        let warnings = self.check_fields(res, &obj, opts.field_validation)?;
        match meta_str(&obj, "name") {
            Some(n) if n == name => {}
            Some(n) if !n.is_empty() => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            _ => {
                meta_mut(&mut obj).insert("name".into(), json!(name));
            }
        }
        let expected: Option<u64> =
            match meta_str(&obj, "resourceVersion").filter(|s| !s.is_empty()) {
                Some(rv) => Some(rv.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid resourceVersion {rv:?}"))
                })?),
                None => None,
            };
        // Without a resourceVersion the update is unconditional: a race with another
        // writer is retried here, as Kubernetes does, rather than returned as a conflict.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Some(kv) = self.get_kv(res, ns, name).await? else {
                if sub.is_none() && expected.is_none() && res.strategy.allow_create_on_update() {
                    match self.create(res, ns, obj.clone(), opts).await {
                        Err(e)
                            if e.reason == Reason::AlreadyExists
                                && attempt < self.limits.max_retries =>
                        {
                            continue;
                        }
                        other => return other,
                    }
                }
                return Err(ApiError::not_found(res, name));
            };
            if let Some(rv) = expected
                && rv != kv.mod_revision
            {
                return Err(ApiError::conflict(res, name));
            }
            let old = decode(res, &kv);
            match self
                .commit_update(
                    res,
                    name,
                    &old,
                    kv.mod_revision,
                    obj.clone(),
                    sub,
                    opts,
                    None,
                )
                .await
            {
                Err(e)
                    if is_race(&e) && expected.is_none() && attempt < self.limits.max_retries =>
                {
                    backoff().await;
                    continue;
                }
                Err(e) => return Err(e),
                Ok(mut w) => {
                    w.warnings.extend(warnings);
                    return Ok(w);
                }
            }
        }
    }

    /// The shared tail of update and patch: carry server-owned fields over from `old`,
    /// default, validate, track managed fields, and write conditionally on `rev`.
    #[allow(clippy::too_many_arguments)]
    async fn commit_update(
        &self,
        res: &ResourceInfo,
        name: &str,
        old: &Value,
        rev: u64,
        mut obj: Value,
        sub: Option<&str>,
        opts: &WriteOpts,
        managed_already: Option<()>,
    ) -> ApiResult<Written> {
        // Server-owned metadata.
        {
            let om = meta(old).clone();
            let m = meta_mut(&mut obj);
            // A uid is kept only when the request leaves it out (rest.BeforeUpdate); a
            // different one is refused by validation as immutable.
            if m.get("uid")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
                && let Some(uid) = om.get("uid")
            {
                m.insert("uid".into(), uid.clone());
            }
            for f in [
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ] {
                match om.get(f) {
                    Some(v) => m.insert(f.into(), v.clone()),
                    None => m.remove(f),
                };
            }
            if om.get("namespace").is_some() {
                m.insert("namespace".into(), om["namespace"].clone());
            }
            m.insert("name".into(), json!(name));
            m.remove("resourceVersion");
        }
        match sub {
            Some("status") => {
                // Only status changes through the status subresource.
                let status = obj.get("status").cloned();
                let metadata = obj["metadata"].clone();
                let mut next = old.clone();
                match status {
                    Some(s) => next["status"] = s,
                    None => {
                        if let Some(o) = next.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
                next["metadata"]["managedFields"] = metadata
                    .get("managedFields")
                    .cloned()
                    .unwrap_or(Value::Null);
                if next["metadata"]["managedFields"].is_null()
                    && let Some(m) = next["metadata"].as_object_mut()
                {
                    m.remove("managedFields");
                }
                obj = next;
            }
            Some("finalize") => {
                // namespaces/finalize: everything but status comes from the request; it is
                // the one way to change spec.finalizers (see the arm below).
                match old.get("status") {
                    Some(s) => obj["status"] = s.clone(),
                    None => {
                        if let Some(o) = obj.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            _ if res.status => {
                // The main resource cannot change status.
                match old.get("status") {
                    Some(s) => obj["status"] = s.clone(),
                    None => {
                        if let Some(o) = obj.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            _ => {}
        }
        let strategy = res.strategy;
        strategy.prepare_for_update(old, &mut obj, sub);
        if allocates_addresses(res) {
            carry_node_ports(old, &mut obj);
        }
        strategy.defaults(&mut obj);
        if strategy.tracks_generation() && old.get("spec") != obj.get("spec") {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                + 1;
            meta_mut(&mut obj).insert("generation".into(), json!(g));
        }
        let mut errs = validation::validate_object_meta(
            res.kind,
            res.namespaced,
            obj.get("metadata").unwrap_or(&Value::Null),
        );
        errs.extend(strategy.validate_update(old, &obj));
        if !errs.is_empty() {
            return Err(ApiError::invalid(res, name, &errs));
        }
        if allocates_addresses(res) {
            // The node ports it lacks; their claims are written with it (`write_update`).
            let ns = meta_str(&obj, "namespace").map(str::to_string);
            let svc_key = key(res, ns.as_deref(), name);
            self.allocate(res, name, &svc_key, Some(old), &mut obj, opts.dry_run)?;
        }
        self.write_update(res, name, old, rev, obj, sub, opts, managed_already)
            .await
    }

    /// The tail of [`Self::commit_update`] after validation: managed fields, then the
    /// conditional write (or the delete an update that drops the last finalizer completes).
    #[allow(clippy::too_many_arguments)]
    async fn write_update(
        &self,
        res: &ResourceInfo,
        name: &str,
        old: &Value,
        rev: u64,
        mut obj: Value,
        sub: Option<&str>,
        opts: &WriteOpts,
        managed_already: Option<()>,
    ) -> ApiResult<Written> {
        if managed_already.is_none() {
            apply::update_managed_fields(
                res.kind,
                Some(old),
                &mut obj,
                &opts.manager(),
                "Update",
                sub,
                &now_rfc3339(),
                &res.api_version(),
            );
        }
        // No change (managedFields aside): nothing is written and the revision stays.
        if strip_managed(old) == strip_managed(&obj) {
            let mut same = old.clone();
            set_rv(&mut same, rev);
            return Ok(Written {
                obj: same,
                created: false,
                warnings: Vec::new(),
            });
        }
        let ns = meta_str(&obj, "namespace").map(str::to_string);
        let k = key(res, ns.as_deref(), name);
        // Finalizers gone from an object being deleted: the update completes the delete.
        let finalized = obj.pointer("/metadata/deletionTimestamp").is_some()
            && obj
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(|f| f.is_empty())
            && !namespace_lifecycle(res);
        let bytes = self.encode(res, &obj)?;
        if opts.dry_run {
            set_rv(&mut obj, rev);
            return Ok(Written {
                obj,
                created: false,
                warnings: Vec::new(),
            });
        }
        // One transaction: the object, and for a Service the claims it takes and gives up
        // (all of them when the update completes its delete).
        let claims = if allocates_addresses(res) {
            self.claim_ops(&k, Some(old), (!finalized).then_some(&obj))
        } else {
            Vec::new()
        };
        let write = if finalized {
            Op::delete(k, Precondition::Revision(rev))
        } else {
            Op::put(k, bytes, Precondition::Revision(rev))
        };
        match self
            .propose_ops(std::iter::once(write).chain(claims).collect())
            .await?
        {
            Ok(mut results) => {
                if let Some(kv) = results.swap_remove(0).kv {
                    set_rv(&mut obj, kv.mod_revision);
                }
                Ok(Written {
                    obj,
                    created: false,
                    warnings: Vec::new(),
                })
            }
            Err((0, Failure::NotFound)) => Err(ApiError::not_found(res, name)),
            // The object changed, or a node port chosen was claimed meanwhile: a race,
            // which an update without a resourceVersion retries.
            Err(_) => Err(ApiError::conflict(res, name)),
        }
    }

    /// PATCH: read, patch, write conditionally; retried when another writer got in between.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        ptype: patch::PatchType,
        body: &[u8],
        sub: Option<&str>,
        opts: &WriteOpts,
    ) -> ApiResult<Written> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let kv = self.get_kv(res, ns, name).await?;
            let result = match kv {
                None if ptype == patch::PatchType::Apply && sub.is_none() => {
                    let applied = parse_body(body, "application/yaml")?;
                    let mut obj = apply::server_side_apply(
                        res.kind,
                        None,
                        &applied,
                        &opts.manager(),
                        opts.force,
                        &now_rfc3339(),
                        &res.api_version(),
                    )
                    .map_err(|e| self.apply_error(res, name, e))?;
                    if meta_str(&obj, "name").is_none_or(str::is_empty) {
                        meta_mut(&mut obj).insert("name".into(), json!(name));
                    }
                    if meta_str(&obj, "name") != Some(name) {
                        return Err(ApiError::bad_request(format!(
                            "the name of the object ({}) does not match the name on the URL ({name})",
                            meta_str(&obj, "name").unwrap_or("")
                        )));
                    }
                    return self.create(res, ns, obj, opts).await;
                }
                None => return Err(ApiError::not_found(res, name)),
                Some(kv) => {
                    let old = decode(res, &kv);
                    let (new, managed, warnings) =
                        self.patched(res, name, &old, ptype, body, sub, opts)?;
                    if let Some(rv) = meta_str(&new, "resourceVersion")
                        && rv != kv.mod_revision.to_string()
                    {
                        return Err(ApiError::conflict(res, name));
                    }
                    self.commit_update(res, name, &old, kv.mod_revision, new, sub, opts, managed)
                        .await
                        .map(|mut w| {
                            w.warnings.extend(warnings);
                            w
                        })
                }
            };
            match result {
                Err(e)
                    if is_race(&e) && attempt < self.limits.max_retries && !patch_has_rv(body) =>
                {
                    backoff().await;
                    continue;
                }
                r => return r,
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn patched(
        &self,
        res: &ResourceInfo,
        name: &str,
        old: &Value,
        ptype: patch::PatchType,
        body: &[u8],
        sub: Option<&str>,
        opts: &WriteOpts,
    ) -> ApiResult<(Value, Option<()>, Vec<String>)> {
        let map_err = |e: patch::PatchError| patch_error(res, name, e);
        let new = match ptype {
            patch::PatchType::Json => patch::apply_json_patch(old, body).map_err(map_err)?,
            patch::PatchType::Merge => patch::apply_merge_patch(old, body).map_err(map_err)?,
            patch::PatchType::Strategic => {
                patch::apply_strategic(res.kind, old, body).map_err(map_err)?
            }
            patch::PatchType::Apply => {
                let applied = parse_body(body, "application/yaml")?;
                let mut applied = applied;
                if sub.is_none() {
                    self.check_identity(res, meta_str(old, "namespace"), &mut applied)?;
                }
                let obj = apply::server_side_apply(
                    res.kind,
                    Some(old),
                    &applied,
                    &opts.manager(),
                    opts.force,
                    &now_rfc3339(),
                    &res.api_version(),
                )
                .map_err(|e| self.apply_error(res, name, e))?;
                return Ok((obj, Some(()), Vec::new()));
            }
        };
        if !new.is_object() {
            return Err(ApiError::bad_request(
                "the patch produced something other than an object",
            ));
        }
        let mut new = new;
        // Identity fields a patch may not change.
        if meta_str(&new, "name").is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta_str(&new, "name").unwrap_or("")
            )));
        }
        self.check_identity(res, meta_str(old, "namespace"), &mut new)?;
        let warnings = self.check_fields(res, &new, opts.field_validation)?;
        Ok((new, None, warnings))
    }

    fn apply_error(&self, res: &ResourceInfo, name: &str, e: apply::ApplyError) -> ApiError {
        match e {
            apply::ApplyError::Conflict(conflicts) => {
                let causes: Vec<Value> = conflicts
                    .iter()
                    .map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{}\"", c.manager), "field": c.field}))
                    .collect();
                let mut details = json!({"name": name, "kind": res.plural, "causes": causes});
                if !res.group.is_empty() {
                    details["group"] = json!(res.group);
                }
                ApiError::new(409, Reason::Conflict, apply::conflict_message(&conflicts))
                    .with_details(details)
            }
            other => ApiError::bad_request(other.to_string()),
        }
    }

    /// DELETE of one object: immediate, or marked with a deletionTimestamp while finalizers
    /// (including the propagation policy's) remain.
    pub async fn delete(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOpts,
    ) -> ApiResult<Deleted> {
        // Kubernetes' NamespaceLifecycle admission keeps these three, even on a dry run.
        if namespace_lifecycle(res) && matches!(name, "default" | "kube-system" | "kube-public") {
            return Err(ApiError::forbidden(
                res,
                name,
                "this namespace may not be deleted",
            ));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Some(kv) = self.get_kv(res, ns, name).await? else {
                return Err(ApiError::not_found(res, name));
            };
            let obj = decode(res, &kv);
            if let Some(uid) = &opts.precondition_uid {
                let actual = meta_str(&obj, "uid").unwrap_or("");
                if actual != uid {
                    return Err(ApiError::conflict_msg(
                        res,
                        name,
                        &format!(
                            "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                        ),
                    ));
                }
            }
            if let Some(rv) = &opts.precondition_rv
                && *rv != kv.mod_revision.to_string()
            {
                return Err(ApiError::conflict_msg(
                    res,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        kv.mod_revision
                    ),
                ));
            }
            let mut finalizers: Vec<Value> = obj
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let already = obj.pointer("/metadata/deletionTimestamp").is_some();
            match opts.propagation.as_deref() {
                Some("Foreground") if !already => {
                    add_finalizer(&mut finalizers, "foregroundDeletion")
                }
                Some("Orphan") if !already => add_finalizer(&mut finalizers, "orphan"),
                _ => {}
            }
            let graceful = !finalizers.is_empty() || namespace_lifecycle(res);
            let k = key(res, ns, name);
            let precondition = Precondition::Revision(kv.mod_revision);
            // Graceful: the object stays, marked with a deletionTimestamp, while finalizers
            // remain. Otherwise it goes now. Either way one conditional write.
            let (ops, result) = if graceful {
                if already
                    && obj
                        .pointer("/metadata/finalizers")
                        .and_then(Value::as_array)
                        .map(Vec::len)
                        == Some(finalizers.len())
                {
                    return Ok(Deleted { obj, gone: false });
                }
                let mut next = obj;
                {
                    let m = meta_mut(&mut next);
                    if !already {
                        m.insert("deletionTimestamp".into(), json!(now_rfc3339()));
                        m.insert(
                            "deletionGracePeriodSeconds".into(),
                            json!(opts.grace_period.unwrap_or(0)),
                        );
                    }
                    if !finalizers.is_empty() {
                        m.insert("finalizers".into(), Value::Array(finalizers));
                    }
                    m.remove("resourceVersion");
                }
                if namespace_lifecycle(res) {
                    next["status"]["phase"] = json!("Terminating");
                }
                let value = self.encode(res, &next)?;
                (vec![Op::put(k, value, precondition)], next)
            } else {
                // A Service goes with its claims, in the same transaction.
                let mut ops = Vec::new();
                if allocates_addresses(res) {
                    ops = self.claim_ops(&k, Some(&obj), None);
                }
                ops.insert(0, Op::delete(k, precondition));
                (ops, obj)
            };
            let gone = !graceful;
            if opts.dry_run {
                return Ok(Deleted { obj: result, gone });
            }
            match self.propose_ops(ops).await? {
                Ok(mut results) => {
                    let mut obj = result;
                    if let Some(written) = results.swap_remove(0).kv {
                        set_rv(&mut obj, written.mod_revision);
                    }
                    return Ok(Deleted { obj, gone });
                }
                Err((0, Failure::NotFound)) => return Err(ApiError::not_found(res, name)),
                // The object (or a claim of it) changed since it was read: read it again.
                Err(_) if attempt < self.limits.max_retries => {
                    backoff().await;
                    continue;
                }
                Err(_) => return Err(ApiError::conflict(res, name)),
            }
        }
    }

    /// Frees the allocation claims (cluster IPs, node ports) that no Service holds: a claim
    /// whose Service is gone, or no longer names that IP or port. Today's writes never leave
    /// one (a Service and its claims are one transaction); older code proposed them apart,
    /// and a crash in between left claims behind. Each claim is freed by a transaction that
    /// holds only while the Service is still as read (absent, or at the revision read) and
    /// the claim too, so it is safe on any node, at any time, next to live writes. Reads the
    /// claims [`REPAIR_PAGE`] at a time.
    pub async fn repair_allocations(&self) -> ApiResult<Repaired> {
        self.store.read_barrier().await?;
        let mut done = Repaired::default();
        for prefix in [CLUSTER_IP_CLAIMS, NODE_PORT_CLAIMS] {
            let mut after: Option<String> = None;
            loop {
                // Claims and their owners, read together.
                let (page, more) = self
                    .store
                    .shared()
                    .read(|m| {
                        let page = m.range(prefix, after.as_deref(), Some(REPAIR_PAGE), None)?;
                        let read: Vec<(KeyValue, Option<KeyValue>)> = page
                            .items
                            .into_iter()
                            .map(|claim| {
                                let owner = std::str::from_utf8(&claim.value)
                                    .ok()
                                    .and_then(|k| m.get(k).cloned());
                                (claim, owner)
                            })
                            .collect();
                        Ok::<_, kumo_raft_store::Compacted>((read, page.more))
                    })
                    // At the current revision a range is never compacted.
                    .map_err(|c| ApiError::internal(c.to_string()))?;
                after = page.last().map(|(claim, _)| claim.key.clone());
                for (claim, owner) in page {
                    done.checked += 1;
                    let holds = match &owner {
                        Some(kv) => match serde_json::from_slice::<Value>(&kv.value) {
                            Ok(svc) => claims_of(&svc),
                            // Not an object we can read: leave its claims alone.
                            Err(_) => continue,
                        },
                        None => Default::default(),
                    };
                    let Some(txn) =
                        alloc::release_orphan(&claim, owner.as_ref().map(|kv| (kv, &holds)))
                    else {
                        continue;
                    };
                    // A failed precondition: changed since read, so not an orphan now (or
                    // the next pass's).
                    if let Outcome::Txn(TxnOutcome::Committed { .. }) =
                        self.propose(txn.into()).await?
                    {
                        tracing::info!(claim = %claim.key, "freed an allocation no Service holds");
                        done.freed += 1;
                    }
                }
                if !more {
                    break;
                }
            }
        }
        Ok(done)
    }

    /// Reads a page of a list. Selectors filter; `limit` counts matching objects.
    pub async fn list(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        q: &ListQuery,
    ) -> ApiResult<ListPage> {
        let label = selectors::parse_label_selector(q.label_selector.as_deref().unwrap_or(""))
            .map_err(selector_error)?;
        let field = parse_field_selector(res, q.field_selector.as_deref())?;
        let (mut at, mut start_after): (Option<u64>, Option<String>) = (None, None);
        if let Some(c) = q.continue_token.as_deref().filter(|c| !c.is_empty()) {
            let (rv, start) = decode_continue(c)?;
            // A token is only good for the collection it came from.
            if !start.starts_with(&prefix(res, ns)) {
                return Err(ApiError::bad_request(
                    "continue key is not valid: the continue token does not belong to this list",
                ));
            }
            at = Some(rv);
            start_after = Some(start);
        } else {
            match (
                q.resource_version.as_deref(),
                q.resource_version_match.as_deref(),
            ) {
                (None | Some(""), None | Some("")) => self.store.read_barrier().await?,
                (None | Some(""), Some(m)) => {
                    return Err(ApiError::bad_request(format!(
                        "resourceVersionMatch: Forbidden: resourceVersionMatch \"{m}\" is forbidden unless resourceVersion is provided"
                    )));
                }
                (Some(rv), m) => {
                    let rv: u64 = rv.parse().map_err(|_| {
                        ApiError::bad_request(format!(
                            "resourceVersion: Invalid value: {rv:?}: must be a non-negative integer"
                        ))
                    })?;
                    match m {
                        Some("Exact") => {
                            if rv == 0 {
                                return Err(ApiError::bad_request(
                                    "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                                ));
                            }
                            self.wait_revision(rv).await?;
                            at = Some(rv);
                        }
                        // The legacy form: a resourceVersion with a limit and no match is
                        // an exact read (Kubernetes' paginated lists from a revision).
                        None | Some("") if rv > 0 && q.limit.is_some_and(|l| l > 0) => {
                            self.wait_revision(rv).await?;
                            at = Some(rv);
                        }
                        None | Some("") | Some("NotOlderThan") => {
                            if rv > 0 {
                                self.wait_revision(rv).await?;
                            }
                        }
                        Some(other) => {
                            return Err(ApiError::bad_request(format!(
                                "resourceVersionMatch: Unsupported value: \"{other}\": supported values: \"Exact\", \"NotOlderThan\""
                            )));
                        }
                    }
                }
            }
        }
        let limit = q
            .limit
            .filter(|l| *l > 0)
            .map(|l| (l as usize).min(self.limits.max_page));
        let pfx = prefix(res, ns);
        let filtered = !label.is_empty() || field.is_some();
        let mut items = Vec::new();
        let mut last_key: Option<String> = start_after;
        let mut rev;
        let mut more;
        let mut remaining;
        let want = limit.unwrap_or(usize::MAX);
        let raw = q.raw && !filtered && storage_api_version(res) == res.api_version();
        let mut raw_items = Vec::new();
        'pages: loop {
            // Unfiltered: fetch exactly what is missing. Filtered: fetch in chunks, since
            // an unknown share of them match.
            let need = want.saturating_sub(items.len() + raw_items.len());
            let fetch = if filtered {
                need.clamp(256, 4096)
            } else {
                need
            };
            let page = self
                .store
                .shared()
                .read(|m| m.range_counted(&pfx, last_key.as_deref(), Some(fetch), at, !filtered))
                .map_err(|c| {
                    ApiError::gone(if q.continue_token.is_some() {
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.".to_string()
                    } else {
                        format!("too old resource version: {} ({})", c.requested, c.compact_revision)
                    })
                })?;
            rev = page.revision;
            at = Some(rev);
            more = page.more;
            remaining = page.remaining;
            let n = page.items.len();
            if raw {
                for kv in &page.items {
                    last_key = Some(kv.key.clone());
                    raw_items.push(with_rv(kv));
                }
                if !more || raw_items.len() >= want {
                    break;
                }
                continue;
            }
            for (i, kv) in page.items.iter().enumerate() {
                last_key = Some(kv.key.clone());
                let obj = decode(res, kv);
                if self.matches(res, &obj, &label, field.as_ref()) {
                    items.push(obj);
                    if items.len() >= want {
                        more = more || i + 1 < n;
                        break 'pages;
                    }
                }
            }
            if !more {
                break;
            }
        }
        let cont = if more {
            last_key.map(|k| encode_continue(rev, &k))
        } else {
            None
        };
        Ok(ListPage {
            items,
            raw: raw_items,
            revision: rev,
            cont,
            remaining: if more && !filtered { remaining } else { None },
        })
    }

    pub fn matches(
        &self,
        res: &ResourceInfo,
        obj: &Value,
        label: &selectors::LabelSelector,
        field: Option<&selectors::FieldSelector>,
    ) -> bool {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        let labels = obj
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new));
        if !label.matches(labels) {
            return false;
        }
        match field {
            None => true,
            Some(f) => f.matches(|name| selectors::field_value(res.kind, obj, name)),
        }
    }

    /// Waits (up to 3 s) until the store has reached `rev`; else 504 as Kubernetes answers
    /// a resourceVersion from the future.
    pub(crate) async fn wait_revision(&self, rev: u64) -> ApiResult<()> {
        let mut rx = self.store.shared().subscribe();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            if *rx.borrow_and_update() >= rev {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => {
                    // The cause and retry hint client-go looks for to retry such lists.
                    let msg = format!(
                        "Too large resource version: {rev}, current: {}",
                        *rx.borrow()
                    );
                    return Err(ApiError::timeout(msg.clone()).with_details(json!({
                        "causes": [{"reason": "ResourceVersionTooLarge", "message": msg}],
                        "retryAfterSeconds": 1,
                    })));
                }
            }
        }
    }

    /// Number of resources that still have objects in a namespace (0: it is empty).
    pub fn count_in_namespace(&self, ns: &str) -> usize {
        let mut seen = std::collections::HashSet::new();
        let mut n = 0;
        for r in resources::stored().filter(|r| r.namespaced) {
            if seen.insert(r.storage_prefix()) {
                let pfx = prefix(r, Some(ns));
                // Only whether anything is left matters: read no items, just `more`.
                n += self.store.shared().read(|m| {
                    m.range_counted(&pfx, None, Some(0), None, false)
                        .map(|p| usize::from(p.more))
                        .unwrap_or(0)
                });
            }
        }
        n
    }
}

/// An optimistic-concurrency loss (not an apply conflict or a precondition failure).
/// A random pause of 0–2 ms between retries of a lost race.
/// Claims read under one lock by [`Api::repair_allocations`].
pub const REPAIR_PAGE: usize = 1_000;

/// What [`Api::repair_allocations`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Repaired {
    /// Claims looked at.
    pub checked: u64,
    /// Claims freed: no Service held them.
    pub freed: u64,
}

/// Runs [`Api::repair_allocations`] once at the start of a node, as soon as the store
/// answers: retried while it does not (no leader yet, a lost quorum), every 1 s, for at
/// most [`REPAIR_PATIENCE`]; then it is skipped with a warning until the next start.
pub async fn repair_allocations_at_start(api: SharedApi) {
    let deadline = tokio::time::Instant::now() + REPAIR_PATIENCE;
    loop {
        match api.repair_allocations().await {
            Ok(r) => {
                tracing::info!(checked = r.checked, freed = r.freed, "allocation repair");
                return;
            }
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::debug!(error = %e.message, "allocation repair: the store is not ready");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(e) => {
                tracing::warn!(error = %e.message, "allocation repair skipped");
                return;
            }
        }
    }
}

/// How long [`repair_allocations_at_start`] waits for the store.
pub const REPAIR_PATIENCE: std::time::Duration = std::time::Duration::from_secs(300);

async fn backoff() {
    let micros = rand::rng().random_range(0..2_000);
    tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
}

fn is_race(e: &ApiError) -> bool {
    e.reason == Reason::Conflict
        && e.message
            .ends_with("please apply your changes to the latest version and try again")
}

fn strip_managed(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    v
}

fn add_finalizer(list: &mut Vec<Value>, f: &str) {
    if !list.iter().any(|v| v.as_str() == Some(f)) {
        list.push(json!(f));
    }
}

fn patch_has_rv(body: &[u8]) -> bool {
    // A patch that pins resourceVersion must fail on conflict rather than be retried.
    std::str::from_utf8(body)
        .is_ok_and(|s| s.contains("\"resourceVersion\"") || s.contains("resourceVersion:"))
}

fn patch_error(res: &ResourceInfo, name: &str, e: patch::PatchError) -> ApiError {
    let _ = (res, name);
    match e.status_code() {
        409 => ApiError::conflict_msg(res, name, &e.to_string()),
        422 => ApiError::new(422, Reason::Invalid, e.to_string()),
        _ => ApiError::bad_request(e.to_string()),
    }
}

pub fn parse_field_selector(
    res: &ResourceInfo,
    s: Option<&str>,
) -> ApiResult<Option<selectors::FieldSelector>> {
    let Some(s) = s.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let sel =
        selectors::parse_field_selector(s).map_err(|e| ApiError::bad_request(e.to_string()))?;
    for r in sel.requirements() {
        if !selectors::supported_field(res.kind, &r.field) {
            return Err(ApiError::bad_request(format!(
                "field label not supported: {}",
                r.field
            )));
        }
    }
    Ok(Some(sel))
}

/// List query parameters.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub limit: Option<i64>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    /// Return items as stored JSON bytes in `raw` (when no selector needs their fields and
    /// no version conversion applies) instead of parsed objects in `items`.
    pub raw: bool,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub items: Vec<Value>,
    /// Items as JSON bytes, when the query asked for `raw` and it applied.
    pub raw: Vec<Bytes>,
    pub revision: u64,
    pub cont: Option<String>,
    pub remaining: Option<u64>,
}

fn encode_continue(rev: u64, start: &str) -> String {
    use base64::Engine;
    let body = json!({"v": "meta.k8s.io/v1", "rv": rev, "start": start});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body.to_string())
}

fn decode_continue(token: &str) -> ApiResult<(u64, String)> {
    use base64::Engine;
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: illegal base64 data or malformed continue token",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rev = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    Ok((rev, start.to_string()))
}

/// Counts watchers; the guard gives the slot back.
pub struct WatchSlot(pub SharedApi);

impl Drop for WatchSlot {
    fn drop(&mut self) {
        self.0.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Api {
    pub fn take_watch_slot(self: &Arc<Self>) -> ApiResult<WatchSlot> {
        let n = self.watchers.fetch_add(1, Ordering::Relaxed);
        if n >= self.limits.max_watchers {
            self.watchers.fetch_sub(1, Ordering::Relaxed);
            return Err(ApiError::too_many_requests(format!(
                "too many watches open on this server ({}); retry later",
                self.limits.max_watchers
            )));
        }
        Ok(WatchSlot(self.clone()))
    }
}

pub fn qualified_name(res: &ResourceInfo) -> String {
    qualified(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a PUT of a missing `kind` creates it, through its strategy.
    fn creates_on_update(kind: &str) -> bool {
        kumo_apimachinery::resources::strategy_by_kind(kind)
            .expect("served kind")
            .allow_create_on_update()
    }
    use crate::alloc::in_service_range;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]

        /// Continue tokens and request bodies come from clients: refused, never a panic.
        #[test]
        fn untrusted_tokens_and_bodies_never_panic(
            s in "\\PC{0,64}",
            raw in proptest::collection::vec(any::<u8>(), 0..128),
            ct in prop_oneof![
                Just("application/json"), Just("application/yaml"),
                Just("application/apply-patch+yaml"), Just("application/vnd.kubernetes.protobuf"),
                Just("application/cbor"), Just("text/plain"),
            ],
        ) {
            let _ = decode_continue(&s);
            let _ = decode_continue(&String::from_utf8_lossy(&raw));
            let _ = parse_body(&raw, ct);
            let _ = parse_body(s.as_bytes(), ct);
        }

        #[test]
        fn continue_tokens_round_trip(rev in any::<u64>(), start in "\\PC{0,40}") {
            let (r, k) = decode_continue(&encode_continue(rev, &start)).expect("decodes");
            prop_assert_eq!(r, rev);
            prop_assert_eq!(k, start);
        }
    }

    /// YAML that expands (anchors, deep nesting) is refused or parsed, never a panic or a
    /// stack overflow.
    #[test]
    fn hostile_yaml_is_answered() {
        let deep = "[".repeat(10_000);
        let _ = parse_body(deep.as_bytes(), "application/yaml");
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n";
        let _ = parse_body(bomb.as_bytes(), "application/yaml");
        let deep_json = "[".repeat(10_000);
        assert!(parse_body(deep_json.as_bytes(), "application/json").is_err());
    }

    #[test]
    fn service_range_is_the_default_cidr() {
        assert!(in_service_range("10.96.0.1"));
        assert!(in_service_range("10.111.255.254"));
        assert!(!in_service_range("10.96.0.0"));
        assert!(!in_service_range("10.111.255.255"));
        assert!(!in_service_range("10.112.0.1"));
        assert!(!in_service_range("192.168.1.1"));
        assert!(!in_service_range("fd00::1"));
        assert!(!in_service_range("not-an-ip"));
    }

    #[test]
    fn node_ports_follow_the_type() {
        let np = json!({"spec": {"type": "NodePort", "ports": [
            {"port": 80, "protocol": "TCP", "nodePort": 30080},
            {"port": 443, "protocol": "TCP", "nodePort": 30443}]}});
        assert!(needs_node_ports(&np));
        assert!(!needs_node_ports(
            &json!({"spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false}})
        ));
        assert_eq!(node_ports(&np), [30080, 30443]);
        // An update that leaves a port's nodePort out keeps it; a new port gets none yet.
        let mut upd = json!({"spec": {"type": "NodePort", "ports": [
            {"port": 80, "protocol": "TCP"}, {"port": 8080, "protocol": "TCP"}]}});
        carry_node_ports(&np, &mut upd);
        assert_eq!(node_ports(&upd), [30080]);
        // Turning into ClusterIP drops node ports left as they were, keeps a changed one.
        let mut cip = json!({"spec": {"type": "ClusterIP", "ports": [
            {"port": 80, "protocol": "TCP", "nodePort": 30080},
            {"port": 443, "protocol": "TCP", "nodePort": 31000}]}});
        carry_node_ports(&np, &mut cip);
        assert_eq!(node_ports(&cip), [31000]);
    }

    #[test]
    fn put_creates_only_where_kubernetes_does() {
        assert!(creates_on_update("Lease") && creates_on_update("Endpoints"));
        assert!(!creates_on_update("ConfigMap") && !creates_on_update("Pod"));
    }
}
