//! Server-side printing: turns objects into a `meta.k8s.io/v1` `Table`, with the columns and
//! cell formatting of Kubernetes' own printers (`pkg/printers/internalversion/printers.go`), so
//! `kubectl get` (which asks for `application/json;as=Table;v=v1;g=meta.k8s.io`) prints what
//! users know.
//!
//! As in the Kubernetes API server, the cells are always generated for wide output: columns of
//! priority 1 are present in every row and kubectl shows them only with `-o wide`.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Group-version of the `Table` this module produces.
pub const TABLE_API_VERSION: &str = "meta.k8s.io/v1";
/// The older group-version a client may ask for (`v=v1beta1`); see [`set_table_version`].
pub const TABLE_API_VERSION_V1BETA1: &str = "meta.k8s.io/v1beta1";

/// What each row carries in `object` (the `includeObject` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object: `"object": null`.
    None,
    /// A `PartialObjectMetadata` holding the object's metadata (the Kubernetes default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter; the empty string means the default
    /// (`Metadata`). Returns `None` for an unrecognised value (a 400 in Kubernetes).
    pub fn parse(value: &str) -> Option<IncludeObject> {
        match value {
            "" | "Metadata" => Some(IncludeObject::Metadata),
            "None" => Some(IncludeObject::None),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

/// Builds the `Table` for `objects` of the kind `printer` prints (one row per object, in
/// order).
///
/// `list_meta` becomes the table's `metadata` (`resourceVersion`, `continue`,
/// `remainingItemCount`); pass `Value::Null` for none. `now` is the clock the AGE and other
/// relative-time cells are computed against.
pub fn table(
    printer: &Printer,
    objects: &[Value],
    include_object: IncludeObject,
    now: DateTime<Utc>,
    list_meta: Value,
) -> Value {
    let metadata = match list_meta {
        Value::Object(m) => Value::Object(m),
        _ => Value::Object(Map::new()),
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let (cells, conditions) = (printer.cells)(obj, now);
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(cells));
            if let Some(conditions) = conditions {
                row.insert("conditions".into(), conditions);
            }
            row.insert("object".into(), row_object(obj, include_object));
            Value::Object(row)
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": TABLE_API_VERSION,
        "metadata": metadata,
        "columnDefinitions": column_definitions(printer),
        "rows": rows,
    })
}

/// The `columnDefinitions` of a printer's table.
pub fn column_definitions(printer: &Printer) -> Value {
    Value::Array(
        printer
            .columns
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "type": c.ty,
                    "format": c.format,
                    "description": c.description,
                    "priority": c.priority,
                })
            })
            .collect(),
    )
}

/// Rewrites a table built by [`table`] for another `meta.k8s.io` version (`meta.k8s.io/v1beta1`
/// when the client asked for `v=v1beta1`): the table's `apiVersion` and that of every
/// `PartialObjectMetadata` row object.
pub fn set_table_version(table: &mut Value, api_version: &str) {
    if let Some(t) = table.as_object_mut() {
        t.insert("apiVersion".into(), Value::String(api_version.to_string()));
    }
    if let Some(rows) = table.get_mut("rows").and_then(Value::as_array_mut) {
        for row in rows {
            if let Some(obj) = row.get_mut("object").and_then(Value::as_object_mut)
                && obj.get("kind").and_then(Value::as_str) == Some("PartialObjectMetadata")
            {
                obj.insert("apiVersion".into(), Value::String(api_version.to_string()));
            }
        }
    }
}

/// Kubernetes' `duration.HumanDuration`: a succinct duration with ~2-3 significant figures
/// (`5s`, `3m20s`, `15m`, `2h10m`, `10h`, `3d4h`, `30d`, `2y15d`, `9y`).
pub fn human_duration(d: Duration) -> String {
    // Allow deviation no more than 2 seconds (excluded) to tolerate clock skew.
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d.num_minutes();
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d.num_hours();
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        format!("{hours}h{m}m")
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        format!("{}d{}h", hours / 24, h)
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        format!("{}y{}d", hours / 24 / 365, dy)
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

pub(crate) fn row_object(obj: &Value, include: IncludeObject) -> Value {
    match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => obj.clone(),
        IncludeObject::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": TABLE_API_VERSION,
            "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Columns

pub struct Col {
    name: &'static str,
    ty: &'static str,
    format: &'static str,
    description: &'static str,
    priority: i32,
}

const fn c(name: &'static str, ty: &'static str, description: &'static str) -> Col {
    Col {
        name,
        ty,
        format: "",
        description,
        priority: 0,
    }
}

const fn wide(name: &'static str, ty: &'static str, description: &'static str) -> Col {
    Col {
        name,
        ty,
        format: "",
        description,
        priority: 1,
    }
}

pub(crate) const NAME: Col = Col {
    name: "Name",
    ty: "string",
    format: "name",
    description: D_NAME,
    priority: 0,
};
pub(crate) const AGE: Col = c("Age", "string", D_CREATED);
pub(crate) const CONTAINERS: Col = wide(
    "Containers",
    "string",
    "Names of each container in the template.",
);
pub(crate) const IMAGES: Col = wide(
    "Images",
    "string",
    "Images referenced by each container in the template.",
);

pub(crate) static POD_COLUMNS: &[Col] = &[
    NAME,
    c(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    c(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
    ),
    c(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    wide("IP", "string", D_POD_IP),
    wide("Node", "string", D_POD_NODE),
    wide("Nominated Node", "string", D_POD_NOMINATED),
    wide("Readiness Gates", "string", D_POD_GATES),
];

pub(crate) static DEPLOYMENT_COLUMNS: &[Col] = &[
    NAME,
    c("Ready", "string", "Number of the pod with ready state"),
    c("Up-to-date", "string", D_DEPLOY_UPDATED),
    c("Available", "string", D_DEPLOY_AVAILABLE),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", D_DEPLOY_SELECTOR),
];

pub(crate) static REPLICA_SET_COLUMNS: &[Col] = &[
    NAME,
    c("Desired", "integer", D_RS_DESIRED),
    c("Current", "integer", D_RS_CURRENT),
    c("Ready", "integer", D_RS_READY),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", D_RS_SELECTOR),
];

pub(crate) static REPLICATION_CONTROLLER_COLUMNS: &[Col] = &[
    NAME,
    c("Desired", "integer", D_RC_DESIRED),
    c("Current", "integer", D_RC_CURRENT),
    c("Ready", "integer", D_RC_READY),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", D_RC_SELECTOR),
];

pub(crate) static STATEFUL_SET_COLUMNS: &[Col] = &[
    NAME,
    c("Ready", "string", "Number of the pod with ready state"),
    AGE,
    CONTAINERS,
    IMAGES,
];

pub(crate) static DAEMON_SET_COLUMNS: &[Col] = &[
    NAME,
    c("Desired", "integer", D_DS_DESIRED),
    c("Current", "integer", D_DS_CURRENT),
    c("Ready", "integer", D_DS_READY),
    c("Up-to-date", "integer", D_DS_UPDATED),
    c("Available", "integer", D_DS_AVAILABLE),
    c("Node Selector", "string", D_NODE_SELECTOR),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", D_DS_SELECTOR),
];

pub(crate) static SERVICE_COLUMNS: &[Col] = &[
    NAME,
    c("Type", "string", D_SVC_TYPE),
    c("Cluster-IP", "string", D_SVC_CLUSTER_IP),
    c("External-IP", "string", D_SVC_EXTERNAL_IPS),
    c("Port(s)", "string", D_SVC_PORTS),
    AGE,
    wide("Selector", "string", D_SVC_SELECTOR),
];

pub(crate) static JOB_COLUMNS: &[Col] = &[
    NAME,
    c("Status", "string", "Status of the job."),
    c("Completions", "string", D_JOB_SUCCEEDED),
    c("Duration", "string", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", D_JOB_SELECTOR),
];

pub(crate) static CRON_JOB_COLUMNS: &[Col] = &[
    NAME,
    c("Schedule", "string", D_CJ_SCHEDULE),
    c("Timezone", "string", D_CJ_TIMEZONE),
    c("Suspend", "boolean", D_CJ_SUSPEND),
    c("Active", "integer", D_CJ_ACTIVE),
    c("Last Schedule", "string", D_CJ_LAST),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", D_JOB_SELECTOR),
];

pub(crate) static HPA_COLUMNS: &[Col] = &[
    NAME,
    c("Reference", "string", D_HPA_REF),
    c("Targets", "string", D_HPA_METRICS),
    c("MinPods", "string", D_HPA_MIN),
    c("MaxPods", "string", D_HPA_MAX),
    c("Replicas", "string", D_HPA_CURRENT),
    AGE,
];

pub(crate) static INGRESS_COLUMNS: &[Col] = &[
    NAME,
    c(
        "Class",
        "string",
        "The name of the IngressClass resource that should be used for additional configuration",
    ),
    c(
        "Hosts",
        "string",
        "Hosts that incoming requests are matched against before the ingress rule",
    ),
    c(
        "Address",
        "string",
        "Address is a list containing ingress points for the load-balancer",
    ),
    c("Ports", "string", "Ports of TLS configurations that open"),
    AGE,
];

pub(crate) static INGRESS_CLASS_COLUMNS: &[Col] = &[
    NAME,
    c(
        "Controller",
        "string",
        "Controller that is responsible for handling this class",
    ),
    c(
        "Parameters",
        "string",
        "A reference to a resource with additional parameters",
    ),
    AGE,
];

pub(crate) static NETWORK_POLICY_COLUMNS: &[Col] =
    &[NAME, c("Pod-Selector", "string", D_NP_SELECTOR), AGE];

pub(crate) static CONFIG_MAP_COLUMNS: &[Col] = &[NAME, c("Data", "string", D_CM_DATA), AGE];

pub(crate) static SECRET_COLUMNS: &[Col] = &[
    NAME,
    c("Type", "string", D_SECRET_TYPE),
    c("Data", "string", D_SECRET_DATA),
    AGE,
];

pub(crate) static NAME_AGE_COLUMNS: &[Col] = &[NAME, AGE];

pub(crate) static NAMESPACE_COLUMNS: &[Col] = &[
    NAME,
    c("Status", "string", "The status of the namespace"),
    AGE,
];

pub(crate) static NODE_COLUMNS: &[Col] = &[
    NAME,
    c("Status", "string", "The status of the node"),
    c("Roles", "string", "The roles of the node"),
    AGE,
    c("Version", "string", D_NODE_KUBELET),
    wide("Internal-IP", "string", D_NODE_ADDRESSES),
    wide("External-IP", "string", D_NODE_ADDRESSES),
    wide("OS-Image", "string", D_NODE_OS),
    wide("Kernel-Version", "string", D_NODE_KERNEL),
    wide("Container-Runtime", "string", D_NODE_CRI),
];

pub(crate) static ENDPOINTS_COLUMNS: &[Col] = &[NAME, c("Endpoints", "string", D_EP_SUBSETS), AGE];

pub(crate) static ENDPOINT_SLICE_COLUMNS: &[Col] = &[
    NAME,
    c("AddressType", "string", D_ES_ADDRESS_TYPE),
    c("Ports", "string", D_ES_PORTS),
    c("Endpoints", "string", D_ES_ENDPOINTS),
    AGE,
];

pub(crate) static EVENT_COLUMNS: &[Col] = &[
    c("Last Seen", "string", D_EV_LAST),
    c("Type", "string", D_EV_TYPE),
    c("Reason", "string", D_EV_REASON),
    c("Object", "string", D_EV_OBJECT),
    wide("Subobject", "string", D_EV_FIELDPATH),
    wide("Source", "string", D_EV_SOURCE),
    c("Message", "string", D_EV_MESSAGE),
    wide("First Seen", "string", D_EV_FIRST),
    wide("Count", "string", D_EV_COUNT),
    Col {
        name: "Name",
        ty: "string",
        format: "name",
        description: D_NAME,
        priority: 1,
    },
];

pub(crate) static PVC_COLUMNS: &[Col] = &[
    NAME,
    c("Status", "string", D_PVC_PHASE),
    c("Volume", "string", D_PVC_VOLUME),
    c("Capacity", "string", D_PVC_CAPACITY),
    c("Access Modes", "string", D_PVC_MODES),
    c("StorageClass", "string", "StorageClass of the pvc"),
    c(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pvc",
    ),
    AGE,
    wide("VolumeMode", "string", D_PVC_VOLUME_MODE),
];

pub(crate) static PV_COLUMNS: &[Col] = &[
    NAME,
    c("Capacity", "string", D_PV_CAPACITY),
    c("Access Modes", "string", D_PV_MODES),
    c("Reclaim Policy", "string", D_PV_RECLAIM),
    c("Status", "string", D_PV_PHASE),
    c("Claim", "string", D_PV_CLAIM),
    c("StorageClass", "string", "StorageClass of the pv"),
    c(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pv",
    ),
    c("Reason", "string", D_PV_REASON),
    AGE,
    wide("VolumeMode", "string", D_PV_VOLUME_MODE),
];

pub(crate) static RESOURCE_QUOTA_COLUMNS: &[Col] = &[
    NAME,
    c(
        "Request",
        "string",
        "Request represents a minimum amount of cpu/memory that a container may consume.",
    ),
    c(
        "Limit",
        "string",
        "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
    ),
    AGE,
];

pub(crate) static LEASE_COLUMNS: &[Col] = &[NAME, c("Holder", "string", D_LEASE_HOLDER), AGE];

pub(crate) static PDB_COLUMNS: &[Col] = &[
    NAME,
    c(
        "Min Available",
        "string",
        "The minimum number of pods that must be available.",
    ),
    c(
        "Max Unavailable",
        "string",
        "The maximum number of pods that may be unavailable.",
    ),
    c(
        "Allowed Disruptions",
        "integer",
        "Calculated number of pods that may be disrupted at this time.",
    ),
    AGE,
];

pub(crate) static ROLE_BINDING_COLUMNS: &[Col] = &[
    NAME,
    c("Role", "string", D_RB_ROLE),
    AGE,
    wide("Users", "string", "Users in the roleBinding"),
    wide("Groups", "string", "Groups in the roleBinding"),
    wide(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the roleBinding",
    ),
];

pub(crate) static CLUSTER_ROLE_BINDING_COLUMNS: &[Col] = &[
    NAME,
    c("Role", "string", D_CRB_ROLE),
    AGE,
    wide("Users", "string", "Users in the clusterRoleBinding"),
    wide("Groups", "string", "Groups in the clusterRoleBinding"),
    wide(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the clusterRoleBinding",
    ),
];

pub(crate) static CONTROLLER_REVISION_COLUMNS: &[Col] = &[
    NAME,
    c("Controller", "string", "Controller of the object"),
    c("Revision", "string", D_CR_REVISION),
    AGE,
];

/// The API server's default table (no printer registered: LimitRange, Role, ClusterRole).
pub(crate) static CREATED_AT_COLUMNS: &[Col] = &[NAME, c("Created At", "date", D_CREATED)];

/// Any other kind: like a custom resource without printer columns.
pub(crate) static DEFAULT_COLUMNS: &[Col] = &[NAME, c("Age", "date", D_CREATED)];

/// How a kind is printed: its columns and the cells of one object's row. Each kind's
/// strategy names its printer ([`crate::strategy::Strategy::printer`]).
pub struct Printer {
    pub(crate) columns: &'static [Col],
    pub(crate) cells: fn(&Value, DateTime<Utc>) -> Cells,
}

/// A kind without a printer of its own: like a custom resource without printer columns.
pub static DEFAULT: Printer = Printer {
    columns: DEFAULT_COLUMNS,
    cells: |obj, now| (vec![name(obj), age(obj, now)], None),
};

/// The API server's default table (no printer registered: LimitRange, Role, ClusterRole).
pub(crate) static CREATED_AT: Printer = Printer {
    columns: CREATED_AT_COLUMNS,
    cells: |obj, _| (vec![name(obj), s(created_at(obj))], None),
};

// ---------------------------------------------------------------------------------------------
// Cells

/// A row's cells and, for some kinds (Pod), its conditions.
pub type Cells = (Vec<Value>, Option<Value>);

static NULL: Value = Value::Null;

/// The value at a dotted path (`spec.template.spec`), or `null`.
pub(crate) fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .try_fold(v, |v, key| v.get(key))
        .unwrap_or(&NULL)
}

pub(crate) fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    at(v, path).as_str().unwrap_or("")
}

pub(crate) fn int_at(v: &Value, path: &str) -> i64 {
    as_int(at(v, path))
}

pub(crate) fn as_int(v: &Value) -> i64 {
    v.as_i64()
        .or_else(|| v.as_f64().map(|f| f as i64))
        .unwrap_or(0)
}

fn arr_at<'a>(v: &'a Value, path: &str) -> &'a [Value] {
    at(v, path).as_array().map(Vec::as_slice).unwrap_or(&[])
}

pub(crate) fn obj_len(v: &Value) -> usize {
    v.as_object().map_or(0, Map::len)
}

pub(crate) fn s(value: impl Into<String>) -> Value {
    Value::String(value.into())
}

pub(crate) fn name(obj: &Value) -> Value {
    s(str_at(obj, "metadata.name"))
}

pub(crate) fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// `translateTimestampSince`: `<unknown>` for an unset timestamp.
pub(crate) fn since(ts: &Value, now: DateTime<Utc>) -> String {
    match parse_time(ts) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".to_string(),
    }
}

pub(crate) fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    s(since(at(obj, "metadata.creationTimestamp"), now))
}

/// The default table's `Created At` cell: RFC 3339 in UTC (the zero time when unset).
pub(crate) fn created_at(obj: &Value) -> String {
    match parse_time(at(obj, "metadata.creationTimestamp")) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Secs, true),
        None => "0001-01-01T00:00:00Z".to_string(),
    }
}

/// `resource.Quantity.String()` of a JSON quantity (the stored form; `0` when unset).
pub(crate) fn quantity(v: &Value) -> String {
    match v {
        Value::String(q) => q.clone(),
        Value::Number(n) => n.to_string(),
        _ => "0".to_string(),
    }
}

/// `intstr.IntOrString.String()`.
pub(crate) fn int_or_string(v: &Value) -> String {
    match v {
        Value::String(q) => q.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// `labels.FormatLabels`: sorted `k=v` pairs, `<none>` when empty.
pub(crate) fn format_labels(v: &Value) -> String {
    let pairs: BTreeMap<&str, String> = v
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    if pairs.is_empty() {
        return "<none>".to_string();
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `metav1.LabelSelectorAsSelector(sel).String()`: requirements sorted by key; `""` for an
/// empty (or missing) selector.
pub(crate) fn label_selector_string(sel: &Value) -> String {
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(labels) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
        }
    }
    for expr in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let key = str_at(expr, "key");
        let values: BTreeSet<&str> = arr_at(expr, "values")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let values = values.into_iter().collect::<Vec<_>>().join(",");
        let text = match str_at(expr, "operator") {
            "In" => format!("{key} in ({values})"),
            "NotIn" => format!("{key} notin ({values})"),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            op => format!("{key} {op} ({values})"),
        };
        reqs.push((key.to_string(), text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    reqs.into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join(",")
}

/// `metav1.FormatLabelSelector`: like [`label_selector_string`] but `<none>` when empty.
pub(crate) fn format_label_selector(sel: &Value) -> String {
    let text = label_selector_string(sel);
    if text.is_empty() {
        "<none>".to_string()
    } else {
        text
    }
}

/// `layoutContainerCells`: comma-joined container names and images.
pub(crate) fn layout_containers(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, "name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, "image")).collect();
    (names.join(","), images.join(","))
}

pub(crate) fn pod_template_wide(template_spec: &Value, selector: Option<&Value>) -> Vec<Value> {
    let (names, images) = layout_containers(arr_at(template_spec, "containers"));
    let mut cells = vec![s(names), s(images)];
    if let Some(selector) = selector {
        cells.push(s(format_label_selector(selector)));
    }
    cells
}

pub(crate) fn condition_true(conditions: &[Value], ty: &str) -> bool {
    conditions
        .iter()
        .any(|c| str_at(c, "type") == ty && str_at(c, "status") == "True")
}

// --- Pod

pub(crate) fn is_restartable_init(container: Option<&Value>) -> bool {
    container.is_some_and(|c| str_at(c, "restartPolicy") == "Always")
}

pub(crate) fn terminated_finished(status: &Value) -> Option<DateTime<Utc>> {
    let terminated = at(status, "lastState.terminated");
    if terminated.is_object() {
        // A terminated state without finishedAt is the zero time.
        Some(parse_time(at(terminated, "finishedAt")).unwrap_or(DateTime::<Utc>::MIN_UTC))
    } else {
        None
    }
}

pub(crate) fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

pub(crate) fn pod_cells(pod: &Value, now: DateTime<Utc>) -> Cells {
    let spec = at(pod, "spec");
    let status = at(pod, "status");
    let mut restarts: i64 = 0;
    let mut restartable_init_restarts: i64 = 0;
    let mut total_containers = arr_at(spec, "containers").len();
    let mut ready_containers = 0usize;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_restartable_init_restart: Option<DateTime<Utc>> = None;

    let phase = str_at(status, "phase");
    let mut reason = phase.to_string();
    if !str_at(status, "reason").is_empty() {
        reason = str_at(status, "reason").to_string();
    }
    let conditions = arr_at(status, "conditions");
    for condition in conditions {
        if str_at(condition, "type") == "PodScheduled"
            && str_at(condition, "reason") == "SchedulingGated"
        {
            reason = "SchedulingGated".to_string();
        }
    }

    let row_conditions = match phase {
        "Succeeded" => Some(json!([{
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }])),
        "Failed" => Some(json!([{
            "type": "Completed",
            "status": "True",
            "reason": "Failed",
            "message": "The pod failed.",
        }])),
        _ => None,
    };

    let init_specs = arr_at(spec, "initContainers");
    let init_by_name: BTreeMap<&str, &Value> =
        init_specs.iter().map(|c| (str_at(c, "name"), c)).collect();
    total_containers += init_specs
        .iter()
        .filter(|c| is_restartable_init(Some(c)))
        .count();

    let mut initializing = false;
    for (i, container) in arr_at(status, "initContainerStatuses").iter().enumerate() {
        let restart_count = int_at(container, "restartCount");
        let restartable = is_restartable_init(init_by_name.get(str_at(container, "name")).copied());
        restarts += restart_count;
        let finished = terminated_finished(container);
        last_restart = later(last_restart, finished);
        if restartable {
            restartable_init_restarts += restart_count;
            last_restartable_init_restart = later(last_restartable_init_restart, finished);
        }
        let terminated = at(container, "state.terminated");
        let waiting = at(container, "state.waiting");
        if terminated.is_object() && int_at(terminated, "exitCode") == 0 {
            continue;
        }
        if restartable && at(container, "started").as_bool() == Some(true) {
            if at(container, "ready").as_bool() == Some(true) {
                ready_containers += 1;
            }
            continue;
        }
        if terminated.is_object() {
            let r = str_at(terminated, "reason");
            reason = if !r.is_empty() {
                format!("Init:{r}")
            } else if int_at(terminated, "signal") != 0 {
                format!("Init:Signal:{}", int_at(terminated, "signal"))
            } else {
                format!("Init:ExitCode:{}", int_at(terminated, "exitCode"))
            };
        } else if waiting.is_object()
            && !str_at(waiting, "reason").is_empty()
            && str_at(waiting, "reason") != "PodInitializing"
        {
            reason = format!("Init:{}", str_at(waiting, "reason"));
        } else {
            reason = format!("Init:{}/{}", i, init_specs.len());
        }
        initializing = true;
        break;
    }

    let initialized = conditions
        .iter()
        .find(|c| str_at(c, "type") == "Initialized")
        .is_some_and(|c| str_at(c, "status") == "True");
    if !initializing || initialized {
        restarts = restartable_init_restarts;
        last_restart = last_restartable_init_restart;
        let mut has_running = false;
        let mut error_reason = String::new();
        for container in arr_at(status, "containerStatuses").iter().rev() {
            restarts += int_at(container, "restartCount");
            last_restart = later(last_restart, terminated_finished(container));
            let waiting = at(container, "state.waiting");
            let terminated = at(container, "state.terminated");
            if waiting.is_object() && !str_at(waiting, "reason").is_empty() {
                reason = str_at(waiting, "reason").to_string();
            } else if terminated.is_object() {
                let r = str_at(terminated, "reason");
                reason = if !r.is_empty() {
                    r.to_string()
                } else if int_at(terminated, "signal") != 0 {
                    format!("Signal:{}", int_at(terminated, "signal"))
                } else {
                    format!("ExitCode:{}", int_at(terminated, "exitCode"))
                };
                if int_at(terminated, "exitCode") != 0 {
                    error_reason = reason.clone();
                }
            } else if at(container, "ready").as_bool() == Some(true)
                && at(container, "state.running").is_object()
            {
                has_running = true;
                ready_containers += 1;
            }
        }
        // Back to "Running" if at least one container is still running.
        if reason == "Completed" {
            if has_running && condition_true(conditions, "Ready") {
                reason = "Running".to_string();
            } else if !error_reason.is_empty() {
                reason = error_reason;
            } else if has_running {
                reason = "NotReady".to_string();
            }
        }
    }

    let deleting = !at(pod, "metadata.deletionTimestamp").is_null();
    if deleting && str_at(status, "reason") == "NodeLost" {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }

    let restarts_text = match last_restart {
        Some(t) if restarts != 0 && t != DateTime::<Utc>::MIN_UTC => {
            format!("{restarts} ({} ago)", human_duration(now - t))
        }
        _ => restarts.to_string(),
    };

    let or_none = |v: &str| {
        if v.is_empty() {
            "<none>".to_string()
        } else {
            v.to_string()
        }
    };
    // v1 -> internal conversion fills podIPs from podIP when only the latter is set.
    let pod_ip = arr_at(status, "podIPs")
        .first()
        .map(|ip| str_at(ip, "ip"))
        .unwrap_or_else(|| str_at(status, "podIP"));
    let gates = arr_at(spec, "readinessGates");
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let true_conditions = gates
            .iter()
            .filter(|gate| {
                conditions
                    .iter()
                    .find(|c| str_at(c, "type") == str_at(gate, "conditionType"))
                    .is_some_and(|c| str_at(c, "status") == "True")
            })
            .count();
        format!("{true_conditions}/{}", gates.len())
    };

    let cells = vec![
        name(pod),
        s(format!("{ready_containers}/{total_containers}")),
        s(reason),
        s(restarts_text),
        age(pod, now),
        s(or_none(pod_ip)),
        s(or_none(str_at(spec, "nodeName"))),
        s(or_none(str_at(status, "nominatedNodeName"))),
        s(readiness_gates),
    ];
    (cells, row_conditions)
}

// --- Workloads

pub(crate) fn deployment_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = layout_containers(arr_at(obj, "spec.template.spec.containers"));
    vec![
        name(obj),
        s(format!(
            "{}/{}",
            int_at(obj, "status.readyReplicas"),
            int_at(obj, "spec.replicas")
        )),
        json!(int_at(obj, "status.updatedReplicas")),
        json!(int_at(obj, "status.availableReplicas")),
        age(obj, now),
        s(names),
        s(images),
        s(label_selector_string(at(obj, "spec.selector"))),
    ]
}

pub(crate) fn replica_set_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut cells = vec![
        name(obj),
        json!(int_at(obj, "spec.replicas")),
        json!(int_at(obj, "status.replicas")),
        json!(int_at(obj, "status.readyReplicas")),
        age(obj, now),
    ];
    cells.extend(pod_template_wide(
        at(obj, "spec.template.spec"),
        Some(at(obj, "spec.selector")),
    ));
    cells
}

/// `printReplicationController`: like a ReplicaSet, with a selector that is a plain label map.
pub(crate) fn replication_controller_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = layout_containers(arr_at(obj, "spec.template.spec.containers"));
    vec![
        name(obj),
        json!(int_at(obj, "spec.replicas")),
        json!(int_at(obj, "status.replicas")),
        json!(int_at(obj, "status.readyReplicas")),
        age(obj, now),
        s(names),
        s(images),
        s(format_labels(at(obj, "spec.selector"))),
    ]
}

pub(crate) fn stateful_set_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut cells = vec![
        name(obj),
        s(format!(
            "{}/{}",
            int_at(obj, "status.readyReplicas"),
            int_at(obj, "spec.replicas")
        )),
        age(obj, now),
    ];
    cells.extend(pod_template_wide(at(obj, "spec.template.spec"), None));
    cells
}

pub(crate) fn daemon_set_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut cells = vec![
        name(obj),
        json!(int_at(obj, "status.desiredNumberScheduled")),
        json!(int_at(obj, "status.currentNumberScheduled")),
        json!(int_at(obj, "status.numberReady")),
        json!(int_at(obj, "status.updatedNumberScheduled")),
        json!(int_at(obj, "status.numberAvailable")),
        s(format_labels(at(obj, "spec.template.spec.nodeSelector"))),
        age(obj, now),
    ];
    cells.extend(pod_template_wide(
        at(obj, "spec.template.spec"),
        Some(at(obj, "spec.selector")),
    ));
    cells
}

pub(crate) fn job_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let succeeded = int_at(obj, "status.succeeded");
    let completions = match at(obj, "spec.completions") {
        Value::Number(n) => format!("{succeeded}/{n}"),
        _ => {
            let parallelism = int_at(obj, "spec.parallelism");
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let duration = match (
        parse_time(at(obj, "status.startTime")),
        parse_time(at(obj, "status.completionTime")),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now - start),
        (Some(start), Some(end)) => human_duration(end - start),
    };
    let conditions = arr_at(obj, "status.conditions");
    // hasJobCondition: the first condition of the type decides.
    let has = |ty: &str| {
        conditions
            .iter()
            .find(|c| str_at(c, "type") == ty)
            .is_some_and(|c| str_at(c, "status") == "True")
    };
    let status = if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if !at(obj, "metadata.deletionTimestamp").is_null() {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else if has("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    let mut cells = vec![
        name(obj),
        s(status),
        s(completions),
        s(duration),
        age(obj, now),
    ];
    cells.extend(pod_template_wide(
        at(obj, "spec.template.spec"),
        Some(at(obj, "spec.selector")),
    ));
    cells
}

pub(crate) fn cron_job_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let last_schedule = match at(obj, "status.lastScheduleTime") {
        Value::Null => "<none>".to_string(),
        t => since(t, now),
    };
    let time_zone = at(obj, "spec.timeZone").as_str().unwrap_or("<none>");
    let suspend = match at(obj, "spec.suspend").as_bool() {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let mut cells = vec![
        name(obj),
        s(str_at(obj, "spec.schedule")),
        s(time_zone),
        s(suspend),
        json!(arr_at(obj, "status.active").len()),
        s(last_schedule),
        age(obj, now),
    ];
    cells.extend(pod_template_wide(
        at(obj, "spec.jobTemplate.spec.template.spec"),
        Some(at(obj, "spec.jobTemplate.spec.selector")),
    ));
    cells
}

// --- Service, Ingress, networking

/// `loadBalancerStatusStringer` (wide): the sorted, de-duplicated ingress IPs or hostnames.
pub(crate) fn load_balancer_status(status: &Value) -> String {
    let set: BTreeSet<&str> = arr_at(status, "ingress")
        .iter()
        .filter_map(|ing| {
            let ip = str_at(ing, "ip");
            let host = str_at(ing, "hostname");
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

pub(crate) fn service_cells(svc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let spec = at(svc, "spec");
    let svc_type = match str_at(spec, "type") {
        "" => "ClusterIP",
        t => t,
    };
    let cluster_ip = arr_at(spec, "clusterIPs")
        .first()
        .and_then(Value::as_str)
        .filter(|ip| !ip.is_empty())
        .or_else(|| Some(str_at(spec, "clusterIP")).filter(|ip| !ip.is_empty()))
        .unwrap_or("<none>");
    let external_ips: Vec<&str> = arr_at(spec, "externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let external_ip = match svc_type {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".to_string()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_status(at(svc, "status.loadBalancer"));
            if !external_ips.is_empty() {
                let mut all: Vec<&str> = Vec::new();
                if !lb.is_empty() {
                    all.extend(lb.split(','));
                }
                all.extend(external_ips.iter().copied());
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => str_at(spec, "externalName").to_string(),
        _ => "<unknown>".to_string(),
    };
    let ports: Vec<String> = arr_at(spec, "ports")
        .iter()
        .map(|p| {
            let protocol = match str_at(p, "protocol") {
                "" => "TCP",
                proto => proto,
            };
            let node_port = int_at(p, "nodePort");
            if node_port > 0 {
                format!("{}:{}/{}", int_at(p, "port"), node_port, protocol)
            } else {
                format!("{}/{}", int_at(p, "port"), protocol)
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    };
    vec![
        name(svc),
        s(svc_type),
        s(cluster_ip),
        s(external_ip),
        s(ports),
        age(svc, now),
        s(format_labels(at(spec, "selector"))),
    ]
}

pub(crate) fn ingress_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let class = at(obj, "spec.ingressClassName")
        .as_str()
        .unwrap_or("<none>");
    // formatHosts
    let rules = arr_at(obj, "spec.rules");
    let max = 3;
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if list.len() == max {
            more = true;
        }
        let host = str_at(rule, "host");
        if !more && !host.is_empty() {
            list.push(host);
        }
    }
    let hosts = if list.is_empty() {
        "*".to_string()
    } else if more {
        format!("{} + {} more...", list.join(","), rules.len() - max)
    } else {
        list.join(",")
    };
    let ports = if arr_at(obj, "spec.tls").is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name(obj),
        s(class),
        s(hosts),
        s(load_balancer_status(at(obj, "status.loadBalancer"))),
        s(ports),
        age(obj, now),
    ]
}

pub(crate) fn ingress_class_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let params = at(obj, "spec.parameters");
    let parameters = if params.is_object() {
        let mut p = str_at(params, "kind").to_string();
        if let Some(group) = params.get("apiGroup").and_then(Value::as_str) {
            p = format!("{p}.{group}");
        }
        format!("{p}/{}", str_at(params, "name"))
    } else {
        "<none>".to_string()
    };
    vec![
        name(obj),
        s(str_at(obj, "spec.controller")),
        s(parameters),
        age(obj, now),
    ]
}

/// `net.JoinHostPort`.
pub(crate) fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `formatEndpoints` with all ports.
pub(crate) fn format_endpoints(obj: &Value) -> String {
    let subsets = arr_at(obj, "subsets");
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let max = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0;
    for subset in subsets {
        let addresses = arr_at(subset, "addresses");
        let ports = arr_at(subset, "ports");
        if ports.is_empty() {
            // Headless services with no ports.
            count += addresses.len();
            for addr in addresses {
                if list.len() == max {
                    more = true;
                    break;
                }
                list.push(str_at(addr, "ip").to_string());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for addr in addresses {
                if list.len() == max {
                    more = true;
                    break;
                }
                list.push(join_host_port(str_at(addr, "ip"), int_at(port, "port")));
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - max)
    } else {
        ret
    }
}

pub(crate) fn list_with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count - max);
    }
    if ret.is_empty() {
        "<unset>".to_string()
    } else {
        ret
    }
}

pub(crate) fn endpoint_slice_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let max = 3;
    let (mut ports, mut more, mut count) = (Vec::new(), false, 0);
    for port in arr_at(obj, "ports") {
        if ports.len() < max {
            let text = match (at(port, "port"), at(port, "name")) {
                (Value::Number(n), _) => n.to_string(),
                (_, Value::String(n)) => n.clone(),
                _ => "*".to_string(),
            };
            ports.push(text);
        } else if ports.len() == max {
            more = true;
        }
        count += 1;
    }
    let ports = list_with_more(&ports, more, count, max);
    let (mut eps, mut more, mut count) = (Vec::new(), false, 0);
    for endpoint in arr_at(obj, "endpoints") {
        for address in arr_at(endpoint, "addresses") {
            if eps.len() < max {
                eps.push(address.as_str().unwrap_or_default().to_string());
            } else if eps.len() == max {
                more = true;
            }
            count += 1;
        }
    }
    let endpoints = list_with_more(&eps, more, count, max);
    vec![
        name(obj),
        s(str_at(obj, "addressType")),
        s(ports),
        s(endpoints),
        age(obj, now),
    ]
}

// --- Cluster and config objects

pub(crate) fn node_cells(node: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut status: Vec<String> = Vec::new();
    // conditionMap keeps the last condition of each type.
    if let Some(ready) = arr_at(node, "status.conditions")
        .iter()
        .rev()
        .find(|c| str_at(c, "type") == "Ready")
    {
        if str_at(ready, "status") == "True" {
            status.push("Ready".to_string());
        } else {
            status.push("NotReady".to_string());
        }
    }
    if status.is_empty() {
        status.push("Unknown".to_string());
    }
    if at(node, "spec.unschedulable").as_bool() == Some(true) {
        status.push("SchedulingDisabled".to_string());
    }
    let mut roles: BTreeSet<String> = BTreeSet::new();
    if let Some(labels) = at(node, "metadata.labels").as_object() {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.insert(role.to_string());
                }
            } else if k == "kubernetes.io/role" && !v.as_str().unwrap_or_default().is_empty() {
                roles.insert(v.as_str().unwrap_or_default().to_string());
            }
        }
    }
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    };
    let address = |ty: &str| {
        arr_at(node, "status.addresses")
            .iter()
            .find(|a| str_at(a, "type") == ty)
            .map(|a| str_at(a, "address").to_string())
            .unwrap_or_else(|| "<none>".to_string())
    };
    let info = |field: &str| match str_at(node, &format!("status.nodeInfo.{field}")) {
        "" => "<unknown>".to_string(),
        v => v.to_string(),
    };
    vec![
        name(node),
        s(status.join(",")),
        s(roles),
        age(node, now),
        s(str_at(node, "status.nodeInfo.kubeletVersion")),
        s(address("InternalIP")),
        s(address("ExternalIP")),
        s(info("osImage")),
        s(info("kernelVersion")),
        s(info("containerRuntimeVersion")),
    ]
}

pub(crate) fn event_cells(ev: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let first = if parse_time(at(ev, "firstTimestamp")).is_some() {
        since(at(ev, "firstTimestamp"), now)
    } else {
        since(at(ev, "eventTime"), now)
    };
    let mut last = if parse_time(at(ev, "lastTimestamp")).is_some() {
        since(at(ev, "lastTimestamp"), now)
    } else {
        first.clone()
    };
    let mut count = int_at(ev, "count");
    let series = at(ev, "series");
    if series.is_object() {
        last = since(at(series, "lastObservedTime"), now);
        count = int_at(series, "count");
    } else if count == 0 {
        // Singleton events don't have a count set in the new API.
        count = 1;
    }
    let kind = str_at(ev, "involvedObject.kind").to_lowercase();
    let involved_name = str_at(ev, "involvedObject.name");
    let target = if involved_name.is_empty() {
        kind
    } else {
        format!("{kind}/{involved_name}")
    };
    let first_non_empty = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let component = first_non_empty(
        str_at(ev, "source.component"),
        str_at(ev, "reportingComponent"),
    );
    let instance = first_non_empty(str_at(ev, "source.host"), str_at(ev, "reportingInstance"));
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    vec![
        s(last),
        s(str_at(ev, "type")),
        s(str_at(ev, "reason")),
        s(target),
        s(str_at(ev, "involvedObject.fieldPath")),
        s(source),
        s(str_at(ev, "message").trim()),
        s(first),
        json!(count),
        name(ev),
    ]
}

/// `helper.GetAccessModesAsString`.
pub(crate) fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| has(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

pub(crate) fn pvc_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let phase = if at(obj, "metadata.deletionTimestamp").is_null() {
        str_at(obj, "status.phase")
    } else {
        "Terminating"
    };
    let volume_name = str_at(obj, "spec.volumeName");
    let (capacity, modes) = if volume_name.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity(at(obj, "status.capacity.storage")),
            access_modes(arr_at(obj, "status.accessModes")),
        )
    };
    let class = at(obj, "metadata.annotations")
        .get("volume.beta.kubernetes.io/storage-class")
        .and_then(Value::as_str)
        .unwrap_or_else(|| str_at(obj, "spec.storageClassName"));
    let vac = at(obj, "spec.volumeAttributesClassName")
        .as_str()
        .unwrap_or("<unset>");
    let volume_mode = at(obj, "spec.volumeMode").as_str().unwrap_or("<unset>");
    vec![
        name(obj),
        s(phase),
        s(volume_name),
        s(capacity),
        s(modes),
        s(class),
        s(vac),
        age(obj, now),
        s(volume_mode),
    ]
}

/// `printPersistentVolume`.
pub(crate) fn pv_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let claim = match at(obj, "spec.claimRef") {
        Value::Null => String::new(),
        r => format!("{}/{}", str_at(r, "namespace"), str_at(r, "name")),
    };
    let phase = if at(obj, "metadata.deletionTimestamp").is_null() {
        str_at(obj, "status.phase")
    } else {
        "Terminating"
    };
    let class = at(obj, "metadata.annotations")
        .get("volume.beta.kubernetes.io/storage-class")
        .and_then(Value::as_str)
        .unwrap_or_else(|| str_at(obj, "spec.storageClassName"));
    let vac = at(obj, "spec.volumeAttributesClassName")
        .as_str()
        .unwrap_or("<unset>");
    let volume_mode = at(obj, "spec.volumeMode").as_str().unwrap_or("<unset>");
    vec![
        name(obj),
        s(quantity(at(obj, "spec.capacity.storage"))),
        s(access_modes(arr_at(obj, "spec.accessModes"))),
        s(str_at(obj, "spec.persistentVolumeReclaimPolicy")),
        s(phase),
        s(claim),
        s(class),
        s(vac),
        s(str_at(obj, "status.reason")),
        age(obj, now),
        s(volume_mode),
    ]
}

pub(crate) fn resource_quota_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let hard = at(obj, "status.hard");
    let used = at(obj, "status.used");
    let mut resources: Vec<&String> = hard
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    resources.sort();
    let mut requests: Vec<String> = Vec::new();
    let mut limits: Vec<String> = Vec::new();
    for resource in resources {
        let text = format!(
            "{resource}: {}/{}",
            quantity(used.get(resource.as_str()).unwrap_or(&NULL)),
            quantity(&hard[resource.as_str()])
        );
        let pieces: Vec<&str> = resource.split('.').collect();
        if pieces.len() > 1 && pieces[0] == "limits" {
            limits.push(text);
        } else {
            requests.push(text);
        }
    }
    vec![
        name(obj),
        s(requests.join(", ")),
        s(limits.join(", ")),
        age(obj, now),
    ]
}

pub(crate) fn pdb_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let or_na = |v: &Value| {
        if v.is_null() {
            "N/A".to_string()
        } else {
            int_or_string(v)
        }
    };
    vec![
        name(obj),
        s(or_na(at(obj, "spec.minAvailable"))),
        s(or_na(at(obj, "spec.maxUnavailable"))),
        json!(int_at(obj, "status.disruptionsAllowed")),
        age(obj, now),
    ]
}

pub(crate) fn role_binding_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let role_ref = format!(
        "{}/{}",
        str_at(obj, "roleRef.kind"),
        str_at(obj, "roleRef.name")
    );
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subject in arr_at(obj, "subjects") {
        match str_at(subject, "kind") {
            "ServiceAccount" => sas.push(format!(
                "{}/{}",
                str_at(subject, "namespace"),
                str_at(subject, "name")
            )),
            "User" => users.push(str_at(subject, "name").to_string()),
            "Group" => groups.push(str_at(subject, "name").to_string()),
            _ => {}
        }
    }
    vec![
        name(obj),
        s(role_ref),
        age(obj, now),
        s(users.join(", ")),
        s(groups.join(", ")),
        s(sas.join(", ")),
    ]
}

pub(crate) fn controller_revision_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let controller = arr_at(obj, "metadata.ownerReferences")
        .iter()
        .find(|r| at(r, "controller").as_bool() == Some(true))
        .map(|r| {
            let group = str_at(r, "apiVersion")
                .rsplit_once('/')
                .map(|(g, _)| g)
                .unwrap_or("");
            let kind = str_at(r, "kind");
            let group_kind = match (kind.is_empty(), group.is_empty()) {
                (true, true) => String::new(),
                (_, true) => kind.to_string(),
                _ => format!("{kind}.{group}"),
            };
            if group_kind.is_empty() {
                str_at(r, "name").to_string()
            } else {
                format!("{}/{}", group_kind.to_lowercase(), str_at(r, "name"))
            }
        })
        .unwrap_or_else(|| "<none>".to_string());
    vec![
        name(obj),
        s(controller),
        json!(int_at(obj, "revision")),
        age(obj, now),
    ]
}

// --- HorizontalPodAutoscaler

pub(crate) fn hpa_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // Kubernetes prints the internal (v2-shaped) object; convert an autoscaling/v1 one.
    let converted;
    let hpa = if str_at(obj, "apiVersion") == "autoscaling/v1" {
        converted = crate::convert::convert(obj, "autoscaling/v2").unwrap_or_else(|_| obj.clone());
        &converted
    } else {
        obj
    };
    let reference = format!(
        "{}/{}",
        str_at(hpa, "spec.scaleTargetRef.kind"),
        str_at(hpa, "spec.scaleTargetRef.name")
    );
    let min_pods = match at(hpa, "spec.minReplicas") {
        Value::Null => "<unset>".to_string(),
        v => as_int(v).to_string(),
    };
    vec![
        name(hpa),
        s(reference),
        s(format_hpa_metrics(
            arr_at(hpa, "spec.metrics"),
            arr_at(hpa, "status.currentMetrics"),
        )),
        s(min_pods),
        json!(int_at(hpa, "spec.maxReplicas")),
        json!(int_at(hpa, "status.currentReplicas")),
        age(hpa, now),
    ]
}

/// `formatHPAMetrics`: `cpu: 40%/50%`, `<unknown>` for a missing current value, at most two
/// entries then `+ N more...`.
pub(crate) fn format_hpa_metrics(specs: &[Value], statuses: &[Value]) -> String {
    if specs.is_empty() {
        return "<none>".to_string();
    }
    let unknown = || "<unknown>".to_string();
    let mut list: Vec<String> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let status = statuses.get(i).unwrap_or(&NULL);
        let text = match str_at(spec, "type") {
            "External" | "Object" => {
                let key = if str_at(spec, "type") == "External" {
                    "external"
                } else {
                    "object"
                };
                let target = at(spec, &format!("{key}.target"));
                let current = at(status, &format!("{key}.current"));
                if !at(target, "averageValue").is_null() {
                    let cur = match at(current, "averageValue") {
                        Value::Null => unknown(),
                        v => quantity(v),
                    };
                    format!("{cur}/{} (avg)", quantity(at(target, "averageValue")))
                } else {
                    let cur = if at(status, key).is_object() {
                        quantity(at(current, "value"))
                    } else {
                        unknown()
                    };
                    format!("{cur}/{}", quantity(at(target, "value")))
                }
            }
            "Pods" => {
                let cur = if at(status, "pods").is_object() {
                    quantity(at(status, "pods.current.averageValue"))
                } else {
                    unknown()
                };
                format!("{cur}/{}", quantity(at(spec, "pods.target.averageValue")))
            }
            "Resource" | "ContainerResource" => {
                let key = if str_at(spec, "type") == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let source = at(spec, key);
                let target = at(source, "target");
                let current_status = at(status, key);
                let resource = str_at(source, "name");
                if !at(target, "averageValue").is_null() {
                    let cur = if current_status.is_object() {
                        quantity(at(current_status, "current.averageValue"))
                    } else {
                        unknown()
                    };
                    format!("{resource}: {cur}/{}", quantity(at(target, "averageValue")))
                } else {
                    let cur = match at(current_status, "current.averageUtilization") {
                        Value::Null => unknown(),
                        v => format!("{}%", as_int(v)),
                    };
                    let tgt = match at(target, "averageUtilization") {
                        Value::Null => "<auto>".to_string(),
                        v => format!("{}%", as_int(v)),
                    };
                    format!("{resource}: {cur}/{tgt}")
                }
            }
            _ => "<unknown type>".to_string(),
        };
        list.push(text);
    }
    let max = 2;
    let count = list.len();
    if count > max {
        list.truncate(max);
        return format!("{} + {} more...", list.join(", "), count - max);
    }
    list.join(", ")
}

// ---------------------------------------------------------------------------------------------
// Column descriptions: the Kubernetes API documentation of the fields each column shows.

pub(crate) const D_NAME: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
pub(crate) const D_CREATED: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
pub(crate) const D_POD_IP: &str = "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.";
pub(crate) const D_POD_NODE: &str = "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename";
pub(crate) const D_POD_NOMINATED: &str = "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.";
pub(crate) const D_POD_GATES: &str = "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates";
pub(crate) const D_RS_DESIRED: &str = "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset";
pub(crate) const D_RS_CURRENT: &str = "Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset";
pub(crate) const D_RS_READY: &str =
    "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.";
pub(crate) const D_RS_SELECTOR: &str = "Selector is a label query over pods that should match the replica count. Label keys and values that must match in order to be controlled by this replica set. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
pub(crate) const D_RC_DESIRED: &str = "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller";
pub(crate) const D_RC_CURRENT: &str = "Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller";
pub(crate) const D_RC_READY: &str = "The number of ready replicas for this replication controller.";
pub(crate) const D_RC_SELECTOR: &str = "Selector is a label query over pods that should match the Replicas count. If Selector is empty, it is defaulted to the labels present on the Pod template. Label keys and values that must match in order to be controlled by this replication controller, if empty defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
pub(crate) const D_DS_DESIRED: &str = "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/";
pub(crate) const D_DS_CURRENT: &str = "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/";
pub(crate) const D_DS_READY: &str = "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.";
pub(crate) const D_DS_UPDATED: &str =
    "The total number of nodes that are running updated daemon pod";
pub(crate) const D_DS_AVAILABLE: &str = "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)";
pub(crate) const D_NODE_SELECTOR: &str = "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/";
pub(crate) const D_DS_SELECTOR: &str = "A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
pub(crate) const D_JOB_SUCCEEDED: &str = "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.";
pub(crate) const D_JOB_SELECTOR: &str = "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
pub(crate) const D_CJ_SCHEDULE: &str =
    "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.";
pub(crate) const D_CJ_TIMEZONE: &str = "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process. The set of valid time zone names and the time zone offset is loaded from the system-wide time zone database by the API server during CronJob validation and the controller manager during execution. If no system-wide time zone database can be found a bundled version of the database is used instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will create a system event with the reason UnknownTimeZone. More information can be found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones";
pub(crate) const D_CJ_SUSPEND: &str = "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.";
pub(crate) const D_CJ_ACTIVE: &str = "A list of pointers to currently running jobs.";
pub(crate) const D_CJ_LAST: &str =
    "Information when was the last time the job was successfully scheduled.";
pub(crate) const D_SVC_TYPE: &str = "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types";
pub(crate) const D_SVC_CLUSTER_IP: &str = "clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
pub(crate) const D_SVC_EXTERNAL_IPS: &str = "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.";
pub(crate) const D_SVC_PORTS: &str = "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
pub(crate) const D_SVC_SELECTOR: &str = "Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/";
pub(crate) const D_EP_SUBSETS: &str = "The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share. A single address with multiple ports, some of which are ready and some of which are not (because they come from different containers) will result in the address being displayed in different subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service.";
pub(crate) const D_NODE_KUBELET: &str = "Kubelet Version reported by the node.";
pub(crate) const D_NODE_ADDRESSES: &str = "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";
pub(crate) const D_NODE_OS: &str =
    "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).";
pub(crate) const D_NODE_KERNEL: &str =
    "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).";
pub(crate) const D_NODE_CRI: &str = "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).";
pub(crate) const D_EV_LAST: &str =
    "The time at which the most recent occurrence of this event was recorded.";
pub(crate) const D_EV_TYPE: &str =
    "Type of this event (Normal, Warning), new types could be added in the future";
pub(crate) const D_EV_REASON: &str = "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.";
pub(crate) const D_EV_OBJECT: &str = "The object that this event is about.";
pub(crate) const D_EV_FIELDPATH: &str = "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers\\[2\\]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers\\[2\\]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.";
pub(crate) const D_EV_SOURCE: &str =
    "The component reporting this event. Should be a short machine understandable string.";
pub(crate) const D_EV_MESSAGE: &str =
    "A human-readable description of the status of this operation.";
pub(crate) const D_EV_FIRST: &str =
    "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)";
pub(crate) const D_EV_COUNT: &str = "The number of times this event has occurred.";
pub(crate) const D_SECRET_TYPE: &str = "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types";
pub(crate) const D_SECRET_DATA: &str = "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4";
pub(crate) const D_PVC_PHASE: &str = "phase represents the current phase of PersistentVolumeClaim.";
pub(crate) const D_PVC_VOLUME: &str =
    "volumeName is the binding reference to the PersistentVolume backing this claim.";
pub(crate) const D_PVC_CAPACITY: &str =
    "capacity represents the actual resources of the underlying volume.";
pub(crate) const D_PVC_MODES: &str = "accessModes contains the actual access modes the volume backing the PVC has. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1";
pub(crate) const D_PVC_VOLUME_MODE: &str = "volumeMode defines what type of volume is required by the claim. Value of Filesystem is implied when not included in claim spec.";
pub(crate) const D_PV_CAPACITY: &str = "capacity is the description of the persistent volume's resources and capacity. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity";
pub(crate) const D_PV_MODES: &str = "accessModes contains all ways the volume can be mounted. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes";
pub(crate) const D_PV_RECLAIM: &str = "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim. Valid options are Retain (default for manually created PersistentVolumes), Delete (default for dynamically provisioned PersistentVolumes), and Recycle (deprecated). Recycle must be supported by the volume plugin underlying this PersistentVolume. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming";
pub(crate) const D_PV_PHASE: &str = "phase indicates if a volume is available, bound to a claim, or released by a claim. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase";
pub(crate) const D_PV_CLAIM: &str = "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim. Expected to be non-nil when bound. claim.VolumeName is the authoritative bind between PV and PVC. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding";
pub(crate) const D_PV_REASON: &str = "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.";
pub(crate) const D_PV_VOLUME_MODE: &str = "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state. Value of Filesystem is implied when not included in spec.";
pub(crate) const D_DEPLOY_UPDATED: &str = "Total number of non-terminating pods targeted by this deployment that have the desired template spec.";
pub(crate) const D_DEPLOY_AVAILABLE: &str = "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.";
pub(crate) const D_DEPLOY_SELECTOR: &str = "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels.";
pub(crate) const D_HPA_REF: &str = "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count.";
pub(crate) const D_HPA_METRICS: &str = "metrics contains the specifications for which to use to calculate the desired replica count (the maximum replica count across all metrics will be used).  The desired replica count is calculated multiplying the ratio between the target value and the current value by the current number of pods.  Ergo, metrics used must decrease as the pod count is increased, and vice-versa.  See the individual metric source types for more information about how each type of metric must respond. If not set, the default metric will be set to 80% average CPU utilization.";
pub(crate) const D_HPA_MIN: &str = "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.  It defaults to 1 pod.  minReplicas is allowed to be 0 if the alpha feature gate HPAScaleToZero is enabled and at least one Object or External metric is configured.  Scaling is active as long as at least one metric value is available.";
pub(crate) const D_HPA_MAX: &str = "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up. It cannot be less that minReplicas.";
pub(crate) const D_HPA_CURRENT: &str = "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.";
pub(crate) const D_CM_DATA: &str = "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.";
pub(crate) const D_NP_SELECTOR: &str = "podSelector selects the pods to which this NetworkPolicy object applies. The array of ingress rules is applied to any pods selected by this field. Multiple network policies can select the same set of pods. In this case, the ingress rules for each are combined additively. This field is NOT optional and follows standard label selector semantics. An empty podSelector matches all pods in this namespace.";
pub(crate) const D_RB_ROLE: &str = "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.";
pub(crate) const D_CRB_ROLE: &str = "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.";
pub(crate) const D_LEASE_HOLDER: &str = "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.";
pub(crate) const D_CR_REVISION: &str =
    "Revision indicates the revision of the state represented by Data.";
pub(crate) const D_ES_ADDRESS_TYPE: &str = "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name. (Deprecated) The EndpointSlice controller only generates, and kube-proxy only processes, slices of addressType \"IPv4\" and \"IPv6\". No semantics are defined for the \"FQDN\" type.";
pub(crate) const D_ES_PORTS: &str = "ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. Each slice may include a maximum of 100 ports. Services always have at least 1 port, so EndpointSlices generated by the EndpointSlice controller will likewise always have at least 1 port. EndpointSlices used for other purposes may have an empty ports list.";
pub(crate) const D_ES_ENDPOINTS: &str = "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.";

#[cfg(test)]
mod tests {
    use super::*;

    /// The printer of `kind`'s strategy; a kind no row serves gets [`DEFAULT`] (a custom
    /// resource's).
    fn printer(kind: &str) -> &'static Printer {
        crate::resources::strategy_by_kind(kind).map_or(&DEFAULT, |s| s.printer())
    }

    fn table(
        kind: &str,
        objects: &[Value],
        include: IncludeObject,
        now: DateTime<Utc>,
        list_meta: Value,
    ) -> Value {
        super::table(printer(kind), objects, include, now, list_meta)
    }

    fn column_definitions(kind: &str) -> Value {
        super::column_definitions(printer(kind))
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A timestamp `secs` seconds before [`now`].
    fn ago(secs: i64) -> String {
        (now() - Duration::seconds(secs)).to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    fn meta(name: &str, age_secs: i64) -> Value {
        json!({"name": name, "namespace": "default", "uid": "u-1", "resourceVersion": "7", "creationTimestamp": ago(age_secs)})
    }

    /// The cells of one object's row.
    fn cells(kind: &str, obj: Value) -> Vec<Value> {
        let t = table(kind, &[obj], IncludeObject::None, now(), Value::Null);
        t["rows"][0]["cells"].as_array().unwrap().clone()
    }

    /// The column names, upper-cased as kubectl prints them, with `*` marking wide-only ones.
    fn headers(kind: &str) -> Vec<String> {
        column_definitions(kind)
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let name = c["name"].as_str().unwrap().to_uppercase();
                if c["priority"] == 1 {
                    format!("*{name}")
                } else {
                    name
                }
            })
            .collect()
    }

    fn strs(cells: &[&str]) -> Vec<Value> {
        cells.iter().map(|c| json!(c)).collect()
    }

    #[test]
    fn human_duration_matches_kubernetes() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (200, "3m20s"),
            (599, "9m59s"),
            (600, "10m"),
            (900, "15m"),
            (3 * 3600 - 1, "179m"),
            (3 * 3600, "3h"),
            (2 * 3600 + 10 * 60, "130m"),
            (5 * 3600 + 10 * 60, "5h10m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (3 * 86400 + 4 * 3600, "3d4h"),
            (8 * 86400, "8d"),
            (400 * 86400, "400d"),
            (2 * 365 * 86400, "2y"),
            (2 * 365 * 86400 + 15 * 86400, "2y15d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(Duration::seconds(secs)), want, "{secs}s");
        }
        assert_eq!(human_duration(Duration::milliseconds(-1500)), "0s");
    }

    #[test]
    fn table_envelope_and_include_object() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta("web", 30), "spec": {"containers": [{"name": "app", "image": "nginx"}]}, "status": {"phase": "Pending"}});
        let list_meta = json!({"resourceVersion": "123", "continue": "abc"});
        let t = table(
            "Pod",
            std::slice::from_ref(&pod),
            IncludeObject::Metadata,
            now(),
            list_meta.clone(),
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"], list_meta);
        let first = &t["columnDefinitions"][0];
        assert_eq!(first["name"], "Name");
        assert_eq!(first["type"], "string");
        assert_eq!(first["format"], "name");
        assert_eq!(first["priority"], 0);
        assert!(
            first["description"]
                .as_str()
                .unwrap()
                .starts_with("Name must be unique")
        );
        assert_eq!(
            t["rows"][0]["object"],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": pod["metadata"]})
        );
        let t = table(
            "Pod",
            std::slice::from_ref(&pod),
            IncludeObject::Object,
            now(),
            Value::Null,
        );
        assert_eq!(t["rows"][0]["object"], pod);
        assert_eq!(t["metadata"], json!({}));
        let t = table(
            "Pod",
            std::slice::from_ref(&pod),
            IncludeObject::None,
            now(),
            Value::Null,
        );
        assert_eq!(t["rows"][0]["object"], Value::Null);
        assert!(t["rows"][0].get("conditions").is_none());

        let mut t = table("Pod", &[pod], IncludeObject::Metadata, now(), Value::Null);
        set_table_version(&mut t, TABLE_API_VERSION_V1BETA1);
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1beta1");
        assert_eq!(t["rows"][0]["object"]["apiVersion"], "meta.k8s.io/v1beta1");

        let empty = table("Pod", &[], IncludeObject::Metadata, now(), Value::Null);
        assert_eq!(empty["rows"], json!([]));
        assert_eq!(empty["columnDefinitions"].as_array().unwrap().len(), 9);

        assert_eq!(IncludeObject::parse(""), Some(IncludeObject::Metadata));
        assert_eq!(IncludeObject::parse("Object"), Some(IncludeObject::Object));
        assert_eq!(IncludeObject::parse("None"), Some(IncludeObject::None));
        assert_eq!(IncludeObject::parse("bogus"), None);
        assert_eq!(IncludeObject::default(), IncludeObject::Metadata);
    }

    fn running_pod() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": meta("web-7d4b9c-x2x9q", 3 * 86400 + 4 * 3600),
            "spec": {
                "nodeName": "virtual-node-1",
                "containers": [{"name": "app", "image": "nginx:1.27"}, {"name": "sidecar", "image": "envoy"}],
            },
            "status": {
                "phase": "Running",
                "podIP": "10.1.2.3",
                "podIPs": [{"ip": "10.1.2.3"}],
                "conditions": [
                    {"type": "Initialized", "status": "True"},
                    {"type": "Ready", "status": "False"},
                    {"type": "PodScheduled", "status": "True"},
                ],
                "containerStatuses": [
                    {"name": "app", "ready": true, "restartCount": 0, "state": {"running": {"startedAt": ago(3000)}}},
                    {"name": "sidecar", "ready": false, "restartCount": 5,
                     "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                     "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(300)}}},
                ],
            },
        })
    }

    #[test]
    fn pod_columns_and_crashloop() {
        assert_eq!(
            headers("Pod"),
            [
                "NAME",
                "READY",
                "STATUS",
                "RESTARTS",
                "AGE",
                "*IP",
                "*NODE",
                "*NOMINATED NODE",
                "*READINESS GATES"
            ]
        );
        assert_eq!(
            cells("Pod", running_pod()),
            strs(&[
                "web-7d4b9c-x2x9q",
                "1/2",
                "CrashLoopBackOff",
                "5 (5m ago)",
                "3d4h",
                "10.1.2.3",
                "virtual-node-1",
                "<none>",
                "<none>"
            ])
        );
    }

    #[test]
    fn pod_running_pending_and_terminating() {
        let mut pod = running_pod();
        pod["status"]["containerStatuses"][1] =
            json!({"name": "sidecar", "ready": true, "restartCount": 0, "state": {"running": {}}});
        pod["status"]["conditions"][1]["status"] = json!("True");
        let c = cells("Pod", pod.clone());
        assert_eq!(c[1], "2/2");
        assert_eq!(c[2], "Running");
        assert_eq!(c[3], "0");

        pod["metadata"]["deletionTimestamp"] = json!(ago(1));
        assert_eq!(cells("Pod", pod.clone())[2], "Terminating");

        let pending = json!({
            "metadata": meta("new", 4),
            "spec": {"containers": [{"name": "app", "image": "nginx"}], "readinessGates": [{"conditionType": "example.com/lb"}]},
            "status": {"phase": "Pending", "conditions": [{"type": "example.com/lb", "status": "True"}],
                       "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]},
        });
        assert_eq!(
            cells("Pod", pending),
            strs(&[
                "new",
                "0/1",
                "ContainerCreating",
                "0",
                "4s",
                "<none>",
                "<none>",
                "<none>",
                "1/1"
            ])
        );

        let unscheduled = json!({"metadata": meta("p", 10), "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending", "podIP": "10.9.9.9"}});
        let c = cells("Pod", unscheduled);
        assert_eq!(c[2], "Pending");
        assert_eq!(c[5], "10.9.9.9");

        let gated = json!({"metadata": meta("g", 10), "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}});
        assert_eq!(cells("Pod", gated)[2], "SchedulingGated");

        let evicted = json!({"metadata": meta("e", 10), "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "reason": "Evicted", "message": "low on memory"}});
        assert_eq!(cells("Pod", evicted)[2], "Evicted");

        let no_created =
            json!({"metadata": {"name": "x"}, "spec": {"containers": []}, "status": {}});
        assert_eq!(cells("Pod", no_created)[4], "<unknown>");
    }

    #[test]
    fn pod_completed_and_failed_rows_carry_conditions() {
        let done = json!({
            "metadata": meta("job-abc", 600),
            "spec": {"containers": [{"name": "main", "image": "busybox"}]},
            "status": {"phase": "Succeeded", "containerStatuses": [
                {"name": "main", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]},
        });
        let t = table("Pod", &[done], IncludeObject::None, now(), Value::Null);
        assert_eq!(t["rows"][0]["cells"][2], "Completed");
        assert_eq!(t["rows"][0]["cells"][1], "0/1");
        assert_eq!(
            t["rows"][0]["conditions"],
            json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}])
        );
        let failed = json!({
            "metadata": meta("job-def", 600),
            "spec": {"containers": [{"name": "main"}]},
            "status": {"phase": "Failed", "containerStatuses": [
                {"name": "main", "restartCount": 0, "state": {"terminated": {"exitCode": 137}}}]},
        });
        let t = table("Pod", &[failed], IncludeObject::None, now(), Value::Null);
        assert_eq!(t["rows"][0]["cells"][2], "ExitCode:137");
        assert_eq!(t["rows"][0]["conditions"][0]["reason"], "Failed");
        let signalled = json!({"metadata": meta("s", 1), "spec": {"containers": [{"name": "m"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "m", "state": {"terminated": {"exitCode": 0, "signal": 9}}}]}});
        assert_eq!(cells("Pod", signalled)[2], "Signal:9");
        // One container completed, one still running and ready: the pod shows Running.
        let mixed = json!({"metadata": meta("m", 1), "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [
                {"name": "a", "ready": true, "state": {"running": {}}},
                {"name": "b", "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}});
        assert_eq!(cells("Pod", mixed)[2], "Running");
    }

    #[test]
    fn pod_init_containers() {
        let init = json!({
            "metadata": meta("db-0", 20),
            "spec": {"initContainers": [{"name": "migrate"}, {"name": "seed"}], "containers": [{"name": "db"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "migrate", "ready": false, "restartCount": 0, "state": {"running": {}}},
                {"name": "seed", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}],
                "containerStatuses": [{"name": "db", "ready": false, "state": {"waiting": {"reason": "PodInitializing"}}}]},
        });
        assert_eq!(cells("Pod", init)[2], "Init:0/2");
        let crash = json!({
            "metadata": meta("db-0", 20),
            "spec": {"initContainers": [{"name": "migrate"}], "containers": [{"name": "db"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "migrate", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(60)}}}]},
        });
        let c = cells("Pod", crash);
        assert_eq!(c[2], "Init:CrashLoopBackOff");
        assert_eq!(c[3], "3 (60s ago)");
        let failed_init = json!({
            "metadata": meta("db-0", 20),
            "spec": {"initContainers": [{"name": "migrate"}], "containers": [{"name": "db"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "migrate", "state": {"terminated": {"exitCode": 2}}}]},
        });
        assert_eq!(cells("Pod", failed_init)[2], "Init:ExitCode:2");
        // A sidecar (restartable init container) counts towards READY.
        let sidecar = json!({
            "metadata": meta("app", 20),
            "spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "app"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
                "initContainerStatuses": [{"name": "proxy", "ready": true, "started": true, "restartCount": 1, "state": {"running": {}}}],
                "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}}]},
        });
        let c = cells("Pod", sidecar);
        assert_eq!(c[1], "2/2");
        assert_eq!(c[2], "Running");
        assert_eq!(c[3], "1");
    }

    fn pod_template() -> Value {
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "app", "image": "nginx:1.27"}, {"name": "log", "image": "fluent-bit:3"}]}})
    }

    #[test]
    fn deployment() {
        assert_eq!(
            headers("Deployment"),
            [
                "NAME",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "AGE",
                "*CONTAINERS",
                "*IMAGES",
                "*SELECTOR"
            ]
        );
        let d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web", 900),
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "tier": "fe"}}, "template": pod_template()},
            "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
        });
        assert_eq!(
            cells("Deployment", d),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("15m"),
                json!("app,log"),
                json!("nginx:1.27,fluent-bit:3"),
                json!("app=web,tier=fe")
            ]
        );
        let fresh = json!({"metadata": meta("new", 3), "spec": {"replicas": 1, "selector": {}, "template": pod_template()}});
        let c = cells("Deployment", fresh);
        assert_eq!(c[1], "0/1");
        assert_eq!(c[2], 0);
        assert_eq!(c[7], "");
    }

    #[test]
    fn replication_controllers() {
        assert_eq!(
            headers("ReplicationController"),
            [
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "AGE",
                "*CONTAINERS",
                "*IMAGES",
                "*SELECTOR"
            ]
        );
        let rc = json!({"metadata": meta("web", 600),
            "spec": {"replicas": 3, "selector": {"tier": "fe", "app": "web"}, "template": pod_template()},
            "status": {"replicas": 2, "readyReplicas": 1}});
        assert_eq!(
            cells("ReplicationController", rc),
            vec![
                json!("web"),
                json!(3),
                json!(2),
                json!(1),
                json!("10m"),
                json!("app,log"),
                json!("nginx:1.27,fluent-bit:3"),
                json!("app=web,tier=fe")
            ]
        );
        let fresh =
            json!({"metadata": meta("new", 3), "spec": {"replicas": 1}, "status": {"replicas": 0}});
        let c = cells("ReplicationController", fresh);
        assert_eq!(c[1], 1);
        assert_eq!(c[2], 0);
        assert_eq!(c[3], 0);
        assert_eq!(c[5], "");
        assert_eq!(c[7], "<none>");
    }

    #[test]
    fn replica_set_stateful_set_daemon_set() {
        assert_eq!(
            headers("ReplicaSet"),
            [
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "AGE",
                "*CONTAINERS",
                "*IMAGES",
                "*SELECTOR"
            ]
        );
        let rs = json!({"metadata": meta("web-7d4b9c", 7200),
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "7d4b9c"}}, "template": pod_template()},
            "status": {"replicas": 3, "readyReplicas": 3}});
        assert_eq!(
            cells("ReplicaSet", rs),
            vec![
                json!("web-7d4b9c"),
                json!(3),
                json!(3),
                json!(3),
                json!("120m"),
                json!("app,log"),
                json!("nginx:1.27,fluent-bit:3"),
                json!("app=web,pod-template-hash=7d4b9c")
            ]
        );

        assert_eq!(
            headers("StatefulSet"),
            ["NAME", "READY", "AGE", "*CONTAINERS", "*IMAGES"]
        );
        let sts = json!({"metadata": meta("db", 86400 * 10), "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": pod_template()},
            "status": {"replicas": 3, "readyReplicas": 1}});
        assert_eq!(
            cells("StatefulSet", sts),
            strs(&["db", "1/3", "10d", "app,log", "nginx:1.27,fluent-bit:3"])
        );

        assert_eq!(
            headers("DaemonSet"),
            [
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "NODE SELECTOR",
                "AGE",
                "*CONTAINERS",
                "*IMAGES",
                "*SELECTOR"
            ]
        );
        let mut template = pod_template();
        template["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "linux"});
        let ds = json!({"metadata": meta("agent", 50),
            "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["b", "a"]}, {"key": "debug", "operator": "DoesNotExist"}]}, "template": template},
            "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1, "updatedNumberScheduled": 2, "numberAvailable": 1}});
        assert_eq!(
            cells("DaemonSet", ds),
            vec![
                json!("agent"),
                json!(2),
                json!(2),
                json!(1),
                json!(2),
                json!(1),
                json!("kubernetes.io/os=linux"),
                json!("50s"),
                json!("app,log"),
                json!("nginx:1.27,fluent-bit:3"),
                json!("app in (a,b),!debug")
            ]
        );
        let ds_no_selector =
            json!({"metadata": meta("x", 1), "spec": {"template": {"spec": {"containers": []}}}});
        let c = cells("DaemonSet", ds_no_selector);
        assert_eq!(c[6], "<none>");
        assert_eq!(c[10], "<none>");
    }

    #[test]
    fn services() {
        assert_eq!(
            headers("Service"),
            [
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
                "*SELECTOR"
            ]
        );
        let cluster_ip = json!({"metadata": meta("web", 86400 * 3),
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}, {"name": "dns", "port": 53, "protocol": "UDP"}]}});
        assert_eq!(
            cells("Service", cluster_ip),
            strs(&[
                "web",
                "ClusterIP",
                "10.96.0.10",
                "<none>",
                "80/TCP,53/UDP",
                "3d",
                "app=web"
            ])
        );
        let lb_pending = json!({"metadata": meta("lb", 30),
            "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.3.4"], "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]},
            "status": {"loadBalancer": {}}});
        assert_eq!(
            cells("Service", lb_pending),
            strs(&[
                "lb",
                "LoadBalancer",
                "10.96.3.4",
                "<pending>",
                "80:30080/TCP",
                "30s",
                "<none>"
            ])
        );
        let lb = json!({"metadata": meta("lb", 30),
            "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.3.4"], "externalIPs": ["1.2.3.4"], "ports": [{"port": 443, "nodePort": 30443, "protocol": "TCP"}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "lb.example.com"}]}}});
        assert_eq!(
            cells("Service", lb)[3],
            "203.0.113.9,lb.example.com,1.2.3.4"
        );
        let headless = json!({"metadata": meta("db", 30), "spec": {"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"], "selector": {"app": "db"}}});
        let c = cells("Service", headless);
        assert_eq!(c[2], "None");
        assert_eq!(c[4], "<none>");
        let external = json!({"metadata": meta("ext", 30), "spec": {"type": "ExternalName", "externalName": "db.example.com"}});
        let c = cells("Service", external);
        assert_eq!(c[2], "<none>");
        assert_eq!(c[3], "db.example.com");
    }

    #[test]
    fn jobs_and_cron_jobs() {
        assert_eq!(
            headers("Job"),
            [
                "NAME",
                "STATUS",
                "COMPLETIONS",
                "DURATION",
                "AGE",
                "*CONTAINERS",
                "*IMAGES",
                "*SELECTOR"
            ]
        );
        let template = json!({"spec": {"containers": [{"name": "pi", "image": "perl:5.34"}], "restartPolicy": "Never"}});
        let running = json!({"metadata": meta("pi", 125),
            "spec": {"completions": 1, "parallelism": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}}, "template": template},
            "status": {"startTime": ago(125), "active": 1}});
        assert_eq!(
            cells("Job", running),
            strs(&[
                "pi",
                "Running",
                "0/1",
                "2m5s",
                "2m5s",
                "pi",
                "perl:5.34",
                "batch.kubernetes.io/controller-uid=abc"
            ])
        );
        let complete = json!({"metadata": meta("pi", 3600),
            "spec": {"completions": 3, "template": template},
            "status": {"startTime": ago(3600), "completionTime": ago(3600 - 42), "succeeded": 3,
                       "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}});
        let c = cells("Job", complete);
        assert_eq!(c[1], "Complete");
        assert_eq!(c[2], "3/3");
        assert_eq!(c[3], "42s");
        assert_eq!(c[7], "<none>");
        let failed = json!({"metadata": meta("f", 60), "spec": {"template": template},
            "status": {"startTime": ago(60), "failed": 1, "conditions": [{"type": "Failed", "status": "True"}]}});
        assert_eq!(cells("Job", failed)[1], "Failed");
        let suspended = json!({"metadata": meta("s", 60), "spec": {"suspend": true, "parallelism": 4, "template": template},
            "status": {"conditions": [{"type": "Suspended", "status": "True"}]}});
        let c = cells("Job", suspended);
        assert_eq!(c[1], "Suspended");
        assert_eq!(c[2], "0/1 of 4");
        assert_eq!(c[3], "");

        assert_eq!(
            headers("CronJob"),
            [
                "NAME",
                "SCHEDULE",
                "TIMEZONE",
                "SUSPEND",
                "ACTIVE",
                "LAST SCHEDULE",
                "AGE",
                "*CONTAINERS",
                "*IMAGES",
                "*SELECTOR"
            ]
        );
        let cj = json!({"metadata": meta("backup", 86400 * 2),
            "spec": {"schedule": "*/5 * * * *", "suspend": false, "jobTemplate": {"spec": {"template": template}}},
            "status": {"active": [{"name": "backup-1"}], "lastScheduleTime": ago(90)}});
        assert_eq!(
            cells("CronJob", cj),
            vec![
                json!("backup"),
                json!("*/5 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("90s"),
                json!("2d"),
                json!("pi"),
                json!("perl:5.34"),
                json!("<none>")
            ]
        );
        let never = json!({"metadata": meta("n", 10), "spec": {"schedule": "@daily", "timeZone": "Etc/UTC", "jobTemplate": {"spec": {"template": template}}}});
        let c = cells("CronJob", never);
        assert_eq!(c[2], "Etc/UTC");
        assert_eq!(c[3], "<unset>");
        assert_eq!(c[4], 0);
        assert_eq!(c[5], "<none>");
    }

    #[test]
    fn horizontal_pod_autoscaler() {
        assert_eq!(
            headers("HorizontalPodAutoscaler"),
            [
                "NAME",
                "REFERENCE",
                "TARGETS",
                "MINPODS",
                "MAXPODS",
                "REPLICAS",
                "AGE"
            ]
        );
        let hpa = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta("web", 600),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 10,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]},
            "status": {"currentReplicas": 1, "desiredReplicas": 1}});
        assert_eq!(
            cells("HorizontalPodAutoscaler", hpa.clone()),
            vec![
                json!("web"),
                json!("Deployment/web"),
                json!("cpu: <unknown>/50%"),
                json!("1"),
                json!(10),
                json!(1),
                json!("10m")
            ]
        );
        let mut measured = hpa.clone();
        measured["spec"]["metrics"] = json!([
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "512Mi"}}},
            {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "100"}}},
        ]);
        measured["status"]["currentMetrics"] = json!([
            {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 23, "averageValue": "46m"}}},
            {"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "200Mi"}}},
        ]);
        assert_eq!(
            cells("HorizontalPodAutoscaler", measured)[2],
            "cpu: 23%/50%, memory: 200Mi/512Mi + 1 more..."
        );
        let external = json!({"metadata": meta("q", 1), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "worker"}, "maxReplicas": 5, "metrics": [
            {"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "AverageValue", "averageValue": "30"}}},
            {"type": "Object", "object": {"describedObject": {"kind": "Ingress", "name": "main"}, "metric": {"name": "hits"}, "target": {"type": "Value", "value": "2k"}}}]},
            "status": {"currentMetrics": [
                {"type": "External", "external": {"metric": {"name": "queue"}, "current": {"averageValue": "12"}}},
                {"type": "Object", "object": {"metric": {"name": "hits"}, "current": {"value": "1500"}}}]}});
        let c = cells("HorizontalPodAutoscaler", external);
        assert_eq!(c[2], "12/30 (avg), 1500/2k");
        assert_eq!(c[3], "<unset>");
        assert_eq!(c[5], 0);
        // An autoscaling/v1 object prints like its v2 form.
        let v1 = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": meta("old", 60),
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "old"}, "minReplicas": 2, "maxReplicas": 4, "targetCPUUtilizationPercentage": 70},
            "status": {"currentReplicas": 2, "currentCPUUtilizationPercentage": 35}});
        assert_eq!(
            cells("HorizontalPodAutoscaler", v1),
            vec![
                json!("old"),
                json!("Deployment/old"),
                json!("cpu: 35%/70%"),
                json!("2"),
                json!(4),
                json!(2),
                json!("60s")
            ]
        );
        let none = json!({"metadata": meta("n", 1), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "n"}, "maxReplicas": 1, "metrics": []}});
        assert_eq!(cells("HorizontalPodAutoscaler", none)[2], "<none>");
    }

    #[test]
    fn ingress_ingress_class_network_policy() {
        assert_eq!(
            headers("Ingress"),
            ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
        );
        let ing = json!({"metadata": meta("web", 300),
            "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example.com"], "secretName": "tls"}],
                     "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}, {"http": {}}, {"host": "c.example.com"}, {"host": "d.example.com"}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}});
        assert_eq!(
            cells("Ingress", ing),
            strs(&[
                "web",
                "nginx",
                "a.example.com,b.example.com,c.example.com + 2 more...",
                "203.0.113.10",
                "80, 443",
                "5m"
            ])
        );
        let bare = json!({"metadata": meta("bare", 5), "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}});
        assert_eq!(
            cells("Ingress", bare),
            strs(&["bare", "<none>", "*", "", "80", "5s"])
        );

        assert_eq!(
            headers("IngressClass"),
            ["NAME", "CONTROLLER", "PARAMETERS", "AGE"]
        );
        let class = json!({"metadata": meta("nginx", 86400), "spec": {"controller": "k8s.io/ingress-nginx",
            "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}});
        assert_eq!(
            cells("IngressClass", class),
            strs(&[
                "nginx",
                "k8s.io/ingress-nginx",
                "IngressParameters.k8s.example.com/external-lb",
                "24h"
            ])
        );
        let plain =
            json!({"metadata": meta("kumo", 10), "spec": {"controller": "kumo.dev/ingress"}});
        assert_eq!(cells("IngressClass", plain)[2], "<none>");

        assert_eq!(headers("NetworkPolicy"), ["NAME", "POD-SELECTOR", "AGE"]);
        let np = json!({"metadata": meta("deny", 10), "spec": {"podSelector": {"matchLabels": {"role": "db"}}, "policyTypes": ["Ingress"]}});
        assert_eq!(
            cells("NetworkPolicy", np),
            strs(&["deny", "role=db", "10s"])
        );
        let all = json!({"metadata": meta("all", 10), "spec": {"podSelector": {}}});
        assert_eq!(cells("NetworkPolicy", all)[1], "<none>");
    }

    #[test]
    fn config_and_identity_objects() {
        assert_eq!(headers("ConfigMap"), ["NAME", "DATA", "AGE"]);
        let cm = json!({"metadata": meta("kube-root-ca.crt", 86400 * 30), "data": {"ca.crt": "..."}, "binaryData": {"logo": "AAA="}});
        assert_eq!(
            cells("ConfigMap", cm),
            vec![json!("kube-root-ca.crt"), json!(2), json!("30d")]
        );

        assert_eq!(headers("Secret"), ["NAME", "TYPE", "DATA", "AGE"]);
        let secret = json!({"metadata": meta("tls", 100), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
        assert_eq!(
            cells("Secret", secret),
            vec![
                json!("tls"),
                json!("kubernetes.io/tls"),
                json!(2),
                json!("100s")
            ]
        );

        assert_eq!(headers("ServiceAccount"), ["NAME", "AGE"]);
        let sa = json!({"metadata": meta("default", 86400), "secrets": [{"name": "x"}]});
        assert_eq!(cells("ServiceAccount", sa), strs(&["default", "24h"]));

        assert_eq!(headers("Namespace"), ["NAME", "STATUS", "AGE"]);
        let ns = json!({"metadata": {"name": "kube-system", "creationTimestamp": ago(86400 * 400)}, "status": {"phase": "Active"}});
        assert_eq!(
            cells("Namespace", ns),
            strs(&["kube-system", "Active", "400d"])
        );

        assert_eq!(headers("Lease"), ["NAME", "HOLDER", "AGE"]);
        let lease = json!({"metadata": meta("kube-controller-manager", 3600 * 5), "spec": {"holderIdentity": "node-1_abc", "leaseDurationSeconds": 15}});
        assert_eq!(
            cells("Lease", lease),
            strs(&["kube-controller-manager", "node-1_abc", "5h"])
        );
        let free = json!({"metadata": meta("free", 1), "spec": {}});
        assert_eq!(cells("Lease", free)[1], "");
    }

    #[test]
    fn nodes() {
        assert_eq!(
            headers("Node"),
            [
                "NAME",
                "STATUS",
                "ROLES",
                "AGE",
                "VERSION",
                "*INTERNAL-IP",
                "*EXTERNAL-IP",
                "*OS-IMAGE",
                "*KERNEL-VERSION",
                "*CONTAINER-RUNTIME"
            ]
        );
        let node = json!({"metadata": {"name": "virtual-node-1", "creationTimestamp": ago(86400 * 20),
                "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/agent": "", "kubernetes.io/role": "virtual"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}, {"type": "Hostname", "address": "vn1"}],
                "nodeInfo": {"kubeletVersion": "v1.33.0-kumo", "osImage": "Kumo Sandbox", "kernelVersion": "6.8.0", "containerRuntimeVersion": "kumo://1.0"}}});
        assert_eq!(
            cells("Node", node),
            strs(&[
                "virtual-node-1",
                "Ready,SchedulingDisabled",
                "agent,control-plane,virtual",
                "20d",
                "v1.33.0-kumo",
                "10.0.0.5",
                "<none>",
                "Kumo Sandbox",
                "6.8.0",
                "kumo://1.0"
            ])
        );
        let unknown = json!({"metadata": {"name": "n2", "creationTimestamp": ago(60)}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
        let c = cells("Node", unknown);
        assert_eq!(c[1], "NotReady");
        assert_eq!(c[2], "<none>");
        assert_eq!(c[7], "<unknown>");
        let bare = json!({"metadata": {"name": "n3"}});
        assert_eq!(cells("Node", bare)[1], "Unknown");
    }

    #[test]
    fn endpoints_and_slices() {
        assert_eq!(headers("Endpoints"), ["NAME", "ENDPOINTS", "AGE"]);
        let ep = json!({"metadata": meta("web", 60), "subsets": [
            {"addresses": [{"ip": "10.1.0.1"}, {"ip": "10.1.0.2"}], "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]});
        assert_eq!(
            cells("Endpoints", ep),
            strs(&["web", "10.1.0.1:8080,10.1.0.2:8080", "60s"])
        );
        let many = json!({"metadata": meta("big", 60), "subsets": [
            {"addresses": [{"ip": "10.1.0.1"}, {"ip": "10.1.0.2"}, {"ip": "fd00::3"}], "ports": [{"port": 80}, {"port": 443}]}]});
        assert_eq!(
            cells("Endpoints", many)[1],
            "10.1.0.1:80,10.1.0.2:80,[fd00::3]:80 + 3 more..."
        );
        let headless =
            json!({"metadata": meta("h", 1), "subsets": [{"addresses": [{"ip": "10.1.0.9"}]}]});
        assert_eq!(cells("Endpoints", headless)[1], "10.1.0.9");
        let empty = json!({"metadata": meta("none", 1)});
        assert_eq!(cells("Endpoints", empty)[1], "<none>");

        assert_eq!(
            headers("EndpointSlice"),
            ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
        );
        let slice = json!({"metadata": meta("web-abc12", 60), "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "named"}, {}],
            "endpoints": [{"addresses": ["10.1.0.1"]}, {"addresses": ["10.1.0.2"]}, {"addresses": ["10.1.0.3"]}, {"addresses": ["10.1.0.4"]}]});
        assert_eq!(
            cells("EndpointSlice", slice),
            strs(&[
                "web-abc12",
                "IPv4",
                "8080,named,*",
                "10.1.0.1,10.1.0.2,10.1.0.3 + 1 more...",
                "60s"
            ])
        );
        let empty =
            json!({"metadata": meta("e", 1), "addressType": "IPv6", "ports": [], "endpoints": []});
        assert_eq!(
            cells("EndpointSlice", empty),
            strs(&["e", "IPv6", "<unset>", "<unset>", "1s"])
        );
    }

    #[test]
    fn events() {
        assert_eq!(
            headers("Event"),
            [
                "LAST SEEN",
                "TYPE",
                "REASON",
                "OBJECT",
                "*SUBOBJECT",
                "*SOURCE",
                "MESSAGE",
                "*FIRST SEEN",
                "*COUNT",
                "*NAME"
            ]
        );
        let ev = json!({"metadata": meta("web.17a2b", 600),
            "involvedObject": {"kind": "Pod", "name": "web-7d4b9c-x2x9q", "namespace": "default", "fieldPath": "spec.containers{app}"},
            "reason": "BackOff", "message": "Back-off restarting failed container\n", "type": "Warning",
            "source": {"component": "kubelet", "host": "virtual-node-1"},
            "firstTimestamp": ago(600), "lastTimestamp": ago(30), "count": 12});
        assert_eq!(
            cells("Event", ev),
            vec![
                json!("30s"),
                json!("Warning"),
                json!("BackOff"),
                json!("pod/web-7d4b9c-x2x9q"),
                json!("spec.containers{app}"),
                json!("kubelet, virtual-node-1"),
                json!("Back-off restarting failed container"),
                json!("10m"),
                json!(12),
                json!("web.17a2b")
            ]
        );
        // events.k8s.io-style event: eventTime, series, reporting controller.
        let new_style = json!({"metadata": meta("x.1", 100), "involvedObject": {"kind": "Deployment", "name": "web"},
            "reason": "ScalingReplicaSet", "message": "Scaled up", "type": "Normal", "eventTime": "2025-06-01T11:58:20.123456Z",
            "reportingComponent": "deployment-controller", "series": {"count": 3, "lastObservedTime": "2025-06-01T11:59:50.000000Z"}});
        let c = cells("Event", new_style);
        assert_eq!(c[0], "10s");
        assert_eq!(c[5], "deployment-controller");
        assert_eq!(c[7], "99s"); // 99.88s truncates, as in Go
        assert_eq!(c[8], 3);
        let singleton = json!({"metadata": meta("s", 5), "involvedObject": {"kind": "Node"}, "type": "Normal", "reason": "Starting"});
        let c = cells("Event", singleton);
        assert_eq!(c[0], "<unknown>");
        assert_eq!(c[3], "node");
        assert_eq!(c[8], 1);
    }

    #[test]
    fn persistent_volume_claims() {
        assert_eq!(
            headers("PersistentVolumeClaim"),
            [
                "NAME",
                "STATUS",
                "VOLUME",
                "CAPACITY",
                "ACCESS MODES",
                "STORAGECLASS",
                "VOLUMEATTRIBUTESCLASS",
                "AGE",
                "*VOLUMEMODE"
            ]
        );
        let bound = json!({"metadata": meta("data-db-0", 7200),
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}, "storageClassName": "standard", "volumeName": "pvc-123", "volumeMode": "Filesystem"},
            "status": {"phase": "Bound", "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "capacity": {"storage": "10Gi"}}});
        assert_eq!(
            cells("PersistentVolumeClaim", bound),
            strs(&[
                "data-db-0",
                "Bound",
                "pvc-123",
                "10Gi",
                "RWO,RWX",
                "standard",
                "<unset>",
                "120m",
                "Filesystem"
            ])
        );
        let pending = json!({"metadata": {"name": "p", "creationTimestamp": ago(5), "annotations": {"volume.beta.kubernetes.io/storage-class": "legacy"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "ignored"}, "status": {"phase": "Pending"}});
        assert_eq!(
            cells("PersistentVolumeClaim", pending),
            strs(&[
                "p", "Pending", "", "", "", "legacy", "<unset>", "5s", "<unset>"
            ])
        );
    }

    #[test]
    fn persistent_volumes() {
        assert_eq!(
            headers("PersistentVolume"),
            [
                "NAME",
                "CAPACITY",
                "ACCESS MODES",
                "RECLAIM POLICY",
                "STATUS",
                "CLAIM",
                "STORAGECLASS",
                "VOLUMEATTRIBUTESCLASS",
                "REASON",
                "AGE",
                "*VOLUMEMODE"
            ]
        );
        let bound = json!({"metadata": {"name": "pv-1", "creationTimestamp": ago(7200)},
            "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "standard",
                "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "shop", "name": "data"},
                "volumeMode": "Filesystem", "hostPath": {"path": "/data", "type": ""}},
            "status": {"phase": "Bound"}});
        assert_eq!(
            cells("PersistentVolume", bound),
            strs(&[
                "pv-1",
                "10Gi",
                "RWO,RWX",
                "Retain",
                "Bound",
                "shop/data",
                "standard",
                "<unset>",
                "",
                "120m",
                "Filesystem"
            ])
        );
        let failed = json!({"metadata": {"name": "old", "creationTimestamp": ago(5),
                "deletionTimestamp": ago(1),
                "annotations": {"volume.beta.kubernetes.io/storage-class": "legacy"}},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOncePod"],
                "persistentVolumeReclaimPolicy": "Recycle", "storageClassName": "ignored",
                "volumeAttributesClassName": "gold"},
            "status": {"phase": "Failed", "reason": "RecyclerFailed"}});
        assert_eq!(
            cells("PersistentVolume", failed),
            strs(&[
                "old",
                "1Gi",
                "RWOP",
                "Recycle",
                "Terminating",
                "",
                "legacy",
                "gold",
                "RecyclerFailed",
                "5s",
                "<unset>"
            ])
        );
        // An empty capacity prints as Kubernetes prints a zero quantity.
        assert_eq!(cells("PersistentVolume", json!({}))[1], "0");
    }

    #[test]
    fn resource_quota_limit_range_pdb() {
        assert_eq!(
            headers("ResourceQuota"),
            ["NAME", "REQUEST", "LIMIT", "AGE"]
        );
        let quota = json!({"metadata": meta("compute", 60),
            "status": {"hard": {"requests.cpu": "4", "pods": "10", "limits.memory": "8Gi", "limits.cpu": "8", "requests.memory": "4Gi"},
                       "used": {"requests.cpu": "500m", "pods": "3", "limits.cpu": "1", "requests.memory": "1Gi"}}});
        assert_eq!(
            cells("ResourceQuota", quota),
            strs(&[
                "compute",
                "pods: 3/10, requests.cpu: 500m/4, requests.memory: 1Gi/4Gi",
                "limits.cpu: 1/8, limits.memory: 0/8Gi",
                "60s"
            ])
        );

        assert_eq!(headers("LimitRange"), ["NAME", "CREATED AT"]);
        let lr = json!({"metadata": {"name": "defaults", "creationTimestamp": "2025-05-01T08:30:00+02:00"}, "spec": {"limits": []}});
        let t = table("LimitRange", &[lr], IncludeObject::None, now(), Value::Null);
        assert_eq!(t["columnDefinitions"][1]["type"], "date");
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["defaults", "2025-05-01T06:30:00Z"])
        );

        assert_eq!(
            headers("PodDisruptionBudget"),
            [
                "NAME",
                "MIN AVAILABLE",
                "MAX UNAVAILABLE",
                "ALLOWED DISRUPTIONS",
                "AGE"
            ]
        );
        let pdb = json!({"metadata": meta("web", 60), "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3}});
        assert_eq!(
            cells("PodDisruptionBudget", pdb),
            vec![
                json!("web"),
                json!("2"),
                json!("N/A"),
                json!(1),
                json!("60s")
            ]
        );
        let pct = json!({"metadata": meta("pct", 60), "spec": {"maxUnavailable": "25%"}});
        let c = cells("PodDisruptionBudget", pct);
        assert_eq!(c[1], "N/A");
        assert_eq!(c[2], "25%");
        assert_eq!(c[3], 0);
    }

    #[test]
    fn rbac() {
        for kind in ["Role", "ClusterRole"] {
            assert_eq!(headers(kind), ["NAME", "CREATED AT"]);
        }
        let role = json!({"metadata": meta("pod-reader", 60), "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]});
        assert_eq!(
            cells("Role", role),
            strs(&["pod-reader", "2025-06-01T11:59:00Z"])
        );
        assert_eq!(
            cells("ClusterRole", json!({"metadata": {"name": "x"}}))[1],
            "0001-01-01T00:00:00Z"
        );

        assert_eq!(
            headers("RoleBinding"),
            [
                "NAME",
                "ROLE",
                "AGE",
                "*USERS",
                "*GROUPS",
                "*SERVICEACCOUNTS"
            ]
        );
        let rb = json!({"metadata": meta("read-pods", 60), "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
            "subjects": [{"kind": "User", "name": "jane"}, {"kind": "User", "name": "joe"}, {"kind": "Group", "name": "devs"},
                         {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"}]});
        assert_eq!(
            cells("RoleBinding", rb),
            strs(&[
                "read-pods",
                "Role/pod-reader",
                "60s",
                "jane, joe",
                "devs",
                "tools/ci"
            ])
        );
        assert_eq!(
            headers("ClusterRoleBinding"),
            [
                "NAME",
                "ROLE",
                "AGE",
                "*USERS",
                "*GROUPS",
                "*SERVICEACCOUNTS"
            ]
        );
        let crb = json!({"metadata": {"name": "cluster-admin", "creationTimestamp": ago(86400)}, "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "Group", "name": "system:masters"}]});
        assert_eq!(
            cells("ClusterRoleBinding", crb),
            strs(&[
                "cluster-admin",
                "ClusterRole/cluster-admin",
                "24h",
                "",
                "system:masters",
                ""
            ])
        );
    }

    #[test]
    fn controller_revisions() {
        assert_eq!(
            headers("ControllerRevision"),
            ["NAME", "CONTROLLER", "REVISION", "AGE"]
        );
        let cr = json!({"metadata": {"name": "db-5f6d8", "creationTimestamp": ago(60),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": "u", "controller": true}]},
            "revision": 2, "data": {}});
        assert_eq!(
            cells("ControllerRevision", cr),
            vec![
                json!("db-5f6d8"),
                json!("statefulset.apps/db"),
                json!(2),
                json!("60s")
            ]
        );
        let orphan = json!({"metadata": {"name": "o", "creationTimestamp": ago(1)}, "revision": 1});
        assert_eq!(cells("ControllerRevision", orphan)[1], "<none>");
    }

    #[test]
    fn other_kinds_get_name_and_age() {
        assert_eq!(headers("Widget"), ["NAME", "AGE"]);
        let defs = column_definitions("Widget");
        assert_eq!(defs[1]["type"], "date");
        let w =
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": meta("w", 9000)});
        assert_eq!(cells("Widget", w), strs(&["w", "150m"]));
    }

    #[test]
    fn every_row_matches_its_columns() {
        let kinds = [
            "Pod",
            "Deployment",
            "ReplicaSet",
            "ReplicationController",
            "StatefulSet",
            "DaemonSet",
            "Service",
            "Job",
            "CronJob",
            "HorizontalPodAutoscaler",
            "Ingress",
            "IngressClass",
            "NetworkPolicy",
            "ConfigMap",
            "Secret",
            "ServiceAccount",
            "Namespace",
            "Node",
            "Endpoints",
            "EndpointSlice",
            "Event",
            "PersistentVolumeClaim",
            "PersistentVolume",
            "ResourceQuota",
            "LimitRange",
            "Lease",
            "PodDisruptionBudget",
            "Role",
            "ClusterRole",
            "RoleBinding",
            "ClusterRoleBinding",
            "ControllerRevision",
            "Widget",
        ];
        for kind in kinds {
            // Even an empty object renders, with one cell per column.
            let t = table(
                kind,
                &[json!({})],
                IncludeObject::Metadata,
                now(),
                Value::Null,
            );
            assert_eq!(
                t["rows"][0]["cells"].as_array().unwrap().len(),
                t["columnDefinitions"].as_array().unwrap().len(),
                "{kind}"
            );
            for def in t["columnDefinitions"].as_array().unwrap() {
                for key in ["name", "type", "format", "description", "priority"] {
                    assert!(def.get(key).is_some(), "{kind} {key}");
                }
                assert!(!def["description"].as_str().unwrap().is_empty(), "{kind}");
            }
        }
        for r in crate::resources::RESOURCES {
            assert!(!column_definitions(r.kind).as_array().unwrap().is_empty());
        }
    }
}
