//! The Kubernetes API server: HTTPS, bearer-token authentication, discovery, OpenAPI, and
//! the REST verbs over every registered resource. Handlers parse HTTP and render responses;
//! `registry` holds the storage semantics and `kumo_apimachinery` every shape decision.

pub mod conns;
pub mod error;
pub mod url;

pub use kumo_registry as registry;
pub use kumo_registry::watch;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use kumo_apimachinery::resources::{self, ResourceInfo};
use kumo_apimachinery::strategy::{Lifecycle, ScaleSelector};
use kumo_apimachinery::{discovery, openapi, patch, review, table};
use serde_json::{Value, json};
use tokio_stream::wrappers::ReceiverStream;

use crate::metrics::Metrics;
use error::{ApiError, ApiResult, Reason, StatusResponse};
use registry::{Api, DeleteOpts, FieldValidation, ListQuery, SharedApi, WriteOpts};
use url::query_map;

/// Version reported at `/version`: kubectl picks its own minor version from it.
pub const KUBE_VERSION: &str = "v1.33.0";

/// Who every authenticated request is: the one admin token's user (the kubeconfig's
/// `kumo-admin`, see `pki::kubeconfig`), in the group Kubernetes gives its cluster admins.
pub const ADMIN: review::Subject<'static> = review::Subject {
    username: "kumo-admin",
    groups: &["system:masters", "system:authenticated"],
};

/// Everything a request handler needs.
pub struct Server {
    pub api: SharedApi,
    pub token: String,
    pub metrics: Arc<Metrics>,
    pub external_address: String,
    /// Client connections (admission, timeouts, counters).
    pub conns: Arc<conns::Conns>,
}

type Shared = Arc<Server>;

/// Builds the router.
pub fn router(server: Shared) -> axum::Router {
    axum::Router::new().fallback(dispatch).with_state(server)
}

/// A boolean query parameter as Go's strconv.ParseBool reads it (clients send `true`, `True`, `1`).
fn truthy(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

fn json_response(code: StatusCode, v: &impl serde::Serialize) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn bytes_response(content_type: &str, body: &'static [u8]) -> Response {
    let mut r = Response::new(Body::from(Bytes::from_static(body)));
    if let Ok(ct) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    r
}

fn authorized(server: &Server, headers: &HeaderMap) -> bool {
    authorized_token(&server.token, headers)
}

fn authorized_token(expected: &str, headers: &HeaderMap) -> bool {
    let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(token) = bearer_token(v) else {
        return false;
    };
    // Constant-time comparison: the token is a secret.
    let a = token.as_bytes();
    let b = expected.as_bytes();
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token of an `Authorization: Bearer …` header; the scheme is matched in any case,
/// as Kubernetes' bearer-token authenticator does.
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// What the request addresses.
#[derive(Debug, Clone)]
struct Target {
    res: &'static ResourceInfo,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

enum Route {
    Discovery(Response),
    Resource(Target, bool),
}

fn parse_path(path: &str, accept: &str, external_address: &str) -> ApiResult<Route> {
    let owned = url::segments(path);
    let segs: Vec<&str> = owned.iter().map(String::as_str).collect();
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["api"] => {
            if let Some(v) = discovery::negotiate_aggregated(accept) {
                return Ok(Route::Discovery(aggregated(true, v)));
            }
            return Ok(Route::Discovery(json_response(
                StatusCode::OK,
                &discovery::core_versions(external_address),
            )));
        }
        ["apis"] => {
            if let Some(v) = discovery::negotiate_aggregated(accept) {
                return Ok(Route::Discovery(aggregated(false, v)));
            }
            return Ok(Route::Discovery(json_response(
                StatusCode::OK,
                &discovery::api_group_list(),
            )));
        }
        ["apis", g] => {
            let v = discovery::api_group(g).ok_or_else(ApiError::path_not_found)?;
            return Ok(Route::Discovery(json_response(StatusCode::OK, &v)));
        }
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::path_not_found()),
    };
    if rest.is_empty() {
        let v =
            discovery::api_resource_list(group, version).ok_or_else(ApiError::path_not_found)?;
        return Ok(Route::Discovery(json_response(StatusCode::OK, &v)));
    }
    let (legacy_watch, rest) = match rest {
        ["watch", r @ ..] => (true, r),
        r => (false, r),
    };
    let lookup = |plural: &str| {
        resources::lookup(group, version, plural).ok_or_else(ApiError::path_not_found)
    };
    let t = match rest {
        ["namespaces", ns, plural, more @ ..]
            if resources::lookup(group, version, plural).is_some_and(|r| r.namespaced) =>
        {
            let res = lookup(plural)?;
            match more {
                [] => Target {
                    res,
                    namespace: Some(ns.to_string()),
                    name: None,
                    sub: None,
                },
                [name] => Target {
                    res,
                    namespace: Some(ns.to_string()),
                    name: Some(name.to_string()),
                    sub: None,
                },
                // `pods/NAME/proxy/PATH…`: the proxy subresource with a path.
                [name, sub, ..] if more.len() == 2 || *sub == "proxy" => Target {
                    res,
                    namespace: Some(ns.to_string()),
                    name: Some(name.to_string()),
                    sub: Some(sub.to_string()),
                },
                _ => return Err(ApiError::path_not_found()),
            }
        }
        [plural] => Target {
            res: lookup(plural)?,
            namespace: None,
            name: None,
            sub: None,
        },
        [plural, name] => {
            let res = lookup(plural)?;
            if res.namespaced {
                return Err(ApiError::path_not_found());
            }
            Target {
                res,
                namespace: None,
                name: Some(name.to_string()),
                sub: None,
            }
        }
        [plural, name, sub] => {
            let res = lookup(plural)?;
            if res.namespaced {
                return Err(ApiError::path_not_found());
            }
            Target {
                res,
                namespace: None,
                name: Some(name.to_string()),
                sub: Some(sub.to_string()),
            }
        }
        _ => return Err(ApiError::path_not_found()),
    };
    if let Some(sub) = &t.sub {
        let ok = match sub.as_str() {
            "status" => t.res.status,
            "scale" => t.res.scale,
            "finalize" => match t.res.strategy.lifecycle() {
                Lifecycle::Namespace => true,
                Lifecycle::Object => false,
            },
            _ => false,
        };
        if !ok && let Some(e) = not_served_yet(t.res, sub) {
            return Err(e);
        }
        if !ok {
            return Err(ApiError::path_not_found());
        }
    }
    Ok(Route::Resource(t, legacy_watch))
}

/// Subresources Kubernetes serves that need running sandboxes, which Kumo does not have
/// yet: answered with a Status that says so (501), not a 404 that reads as "pod not found".
fn not_served_yet(res: &ResourceInfo, sub: &str) -> Option<ApiError> {
    let known = res.strategy.unserved_subresources().contains(&sub);
    known.then(|| {
        ApiError::new(501, Reason::NotImplemented,
            format!(
                "{}/{sub} is not available yet: Kumo does not run pods on sandboxes yet, so it cannot serve this",
                res.plural
            ),
        )
        .with_details(json!({"group": res.group, "kind": res.plural}))
    })
}

fn aggregated(core: bool, api_version: &str) -> Response {
    let v = discovery::aggregated_discovery(core, api_version);
    let mut r = json_response(StatusCode::OK, &v);
    if let Ok(ct) = HeaderValue::from_str(&discovery::aggregated_content_type(api_version)) {
        r.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    r
}

/// How the client wants objects rendered.
#[derive(Clone)]
enum Rendering {
    Json,
    Table {
        version: &'static str,
        include: table::IncludeObject,
    },
}

fn rendering(accept: &str, q: &HashMap<String, String>) -> ApiResult<Rendering> {
    for range in accept.split(',') {
        let r = range.replace(' ', "");
        if r.contains("as=Table") && r.contains("g=meta.k8s.io") {
            let version = if r.contains("v=v1beta1") {
                table::TABLE_API_VERSION_V1BETA1
            } else {
                table::TABLE_API_VERSION
            };
            let include =
                table::IncludeObject::parse(q.get("includeObject").map_or("", String::as_str))
                    .ok_or_else(|| ApiError::bad_request("includeObject: unsupported value"))?;
            return Ok(Rendering::Table { version, include });
        }
        if r.starts_with("application/json")
            || r.starts_with("*/*")
            || r.starts_with("application/*")
        {
            return Ok(Rendering::Json);
        }
    }
    Ok(Rendering::Json)
}

fn render_table(res: &ResourceInfo, objs: &[Value], r: &Rendering, list_meta: Value) -> Value {
    match r {
        Rendering::Json => Value::Null,
        Rendering::Table { version, include } => {
            let printer = res.strategy.printer();
            let mut t = table::table(printer, objs, *include, chrono::Utc::now(), list_meta);
            if *version != table::TABLE_API_VERSION {
                table::set_table_version(&mut t, version);
            }
            t
        }
    }
}

fn write_opts(q: &HashMap<String, String>, headers: &HeaderMap) -> ApiResult<WriteOpts> {
    let field_validation = match q.get("fieldValidation").map(String::as_str) {
        None | Some("") | Some("Warn") => FieldValidation::Warn,
        Some("Strict") => FieldValidation::Strict,
        Some("Ignore") => FieldValidation::Ignore,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
            )));
        }
    };
    let dry_run = match q.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
            )));
        }
    };
    let force = match q.get("force").map(String::as_str) {
        None | Some("") => false,
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => false,
        Some(v) if truthy(v) => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "force: invalid value {other:?}"
            )));
        }
    };
    Ok(WriteOpts {
        dry_run,
        field_manager: q.get("fieldManager").cloned(),
        field_validation,
        force,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown")
            .to_string(),
    })
}

fn list_query(q: &HashMap<String, String>) -> ApiResult<ListQuery> {
    let limit = match q.get("limit").filter(|s| !s.is_empty()) {
        Some(l) => Some(
            l.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("limit: invalid value {l:?}")))?,
        ),
        None => None,
    };
    Ok(ListQuery {
        label_selector: q.get("labelSelector").cloned(),
        field_selector: q.get("fieldSelector").cloned(),
        limit,
        continue_token: q.get("continue").cloned().filter(|s| !s.is_empty()),
        resource_version: q.get("resourceVersion").cloned(),
        resource_version_match: q.get("resourceVersionMatch").cloned(),
        raw: false,
    })
}

fn with_warnings(mut r: Response, warnings: &[String]) -> Response {
    for w in warnings.iter().take(16) {
        let v = format!("299 - \"{}\"", w.replace('"', "\\\""));
        if let Ok(h) = HeaderValue::from_str(&v) {
            r.headers_mut().append("warning", h);
        }
    }
    r
}

/// Reads a request body of at most `limit` bytes (413 past it) within
/// the body timeout (408 past it: a client that promises more than it sends does
/// not hold a handler).
async fn read_body(body: Body, server: &Server) -> ApiResult<Bytes> {
    let limit = server.api.limits.max_body;
    let deadline = server.conns.limits().body;
    match tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                Err(ApiError::too_large(format!(
                    "Request entity too large: limit is {limit}"
                )))
            } else {
                Err(ApiError::bad_request(format!(
                    "the request body could not be read: {e}"
                )))
            }
        }
        Err(_) => Err(ApiError::new(
            408,
            Reason::Timeout,
            format!(
                "the request body was not received within {}s",
                deadline.as_secs()
            ),
        )),
    }
}

/// Reads and drops a request body frame by frame (nothing is kept): at most the body
/// limit, for at most [`DISCARD_FOR`].
async fn discard_body(mut body: Body, server: &Server) {
    use http_body_util::BodyExt;
    let deadline = tokio::time::Instant::now() + DISCARD_FOR;
    let mut seen = 0usize;
    while seen <= server.api.limits.max_body {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => seen += frame.data_ref().map_or(0, |d| d.len()),
            _ => return,
        }
    }
}

/// Longest a refused request's body is read (and dropped) before answering.
const DISCARD_FOR: Duration = Duration::from_secs(5);

/// Entry point of every request.
async fn dispatch(State(server): State<Shared>, req: Request) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = tracing::info_span!(
        "api.request",
        method = %method,
        path = %path,
        verb = tracing::field::Empty,
        resource = tracing::field::Empty,
        status = tracing::field::Empty
    );
    let (resp, verb, resource) =
        tracing::Instrument::instrument(handle(server.clone(), req), span.clone()).await;
    let code = resp.status().as_u16();
    span.record("status", code);
    span.record("verb", verb);
    span.record("resource", resource.as_str());
    server
        .metrics
        .observe_request(verb, &resource, code, started.elapsed());
    tracing::debug!(parent: &span, method = %method, path = %path, code, elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "request");
    resp
}

async fn handle(server: Shared, req: Request) -> (Response, &'static str, String) {
    let (parts, body) = req.into_parts();
    let closer = parts.extensions.get::<conns::CloseConnection>().cloned();
    let path = parts.uri.path().to_string();
    let q = query_map(parts.uri.query());
    let headers = parts.headers;
    let method = parts.method;
    // Health and version are public, as in Kubernetes (system:public-info-viewer).
    match path.as_str() {
        "/healthz" | "/livez" | "/readyz" | "/healthz/ping" | "/livez/ping" | "/readyz/ping" => {
            let store = &server.api.store;
            let fatal = store.raft.metrics().borrow().running_state.is_err();
            // Ready: Raft runs, a leader is known, this node is still a member (a removed
            // node must drop out of a load balancer) and, if it leads, a quorum acknowledged
            // it within its lease. Live: Raft has not stopped on an error.
            let not_ready = if fatal {
                Some("raft stopped on an error; see the node's log")
            } else if !store.is_member(store.node_id()) {
                Some("this node is not a member of the cluster")
            } else if store.raft.current_leader().await.is_none() {
                Some("raft has no leader")
            } else if store.leadership() == kumo_raft_store::node::Leadership::Lost {
                Some("this node leads but has lost contact with a quorum of the cluster")
            } else {
                None
            };
            let (code, body) = match not_ready {
                Some(why) if !path.starts_with("/livez") || fatal => {
                    (StatusCode::SERVICE_UNAVAILABLE, why)
                }
                _ => (StatusCode::OK, "ok"),
            };
            let mut r = (code, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            return (r, "health", String::new());
        }
        "/version" | "/version/" => {
            let v = json!({
                "major": "1", "minor": "33", "gitVersion": KUBE_VERSION, "gitCommit": "kumo", "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z", "goVersion": "rust", "compiler": "rustc", "platform": "linux/amd64",
                "emulationMajor": "1", "emulationMinor": "33", "minCompatibilityMajor": "1", "minCompatibilityMinor": "32",
            });
            return (json_response(StatusCode::OK, &v), "version", String::new());
        }
        _ => {}
    }
    if !authorized(&server, &headers) {
        // Read (and drop) what the client is sending before answering: an HTTP/2 stream
        // answered with its request body unread is reset, and clients then report a
        // framing error instead of this Status. Bounded by the body limits.
        discard_body(body, &server).await;
        return (
            ApiError::unauthorized().into_response(),
            "unauthorized",
            String::new(),
        );
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    match path.as_str() {
        "/metrics" => {
            let mut text = server.metrics.render(&server.api);
            render_conn_metrics(&server.conns, &server.api.watchers_cut, &mut text);
            let mut r = Response::new(Body::from(text));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            return (r, "metrics", String::new());
        }
        "/kumo/v1/remove" if method == Method::POST => {
            let Some(id) = q.get("id").and_then(|v| v.parse::<u64>().ok()) else {
                return (
                    ApiError::bad_request("id: a node id is required").into_response(),
                    "members",
                    String::new(),
                );
            };
            return match server.api.store.remove_anywhere(id).await {
                Ok(()) => (
                    json_response(StatusCode::OK, &crate::status::status(&server.api.store)),
                    "members",
                    String::new(),
                ),
                Err(e) => (ApiError::from(e).into_response(), "members", String::new()),
            };
        }
        "/kumo/v1/status" => {
            let v = crate::status::status(&server.api.store);
            return (json_response(StatusCode::OK, &v), "status", String::new());
        }
        "/openapi/v3" => {
            return (
                bytes_response("application/json", openapi::v3_index_bytes()),
                "openapi",
                String::new(),
            );
        }
        "/openapi/v2" | "/swagger-2.0.0.pb-v1" => {
            // gnostic's protobuf (kubectl ≤ 1.29); the legacy path only ever served it. The
            // answer is typed without the `@`, which Go's mime parser refuses (as kube-openapi).
            const PB: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
            if path == "/swagger-2.0.0.pb-v1"
                || accept.contains(PB)
                || accept.contains("application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
            {
                return (
                    bytes_response(PB, kumo_apimachinery::openapi_v2_pb::v2_document_protobuf()),
                    "openapi",
                    String::new(),
                );
            }
            if accept.contains("protobuf") && !accept.contains("json") {
                return (
                    ApiError::new(
                        406,
                        Reason::NotAcceptable,
                        "only application/json is served for /openapi/v2",
                    )
                    .into_response(),
                    "openapi",
                    String::new(),
                );
            }
            return (
                bytes_response("application/json", openapi::v2_document_bytes()),
                "openapi",
                String::new(),
            );
        }
        p if p.starts_with("/openapi/v3/") => {
            let doc = p.trim_start_matches("/openapi/v3/");
            return match openapi::v3_document_bytes(doc) {
                Some(b) => {
                    let mut r = bytes_response("application/json", b);
                    if q.contains_key("hash") {
                        r.headers_mut().insert(
                            header::CACHE_CONTROL,
                            HeaderValue::from_static("public, immutable"),
                        );
                    }
                    (r, "openapi", String::new())
                }
                None => (
                    ApiError::path_not_found().into_response(),
                    "openapi",
                    String::new(),
                ),
            };
        }
        _ => {}
    }
    let route = match parse_path(&path, &accept, &server.external_address) {
        Ok(r) => r,
        Err(e) => {
            discard_body(body, &server).await;
            return (e.into_response(), "notfound", String::new());
        }
    };
    let (target, legacy_watch) = match route {
        Route::Discovery(r) => return (r, "discovery", String::new()),
        Route::Resource(t, w) => (t, w),
    };
    let resource = match &target.sub {
        Some(s) => format!("{}/{s}", target.res.plural),
        None => target.res.plural.to_string(),
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let is_watch = legacy_watch || q.get("watch").is_some_and(|w| truthy(w));
    let verb: &'static str = match (&method, target.name.is_some(), is_watch) {
        (&Method::GET, _, true) => "watch",
        (&Method::GET, true, _) => "get",
        (&Method::GET, false, _) => "list",
        (&Method::POST, _, _) => "create",
        (&Method::PUT, _, _) => "update",
        (&Method::PATCH, _, _) => "patch",
        (&Method::DELETE, true, _) => "delete",
        (&Method::DELETE, false, _) => "deletecollection",
        _ => "other",
    };
    let result = if target.res.review {
        serve_review(&server, &target, verb, &method, &q, &headers, &ct, body).await
    } else {
        serve_resource(
            &server, &target, verb, &q, &headers, &accept, &ct, body, closer,
        )
        .await
    };
    let resp = match result {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    (resp, verb, resource)
}

/// A review (`kubectl auth can-i`, `kubectl auth whoami`): `create` is answered from the
/// request alone with 201 and nothing is stored; every other verb is 405.
#[allow(clippy::too_many_arguments)]
async fn serve_review(
    server: &Shared,
    t: &Target,
    verb: &'static str,
    method: &Method,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    ct: &str,
    body: Body,
) -> ApiResult<Response> {
    let res = t.res;
    if verb != "create" || t.name.is_some() || t.sub.is_some() {
        return Err(ApiError::method_not_allowed(&format!(
            "{method} on {}",
            error::qualified(res)
        )));
    }
    let opts = write_opts(q, headers)?;
    let bytes = read_body(body, server).await?;
    let mut obj = registry::parse_body(&bytes, ct)?;
    let warnings = server
        .api
        .check_body(res, None, &mut obj, opts.field_validation)?;
    let answer =
        review::answer(res, &obj, &ADMIN, &registry::now_rfc3339()).map_err(|e| match e {
            review::ReviewError::BadRequest(message) => ApiError::bad_request(message),
            review::ReviewError::Invalid(causes) => ApiError::invalid(res, "", &causes),
        })?;
    Ok(with_warnings(
        json_response(StatusCode::CREATED, &answer),
        &warnings,
    ))
}

#[allow(clippy::too_many_arguments)]
async fn serve_resource(
    server: &Shared,
    t: &Target,
    verb: &'static str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    accept: &str,
    ct: &str,
    body: Body,
    closer: Option<conns::CloseConnection>,
) -> ApiResult<Response> {
    let api = &server.api;
    let res = t.res;
    let ns = t.namespace.as_deref();
    let rendering = rendering(accept, q)?;
    let respond = |code: StatusCode, obj: &Value, warnings: &[String]| -> Response {
        let out = match &rendering {
            Rendering::Json => obj.clone(),
            r => render_table(
                res,
                std::slice::from_ref(obj),
                r,
                json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null)}),
            ),
        };
        with_warnings(json_response(code, &out), warnings)
    };
    let sub = t.sub.as_deref();
    // namespaces/finalize takes only PUT, as in Kubernetes.
    if sub == Some("finalize") && verb != "update" {
        return Err(ApiError::method_not_allowed(&format!(
            "{} on namespaces/finalize",
            verb.to_uppercase()
        )));
    }
    match verb {
        "get" => {
            let name = t.name.as_deref().unwrap_or("");
            let obj = api.get(res, ns, name).await?;
            if sub == Some("scale") {
                return Ok(json_response(StatusCode::OK, &scale_of(res, &obj)));
            }
            Ok(respond(StatusCode::OK, &obj, &[]))
        }
        "list" => {
            let mut lq = list_query(q)?;
            lq.raw = matches!(rendering, Rendering::Json);
            let page = api.list(res, ns, &lq).await?;
            let mut meta = json!({"resourceVersion": page.revision.to_string()});
            if let Some(c) = &page.cont {
                meta["continue"] = json!(c);
            }
            if let Some(n) = page.remaining {
                meta["remainingItemCount"] = json!(n);
            }
            if lq.raw && page.items.is_empty() && !page.raw.is_empty() {
                // Stored bytes spliced into the list without parsing them.
                let head = json!({"kind": res.list_kind(), "apiVersion": res.api_version(), "metadata": meta});
                let mut body =
                    serde_json::to_vec(&head).map_err(|e| ApiError::internal(e.to_string()))?;
                body.pop();
                body.extend_from_slice(b",\"items\":[");
                for (i, item) in page.raw.iter().enumerate() {
                    if i > 0 {
                        body.push(b',');
                    }
                    body.extend_from_slice(item);
                }
                body.extend_from_slice(b"]}");
                let mut r = Response::new(Body::from(body));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                return Ok(r);
            }
            let out = match &rendering {
                Rendering::Json => {
                    json!({"kind": res.list_kind(), "apiVersion": res.api_version(), "metadata": meta, "items": page.items})
                }
                r => render_table(res, &page.items, r, meta),
            };
            Ok(json_response(StatusCode::OK, &out))
        }
        "watch" => {
            let mut wq = watch::WatchQuery {
                list: list_query(q)?,
                ..Default::default()
            };
            wq.raw_json = matches!(rendering, Rendering::Json)
                && registry::storage_api_version(res) == res.api_version();
            wq.allow_bookmarks = q.get("allowWatchBookmarks").is_some_and(|v| truthy(v));
            wq.send_initial_events = q.get("sendInitialEvents").map(|v| truthy(v));
            wq.timeout = q
                .get("timeoutSeconds")
                .and_then(|s| s.parse::<u64>().ok())
                .map(Duration::from_secs);
            let r = rendering.clone();
            let render: watch::Render = Arc::new(move |obj: &Value| match &r {
                Rendering::Json => obj.clone(),
                r => render_table(res, std::slice::from_ref(obj), r, Value::Null),
            });
            wq.name = t.name.clone();
            let rx = {
                let on_stall =
                    closer.map(|c| -> watch::OnStall { Box::new(move || c.close_now()) });
                watch::start(api.clone(), res, t.namespace.clone(), wq, render, on_stall).await?
            };
            let stream = ReceiverStream::new(rx)
                .flat_map(|c| futures::stream::iter(c.parts))
                .map(Ok::<_, std::convert::Infallible>);
            let mut resp = Response::new(Body::from_stream(stream));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache, private"),
            );
            Ok(resp)
        }
        "create" => {
            if t.name.is_some() {
                return Err(ApiError::method_not_allowed("POST on an item"));
            }
            let opts = write_opts(q, headers)?;
            let bytes = read_body(body, server).await?;
            let obj = registry::parse_body(&bytes, ct)?;
            let w = api.create(res, ns, obj, &opts).await?;
            Ok(respond(StatusCode::CREATED, &w.obj, &w.warnings))
        }
        "update" => {
            let name = t
                .name
                .as_deref()
                .ok_or_else(|| ApiError::method_not_allowed("PUT on a collection"))?;
            let opts = write_opts(q, headers)?;
            let bytes = read_body(body, server).await?;
            let obj = registry::parse_body(&bytes, ct)?;
            if sub == Some("scale") {
                let replicas = scale_replicas(&obj)?;
                let w = set_replicas(
                    api,
                    res,
                    ns,
                    name,
                    replicas,
                    obj.pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str),
                    &opts,
                )
                .await?;
                return Ok(json_response(StatusCode::OK, &scale_of(res, &w.obj)));
            }
            // `status` and `finalize` are the subresources written through an update.
            let w = api
                .update(
                    res,
                    ns,
                    name,
                    obj,
                    sub.filter(|s| matches!(*s, "status" | "finalize")),
                    &opts,
                )
                .await?;
            let code = if w.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(respond(code, &w.obj, &w.warnings))
        }
        "patch" => {
            let name = t
                .name
                .as_deref()
                .ok_or_else(|| ApiError::method_not_allowed("PATCH on a collection"))?;
            let opts = write_opts(q, headers)?;
            let ptype = patch::PatchType::from_content_type(ct)
                .ok_or_else(|| ApiError::unsupported_media(ct))?;
            let bytes = read_body(body, server).await?;
            if ptype == patch::PatchType::Apply
                && opts.field_manager.as_deref().is_none_or(str::is_empty)
            {
                return Err(ApiError::bad_request(
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                ));
            }
            if sub == Some("scale") {
                let current = api.get(res, ns, name).await?;
                let scale = scale_of(res, &current);
                let patched = match ptype {
                    patch::PatchType::Json => patch::apply_json_patch(&scale, &bytes),
                    patch::PatchType::Merge | patch::PatchType::Strategic => {
                        patch::apply_merge_patch(&scale, &bytes)
                    }
                    patch::PatchType::Apply => {
                        let applied = registry::parse_body(&bytes, "application/yaml")?;
                        let mut s = scale.clone();
                        if let Some(r) = applied.pointer("/spec/replicas") {
                            s["spec"]["replicas"] = r.clone();
                        }
                        Ok(s)
                    }
                }
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
                let replicas = scale_replicas(&patched)?;
                let w = set_replicas(api, res, ns, name, replicas, None, &opts).await?;
                return Ok(json_response(StatusCode::OK, &scale_of(res, &w.obj)));
            }
            let w = api
                .patch(
                    res,
                    ns,
                    name,
                    ptype,
                    &bytes,
                    sub.filter(|s| *s == "status"),
                    &opts,
                )
                .await?;
            Ok(respond(
                if w.created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                &w.obj,
                &w.warnings,
            ))
        }
        "delete" => {
            if sub.is_some() {
                return Err(ApiError::method_not_allowed("DELETE on a subresource"));
            }
            let name = t.name.as_deref().unwrap_or("");
            let opts = delete_opts(q, body, ct, server).await?;
            let d = api.delete(res, ns, name, &opts).await?;
            Ok(respond(
                // Kubernetes: 200 when gone, 202 while finalizers hold it.
                if d.gone {
                    StatusCode::OK
                } else {
                    StatusCode::ACCEPTED
                },
                &d.obj,
                &[],
            ))
        }
        "deletecollection" => {
            if !res.verbs().contains(&"deletecollection") {
                return Err(ApiError::method_not_allowed(&format!(
                    "DELETE on the collection of {}",
                    res.plural
                )));
            }
            let lq = list_query(q)?;
            let opts = delete_opts(q, body, ct, server).await?;
            let page = api
                .list(
                    res,
                    ns,
                    &ListQuery {
                        limit: None,
                        continue_token: None,
                        ..lq
                    },
                )
                .await?;
            let mut items = Vec::new();
            for obj in page.items {
                let name = registry::meta_str(&obj, "name").unwrap_or("").to_string();
                let ns_of = registry::meta_str(&obj, "namespace").map(str::to_string);
                match api.delete(res, ns_of.as_deref(), &name, &opts).await {
                    Ok(d) => items.push(d.obj),
                    Err(e) if e.reason == Reason::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(json_response(
                StatusCode::OK,
                &json!({"kind": res.list_kind(), "apiVersion": res.api_version(), "metadata": {}, "items": items}),
            ))
        }
        _ => Err(ApiError::method_not_allowed(verb)),
    }
}

async fn delete_opts(
    q: &HashMap<String, String>,
    body: Body,
    ct: &str,
    server: &Server,
) -> ApiResult<DeleteOpts> {
    let bytes = read_body(body, server).await?;
    let b: Value = if bytes.is_empty() {
        json!({})
    } else {
        registry::parse_body(&bytes, ct)?
    };
    let get = |k: &str| {
        q.get(k)
            .cloned()
            .or_else(|| b.get(k).and_then(Value::as_str).map(str::to_string))
    };
    let dry_run = q.get("dryRun").is_some_and(|v| v == "All")
        || b.get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    let propagation = get("propagationPolicy").or_else(|| {
        q.get("orphanDependents")
            .and_then(|v| truthy(v).then(|| "Orphan".to_string()))
    });
    if let Some(p) = &propagation
        && !matches!(p.as_str(), "Orphan" | "Background" | "Foreground")
    {
        return Err(ApiError::bad_request(format!(
            "propagationPolicy: Unsupported value: \"{p}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
        )));
    }
    let grace_period = q
        .get("gracePeriodSeconds")
        .and_then(|s| s.parse().ok())
        .or_else(|| b.get("gracePeriodSeconds").and_then(Value::as_i64));
    Ok(DeleteOpts {
        dry_run,
        propagation,
        grace_period,
        precondition_uid: b
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        precondition_rv: b
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// `spec.replicas` of a Scale: absent means 0 (protobuf and Go omit a zero), anything but a
/// non-negative integer is 422 as in Kubernetes.
fn scale_replicas(scale: &Value) -> ApiResult<i64> {
    match scale.pointer("/spec/replicas") {
        None | Some(Value::Null) => Ok(0),
        Some(v) => match v.as_i64() {
            Some(n) if n >= 0 => Ok(n),
            _ => {
                let cause = kumo_apimachinery::validation::FieldError {
                    field: "spec.replicas".into(),
                    reason: "FieldValueInvalid",
                    message: format!("Invalid value: {v}: must be greater than or equal to 0"),
                };
                let name = scale
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                Err(ApiError::invalid_kind(
                    "autoscaling",
                    "Scale",
                    name,
                    &[cause],
                ))
            }
        },
    }
}

/// The autoscaling/v1 `Scale` of a scalable object.
fn scale_of(res: &ResourceInfo, obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector")
        .map(|s| {
            let mut parts: Vec<String> = Vec::new();
            if let Some(m) = s.get("matchLabels").and_then(Value::as_object) {
                parts.extend(
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))),
                );
            }
            if let Some(exprs) = s.get("matchExpressions").and_then(Value::as_array) {
                for e in exprs {
                    let key = e.get("key").and_then(Value::as_str).unwrap_or("");
                    let vals: Vec<&str> = e
                        .get("values")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                        "In" => parts.push(format!("{key} in ({})", vals.join(","))),
                        "NotIn" => parts.push(format!("{key} notin ({})", vals.join(","))),
                        "Exists" => parts.push(key.to_string()),
                        "DoesNotExist" => parts.push(format!("!{key}")),
                        _ => {}
                    }
                }
            }
            parts.join(",")
        })
        .unwrap_or_default();
    // A ReplicationController's selector is a plain label map (`labels.SelectorFromSet`).
    let selector = match (
        res.strategy.scale_selector(),
        obj.pointer("/spec/selector").and_then(Value::as_object),
    ) {
        (ScaleSelector::LabelMap, Some(labels)) => {
            let sorted: std::collections::BTreeMap<&String, &str> = labels
                .iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or("")))
                .collect();
            let parts: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect();
            parts.join(",")
        }
        _ => selector,
    };
    let m = obj.get("metadata").cloned().unwrap_or(json!({}));
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m.get("name"), "namespace": m.get("namespace"), "uid": m.get("uid"),
            "resourceVersion": m.get("resourceVersion"), "creationTimestamp": m.get("creationTimestamp"),
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)},
        "status": {"replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0), "selector": selector},
    })
}

async fn set_replicas(
    api: &Api,
    res: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    replicas: i64,
    rv: Option<&str>,
    opts: &WriteOpts,
) -> ApiResult<registry::Written> {
    let mut body = json!({"spec": {"replicas": replicas}});
    if let Some(rv) = rv.filter(|s| !s.is_empty()) {
        body["metadata"] = json!({"resourceVersion": rv});
    }
    let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::internal(e.to_string()))?;
    api.patch(res, ns, name, patch::PatchType::Merge, &bytes, None, opts)
        .await
}

fn render_conn_metrics(c: &conns::Conns, cut: &std::sync::atomic::AtomicU64, out: &mut String) {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let (unauth, auth) = c.counts();
    let _ = writeln!(
        out,
        "# HELP kumo_watch_cut_total Watches ended because their client stopped reading (buffer full past the stall deadline).\n# TYPE kumo_watch_cut_total counter\nkumo_watch_cut_total {}",
        cut.load(Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP kumo_api_connections Open client connections by state.\n# TYPE kumo_api_connections gauge\nkumo_api_connections{{state=\"unauthenticated\"}} {unauth}\nkumo_api_connections{{state=\"authenticated\"}} {auth}"
    );
    let _ = writeln!(
        out,
        "# HELP kumo_api_connections_closed_total Client connections closed by the connection limits, by reason.\n# TYPE kumo_api_connections_closed_total counter"
    );
    for (reason, v) in [
        ("displaced", &c.stats.closed_displaced),
        (
            "unauthenticated_timeout",
            &c.stats.closed_unauthenticated_timeout,
        ),
        ("idle", &c.stats.closed_idle),
        ("refused_full", &c.stats.refused_full),
        ("handshake_timeout", &c.stats.handshake_timeouts),
    ] {
        let _ = writeln!(
            out,
            "kumo_api_connections_closed_total{{reason=\"{reason}\"}} {}",
            v.load(Relaxed)
        );
    }
}

/// A response body that holds its request's [`conns::RequestGuard`] until it is dropped
/// (a watch's connection is busy for as long as its stream is open).
struct GuardedBody {
    inner: Body,
    _guard: conns::RequestGuard,
}

impl hyper::body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Concurrent HTTP/2 streams per connection; a client past it waits for a stream to end.
const H2_MAX_STREAMS: u32 = 1_000;
/// Bytes of one HTTP/2 request's header list (its URL included), past which the stream is
/// refused with 431. HTTP/1 takes a URL of up to 64 KiB; this accepts the same URL plus
/// 16 KiB of other headers, so a long selector works over both (hyper's default, 16 KiB,
/// refused a 20 KB URL that Kubernetes, which allows 1 MiB, serves). Per connection at
/// most `H2_MAX_STREAMS` of these are held.
const H2_MAX_HEADER_LIST: u32 = 80 << 10;

/// Serves the API over TLS on `listener` until `shutdown` resolves, admitting connections
/// through [`conns::Conns`] (see that module for how stalled or unauthenticated clients are
/// kept from locking others out).
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: axum::Router,
    conns: Arc<conns::Conns>,
    token: Arc<str>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let limits = conns.limits().clone();
    tokio::spawn(conns.clone().reap_every(Duration::from_secs(1)));
    loop {
        let (tcp, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return Ok(()),
        };
        // Past the bound of unauthenticated connections, the oldest one is closed.
        let handle = conns.admit();
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let token = token.clone();
        let limits = limits.clone();
        let mut shutdown = shutdown.clone();
        let stats_conns = conns.clone();
        tokio::spawn(async move {
            let ctl = handle.ctl().clone();
            let handshake = tokio::time::timeout(limits.handshake, acceptor.accept(tcp));
            let tls = tokio::select! {
                r = handshake => match r {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        stats_conns.stats.handshake_timeouts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        return;
                    }
                },
                _ = ctl.closed() => return,
            };
            let handle = Arc::new(handle);
            let svc_handle = handle.clone();
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    let h = svc_handle.clone();
                    let over_limit = authorized_token(&token, req.headers()) && !h.authenticated();
                    let guard = h.request();
                    let mut req = req;
                    req.extensions_mut().insert(h.closer());
                    async move {
                        if over_limit {
                            // Every authenticated slot is busy: say so and close after.
                            let mut resp = ApiError::too_many_requests(
                                "too many open connections to the API server; retry later",
                            )
                            .into_response();
                            resp.headers_mut()
                                .insert(header::CONNECTION, HeaderValue::from_static("close"));
                            h.close_gracefully();
                            return Ok(resp.map(|inner| GuardedBody {
                                inner,
                                _guard: guard,
                            }));
                        }
                        let req = req.map(Body::new);
                        let resp = tower::ServiceExt::oneshot(app, req).await?;
                        Ok::<_, std::convert::Infallible>(resp.map(|inner| GuardedBody {
                            inner,
                            _guard: guard,
                        }))
                    }
                });
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header);
            builder
                .http2()
                .timer(TokioTimer::new())
                .keep_alive_interval(Some(Duration::from_secs(30)))
                .keep_alive_timeout(Duration::from_secs(20))
                .max_concurrent_streams(H2_MAX_STREAMS)
                .max_header_list_size(H2_MAX_HEADER_LIST);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "connection ended with error");
                    }
                }
                how = ctl.closed() => {
                    if how == conns::CLOSE_GRACEFUL {
                        conn.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                    }
                }
                _ = shutdown.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
            }
        });
    }
}

pub fn new_server(
    api: Api,
    token: String,
    metrics: Arc<Metrics>,
    external_address: String,
    connections: conns::ConnLimits,
) -> Shared {
    let conns = conns::Conns::new(connections);
    Arc::new(Server {
        api: Arc::new(api),
        token,
        metrics,
        external_address,
        conns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bearer_scheme_in_any_case() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }

    #[test]
    fn unserved_pod_subresources_say_so() {
        let e = match parse_path("/api/v1/namespaces/default/pods/p/log", "", "x") {
            Err(e) => e,
            Ok(_) => panic!("pods/log is not served"),
        };
        assert_eq!(e.code, 501);
        assert!(e.message.contains("not available yet"));
        let e = match parse_path("/api/v1/namespaces/default/pods/p/nonsense", "", "x") {
            Err(e) => e,
            Ok(_) => panic!("no such subresource"),
        };
        assert_eq!(e.code, 404);
        assert!(e.details.is_some());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Paths and headers come from anyone (before authentication too).
        #[test]
        fn paths_and_headers_never_panic(
            path in "(/(api|apis|v1|namespaces|default|pods|configmaps|apps|status|scale|watch|%[0-9a-fA-F]{0,2}|\\PC{0,6})){0,8}",
            any_path in "\\PC{0,80}",
            accept in "\\PC{0,60}",
            auth in "\\PC{0,40}",
            q in "\\PC{0,60}",
        ) {
            let _ = parse_path(&path, &accept, "127.0.0.1:6443");
            let _ = parse_path(&any_path, &accept, "127.0.0.1:6443");
            let _ = bearer_token(&auth);
            let qm = query_map(Some(&q));
            let _ = rendering(&accept, &qm);
            let _ = list_query(&qm);
            let _ = write_opts(&qm, &HeaderMap::new());
        }
    }
}
