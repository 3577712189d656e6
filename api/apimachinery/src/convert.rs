//! Version conversion between the versions a resource is served at from one storage: today
//! `autoscaling/v1` and `autoscaling/v2` `HorizontalPodAutoscaler`, converted as Kubernetes
//! does (`pkg/apis/autoscaling/v1/conversion.go`), and the HPA defaulting of both versions.
//!
//! # v2 -> v1
//!
//! - `spec.metrics`: the first `Resource` metric on `cpu` with an `averageUtilization` target
//!   becomes `spec.targetCPUUtilizationPercentage`; every other metric is kept, in the
//!   `autoscaling/v1` `MetricSpec` shape, as a JSON array in the annotation
//!   [`METRIC_SPECS_ANNOTATION`].
//! - `status.currentMetrics`: a `cpu` utilization becomes `status.currentCPUUtilizationPercentage`
//!   and all of them (v1 `MetricStatus` shape) go to [`METRIC_STATUSES_ANNOTATION`].
//! - `status.conditions` go to [`CONDITIONS_ANNOTATION`], `spec.behavior` to
//!   [`BEHAVIOR_ANNOTATION`] (with Kubernetes' upper-case field names: it marshals an internal
//!   type there).
//! - Round-trip annotations already on the object are dropped first, so the ones present are
//!   exactly those the conversion produced.
//!
//! # v1 -> v2
//!
//! The reverse: metrics from the annotation followed by the CPU target; current metrics from
//! the annotation when present (it has more information) else from the CPU percentage;
//! conditions and behavior from their annotations; the four annotations are removed. An HPA
//! left without any metric gets Kubernetes' implicit default, CPU at 80% utilization.
//!
//! # Fidelity
//!
//! A v2 -> v1 -> v2 round trip gives back the same object, except that a CPU-utilization metric
//! moves after the other metrics (as in Kubernetes, which has nowhere to keep its position).
//! Where Kubernetes' reverse conversion would add a zero quantity that the v2 object did not
//! have (`value: "0"` next to an `averageValue` on `Object` and `External` metrics and
//! statuses), it is left out here, so the round trip is exact.

use serde_json::{Map, Value, json};

/// `autoscaling/v1` annotation holding the metrics v1 cannot express.
pub const METRIC_SPECS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";
/// `autoscaling/v1` annotation holding `status.currentMetrics`.
pub const METRIC_STATUSES_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
/// `autoscaling/v1` annotation holding `status.conditions`.
pub const CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";
/// `autoscaling/v1` annotation holding `spec.behavior`.
pub const BEHAVIOR_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/behavior";
/// The CPU utilization target of an HPA that names no metric.
pub const DEFAULT_CPU_UTILIZATION: i64 = 80;

const ROUND_TRIP_ANNOTATIONS: [&str; 4] = [
    METRIC_SPECS_ANNOTATION,
    METRIC_STATUSES_ANNOTATION,
    CONDITIONS_ANNOTATION,
    BEHAVIOR_ANNOTATION,
];

const HPA: &str = "HorizontalPodAutoscaler";
const V1: &str = "autoscaling/v1";
const V2: &str = "autoscaling/v2";

/// Why an object could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("object has no apiVersion")]
    MissingApiVersion,
    #[error("no conversion for kind {kind:?} from {from} to {to}")]
    Unsupported {
        kind: String,
        from: String,
        to: String,
    },
    #[error("cannot convert: {0}")]
    Invalid(String),
}

/// Converts `obj` to `to_api_version`.
///
/// An object already at that version is returned unchanged. `HorizontalPodAutoscaler` (and
/// `HorizontalPodAutoscalerList`, item by item) converts between `autoscaling/v1` and
/// `autoscaling/v2`; anything else is [`ConvertError::Unsupported`].
pub fn convert(obj: &Value, to_api_version: &str) -> Result<Value, ConvertError> {
    let from = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .ok_or(ConvertError::MissingApiVersion)?;
    if from == to_api_version {
        return Ok(obj.clone());
    }
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let unsupported = || ConvertError::Unsupported {
        kind: kind.to_string(),
        from: from.to_string(),
        to: to_api_version.to_string(),
    };
    let is_hpa_version = |v: &str| v == V1 || v == V2;
    if !is_hpa_version(from) || !is_hpa_version(to_api_version) {
        return Err(unsupported());
    }
    match kind {
        HPA => {
            let map = obj
                .as_object()
                .ok_or_else(|| ConvertError::Invalid("object is not a JSON object".into()))?;
            if to_api_version == V1 {
                Ok(hpa_v2_to_v1(map))
            } else {
                Ok(hpa_v1_to_v2(map))
            }
        }
        "HorizontalPodAutoscalerList" => {
            let mut out = obj.clone();
            out["apiVersion"] = Value::String(to_api_version.to_string());
            if let Some(items) = out.get_mut("items").and_then(Value::as_array_mut) {
                for item in items.iter_mut() {
                    if item.get("apiVersion").is_none() {
                        item["apiVersion"] = Value::String(from.to_string());
                    }
                    if item.get("kind").is_none() {
                        item["kind"] = Value::String(HPA.to_string());
                    }
                    *item = convert(item, to_api_version)?;
                }
            }
            Ok(out)
        }
        _ => Err(unsupported()),
    }
}

/// Applies Kubernetes' HPA defaults for the object's version.
///
/// Both versions: `spec.minReplicas` defaults to 1. `autoscaling/v2`: no metrics means CPU at
/// 80% average utilization, and a `spec.behavior` gets its missing scale-up / scale-down rules
/// filled with the defaults. `autoscaling/v1`: a missing `targetCPUUtilizationPercentage` is
/// set to 80 unless the metrics annotation carries other metrics, which is what reading the
/// object back through storage would show. Other objects are left alone.
pub fn default_hpa(obj: &mut Value) {
    if obj.get("kind").and_then(Value::as_str) != Some(HPA) {
        return;
    }
    let version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if version != V1 && version != V2 {
        return;
    }
    let has_other_metrics = version == V1
        && annotation_json(obj, METRIC_SPECS_ANNOTATION)
            .and_then(|v| v.as_array().map(|a| !a.is_empty()))
            .unwrap_or(false);
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let spec = root
        .entry("spec")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(spec) = spec.as_object_mut() else {
        return;
    };
    if spec.get("minReplicas").is_none_or(Value::is_null) {
        spec.insert("minReplicas".into(), json!(1));
    }
    if version == V1 {
        if spec
            .get("targetCPUUtilizationPercentage")
            .is_none_or(Value::is_null)
            && !has_other_metrics
        {
            spec.insert(
                "targetCPUUtilizationPercentage".into(),
                json!(DEFAULT_CPU_UTILIZATION),
            );
        }
        return;
    }
    let no_metrics = spec
        .get("metrics")
        .is_none_or(|m| m.as_array().is_none_or(Vec::is_empty));
    if no_metrics {
        spec.insert("metrics".into(), json!([default_cpu_metric()]));
    }
    if let Some(behavior) = spec.get_mut("behavior").and_then(Value::as_object_mut) {
        let up = scaling_rules(behavior.get("scaleUp"), default_scale_up_rules());
        let down = scaling_rules(behavior.get("scaleDown"), default_scale_down_rules());
        behavior.insert("scaleUp".into(), up);
        behavior.insert("scaleDown".into(), down);
    }
}

fn default_cpu_metric() -> Value {
    json!({
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION},
        },
    })
}

fn default_scale_up_rules() -> Map<String, Value> {
    json!({
        "stabilizationWindowSeconds": 0,
        "selectPolicy": "Max",
        "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15},
        ],
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

fn default_scale_down_rules() -> Map<String, Value> {
    json!({
        "selectPolicy": "Max",
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

/// `copyHPAScalingRules(from, defaults)`: every non-null field of `from` over the defaults.
fn scaling_rules(from: Option<&Value>, mut defaults: Map<String, Value>) -> Value {
    if let Some(from) = from.and_then(Value::as_object) {
        for (k, v) in from {
            if !v.is_null() {
                defaults.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(defaults)
}

// ---------------------------------------------------------------------------------------------
// Helpers

static NULL: Value = Value::Null;

fn get<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or(&NULL)
}

fn present(v: &Value) -> bool {
    !v.is_null()
}

/// Inserts `value` under `key` unless it is null.
fn put(map: &mut Map<String, Value>, key: &str, value: &Value) {
    if present(value) {
        map.insert(key.to_string(), value.clone());
    }
}

/// A required `resource.Quantity`: Go marshals the zero value as `"0"`.
fn quantity_or_zero(v: &Value) -> Value {
    if present(v) { v.clone() } else { json!("0") }
}

fn is_zero_quantity(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s
            .trim_start_matches(['+', '-'])
            .chars()
            .all(|c| c == '0' || c == '.'),
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

fn annotation_json(obj: &Value, key: &str) -> Option<Value> {
    obj.get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
}

fn is_cpu_utilization(metric: &Value) -> bool {
    get(metric, "type").as_str() == Some("Resource")
        && get(get(metric, "resource"), "name").as_str() == Some("cpu")
        && present(get(
            get(get(metric, "resource"), "target"),
            "averageUtilization",
        ))
}

/// The object's metadata with the round-trip annotations removed and `add` inserted.
fn metadata_with(metadata: Option<&Value>, add: Vec<(&'static str, String)>) -> Option<Value> {
    let mut meta = match metadata {
        Some(Value::Object(m)) => m.clone(),
        Some(other) => return Some(other.clone()),
        None if add.is_empty() => return None,
        None => Map::new(),
    };
    let mut annotations = match meta.get("annotations") {
        Some(Value::Object(a)) => a.clone(),
        _ => Map::new(),
    };
    let had = meta.contains_key("annotations");
    let before = annotations.len();
    for key in ROUND_TRIP_ANNOTATIONS {
        annotations.remove(key);
    }
    let dropped = annotations.len() != before;
    for (key, value) in add {
        annotations.insert(key.to_string(), Value::String(value));
    }
    if annotations.is_empty() && (dropped || !had) {
        meta.remove("annotations");
    } else {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    Some(Value::Object(meta))
}

/// Copies `obj`'s top-level fields in order, with the given replacements (a `None`
/// replacement drops the field) and any replacement for a missing field appended.
fn rebuild(obj: &Map<String, Value>, mut replace: Vec<(&str, Option<Value>)>) -> Value {
    let mut out = Map::new();
    for (k, v) in obj {
        match replace.iter().position(|(key, _)| key == k) {
            Some(i) => {
                if let (_, Some(value)) = replace.remove(i) {
                    out.insert(k.clone(), value);
                }
            }
            None => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    for (k, v) in replace {
        if let Some(v) = v {
            out.insert(k.to_string(), v);
        }
    }
    Value::Object(out)
}

fn to_compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// v2 -> v1

fn hpa_v2_to_v1(obj: &Map<String, Value>) -> Value {
    let spec = obj.get("spec").unwrap_or(&NULL);
    let status = obj.get("status").unwrap_or(&NULL);
    let metrics = get(spec, "metrics").as_array().cloned().unwrap_or_default();
    let current = get(status, "currentMetrics")
        .as_array()
        .cloned()
        .unwrap_or_default();
    let conditions = get(status, "conditions")
        .as_array()
        .cloned()
        .unwrap_or_default();

    let mut annotations: Vec<(&'static str, String)> = Vec::new();
    let other: Vec<Value> = metrics
        .iter()
        .filter(|m| !is_cpu_utilization(m))
        .map(metric_spec_v2_to_v1)
        .collect();
    if !other.is_empty() {
        annotations.push((METRIC_SPECS_ANNOTATION, to_compact(&Value::Array(other))));
    }
    if !current.is_empty() {
        let statuses: Vec<Value> = current.iter().map(metric_status_v2_to_v1).collect();
        annotations.push((
            METRIC_STATUSES_ANNOTATION,
            to_compact(&Value::Array(statuses)),
        ));
    }
    if let Some(behavior) = spec.get("behavior").filter(|b| present(b)) {
        annotations.push((BEHAVIOR_ANNOTATION, to_compact(&upper_keys(behavior))));
    }
    if !conditions.is_empty() {
        annotations.push((CONDITIONS_ANNOTATION, to_compact(&Value::Array(conditions))));
    }

    let new_spec = obj.get("spec").map(|spec| {
        let mut out = Map::new();
        put(&mut out, "scaleTargetRef", get(spec, "scaleTargetRef"));
        put(&mut out, "minReplicas", get(spec, "minReplicas"));
        put(&mut out, "maxReplicas", get(spec, "maxReplicas"));
        if let Some(cpu) = metrics.iter().find(|m| is_cpu_utilization(m)) {
            out.insert(
                "targetCPUUtilizationPercentage".into(),
                get(get(get(cpu, "resource"), "target"), "averageUtilization").clone(),
            );
        }
        Value::Object(out)
    });
    let new_status = obj.get("status").map(|status| {
        let mut out = Map::new();
        for key in ["observedGeneration", "lastScaleTime"] {
            put(&mut out, key, get(status, key));
        }
        // v1 always carries both counts (no omitempty in Kubernetes' v1 type).
        for key in ["currentReplicas", "desiredReplicas"] {
            let n = get(status, key);
            out.insert(key.into(), if n.is_null() { json!(0) } else { n.clone() });
        }
        for metric in &current {
            let resource = get(metric, "resource");
            if get(metric, "type").as_str() == Some("Resource")
                && get(resource, "name").as_str() == Some("cpu")
            {
                let utilization = get(get(resource, "current"), "averageUtilization");
                put(&mut out, "currentCPUUtilizationPercentage", utilization);
            }
        }
        Value::Object(out)
    });
    let metadata = metadata_with(obj.get("metadata"), annotations);
    rebuild(
        obj,
        vec![
            ("apiVersion", Some(json!(V1))),
            ("metadata", metadata),
            ("spec", new_spec),
            ("status", new_status),
        ],
    )
}

fn metric_spec_v2_to_v1(m: &Value) -> Value {
    let ty = get(m, "type").as_str().unwrap_or_default();
    let mut out = Map::new();
    out.insert("type".into(), get(m, "type").clone());
    match ty {
        "Object" => {
            let src = get(m, "object");
            let target = get(src, "target");
            let mut o = Map::new();
            o.insert("target".into(), get(src, "describedObject").clone());
            o.insert("metricName".into(), get(get(src, "metric"), "name").clone());
            o.insert("targetValue".into(), quantity_or_zero(get(target, "value")));
            put(&mut o, "selector", get(get(src, "metric"), "selector"));
            put(&mut o, "averageValue", get(target, "averageValue"));
            out.insert("object".into(), Value::Object(o));
        }
        "Pods" => {
            let src = get(m, "pods");
            let mut o = Map::new();
            o.insert("metricName".into(), get(get(src, "metric"), "name").clone());
            o.insert(
                "targetAverageValue".into(),
                quantity_or_zero(get(get(src, "target"), "averageValue")),
            );
            put(&mut o, "selector", get(get(src, "metric"), "selector"));
            out.insert("pods".into(), Value::Object(o));
        }
        "Resource" | "ContainerResource" => {
            let key = if ty == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let src = get(m, key);
            let target = get(src, "target");
            let mut o = Map::new();
            o.insert("name".into(), get(src, "name").clone());
            put(
                &mut o,
                "targetAverageUtilization",
                get(target, "averageUtilization"),
            );
            put(&mut o, "targetAverageValue", get(target, "averageValue"));
            if ty == "ContainerResource" {
                o.insert("container".into(), get(src, "container").clone());
            }
            out.insert(key.into(), Value::Object(o));
        }
        "External" => {
            let src = get(m, "external");
            let target = get(src, "target");
            let mut o = Map::new();
            o.insert("metricName".into(), get(get(src, "metric"), "name").clone());
            put(
                &mut o,
                "metricSelector",
                get(get(src, "metric"), "selector"),
            );
            put(&mut o, "targetValue", get(target, "value"));
            put(&mut o, "targetAverageValue", get(target, "averageValue"));
            out.insert("external".into(), Value::Object(o));
        }
        _ => {}
    }
    Value::Object(out)
}

fn metric_status_v2_to_v1(m: &Value) -> Value {
    let ty = get(m, "type").as_str().unwrap_or_default();
    let mut out = Map::new();
    out.insert("type".into(), get(m, "type").clone());
    match ty {
        "Object" => {
            let src = get(m, "object");
            let current = get(src, "current");
            let mut o = Map::new();
            o.insert("target".into(), get(src, "describedObject").clone());
            o.insert("metricName".into(), get(get(src, "metric"), "name").clone());
            o.insert(
                "currentValue".into(),
                quantity_or_zero(get(current, "value")),
            );
            put(&mut o, "selector", get(get(src, "metric"), "selector"));
            put(&mut o, "averageValue", get(current, "averageValue"));
            out.insert("object".into(), Value::Object(o));
        }
        "Pods" => {
            let src = get(m, "pods");
            let mut o = Map::new();
            o.insert("metricName".into(), get(get(src, "metric"), "name").clone());
            o.insert(
                "currentAverageValue".into(),
                quantity_or_zero(get(get(src, "current"), "averageValue")),
            );
            put(&mut o, "selector", get(get(src, "metric"), "selector"));
            out.insert("pods".into(), Value::Object(o));
        }
        "Resource" | "ContainerResource" => {
            let key = if ty == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let src = get(m, key);
            let current = get(src, "current");
            let mut o = Map::new();
            o.insert("name".into(), get(src, "name").clone());
            put(
                &mut o,
                "currentAverageUtilization",
                get(current, "averageUtilization"),
            );
            o.insert(
                "currentAverageValue".into(),
                quantity_or_zero(get(current, "averageValue")),
            );
            if ty == "ContainerResource" {
                o.insert("container".into(), get(src, "container").clone());
            }
            out.insert(key.into(), Value::Object(o));
        }
        "External" => {
            let src = get(m, "external");
            let current = get(src, "current");
            let mut o = Map::new();
            o.insert("metricName".into(), get(get(src, "metric"), "name").clone());
            put(
                &mut o,
                "metricSelector",
                get(get(src, "metric"), "selector"),
            );
            o.insert(
                "currentValue".into(),
                quantity_or_zero(get(current, "value")),
            );
            put(&mut o, "currentAverageValue", get(current, "averageValue"));
            out.insert("external".into(), Value::Object(o));
        }
        _ => {}
    }
    Value::Object(out)
}

/// Kubernetes marshals the internal (untagged) behavior type: Go field names, upper-case.
fn upper_keys(v: &Value) -> Value {
    map_keys(v, &|k: &str| {
        let mut chars = k.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        }
    })
}

/// Decoding the behavior annotation (Go matches field names case-insensitively); drops nulls.
fn lower_keys(v: &Value) -> Value {
    map_keys(v, &|k: &str| {
        let mut chars = k.chars();
        match chars.next() {
            Some(first) => first.to_lowercase().chain(chars).collect(),
            None => String::new(),
        }
    })
}

fn map_keys(v: &Value, f: &dyn Fn(&str) -> String) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| present(v))
                .map(|(k, v)| (f(k), map_keys(v, f)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| map_keys(v, f)).collect()),
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// v1 -> v2

fn hpa_v1_to_v2(obj: &Map<String, Value>) -> Value {
    let whole = Value::Object(obj.clone());
    let spec = obj.get("spec").unwrap_or(&NULL);
    let status = obj.get("status").unwrap_or(&NULL);

    let mut metrics: Vec<Value> = Vec::new();
    if let Some(Value::Array(other)) = annotation_json(&whole, METRIC_SPECS_ANNOTATION) {
        metrics.extend(other.iter().map(metric_spec_v1_to_v2));
    }
    let cpu = get(spec, "targetCPUUtilizationPercentage");
    if present(cpu) {
        metrics.push(json!({
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}},
        }));
    }
    if metrics.is_empty() {
        // autoscaling/v1 had an implicit default applied by the controller.
        metrics.push(default_cpu_metric());
    }
    let behavior = annotation_json(&whole, BEHAVIOR_ANNOTATION)
        .map(|b| lower_keys(&b))
        .filter(|b| present(get(b, "scaleUp")) || present(get(b, "scaleDown")));

    let current: Vec<Value> = match annotation_json(&whole, METRIC_STATUSES_ANNOTATION) {
        Some(Value::Array(statuses)) => statuses.iter().map(metric_status_v1_to_v2).collect(),
        _ => {
            let cpu = get(status, "currentCPUUtilizationPercentage");
            if present(cpu) {
                vec![json!({
                    "type": "Resource",
                    "resource": {"name": "cpu", "current": {"averageUtilization": cpu}},
                })]
            } else {
                Vec::new()
            }
        }
    };
    let conditions = match annotation_json(&whole, CONDITIONS_ANNOTATION) {
        Some(Value::Array(c)) => c,
        _ => Vec::new(),
    };

    let mut new_spec = Map::new();
    put(&mut new_spec, "scaleTargetRef", get(spec, "scaleTargetRef"));
    put(&mut new_spec, "minReplicas", get(spec, "minReplicas"));
    put(&mut new_spec, "maxReplicas", get(spec, "maxReplicas"));
    new_spec.insert("metrics".into(), Value::Array(metrics));
    if let Some(behavior) = behavior {
        new_spec.insert("behavior".into(), behavior);
    }

    let new_status = obj.get("status").map(|status| {
        let mut out = Map::new();
        for key in ["observedGeneration", "lastScaleTime"] {
            put(&mut out, key, get(status, key));
        }
        // v1 always carries both counts (no omitempty in Kubernetes' v1 type).
        for key in ["currentReplicas", "desiredReplicas"] {
            let n = get(status, key);
            out.insert(key.into(), if n.is_null() { json!(0) } else { n.clone() });
        }
        if !current.is_empty() {
            out.insert("currentMetrics".into(), Value::Array(current.clone()));
        }
        if !conditions.is_empty() {
            out.insert("conditions".into(), Value::Array(conditions.clone()));
        }
        Value::Object(out)
    });
    let metadata = metadata_with(obj.get("metadata"), Vec::new());
    rebuild(
        obj,
        vec![
            ("apiVersion", Some(json!(V2))),
            ("metadata", metadata),
            ("spec", Some(Value::Object(new_spec))),
            ("status", new_status),
        ],
    )
}

fn metric_identifier(name: &Value, selector: &Value) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), name.clone());
    put(&mut out, "selector", selector);
    Value::Object(out)
}

/// A `value` next to an `averageValue`, unless it is the zero Go filled in for a missing one.
fn put_value_unless_filler(out: &mut Map<String, Value>, value: &Value, average: &Value) {
    if present(average) && is_zero_quantity(value) {
        return;
    }
    out.insert("value".into(), quantity_or_zero(value));
}

fn metric_spec_v1_to_v2(m: &Value) -> Value {
    let ty = get(m, "type").as_str().unwrap_or_default();
    let mut out = Map::new();
    out.insert("type".into(), get(m, "type").clone());
    match ty {
        "Object" => {
            let src = get(m, "object");
            let average = get(src, "averageValue");
            let mut target = Map::new();
            let target_type = if present(average) {
                "AverageValue"
            } else {
                "Value"
            };
            target.insert("type".into(), json!(target_type));
            put_value_unless_filler(&mut target, get(src, "targetValue"), average);
            put(&mut target, "averageValue", average);
            out.insert(
                "object".into(),
                json!({
                    "describedObject": get(src, "target"),
                    "target": target,
                    "metric": metric_identifier(get(src, "metricName"), get(src, "selector")),
                }),
            );
        }
        "Pods" => {
            let src = get(m, "pods");
            out.insert(
                "pods".into(),
                json!({
                    "metric": metric_identifier(get(src, "metricName"), get(src, "selector")),
                    "target": {
                        "type": "AverageValue",
                        "averageValue": quantity_or_zero(get(src, "targetAverageValue")),
                    },
                }),
            );
        }
        "Resource" | "ContainerResource" => {
            let key = if ty == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let src = get(m, key);
            let utilization = get(src, "targetAverageUtilization");
            let mut target = Map::new();
            let target_type = if present(utilization) {
                "Utilization"
            } else {
                "AverageValue"
            };
            target.insert("type".into(), json!(target_type));
            put(&mut target, "averageValue", get(src, "targetAverageValue"));
            put(&mut target, "averageUtilization", utilization);
            let mut o = Map::new();
            o.insert("name".into(), get(src, "name").clone());
            o.insert("target".into(), Value::Object(target));
            if ty == "ContainerResource" {
                o.insert("container".into(), get(src, "container").clone());
            }
            out.insert(key.into(), Value::Object(o));
        }
        "External" => {
            let src = get(m, "external");
            let value = get(src, "targetValue");
            let mut target = Map::new();
            let target_type = if present(value) {
                "Value"
            } else {
                "AverageValue"
            };
            target.insert("type".into(), json!(target_type));
            put(&mut target, "value", value);
            put(&mut target, "averageValue", get(src, "targetAverageValue"));
            out.insert(
                "external".into(),
                json!({
                    "metric": metric_identifier(get(src, "metricName"), get(src, "metricSelector")),
                    "target": target,
                }),
            );
        }
        _ => {}
    }
    Value::Object(out)
}

fn metric_status_v1_to_v2(m: &Value) -> Value {
    let ty = get(m, "type").as_str().unwrap_or_default();
    let mut out = Map::new();
    out.insert("type".into(), get(m, "type").clone());
    match ty {
        "Object" => {
            let src = get(m, "object");
            let average = get(src, "averageValue");
            let mut current = Map::new();
            put_value_unless_filler(&mut current, get(src, "currentValue"), average);
            put(&mut current, "averageValue", average);
            out.insert(
                "object".into(),
                json!({
                    "metric": metric_identifier(get(src, "metricName"), get(src, "selector")),
                    "current": current,
                    "describedObject": get(src, "target"),
                }),
            );
        }
        "Pods" => {
            let src = get(m, "pods");
            out.insert(
                "pods".into(),
                json!({
                    "metric": metric_identifier(get(src, "metricName"), get(src, "selector")),
                    "current": {"averageValue": quantity_or_zero(get(src, "currentAverageValue"))},
                }),
            );
        }
        "Resource" | "ContainerResource" => {
            let key = if ty == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let src = get(m, key);
            let mut current = Map::new();
            current.insert(
                "averageValue".into(),
                quantity_or_zero(get(src, "currentAverageValue")),
            );
            put(
                &mut current,
                "averageUtilization",
                get(src, "currentAverageUtilization"),
            );
            let mut o = Map::new();
            o.insert("name".into(), get(src, "name").clone());
            o.insert("current".into(), Value::Object(current));
            if ty == "ContainerResource" {
                o.insert("container".into(), get(src, "container").clone());
            }
            out.insert(key.into(), Value::Object(o));
        }
        "External" => {
            let src = get(m, "external");
            let average = get(src, "currentAverageValue");
            let mut current = Map::new();
            put_value_unless_filler(&mut current, get(src, "currentValue"), average);
            put(&mut current, "averageValue", average);
            out.insert(
                "external".into(),
                json!({
                    "metric": metric_identifier(get(src, "metricName"), get(src, "metricSelector")),
                    "current": current,
                }),
            );
        }
        _ => {}
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2_hpa() -> Value {
        json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {
                "name": "web",
                "namespace": "default",
                "resourceVersion": "42",
                "annotations": {"team": "payments"},
            },
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2,
                "maxReplicas": 10,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}}},
                    {"type": "Pods", "pods": {"metric": {"name": "requests_per_second"}, "target": {"type": "AverageValue", "averageValue": "1k"}}},
                    {"type": "Object", "object": {
                        "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "main"},
                        "metric": {"name": "hits", "selector": {"matchLabels": {"a": "b"}}},
                        "target": {"type": "AverageValue", "averageValue": "10"},
                    }},
                    {"type": "External", "external": {"metric": {"name": "queue_len"}, "target": {"type": "Value", "value": "30"}}},
                    {"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app", "target": {"type": "Utilization", "averageUtilization": 70}}},
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
                ],
                "behavior": {
                    "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]},
                    "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}]},
                },
            },
            "status": {
                "observedGeneration": 3,
                "lastScaleTime": "2025-01-01T00:00:00Z",
                "currentReplicas": 3,
                "desiredReplicas": 4,
                "currentMetrics": [
                    {"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "300Mi"}}},
                    {"type": "Object", "object": {
                        "metric": {"name": "hits"},
                        "current": {"averageValue": "7"},
                        "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "main"},
                    }},
                    {"type": "Resource", "resource": {"name": "cpu", "current": {"averageValue": "120m", "averageUtilization": 40}}},
                ],
                "conditions": [
                    {"type": "AbleToScale", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z", "reason": "ReadyForNewScale", "message": "recommended size matches current size"},
                ],
            },
        })
    }

    #[test]
    fn same_version_is_unchanged() {
        let hpa = v2_hpa();
        assert_eq!(convert(&hpa, "autoscaling/v2").unwrap(), hpa);
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
        assert_eq!(convert(&cm, "v1").unwrap(), cm);
    }

    #[test]
    fn errors() {
        assert_eq!(
            convert(
                &json!({"kind": "HorizontalPodAutoscaler"}),
                "autoscaling/v1"
            ),
            Err(ConvertError::MissingApiVersion)
        );
        assert!(matches!(
            convert(
                &json!({"apiVersion": "apps/v1", "kind": "Deployment"}),
                "apps/v1beta1"
            ),
            Err(ConvertError::Unsupported { .. })
        ));
        assert!(matches!(
            convert(
                &json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler"}),
                "autoscaling/v2beta2"
            ),
            Err(ConvertError::Unsupported { .. })
        ));
    }

    #[test]
    fn v2_to_v1_shape() {
        let v1 = convert(&v2_hpa(), "autoscaling/v1").unwrap();
        assert_eq!(v1["apiVersion"], "autoscaling/v1");
        assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 50);
        assert_eq!(v1["spec"]["minReplicas"], 2);
        assert_eq!(v1["spec"]["maxReplicas"], 10);
        assert!(v1["spec"].get("metrics").is_none());
        assert!(v1["spec"].get("behavior").is_none());
        assert_eq!(v1["status"]["currentCPUUtilizationPercentage"], 40);
        assert_eq!(v1["status"]["currentReplicas"], 3);
        assert!(v1["status"].get("currentMetrics").is_none());
        let ann = &v1["metadata"]["annotations"];
        assert_eq!(ann["team"], "payments");
        let metrics: Value =
            serde_json::from_str(ann[METRIC_SPECS_ANNOTATION].as_str().unwrap()).unwrap();
        assert_eq!(metrics.as_array().unwrap().len(), 5);
        assert_eq!(
            metrics[0],
            json!({"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "500Mi"}})
        );
        assert_eq!(
            metrics[1],
            json!({"type": "Pods", "pods": {"metricName": "requests_per_second", "targetAverageValue": "1k"}})
        );
        assert_eq!(
            metrics[2],
            json!({"type": "Object", "object": {
                "target": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "main"},
                "metricName": "hits", "targetValue": "0", "selector": {"matchLabels": {"a": "b"}},
                "averageValue": "10",
            }})
        );
        assert_eq!(
            metrics[3],
            json!({"type": "External", "external": {"metricName": "queue_len", "targetValue": "30"}})
        );
        assert_eq!(
            metrics[4],
            json!({"type": "ContainerResource", "containerResource": {"name": "cpu", "targetAverageUtilization": 70, "container": "app"}})
        );
        // Exactly Go's encoding: compact, struct field order.
        assert!(ann[METRIC_SPECS_ANNOTATION].as_str().unwrap().starts_with(
            r#"[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"500Mi"}}"#
        ));
        let current: Value =
            serde_json::from_str(ann[METRIC_STATUSES_ANNOTATION].as_str().unwrap()).unwrap();
        assert_eq!(
            current[2],
            json!({"type": "Resource", "resource": {"name": "cpu", "currentAverageUtilization": 40, "currentAverageValue": "120m"}})
        );
        assert_eq!(
            current[0],
            json!({"type": "Resource", "resource": {"name": "memory", "currentAverageValue": "300Mi"}})
        );
        let behavior: Value =
            serde_json::from_str(ann[BEHAVIOR_ANNOTATION].as_str().unwrap()).unwrap();
        assert_eq!(behavior["ScaleUp"]["StabilizationWindowSeconds"], 0);
        assert_eq!(behavior["ScaleDown"]["Policies"][0]["PeriodSeconds"], 15);
        let conditions: Value =
            serde_json::from_str(ann[CONDITIONS_ANNOTATION].as_str().unwrap()).unwrap();
        assert_eq!(conditions, v2_hpa()["status"]["conditions"]);
    }

    #[test]
    fn v2_v1_v2_round_trip_loses_nothing() {
        let original = v2_hpa();
        let v1 = convert(&original, "autoscaling/v1").unwrap();
        let back = convert(&v1, "autoscaling/v2").unwrap();
        // CPU utilization is last in the original, so even the order survives.
        assert_eq!(back, original);
        assert_eq!(
            back["spec"]["metrics"].as_array().unwrap().len(),
            original["spec"]["metrics"].as_array().unwrap().len()
        );
        assert_eq!(back["spec"]["metrics"], original["spec"]["metrics"]);
        // And once more: stable.
        let again = convert(&convert(&back, "autoscaling/v1").unwrap(), "autoscaling/v2").unwrap();
        assert_eq!(again, original);
    }

    #[test]
    fn cpu_only_round_trip_needs_no_annotations() {
        let v2 = json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1,
                "maxReplicas": 5,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}],
            },
        });
        let v1 = convert(&v2, "autoscaling/v1").unwrap();
        assert_eq!(
            v1,
            json!({
                "apiVersion": "autoscaling/v1",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "minReplicas": 1,
                    "maxReplicas": 5,
                    "targetCPUUtilizationPercentage": 60,
                },
            })
        );
        assert_eq!(convert(&v1, "autoscaling/v2").unwrap(), v2);
    }

    #[test]
    fn v1_v2_v1_round_trip() {
        let v1 = json!({
            "apiVersion": "autoscaling/v1",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "api", "namespace": "prod", "labels": {"app": "api"}},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
                "minReplicas": 2,
                "maxReplicas": 8,
                "targetCPUUtilizationPercentage": 75,
            },
            "status": {"currentReplicas": 2, "desiredReplicas": 2, "currentCPUUtilizationPercentage": 33, "lastScaleTime": "2025-02-02T10:00:00Z"},
        });
        let v2 = convert(&v1, "autoscaling/v2").unwrap();
        assert_eq!(
            v2["spec"]["metrics"],
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 75}}}])
        );
        assert_eq!(
            v2["status"]["currentMetrics"],
            json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 33}}}])
        );
        assert!(v2["metadata"].get("annotations").is_none());
        let back = convert(&v2, "autoscaling/v1").unwrap();
        let mut expected = v1.clone();
        // The current metrics are kept in their annotation, as Kubernetes does.
        expected["metadata"]["annotations"] = json!({
            METRIC_STATUSES_ANNOTATION: r#"[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":33,"currentAverageValue":"0"}}]"#,
        });
        assert_eq!(back, expected);
        // A v1 object written with those annotations round-trips exactly.
        assert_eq!(
            convert(&convert(&back, "autoscaling/v2").unwrap(), "autoscaling/v1").unwrap(),
            back
        );
    }

    #[test]
    fn v1_annotations_become_v2_fields() {
        let v2 = convert(&v2_hpa(), "autoscaling/v1").unwrap();
        let mut v1 = v2.clone();
        // A v1 client edits the CPU target.
        v1["spec"]["targetCPUUtilizationPercentage"] = json!(65);
        let back = convert(&v1, "autoscaling/v2").unwrap();
        let metrics = back["spec"]["metrics"].as_array().unwrap();
        assert_eq!(metrics.len(), 6);
        assert_eq!(metrics[5]["resource"]["target"]["averageUtilization"], 65);
        assert_eq!(back["spec"]["behavior"], v2_hpa()["spec"]["behavior"]);
        assert_eq!(back["metadata"]["annotations"], json!({"team": "payments"}));
    }

    #[test]
    fn cpu_moves_after_other_metrics_like_kubernetes() {
        let mut hpa = v2_hpa();
        let metrics = hpa["spec"]["metrics"].as_array_mut().unwrap();
        let cpu = metrics.pop().unwrap();
        metrics.insert(0, cpu.clone());
        let back = convert(&convert(&hpa, "autoscaling/v1").unwrap(), "autoscaling/v2").unwrap();
        let back_metrics = back["spec"]["metrics"].as_array().unwrap();
        assert_eq!(back_metrics.last().unwrap(), &cpu);
        assert_eq!(back_metrics.len(), 6);
    }

    #[test]
    fn stale_round_trip_annotations_are_replaced() {
        let mut hpa = v2_hpa();
        hpa["metadata"]["annotations"][METRIC_SPECS_ANNOTATION] = json!("garbage");
        hpa["metadata"]["annotations"][CONDITIONS_ANNOTATION] = json!("[]");
        hpa["status"]["conditions"] = json!([]);
        let v1 = convert(&hpa, "autoscaling/v1").unwrap();
        let ann = v1["metadata"]["annotations"].as_object().unwrap();
        assert!(
            ann[METRIC_SPECS_ANNOTATION]
                .as_str()
                .unwrap()
                .starts_with('[')
        );
        assert!(!ann.contains_key(CONDITIONS_ANNOTATION));
        // v2 never shows the round-trip annotations.
        let mut v2 = v2_hpa();
        v2["apiVersion"] = json!("autoscaling/v1");
        v2["metadata"]["annotations"] = json!({METRIC_SPECS_ANNOTATION: "not json"});
        let out = convert(&v2, "autoscaling/v2").unwrap();
        assert!(out["metadata"].get("annotations").is_none());
    }

    #[test]
    fn v1_without_target_gets_the_implicit_cpu_default() {
        let v1 = json!({
            "apiVersion": "autoscaling/v1",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "x"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"}, "maxReplicas": 3},
        });
        let v2 = convert(&v1, "autoscaling/v2").unwrap();
        assert_eq!(
            v2["spec"]["metrics"],
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}])
        );
        assert!(v2.get("status").is_none());
    }

    #[test]
    fn lists_convert_item_by_item() {
        let list = json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscalerList",
            "metadata": {"resourceVersion": "9"},
            "items": [v2_hpa()],
        });
        let v1 = convert(&list, "autoscaling/v1").unwrap();
        assert_eq!(v1["apiVersion"], "autoscaling/v1");
        assert_eq!(v1["items"][0]["apiVersion"], "autoscaling/v1");
        assert_eq!(v1["items"][0]["spec"]["targetCPUUtilizationPercentage"], 50);
    }

    #[test]
    fn defaults_v2() {
        let mut hpa = json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "x"},
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "x"},
                "maxReplicas": 3,
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}},
            },
        });
        default_hpa(&mut hpa);
        assert_eq!(hpa["spec"]["minReplicas"], 1);
        assert_eq!(hpa["spec"]["metrics"], json!([default_cpu_metric()]));
        assert_eq!(
            hpa["spec"]["behavior"],
            json!({
                "scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]},
                "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                    {"type": "Pods", "value": 4, "periodSeconds": 15},
                    {"type": "Percent", "value": 100, "periodSeconds": 15},
                ]},
            })
        );
        // Explicit values stay.
        let mut explicit = v2_hpa();
        let before = explicit.clone();
        default_hpa(&mut explicit);
        assert_eq!(explicit, before);
        // No behavior: none is added.
        let mut plain = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "spec": {"metrics": []}});
        default_hpa(&mut plain);
        assert!(plain["spec"].get("behavior").is_none());
        assert_eq!(
            plain["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            80
        );
    }

    #[test]
    fn defaults_v1() {
        let mut hpa = json!({
            "apiVersion": "autoscaling/v1",
            "kind": "HorizontalPodAutoscaler",
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"}, "maxReplicas": 3},
        });
        default_hpa(&mut hpa);
        assert_eq!(hpa["spec"]["minReplicas"], 1);
        assert_eq!(hpa["spec"]["targetCPUUtilizationPercentage"], 80);
        // Other metrics in the annotation: no implicit CPU target.
        let mut with_other = convert(&v2_hpa(), "autoscaling/v1").unwrap();
        with_other["spec"]
            .as_object_mut()
            .unwrap()
            .remove("targetCPUUtilizationPercentage");
        default_hpa(&mut with_other);
        assert!(
            with_other["spec"]
                .get("targetCPUUtilizationPercentage")
                .is_none()
        );
        // Not an HPA: untouched.
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap"});
        default_hpa(&mut cm);
        assert_eq!(cm, json!({"apiVersion": "v1", "kind": "ConfigMap"}));
    }
}
