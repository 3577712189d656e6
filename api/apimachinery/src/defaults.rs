//! Defaulting of objects as the Kubernetes API server applies it on create and update
//! (`k8s.io/kubernetes/pkg/apis/*/v1/defaults.go`, plus the few admission plugins and
//! conversions every cluster runs: ServiceAccount, Priority, DefaultTolerationSeconds,
//! `serviceAccount` <-> `serviceAccountName`, Secret `stringData`).
//!
//! Defaulting never overwrites a value the user set (Kubernetes treats `""`, `0` for
//! probe fields and `null` as unset, as Go's zero values are). Each kind's defaulting is its
//! strategy's `defaults` (`crate::kinds`), built from the helpers here; create-only changes
//! (status reset, the namespace finalizer) are its `complete_create`; the Job selector,
//! which needs the server-assigned uid, is [`default_job_selector`].

use serde_json::{Map, Value, json};

use crate::validation::parse_quantity;

// ---------------------------------------------------------------------------------------------
// JSON helpers
// ---------------------------------------------------------------------------------------------

pub(crate) fn is_unset(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

/// Sets `key` to `val` when it is missing, `null` or `""`.
pub(crate) fn set_default(m: &mut Map<String, Value>, key: &str, val: Value) {
    if is_unset(m.get(key)) {
        m.insert(key.to_string(), val);
    }
}

/// Sets a numeric field when missing, `null` or `0` (Go zero value of a non-pointer int).
pub(crate) fn set_default_nonzero(m: &mut Map<String, Value>, key: &str, val: i64) {
    let zero = m
        .get(key)
        .is_none_or(|v| v.is_null() || v.as_f64() == Some(0.0));
    if zero {
        m.insert(key.to_string(), json!(val));
    }
}

/// The object at `key`, created (`{}`) when missing or `null`; `None` if it is not an
/// object.
pub(crate) fn ensure_obj<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), Value::Object(Map::new()));
    }
    m.get_mut(key).and_then(Value::as_object_mut)
}

/// The existing object at `key` (not created).
pub(crate) fn obj_at<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    m.get_mut(key).and_then(Value::as_object_mut)
}

pub(crate) fn for_each_obj(
    m: &mut Map<String, Value>,
    key: &str,
    mut f: impl FnMut(&mut Map<String, Value>),
) {
    if let Some(Value::Array(a)) = m.get_mut(key) {
        for item in a.iter_mut() {
            if let Some(o) = item.as_object_mut() {
                f(o);
            }
        }
    }
}

pub(crate) fn str_of<'a>(m: &'a Map<String, Value>, key: &str) -> &'a str {
    m.get(key).and_then(Value::as_str).unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// Pod specs
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpecKind {
    /// A Pod itself: gets the Pod-only defaults and admission defaults.
    Pod,
    /// A pod template of a workload.
    Template,
    /// A Job's pod template: no restartPolicy default.
    JobTemplate,
}

/// The `imagePullPolicy` Kubernetes defaults for an image: `Always` when the tag is
/// `latest` or there is neither tag nor digest, `IfNotPresent` otherwise (and for
/// references that do not parse).
pub fn default_pull_policy(image: &str) -> &'static str {
    if image.is_empty() || image.chars().any(char::is_whitespace) {
        return "IfNotPresent";
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, d),
        None => (image, ""),
    };
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[slash..].rfind(':') {
        Some(i) => (&name[..slash + i], &name[slash + i + 1..]),
        None => (name, ""),
    };
    // The path after the registry host must be lower case.
    let path = match repo.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => rest,
        _ => repo,
    };
    if path.is_empty() || path.chars().any(|c| c.is_ascii_uppercase()) {
        return "IfNotPresent";
    }
    if !tag.is_empty()
        && (tag.len() > 128
            || !tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'))
    {
        return "IfNotPresent";
    }
    let tag = if tag.is_empty() && digest.is_empty() {
        "latest"
    } else {
        tag
    };
    if tag == "latest" {
        "Always"
    } else {
        "IfNotPresent"
    }
}

pub(crate) fn default_http_get(h: &mut Map<String, Value>) {
    set_default(h, "path", json!("/"));
    set_default(h, "scheme", json!("HTTP"));
}

pub(crate) fn default_handler(h: &mut Map<String, Value>) {
    if let Some(g) = obj_at(h, "httpGet") {
        default_http_get(g);
    }
}

pub(crate) fn default_probe(p: &mut Map<String, Value>) {
    set_default_nonzero(p, "timeoutSeconds", 1);
    set_default_nonzero(p, "periodSeconds", 10);
    set_default_nonzero(p, "successThreshold", 1);
    set_default_nonzero(p, "failureThreshold", 3);
    default_handler(p);
}

pub(crate) fn default_container(c: &mut Map<String, Value>, kind: SpecKind) {
    if is_unset(c.get("imagePullPolicy")) {
        let policy = default_pull_policy(str_of(c, "image"));
        c.insert("imagePullPolicy".into(), json!(policy));
    }
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    for_each_obj(c, "ports", |p| set_default(p, "protocol", json!("TCP")));
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = obj_at(c, probe) {
            default_probe(p);
        }
    }
    if let Some(l) = obj_at(c, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = obj_at(l, hook) {
                default_handler(h);
            }
        }
    }
    for_each_obj(c, "env", |e| {
        if let Some(vf) = obj_at(e, "valueFrom")
            && let Some(fr) = obj_at(vf, "fieldRef")
        {
            set_default(fr, "apiVersion", json!("v1"));
        }
    });
    if kind == SpecKind::Pod
        && let Some(res) = obj_at(c, "resources")
    {
        let limits = res.get("limits").and_then(Value::as_object).cloned();
        if let Some(limits) = limits.filter(|l| !l.is_empty())
            && let Some(req) = ensure_obj(res, "requests")
        {
            for (k, v) in limits {
                req.entry(k).or_insert(v);
            }
        }
    }
}

const VOLUME_SOURCES_WITH_MODE: &[&str] = &["secret", "configMap", "downwardAPI", "projected"];

pub(crate) fn default_volume(v: &mut Map<String, Value>) {
    let has_source = v.iter().any(|(k, x)| k != "name" && !x.is_null());
    if !has_source {
        v.insert("emptyDir".into(), json!({}));
        return;
    }
    for src in VOLUME_SOURCES_WITH_MODE {
        if let Some(s) = obj_at(v, src) {
            if s.get("defaultMode").is_none_or(Value::is_null) {
                s.insert("defaultMode".into(), json!(420));
            }
            if *src == "downwardAPI" {
                for_each_obj(s, "items", |i| {
                    if let Some(fr) = obj_at(i, "fieldRef") {
                        set_default(fr, "apiVersion", json!("v1"));
                    }
                });
            }
            if *src == "projected" {
                for_each_obj(s, "sources", |ps| {
                    if let Some(t) = obj_at(ps, "serviceAccountToken")
                        && t.get("expirationSeconds").is_none_or(Value::is_null)
                    {
                        t.insert("expirationSeconds".into(), json!(3600));
                    }
                    if let Some(d) = obj_at(ps, "downwardAPI") {
                        for_each_obj(d, "items", |i| {
                            if let Some(fr) = obj_at(i, "fieldRef") {
                                set_default(fr, "apiVersion", json!("v1"));
                            }
                        });
                    }
                });
            }
        }
    }
    if let Some(h) = obj_at(v, "hostPath")
        && h.get("type").is_none_or(Value::is_null)
    {
        h.insert("type".into(), json!(""));
    }
}

const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";

pub(crate) fn default_tolerations(spec: &mut Map<String, Value>) {
    let tolerates = |tols: &[Value], taint: &str| {
        tols.iter().any(|t| {
            let key = t.get("key").and_then(Value::as_str).unwrap_or("");
            let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
            (key == taint || key.is_empty()) && (effect == "NoExecute" || effect.is_empty())
        })
    };
    let existing: Vec<Value> = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut add = Vec::new();
    for taint in [NOT_READY_TAINT, UNREACHABLE_TAINT] {
        if !tolerates(&existing, taint) {
            add.push(json!({
                "key": taint,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300
            }));
        }
    }
    if add.is_empty() {
        return;
    }
    if !matches!(spec.get("tolerations"), Some(Value::Array(_))) {
        spec.insert("tolerations".into(), Value::Array(Vec::new()));
    }
    if let Some(Value::Array(a)) = spec.get_mut("tolerations") {
        a.extend(add);
    }
}

pub(crate) fn default_pod_spec(spec: &mut Map<String, Value>, kind: SpecKind) {
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    if kind != SpecKind::JobTemplate {
        set_default(spec, "restartPolicy", json!("Always"));
    }
    if spec.get("securityContext").is_none_or(Value::is_null) {
        spec.insert("securityContext".into(), json!({}));
    }
    if spec
        .get("terminationGracePeriodSeconds")
        .is_none_or(Value::is_null)
    {
        spec.insert("terminationGracePeriodSeconds".into(), json!(30));
    }
    set_default(spec, "schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for_each_obj(spec, list, |c| default_container(c, kind));
    }
    for_each_obj(spec, "volumes", default_volume);

    if kind == SpecKind::Pod {
        if spec.get("enableServiceLinks").is_none_or(Value::is_null) {
            spec.insert("enableServiceLinks".into(), json!(true));
        }
        if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
            for list in ["containers", "initContainers"] {
                for_each_obj(spec, list, |c| {
                    for_each_obj(c, "ports", |p| {
                        let hp = p.get("hostPort").and_then(Value::as_i64).unwrap_or(0);
                        if hp == 0
                            && let Some(cp) = p.get("containerPort").cloned()
                        {
                            p.insert("hostPort".into(), cp);
                        }
                    });
                });
            }
        }
        // ServiceAccount admission.
        if is_unset(spec.get("serviceAccountName")) && is_unset(spec.get("serviceAccount")) {
            spec.insert("serviceAccountName".into(), json!("default"));
        }
        // Priority admission.
        let (priority, preemption) = match str_of(spec, "priorityClassName") {
            "" => (Some(0), Some("PreemptLowerPriority")),
            "system-cluster-critical" => (Some(2_000_000_000), Some("PreemptLowerPriority")),
            "system-node-critical" => (Some(2_000_001_000), Some("PreemptLowerPriority")),
            _ => (None, None),
        };
        if let Some(p) = priority
            && spec.get("priority").is_none_or(Value::is_null)
        {
            spec.insert("priority".into(), json!(p));
        }
        if let Some(p) = preemption {
            set_default(spec, "preemptionPolicy", json!(p));
        }
        // DefaultTolerationSeconds admission.
        default_tolerations(spec);
    }
    // v1 conversion keeps the deprecated serviceAccount in step with serviceAccountName.
    if is_unset(spec.get("serviceAccountName"))
        && let Some(sa) = spec
            .get("serviceAccount")
            .cloned()
            .filter(|v| !is_unset(Some(v)))
    {
        spec.insert("serviceAccountName".into(), sa);
    }
    if let Some(sa) = spec
        .get("serviceAccountName")
        .cloned()
        .filter(|v| !is_unset(Some(v)))
    {
        spec.insert("serviceAccount".into(), sa);
    }
}

pub(crate) fn default_template(parent: &mut Map<String, Value>, kind: SpecKind) {
    if let Some(t) = obj_at(parent, "template")
        && let Some(spec) = ensure_obj(t, "spec")
    {
        default_pod_spec(spec, kind);
    }
}

/// The QoS class Kubernetes computes for a pod spec (`BestEffort`, `Burstable`,
/// `Guaranteed`), from the cpu and memory requests and limits of its containers and init
/// containers (after requests were defaulted from limits).
pub fn pod_qos_class(spec: &Value) -> &'static str {
    let mut requests: Map<String, Value> = Map::new();
    let mut limits: Map<String, Value> = Map::new();
    let mut sums_req: std::collections::BTreeMap<String, i128> = Default::default();
    let mut sums_lim: std::collections::BTreeMap<String, i128> = Default::default();
    let mut guaranteed = true;
    let empty = Vec::new();
    let containers = spec
        .get("containers")
        .and_then(Value::as_array)
        .unwrap_or(&empty)
        .iter()
        .chain(
            spec.get("initContainers")
                .and_then(Value::as_array)
                .unwrap_or(&empty)
                .iter(),
        );
    for c in containers {
        let res = c.get("resources");
        let get_list = |k: &str| {
            res.and_then(|r| r.get(k))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        for (name, q) in get_list("requests") {
            if name != "cpu" && name != "memory" {
                continue;
            }
            let n = q.as_str().and_then(parse_quantity).unwrap_or(0);
            if n > 0 {
                *sums_req.entry(name.clone()).or_default() += n;
                requests.insert(name, Value::Null);
            }
        }
        let mut found = Vec::new();
        for (name, q) in get_list("limits") {
            if name != "cpu" && name != "memory" {
                continue;
            }
            let n = q.as_str().and_then(parse_quantity).unwrap_or(0);
            if n > 0 {
                found.push(name.clone());
                *sums_lim.entry(name.clone()).or_default() += n;
                limits.insert(name, Value::Null);
            }
        }
        if !(found.iter().any(|n| n == "cpu") && found.iter().any(|n| n == "memory")) {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed {
        for (name, req) in &sums_req {
            if sums_lim.get(name) != Some(req) {
                guaranteed = false;
                break;
            }
        }
    }
    if guaranteed && sums_req.len() == sums_lim.len() {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

// ---------------------------------------------------------------------------------------------
// Per kind
// ---------------------------------------------------------------------------------------------

pub(crate) fn default_pvc(m: &mut Map<String, Value>) {
    if let Some(spec) = ensure_obj(m, "spec") {
        set_default(spec, "volumeMode", json!("Filesystem"));
    }
    if let Some(status) = ensure_obj(m, "status") {
        set_default(status, "phase", json!("Pending"));
    }
}

/// `SetObjectDefaults_PersistentVolume`: the reclaim policy, volume mode and phase, and the
/// defaults of the volume sources that have any.
pub(crate) fn default_pv(m: &mut Map<String, Value>) {
    if let Some(spec) = ensure_obj(m, "spec") {
        set_default(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
        set_default(spec, "volumeMode", json!("Filesystem"));
        if let Some(h) = obj_at(spec, "hostPath")
            && h.get("type").is_none_or(Value::is_null)
        {
            h.insert("type".into(), json!(""));
        }
        if let Some(rbd) = obj_at(spec, "rbd") {
            set_default(rbd, "pool", json!("rbd"));
            set_default(rbd, "user", json!("admin"));
            set_default(rbd, "keyring", json!("/etc/ceph/keyring"));
        }
        if let Some(iscsi) = obj_at(spec, "iscsi") {
            set_default(iscsi, "iscsiInterface", json!("default"));
        }
        if let Some(ad) = obj_at(spec, "azureDisk") {
            // Pointers in Go: only a missing field is defaulted.
            for (k, v) in [
                ("cachingMode", json!("ReadWrite")),
                ("kind", json!("Shared")),
                ("fsType", json!("ext4")),
                ("readOnly", json!(false)),
            ] {
                if ad.get(k).is_none_or(Value::is_null) {
                    ad.insert(k.into(), v);
                }
            }
        }
        if let Some(sio) = obj_at(spec, "scaleIO") {
            set_default(sio, "storageMode", json!("ThinProvisioned"));
            set_default(sio, "fsType", json!("xfs"));
        }
    }
    if let Some(status) = ensure_obj(m, "status") {
        set_default(status, "phase", json!("Pending"));
    }
}

pub(crate) fn default_service(m: &mut Map<String, Value>) {
    let Some(spec) = ensure_obj(m, "spec") else {
        return;
    };
    set_default(spec, "sessionAffinity", json!("None"));
    match str_of(spec, "sessionAffinity") {
        "None" => {
            spec.remove("sessionAffinityConfig");
        }
        "ClientIP" => {
            let has_timeout = spec
                .get("sessionAffinityConfig")
                .and_then(|c| c.get("clientIP"))
                .and_then(|c| c.get("timeoutSeconds"))
                .is_some_and(|t| !t.is_null());
            if !has_timeout {
                spec.insert(
                    "sessionAffinityConfig".into(),
                    json!({"clientIP": {"timeoutSeconds": 10800}}),
                );
            }
        }
        _ => {}
    }
    set_default(spec, "type", json!("ClusterIP"));
    for_each_obj(spec, "ports", |p| {
        set_default(p, "protocol", json!("TCP"));
        let unset = match p.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(v) => v.as_i64() == Some(0),
        };
        if unset && let Some(port) = p.get("port").cloned() {
            p.insert("targetPort".into(), port);
        }
    });
    let ty = str_of(spec, "type").to_string();
    let has_external_ips = spec
        .get("externalIPs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let externally_accessible =
        ty == "LoadBalancer" || ty == "NodePort" || (ty == "ClusterIP" && has_external_ips);
    if externally_accessible {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if matches!(ty.as_str(), "ClusterIP" | "NodePort" | "LoadBalancer") {
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer"
        && spec
            .get("allocateLoadBalancerNodePorts")
            .is_none_or(Value::is_null)
    {
        spec.insert("allocateLoadBalancerNodePorts".into(), json!(true));
    }
    if ty != "ExternalName" {
        let headless_no_selector = str_of(spec, "clusterIP") == "None"
            && spec
                .get("selector")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty);
        let policy = if headless_no_selector {
            "RequireDualStack"
        } else {
            "SingleStack"
        };
        set_default(spec, "ipFamilyPolicy", json!(policy));
        let families_unset = spec
            .get("ipFamilies")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if families_unset {
            spec.insert("ipFamilies".into(), json!(["IPv4"]));
        }
    }
}

pub(crate) fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

pub(crate) fn default_secret(m: &mut Map<String, Value>) {
    set_default(m, "type", json!("Opaque"));
    // v1 conversion: stringData entries overwrite data entries and are not stored.
    if let Some(Value::Object(sd)) = m.remove("stringData")
        && !sd.is_empty()
        && let Some(data) = ensure_obj(m, "data")
    {
        for (k, v) in sd {
            let s = match v {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            };
            data.insert(k, json!(base64_encode(s.as_bytes())));
        }
    }
}

pub(crate) fn default_hpa(m: &mut Map<String, Value>) {
    let v1 = str_of(m, "apiVersion") == "autoscaling/v1";
    let Some(spec) = ensure_obj(m, "spec") else {
        return;
    };
    if spec.get("minReplicas").is_none_or(Value::is_null) {
        spec.insert("minReplicas".into(), json!(1));
    }
    if !v1 {
        let no_metrics = spec
            .get("metrics")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if no_metrics {
            spec.insert(
                "metrics".into(),
                json!([{
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 80}
                    }
                }]),
            );
        }
    }
}

pub(crate) fn default_limit_range(m: &mut Map<String, Value>) {
    let Some(spec) = obj_at(m, "spec") else {
        return;
    };
    for_each_obj(spec, "limits", |item| {
        if str_of(item, "type") != "Container" {
            return;
        }
        let get = |item: &Map<String, Value>, k: &str| {
            item.get(k)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        let mut default = get(item, "default");
        let mut default_request = get(item, "defaultRequest");
        for (k, v) in get(item, "max") {
            default.entry(k).or_insert(v);
        }
        for (k, v) in &default {
            default_request.entry(k.clone()).or_insert(v.clone());
        }
        for (k, v) in get(item, "min") {
            default_request.entry(k).or_insert(v);
        }
        if !default.is_empty() {
            item.insert("default".into(), Value::Object(default));
        }
        if !default_request.is_empty() {
            item.insert("defaultRequest".into(), Value::Object(default_request));
        }
    });
}

pub(crate) fn default_network_policy(m: &mut Map<String, Value>) {
    let Some(spec) = ensure_obj(m, "spec") else {
        return;
    };
    for dir in ["ingress", "egress"] {
        for_each_obj(spec, dir, |rule| {
            for_each_obj(rule, "ports", |p| set_default(p, "protocol", json!("TCP")));
        });
    }
    let no_types = spec
        .get("policyTypes")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if no_types {
        let has_egress = spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        let types = if has_egress {
            json!(["Ingress", "Egress"])
        } else {
            json!(["Ingress"])
        };
        spec.insert("policyTypes".into(), types);
    }
}

pub(crate) fn default_rbac_binding(m: &mut Map<String, Value>) {
    if let Some(rr) = obj_at(m, "roleRef") {
        set_default(rr, "apiGroup", json!("rbac.authorization.k8s.io"));
    }
    for_each_obj(m, "subjects", |s| {
        if is_unset(s.get("apiGroup")) {
            match str_of(s, "kind") {
                "ServiceAccount" => {
                    s.insert("apiGroup".into(), json!(""));
                }
                "User" | "Group" => {
                    s.insert("apiGroup".into(), json!("rbac.authorization.k8s.io"));
                }
                _ => {}
            }
        }
    });
}

/// Generates a Job's selector the way the API server does on create (unless
/// `spec.manualSelector` is true): template labels `batch.kubernetes.io/controller-uid`,
/// `batch.kubernetes.io/job-name`, `controller-uid` and `job-name` (kept if the user set
/// them) and `spec.selector.matchLabels["batch.kubernetes.io/controller-uid"] = uid`.
pub fn default_job_selector(obj: &mut Value, uid: &str) {
    let name = obj
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(m) = obj.as_object_mut() else {
        return;
    };
    let Some(spec) = ensure_obj(m, "spec") else {
        return;
    };
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    if let Some(t) = ensure_obj(spec, "template")
        && let Some(meta) = ensure_obj(t, "metadata")
        && let Some(labels) = ensure_obj(meta, "labels")
    {
        for k in ["job-name", "batch.kubernetes.io/job-name"] {
            labels.entry(k).or_insert_with(|| json!(name));
        }
        for k in ["controller-uid", "batch.kubernetes.io/controller-uid"] {
            labels.entry(k).or_insert_with(|| json!(uid));
        }
    }
    if let Some(sel) = ensure_obj(spec, "selector")
        && let Some(ml) = ensure_obj(sel, "matchLabels")
    {
        ml.entry("batch.kubernetes.io/controller-uid")
            .or_insert_with(|| json!(uid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaulting of `kind`, through its strategy.
    fn apply_defaults(kind: &str, obj: &mut Value) {
        crate::resources::strategy_by_kind(kind)
            .expect("served kind")
            .defaults(obj);
    }

    /// The create-only changes after defaulting (the old `prepare_for_create`), through the
    /// strategy of `kind`.
    fn prepare_for_create(kind: &str, obj: &mut Value) {
        crate::resources::strategy_by_kind(kind)
            .expect("served kind")
            .complete_create(obj);
    }

    /// The status a new object of `kind` starts with, through its strategy.
    fn empty_status(kind: &str) -> Value {
        let mut obj = json!({"status": {}});
        crate::resources::strategy_by_kind(kind)
            .expect("served kind")
            .complete_create(&mut obj);
        obj["status"].clone()
    }

    /// Every required field of each status schema is in the empty status, so clients that
    /// check required fields accept a new object.
    #[test]
    fn empty_status_has_every_required_field() {
        use k8s_openapi::api::{
            apps::v1 as apps, autoscaling::v2, core::v1 as core, policy::v1 as policy,
        };
        fn required<T: schemars::JsonSchema>() -> Vec<String> {
            let schema = schemars::schema_for!(T);
            schema
                .as_value()
                .get("required")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        }
        let cases = [
            ("ReplicaSet", required::<apps::ReplicaSetStatus>()),
            (
                "ReplicationController",
                required::<core::ReplicationControllerStatus>(),
            ),
            ("StatefulSet", required::<apps::StatefulSetStatus>()),
            ("DaemonSet", required::<apps::DaemonSetStatus>()),
            ("Deployment", required::<apps::DeploymentStatus>()),
            (
                "HorizontalPodAutoscaler",
                required::<v2::HorizontalPodAutoscalerStatus>(),
            ),
            (
                "PodDisruptionBudget",
                required::<policy::PodDisruptionBudgetStatus>(),
            ),
            (
                "HorizontalPodAutoscaler",
                required::<k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscalerStatus>(),
            ),
        ];
        for (kind, fields) in cases {
            let status = empty_status(kind);
            for f in fields {
                assert!(status.get(&f).is_some(), "{kind} status lacks required {f}");
            }
        }
    }

    fn defaulted(kind: &str, v: Value) -> Value {
        let mut v = v;
        apply_defaults(kind, &mut v);
        v
    }

    #[test]
    fn pull_policy() {
        assert_eq!(default_pull_policy("nginx"), "Always");
        assert_eq!(default_pull_policy("nginx:latest"), "Always");
        assert_eq!(default_pull_policy("nginx:1.25"), "IfNotPresent");
        assert_eq!(default_pull_policy("localhost:5000/app"), "Always");
        assert_eq!(default_pull_policy("localhost:5000/app:v1"), "IfNotPresent");
        assert_eq!(
            default_pull_policy(
                "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            ),
            "IfNotPresent"
        );
        assert_eq!(default_pull_policy("Nginx"), "IfNotPresent");
        assert_eq!(default_pull_policy(""), "IfNotPresent");
    }

    #[test]
    fn pod_defaults() {
        let pod = defaulted(
            "Pod",
            json!({
                "metadata": {"name": "p"},
                "spec": {
                    "containers": [{
                        "name": "c", "image": "nginx",
                        "ports": [{"containerPort": 80}],
                        "livenessProbe": {"httpGet": {"port": 80}},
                        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                        "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
                    }],
                    "volumes": [
                        {"name": "a", "configMap": {"name": "cm"}},
                        {"name": "b", "secret": {"secretName": "s", "defaultMode": 256}},
                        {"name": "c"}
                    ]
                }
            }),
        );
        let spec = &pod["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["securityContext"], json!({}));
        assert_eq!(spec["enableServiceLinks"], true);
        assert_eq!(spec["serviceAccountName"], "default");
        assert_eq!(spec["serviceAccount"], "default");
        assert_eq!(spec["priority"], 0);
        assert_eq!(spec["preemptionPolicy"], "PreemptLowerPriority");
        assert_eq!(
            spec["tolerations"],
            json!([
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ])
        );
        let c = &spec["containers"][0];
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c["terminationMessagePolicy"], "File");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(
            c["livenessProbe"],
            json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(
            c["resources"]["requests"],
            json!({"cpu": "1", "memory": "1Gi"})
        );
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(spec["volumes"][0]["configMap"]["defaultMode"], 420);
        assert_eq!(spec["volumes"][1]["secret"]["defaultMode"], 256);
        assert_eq!(spec["volumes"][2]["emptyDir"], json!({}));
        assert_eq!(
            pod["status"],
            json!({"phase": "Pending", "qosClass": "Guaranteed"})
        );
    }

    #[test]
    fn pod_defaults_keep_user_values() {
        let pod = defaulted(
            "Pod",
            json!({"spec": {
                "restartPolicy": "Never", "dnsPolicy": "Default", "terminationGracePeriodSeconds": 0,
                "serviceAccountName": "robot", "enableServiceLinks": false,
                "tolerations": [{"operator": "Exists"}],
                "containers": [{"name": "c", "image": "nginx:1", "imagePullPolicy": "Never",
                                "resources": {"limits": {"cpu": "2"}, "requests": {"cpu": "1"}}}]
            }}),
        );
        let spec = &pod["spec"];
        assert_eq!(spec["restartPolicy"], "Never");
        assert_eq!(spec["dnsPolicy"], "Default");
        assert_eq!(spec["terminationGracePeriodSeconds"], 0);
        assert_eq!(spec["serviceAccountName"], "robot");
        assert_eq!(spec["serviceAccount"], "robot");
        assert_eq!(spec["enableServiceLinks"], false);
        assert_eq!(spec["tolerations"], json!([{"operator": "Exists"}]));
        assert_eq!(spec["containers"][0]["imagePullPolicy"], "Never");
        assert_eq!(spec["containers"][0]["resources"]["requests"]["cpu"], "1");
        assert_eq!(pod["status"]["qosClass"], "Burstable");
    }

    #[test]
    fn qos_classes() {
        assert_eq!(
            pod_qos_class(&json!({"containers": [{"name": "c"}]})),
            "BestEffort"
        );
        assert_eq!(
            pod_qos_class(&json!({"containers": [{"resources": {"requests": {"memory": "1Gi"}}}]})),
            "Burstable"
        );
        assert_eq!(
            pod_qos_class(&json!({"containers": [
                {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1024Mi"}}}
            ]})),
            "Guaranteed"
        );
        assert_eq!(
            pod_qos_class(&json!({"containers": [
                {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}},
                {"name": "sidecar"}
            ]})),
            "Burstable"
        );
    }

    #[test]
    fn deployment_defaults() {
        let d = defaulted(
            "Deployment",
            json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}}),
        );
        let spec = &d["spec"];
        assert_eq!(spec["replicas"], 1);
        assert_eq!(
            spec["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(spec["revisionHistoryLimit"], 10);
        assert_eq!(spec["progressDeadlineSeconds"], 600);
        let ts = &spec["template"]["spec"];
        assert_eq!(ts["restartPolicy"], "Always");
        assert_eq!(ts["dnsPolicy"], "ClusterFirst");
        assert_eq!(ts["securityContext"], json!({}));
        assert_eq!(ts["containers"][0]["imagePullPolicy"], "IfNotPresent");
        // Template-only: no pod admission defaults.
        assert!(ts.get("serviceAccountName").is_none());
        assert!(ts.get("tolerations").is_none());
        assert!(ts.get("enableServiceLinks").is_none());

        let r = defaulted(
            "Deployment",
            json!({"spec": {"replicas": 0, "strategy": {"type": "Recreate"}}}),
        );
        assert_eq!(r["spec"]["replicas"], 0);
        assert_eq!(r["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn replicaset_statefulset_daemonset_defaults() {
        let rs = defaulted("ReplicaSet", json!({"spec": {}}));
        assert_eq!(rs["spec"]["replicas"], 1);

        let sts = defaulted(
            "StatefulSet",
            json!({"spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}]}}),
        );
        let s = &sts["spec"];
        assert_eq!(s["replicas"], 1);
        assert_eq!(s["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            s["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(s["revisionHistoryLimit"], 10);
        assert_eq!(
            s["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(
            s["volumeClaimTemplates"][0]["spec"]["volumeMode"],
            "Filesystem"
        );
        assert_eq!(s["volumeClaimTemplates"][0]["status"]["phase"], "Pending");
        let sts = defaulted(
            "StatefulSet",
            json!({"spec": {"updateStrategy": {"type": "OnDelete"}}}),
        );
        assert_eq!(sts["spec"]["updateStrategy"], json!({"type": "OnDelete"}));

        let ds = defaulted("DaemonSet", json!({"spec": {}}));
        assert_eq!(
            ds["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);
    }

    #[test]
    fn replication_controller_defaults() {
        let rc = defaulted(
            "ReplicationController",
            json!({"metadata": {"name": "web"}, "spec": {"template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}}),
        );
        let s = &rc["spec"];
        assert_eq!(s["replicas"], 1);
        assert_eq!(s["selector"], json!({"app": "web"}));
        assert_eq!(rc["metadata"]["labels"], json!({"app": "web"}));
        let ts = &s["template"]["spec"];
        assert_eq!(ts["restartPolicy"], "Always");
        assert_eq!(ts["dnsPolicy"], "ClusterFirst");
        assert_eq!(ts["terminationGracePeriodSeconds"], 30);
        assert_eq!(ts["containers"][0]["imagePullPolicy"], "IfNotPresent");
        assert!(ts.get("enableServiceLinks").is_none());

        // A selector, labels and replicas the user set are kept.
        let rc = defaulted(
            "ReplicationController",
            json!({"metadata": {"name": "web", "labels": {"tier": "fe"}}, "spec": {
                "replicas": 0, "selector": {"app": "web"},
                "template": {"metadata": {"labels": {"app": "web", "v": "1"}}}}}),
        );
        assert_eq!(rc["spec"]["replicas"], 0);
        assert_eq!(rc["spec"]["selector"], json!({"app": "web"}));
        assert_eq!(rc["metadata"]["labels"], json!({"tier": "fe"}));

        // Without template labels there is nothing to copy.
        let rc = defaulted(
            "ReplicationController",
            json!({"metadata": {"name": "web"}, "spec": {"template": {"spec": {}}}}),
        );
        assert!(rc["spec"].get("selector").is_none());
        assert!(rc["metadata"].get("labels").is_none());

        let mut rc = json!({"spec": {}, "status": {"replicas": 3, "readyReplicas": 2}});
        prepare_for_create("ReplicationController", &mut rc);
        assert_eq!(rc["status"], json!({"replicas": 0}));
    }

    #[test]
    fn persistent_volume_defaults() {
        let pv = defaulted(
            "PersistentVolume",
            json!({"metadata": {"name": "pv1"}, "spec": {
                "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                "hostPath": {"path": "/data"}}}),
        );
        let s = &pv["spec"];
        assert_eq!(s["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(s["volumeMode"], "Filesystem");
        assert_eq!(s["hostPath"], json!({"path": "/data", "type": ""}));
        assert_eq!(pv["status"]["phase"], "Pending");

        let pv = defaulted(
            "PersistentVolume",
            json!({"spec": {"persistentVolumeReclaimPolicy": "Delete", "volumeMode": "Block",
                "iscsi": {"targetPortal": "10.0.0.1:3260", "iqn": "iqn.x", "lun": 0}},
                "status": {"phase": "Bound"}}),
        );
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Delete");
        assert_eq!(pv["spec"]["volumeMode"], "Block");
        assert_eq!(pv["spec"]["iscsi"]["iscsiInterface"], "default");
        assert_eq!(pv["status"]["phase"], "Bound");

        let mut pv = pv;
        prepare_for_create("PersistentVolume", &mut pv);
        assert_eq!(pv["status"], json!({"phase": "Pending"}));
    }

    #[test]
    fn job_defaults_and_selector() {
        let mut job = defaulted(
            "Job",
            json!({"metadata": {"name": "pi"}, "spec": {"template": {
                "metadata": {"labels": {"app": "pi"}},
                "spec": {"containers": [{"name": "c", "image": "perl"}]}}}}),
        );
        let s = &job["spec"];
        assert_eq!(s["completions"], 1);
        assert_eq!(s["parallelism"], 1);
        assert_eq!(s["backoffLimit"], 6);
        assert_eq!(s["completionMode"], "NonIndexed");
        assert_eq!(s["suspend"], false);
        assert_eq!(s["podReplacementPolicy"], "TerminatingOrFailed");
        assert!(s.get("manualSelector").is_none());
        assert!(s["template"]["spec"].get("restartPolicy").is_none());
        assert_eq!(s["template"]["spec"]["dnsPolicy"], "ClusterFirst");
        assert_eq!(job["metadata"]["labels"], json!({"app": "pi"}));

        default_job_selector(&mut job, "uid-1");
        assert_eq!(
            job["spec"]["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "uid-1"}})
        );
        let labels = &job["spec"]["template"]["metadata"]["labels"];
        assert_eq!(labels["app"], "pi");
        assert_eq!(labels["job-name"], "pi");
        assert_eq!(labels["batch.kubernetes.io/job-name"], "pi");
        assert_eq!(labels["controller-uid"], "uid-1");
        assert_eq!(labels["batch.kubernetes.io/controller-uid"], "uid-1");

        let j = defaulted("Job", json!({"spec": {"parallelism": 3}}));
        assert!(j["spec"].get("completions").is_none());
        assert_eq!(j["spec"]["parallelism"], 3);

        let mut manual =
            json!({"spec": {"manualSelector": true, "selector": {"matchLabels": {"a": "b"}}}});
        default_job_selector(&mut manual, "u");
        assert_eq!(
            manual["spec"]["selector"],
            json!({"matchLabels": {"a": "b"}})
        );
    }

    #[test]
    fn cronjob_defaults() {
        let cj = defaulted(
            "CronJob",
            json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "OnFailure"}}}}}}),
        );
        let s = &cj["spec"];
        assert_eq!(s["concurrencyPolicy"], "Allow");
        assert_eq!(s["suspend"], false);
        assert_eq!(s["successfulJobsHistoryLimit"], 3);
        assert_eq!(s["failedJobsHistoryLimit"], 1);
        let ts = &s["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(ts["restartPolicy"], "OnFailure");
        assert_eq!(ts["schedulerName"], "default-scheduler");
        assert_eq!(ts["containers"][0]["imagePullPolicy"], "Always");
        assert!(s["jobTemplate"]["spec"].get("backoffLimit").is_none());
    }

    #[test]
    fn service_defaults() {
        let svc = defaulted(
            "Service",
            json!({"spec": {"selector": {"app": "web"}, "ports": [{"port": 80}, {"port": 443, "targetPort": "https"}]}}),
        );
        let s = &svc["spec"];
        assert_eq!(s["type"], "ClusterIP");
        assert_eq!(s["sessionAffinity"], "None");
        assert_eq!(
            s["ports"][0],
            json!({"port": 80, "protocol": "TCP", "targetPort": 80})
        );
        assert_eq!(s["ports"][1]["targetPort"], "https");
        assert_eq!(s["internalTrafficPolicy"], "Cluster");
        assert_eq!(s["ipFamilies"], json!(["IPv4"]));
        assert_eq!(s["ipFamilyPolicy"], "SingleStack");
        assert!(s.get("externalTrafficPolicy").is_none());
        assert!(s.get("clusterIP").is_none());

        let lb = defaulted(
            "Service",
            json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}),
        );
        assert_eq!(lb["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
        let np = defaulted("Service", json!({"spec": {"type": "NodePort"}}));
        assert_eq!(np["spec"]["externalTrafficPolicy"], "Cluster");
        assert!(np["spec"].get("allocateLoadBalancerNodePorts").is_none());

        let en = defaulted(
            "Service",
            json!({"spec": {"type": "ExternalName", "externalName": "x.com"}}),
        );
        assert!(en["spec"].get("ipFamilies").is_none());
        assert!(en["spec"].get("ipFamilyPolicy").is_none());
        assert!(en["spec"].get("internalTrafficPolicy").is_none());

        let headless = defaulted("Service", json!({"spec": {"clusterIP": "None"}}));
        assert_eq!(headless["spec"]["ipFamilyPolicy"], "RequireDualStack");

        let ci = defaulted("Service", json!({"spec": {"sessionAffinity": "ClientIP"}}));
        assert_eq!(
            ci["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
            10800
        );
    }

    #[test]
    fn namespace_secret_pvc_endpoints_defaults() {
        let mut ns = defaulted("Namespace", json!({"metadata": {"name": "team"}}));
        assert_eq!(
            ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "team"
        );
        assert_eq!(ns["status"]["phase"], "Active");
        assert!(ns.get("spec").is_none());
        prepare_for_create("Namespace", &mut ns);
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));

        let sec = defaulted(
            "Secret",
            json!({"data": {"a": "eA=="}, "stringData": {"b": "hello", "a": "y"}}),
        );
        assert_eq!(sec["type"], "Opaque");
        assert_eq!(sec["data"], json!({"a": "eQ==", "b": "aGVsbG8="}));
        assert!(sec.get("stringData").is_none());
        let tls = defaulted("Secret", json!({"type": "kubernetes.io/tls"}));
        assert_eq!(tls["type"], "kubernetes.io/tls");

        let pvc = defaulted(
            "PersistentVolumeClaim",
            json!({"spec": {"accessModes": ["ReadWriteOnce"]}}),
        );
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pvc["status"]["phase"], "Pending");

        let ep = defaulted("Endpoints", json!({"subsets": [{"ports": [{"port": 80}]}]}));
        assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");

        let sa = defaulted("ServiceAccount", json!({"metadata": {"name": "x"}}));
        assert_eq!(sa, json!({"metadata": {"name": "x"}}));
        let ing = defaulted(
            "Ingress",
            json!({"spec": {"rules": [{"http": {"paths": [{"path": "/"}]}}]}}),
        );
        assert!(
            ing["spec"]["rules"][0]["http"]["paths"][0]
                .get("pathType")
                .is_none()
        );
    }

    #[test]
    fn misc_kind_defaults() {
        let hpa = defaulted(
            "HorizontalPodAutoscaler",
            json!({"apiVersion": "autoscaling/v2", "spec": {"maxReplicas": 5}}),
        );
        assert_eq!(hpa["spec"]["minReplicas"], 1);
        assert_eq!(
            hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            80
        );
        let hpa1 = defaulted(
            "HorizontalPodAutoscaler",
            json!({"apiVersion": "autoscaling/v1", "spec": {"maxReplicas": 5}}),
        );
        assert!(hpa1["spec"].get("metrics").is_none());

        let np = defaulted(
            "NetworkPolicy",
            json!({"spec": {"egress": [{"ports": [{"port": 53}]}]}}),
        );
        assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(np["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");

        let rb = defaulted(
            "RoleBinding",
            json!({"roleRef": {"kind": "Role", "name": "r"}, "subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "s"}]}),
        );
        assert_eq!(rb["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
        assert_eq!(rb["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");
        assert_eq!(rb["subjects"][1]["apiGroup"], "");

        let lr = defaulted(
            "LimitRange",
            json!({"spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "1Mi"}}]}}),
        );
        assert_eq!(lr["spec"]["limits"][0]["default"], json!({"cpu": "2"}));
        assert_eq!(
            lr["spec"]["limits"][0]["defaultRequest"],
            json!({"cpu": "2", "memory": "1Mi"})
        );
    }

    #[test]
    fn defaults_are_idempotent() {
        for (kind, obj) in [
            (
                "Pod",
                json!({"spec": {"containers": [{"name": "c", "image": "x"}]}}),
            ),
            (
                "Deployment",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}}),
            ),
            ("Service", json!({"spec": {"ports": [{"port": 80}]}})),
            (
                "ReplicationController",
                json!({"spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}}),
            ),
            (
                "PersistentVolume",
                json!({"spec": {"hostPath": {"path": "/d"}, "rbd": {"image": "i"}}}),
            ),
            (
                "Job",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}}),
            ),
        ] {
            let once = defaulted(kind, obj);
            let twice = defaulted(kind, once.clone());
            assert_eq!(once, twice, "{kind}");
        }
    }

    #[test]
    fn prepare_for_create_resets_status() {
        let mut pod = defaulted(
            "Pod",
            json!({"spec": {"containers": [{"name": "c", "image": "x"}]}, "status": {"phase": "Running"}}),
        );
        prepare_for_create("Pod", &mut pod);
        assert_eq!(
            pod["status"],
            json!({"phase": "Pending", "qosClass": "BestEffort"})
        );
        let mut d = json!({"spec": {}, "status": {"replicas": 3}});
        prepare_for_create("Deployment", &mut d);
        assert_eq!(d["status"], json!({}));
    }
}
