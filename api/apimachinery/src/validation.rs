//! Validation of objects on create and update, with Kubernetes' own error shapes: each
//! problem is a [`FieldError`] (a `StatusCause` of a 422 `Invalid` Status) whose field path
//! and message text are those the Kubernetes API server produces
//! (`k8s.io/kubernetes/pkg/apis/*/validation`, `k8s.io/apimachinery/pkg/util/validation`).
//!
//! Validation runs on the already-defaulted object (see [`crate::defaults`]).

use std::collections::HashSet;
use std::fmt;

use serde_json::{Map, Value};

pub use crate::formats::*;
use crate::selectors::{LabelSelector, from_label_selector_object};

// =============================================================================================
// FieldError
// =============================================================================================

/// One validation failure: a `StatusCause` of a 422 Status
/// (`{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.selector"}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// Field path as Kubernetes names it (`spec.template.spec.containers[0].image`).
    pub field: String,
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueDuplicate`,
    /// `FieldValueNotSupported`, `FieldValueTooLong`, `FieldValueForbidden`,
    /// `FieldValueTooMany` or `FieldValueNotFound`.
    pub reason: &'static str,
    /// The error body (`Invalid value: "X": detail`), without the field path.
    pub message: String,
}

impl FieldError {
    fn new(field: impl Into<String>, reason: &'static str, message: String) -> Self {
        FieldError {
            field: field.into(),
            reason,
            message,
        }
    }

    /// `Required value` or `Required value: <detail>`.
    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        Self::new(
            field,
            "FieldValueRequired",
            with_detail("Required value", detail),
        )
    }

    /// `Invalid value: <value>: <detail>`; `value` is already formatted the way Go prints it
    /// (use [`go_quote`] for strings).
    pub fn invalid(field: impl Into<String>, value: &str, detail: &str) -> Self {
        Self::new(
            field,
            "FieldValueInvalid",
            with_detail(&format!("Invalid value: {value}"), detail),
        )
    }

    /// `Unsupported value: <value>: supported values: "a", "b"`.
    pub fn not_supported(field: impl Into<String>, value: &str, valid: &[&str]) -> Self {
        let detail = if valid.is_empty() {
            String::new()
        } else {
            format!(
                "supported values: {}",
                valid
                    .iter()
                    .map(|v| go_quote(v))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Self::new(
            field,
            "FieldValueNotSupported",
            with_detail(&format!("Unsupported value: {value}"), &detail),
        )
    }

    /// `Duplicate value: <value>`.
    pub fn duplicate(field: impl Into<String>, value: &str) -> Self {
        Self::new(
            field,
            "FieldValueDuplicate",
            format!("Duplicate value: {value}"),
        )
    }

    /// `Not found: <value>`.
    pub fn not_found(field: impl Into<String>, value: &str) -> Self {
        Self::new(field, "FieldValueNotFound", format!("Not found: {value}"))
    }

    /// `Forbidden: <detail>`.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Self::new(
            field,
            "FieldValueForbidden",
            with_detail("Forbidden", detail),
        )
    }

    /// `Too long: may not be more than <max> bytes`.
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        let unit = if max == 1 { "byte" } else { "bytes" };
        Self::new(
            field,
            "FieldValueTooLong",
            format!("Too long: may not be more than {max} {unit}"),
        )
    }

    /// `Too many: <actual>: must have at most <max> items`.
    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Self {
        let unit = if max == 1 { "item" } else { "items" };
        Self::new(
            field,
            "FieldValueTooMany",
            format!("Too many: {actual}: must have at most {max} {unit}"),
        )
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

pub(crate) fn with_detail(head: &str, detail: &str) -> String {
    if detail.is_empty() {
        head.to_string()
    } else {
        format!("{head}: {detail}")
    }
}

/// The message of a 422 Invalid Status, exactly as Kubernetes builds it:
/// `Deployment.apps "web" is invalid: spec.selector: Required value`, or with several
/// (de-duplicated) errors `... is invalid: [a: ..., b: ...]`.
/// `kind` is as Kubernetes prints it, qualified by its group
/// ([`crate::resources::qualified_kind`]).
pub fn format_invalid_message(kind: &str, name: &str, errs: &[FieldError]) -> String {
    let head = format!("{kind} {} is invalid", go_quote(name));
    let mut seen: Vec<String> = Vec::new();
    for e in errs {
        let s = e.to_string();
        if !seen.contains(&s) {
            seen.push(s);
        }
    }
    match seen.len() {
        0 => head,
        1 => format!("{head}: {}", seen[0]),
        _ => format!("{head}: [{}]", seen.join(", ")),
    }
}

// =============================================================================================
// JSON access helpers
// =============================================================================================

pub(crate) fn get<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    v.get(k).filter(|x| !x.is_null())
}

pub(crate) fn gs<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn gi(v: &Value, k: &str) -> Option<i64> {
    let x = v.get(k)?;
    x.as_i64()
        .or_else(|| x.as_f64().map(|f| f as i64))
        .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
}

pub(crate) fn garr<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub(crate) fn gobj<'a>(v: &'a Value, k: &str) -> Option<&'a Map<String, Value>> {
    v.get(k).and_then(Value::as_object)
}

pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = get(cur, p)?;
    }
    Some(cur)
}

static NULL: Value = Value::Null;

pub(crate) fn or_null(v: Option<&Value>) -> &Value {
    v.unwrap_or(&NULL)
}

/// Kubernetes treats nil and empty maps/slices alike (`apiequality.Semantic.DeepEqual`):
/// strips nulls, empty objects and empty arrays before comparing.
pub(crate) fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                let n = normalize(x);
                let empty = match &n {
                    Value::Null => true,
                    Value::Object(o) => o.is_empty(),
                    Value::Array(a) => a.is_empty(),
                    _ => false,
                };
                if !empty {
                    out.insert(k.clone(), n);
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

pub(crate) fn semantic_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    let na = normalize(&serde_json::json!({ "v": or_null(a) }));
    let nb = normalize(&serde_json::json!({ "v": or_null(b) }));
    na == nb
}

/// Validates `metadata.name` for a kind: DNS-1123 subdomain for most kinds, DNS-1123 label
/// for Namespace, DNS-1035 label for Service, a path segment for RBAC kinds.
pub fn validate_name(kind: &str, name: &str) -> Vec<FieldError> {
    name_fn(kind)(name, false)
        .into_iter()
        .map(|m| FieldError::invalid("metadata.name", &go_quote(name), &m))
        .collect()
}

// =============================================================================================
// ObjectMeta
// =============================================================================================

/// Total size limit of `metadata.annotations` (keys plus values).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

pub(crate) fn validate_labels(labels: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let Some(m) = labels.and_then(Value::as_object) else {
        return;
    };
    for (k, v) in m {
        for msg in is_qualified_name(k) {
            errs.push(FieldError::invalid(path, &go_quote(k), &msg));
        }
        let v = value_str(v);
        for msg in is_valid_label_value(&v) {
            errs.push(FieldError::invalid(path, &go_quote(&v), &msg));
        }
    }
}

pub(crate) fn validate_annotations(ann: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let Some(m) = ann.and_then(Value::as_object) else {
        return;
    };
    let mut total = 0usize;
    for (k, v) in m {
        for msg in is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path, &go_quote(k), &msg));
        }
        total += k.len() + value_str(v).len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
}

pub(crate) fn validate_finalizers(fin: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let list: Vec<String> = fin
        .and_then(Value::as_array)
        .map(|a| a.iter().map(value_str).collect())
        .unwrap_or_default();
    for f in &list {
        for msg in is_qualified_name(f) {
            errs.push(FieldError::invalid(path, &go_quote(f), &msg));
        }
    }
    if list.iter().any(|f| f == "orphan") && list.iter().any(|f| f == "foregroundDeletion") {
        errs.push(FieldError::invalid(
            path,
            &go_string_slice(&list),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
}

pub(crate) fn validate_owner_references(
    refs: Option<&Value>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let Some(a) = refs.and_then(Value::as_array) else {
        return;
    };
    let mut controller: Option<String> = None;
    for r in a {
        let api_version = gs(r, "apiVersion");
        let version = api_version.rsplit('/').next().unwrap_or("");
        if version.is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.apiVersion"),
                &go_quote(api_version),
                "version must not be empty",
            ));
        }
        if gs(r, "kind").is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.kind"),
                "\"\"",
                "must not be empty",
            ));
        }
        if gs(r, "name").is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.name"),
                "\"\"",
                "must not be empty",
            ));
        }
        if gs(r, "uid").is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.uid"),
                "\"\"",
                "must not be empty",
            ));
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            let name = gs(r, "name").to_string();
            if let Some(prev) = &controller {
                errs.push(FieldError::invalid(
                    path,
                    &r.to_string(),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {prev} and {name}"
                    ),
                ));
            } else {
                controller = Some(name);
            }
        }
    }
}

/// Validates `metadata` on create (`ValidateObjectMeta`): name (or generateName) required
/// and well-formed for the kind, namespace required for namespaced kinds and forbidden
/// otherwise, labels, annotations (keys and a 256 KiB total), finalizers, ownerReferences.
pub fn validate_object_meta(kind: &str, namespaced: bool, meta: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let nf = name_fn(kind);
    let generate_name = gs(meta, "generateName");
    if !generate_name.is_empty() {
        for msg in nf(generate_name, true) {
            errs.push(FieldError::invalid(
                "metadata.generateName",
                &go_quote(generate_name),
                &msg,
            ));
        }
    }
    let name = gs(meta, "name");
    if name.is_empty() {
        if generate_name.is_empty() {
            errs.push(FieldError::required(
                "metadata.name",
                "name or generateName is required",
            ));
        }
    } else {
        for msg in nf(name, false) {
            errs.push(FieldError::invalid("metadata.name", &go_quote(name), &msg));
        }
    }
    let ns = gs(meta, "namespace");
    if namespaced {
        if ns.is_empty() {
            errs.push(FieldError::required("metadata.namespace", ""));
        } else {
            for msg in is_dns1123_label(ns) {
                errs.push(FieldError::invalid(
                    "metadata.namespace",
                    &go_quote(ns),
                    &msg,
                ));
            }
        }
    } else if !ns.is_empty() {
        errs.push(FieldError::forbidden(
            "metadata.namespace",
            "not allowed on this type",
        ));
    }
    if let Some(g) = gi(meta, "generation")
        && g < 0
    {
        errs.push(FieldError::invalid(
            "metadata.generation",
            &g.to_string(),
            IS_NEGATIVE,
        ));
    }
    validate_labels(meta.get("labels"), "metadata.labels", &mut errs);
    validate_annotations(meta.get("annotations"), "metadata.annotations", &mut errs);
    validate_owner_references(
        meta.get("ownerReferences"),
        "metadata.ownerReferences",
        &mut errs,
    );
    validate_finalizers(meta.get("finalizers"), "metadata.finalizers", &mut errs);
    errs
}

pub(crate) const FIELD_IMMUTABLE: &str = "field is immutable";
pub(crate) const IS_NEGATIVE: &str = "must be greater than or equal to 0";

pub(crate) fn go_time(v: Option<&Value>) -> String {
    match v.and_then(Value::as_str) {
        Some(s) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) => t
                .with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S +0000 UTC")
                .to_string(),
            Err(_) => go_quote(s),
        },
        None => "0001-01-01 00:00:00 +0000 UTC".to_string(),
    }
}

pub(crate) fn validate_object_meta_update(old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (key, path) in [
        ("name", "metadata.name"),
        ("namespace", "metadata.namespace"),
    ] {
        if gs(old, key) != gs(new, key) {
            errs.push(FieldError::invalid(
                path,
                &go_quote(gs(new, key)),
                FIELD_IMMUTABLE,
            ));
        }
    }
    // An update without a uid keeps the stored one (rest.BeforeUpdate).
    let new_uid = gs(new, "uid");
    if !new_uid.is_empty() && new_uid != gs(old, "uid") {
        errs.push(FieldError::invalid(
            "metadata.uid",
            &go_quote(new_uid),
            FIELD_IMMUTABLE,
        ));
    }
    let new_ct = get(new, "creationTimestamp");
    if let (Some(n), Some(o)) = (new_ct, get(old, "creationTimestamp"))
        && !same_time(n, o)
    {
        errs.push(FieldError::invalid(
            "metadata.creationTimestamp",
            &go_time(Some(n)),
            FIELD_IMMUTABLE,
        ));
    }
    if get(old, "deletionTimestamp").is_some() {
        let old_f: Vec<String> = garr(old, "finalizers").iter().map(value_str).collect();
        for f in garr(new, "finalizers").iter().map(value_str) {
            if !old_f.contains(&f) {
                errs.push(FieldError::forbidden(
                    "metadata.finalizers",
                    &format!("no new finalizers can be added if the object is being deleted, found new finalizers {}", go_string_slice(&[f])),
                ));
            }
        }
    }
    validate_labels(new.get("labels"), "metadata.labels", &mut errs);
    validate_annotations(new.get("annotations"), "metadata.annotations", &mut errs);
    validate_owner_references(
        new.get("ownerReferences"),
        "metadata.ownerReferences",
        &mut errs,
    );
    validate_finalizers(new.get("finalizers"), "metadata.finalizers", &mut errs);
    errs
}

pub(crate) fn same_time(a: &Value, b: &Value) -> bool {
    match (a.as_str(), b.as_str()) {
        (Some(x), Some(y)) => match (
            chrono::DateTime::parse_from_rfc3339(x),
            chrono::DateTime::parse_from_rfc3339(y),
        ) {
            (Ok(p), Ok(q)) => p == q,
            _ => x == y,
        },
        _ => a == b,
    }
}

// =============================================================================================
// Quantities
// =============================================================================================

/// Parses a Kubernetes resource quantity (`100m`, `1.5Gi`, `2e3`) into nano-units
/// (value × 10⁹, rounded up). `None` when the string is not a valid quantity or overflows.
pub fn parse_quantity(s: &str) -> Option<i128> {
    let s = s.trim();
    let (neg, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let num_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (num, suffix) = rest.split_at(num_end);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return None;
    }
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    let digits = format!("{int_part}{frac_part}");
    let mut mantissa: i128 = 0;
    for c in digits.bytes() {
        mantissa = mantissa
            .checked_mul(10)?
            .checked_add(i128::from(c - b'0'))?;
    }
    let frac_digits = i32::try_from(frac_part.len()).ok()?;
    // value = mantissa * mult * 10^(exp10 - frac_digits)
    let (mult, exp10): (i128, i32) = match suffix {
        "" => (1, 0),
        "n" => (1, -9),
        "u" => (1, -6),
        "m" => (1, -3),
        "k" => (1, 3),
        "M" => (1, 6),
        "G" => (1, 9),
        "T" => (1, 12),
        "P" => (1, 15),
        "E" => (1, 18),
        "Ki" => (1 << 10, 0),
        "Mi" => (1 << 20, 0),
        "Gi" => (1 << 30, 0),
        "Ti" => (1 << 40, 0),
        "Pi" => (1 << 50, 0),
        "Ei" => (1 << 60, 0),
        s if s.starts_with(['e', 'E']) => {
            let e: i32 = s[1..].parse().ok()?;
            if !(-40..=40).contains(&e) {
                return None;
            }
            (1, e)
        }
        _ => return None,
    };
    let scale = 9 + exp10 - frac_digits;
    let base = mantissa.checked_mul(mult)?;
    let nanos = if scale >= 0 {
        base.checked_mul(10i128.checked_pow(u32::try_from(scale).ok()?)?)?
    } else {
        let d = 10i128.checked_pow(u32::try_from(-scale).ok()?)?;
        (base + d - 1) / d
    };
    Some(if neg { -nanos } else { nanos })
}

pub(crate) const QUANTITY_REGEX_MSG: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

pub(crate) fn validate_resources(res: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let Some(res) = res else { return };
    let limits = gobj(res, "limits");
    let requests = gobj(res, "requests");
    if let Some(l) = limits {
        for (name, q) in l {
            let qs = value_str(q);
            let p = format!("{path}.limits[{name}]");
            match parse_quantity(&qs) {
                None => errs.push(FieldError::invalid(p, &go_quote(&qs), QUANTITY_REGEX_MSG)),
                Some(n) if n < 0 => errs.push(FieldError::invalid(p, &go_quote(&qs), IS_NEGATIVE)),
                _ => {}
            }
        }
    }
    if let Some(r) = requests {
        for (name, q) in r {
            let qs = value_str(q);
            let p = format!("{path}.requests[{name}]");
            let parsed = parse_quantity(&qs);
            match parsed {
                None => errs.push(FieldError::invalid(&p, &go_quote(&qs), QUANTITY_REGEX_MSG)),
                Some(n) if n < 0 => errs.push(FieldError::invalid(&p, &go_quote(&qs), IS_NEGATIVE)),
                _ => {}
            }
            let lim = limits.and_then(|l| l.get(name));
            if let (Some(req), Some(lim)) = (parsed, lim) {
                let ls = value_str(lim);
                if let Some(limn) = parse_quantity(&ls) {
                    let overcommit_ok = !name.starts_with("hugepages-")
                        && (name == "cpu"
                            || name == "memory"
                            || name == "ephemeral-storage"
                            || !name.contains('/'));
                    if !overcommit_ok && req != limn {
                        errs.push(FieldError::invalid(
                            format!("{path}.requests"),
                            &go_quote(&qs),
                            &format!("must be equal to {name} limit of {ls}"),
                        ));
                    } else if req > limn {
                        errs.push(FieldError::invalid(
                            format!("{path}.requests"),
                            &go_quote(&qs),
                            &format!("must be less than or equal to {name} limit of {ls}"),
                        ));
                    }
                }
            }
        }
    }
}

// =============================================================================================
// Pod spec
// =============================================================================================

pub(crate) const SUPPORTED_PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

#[derive(Default, Clone, Copy)]
pub(crate) struct PodCtx<'a> {
    /// Volume names usable in mounts besides `spec.volumes` (StatefulSet claim templates).
    extra_volumes: &'a [String],
    /// A Job's pod template: restartPolicy is checked by the Job validation instead.
    job_template: bool,
}

pub(crate) fn validate_port_num_or_name(v: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    match v {
        Some(Value::String(s)) => {
            for m in is_valid_port_name(s) {
                errs.push(FieldError::invalid(path, &go_quote(s), &m));
            }
        }
        Some(x) => {
            let n = x.as_i64().unwrap_or(0);
            for m in is_valid_port_num(n) {
                errs.push(FieldError::invalid(path, &n.to_string(), &m));
            }
        }
        None => {
            for m in is_valid_port_num(0) {
                errs.push(FieldError::invalid(path, "0", &m));
            }
        }
    }
}

pub(crate) fn validate_handler(h: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let kinds = ["exec", "httpGet", "tcpSocket", "grpc", "sleep"];
    let mut n = 0;
    for k in kinds {
        let Some(x) = get(h, k) else { continue };
        let p = format!("{path}.{k}");
        if n > 0 {
            errs.push(FieldError::forbidden(
                p,
                "may not specify more than 1 handler type",
            ));
            continue;
        }
        n += 1;
        match k {
            "exec" if garr(x, "command").is_empty() => {
                errs.push(FieldError::required(format!("{p}.command"), ""));
            }
            "httpGet" => {
                if gs(x, "path").is_empty() {
                    errs.push(FieldError::required(format!("{p}.path"), ""));
                }
                validate_port_num_or_name(get(x, "port"), &format!("{p}.port"), errs);
                let scheme = gs(x, "scheme");
                if !scheme.is_empty() && scheme != "HTTP" && scheme != "HTTPS" {
                    errs.push(FieldError::not_supported(
                        format!("{p}.scheme"),
                        &go_quote(scheme),
                        &["HTTP", "HTTPS"],
                    ));
                }
            }
            "tcpSocket" => {
                validate_port_num_or_name(get(x, "port"), &format!("{p}.port"), errs);
            }
            "grpc" => {
                let port = gi(x, "port").unwrap_or(0);
                for m in is_valid_port_num(port) {
                    errs.push(FieldError::invalid(
                        format!("{p}.port"),
                        &port.to_string(),
                        &m,
                    ));
                }
            }
            _ => {}
        }
    }
    if n == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
}

pub(crate) fn validate_probe(
    probe: Option<&Value>,
    path: &str,
    kind: &str,
    errs: &mut Vec<FieldError>,
) {
    let Some(p) = probe else { return };
    validate_handler(p, path, errs);
    for f in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        if let Some(v) = gi(p, f)
            && v < 0
        {
            errs.push(FieldError::invalid(
                format!("{path}.{f}"),
                &v.to_string(),
                IS_NEGATIVE,
            ));
        }
    }
    if kind != "readiness"
        && let Some(s) = gi(p, "successThreshold")
        && s != 1
    {
        errs.push(FieldError::invalid(
            format!("{path}.successThreshold"),
            &s.to_string(),
            "must be 1",
        ));
    }
    if let Some(t) = gi(p, "terminationGracePeriodSeconds") {
        if kind == "readiness" {
            errs.push(FieldError::invalid(
                format!("{path}.terminationGracePeriodSeconds"),
                &t.to_string(),
                "must not be set for readinessProbes",
            ));
        } else if t <= 0 {
            errs.push(FieldError::invalid(
                format!("{path}.terminationGracePeriodSeconds"),
                &t.to_string(),
                "must be greater than 0",
            ));
        }
    }
}

pub(crate) fn validate_container_common(
    c: &Value,
    path: &str,
    volumes: &HashSet<String>,
    errs: &mut Vec<FieldError>,
) {
    let name = gs(c, "name");
    if name.is_empty() {
        errs.push(FieldError::required(format!("{path}.name"), ""));
    } else {
        for m in is_dns1123_label(name) {
            errs.push(FieldError::invalid(
                format!("{path}.name"),
                &go_quote(name),
                &m,
            ));
        }
    }
    if gs(c, "image").is_empty() {
        errs.push(FieldError::required(format!("{path}.image"), ""));
    }
    if let Some(tmp) = c.get("terminationMessagePolicy").and_then(Value::as_str) {
        match tmp {
            "File" | "FallbackToLogsOnError" => {}
            "" => errs.push(FieldError::required(
                format!("{path}.terminationMessagePolicy"),
                "must be 'File' or 'FallbackToLogsOnError'",
            )),
            other => errs.push(FieldError::not_supported(
                format!("{path}.terminationMessagePolicy"),
                &go_quote(other),
                &["File", "FallbackToLogsOnError"],
            )),
        }
    }
    // ports
    let mut port_names: HashSet<&str> = HashSet::new();
    for (i, p) in garr(c, "ports").iter().enumerate() {
        let pp = format!("{path}.ports[{i}]");
        let pname = gs(p, "name");
        if !pname.is_empty() {
            let msgs = is_valid_port_name(pname);
            if !msgs.is_empty() {
                for m in msgs {
                    errs.push(FieldError::invalid(
                        format!("{pp}.name"),
                        &go_quote(pname),
                        &m,
                    ));
                }
            } else if !port_names.insert(pname) {
                errs.push(FieldError::duplicate(
                    format!("{pp}.name"),
                    &go_quote(pname),
                ));
            }
        }
        let cp = gi(p, "containerPort").unwrap_or(0);
        if cp == 0 {
            errs.push(FieldError::required(format!("{pp}.containerPort"), ""));
        } else {
            for m in is_valid_port_num(cp) {
                errs.push(FieldError::invalid(
                    format!("{pp}.containerPort"),
                    &cp.to_string(),
                    &m,
                ));
            }
        }
        let hp = gi(p, "hostPort").unwrap_or(0);
        if hp != 0 {
            for m in is_valid_port_num(hp) {
                errs.push(FieldError::invalid(
                    format!("{pp}.hostPort"),
                    &hp.to_string(),
                    &m,
                ));
            }
        }
        match p.get("protocol").and_then(Value::as_str) {
            None | Some("") => errs.push(FieldError::required(format!("{pp}.protocol"), "")),
            Some(proto) if !SUPPORTED_PROTOCOLS.contains(&proto) => {
                errs.push(FieldError::not_supported(
                    format!("{pp}.protocol"),
                    &go_quote(proto),
                    SUPPORTED_PROTOCOLS,
                ));
            }
            _ => {}
        }
    }
    // env
    for (i, e) in garr(c, "env").iter().enumerate() {
        let ep = format!("{path}.env[{i}].name");
        let n = gs(e, "name");
        if n.is_empty() {
            errs.push(FieldError::required(&ep, ""));
        }
        for m in is_relaxed_env_var_name(n) {
            errs.push(FieldError::invalid(&ep, &go_quote(n), &m));
        }
    }
    // volume mounts
    let mut mount_points: HashSet<&str> = HashSet::new();
    for (i, m) in garr(c, "volumeMounts").iter().enumerate() {
        let mp = format!("{path}.volumeMounts[{i}]");
        let n = gs(m, "name");
        if n.is_empty() {
            errs.push(FieldError::required(format!("{mp}.name"), ""));
        }
        if !volumes.contains(n) {
            errs.push(FieldError::not_found(format!("{mp}.name"), &go_quote(n)));
        }
        let mount_path = gs(m, "mountPath");
        if mount_path.is_empty() {
            errs.push(FieldError::required(format!("{mp}.mountPath"), ""));
        }
        if !mount_points.insert(mount_path) {
            errs.push(FieldError::invalid(
                format!("{mp}.mountPath"),
                &go_quote(mount_path),
                "must be unique",
            ));
        }
        let sub = gs(m, "subPath");
        if !sub.is_empty() && (sub.starts_with('/') || sub.split('/').any(|s| s == "..")) {
            let msg = if sub.starts_with('/') {
                "must be a relative path"
            } else {
                "must not contain '..'"
            };
            errs.push(FieldError::invalid(
                format!("{mp}.subPath"),
                &go_quote(sub),
                msg,
            ));
        }
    }
    if let Some(pp) = c.get("imagePullPolicy").and_then(Value::as_str) {
        match pp {
            "Always" | "IfNotPresent" | "Never" => {}
            "" => errs.push(FieldError::required(format!("{path}.imagePullPolicy"), "")),
            other => errs.push(FieldError::not_supported(
                format!("{path}.imagePullPolicy"),
                &go_quote(other),
                &["Always", "IfNotPresent", "Never"],
            )),
        }
    }
    validate_resources(get(c, "resources"), &format!("{path}.resources"), errs);
}

pub(crate) fn validate_volumes(
    spec: &Value,
    path: &str,
    errs: &mut Vec<FieldError>,
) -> HashSet<String> {
    let mut names: HashSet<String> = HashSet::new();
    for (i, v) in garr(spec, "volumes").iter().enumerate() {
        let vp = format!("{path}.volumes[{i}]");
        let mut el = Vec::new();
        let mut n_sources = 0;
        if let Some(m) = v.as_object() {
            for (k, src) in m {
                if k == "name" || src.is_null() {
                    continue;
                }
                if n_sources > 0 {
                    el.push(FieldError::forbidden(
                        format!("{vp}.{k}"),
                        "may not specify more than 1 volume type",
                    ));
                    continue;
                }
                n_sources += 1;
                let sp = format!("{vp}.{k}");
                let required_key = match k.as_str() {
                    "secret" => Some("secretName"),
                    "configMap" => Some("name"),
                    "persistentVolumeClaim" => Some("claimName"),
                    "hostPath" => Some("path"),
                    "nfs" => None,
                    _ => None,
                };
                if let Some(rk) = required_key
                    && gs(src, rk).is_empty()
                {
                    el.push(FieldError::required(format!("{sp}.{rk}"), ""));
                }
                if k == "nfs" {
                    if gs(src, "server").is_empty() {
                        el.push(FieldError::required(format!("{sp}.server"), ""));
                    }
                    let p = gs(src, "path");
                    if p.is_empty() {
                        el.push(FieldError::required(format!("{sp}.path"), ""));
                    } else if !p.starts_with('/') {
                        el.push(FieldError::invalid(
                            format!("{sp}.path"),
                            &go_quote(p),
                            "must be an absolute path",
                        ));
                    }
                }
                if let Some(mode) = gi(src, "defaultMode")
                    && !(0..=0o777).contains(&mode)
                {
                    el.push(FieldError::invalid(
                        format!("{sp}.defaultMode"),
                        &mode.to_string(),
                        "must be a number between 0 and 0777 (octal), both inclusive",
                    ));
                }
            }
        }
        if n_sources == 0 {
            el.push(FieldError::required(&vp, "must specify a volume type"));
        }
        let name = gs(v, "name");
        if name.is_empty() {
            el.push(FieldError::required(format!("{vp}.name"), ""));
        } else {
            for m in is_dns1123_label(name) {
                el.push(FieldError::invalid(
                    format!("{vp}.name"),
                    &go_quote(name),
                    &m,
                ));
            }
        }
        if names.contains(name) {
            el.push(FieldError::duplicate(format!("{vp}.name"), &go_quote(name)));
        }
        if el.is_empty() {
            names.insert(name.to_string());
        } else {
            errs.extend(el);
        }
    }
    names
}

pub(crate) fn validate_pod_spec(
    spec: &Value,
    path: &str,
    ctx: PodCtx<'_>,
    errs: &mut Vec<FieldError>,
) {
    let mut volumes = validate_volumes(spec, path, errs);
    volumes.extend(ctx.extra_volumes.iter().cloned());

    // containers
    let containers = garr(spec, "containers");
    let cpath = format!("{path}.containers");
    let mut all_names: HashSet<String> = HashSet::new();
    if containers.is_empty() {
        errs.push(FieldError::required(&cpath, ""));
    } else {
        for (i, c) in containers.iter().enumerate() {
            let p = format!("{cpath}[{i}]");
            validate_container_common(c, &p, &volumes, errs);
            let name = gs(c, "name");
            if !all_names.insert(name.to_string()) {
                errs.push(FieldError::duplicate(format!("{p}.name"), &go_quote(name)));
            }
            validate_probe(
                get(c, "livenessProbe"),
                &format!("{p}.livenessProbe"),
                "liveness",
                errs,
            );
            validate_probe(
                get(c, "readinessProbe"),
                &format!("{p}.readinessProbe"),
                "readiness",
                errs,
            );
            validate_probe(
                get(c, "startupProbe"),
                &format!("{p}.startupProbe"),
                "startup",
                errs,
            );
        }
    }
    // init containers
    for (i, c) in garr(spec, "initContainers").iter().enumerate() {
        let p = format!("{path}.initContainers[{i}]");
        validate_container_common(c, &p, &volumes, errs);
        let name = gs(c, "name");
        if !all_names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(format!("{p}.name"), &go_quote(name)));
        }
        let sidecar = gs(c, "restartPolicy") == "Always";
        match c.get("restartPolicy").and_then(Value::as_str) {
            None | Some("Always") => {}
            Some(other) => errs.push(FieldError::not_supported(
                format!("{p}.restartPolicy"),
                &go_quote(other),
                &["Always"],
            )),
        }
        if sidecar {
            validate_probe(
                get(c, "livenessProbe"),
                &format!("{p}.livenessProbe"),
                "liveness",
                errs,
            );
            validate_probe(
                get(c, "readinessProbe"),
                &format!("{p}.readinessProbe"),
                "readiness",
                errs,
            );
            validate_probe(
                get(c, "startupProbe"),
                &format!("{p}.startupProbe"),
                "startup",
                errs,
            );
        } else {
            for f in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if get(c, f).is_some() {
                    errs.push(FieldError::forbidden(
                        format!("{p}.{f}"),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
    // restartPolicy
    let rp = gs(spec, "restartPolicy");
    match rp {
        "Always" | "OnFailure" | "Never" => {}
        "" => {
            if !ctx.job_template {
                errs.push(FieldError::required(format!("{path}.restartPolicy"), ""));
            }
        }
        other => errs.push(FieldError::not_supported(
            format!("{path}.restartPolicy"),
            &go_quote(other),
            &["Always", "OnFailure", "Never"],
        )),
    }
    // dnsPolicy
    match gs(spec, "dnsPolicy") {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(FieldError::required(format!("{path}.dnsPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            format!("{path}.dnsPolicy"),
            &go_quote(other),
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    validate_labels(
        spec.get("nodeSelector"),
        &format!("{path}.nodeSelector"),
        errs,
    );
    let sa = gs(spec, "serviceAccountName");
    if !sa.is_empty() {
        for m in is_dns1123_subdomain(sa) {
            errs.push(FieldError::invalid(
                format!("{path}.serviceAccountName"),
                &go_quote(sa),
                &m,
            ));
        }
    }
    let node = gs(spec, "nodeName");
    if !node.is_empty() {
        for m in is_dns1123_subdomain(node) {
            errs.push(FieldError::invalid(
                format!("{path}.nodeName"),
                &go_quote(node),
                &m,
            ));
        }
    }
    if let Some(ads) = gi(spec, "activeDeadlineSeconds")
        && !(1..=i64::from(i32::MAX)).contains(&ads)
    {
        errs.push(FieldError::invalid(
            format!("{path}.activeDeadlineSeconds"),
            &ads.to_string(),
            &inclusive_range_error(1, i64::from(i32::MAX)),
        ));
    }
    for f in ["hostname", "subdomain"] {
        let v = gs(spec, f);
        if !v.is_empty() {
            for m in is_dns1123_label(v) {
                errs.push(FieldError::invalid(format!("{path}.{f}"), &go_quote(v), &m));
            }
        }
    }
    for (i, t) in garr(spec, "tolerations").iter().enumerate() {
        let tp = format!("{path}.tolerations[{i}]");
        let key = gs(t, "key");
        let op = gs(t, "operator");
        let effect = gs(t, "effect");
        if !key.is_empty() {
            for m in is_qualified_name(key) {
                errs.push(FieldError::invalid(format!("{tp}.key"), &go_quote(key), &m));
            }
        }
        if key.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                format!("{tp}.operator"),
                &go_quote(op),
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if get(t, "tolerationSeconds").is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                format!("{tp}.effect"),
                &go_quote(effect),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "Equal" | "" => {
                let v = gs(t, "value");
                for m in is_valid_label_value(v) {
                    errs.push(FieldError::invalid(
                        format!("{tp}.operator"),
                        &go_quote(v),
                        &m,
                    ));
                }
            }
            "Exists" => {
                if !gs(t, "value").is_empty() {
                    errs.push(FieldError::invalid(
                        format!("{tp}.operator"),
                        &t.to_string(),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                format!("{tp}.operator"),
                &go_quote(other),
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect)
        {
            errs.push(FieldError::not_supported(
                format!("{tp}.effect"),
                &go_quote(effect),
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
    let pcn = gs(spec, "priorityClassName");
    if !pcn.is_empty() {
        for m in is_dns1123_subdomain(pcn) {
            errs.push(FieldError::invalid(
                format!("{path}.priorityClassName"),
                &go_quote(pcn),
                &m,
            ));
        }
    }
    let sched = gs(spec, "schedulerName");
    if !sched.is_empty() {
        for m in is_dns1123_subdomain(sched) {
            errs.push(FieldError::invalid(
                format!("{path}.schedulerName"),
                &go_quote(sched),
                &m,
            ));
        }
    }
}

pub(crate) fn validate_pod_template(
    tmpl: Option<&Value>,
    path: &str,
    ctx: PodCtx<'_>,
    errs: &mut Vec<FieldError>,
) {
    let t = or_null(tmpl);
    let meta = or_null(get(t, "metadata"));
    validate_labels(meta.get("labels"), &format!("{path}.labels"), errs);
    validate_annotations(
        meta.get("annotations"),
        &format!("{path}.annotations"),
        errs,
    );
    validate_pod_spec(or_null(get(t, "spec")), &format!("{path}.spec"), ctx, errs);
    if !garr(or_null(get(t, "spec")), "ephemeralContainers").is_empty() {
        errs.push(FieldError::forbidden(
            format!("{path}.spec.ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
}

// =============================================================================================
// Workloads
// =============================================================================================

pub(crate) fn validate_label_selector_object(sel: &Value, path: &str, errs: &mut Vec<FieldError>) {
    validate_labels(sel.get("matchLabels"), &format!("{path}.matchLabels"), errs);
    for (i, e) in garr(sel, "matchExpressions").iter().enumerate() {
        let ep = format!("{path}.matchExpressions[{i}]");
        let values = garr(e, "values");
        match gs(e, "operator") {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        format!("{ep}.values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        format!("{ep}.values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(FieldError::invalid(
                format!("{ep}.operator"),
                &go_quote(other),
                "not a valid selector operator",
            )),
        }
        let key = gs(e, "key");
        for m in is_qualified_name(key) {
            errs.push(FieldError::invalid(format!("{ep}.key"), &go_quote(key), &m));
        }
        for (j, v) in values.iter().enumerate() {
            let v = value_str(v);
            for m in is_valid_label_value(&v) {
                errs.push(FieldError::invalid(
                    format!("{ep}.values[{j}]"),
                    &go_quote(&v),
                    &m,
                ));
            }
        }
    }
}

pub(crate) fn selector_is_empty(sel: &Value) -> bool {
    gobj(sel, "matchLabels").is_none_or(Map::is_empty) && garr(sel, "matchExpressions").is_empty()
}

pub(crate) fn template_labels(spec: &Value) -> Option<&Map<String, Value>> {
    at(spec, &["template", "metadata", "labels"]).and_then(Value::as_object)
}

/// Checks the template labels against the selector (`nothing` when the selector is absent).
pub(crate) fn check_template_matches(
    sel: Result<LabelSelector, crate::selectors::SelectorError>,
    spec: &Value,
    path: &str,
    errs: &mut Vec<FieldError>,
) -> bool {
    let Ok(sel) = sel else { return false };
    if sel.is_empty() {
        return true;
    }
    let empty = Map::new();
    let labels = template_labels(spec);
    if !sel.matches(labels.unwrap_or(&empty)) {
        errs.push(FieldError::invalid(
            format!("{path}.template.metadata.labels"),
            &go_string_map(labels),
            "`selector` does not match template `labels`",
        ));
    }
    true
}

pub(crate) fn nonneg(v: &Value, key: &str, path: &str, errs: &mut Vec<FieldError>) {
    if let Some(n) = gi(v, key)
        && n < 0
    {
        errs.push(FieldError::invalid(
            format!("{path}.{key}"),
            &n.to_string(),
            IS_NEGATIVE,
        ));
    }
}

pub(crate) fn validate_replicated_spec(kind: &str, spec: &Value, errs: &mut Vec<FieldError>) {
    let what = match kind {
        "StatefulSet" => "statefulset",
        "DaemonSet" => "daemonset",
        _ => "deployment",
    };
    if kind != "DaemonSet" {
        nonneg(spec, "replicas", "spec", errs);
    }
    if kind == "StatefulSet" {
        match gs(spec, "podManagementPolicy") {
            "" => errs.push(FieldError::required("spec.podManagementPolicy", "")),
            "OrderedReady" | "Parallel" => {}
            other => errs.push(FieldError::invalid(
                "spec.podManagementPolicy",
                &go_quote(other),
                "must be 'OrderedReady' or 'Parallel'",
            )),
        }
        let us = or_null(get(spec, "updateStrategy"));
        match gs(us, "type") {
            "" => errs.push(FieldError::required("spec.updateStrategy", "")),
            "OnDelete" => {
                if get(us, "rollingUpdate").is_some() {
                    errs.push(FieldError::invalid(
                        "spec.updateStrategy.rollingUpdate",
                        &or_null(get(us, "rollingUpdate")).to_string(),
                        "only allowed for updateStrategy 'RollingUpdate'",
                    ));
                }
            }
            "RollingUpdate" => {
                if let Some(ru) = get(us, "rollingUpdate") {
                    nonneg(ru, "partition", "spec.updateStrategy.rollingUpdate", errs);
                }
            }
            _ => errs.push(FieldError::invalid(
                "spec.updateStrategy",
                &us.to_string(),
                "must be 'RollingUpdate' or 'OnDelete'",
            )),
        }
        if let Some(p) = get(spec, "persistentVolumeClaimRetentionPolicy") {
            for f in ["whenDeleted", "whenScaled"] {
                let v = gs(p, f);
                if !["Retain", "Delete"].contains(&v) {
                    errs.push(FieldError::not_supported(
                        format!("spec.persistentVolumeClaimRetentionPolicy.{f}"),
                        &go_quote(v),
                        &["Retain", "Delete"],
                    ));
                }
            }
        }
    }
    nonneg(spec, "minReadySeconds", "spec", errs);
    nonneg(spec, "revisionHistoryLimit", "spec", errs);

    let sel_v = or_null(get(spec, "selector"));
    if kind == "DaemonSet" {
        if !sel_v.is_null() {
            validate_label_selector_object(sel_v, "spec.selector", errs);
        }
        let parsed = from_label_selector_object(sel_v);
        if let Ok(sel) = &parsed
            && !sel.matches(template_labels(spec).unwrap_or(&Map::new()))
        {
            errs.push(FieldError::invalid(
                "spec.template.metadata.labels",
                &go_string_map(template_labels(spec)),
                "`selector` does not match template `labels`",
            ));
        }
        if !sel_v.is_null() && selector_is_empty(sel_v) {
            errs.push(FieldError::invalid(
                "spec.selector",
                &go_label_selector(sel_v),
                "empty selector is invalid for daemonset",
            ));
        }
    } else {
        if sel_v.is_null() {
            errs.push(FieldError::required("spec.selector", ""));
        } else {
            validate_label_selector_object(sel_v, "spec.selector", errs);
            if selector_is_empty(sel_v) {
                errs.push(FieldError::invalid(
                    "spec.selector",
                    &go_label_selector(sel_v),
                    &format!("empty selector is invalid for {what}"),
                ));
            }
        }
        let parsed = from_label_selector_object(sel_v);
        if parsed.is_err() {
            let detail = if kind == "StatefulSet" {
                ""
            } else {
                "invalid label selector"
            };
            errs.push(FieldError::invalid(
                "spec.selector",
                &go_label_selector(sel_v),
                detail,
            ));
        } else {
            check_template_matches(parsed, spec, "spec", errs);
        }
    }

    let claim_names: Vec<String> = garr(spec, "volumeClaimTemplates")
        .iter()
        .map(|c| gs(or_null(get(c, "metadata")), "name").to_string())
        .collect();
    let ctx = PodCtx {
        extra_volumes: if kind == "StatefulSet" {
            &claim_names
        } else {
            &[]
        },
        job_template: false,
    };
    validate_pod_template(get(spec, "template"), "spec.template", ctx, errs);
    let tspec = or_null(at(spec, &["template", "spec"]));
    let rp = gs(tspec, "restartPolicy");
    if rp != "Always" {
        errs.push(FieldError::not_supported(
            "spec.template.spec.restartPolicy",
            &go_quote(rp),
            &["Always"],
        ));
    }
    if let Some(ads) = get(tspec, "activeDeadlineSeconds") {
        let name = match kind {
            "StatefulSet" => "StatefulSet",
            "DaemonSet" => "DaemonSet",
            _ => "ReplicaSet",
        };
        let detail = format!("activeDeadlineSeconds in {name} is not Supported");
        if kind == "StatefulSet" {
            errs.push(FieldError::forbidden(
                "spec.template.spec.activeDeadlineSeconds",
                &detail,
            ));
        } else {
            errs.push(FieldError::invalid(
                "spec.template.spec.activeDeadlineSeconds",
                &go_value(Some(ads)),
                &detail,
            ));
        }
    }
    if kind == "Deployment" {
        validate_deployment_strategy(or_null(get(spec, "strategy")), errs);
        if let (Some(pds), Some(mrs)) = (
            gi(spec, "progressDeadlineSeconds"),
            gi(spec, "minReadySeconds"),
        ) && pds <= mrs
        {
            errs.push(FieldError::invalid(
                "spec.progressDeadlineSeconds",
                &pds.to_string(),
                "must be greater than minReadySeconds",
            ));
        }
    }
    if kind == "DaemonSet" {
        let us = or_null(get(spec, "updateStrategy"));
        match gs(us, "type") {
            "OnDelete" | "RollingUpdate" => {}
            other => errs.push(FieldError::not_supported(
                "spec.updateStrategy",
                &go_quote(other),
                &["OnDelete", "RollingUpdate"],
            )),
        }
    }
}

/// `ValidateReplicationControllerSpec`: the selector is a plain label map that must not be
/// empty and must match the template's labels; the template is required, restarts `Always`
/// and has no `activeDeadlineSeconds`.
pub(crate) fn validate_replication_controller_spec(spec: &Value, errs: &mut Vec<FieldError>) {
    nonneg(spec, "minReadySeconds", "spec", errs);
    let selector = gobj(spec, "selector").filter(|m| !m.is_empty());
    if selector.is_none() {
        errs.push(FieldError::required("spec.selector", ""));
    }
    nonneg(spec, "replicas", "spec", errs);
    let Some(tmpl) = get(spec, "template") else {
        errs.push(FieldError::required("spec.template", ""));
        return;
    };
    if let Some(selector) = selector {
        let labels = template_labels(spec);
        let matches = selector.iter().all(|(k, v)| {
            labels
                .and_then(|l| l.get(k))
                .is_some_and(|l| value_str(l) == value_str(v))
        });
        if !matches {
            errs.push(FieldError::invalid(
                "spec.template.metadata.labels",
                &go_string_map(labels),
                "`selector` does not match template `labels`",
            ));
        }
    }
    validate_pod_template(Some(tmpl), "spec.template", PodCtx::default(), errs);
    let tspec = or_null(get(tmpl, "spec"));
    let rp = gs(tspec, "restartPolicy");
    if rp != "Always" {
        errs.push(FieldError::not_supported(
            "spec.template.spec.restartPolicy",
            &go_quote(rp),
            &["Always"],
        ));
    }
    if get(tspec, "activeDeadlineSeconds").is_some() {
        errs.push(FieldError::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in ReplicationController is not Supported",
        ));
    }
}

pub(crate) fn int_or_percent(
    v: Option<&Value>,
    path: &str,
    errs: &mut Vec<FieldError>,
) -> Option<i64> {
    match v {
        Some(Value::String(s)) => {
            let ok = s.len() > 1
                && s.ends_with('%')
                && s[..s.len() - 1].bytes().all(|c| c.is_ascii_digit());
            if !ok {
                errs.push(FieldError::invalid(
                    path,
                    &go_int_or_string(v),
                    &regex_error(
                        "a valid percent string must be a numeric string followed by an ending '%'",
                        "[0-9]+%",
                        &["1%", "93%"],
                    ),
                ));
                return None;
            }
            let n: i64 = s[..s.len() - 1].parse().ok()?;
            if n > 100 {
                errs.push(FieldError::invalid(
                    path,
                    &go_int_or_string(v),
                    "must not be greater than 100%",
                ));
            }
            Some(n)
        }
        Some(x) => {
            let n = x.as_i64().unwrap_or(0);
            if n < 0 {
                errs.push(FieldError::invalid(path, &n.to_string(), IS_NEGATIVE));
            }
            Some(n)
        }
        None => Some(0),
    }
}

pub(crate) fn go_int_or_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => {
            format!(
                "intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}",
                go_quote(s)
            )
        }
        Some(x) => format!(
            "intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}",
            x.as_i64().unwrap_or(0)
        ),
        None => "null".to_string(),
    }
}

pub(crate) fn validate_deployment_strategy(strategy: &Value, errs: &mut Vec<FieldError>) {
    match gs(strategy, "type") {
        "Recreate" => {
            if get(strategy, "rollingUpdate").is_some() {
                errs.push(FieldError::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match get(strategy, "rollingUpdate") {
            None => errs.push(FieldError::required(
                "spec.strategy.rollingUpdate",
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let p = "spec.strategy.rollingUpdate";
                let mu = int_or_percent(
                    get(ru, "maxUnavailable"),
                    &format!("{p}.maxUnavailable"),
                    errs,
                );
                let ms = int_or_percent(get(ru, "maxSurge"), &format!("{p}.maxSurge"), errs);
                if mu == Some(0) && ms == Some(0) {
                    errs.push(FieldError::invalid(
                        format!("{p}.maxUnavailable"),
                        &go_int_or_string(get(ru, "maxUnavailable")),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
            }
        },
        other => {
            let ru = if get(strategy, "rollingUpdate").is_some() {
                "(*apps.RollingUpdateDeployment)(0xc000000000)"
            } else {
                "(*apps.RollingUpdateDeployment)(nil)"
            };
            errs.push(FieldError::not_supported(
                "spec.strategy",
                &format!(
                    "apps.DeploymentStrategy{{Type:{}, RollingUpdate:{ru}}}",
                    go_quote(other)
                ),
                &["Recreate", "RollingUpdate"],
            ));
        }
    }
}

pub(crate) fn validate_job_spec_common(spec: &Value, path: &str, errs: &mut Vec<FieldError>) {
    for f in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
    ] {
        nonneg(spec, f, path, errs);
    }
    if let Some(mode) = spec.get("completionMode").and_then(Value::as_str) {
        if mode != "NonIndexed" && mode != "Indexed" {
            errs.push(FieldError::not_supported(
                format!("{path}.completionMode"),
                &go_quote(mode),
                &["NonIndexed", "Indexed"],
            ));
        }
        if mode == "Indexed" {
            if get(spec, "completions").is_none() {
                errs.push(FieldError::required(
                    format!("{path}.completions"),
                    "when completion mode is Indexed",
                ));
            }
            if let Some(p) = gi(spec, "parallelism")
                && p > 100_000
            {
                errs.push(FieldError::invalid(
                    format!("{path}.parallelism"),
                    &p.to_string(),
                    "must be less than or equal to 100000 when completion mode is Indexed",
                ));
            }
        }
    }
    if let Some(prp) = spec.get("podReplacementPolicy").and_then(Value::as_str) {
        let valid: &[&str] = if get(spec, "podFailurePolicy").is_some() {
            &["Failed"]
        } else {
            &["TerminatingOrFailed", "Failed"]
        };
        if !valid.contains(&prp) {
            errs.push(FieldError::not_supported(
                format!("{path}.podReplacementPolicy"),
                &go_quote(prp),
                valid,
            ));
        }
    }
    validate_pod_template(
        get(spec, "template"),
        &format!("{path}.template"),
        PodCtx {
            extra_volumes: &[],
            job_template: true,
        },
        errs,
    );
    let rp = gs(or_null(at(spec, &["template", "spec"])), "restartPolicy");
    let rpp = format!("{path}.template.spec.restartPolicy");
    match rp {
        "Always" | "" => errs.push(FieldError::required(
            rpp,
            "valid values: \"OnFailure\", \"Never\"",
        )),
        "OnFailure" | "Never" => {}
        other => errs.push(FieldError::not_supported(
            rpp,
            &go_quote(other),
            &["OnFailure", "Never"],
        )),
    }
}

pub(crate) fn validate_job_spec(spec: &Value, errs: &mut Vec<FieldError>) {
    validate_job_spec_common(spec, "spec", errs);
    let sel_v = or_null(get(spec, "selector"));
    if sel_v.is_null() {
        errs.push(FieldError::required("spec.selector", ""));
    } else {
        validate_label_selector_object(sel_v, "spec.selector", errs);
    }
    let parsed = from_label_selector_object(sel_v);
    if let Ok(sel) = parsed
        && !sel.matches(template_labels(spec).unwrap_or(&Map::new()))
    {
        errs.push(FieldError::invalid(
            "spec.template.metadata.labels",
            &go_string_map(template_labels(spec)),
            "`selector` does not match template `labels`",
        ));
    }
}

/// Validates a cron schedule like `robfig/cron` `ParseStandard` (5 fields or a `@`
/// descriptor); the error text is the library's.
pub fn validate_cron_schedule(schedule: &str) -> Result<(), String> {
    if schedule.is_empty() {
        return Err("empty spec string".to_string());
    }
    let mut spec = schedule;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        let Some(i) = spec.find(' ') else {
            return Err(format!("provided bad location {spec}: unknown time zone"));
        };
        spec = spec[i..].trim();
    }
    if let Some(d) = spec.strip_prefix('@') {
        return match d {
            "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly" => {
                Ok(())
            }
            _ if d.starts_with("every ") => {
                let dur = &d["every ".len()..];
                if is_go_duration(dur) {
                    Ok(())
                } else {
                    Err(format!(
                        "failed to parse duration {spec}: time: invalid duration {}",
                        go_quote(dur)
                    ))
                }
            }
            _ => Err(format!("unrecognized descriptor: {spec}")),
        };
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    const MONTHS: &[&str] = &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let bounds: [(u64, u64, &[&str], u64); 5] = [
        (0, 59, &[], 0),
        (0, 23, &[], 0),
        (1, 31, &[], 0),
        (1, 12, MONTHS, 1),
        (0, 6, DAYS, 0),
    ];
    for (f, (min, max, names, name_base)) in fields.iter().zip(bounds) {
        for expr in f.split(',') {
            cron_range(expr, min, max, names, name_base)?;
        }
    }
    Ok(())
}

pub(crate) fn cron_int(expr: &str) -> Result<u64, String> {
    match expr.parse::<i64>() {
        Ok(n) if n < 0 => Err(format!("negative number ({n}) not allowed: {expr}")),
        Ok(n) => Ok(n.unsigned_abs()),
        Err(_) => Err(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing {}: invalid syntax",
            go_quote(expr)
        )),
    }
}

pub(crate) fn cron_int_or_name(expr: &str, names: &[&str], base: u64) -> Result<u64, String> {
    let lower = expr.to_lowercase();
    if let Some(i) = names.iter().position(|n| *n == lower) {
        return Ok(i as u64 + base);
    }
    cron_int(expr)
}

pub(crate) fn cron_range(
    expr: &str,
    min: u64,
    max: u64,
    names: &[&str],
    base: u64,
) -> Result<(), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_high.len() == 1;
    let (start, mut end);
    if low_high[0] == "*" || low_high[0] == "?" {
        start = min;
        end = max;
    } else {
        start = cron_int_or_name(low_high[0], names, base)?;
        end = match low_high.len() {
            1 => start,
            2 => cron_int_or_name(low_high[1], names, base)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
    }
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let s = cron_int(range_and_step[1])?;
            if single {
                end = max;
            }
            s
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({min}): {expr}"
        ));
    }
    if end > max {
        return Err(format!(
            "end of range ({end}) above maximum ({max}): {expr}"
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(())
}

pub(crate) fn is_go_duration(s: &str) -> bool {
    let mut rest = s.strip_prefix(['-', '+']).unwrap_or(s);
    if rest == "0" {
        return true;
    }
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 || rest[..n] == *"." {
            return false;
        }
        rest = &rest[n..];
        let unit = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"]
            .iter()
            .find(|u| rest.starts_with(*u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

pub(crate) fn validate_cronjob_spec(
    spec: &Value,
    old_schedule: Option<&str>,
    errs: &mut Vec<FieldError>,
) {
    let schedule = gs(spec, "schedule");
    if schedule.is_empty() {
        errs.push(FieldError::required("spec.schedule", ""));
    } else {
        if let Err(e) = validate_cron_schedule(schedule) {
            errs.push(FieldError::invalid(
                "spec.schedule",
                &go_quote(schedule),
                &e,
            ));
        }
        let allow_tz = old_schedule.is_some_and(|s| s.contains("TZ"));
        if allow_tz && schedule.contains("TZ") && get(spec, "timeZone").is_some() {
            errs.push(FieldError::invalid(
                "spec.schedule",
                &go_quote(schedule),
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            ));
        } else if !allow_tz && schedule.contains("TZ") {
            errs.push(FieldError::invalid(
                "spec.schedule",
                &go_quote(schedule),
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        }
    }
    nonneg(spec, "startingDeadlineSeconds", "spec", errs);
    if let Some(tz) = spec.get("timeZone").and_then(Value::as_str) {
        if tz.is_empty() {
            errs.push(FieldError::invalid(
                "spec.timeZone",
                "\"\"",
                "timeZone must be nil or non-empty string",
            ));
        } else if tz.eq_ignore_ascii_case("local") {
            errs.push(FieldError::invalid(
                "spec.timeZone",
                &go_quote(tz),
                "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
            ));
        }
    }
    match gs(spec, "concurrencyPolicy") {
        "Allow" | "Forbid" | "Replace" => {}
        "" => errs.push(FieldError::required("spec.concurrencyPolicy", "")),
        other => errs.push(FieldError::not_supported(
            "spec.concurrencyPolicy",
            &go_quote(other),
            &["Allow", "Forbid", "Replace"],
        )),
    }
    let jt = or_null(get(spec, "jobTemplate"));
    let jspec = or_null(get(jt, "spec"));
    validate_job_spec_common(jspec, "spec.jobTemplate.spec", errs);
    if let Some(sel) = get(jspec, "selector") {
        errs.push(FieldError::invalid(
            "spec.jobTemplate.spec.selector",
            &go_label_selector(sel),
            "`selector` will be auto-generated",
        ));
    }
    if jspec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        errs.push(FieldError::not_supported(
            "spec.jobTemplate.spec.manualSelector",
            "true",
            &["nil", "false"],
        ));
    }
    nonneg(spec, "successfulJobsHistoryLimit", "spec", errs);
    nonneg(spec, "failedJobsHistoryLimit", "spec", errs);
}

// =============================================================================================
// Services, config, networking, autoscaling
// =============================================================================================

pub(crate) fn validate_service(obj: &Value, errs: &mut Vec<FieldError>) {
    let spec = or_null(get(obj, "spec"));
    let ty = gs(spec, "type");
    let headless = gs(spec, "clusterIP") == "None";
    let ports = garr(spec, "ports");
    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.push(FieldError::required("spec.ports", ""));
    }
    if ty == "ExternalName" {
        if !garr(spec, "clusterIPs").is_empty() {
            errs.push(FieldError::forbidden(
                "spec.clusterIPs",
                "may not be set for ExternalName services",
            ));
        } else if !gs(spec, "clusterIP").is_empty() {
            errs.push(FieldError::forbidden(
                "spec.clusterIP",
                "may not be set for ExternalName services",
            ));
        }
        if !garr(spec, "ipFamilies").is_empty() {
            errs.push(FieldError::forbidden(
                "spec.ipFamilies",
                "may not be set for ExternalName services",
            ));
        }
        if get(spec, "ipFamilyPolicy").is_some() {
            errs.push(FieldError::forbidden(
                "spec.ipFamilyPolicy",
                "may not be set for ExternalName services",
            ));
        }
        let cname = gs(spec, "externalName");
        let cname = cname.strip_suffix('.').unwrap_or(cname);
        if cname.is_empty() {
            errs.push(FieldError::required("spec.externalName", ""));
        } else {
            for m in is_dns1123_subdomain(cname) {
                errs.push(FieldError::invalid(
                    "spec.externalName",
                    &go_quote(cname),
                    &m,
                ));
            }
        }
    }
    let mut names: HashSet<&str> = HashSet::new();
    let require_name = ports.len() > 1;
    for (i, p) in ports.iter().enumerate() {
        let pp = format!("spec.ports[{i}]");
        let name = gs(p, "name");
        if require_name && name.is_empty() {
            errs.push(FieldError::required(format!("{pp}.name"), ""));
        } else if !name.is_empty() {
            for m in is_dns1123_label(name) {
                errs.push(FieldError::invalid(
                    format!("{pp}.name"),
                    &go_quote(name),
                    &m,
                ));
            }
            if !names.insert(name) {
                errs.push(FieldError::duplicate(format!("{pp}.name"), &go_quote(name)));
            }
        }
        let port = gi(p, "port").unwrap_or(0);
        for m in is_valid_port_num(port) {
            errs.push(FieldError::invalid(
                format!("{pp}.port"),
                &port.to_string(),
                &m,
            ));
        }
        match p.get("protocol").and_then(Value::as_str) {
            None | Some("") => errs.push(FieldError::required(format!("{pp}.protocol"), "")),
            Some(proto) if !SUPPORTED_PROTOCOLS.contains(&proto) => {
                errs.push(FieldError::not_supported(
                    format!("{pp}.protocol"),
                    &go_quote(proto),
                    SUPPORTED_PROTOCOLS,
                ));
            }
            _ => {}
        }
        if ty != "ExternalName" || get(p, "targetPort").is_some() {
            validate_port_num_or_name(get(p, "targetPort"), &format!("{pp}.targetPort"), errs);
        }
        if let Some(np) = gi(p, "nodePort")
            && np != 0
        {
            if ty == "ClusterIP" {
                errs.push(FieldError::forbidden(
                    format!("{pp}.nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            } else {
                for m in is_valid_port_num(np) {
                    errs.push(FieldError::invalid(
                        format!("{pp}.nodePort"),
                        &np.to_string(),
                        &m,
                    ));
                }
            }
        }
    }
    validate_labels(spec.get("selector"), "spec.selector", errs);
    match gs(spec, "sessionAffinity") {
        "None" | "ClientIP" => {}
        "" => errs.push(FieldError::required("spec.sessionAffinity", "")),
        other => errs.push(FieldError::not_supported(
            "spec.sessionAffinity",
            &go_quote(other),
            &["ClientIP", "None"],
        )),
    }
    match ty {
        "ClusterIP" | "ExternalName" | "LoadBalancer" | "NodePort" => {}
        "" => errs.push(FieldError::required("spec.type", "")),
        other => errs.push(FieldError::not_supported(
            "spec.type",
            &go_quote(other),
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        )),
    }
    for f in ["externalTrafficPolicy", "internalTrafficPolicy"] {
        if let Some(v) = spec.get(f).and_then(Value::as_str)
            && !v.is_empty()
            && v != "Cluster"
            && v != "Local"
        {
            errs.push(FieldError::not_supported(
                format!("spec.{f}"),
                &go_quote(v),
                &["Cluster", "Local"],
            ));
        }
    }
    let cip = gs(spec, "clusterIP");
    if !cip.is_empty() && cip != "None" && cip.parse::<std::net::IpAddr>().is_err() {
        errs.push(FieldError::invalid(
            "spec.clusterIPs[0]",
            &go_quote(cip),
            "must be empty, 'None', or a valid IP address",
        ));
    }
    if let Some(first) = garr(spec, "clusterIPs").first().and_then(Value::as_str)
        && !cip.is_empty()
        && first != cip
    {
        errs.push(FieldError::invalid(
            "spec.clusterIPs",
            &go_string_slice(
                &garr(spec, "clusterIPs")
                    .iter()
                    .map(value_str)
                    .collect::<Vec<_>>(),
            ),
            "first value must match `clusterIP`",
        ));
    }
}

pub(crate) fn validate_config_map(obj: &Value, errs: &mut Vec<FieldError>) {
    let mut total = 0usize;
    let binary = gobj(obj, "binaryData");
    if let Some(d) = gobj(obj, "data") {
        for (k, v) in d {
            for m in is_config_map_key(k) {
                errs.push(FieldError::invalid(format!("data[{k}]"), &go_quote(k), &m));
            }
            if binary.is_some_and(|b| b.contains_key(k)) {
                errs.push(FieldError::invalid(
                    format!("data[{k}]"),
                    &go_quote(k),
                    "duplicate of key present in binaryData",
                ));
            }
            total += value_str(v).len();
        }
    }
    if let Some(b) = binary {
        for (k, v) in b {
            for m in is_config_map_key(k) {
                errs.push(FieldError::invalid(
                    format!("binaryData[{k}]"),
                    &go_quote(k),
                    &m,
                ));
            }
            total += base64_decode(&value_str(v)).map_or(0, |x| x.len());
        }
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("", MAX_SECRET_SIZE));
    }
}

pub(crate) const MAX_SECRET_SIZE: usize = 1024 * 1024;

/// Decodes standard base64 the way Go's `encoding/json` decodes a `[]byte`
/// (`base64.StdEncoding`, newlines ignored); the error is Go's
/// `illegal base64 data at input byte N`.
pub fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    fn val(c: u8) -> Option<u8> {
        match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let src = s.as_bytes();
    let corrupt = |n: usize| format!("illegal base64 data at input byte {n}");
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0usize;
    while si < src.len() {
        let mut dbuf = [0u8; 4];
        let mut dlen = 4;
        let mut j = 0usize;
        let mut trailing_err = None;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                return Err(corrupt(si - j));
            }
            let c = src[si];
            si += 1;
            if let Some(v) = val(c) {
                dbuf[j] = v;
                j += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' {
                return Err(corrupt(si - 1));
            }
            match j {
                0 | 1 => return Err(corrupt(si - 1)),
                2 => {
                    while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                        si += 1;
                    }
                    if si == src.len() {
                        return Err(corrupt(src.len()));
                    }
                    if src[si] != b'=' {
                        return Err(corrupt(si - 1));
                    }
                    si += 1;
                }
                _ => {}
            }
            while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                si += 1;
            }
            if si < src.len() {
                trailing_err = Some(corrupt(si));
            }
            dlen = j;
            break;
        }
        let v = (u32::from(dbuf[0]) << 18)
            | (u32::from(dbuf[1]) << 12)
            | (u32::from(dbuf[2]) << 6)
            | u32::from(dbuf[3]);
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        out.extend_from_slice(&bytes[..dlen - 1]);
        if let Some(e) = trailing_err {
            return Err(e);
        }
    }
    Ok(out)
}

/// For a Secret whose `data` holds a value that is not valid base64, the 400 BadRequest
/// message Kubernetes answers with while decoding the request body
/// (`Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input
/// byte 4`). `None` when every value decodes.
pub fn secret_decode_error(obj: &Value) -> Option<String> {
    let data = gobj(obj, "data")?;
    for v in data.values() {
        if let Err(e) = base64_decode(&value_str(v)) {
            return Some(format!(
                "Secret in version \"v1\" cannot be handled as a Secret: {e}"
            ));
        }
    }
    None
}

pub(crate) fn validate_secret(obj: &Value, errs: &mut Vec<FieldError>) {
    let data = gobj(obj, "data");
    let mut total = 0usize;
    if let Some(d) = data {
        for (k, v) in d {
            for m in is_config_map_key(k) {
                errs.push(FieldError::invalid(format!("data[{k}]"), &go_quote(k), &m));
            }
            match base64_decode(&value_str(v)) {
                Ok(b) => total += b.len(),
                Err(e) => errs.push(FieldError::invalid(
                    format!("data[{k}]"),
                    "\"<secret contents redacted>\"",
                    &e,
                )),
            }
        }
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("data", MAX_SECRET_SIZE));
    }
    let has = |k: &str| data.is_some_and(|d| d.contains_key(k));
    let decoded = |k: &str| {
        data.and_then(|d| d.get(k))
            .and_then(|v| base64_decode(&value_str(v)).ok())
            .unwrap_or_default()
    };
    match gs(obj, "type") {
        "kubernetes.io/service-account-token" => {
            let sa = at(
                obj,
                &[
                    "metadata",
                    "annotations",
                    "kubernetes.io/service-account.name",
                ],
            )
            .map(value_str)
            .unwrap_or_default();
            if sa.is_empty() {
                errs.push(FieldError::required(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson" => {
            let key = if gs(obj, "type") == "kubernetes.io/dockercfg" {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            if !has(key) {
                errs.push(FieldError::required(format!("data[{key}]"), ""));
            } else if serde_json::from_slice::<Map<String, Value>>(&decoded(key)).is_err() {
                errs.push(FieldError::invalid(
                    format!("data[{key}]"),
                    "\"<secret contents redacted>\"",
                    "unexpected end of JSON input",
                ));
            }
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(FieldError::required("data[username]", ""));
            errs.push(FieldError::required("data[password]", ""));
        }
        "kubernetes.io/ssh-auth" if decoded("ssh-privatekey").is_empty() => {
            errs.push(FieldError::required("data[ssh-privatekey]", ""));
        }
        "kubernetes.io/tls" => {
            if !has("tls.crt") {
                errs.push(FieldError::required("data[tls.crt]", ""));
            }
            if !has("tls.key") {
                errs.push(FieldError::required("data[tls.key]", ""));
            }
        }
        _ => {}
    }
}

pub(crate) fn validate_hpa(obj: &Value, errs: &mut Vec<FieldError>) {
    let spec = or_null(get(obj, "spec"));
    let max = gi(spec, "maxReplicas").unwrap_or(0);
    let min = gi(spec, "minReplicas");
    if let Some(m) = min
        && m < 1
    {
        errs.push(FieldError::invalid(
            "spec.minReplicas",
            &m.to_string(),
            "must be greater than or equal to 1",
        ));
    }
    if max < 1 {
        errs.push(FieldError::invalid(
            "spec.maxReplicas",
            &max.to_string(),
            "must be greater than 0",
        ));
    }
    if let Some(m) = min
        && max < m
    {
        errs.push(FieldError::invalid(
            "spec.maxReplicas",
            &max.to_string(),
            "must be greater than or equal to `minReplicas`",
        ));
    }
    let r = or_null(get(spec, "scaleTargetRef"));
    for f in ["kind", "name"] {
        let v = gs(r, f);
        let p = format!("spec.scaleTargetRef.{f}");
        if v.is_empty() {
            errs.push(FieldError::required(p, ""));
        } else {
            for m in is_valid_path_segment_name(v) {
                errs.push(FieldError::invalid(&p, &go_quote(v), &m));
            }
        }
    }
    if let Some(t) = gi(spec, "targetCPUUtilizationPercentage")
        && t < 1
    {
        errs.push(FieldError::invalid(
            "spec.targetCPUUtilizationPercentage",
            &t.to_string(),
            "must be greater than 0",
        ));
    }
    for (i, m) in garr(spec, "metrics").iter().enumerate() {
        let mp = format!("spec.metrics[{i}]");
        let ty = gs(m, "type");
        let valid = [
            "ContainerResource",
            "External",
            "Object",
            "Pods",
            "Resource",
        ];
        if ty.is_empty() {
            errs.push(FieldError::required(
                format!("{mp}.type"),
                "must specify a metric source type",
            ));
        } else if !valid.contains(&ty) {
            errs.push(FieldError::not_supported(
                format!("{mp}.type"),
                &go_quote(ty),
                &valid,
            ));
        }
    }
}

pub(crate) fn validate_ingress(obj: &Value, errs: &mut Vec<FieldError>) {
    let spec = or_null(get(obj, "spec"));
    let rules = garr(spec, "rules");
    let default_backend = get(spec, "defaultBackend");
    if rules.is_empty() && default_backend.is_none() {
        errs.push(FieldError::invalid(
            "spec",
            "[]networking.IngressRule(nil)",
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(b) = default_backend {
        validate_ingress_backend(b, "spec.defaultBackend", errs);
    }
    for (i, r) in rules.iter().enumerate() {
        let rp = format!("spec.rules[{i}]");
        let host = gs(r, "host");
        if !host.is_empty() {
            if host.parse::<std::net::IpAddr>().is_ok() {
                errs.push(FieldError::invalid(
                    format!("{rp}.host"),
                    &go_quote(host),
                    "must be a DNS name, not an IP address",
                ));
            }
            if host.contains('*') {
                let rest = host.strip_prefix("*.");
                let ok = rest.is_some_and(matches_dns1123_subdomain) && host.len() <= 253;
                if !ok {
                    errs.push(FieldError::invalid(
                        format!("{rp}.host"),
                        &go_quote(host),
                        &regex_error(
                            "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character",
                            "\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
                            &["*.example.com"],
                        ),
                    ));
                }
            } else {
                for m in is_dns1123_subdomain(host) {
                    errs.push(FieldError::invalid(
                        format!("{rp}.host"),
                        &go_quote(host),
                        &m,
                    ));
                }
            }
        }
        let Some(http) = get(r, "http") else { continue };
        let paths = garr(http, "paths");
        if paths.is_empty() {
            errs.push(FieldError::required(format!("{rp}.http.paths"), ""));
        }
        for (j, p) in paths.iter().enumerate() {
            let pp = format!("{rp}.http.paths[{j}]");
            let path = gs(p, "path");
            match p.get("pathType").and_then(Value::as_str) {
                None => {
                    errs.push(FieldError::required(
                        format!("{pp}.pathType"),
                        "pathType must be specified",
                    ));
                    continue;
                }
                Some("Exact" | "Prefix") => {
                    if !path.starts_with('/') {
                        errs.push(FieldError::invalid(
                            format!("{pp}.path"),
                            &go_quote(path),
                            "must be an absolute path",
                        ));
                    }
                    if !path.is_empty() {
                        for seq in ["//", "/./", "/../", "%2f", "%2F"] {
                            if path.contains(seq) {
                                errs.push(FieldError::invalid(
                                    format!("{pp}.path"),
                                    &go_quote(path),
                                    &format!("must not contain '{seq}'"),
                                ));
                            }
                        }
                        for suf in ["/..", "/."] {
                            if path.ends_with(suf) {
                                errs.push(FieldError::invalid(
                                    format!("{pp}.path"),
                                    &go_quote(path),
                                    &format!("cannot end with '{suf}'"),
                                ));
                            }
                        }
                    }
                }
                Some("ImplementationSpecific") => {
                    if !path.is_empty() && !path.starts_with('/') {
                        errs.push(FieldError::invalid(
                            format!("{pp}.path"),
                            &go_quote(path),
                            "must be an absolute path",
                        ));
                    }
                }
                Some(other) => errs.push(FieldError::not_supported(
                    format!("{pp}.pathType"),
                    &go_quote(other),
                    &["Exact", "ImplementationSpecific", "Prefix"],
                )),
            }
            validate_ingress_backend(or_null(get(p, "backend")), &format!("{pp}.backend"), errs);
        }
    }
    for (i, t) in garr(spec, "tls").iter().enumerate() {
        for (j, h) in garr(t, "hosts").iter().enumerate() {
            let h = value_str(h);
            let hp = format!("spec.tls[{i}].hosts[{j}]");
            let check = h.strip_prefix("*.").unwrap_or(&h);
            for m in is_dns1123_subdomain(check) {
                errs.push(FieldError::invalid(&hp, &go_quote(&h), &m));
            }
        }
    }
    if let Some(c) = spec.get("ingressClassName").and_then(Value::as_str) {
        for m in is_dns1123_subdomain(c) {
            errs.push(FieldError::invalid(
                "spec.ingressClassName",
                &go_quote(c),
                &m,
            ));
        }
    }
}

pub(crate) fn validate_ingress_backend(b: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let resource = get(b, "resource");
    let service = get(b, "service");
    match (resource, service) {
        (Some(_), Some(_)) => errs.push(FieldError::invalid(
            path,
            "\"\"",
            "cannot set both resource and service backends",
        )),
        (Some(r), None) => {
            let kind = gs(r, "kind");
            let name = gs(r, "name");
            if kind.is_empty() {
                errs.push(FieldError::required(format!("{path}.resource.kind"), ""));
            }
            if name.is_empty() {
                errs.push(FieldError::required(format!("{path}.resource.name"), ""));
            }
        }
        (None, Some(s)) => {
            let name = gs(s, "name");
            if name.is_empty() {
                errs.push(FieldError::required(format!("{path}.service.name"), ""));
            } else {
                for m in is_dns1035_label(name) {
                    errs.push(FieldError::invalid(
                        format!("{path}.service.name"),
                        &go_quote(name),
                        &m,
                    ));
                }
            }
            let port = or_null(get(s, "port"));
            let pname = gs(port, "name");
            let pnum = gi(port, "number").unwrap_or(0);
            if !pname.is_empty() && pnum != 0 {
                errs.push(FieldError::invalid(
                    path,
                    "\"\"",
                    "cannot set both port name & port number",
                ));
            } else if !pname.is_empty() {
                for m in is_valid_port_name(pname) {
                    errs.push(FieldError::invalid(
                        format!("{path}.service.port.name"),
                        &go_quote(pname),
                        &m,
                    ));
                }
            } else if pnum != 0 {
                for m in is_valid_port_num(pnum) {
                    errs.push(FieldError::invalid(
                        format!("{path}.service.port.number"),
                        &pnum.to_string(),
                        &m,
                    ));
                }
            } else {
                errs.push(FieldError::required(
                    path,
                    "port name or number is required",
                ));
            }
        }
        (None, None) => errs.push(FieldError::invalid(
            path,
            "\"\"",
            "resource or service backend is required",
        )),
    }
}

pub(crate) fn validate_namespace(obj: &Value, errs: &mut Vec<FieldError>) {
    for f in garr(or_null(get(obj, "spec")), "finalizers")
        .iter()
        .map(value_str)
    {
        for m in is_qualified_name(&f) {
            errs.push(FieldError::invalid("spec.finalizers", &go_quote(&f), &m));
        }
        if !f.contains('/') && f != "kubernetes" {
            errs.push(FieldError::invalid(
                "spec.finalizers",
                &go_quote(&f),
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
}

pub(crate) fn validate_pvc(obj: &Value, errs: &mut Vec<FieldError>) {
    let spec = or_null(get(obj, "spec"));
    let modes = garr(spec, "accessModes");
    if modes.is_empty() {
        errs.push(FieldError::required(
            "spec.accessModes",
            "at least 1 access mode is required",
        ));
    }
    let valid = [
        "ReadOnlyMany",
        "ReadWriteMany",
        "ReadWriteOnce",
        "ReadWriteOncePod",
    ];
    for m in modes.iter().map(value_str) {
        if !valid.contains(&m.as_str()) {
            errs.push(FieldError::not_supported(
                "spec.accessModes",
                &go_quote(&m),
                &valid,
            ));
        }
    }
    let has_source = get(spec, "dataSource").is_some() || get(spec, "dataSourceRef").is_some();
    let storage = at(spec, &["resources", "requests", "storage"]);
    match storage {
        None if !has_source => errs.push(FieldError::required("spec.resources[storage]", "")),
        Some(q) => {
            let qs = value_str(q);
            match parse_quantity(&qs) {
                Some(n) if n <= 0 => errs.push(FieldError::invalid(
                    "spec.resources[storage]",
                    &go_quote(&qs),
                    "must be greater than zero",
                )),
                None => errs.push(FieldError::invalid(
                    "spec.resources[storage]",
                    &go_quote(&qs),
                    QUANTITY_REGEX_MSG,
                )),
                _ => {}
            }
        }
        None => {}
    }
    if let Some(vm) = spec.get("volumeMode").and_then(Value::as_str)
        && vm != "Block"
        && vm != "Filesystem"
    {
        errs.push(FieldError::not_supported(
            "spec.volumeMode",
            &go_quote(vm),
            &["Block", "Filesystem"],
        ));
    }
}

/// The volume sources of a PersistentVolume, in the order `ValidatePersistentVolumeSpec`
/// checks them.
pub(crate) const PV_SOURCES: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "glusterfs",
    "flocker",
    "nfs",
    "rbd",
    "quobyte",
    "cephfs",
    "iscsi",
    "cinder",
    "fc",
    "flexVolume",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "scaleIO",
    "local",
    "storageos",
    "csi",
];

pub(crate) const HOST_PATH_TYPES: &[&str] = &[
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
];

/// Whether `path.Clean(p)` is `/`.
pub(crate) fn is_root(p: &str) -> bool {
    let mut depth: Vec<&str> = Vec::new();
    for e in p.split('/') {
        match e {
            "" | "." => {}
            ".." => {
                depth.pop();
            }
            e => depth.push(e),
        }
    }
    p.starts_with('/') && depth.is_empty()
}

/// `validatePathNoBacksteps`: no `..` element.
pub(crate) fn no_backsteps(p: &str, path: &str, errs: &mut Vec<FieldError>) {
    if p.split('/').any(|e| e == "..") {
        errs.push(FieldError::invalid(
            path,
            &go_quote(p),
            "must not contain '..'",
        ));
    }
}

/// Go `%#v` of a `core.ResourceList` as the capacity check prints it (quantities shown by
/// their string; Go prints the `resource.Quantity` structs).
pub(crate) fn go_resource_list(m: Option<&Map<String, Value>>) -> String {
    go_typed_map("core.ResourceList", m)
}

/// `ValidatePersistentVolumeSpec` (the checks of a PersistentVolume, not of an inline
/// volume spec): access modes, a storage capacity, the reclaim policy, exactly one volume
/// source (with its required fields), the storage class name and the volume mode.
pub(crate) fn validate_pv(obj: &Value, errs: &mut Vec<FieldError>) {
    let spec = or_null(get(obj, "spec"));
    let modes = garr(spec, "accessModes");
    if modes.is_empty() {
        errs.push(FieldError::required("spec.accessModes", ""));
    }
    let valid = [
        "ReadOnlyMany",
        "ReadWriteMany",
        "ReadWriteOnce",
        "ReadWriteOncePod",
    ];
    let (mut rwop, mut other) = (false, false);
    for m in modes.iter().map(value_str) {
        if !valid.contains(&m.as_str()) {
            errs.push(FieldError::not_supported(
                "spec.accessModes",
                &go_quote(&m),
                &valid,
            ));
        } else if m == "ReadWriteOncePod" {
            rwop = true;
        } else {
            other = true;
        }
    }
    if rwop && other {
        errs.push(FieldError::forbidden(
            "spec.accessModes",
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
    let capacity = gobj(spec, "capacity");
    if capacity.is_none_or(Map::is_empty) {
        errs.push(FieldError::required("spec.capacity", ""));
    }
    if capacity.is_none_or(|c| !c.contains_key("storage") || c.len() > 1) {
        errs.push(FieldError::not_supported(
            "spec.capacity",
            &go_resource_list(capacity),
            &["storage"],
        ));
    }
    for (name, q) in capacity.into_iter().flatten() {
        let p = format!("spec.capacity[{name}]");
        let qs = value_str(q);
        match parse_quantity(&qs) {
            None => errs.push(FieldError::invalid(p, &go_quote(&qs), QUANTITY_REGEX_MSG)),
            Some(n) => {
                if n < 0 {
                    errs.push(FieldError::invalid(
                        &p,
                        &(n / 1_000_000_000).to_string(),
                        "must be a valid resource quantity",
                    ));
                }
                if n <= 0 {
                    errs.push(FieldError::invalid(
                        &p,
                        &go_quote(&qs),
                        "must be greater than zero",
                    ));
                }
            }
        }
    }
    let policy = gs(spec, "persistentVolumeReclaimPolicy");
    let policies = ["Delete", "Recycle", "Retain"];
    if !policy.is_empty() && !policies.contains(&policy) {
        errs.push(FieldError::not_supported(
            "spec.persistentVolumeReclaimPolicy",
            &go_quote(policy),
            &policies,
        ));
    }
    let affinity = get(spec, "nodeAffinity");
    if let Some(a) = affinity
        && get(a, "required").is_none()
    {
        errs.push(FieldError::required(
            "spec.nodeAffinity.required",
            "must specify required node constraints",
        ));
    }
    let mut sources = 0;
    for src in PV_SOURCES {
        let Some(v) = get(spec, src) else { continue };
        let sp = format!("spec.{src}");
        if sources > 0 {
            errs.push(FieldError::forbidden(
                sp,
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        sources += 1;
        match *src {
            "hostPath" => {
                let p = gs(v, "path");
                if p.is_empty() {
                    errs.push(FieldError::required(format!("{sp}.path"), ""));
                    continue;
                }
                no_backsteps(p, &format!("{sp}.path"), errs);
                let ty = gs(v, "type");
                if !HOST_PATH_TYPES.contains(&ty) {
                    errs.push(FieldError::not_supported(
                        format!("{sp}.type"),
                        &go_quote(ty),
                        HOST_PATH_TYPES,
                    ));
                }
            }
            "nfs" => {
                if gs(v, "server").is_empty() {
                    errs.push(FieldError::required(format!("{sp}.server"), ""));
                }
                // Kubernetes reports an empty path twice: required, and not absolute.
                let p = gs(v, "path");
                if p.is_empty() {
                    errs.push(FieldError::required(format!("{sp}.path"), ""));
                }
                if !p.starts_with('/') {
                    errs.push(FieldError::invalid(
                        format!("{sp}.path"),
                        &go_quote(p),
                        "must be an absolute path",
                    ));
                }
            }
            "local" => {
                let p = gs(v, "path");
                if p.is_empty() {
                    errs.push(FieldError::required(format!("{sp}.path"), ""));
                } else {
                    no_backsteps(p, &format!("{sp}.path"), errs);
                }
                if affinity.is_none() {
                    errs.push(FieldError::required(
                        "spec.nodeAffinity",
                        "Local volume requires node affinity",
                    ));
                }
            }
            "csi" => {
                for f in ["driver", "volumeHandle"] {
                    if gs(v, f).is_empty() {
                        errs.push(FieldError::required(format!("{sp}.{f}"), ""));
                    }
                }
            }
            _ => {}
        }
    }
    if sources == 0 {
        errs.push(FieldError::required("spec", "must specify a volume type"));
    }
    if policy == "Recycle"
        && let Some(hp) = get(spec, "hostPath")
        && is_root(gs(hp, "path"))
    {
        errs.push(FieldError::forbidden(
            "spec.persistentVolumeReclaimPolicy",
            "may not be 'recycle' for a hostPath mount of '/'",
        ));
    }
    let class = gs(spec, "storageClassName");
    if !class.is_empty() {
        for m in is_dns1123_subdomain(class) {
            errs.push(FieldError::invalid(
                "spec.storageClassName",
                &go_quote(class),
                &m,
            ));
        }
    }
    if let Some(vm) = spec.get("volumeMode").and_then(Value::as_str)
        && vm != "Block"
        && vm != "Filesystem"
    {
        errs.push(FieldError::not_supported(
            "spec.volumeMode",
            &go_quote(vm),
            &["Block", "Filesystem"],
        ));
    }
}

/// `ValidatePersistentVolumeUpdate`: the volume source and the volume mode are immutable.
pub(crate) fn validate_pv_update(old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    let os = or_null(get(old, "spec"));
    let ns = or_null(get(new, "spec"));
    if PV_SOURCES
        .iter()
        .any(|src| !semantic_eq(get(os, src), get(ns, src)))
    {
        errs.push(FieldError::forbidden(
            "spec.persistentvolumesource",
            "spec.persistentvolumesource is immutable after creation",
        ));
    }
    errs.extend(immutable(
        get(os, "volumeMode"),
        get(ns, "volumeMode"),
        "volumeMode",
        go_quote(gs(ns, "volumeMode")),
    ));
}

/// A binding's `roleRef` cannot change (RoleBinding and ClusterRoleBinding alike).
pub(crate) fn validate_role_ref_unchanged(old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    if get(old, "roleRef") != get(new, "roleRef") {
        let rr = or_null(get(new, "roleRef"));
        errs.push(FieldError::invalid(
            "roleRef",
            &format!(
                "rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}",
                go_quote(gs(rr, "apiGroup")),
                go_quote(gs(rr, "kind")),
                go_quote(gs(rr, "name"))
            ),
            "cannot change roleRef",
        ));
    }
}

pub(crate) fn validate_rbac_binding(obj: &Value, errs: &mut Vec<FieldError>) {
    let rr = or_null(get(obj, "roleRef"));
    if gs(rr, "apiGroup") != "rbac.authorization.k8s.io" {
        errs.push(FieldError::not_supported(
            "roleRef.apiGroup",
            &go_quote(gs(rr, "apiGroup")),
            &["rbac.authorization.k8s.io"],
        ));
    }
    let valid: &[&str] = if gs(obj, "kind") == "ClusterRoleBinding" {
        &["ClusterRole"]
    } else {
        &["ClusterRole", "Role"]
    };
    let kind = gs(rr, "kind");
    if !valid.contains(&kind) {
        errs.push(FieldError::not_supported(
            "roleRef.kind",
            &go_quote(kind),
            valid,
        ));
    }
    let name = gs(rr, "name");
    if name.is_empty() {
        errs.push(FieldError::required("roleRef.name", ""));
    } else {
        for m in is_valid_path_segment_name(name) {
            errs.push(FieldError::invalid("roleRef.name", &go_quote(name), &m));
        }
    }
    for (i, s) in garr(obj, "subjects").iter().enumerate() {
        let sp = format!("subjects[{i}]");
        let name = gs(s, "name");
        if name.is_empty() {
            errs.push(FieldError::required(format!("{sp}.name"), ""));
        }
        match gs(s, "kind") {
            "ServiceAccount" => {
                if !name.is_empty() {
                    for m in is_dns1123_subdomain(name) {
                        errs.push(FieldError::invalid(
                            format!("{sp}.name"),
                            &go_quote(name),
                            &m,
                        ));
                    }
                }
                let g = gs(s, "apiGroup");
                if !g.is_empty() {
                    errs.push(FieldError::not_supported(
                        format!("{sp}.apiGroup"),
                        &go_quote(g),
                        &[""],
                    ));
                }
            }
            "User" | "Group" => {
                let g = gs(s, "apiGroup");
                if g != "rbac.authorization.k8s.io" {
                    errs.push(FieldError::not_supported(
                        format!("{sp}.apiGroup"),
                        &go_quote(g),
                        &["rbac.authorization.k8s.io"],
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                format!("{sp}.kind"),
                &go_quote(other),
                &["ServiceAccount", "User", "Group"],
            )),
        }
    }
}

// =============================================================================================
// Entry points
// =============================================================================================

/// `ValidatePodDisruptionBudgetSpec`: each bound is a non-negative integer or a percent up
/// to 100%, and at most one of them is set.
pub(crate) fn validate_pdb(obj: &Value, errs: &mut Vec<FieldError>) {
    let spec = or_null(get(obj, "spec"));
    let min = get(spec, "minAvailable").filter(|v| !v.is_null());
    let max = get(spec, "maxUnavailable").filter(|v| !v.is_null());
    if min.is_some() {
        int_or_percent(min, "spec.minAvailable", errs);
    }
    if max.is_some() {
        int_or_percent(max, "spec.maxUnavailable", errs);
    }
    if min.is_some() && max.is_some() {
        errs.push(FieldError::invalid(
            "spec",
            &format!(
                "policy.PodDisruptionBudgetSpec{{MinAvailable:{}, MaxUnavailable:{}}}",
                go_int_or_string(min),
                go_int_or_string(max)
            ),
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
}

/// `ValidateNamespaceStatusUpdate`: a changed phase follows the deletion timestamp.
pub(crate) fn validate_namespace_status(old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    if at(old, &["status", "phase"]) == at(new, &["status", "phase"]) {
        return;
    }
    let deleting = at(new, &["metadata", "deletionTimestamp"]).is_some_and(|v| !v.is_null());
    let phase = at(new, &["status", "phase"])
        .and_then(Value::as_str)
        .unwrap_or("");
    let (want, msg) = if deleting {
        (
            "Terminating",
            "may only be 'Terminating' if `deletionTimestamp` is not empty",
        )
    } else {
        (
            "Active",
            "may only be 'Active' if `deletionTimestamp` is empty",
        )
    };
    if phase != want {
        errs.push(FieldError::invalid("status.Phase", &go_quote(phase), msg));
    }
}

/// `metadata` checks on create for an object of `kind` (`ValidateObjectMeta`), the first
/// part of every strategy's `validate`.
pub(crate) fn validate_meta(kind: &str, namespaced: bool, obj: &Value) -> Vec<FieldError> {
    validate_object_meta(kind, namespaced, or_null(get(obj, "metadata")))
}

/// `metadata` checks on update (`ValidateObjectMetaUpdate`), the first part of every
/// strategy's `validate_update`.
pub(crate) fn validate_meta_update(old: &Value, new: &Value) -> Vec<FieldError> {
    validate_object_meta_update(or_null(get(old, "metadata")), or_null(get(new, "metadata")))
}

pub(crate) const POD_UPDATE_FORBIDDEN: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

pub(crate) const STS_UPDATE_FORBIDDEN: &str = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";

pub(crate) fn immutable(
    old: Option<&Value>,
    new: Option<&Value>,
    path: &str,
    fmt_value: String,
) -> Option<FieldError> {
    if semantic_eq(old, new) {
        None
    } else {
        Some(FieldError::invalid(path, &fmt_value, FIELD_IMMUTABLE))
    }
}

pub(crate) fn validate_pod_update(old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    let os = or_null(get(old, "spec"));
    let ns = or_null(get(new, "spec"));
    let mut munged = ns.clone();
    if let Some(m) = munged.as_object_mut() {
        for list in ["containers", "initContainers"] {
            let old_list = garr(os, list);
            if let Some(Value::Array(cs)) = m.get_mut(list)
                && cs.len() == old_list.len()
            {
                for (c, oc) in cs.iter_mut().zip(old_list) {
                    if let (Some(cm), Some(img)) = (c.as_object_mut(), oc.get("image")) {
                        cm.insert("image".into(), img.clone());
                    }
                }
            }
        }
        // activeDeadlineSeconds may be set or lowered, not unset or raised.
        let old_ads = gi(os, "activeDeadlineSeconds");
        let new_ads = gi(ns, "activeDeadlineSeconds");
        let ads_ok = match (old_ads, new_ads) {
            (_, None) => old_ads.is_none(),
            (None, Some(_)) => true,
            (Some(o), Some(n)) => n <= o,
        };
        if ads_ok {
            match os.get("activeDeadlineSeconds") {
                Some(v) => m.insert("activeDeadlineSeconds".into(), v.clone()),
                None => m.remove("activeDeadlineSeconds"),
            };
        }
        // tolerations: only additions.
        let old_t = garr(os, "tolerations");
        let new_t = garr(ns, "tolerations");
        if old_t.iter().all(|t| new_t.contains(t)) {
            match os.get("tolerations") {
                Some(v) => m.insert("tolerations".into(), v.clone()),
                None => m.remove("tolerations"),
            };
        }
        // terminationGracePeriodSeconds may go from negative to 1.
        if gi(os, "terminationGracePeriodSeconds").is_some_and(|v| v < 0)
            && gi(ns, "terminationGracePeriodSeconds") == Some(1)
            && let Some(v) = os.get("terminationGracePeriodSeconds")
        {
            m.insert("terminationGracePeriodSeconds".into(), v.clone());
        }
        // schedulingGates may only be removed.
        let old_g = garr(os, "schedulingGates");
        if garr(ns, "schedulingGates")
            .iter()
            .all(|g| old_g.contains(g))
        {
            match os.get("schedulingGates") {
                Some(v) => m.insert("schedulingGates".into(), v.clone()),
                None => m.remove("schedulingGates"),
            };
        }
        // nodeName may be set once (binding), never changed.
        if gs(os, "nodeName").is_empty() {
            match os.get("nodeName") {
                Some(v) => m.insert("nodeName".into(), v.clone()),
                None => m.remove("nodeName"),
            };
        }
    }
    if !semantic_eq(Some(&munged), Some(os)) {
        errs.push(FieldError::forbidden("spec", POD_UPDATE_FORBIDDEN));
    }
}

pub(crate) fn validate_service_update(old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    let os = or_null(get(old, "spec"));
    let ns = or_null(get(new, "spec"));
    if gs(os, "type") == "ExternalName" || gs(ns, "type") == "ExternalName" {
        return;
    }
    if gs(os, "clusterIP") == "None" && gs(ns, "clusterIP") == "None" {
        return;
    }
    let ips = |s: &Value| -> Vec<String> {
        let v: Vec<String> = garr(s, "clusterIPs").iter().map(value_str).collect();
        if v.is_empty() && !gs(s, "clusterIP").is_empty() {
            vec![gs(s, "clusterIP").to_string()]
        } else {
            v
        }
    };
    let (o, n) = (ips(os), ips(ns));
    let changed = if o.len() == n.len() {
        o != n
    } else if o.len() > n.len() {
        !n.is_empty() && n[0] != o[0]
    } else {
        !o.is_empty() && n[0] != o[0]
    };
    if changed {
        errs.push(FieldError::invalid(
            "spec.clusterIPs[0]",
            &go_string_slice(&n),
            "may not change once set",
        ));
    }
}

pub(crate) fn immutable_data(kind: &str, old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    if old.get("immutable").and_then(Value::as_bool) != Some(true) {
        return;
    }
    const MSG: &str = "field is immutable when `immutable` is set";
    if new.get("immutable").and_then(Value::as_bool) != Some(true) {
        errs.push(FieldError::forbidden("immutable", MSG));
    }
    let fields: &[&str] = if kind == "ConfigMap" {
        &["data", "binaryData"]
    } else {
        &["data"]
    };
    for f in fields {
        if get(old, f) != get(new, f) {
            errs.push(FieldError::forbidden(*f, MSG));
        }
    }
}

pub(crate) fn validate_job_update(old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    let os = or_null(get(old, "spec"));
    let ns = or_null(get(new, "spec"));
    let indexed = gs(ns, "completionMode") == "Indexed";
    if !indexed {
        errs.extend(immutable(
            get(os, "completions"),
            get(ns, "completions"),
            "spec.completions",
            go_value(get(ns, "completions")),
        ));
    } else if !semantic_eq(get(os, "completions"), get(ns, "completions"))
        && let Some(c) = gi(ns, "completions")
        && Some(c) != gi(ns, "parallelism")
    {
        errs.push(FieldError::invalid(
            "spec.completions",
            &c.to_string(),
            "can only be modified in tandem with spec.parallelism",
        ));
    }
    errs.extend(immutable(
        get(os, "selector"),
        get(ns, "selector"),
        "spec.selector",
        go_label_selector(or_null(get(ns, "selector"))),
    ));
    // The template is immutable, except scheduling directives of a suspended job that
    // never started.
    let mut old_t = or_null(get(os, "template")).clone();
    let new_t = or_null(get(ns, "template"));
    let suspended_never_started = os.get("suspend").and_then(Value::as_bool) == Some(true)
        && at(old, &["status", "startTime"]).is_none();
    if suspended_never_started && let Some(m) = old_t.as_object_mut() {
        let meta = m
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(mm) = meta.as_object_mut() {
            for f in ["labels", "annotations"] {
                match at(new_t, &["metadata", f]) {
                    Some(v) => mm.insert(f.into(), v.clone()),
                    None => mm.remove(f),
                };
            }
        }
        let spec = m.entry("spec").or_insert_with(|| Value::Object(Map::new()));
        if let Some(sm) = spec.as_object_mut() {
            for f in ["nodeSelector", "tolerations", "schedulingGates", "affinity"] {
                match at(new_t, &["spec", f]) {
                    Some(v) => sm.insert(f.into(), v.clone()),
                    None => sm.remove(f),
                };
            }
        }
    }
    if !semantic_eq(Some(&old_t), Some(new_t)) {
        errs.push(FieldError::invalid(
            "spec.template",
            &format!("core.PodTemplateSpec{}", new_t),
            FIELD_IMMUTABLE,
        ));
    }
    for f in [
        "completionMode",
        "podFailurePolicy",
        "backoffLimitPerIndex",
        "managedBy",
        "successPolicy",
        "podReplacementPolicy",
    ] {
        errs.extend(immutable(
            get(os, f),
            get(ns, f),
            &format!("spec.{f}"),
            go_value(get(ns, f)),
        ));
    }
}

pub(crate) fn validate_statefulset_update(old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    let strip = |s: &Value| -> Value {
        let mut s = s.clone();
        if let Some(m) = s.as_object_mut() {
            for f in [
                "replicas",
                "template",
                "updateStrategy",
                "minReadySeconds",
                "ordinals",
                "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy",
            ] {
                m.remove(f);
            }
        }
        s
    };
    let o = strip(or_null(get(old, "spec")));
    let n = strip(or_null(get(new, "spec")));
    if !semantic_eq(Some(&o), Some(&n)) {
        errs.push(FieldError::forbidden("spec", STS_UPDATE_FORBIDDEN));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strategy(kind: &str) -> &'static dyn crate::strategy::Strategy {
        crate::resources::strategy_by_kind(kind).expect("served kind")
    }

    /// Create validation of `kind`, through its strategy.
    fn validate(kind: &str, obj: &Value) -> Vec<FieldError> {
        strategy(kind).validate(obj)
    }

    /// The 422 message with `kind` qualified by its group, as the registry sends it.
    fn format_invalid_message(kind: &str, name: &str, errs: &[FieldError]) -> String {
        super::format_invalid_message(&crate::resources::qualified_kind(kind), name, errs)
    }

    /// Update validation of `kind`, through its strategy.
    fn validate_update(kind: &str, old: &Value, new: &Value) -> Vec<FieldError> {
        strategy(kind).validate_update(old, new)
    }

    fn fields(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    fn deployment(spec: Value) -> Value {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"}, "spec": spec});
        strategy("Deployment").defaults(&mut d);
        d
    }

    fn pod(spec: Value) -> Value {
        let mut p = json!({"metadata": {"name": "p", "namespace": "default"}, "spec": spec});
        strategy("Pod").defaults(&mut p);
        p
    }

    #[test]
    fn invalid_message_format() {
        let e = vec![FieldError::required("spec.selector", "")];
        assert_eq!(
            format_invalid_message("Deployment", "web", &e),
            "Deployment.apps \"web\" is invalid: spec.selector: Required value"
        );
        let e2 = vec![
            FieldError::required("spec.a", ""),
            FieldError::invalid("metadata.name", "\"X\"", "bad"),
            FieldError::required("spec.a", ""),
        ];
        assert_eq!(
            format_invalid_message("Pod", "X", &e2),
            "Pod \"X\" is invalid: [spec.a: Required value, metadata.name: Invalid value: \"X\": bad]"
        );
        assert_eq!(
            format_invalid_message("Ingress", "i", &[]),
            "Ingress.networking.k8s.io \"i\" is invalid"
        );
        assert_eq!(
            FieldError::not_supported("spec.type", "\"x\"", &["a", "b"]).to_string(),
            "spec.type: Unsupported value: \"x\": supported values: \"a\", \"b\""
        );
        assert_eq!(
            FieldError::duplicate("f", "\"x\"").message,
            "Duplicate value: \"x\""
        );
        assert_eq!(FieldError::forbidden("f", "no").message, "Forbidden: no");
        assert_eq!(
            FieldError::too_long("f", 5).message,
            "Too long: may not be more than 5 bytes"
        );
        let j = serde_json::to_value(FieldError::required("spec.x", "")).unwrap();
        assert_eq!(
            j,
            json!({"field": "spec.x", "reason": "FieldValueRequired", "message": "Required value"})
        );
    }

    #[test]
    fn names() {
        assert_eq!(
            fields(&validate_name("ConfigMap", "X")),
            vec![
                "metadata.name: Invalid value: \"X\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ]
        );
        assert!(validate_name("ConfigMap", "a.b-c").is_empty());
        assert_eq!(
            fields(&validate_name("Namespace", "a.b")),
            vec!["metadata.name: Invalid value: \"a.b\": must not contain dots"]
        );
        assert_eq!(
            fields(&validate_name("Service", "1abc")),
            vec![
                "metadata.name: Invalid value: \"1abc\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
            ]
        );
        assert!(validate_name("ClusterRole", "system:controller:foo").is_empty());
        assert_eq!(
            fields(&validate_name("Role", "a/b")),
            vec!["metadata.name: Invalid value: \"a/b\": may not contain '/'"]
        );
        assert_eq!(
            validate_name("Role", "..")[0].message,
            "Invalid value: \"..\": may not be '..'"
        );
        let long = "a".repeat(254);
        assert_eq!(
            validate_name("Secret", &long)[0].message,
            format!("Invalid value: \"{long}\": must be no more than 253 characters")
        );
    }

    #[test]
    fn object_meta() {
        let errs = validate_object_meta("ConfigMap", true, &json!({"namespace": "default"}));
        assert_eq!(
            fields(&errs),
            vec!["metadata.name: Required value: name or generateName is required"]
        );
        assert!(
            validate_object_meta(
                "ConfigMap",
                true,
                &json!({"generateName": "web-", "namespace": "d"})
            )
            .is_empty()
        );
        let errs = validate_object_meta("ConfigMap", true, &json!({"name": "a"}));
        assert_eq!(fields(&errs), vec!["metadata.namespace: Required value"]);
        let errs =
            validate_object_meta("Namespace", false, &json!({"name": "a", "namespace": "b"}));
        assert_eq!(
            fields(&errs),
            vec!["metadata.namespace: Forbidden: not allowed on this type"]
        );
        let errs = validate_object_meta(
            "ConfigMap",
            true,
            &json!({"name": "a", "namespace": "d", "labels": {"a/b/c": "x", "ok": "bad value"}}),
        );
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].field, "metadata.labels");
        assert!(
            errs[0]
                .message
                .starts_with("Invalid value: \"a/b/c\": a qualified name must consist of")
        );
        assert!(
            errs[1]
                .message
                .starts_with("Invalid value: \"bad value\": a valid label must be an empty string")
        );
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        let errs = validate_object_meta(
            "ConfigMap",
            true,
            &json!({"name": "a", "namespace": "d", "annotations": {"k": big}}),
        );
        assert_eq!(
            fields(&errs),
            vec!["metadata.annotations: Too long: may not be more than 262144 bytes"]
        );
        let errs = validate_object_meta(
            "ConfigMap",
            true,
            &json!({"name": "a", "namespace": "d", "annotations": {"Example.com/Key": "v"}, "finalizers": ["example.com/ok", "bad finalizer"]}),
        );
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "metadata.finalizers");
        let errs = validate_object_meta(
            "ConfigMap",
            true,
            &json!({"name": "a", "namespace": "d", "labels": {"k": "a".repeat(64)}}),
        );
        assert_eq!(
            errs[0].message,
            format!(
                "Invalid value: \"{}\": must be no more than 63 characters",
                "a".repeat(64)
            )
        );
        let errs = validate_object_meta(
            "ConfigMap",
            true,
            &json!({"name": "a", "namespace": "d", "labels": {"example.com/": "v"}}),
        );
        assert_eq!(
            errs[0].message,
            "Invalid value: \"example.com/\": name part must be non-empty"
        );
    }

    #[test]
    fn deployment_selector_required() {
        let d = deployment(json!({"template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}));
        let errs = validate("Deployment", &d);
        assert_eq!(
            format_invalid_message("Deployment", "web", &errs),
            "Deployment.apps \"web\" is invalid: [spec.selector: Required value, spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`]"
        );
    }

    #[test]
    fn deployment_valid_and_mismatch() {
        let ok = deployment(json!({"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web", "tier": "fe"}},
                "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}}}));
        assert_eq!(validate("Deployment", &ok), vec![]);
        let bad = deployment(
            json!({"replicas": -1, "selector": {"matchLabels": {"app": "api"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "web", "image": "nginx"}]}}}),
        );
        assert_eq!(
            fields(&validate("Deployment", &bad)),
            vec![
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`",
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
            ]
        );
        let empty = deployment(json!({"selector": {},
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}}));
        assert_eq!(
            fields(&validate("Deployment", &empty)),
            vec![
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
            ]
        );
    }

    fn replication_controller(spec: Value) -> Value {
        let mut rc = json!({"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": "web", "namespace": "default"}, "spec": spec});
        strategy("ReplicationController").defaults(&mut rc);
        rc
    }

    #[test]
    fn replication_controller_checks() {
        // The selector defaults to the template labels, so a bare RC is valid.
        let ok =
            replication_controller(json!({"template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}));
        assert_eq!(validate("ReplicationController", &ok), vec![]);

        let bad = replication_controller(json!({"replicas": -1, "minReadySeconds": -2,
            "selector": {"app": "api"},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"restartPolicy": "Never", "activeDeadlineSeconds": 5,
                    "containers": [{"name": "web", "image": "nginx"}]}}}));
        assert_eq!(
            fields(&validate("ReplicationController", &bad)),
            vec![
                "spec.minReadySeconds: Invalid value: -2: must be greater than or equal to 0",
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`",
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
                "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicationController is not Supported",
            ]
        );

        // Without template labels there is no selector to default: both are missing.
        let bare = replication_controller(json!({}));
        assert_eq!(
            format_invalid_message(
                "ReplicationController",
                "web",
                &validate("ReplicationController", &bare)
            ),
            "ReplicationController \"web\" is invalid: [spec.selector: Required value, spec.template: Required value]"
        );

        // The selector of an RC may change; the template must still match it.
        let mut new = ok.clone();
        new["spec"]["selector"] = json!({"app": "web", "v": "2"});
        assert_eq!(
            fields(&validate_update("ReplicationController", &ok, &new)),
            vec![
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`"
            ]
        );
        new["spec"]["template"]["metadata"]["labels"]["v"] = json!("2");
        assert_eq!(validate_update("ReplicationController", &ok, &new), vec![]);
    }

    fn persistent_volume(spec: Value) -> Value {
        let mut pv = json!({"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": "pv1"}, "spec": spec});
        strategy("PersistentVolume").defaults(&mut pv);
        pv
    }

    #[test]
    fn persistent_volume_checks() {
        let ok = persistent_volume(json!({"capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/data"}}));
        assert_eq!(validate("PersistentVolume", &ok), vec![]);

        let empty = persistent_volume(json!({}));
        assert_eq!(
            format_invalid_message(
                "PersistentVolume",
                "pv1",
                &validate("PersistentVolume", &empty)
            ),
            "PersistentVolume \"pv1\" is invalid: [spec.accessModes: Required value, spec.capacity: Required value, spec.capacity: Unsupported value: core.ResourceList(nil): supported values: \"storage\", spec: Required value: must specify a volume type]"
        );

        let bad = persistent_volume(json!({"capacity": {"storage": "0"},
            "accessModes": ["ReadWriteOncePod", "ReadWriteOnce", "WriteOnly"],
            "persistentVolumeReclaimPolicy": "Keep", "storageClassName": "Fast",
            "volumeMode": "Raw",
            "hostPath": {"path": "/a/../b", "type": "Pipe"},
            "nfs": {"server": "s", "path": "/x"}}));
        assert_eq!(
            fields(&validate("PersistentVolume", &bad)),
            vec![
                "spec.accessModes: Unsupported value: \"WriteOnly\": supported values: \"ReadOnlyMany\", \"ReadWriteMany\", \"ReadWriteOnce\", \"ReadWriteOncePod\"",
                "spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes",
                "spec.capacity[storage]: Invalid value: \"0\": must be greater than zero",
                "spec.persistentVolumeReclaimPolicy: Unsupported value: \"Keep\": supported values: \"Delete\", \"Recycle\", \"Retain\"",
                "spec.hostPath.path: Invalid value: \"/a/../b\": must not contain '..'",
                "spec.hostPath.type: Unsupported value: \"Pipe\": supported values: \"\", \"BlockDevice\", \"CharDevice\", \"Directory\", \"DirectoryOrCreate\", \"File\", \"FileOrCreate\", \"Socket\"",
                "spec.nfs: Forbidden: may not specify more than 1 volume type",
                "spec.storageClassName: Invalid value: \"Fast\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                "spec.volumeMode: Unsupported value: \"Raw\": supported values: \"Block\", \"Filesystem\"",
            ]
        );

        let other = persistent_volume(json!({"capacity": {"cpu": "1"},
            "accessModes": ["ReadOnlyMany"], "persistentVolumeReclaimPolicy": "Recycle",
            "hostPath": {"path": "/"}}));
        assert_eq!(
            fields(&validate("PersistentVolume", &other)),
            vec![
                "spec.capacity: Unsupported value: core.ResourceList{\"cpu\":\"1\"}: supported values: \"storage\"",
                "spec.persistentVolumeReclaimPolicy: Forbidden: may not be 'recycle' for a hostPath mount of '/'",
            ]
        );

        let local = persistent_volume(json!({"capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"], "local": {"path": "/mnt/disk"}}));
        assert_eq!(
            fields(&validate("PersistentVolume", &local)),
            vec!["spec.nodeAffinity: Required value: Local volume requires node affinity"]
        );
        let csi = persistent_volume(json!({"capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"], "csi": {"driver": "d.example.com"}}));
        assert_eq!(
            fields(&validate("PersistentVolume", &csi)),
            vec!["spec.csi.volumeHandle: Required value"]
        );

        // The volume source and mode are fixed after creation; capacity and class are not.
        let mut new = ok.clone();
        new["spec"]["capacity"]["storage"] = json!("2Gi");
        new["spec"]["storageClassName"] = json!("slow");
        assert_eq!(validate_update("PersistentVolume", &ok, &new), vec![]);
        new["spec"]["hostPath"]["path"] = json!("/other");
        new["spec"]["volumeMode"] = json!("Block");
        assert_eq!(
            fields(&validate_update("PersistentVolume", &ok, &new)),
            vec![
                "spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation",
                "volumeMode: Invalid value: \"Block\": field is immutable",
            ]
        );
    }

    #[test]
    fn pod_checks() {
        let p = pod(json!({"containers": [
            {"name": "a", "ports": [{"containerPort": 70000}, {"containerPort": 80, "protocol": "HTTP"}]},
            {"name": "a", "image": "x", "env": [{"name": "A=B"}]},
            {"name": "Bad_Name", "image": "x"}
        ], "restartPolicy": "Sometimes"}));
        assert_eq!(
            fields(&validate("Pod", &p)),
            vec![
                "spec.containers[0].image: Required value",
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.containers[0].ports[1].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.containers[1].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
                "spec.containers[1].name: Duplicate value: \"a\"",
                "spec.containers[2].name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
            ]
        );
        let p = pod(json!({}));
        assert_eq!(
            fields(&validate("Pod", &p)),
            vec!["spec.containers: Required value"]
        );
        let p = pod(
            json!({"initContainers": [{"name": "c", "image": "x"}], "containers": [{"name": "c", "image": "x",
            "volumeMounts": [{"name": "missing", "mountPath": "/x"}]}]}),
        );
        assert_eq!(
            fields(&validate("Pod", &p)),
            vec![
                "spec.containers[0].volumeMounts[0].name: Not found: \"missing\"",
                "spec.initContainers[0].name: Duplicate value: \"c\"",
            ]
        );
        let p = pod(json!({"containers": [{"name": "c", "image": "x",
            "resources": {"limits": {"cpu": "500m"}, "requests": {"cpu": "1"}}}]}));
        assert_eq!(
            fields(&validate("Pod", &p)),
            vec![
                "spec.containers[0].resources.requests: Invalid value: \"1\": must be less than or equal to cpu limit of 500m"
            ]
        );
    }

    #[test]
    fn job_and_cronjob() {
        let mut job = json!({"metadata": {"name": "pi", "namespace": "d"}, "spec": {"template": {"spec": {
            "containers": [{"name": "pi", "image": "perl"}]}}}});
        strategy("Job").defaults(&mut job);
        crate::defaults::default_job_selector(&mut job, "1234");
        assert_eq!(
            fields(&validate("Job", &job)),
            vec![
                "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""
            ]
        );
        job["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        assert_eq!(validate("Job", &job), vec![]);
        job["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
        assert_eq!(validate("Job", &job).len(), 1);

        let mut cj = json!({"metadata": {"name": "c", "namespace": "d"}, "spec": {"schedule": "*/5 * * * *",
            "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure",
                "containers": [{"name": "c", "image": "busybox"}]}}}}}});
        strategy("CronJob").defaults(&mut cj);
        assert_eq!(validate("CronJob", &cj), vec![]);
        cj["spec"]["schedule"] = json!("* * *");
        assert_eq!(
            fields(&validate("CronJob", &cj)),
            vec![
                "spec.schedule: Invalid value: \"* * *\": expected exactly 5 fields, found 3: [* * *]"
            ]
        );
        cj["spec"]["schedule"] = json!("@hourly");
        assert_eq!(validate("CronJob", &cj), vec![]);
        cj["spec"]["schedule"] = json!("61 * * * *");
        assert_eq!(
            validate("CronJob", &cj)[0].message,
            "Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61"
        );
        cj["spec"]["schedule"] = json!("");
        assert_eq!(
            fields(&validate("CronJob", &cj)),
            vec!["spec.schedule: Required value"]
        );
        assert!(validate_cron_schedule("0 0 * JAN-mar sun,sat").is_ok());
        assert!(validate_cron_schedule("@every 1h30m").is_ok());
        assert_eq!(
            validate_cron_schedule("@often").unwrap_err(),
            "unrecognized descriptor: @often"
        );
        assert_eq!(
            validate_cron_schedule("x * * * *").unwrap_err(),
            "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax"
        );
    }

    #[test]
    fn services() {
        let mk = |spec: Value| {
            let mut s = json!({"metadata": {"name": "svc", "namespace": "d"}, "spec": spec});
            strategy("Service").defaults(&mut s);
            s
        };
        assert_eq!(
            validate(
                "Service",
                &mk(json!({"selector": {"app": "x"}, "ports": [{"port": 80}]}))
            ),
            vec![]
        );
        assert_eq!(
            fields(&validate(
                "Service",
                &mk(
                    json!({"ports": [{"port": 80}, {"port": 0, "name": "b", "protocol": "ICMP"}], "type": "Magic"})
                )
            )),
            vec![
                "spec.ports[0].name: Required value",
                "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.ports[1].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.type: Unsupported value: \"Magic\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
            ]
        );
        assert_eq!(
            fields(&validate("Service", &mk(json!({})))),
            vec!["spec.ports: Required value"]
        );
        assert_eq!(
            fields(&validate("Service", &mk(json!({"type": "ExternalName"})))),
            vec!["spec.externalName: Required value"]
        );
        assert_eq!(
            validate(
                "Service",
                &mk(json!({"type": "ExternalName", "externalName": "db.example.com."}))
            ),
            vec![]
        );
        assert_eq!(
            fields(&validate(
                "Service",
                &mk(json!({"ports": [{"port": 80, "name": "a"}, {"port": 81, "name": "a"}]}))
            )),
            vec!["spec.ports[1].name: Duplicate value: \"a\""]
        );
    }

    #[test]
    fn configmaps_and_secrets() {
        let cm = json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"good.key": "v", "bad key": "v"}});
        assert_eq!(
            fields(&validate("ConfigMap", &cm)),
            vec![
                "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
            ]
        );
        let s = json!({"metadata": {"name": "s", "namespace": "d"}, "type": "Opaque", "data": {"a": "aGVsbG8=", "b": "!!!"}});
        assert_eq!(
            fields(&validate("Secret", &s)),
            vec![
                "data[b]: Invalid value: \"<secret contents redacted>\": illegal base64 data at input byte 0"
            ]
        );
        assert_eq!(
            secret_decode_error(&s).unwrap(),
            "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 0"
        );
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(
            base64_decode("aGVsbG8").unwrap_err(),
            "illegal base64 data at input byte 4"
        );
        assert_eq!(base64_decode("aGVs\nbG8=").unwrap(), b"hello");
        let tls = json!({"metadata": {"name": "s", "namespace": "d"}, "type": "kubernetes.io/tls", "data": {}});
        assert_eq!(
            fields(&validate("Secret", &tls)),
            vec![
                "data[tls.crt]: Required value",
                "data[tls.key]: Required value"
            ]
        );
    }

    #[test]
    fn hpa_ingress_namespace() {
        let hpa = json!({"metadata": {"name": "h", "namespace": "d"}, "spec": {"minReplicas": 5, "maxReplicas": 2, "scaleTargetRef": {"kind": "Deployment"}}});
        assert_eq!(
            fields(&validate("HorizontalPodAutoscaler", &hpa)),
            vec![
                "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`",
                "spec.scaleTargetRef.name: Required value",
            ]
        );
        let ing = json!({"metadata": {"name": "i", "namespace": "d"}, "spec": {"rules": [{"host": "example.com", "http": {"paths": [
            {"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
            {"path": "/a", "pathType": "Regex", "backend": {"service": {"name": "web"}}},
            {"path": "/b", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"name": "http"}}}}
        ]}}]}});
        assert_eq!(
            fields(&validate("Ingress", &ing)),
            vec![
                "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified",
                "spec.rules[0].http.paths[1].pathType: Unsupported value: \"Regex\": supported values: \"Exact\", \"ImplementationSpecific\", \"Prefix\"",
                "spec.rules[0].http.paths[1].backend: Required value: port name or number is required",
            ]
        );
        let ing = json!({"metadata": {"name": "i", "namespace": "d"}, "spec": {}});
        assert_eq!(
            fields(&validate("Ingress", &ing)),
            vec![
                "spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified"
            ]
        );
        let ns = json!({"metadata": {"name": "Team"}});
        assert_eq!(validate("Namespace", &ns).len(), 1);
        assert_eq!(
            validate("Namespace", &json!({"metadata": {"name": "team"}})),
            vec![]
        );
    }

    #[test]
    fn a_bindings_role_ref_cannot_change() {
        for (kind, ns) in [
            ("RoleBinding", Some("default")),
            ("ClusterRoleBinding", None),
        ] {
            let b = |role: &str| {
                let mut o = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                    "metadata": {"name": "b", "resourceVersion": "1"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                    "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}]});
                if let Some(ns) = ns {
                    o["metadata"]["namespace"] = json!(ns);
                }
                o
            };
            assert!(validate_update(kind, &b("a"), &b("a")).is_empty(), "{kind}");
            let errs = validate_update(kind, &b("a"), &b("z"));
            assert_eq!(errs.len(), 1, "{kind}: {errs:?}");
            assert_eq!(errs[0].field, "roleRef", "{kind}");
            assert_eq!(
                errs[0].message,
                r#"Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"z"}: cannot change roleRef"#
            );
        }
    }

    #[test]
    fn updates() {
        let old = deployment(json!({"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web", "v": "2"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}));
        let mut new = old.clone();
        assert_eq!(validate_update("Deployment", &old, &new), vec![]);
        new["spec"]["selector"] = json!({"matchLabels": {"app": "web", "v": "2"}});
        assert_eq!(
            fields(&validate_update("Deployment", &old, &new)),
            vec![
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\", \"v\":\"2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
            ]
        );
        let mut renamed = old.clone();
        renamed["metadata"]["name"] = json!("other");
        assert_eq!(
            fields(&validate_update("Deployment", &old, &renamed)),
            vec!["metadata.name: Invalid value: \"other\": field is immutable"]
        );

        let svc_old = json!({"metadata": {"name": "s", "namespace": "d"}, "spec": {"type": "ClusterIP", "sessionAffinity": "None",
            "clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}]}});
        let mut svc_new = svc_old.clone();
        svc_new["spec"]["clusterIP"] = json!("10.0.0.5");
        svc_new["spec"]["clusterIPs"] = json!(["10.0.0.5"]);
        assert_eq!(
            fields(&validate_update("Service", &svc_old, &svc_new)),
            vec![
                "spec.clusterIPs[0]: Invalid value: []string{\"10.0.0.5\"}: may not change once set"
            ]
        );

        let cm_old = json!({"metadata": {"name": "c", "namespace": "d"}, "immutable": true, "data": {"a": "1"}});
        let mut cm_new = cm_old.clone();
        cm_new["data"]["a"] = json!("2");
        assert_eq!(
            fields(&validate_update("ConfigMap", &cm_old, &cm_new)),
            vec!["data: Forbidden: field is immutable when `immutable` is set"]
        );

        let sts_old = json!({"metadata": {"name": "s", "namespace": "d"}, "spec": {"serviceName": "a", "replicas": 1}});
        let mut sts_new = sts_old.clone();
        sts_new["spec"]["serviceName"] = json!("b");
        sts_new["spec"]["replicas"] = json!(3);
        let errs = validate_update("StatefulSet", &sts_old, &sts_new);
        assert!(
            errs.iter()
                .any(|e| e.to_string() == format!("spec: Forbidden: {STS_UPDATE_FORBIDDEN}"))
        );

        let p_old = pod(json!({"containers": [{"name": "c", "image": "nginx:1"}]}));
        let mut p_new = p_old.clone();
        p_new["spec"]["containers"][0]["image"] = json!("nginx:2");
        assert_eq!(validate_update("Pod", &p_old, &p_new), vec![]);
        p_new["spec"]["containers"][0]["ports"] = json!([{"containerPort": 80, "protocol": "TCP"}]);
        assert_eq!(
            fields(&validate_update("Pod", &p_old, &p_new)),
            vec![format!("spec: Forbidden: {POD_UPDATE_FORBIDDEN}")]
        );

        let mut j_old = json!({"metadata": {"name": "j", "namespace": "d"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}});
        strategy("Job").defaults(&mut j_old);
        crate::defaults::default_job_selector(&mut j_old, "u1");
        let mut j_new = j_old.clone();
        j_new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("y");
        assert_eq!(validate_update("Job", &j_old, &j_new).len(), 1);
        assert_eq!(
            validate_update("Job", &j_old, &j_new)[0].field,
            "spec.template"
        );
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("1"), Some(1_000_000_000));
        assert_eq!(parse_quantity("100m"), Some(100_000_000));
        assert_eq!(parse_quantity("1Ki"), Some(1024 * 1_000_000_000));
        assert_eq!(parse_quantity("1.5G"), Some(1_500_000_000 * 1_000_000_000));
        assert_eq!(parse_quantity("2e3"), Some(2000 * 1_000_000_000));
        assert_eq!(parse_quantity("1Gi"), parse_quantity("1024Mi"));
        assert_eq!(parse_quantity("abc"), None);
        assert_eq!(parse_quantity("1X"), None);
    }
}
