//! The self-review APIs: `authorization.k8s.io/v1` `SelfSubjectAccessReview` (`kubectl auth
//! can-i`) and `SelfSubjectRulesReview` (`kubectl auth can-i --list`), and
//! `authentication.k8s.io/v1` `SelfSubjectReview` (`kubectl auth whoami`). A review is created
//! and answered in the same request and never stored.
//!
//! Kumo authenticates its admin token and enforces no authorization yet: every authenticated
//! request is allowed, so the truthful answer to "may I?" is always yes, and the caller's rules
//! are `*` on everything. The shapes, validation and errors are those of the Kubernetes
//! registries (`pkg/registry/authorization/selfsubjectaccessreview`,
//! `.../selfsubjectrulesreview`, `pkg/registry/authentication/selfsubjectreview`).

use serde_json::{Map, Value, json};

use crate::resources::ResourceInfo;
use crate::validation::{FieldError, go_quote, go_value};

/// The authenticated caller a review is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject<'a> {
    pub username: &'a str,
    pub groups: &'a [&'a str],
}

/// `status.reason` of every access review while no authorization is enforced.
pub const ALLOW_ALL_REASON: &str = "kumo enforces no authorization yet: every authenticated user may do everything until RBAC is enforced";

/// Why a review was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewError {
    /// 400 BadRequest with this message.
    BadRequest(String),
    /// 422 Invalid: `<Kind>.<group> "" is invalid: ...` with these causes.
    Invalid(Vec<FieldError>),
}

/// Answers the `create` of a review: the response object (served with 201), or why the
/// request is refused. `request` is the decoded body with `apiVersion` and `kind` already
/// checked against `res`; `now` is the RFC 3339 time of the request.
pub fn answer(
    res: &ResourceInfo,
    request: &Value,
    subject: &Subject<'_>,
    now: &str,
) -> Result<Value, ReviewError> {
    match (res.group, res.kind) {
        ("authorization.k8s.io", "SelfSubjectAccessReview") => access_review(res, request),
        ("authorization.k8s.io", "SelfSubjectRulesReview") => rules_review(res, request),
        ("authentication.k8s.io", "SelfSubjectReview") => subject_review(res, subject, now),
        _ => Err(ReviewError::BadRequest(format!(
            "{} is not a review",
            res.kind
        ))),
    }
}

fn head(res: &ResourceInfo, metadata: Value) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("kind".into(), res.kind.into());
    out.insert("apiVersion".into(), res.api_version().into());
    out.insert("metadata".into(), metadata);
    out
}

/// Whether a JSON value is what Go's semantic equality takes for the zero value (nil and
/// empty maps and slices are equal; `""`, `0`, `false` and `null` are zero).
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_zero),
    }
}

/// Present and not JSON `null` (a Go pointer that is set).
fn set<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// Go's `%#v` of the internal `authorization.NonResourceAttributes`.
fn go_non_resource_attributes(v: &Value) -> String {
    let field = |k: &str| go_quote(v.get(k).and_then(Value::as_str).unwrap_or(""));
    format!(
        "authorization.NonResourceAttributes{{Path:{}, Verb:{}}}",
        field("path"),
        field("verb")
    )
}

/// `ValidateSelfSubjectAccessReview`: exactly one of `resourceAttributes` and
/// `nonResourceAttributes`, and empty metadata (managed fields aside).
pub fn validate_access_review(request: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = request.get("spec").unwrap_or(&Value::Null);
    let resource = set(spec, "resourceAttributes");
    let non_resource = set(spec, "nonResourceAttributes");
    match (resource, non_resource) {
        (Some(_), Some(nr)) => errs.push(FieldError::invalid(
            "spec.nonResourceAttributes",
            &go_non_resource_attributes(nr),
            "cannot be specified in combination with resourceAttributes",
        )),
        (None, None) => errs.push(FieldError::invalid(
            "spec.resourceAttributes",
            // The bad value is the nil `nonResourceAttributes` pointer, which Go's field
            // errors print as the quoted string "null".
            &go_quote("null"),
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
        _ => {}
    }
    if let Some(Value::Object(meta)) = request.get("metadata") {
        let filled = meta
            .iter()
            .any(|(k, v)| k != "managedFields" && !is_zero(v));
        if filled {
            errs.push(FieldError::invalid(
                "metadata",
                &go_value(request.get("metadata")),
                "must be empty",
            ));
        }
    }
    errs
}

/// `SelfSubjectAccessReview`: the request with its status filled in.
fn access_review(res: &ResourceInfo, request: &Value) -> Result<Value, ReviewError> {
    let errs = validate_access_review(request);
    if !errs.is_empty() {
        return Err(ReviewError::Invalid(errs));
    }
    let mut out = head(res, json!({"creationTimestamp": null}));
    out.insert(
        "spec".into(),
        request.get("spec").cloned().unwrap_or_else(|| json!({})),
    );
    out.insert(
        "status".into(),
        json!({"allowed": true, "reason": ALLOW_ALL_REASON}),
    );
    Ok(Value::Object(out))
}

/// `SelfSubjectRulesReview`: every verb on every resource and every non-resource URL, in a
/// new object (Kubernetes does not echo the spec).
fn rules_review(res: &ResourceInfo, request: &Value) -> Result<Value, ReviewError> {
    let namespace = request
        .pointer("/spec/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    if namespace.is_empty() {
        // The registry refuses it before authorizing anything: a 400, not a 422.
        return Err(ReviewError::BadRequest("no namespace on request".into()));
    }
    let mut out = head(res, json!({"creationTimestamp": null}));
    out.insert("spec".into(), json!({}));
    out.insert(
        "status".into(),
        json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
    );
    Ok(Value::Object(out))
}

/// `SelfSubjectReview`: who the caller is, stamped with the time of the request.
fn subject_review(
    res: &ResourceInfo,
    subject: &Subject<'_>,
    now: &str,
) -> Result<Value, ReviewError> {
    let mut user = Map::new();
    if !subject.username.is_empty() {
        user.insert("username".into(), subject.username.into());
    }
    if !subject.groups.is_empty() {
        user.insert("groups".into(), json!(subject.groups));
    }
    let mut out = head(res, json!({"creationTimestamp": now}));
    out.insert("status".into(), json!({"userInfo": user}));
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::lookup;
    use crate::validation::format_invalid_message;

    const ADMIN: Subject<'static> = Subject {
        username: "kumo-admin",
        groups: &["system:masters", "system:authenticated"],
    };
    const NOW: &str = "2026-01-02T03:04:05Z";

    fn ssar() -> &'static ResourceInfo {
        lookup("authorization.k8s.io", "v1", "selfsubjectaccessreviews").unwrap()
    }

    fn ssrr() -> &'static ResourceInfo {
        lookup("authorization.k8s.io", "v1", "selfsubjectrulesreviews").unwrap()
    }

    fn ssr() -> &'static ResourceInfo {
        lookup("authentication.k8s.io", "v1", "selfsubjectreviews").unwrap()
    }

    #[test]
    fn access_review_allows_and_echoes_the_request() {
        // What `kubectl auth can-i create pods` sends (decoded from protobuf).
        let req = json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "metadata": {"creationTimestamp": null},
            "spec": {"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "pods"}},
        });
        let got = answer(ssar(), &req, &ADMIN, NOW).unwrap();
        assert_eq!(
            got,
            json!({
                "kind": "SelfSubjectAccessReview",
                "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": null},
                "spec": {"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "pods"}},
                "status": {"allowed": true, "reason": ALLOW_ALL_REASON},
            })
        );
        let non_resource = json!({"spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}}, "status": {"allowed": false}});
        let got = answer(ssar(), &non_resource, &ADMIN, NOW).unwrap();
        assert_eq!(got["status"]["allowed"], true);
        assert_eq!(got["spec"], non_resource["spec"]);
        // Managed fields are not metadata a client chose.
        let managed = json!({"metadata": {"managedFields": [{"manager": "kubectl"}]}, "spec": {"resourceAttributes": {}}});
        assert!(answer(ssar(), &managed, &ADMIN, NOW).is_ok());
    }

    #[test]
    fn access_review_needs_exactly_one_kind_of_attributes() {
        let none = json!({"kind": "SelfSubjectAccessReview", "spec": {}});
        let Err(ReviewError::Invalid(errs)) = answer(ssar(), &none, &ADMIN, NOW) else {
            panic!("accepted an empty spec");
        };
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.resourceAttributes");
        assert_eq!(errs[0].reason, "FieldValueInvalid");
        assert_eq!(
            format_invalid_message("SelfSubjectAccessReview.authorization.k8s.io", "", &errs),
            "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified"
        );
        // A null attribute is an unset pointer.
        let nulls = json!({"spec": {"resourceAttributes": null, "nonResourceAttributes": null}});
        assert!(matches!(
            answer(ssar(), &nulls, &ADMIN, NOW),
            Err(ReviewError::Invalid(_))
        ));
        let no_spec = json!({});
        assert!(matches!(
            answer(ssar(), &no_spec, &ADMIN, NOW),
            Err(ReviewError::Invalid(_))
        ));
        let both = json!({"spec": {
            "resourceAttributes": {"verb": "get", "resource": "pods"},
            "nonResourceAttributes": {"path": "/x", "verb": "get"},
        }});
        let Err(ReviewError::Invalid(errs)) = answer(ssar(), &both, &ADMIN, NOW) else {
            panic!("accepted both");
        };
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.nonResourceAttributes");
        assert_eq!(
            errs[0].message,
            "Invalid value: authorization.NonResourceAttributes{Path:\"/x\", Verb:\"get\"}: cannot be specified in combination with resourceAttributes"
        );
    }

    #[test]
    fn access_review_metadata_must_be_empty() {
        let named =
            json!({"metadata": {"name": "x"}, "spec": {"resourceAttributes": {"verb": "get"}}});
        let Err(ReviewError::Invalid(errs)) = answer(ssar(), &named, &ADMIN, NOW) else {
            panic!("accepted a name");
        };
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "metadata");
        assert!(
            errs[0].message.ends_with(": must be empty"),
            "{}",
            errs[0].message
        );
        // Empty values are Go's zero values.
        let empty = json!({"metadata": {"name": "", "labels": {}, "finalizers": [], "creationTimestamp": null},
            "spec": {"resourceAttributes": {"verb": "get"}}});
        assert!(answer(ssar(), &empty, &ADMIN, NOW).is_ok());
        // Both problems are reported at once.
        let both = json!({"metadata": {"labels": {"a": "b"}}, "spec": {}});
        let Err(ReviewError::Invalid(errs)) = answer(ssar(), &both, &ADMIN, NOW) else {
            panic!("accepted");
        };
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["spec.resourceAttributes", "metadata"]);
    }

    #[test]
    fn rules_review_grants_everything_and_needs_a_namespace() {
        let req = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
            "metadata": {"creationTimestamp": null}, "spec": {"namespace": "default"}});
        let got = answer(ssrr(), &req, &ADMIN, NOW).unwrap();
        assert_eq!(
            got,
            json!({
                "kind": "SelfSubjectRulesReview",
                "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": null},
                "spec": {},
                "status": {
                    "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                    "incomplete": false,
                },
            })
        );
        for bad in [
            json!({"spec": {}}),
            json!({"spec": {"namespace": ""}}),
            json!({}),
        ] {
            assert_eq!(
                answer(ssrr(), &bad, &ADMIN, NOW),
                Err(ReviewError::BadRequest("no namespace on request".into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn subject_review_names_the_caller() {
        let req = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
            "metadata": {"creationTimestamp": null}});
        let got = answer(ssr(), &req, &ADMIN, NOW).unwrap();
        assert_eq!(
            got,
            json!({
                "kind": "SelfSubjectReview",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"creationTimestamp": NOW},
                "status": {"userInfo": {
                    "username": "kumo-admin",
                    "groups": ["system:masters", "system:authenticated"],
                }},
            })
        );
    }

    #[test]
    fn only_reviews_are_answered() {
        let pods = lookup("", "v1", "pods").unwrap();
        assert!(matches!(
            answer(pods, &json!({}), &ADMIN, NOW),
            Err(ReviewError::BadRequest(_))
        ));
        for r in crate::resources::RESOURCES.iter().filter(|r| r.review) {
            let body = json!({"spec": {"namespace": "default", "resourceAttributes": {}}});
            assert!(answer(r, &body, &ADMIN, NOW).is_ok(), "{}", r.kind);
        }
    }
}
