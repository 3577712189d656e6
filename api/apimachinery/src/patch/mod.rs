//! PATCH bodies: the patch type named by the request's Content-Type, and applying JSON patch
//! (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch to an object.
//!
//! Server-side apply (`application/apply-patch+yaml`) is recognised here but applied by
//! [`crate::apply`].

pub mod strategic;

use serde_json::Value;

/// A failed patch, classified the way the Kubernetes API server answers it.
///
/// | variant | HTTP | Kubernetes source |
/// |---|---|---|
/// | [`PatchError::BadRequest`] | 400 `BadRequest` | a body that is not JSON or not the right shape (a JSON patch that is not an array of operations, a merge or strategic patch that is not an object); the strategic-merge format errors `invalid JSON document`, `invalid patch format of retainKeys`, `invalid patch format of primitive list`, `invalid patch format of setElementOrder list` (`interpretStrategicMergePatchError`) |
/// | [`PatchError::Invalid`] | 422 `Invalid` | a JSON patch operation that fails to apply, including a failed `test` and a missing path (`NewGenericServerResponse(422, ..)`: message `the server rejected our request due to an error in our request`, the detail as a cause of type `UnexpectedServerResponse`); the strategic-merge errors `lists of lists are not supported` and patch content not matching `$retainKeys` |
/// | [`PatchError::Conflict`] | 409 `Conflict` | not produced by these patch types; for server-side apply field-manager conflicts |
/// | [`PatchError::Internal`] | 500, reason `""` (Unknown) | every other strategic-merge failure, which Kubernetes passes through unclassified with the raw message, e.g. `map: map[image:nginx] does not contain declared merge key: name` |
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// 400: the patch body is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 422: the patch is well formed but cannot be applied to this object.
    #[error("{0}")]
    Invalid(String),
    /// 409: a conflict (server-side apply).
    #[error("{0}")]
    Conflict(String),
    /// 500 with an empty reason: an unclassified strategic merge patch failure.
    #[error("{0}")]
    Internal(String),
}

impl PatchError {
    /// The HTTP status code Kubernetes answers with.
    pub fn status_code(&self) -> u16 {
        match self {
            PatchError::BadRequest(_) => 400,
            PatchError::Invalid(_) => 422,
            PatchError::Conflict(_) => 409,
            PatchError::Internal(_) => 500,
        }
    }

    /// The `reason` of the `Status` Kubernetes answers with (`""` is StatusReasonUnknown).
    pub fn reason(&self) -> &'static str {
        match self {
            PatchError::BadRequest(_) => "BadRequest",
            PatchError::Invalid(_) => "Invalid",
            PatchError::Conflict(_) => "Conflict",
            PatchError::Internal(_) => "",
        }
    }

    /// The detail text.
    pub fn detail(&self) -> &str {
        match self {
            PatchError::BadRequest(s)
            | PatchError::Invalid(s)
            | PatchError::Conflict(s)
            | PatchError::Internal(s) => s,
        }
    }
}

/// The patch flavours of `PATCH` requests, named by Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// The patch type for a Content-Type header value; parameters (`; charset=utf-8`) and
    /// case are ignored. `None` means the server answers 415 Unsupported Media Type.
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let media = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }

    /// The canonical Content-Type of this patch type.
    pub fn content_type(&self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Strategic => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

/// Kubernetes refuses JSON patches with more operations than this (413 there; 400 here).
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// Applies an RFC 6902 JSON patch (`add`, `remove`, `replace`, `move`, `copy`, `test`).
///
/// A body that is not a JSON array of operations is [`PatchError::BadRequest`]; an operation
/// that fails (a `test` that does not match, a path that does not exist) is
/// [`PatchError::Invalid`] and nothing is applied.
pub fn apply_json_patch(original: &Value, patch_body: &[u8]) -> Result<Value, PatchError> {
    let raw: Value = serde_json::from_slice(patch_body)
        .map_err(|e| PatchError::BadRequest(format!("invalid JSON patch: {e}")))?;
    let Some(ops) = raw.as_array() else {
        return Err(PatchError::BadRequest(
            "invalid JSON patch: expected a JSON array of operations".to_string(),
        ));
    };
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::BadRequest(format!(
            "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {}",
            ops.len()
        )));
    }
    let patch: json_patch::Patch = serde_json::from_value(raw)
        .map_err(|e| PatchError::BadRequest(format!("invalid JSON patch: {e}")))?;
    let mut doc = original.clone();
    json_patch::patch(&mut doc, &patch).map_err(|e| PatchError::Invalid(e.to_string()))?;
    Ok(doc)
}

/// Applies an RFC 7386 JSON merge patch: objects merge recursively, `null` deletes a key,
/// everything else (lists included) replaces. The body must be a JSON object.
pub fn apply_merge_patch(original: &Value, patch_body: &[u8]) -> Result<Value, PatchError> {
    let patch = parse_object(patch_body, "merge patch")?;
    let mut doc = original.clone();
    json_patch::merge(&mut doc, &patch);
    Ok(doc)
}

/// Applies a strategic merge patch (see [`strategic`]) to an object of `kind`.
/// The body must be a JSON object.
pub fn apply_strategic(
    kind: &str,
    original: &Value,
    patch_body: &[u8],
) -> Result<Value, PatchError> {
    let patch = parse_object(patch_body, "strategic merge patch").map_err(|_| {
        // Kubernetes: mergepatch.ErrBadJSONDoc.
        PatchError::BadRequest("invalid JSON document".to_string())
    })?;
    strategic::strategic_merge_patch(kind, original, &patch)
}

fn parse_object(body: &[u8], what: &str) -> Result<Value, PatchError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| PatchError::BadRequest(format!("invalid {what}: {e}")))?;
    if !v.is_object() {
        return Err(PatchError::BadRequest(format!(
            "invalid {what}: expected a JSON object"
        )));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
            "spec": {
                "replicas": 1,
                "template": {"spec": {"containers": [
                    {"name": "app", "image": "nginx:1"},
                    {"name": "sidecar", "image": "envoy:1"}
                ]}}
            }
        })
    }

    #[test]
    fn content_types() {
        assert_eq!(
            PatchType::from_content_type("application/json-patch+json"),
            Some(PatchType::Json)
        );
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8"),
            Some(PatchType::Merge)
        );
        assert_eq!(
            PatchType::from_content_type(" Application/Strategic-Merge-Patch+JSON "),
            Some(PatchType::Strategic)
        );
        assert_eq!(
            PatchType::from_content_type("application/apply-patch+yaml"),
            Some(PatchType::Apply)
        );
        assert_eq!(PatchType::from_content_type("application/json"), None);
        assert_eq!(PatchType::from_content_type(""), None);
        for t in [
            PatchType::Json,
            PatchType::Merge,
            PatchType::Strategic,
            PatchType::Apply,
        ] {
            assert_eq!(PatchType::from_content_type(t.content_type()), Some(t));
        }
    }

    #[test]
    fn json_patch_ops() {
        let body = br#"[
            {"op": "test", "path": "/spec/replicas", "value": 1},
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "add", "path": "/metadata/labels/env", "value": "prod"},
            {"op": "remove", "path": "/metadata/labels/tier"},
            {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "x", "image": "busybox"}},
            {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copied"},
            {"op": "move", "from": "/metadata/labels/copied", "path": "/metadata/labels/moved"}
        ]"#;
        let out = apply_json_patch(&deploy(), body).unwrap();
        assert_eq!(out["spec"]["replicas"], 3);
        assert_eq!(
            out["metadata"]["labels"],
            json!({"app": "web", "env": "prod", "moved": "web"})
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][2]["name"],
            "x"
        );
    }

    #[test]
    fn json_patch_failures() {
        // A failed test is 422 and nothing is applied.
        let err = apply_json_patch(
            &deploy(),
            br#"[{"op":"replace","path":"/spec/replicas","value":5},{"op":"test","path":"/spec/replicas","value":2}]"#,
        )
        .unwrap_err();
        assert!(matches!(err, PatchError::Invalid(_)), "{err:?}");
        assert_eq!(err.status_code(), 422);

        // Removing a path that does not exist is 422.
        let err =
            apply_json_patch(&deploy(), br#"[{"op":"remove","path":"/spec/nope"}]"#).unwrap_err();
        assert!(matches!(err, PatchError::Invalid(_)), "{err:?}");

        // Malformed bodies are 400.
        for body in [
            &b"not json"[..],
            br#"{"op":"add"}"#,
            br#"[{"op":"frobnicate","path":"/a"}]"#,
            br#"[{"op":"add","value":1}]"#,
        ] {
            let err = apply_json_patch(&deploy(), body).unwrap_err();
            assert!(matches!(err, PatchError::BadRequest(_)), "{err:?}");
            assert_eq!(err.status_code(), 400);
        }
        // An empty patch is a no-op.
        assert_eq!(apply_json_patch(&deploy(), b"[]").unwrap(), deploy());
    }

    #[test]
    fn merge_patch() {
        let out = apply_merge_patch(
            &deploy(),
            br#"{"metadata":{"labels":{"tier":null,"env":"prod"}},"spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"only"}]}}}}"#,
        )
        .unwrap();
        assert_eq!(
            out["metadata"]["labels"],
            json!({"app": "web", "env": "prod"})
        );
        assert_eq!(out["spec"]["replicas"], 2);
        // Lists replace as a whole.
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "only"}])
        );
        let err = apply_merge_patch(&deploy(), b"[1,2]").unwrap_err();
        assert!(matches!(err, PatchError::BadRequest(_)));
        let err = apply_merge_patch(&deploy(), b"{").unwrap_err();
        assert!(matches!(err, PatchError::BadRequest(_)));
    }

    #[test]
    fn strategic_patch_body() {
        let out = apply_strategic(
            "Deployment",
            &deploy(),
            br#"{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:2"}]}}}}"#,
        )
        .unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([
                {"name": "app", "image": "nginx:2"},
                {"name": "sidecar", "image": "envoy:1"}
            ])
        );
        let err = apply_strategic("Deployment", &deploy(), b"[]").unwrap_err();
        assert_eq!(err, PatchError::BadRequest("invalid JSON document".into()));
        let err = apply_strategic("Deployment", &deploy(), b"nope").unwrap_err();
        assert_eq!(err.status_code(), 400);
    }

    #[test]
    fn error_classes() {
        assert_eq!(PatchError::Internal("x".into()).status_code(), 500);
        assert_eq!(PatchError::Internal("x".into()).reason(), "");
        assert_eq!(PatchError::Conflict("x".into()).status_code(), 409);
        assert_eq!(PatchError::Invalid("why".into()).detail(), "why");
        assert_eq!(PatchError::BadRequest("bad".into()).to_string(), "bad");
    }
}
