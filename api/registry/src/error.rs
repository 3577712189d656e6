//! API errors as Kubernetes `Status` objects, with the codes and reasons Kubernetes uses.

use kumo_apimachinery::resources::ResourceInfo;
use serde_json::{Value, json};

/// Why an API call failed: Kubernetes' `StatusReason`, which clients branch on (kubectl
/// retries a `Conflict`, `IsAlreadyExists` reads `AlreadyExists` …). Compare these, not
/// codes or strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    NotAcceptable,
    AlreadyExists,
    Conflict,
    /// 410: the resourceVersion asked for is compacted away.
    Expired,
    RequestEntityTooLarge,
    UnsupportedMediaType,
    Invalid,
    TooManyRequests,
    InternalError,
    NotImplemented,
    ServiceUnavailable,
    /// 408 (the body did not arrive) or 504 (the outcome is unknown).
    Timeout,
    /// 507: the node's disk is full.
    InsufficientStorage,
}

impl Reason {
    /// The reason as it appears in a `Status` body.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadRequest => "BadRequest",
            Reason::Unauthorized => "Unauthorized",
            Reason::Forbidden => "Forbidden",
            Reason::NotFound => "NotFound",
            Reason::MethodNotAllowed => "MethodNotAllowed",
            Reason::NotAcceptable => "NotAcceptable",
            Reason::AlreadyExists => "AlreadyExists",
            Reason::Conflict => "Conflict",
            Reason::Expired => "Expired",
            Reason::RequestEntityTooLarge => "RequestEntityTooLarge",
            Reason::UnsupportedMediaType => "UnsupportedMediaType",
            Reason::Invalid => "Invalid",
            Reason::TooManyRequests => "TooManyRequests",
            Reason::InternalError => "InternalError",
            Reason::NotImplemented => "NotImplemented",
            Reason::ServiceUnavailable => "ServiceUnavailable",
            Reason::Timeout => "Timeout",
            Reason::InsufficientStorage => "InsufficientStorage",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed API call, rendered as a `Status` body.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: Reason,
    pub message: String,
    pub details: Option<Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// `deployments.apps` or `pods`: how Kubernetes names a resource in messages.
pub fn qualified(res: &ResourceInfo) -> String {
    if res.group.is_empty() {
        res.plural.to_string()
    } else {
        format!("{}.{}", res.plural, res.group)
    }
}

fn details(res: &ResourceInfo, name: &str) -> Value {
    let mut d = json!({"name": name, "kind": res.plural});
    if !res.group.is_empty() {
        d["group"] = json!(res.group);
    }
    d
}

impl ApiError {
    pub fn new(code: u16, reason: Reason, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, Reason::BadRequest, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, Reason::Unauthorized, "Unauthorized")
    }

    pub fn forbidden(res: &ResourceInfo, name: &str, why: &str) -> Self {
        Self::new(
            403,
            Reason::Forbidden,
            format!("{} \"{name}\" is forbidden: {why}", qualified(res)),
        )
        .with_details(details(res, name))
    }

    pub fn not_found(res: &ResourceInfo, name: &str) -> Self {
        Self::new(
            404,
            Reason::NotFound,
            format!("{} \"{name}\" not found", qualified(res)),
        )
        .with_details(details(res, name))
    }

    pub fn namespace_not_found(ns: &str) -> Self {
        Self::new(
            404,
            Reason::NotFound,
            format!("namespaces \"{ns}\" not found"),
        )
        .with_details(json!({"name": ns, "kind": "namespaces"}))
    }

    /// Kubernetes sends `"details":{}` here, and clients rely on it being present
    /// (`kubectl debug` dereferences it).
    pub fn path_not_found() -> Self {
        Self::new(
            404,
            Reason::NotFound,
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    pub fn method_not_allowed(what: &str) -> Self {
        Self::new(
            405,
            Reason::MethodNotAllowed,
            format!("the server does not allow this method on the requested resource ({what})"),
        )
    }

    pub fn already_exists(res: &ResourceInfo, name: &str) -> Self {
        Self::new(
            409,
            Reason::AlreadyExists,
            format!("{} \"{name}\" already exists", qualified(res)),
        )
        .with_details(details(res, name))
    }

    /// Optimistic-concurrency failure.
    pub fn conflict(res: &ResourceInfo, name: &str) -> Self {
        Self::conflict_msg(
            res,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub fn conflict_msg(res: &ResourceInfo, name: &str, why: &str) -> Self {
        Self::new(
            409,
            Reason::Conflict,
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(res)
            ),
        )
        .with_details(details(res, name))
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, Reason::Expired, message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(413, Reason::RequestEntityTooLarge, message)
    }

    pub fn unsupported_media(ct: &str) -> Self {
        Self::new(
            415,
            Reason::UnsupportedMediaType,
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml (got {ct})"
            ),
        )
    }

    pub fn invalid(
        res: &ResourceInfo,
        name: &str,
        causes: &[kumo_apimachinery::validation::FieldError],
    ) -> Self {
        Self::invalid_kind(res.group, res.kind, name, causes)
    }

    /// 422 Invalid for an object of `group` and `kind`, which need not be a served resource
    /// (an `autoscaling/v1` `Scale`).
    pub fn invalid_kind(
        group: &str,
        kind: &str,
        name: &str,
        causes: &[kumo_apimachinery::validation::FieldError],
    ) -> Self {
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let message =
            kumo_apimachinery::validation::format_invalid_message(&qualified, name, causes);
        let mut d = json!({"name": name, "kind": kind});
        if !group.is_empty() {
            d["group"] = json!(group);
        }
        d["causes"] = causes
            .iter()
            .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
            .collect();
        Self::new(422, Reason::Invalid, message).with_details(d)
    }

    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new(429, Reason::TooManyRequests, message)
            .with_details(json!({"retryAfterSeconds": 1}))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            500,
            Reason::InternalError,
            format!("Internal error occurred: {}", message.into()),
        )
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, Reason::ServiceUnavailable, message)
            .with_details(json!({"retryAfterSeconds": 1}))
    }

    /// 507: the node's disk is full (the message says so; no paths or addresses).
    pub fn insufficient_storage(message: impl Into<String>) -> Self {
        Self::new(507, Reason::InsufficientStorage, message)
            .with_details(json!({"retryAfterSeconds": 1}))
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(504, Reason::Timeout, message)
    }

    /// The `Status` object, its fields in the order Kubernetes' encoder writes them
    /// (`kind, apiVersion, metadata, status, message, reason, details, code`).
    pub fn status(&self) -> Value {
        let mut s = serde_json::Map::new();
        s.insert("kind".into(), json!("Status"));
        s.insert("apiVersion".into(), json!("v1"));
        s.insert("metadata".into(), json!({}));
        s.insert("status".into(), json!("Failure"));
        s.insert("message".into(), json!(self.message));
        s.insert("reason".into(), json!(self.reason.as_str()));
        if let Some(d) = &self.details {
            s.insert("details".into(), d.clone());
        }
        s.insert("code".into(), json!(self.code));
        Value::Object(s)
    }

    /// The `Status` body as Kubernetes writes it: compact JSON ending with a newline.
    /// Whether a client should be told to retry after a pause (`Retry-After`): the server
    /// is busy (429), cannot serve now (503), or its disk is full (507).
    pub fn retry_after(&self) -> bool {
        matches!(self.code, 429 | 503 | 507)
    }

    pub fn body(&self) -> Vec<u8> {
        let mut b = serde_json::to_vec(&self.status()).unwrap_or_default();
        b.push(b'\n');
        b
    }
}

impl From<kumo_raft_store::Error> for ApiError {
    /// A client sees what to do (retry, or check whether the write happened), never the
    /// store's details: those name members and addresses, and go to the log.
    fn from(e: kumo_raft_store::Error) -> Self {
        use kumo_raft_store::Error as E;
        let unavailable = |why: &str| {
            tracing::info!(error = %e, "storage unavailable");
            ApiError::unavailable(format!("storage is unavailable: {why}; retry"))
        };
        match &e {
            E::NotLeader { .. } => unavailable("no leader of the cluster is reachable"),
            E::NoQuorum => unavailable("this server has lost contact with most of the cluster"),
            E::NotMember => unavailable("this server is not a member of the cluster"),
            E::Shutdown => unavailable("the server is shutting down"),
            // Nothing was written; writes are served again once space is freed.
            E::DiskFull => ApiError::insufficient_storage(e.to_string()),
            // Kubernetes answers an etcd timeout with 504: the write may have happened.
            E::Unknown(_) => {
                tracing::info!(error = %e, "write outcome unknown");
                ApiError::timeout("the request timed out; it may or may not have been applied")
            }
            _ => {
                tracing::warn!(error = %e, "storage error");
                ApiError::internal("storage error; see the server's log")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_507_with_a_message_that_says_so() {
        let e = ApiError::from(kumo_raft_store::Error::DiskFull);
        assert_eq!((e.code, e.reason), (507, Reason::InsufficientStorage));
        assert_eq!(
            e.message,
            "the node's disk is full: writes are refused until space is freed"
        );
        assert!(e.retry_after());
    }
}
