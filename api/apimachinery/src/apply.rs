//! Server-side apply and `metadata.managedFields`: field sets in the `FieldsV1` encoding, the
//! apply merge with field ownership and conflicts, and ownership tracking for ordinary writes,
//! following the semantics of sigs.k8s.io/structured-merge-diff.
//!
//! A field set is a set of paths. A path is a list of [`PathElement`]s: `f:<name>` for an
//! object field, `k:{..}` for an item of a map-list (by its key fields), `v:<json>` for an item
//! of a set-list and `i:<n>` for an item by position (read, never produced). Leaves are
//! scalars, nulls, empty objects and atomic lists; map-list and set-list items are members of
//! a set themselves (the `.` entry of the `FieldsV1` encoding).
//!
//! Field sets never include `apiVersion`, `kind` or the metadata the server owns (name,
//! namespace, uid, resourceVersion, …). Writes to the main resource own everything but
//! `status`; writes to the `status` subresource own only `status`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use serde_json::{Map, Value, json};

use crate::merge_keys::{ListType, list_type};

/// The manager Kubernetes invents on the first apply to an object that has no managedFields:
/// it owns every field that was set before.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// The `operation` of a managedFields entry written by server-side apply.
pub const OPERATION_APPLY: &str = "Apply";
/// The `operation` of a managedFields entry written by create, update and patch.
pub const OPERATION_UPDATE: &str = "Update";

/// Metadata fields the server owns; they are never part of a field set.
const SERVER_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "clusterName",
];

/// Metadata fields an apply never changes: the live object's values are kept.
const PRESERVED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Why an apply failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// Fields the configuration changes are owned by other managers (HTTP 409; see
    /// [`conflict_status`]).
    #[error("{}", conflict_message(.0))]
    Conflict(Vec<Conflict>),
    /// The request is malformed (HTTP 400), e.g. an apply configuration carrying managedFields.
    #[error("{0}")]
    Invalid(String),
}

/// One field of an apply configuration that another manager owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager's name, e.g. `kube-controller-manager`.
    pub manager: String,
    /// Its operation, `Apply` or `Update`.
    pub operation: String,
    /// The API version of its managedFields entry, e.g. `apps/v1`.
    pub api_version: String,
    /// Its subresource (e.g. `scale`), if any.
    pub subresource: Option<String>,
    /// The field, as Kubernetes prints it: `.spec.replicas`,
    /// `.spec.template.spec.containers[name="app"].image`.
    pub field: String,
}

impl Conflict {
    /// The manager as Kubernetes names it in conflict messages: `"mgr"` for an applier,
    /// `"mgr" using apps/v1` for an updater, with ` with subresource "scale"` when set.
    pub fn manager_description(&self) -> String {
        let mut out = quote(&self.manager);
        if let Some(sub) = self.subresource.as_deref().filter(|s| !s.is_empty()) {
            out.push_str(&format!(" with subresource {}", quote(sub)));
        }
        if self.operation == OPERATION_UPDATE {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }

    fn identity(&self) -> (&str, &str, &str, &str) {
        (
            &self.manager,
            &self.operation,
            &self.api_version,
            self.subresource.as_deref().unwrap_or(""),
        )
    }
}

/// Go's `%q` for ordinary strings.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// The message of a conflict error, exactly as Kubernetes writes it:
/// `Apply failed with 1 conflict: conflict with "mgr" using apps/v1: .spec.replicas`, or for
/// several `Apply failed with 2 conflicts: conflicts with "mgr" using apps/v1:\n- .a\n- .b`
/// (grouped by manager, managers sorted).
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager_description(),
            only.field
        );
    }
    let mut groups: BTreeMap<(&str, &str, &str, &str), Vec<&Conflict>> = BTreeMap::new();
    for c in conflicts {
        groups.entry(c.identity()).or_default().push(c);
    }
    let mut lines = Vec::new();
    for group in groups.values() {
        lines.push(format!(
            "conflicts with {}:",
            group[0].manager_description()
        ));
        for c in group {
            lines.push(format!("- {}", c.field));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// The `details.causes` of a conflict error: one
/// `{"type":"FieldManagerConflict","message":"conflict with \"mgr\" using apps/v1","field":".spec.replicas"}`
/// per conflict.
pub fn conflict_causes(conflicts: &[Conflict]) -> Vec<Value> {
    conflicts
        .iter()
        .map(|c| {
            json!({
                "type": "FieldManagerConflict",
                "message": format!("conflict with {}", c.manager_description()),
                "field": c.field,
            })
        })
        .collect()
}

/// The whole `Status` object (HTTP 409, reason `Conflict`) Kubernetes returns for conflicts.
pub fn conflict_status(conflicts: &[Conflict]) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": conflict_message(conflicts),
        "reason": "Conflict",
        "details": { "causes": conflict_causes(conflicts) },
        "code": 409,
    })
}

// ---------------------------------------------------------------------------------------------
// Paths and field sets
// ---------------------------------------------------------------------------------------------

/// One step of a path into an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathElement {
    /// `f:<name>`: a field of an object.
    Field(String),
    /// `k:{..}`: an item of a map-list, by its key fields sorted by name.
    Key(Vec<(String, Value)>),
    /// `v:<json>`: an item of a set-list.
    Value(Value),
    /// `i:<n>`: an item by position (accepted when reading, never produced).
    Index(usize),
}

/// A path from the object root.
pub type Path = Vec<PathElement>;

impl PathElement {
    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The key of this element in the `FieldsV1` encoding: `f:name`, `k:{"name":"app"}`,
    /// `v:"x"`, `i:0`.
    pub fn to_fields_v1_key(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(fields) => {
                let mut m = Map::new();
                for (k, v) in fields {
                    m.insert(k.clone(), v.clone());
                }
                format!("k:{}", Value::Object(m))
            }
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a key of the `FieldsV1` encoding (not `.`).
    pub fn parse_fields_v1_key(s: &str) -> Result<PathElement, ApplyError> {
        let bad = |why: &str| ApplyError::Invalid(format!("invalid fieldsV1 key {s:?}: {why}"));
        if let Some(name) = s.strip_prefix("f:") {
            Ok(PathElement::Field(name.to_string()))
        } else if let Some(json) = s.strip_prefix("k:") {
            match serde_json::from_str::<Value>(json) {
                Ok(Value::Object(m)) if !m.is_empty() => {
                    let mut fields: Vec<(String, Value)> = m.into_iter().collect();
                    fields.sort_by(|a, b| a.0.cmp(&b.0));
                    Ok(PathElement::Key(fields))
                }
                Ok(_) => Err(bad("a key must be a non-empty JSON object")),
                Err(e) => Err(bad(&e.to_string())),
            }
        } else if let Some(json) = s.strip_prefix("v:") {
            serde_json::from_str(json)
                .map(PathElement::Value)
                .map_err(|e| bad(&e.to_string()))
        } else if let Some(n) = s.strip_prefix("i:") {
            n.parse()
                .map(PathElement::Index)
                .map_err(|e| bad(&e.to_string()))
        } else {
            Err(bad("unknown prefix"))
        }
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Key(a), PathElement::Key(b)) => {
                for ((an, av), (bn, bv)) in a.iter().zip(b) {
                    let o = an.cmp(bn).then_with(|| compare_values(av, bv));
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                a.len().cmp(&b.len())
            }
            (PathElement::Value(a), PathElement::Value(b)) => compare_values(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Prints like structured-merge-diff: `.name`, `[name="app"]`, `[="x"]`, `[0]`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", value_to_string(v)))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={}]", value_to_string(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path as Kubernetes prints it: `.spec.template.spec.containers[name="app"].image`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// structured-merge-diff's `value.ToString`.
fn value_to_string(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(value_to_string).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}={}", value_to_string(v)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
    }
}

/// structured-merge-diff's total order on values: numbers, strings, booleans, lists, maps,
/// null. Ties between numerically equal numbers are broken by their text so that the order
/// agrees with `Value`'s equality.
fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
            Value::Null => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (fx, fy) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            fx.partial_cmp(&fy)
                .unwrap_or(Ordering::Equal)
                .then_with(|| x.to_string().cmp(&y.to_string()))
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                let o = compare_values(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut xs: Vec<(&String, &Value)> = x.iter().collect();
            let mut ys: Vec<(&String, &Value)> = y.iter().collect();
            xs.sort_by(|p, q| p.0.cmp(q.0));
            ys.sort_by(|p, q| p.0.cmp(q.0));
            for ((xk, xv), (yk, yv)) in xs.iter().zip(&ys) {
                let o = xk.cmp(yk).then_with(|| compare_values(xv, yv));
                if o != Ordering::Equal {
                    return o;
                }
            }
            xs.len().cmp(&ys.len())
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// The order in which structured-merge-diff iterates a set: at each level the members (paths
/// ending there) before the children, each group sorted.
fn iteration_order(a: &[PathElement], b: &[PathElement]) -> Ordering {
    let mut i = 0;
    loop {
        match (a.get(i), b.get(i)) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let (a_member, b_member) = (a.len() == i + 1, b.len() == i + 1);
                if a_member != b_member {
                    return if a_member {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    };
                }
                match x.cmp(y) {
                    Ordering::Equal if !a_member => i += 1,
                    o => return o,
                }
            }
        }
    }
}

/// A set of field paths: what one manager owns, or what an object sets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    paths: BTreeSet<Path>,
}

impl FromIterator<Path> for FieldSet {
    fn from_iter<I: IntoIterator<Item = Path>>(iter: I) -> Self {
        FieldSet {
            paths: iter.into_iter().collect(),
        }
    }
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a path; the empty path is ignored.
    pub fn insert(&mut self, path: Path) {
        if !path.is_empty() {
            self.paths.insert(path);
        }
    }

    /// Removes a path (not its descendants); true if it was there.
    pub fn remove(&mut self, path: &[PathElement]) -> bool {
        self.paths.remove(path)
    }

    /// Whether exactly this path is in the set.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        self.paths.contains(path)
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// The paths in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &Path> {
        self.paths.iter()
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        self.paths.union(&other.paths).cloned().collect()
    }

    /// The paths of `self` not in `other` (exact paths, like structured-merge-diff).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        self.paths.difference(&other.paths).cloned().collect()
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        self.paths.intersection(&other.paths).cloned().collect()
    }

    /// The paths as Kubernetes prints them (`.spec.replicas`), in structured-merge-diff's
    /// iteration order (members before children at each level).
    pub fn to_path_strings(&self) -> Vec<String> {
        self.iteration_ordered()
            .into_iter()
            .map(|p| path_string(p))
            .collect()
    }

    fn iteration_ordered(&self) -> Vec<&Path> {
        let mut paths: Vec<&Path> = self.paths.iter().collect();
        paths.sort_by(|a, b| iteration_order(a, b));
        paths
    }

    /// Reads the `fieldsV1` of a managedFields entry.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, ApplyError> {
        fn parse(v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) -> Result<(), ApplyError> {
            let Value::Object(m) = v else {
                return Err(ApplyError::Invalid(
                    "invalid fieldsV1: expected a JSON object".to_string(),
                ));
            };
            for (k, child) in m {
                if k == "." {
                    if !prefix.is_empty() {
                        out.insert(prefix.clone());
                    }
                    continue;
                }
                prefix.push(PathElement::parse_fields_v1_key(k)?);
                let result = match child {
                    Value::Object(cm) if cm.is_empty() => {
                        out.insert(prefix.clone());
                        Ok(())
                    }
                    _ => parse(child, prefix, out),
                };
                prefix.pop();
                result?;
            }
            Ok(())
        }
        let mut paths = BTreeSet::new();
        parse(v, &mut Vec::new(), &mut paths)?;
        Ok(FieldSet { paths })
    }

    /// Writes the set in the `fieldsV1` encoding, keys in structured-merge-diff's order and
    /// `"."` first wherever a non-leaf path is itself a member.
    pub fn to_fields_v1(&self) -> Value {
        fn emit(paths: &[&[PathElement]]) -> Map<String, Value> {
            let mut out = Map::new();
            let is_member = paths.iter().any(|p| p.is_empty());
            let rest: Vec<&[PathElement]> =
                paths.iter().copied().filter(|p| !p.is_empty()).collect();
            if is_member && !rest.is_empty() {
                out.insert(".".to_string(), json!({}));
            }
            let mut i = 0;
            while i < rest.len() {
                let head = &rest[i][0];
                let mut j = i;
                while j < rest.len() && rest[j][0] == *head {
                    j += 1;
                }
                let below: Vec<&[PathElement]> = rest[i..j].iter().map(|p| &p[1..]).collect();
                out.insert(head.to_fields_v1_key(), Value::Object(emit(&below)));
                i = j;
            }
            out
        }
        let paths: Vec<&[PathElement]> = self.paths.iter().map(Vec::as_slice).collect();
        Value::Object(emit(&paths))
    }

    /// Every path of the set plus every prefix of one that ends in a field name
    /// (structured-merge-diff's `EnsureNamedFieldsAreMembers`).
    fn with_named_prefixes(&self) -> BTreeSet<Path> {
        let mut out = BTreeSet::new();
        for p in &self.paths {
            for i in 1..p.len() {
                if matches!(p[i - 1], PathElement::Field(_)) {
                    out.insert(p[..i].to_vec());
                }
            }
            out.insert(p.clone());
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Walking objects
// ---------------------------------------------------------------------------------------------

/// Which part of an object a write owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// The main resource (and subresources other than status): everything but status.
    Main,
    /// The status subresource: only status.
    Status,
}

fn scope_of(subresource: Option<&str>) -> Scope {
    if subresource == Some("status") {
        Scope::Status
    } else {
        Scope::Main
    }
}

/// Whether a write in `scope` owns `path`.
fn counts(path: &[PathElement], scope: Scope) -> bool {
    let field = |i: usize| match path.get(i) {
        Some(PathElement::Field(f)) => Some(f.as_str()),
        _ => None,
    };
    match field(0) {
        None | Some("apiVersion" | "kind") => false,
        Some("metadata") => {
            scope == Scope::Main
                && path.len() > 1
                && !field(1).is_some_and(|f| SERVER_METADATA.contains(&f))
        }
        Some("status") => scope == Scope::Status && path.len() > 1,
        Some(_) => scope == Scope::Main,
    }
}

/// Whether any write owns `path`.
fn ownable(path: &[PathElement]) -> bool {
    counts(path, Scope::Main) || counts(path, Scope::Status)
}

/// The items of a list, by how it is owned.
enum Items<'v> {
    /// Replaced and owned as a whole.
    Atomic,
    /// Scalars, each owned as `v:<json>`.
    Set(Vec<(PathElement, &'v Value)>),
    /// Objects, each owned as `k:{..}`.
    Map(Vec<(PathElement, &'v Value)>),
}

/// How the list at `names` of a `kind` is owned. A set with non-scalar items, or a map-list
/// with an item lacking its keys or with duplicate keys, is handled as atomic.
fn list_items<'v>(kind: &str, names: &[String], list: &'v [Value]) -> Items<'v> {
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    match list_type(kind, &refs) {
        ListType::Atomic => Items::Atomic,
        ListType::Set => {
            let mut seen = BTreeSet::new();
            let mut items = Vec::new();
            for v in list {
                if v.is_object() || v.is_array() {
                    return Items::Atomic;
                }
                let pe = PathElement::Value(v.clone());
                if seen.insert(pe.clone()) {
                    items.push((pe, v));
                }
            }
            Items::Set(items)
        }
        ListType::Map(keys) => {
            let mut seen = BTreeSet::new();
            let mut items = Vec::new();
            for v in list {
                let Some(pe) = item_key(keys, v) else {
                    return Items::Atomic;
                };
                if !seen.insert(pe.clone()) {
                    return Items::Atomic;
                }
                items.push((pe, v));
            }
            Items::Map(items)
        }
    }
}

/// The `k:` element of a map-list item. A missing `protocol` key is `"TCP"`, the default the
/// Kubernetes schema gives it (container and service ports).
fn item_key(keys: &[&str], item: &Value) -> Option<PathElement> {
    let obj = item.as_object()?;
    let mut fields = Vec::new();
    let mut given = 0;
    for k in keys {
        match obj.get(*k) {
            Some(v) if !v.is_null() => {
                given += 1;
                fields.push((k.to_string(), v.clone()));
            }
            _ if *k == "protocol" => fields.push((k.to_string(), json!("TCP"))),
            _ => {}
        }
    }
    if given == 0 {
        return None;
    }
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    Some(PathElement::Key(fields))
}

/// Whether a list item matches a `k:`/`v:` element.
fn item_matches(pe: &PathElement, item: &Value) -> bool {
    match pe {
        PathElement::Key(fields) => item.as_object().is_some_and(|m| {
            fields.iter().all(|(k, want)| match m.get(k) {
                Some(v) if !v.is_null() => v == want,
                _ => k == "protocol" && want == "TCP",
            })
        }),
        PathElement::Value(want) => item == want,
        PathElement::Field(_) | PathElement::Index(_) => false,
    }
}

/// Every path an object sets, server-owned or not.
fn raw_fields(kind: &str, obj: &Value) -> FieldSet {
    fn walk_fields(
        kind: &str,
        obj: &Map<String, Value>,
        path: &mut Path,
        names: &mut Vec<String>,
        out: &mut FieldSet,
    ) {
        for (k, v) in obj {
            path.push(PathElement::Field(k.clone()));
            names.push(k.clone());
            walk_value(kind, v, path, names, out);
            names.pop();
            path.pop();
        }
    }
    fn walk_value(
        kind: &str,
        v: &Value,
        path: &mut Path,
        names: &mut Vec<String>,
        out: &mut FieldSet,
    ) {
        match v {
            Value::Object(m) if !m.is_empty() => walk_fields(kind, m, path, names, out),
            Value::Array(list) => match list_items(kind, names, list) {
                Items::Atomic => out.insert(path.clone()),
                Items::Set(items) => {
                    for (pe, _) in items {
                        path.push(pe);
                        out.insert(path.clone());
                        path.pop();
                    }
                }
                Items::Map(items) => {
                    for (pe, item) in items {
                        path.push(pe);
                        out.insert(path.clone());
                        if let Value::Object(m) = item {
                            walk_fields(kind, m, path, names, out);
                        }
                        path.pop();
                    }
                }
            },
            _ => out.insert(path.clone()),
        }
    }
    let mut out = FieldSet::new();
    if let Value::Object(m) = obj {
        walk_fields(kind, m, &mut Vec::new(), &mut Vec::new(), &mut out);
    }
    out
}

fn fields_in_scope(kind: &str, obj: &Value, scope: Scope) -> FieldSet {
    FieldSet {
        paths: raw_fields(kind, obj)
            .paths
            .into_iter()
            .filter(|p| counts(p, scope))
            .collect(),
    }
}

/// The fields an object (an apply configuration, or the result of a write) sets, as a write to
/// the main resource owns them: everything but `apiVersion`, `kind`, server-owned metadata and
/// `status`. Map-list items are members themselves and own their key fields; atomic lists,
/// scalars, nulls and empty objects are leaves.
pub fn fields_of(kind: &str, obj: &Value) -> FieldSet {
    fields_in_scope(kind, obj, Scope::Main)
}

/// [`fields_of`] for a write through `subresource`: `Some("status")` counts only the fields
/// under `status`; other subresources count like the main resource.
pub fn fields_of_subresource(kind: &str, obj: &Value, subresource: Option<&str>) -> FieldSet {
    fields_in_scope(kind, obj, scope_of(subresource))
}

// ---------------------------------------------------------------------------------------------
// Comparing objects
// ---------------------------------------------------------------------------------------------

/// What changed between two objects, as structured-merge-diff's `Comparison`: changed leaves
/// are modified; a node present on one side only is added (or removed) together with everything
/// below it.
#[derive(Debug, Default)]
struct Comparison {
    added: FieldSet,
    modified: FieldSet,
    removed: FieldSet,
}

impl Comparison {
    fn retain(&mut self, keep: impl Fn(&[PathElement]) -> bool) {
        for set in [&mut self.added, &mut self.modified, &mut self.removed] {
            set.paths.retain(|p| keep(p));
        }
    }
}

enum Node<'v> {
    Leaf(&'v Value),
    Object(&'v Map<String, Value>),
    Set(Vec<(PathElement, &'v Value)>),
    MapList(Vec<(PathElement, &'v Value)>),
}

#[derive(Clone, Copy)]
enum Side {
    Added,
    Removed,
}

struct Differ<'k> {
    kind: &'k str,
    path: Path,
    names: Vec<String>,
    result: Comparison,
}

impl Differ<'_> {
    fn node<'v>(&self, v: &'v Value) -> Node<'v> {
        match v {
            Value::Object(m) => Node::Object(m),
            Value::Array(list) => match list_items(self.kind, &self.names, list) {
                Items::Atomic => Node::Leaf(v),
                Items::Set(items) => Node::Set(items),
                Items::Map(items) => Node::MapList(items),
            },
            _ => Node::Leaf(v),
        }
    }

    fn mark(&mut self, side: Side) {
        let path = self.path.clone();
        match side {
            Side::Added => self.result.added.insert(path),
            Side::Removed => self.result.removed.insert(path),
        }
    }

    fn diff_values(&mut self, l: Option<&Value>, r: Option<&Value>) {
        let ln = l.map(|v| self.node(v));
        let rn = r.map(|v| self.node(v));
        self.diff_nodes(ln, rn);
    }

    fn diff_nodes(&mut self, l: Option<Node<'_>>, r: Option<Node<'_>>) {
        match (l, r) {
            (None, None) => {}
            (Some(Node::Object(a)), Some(Node::Object(b))) => {
                for (k, lv) in a {
                    self.push_field(k);
                    self.diff_values(Some(lv), b.get(k));
                    self.pop_field();
                }
                for (k, rv) in b {
                    if !a.contains_key(k) {
                        self.push_field(k);
                        self.diff_values(None, Some(rv));
                        self.pop_field();
                    }
                }
            }
            (Some(Node::Set(a)), Some(Node::Set(b))) => self.diff_items(&a, &b, false),
            (Some(Node::MapList(a)), Some(Node::MapList(b))) => self.diff_items(&a, &b, true),
            (Some(Node::Leaf(a)), Some(Node::Leaf(b))) => {
                if a != b {
                    self.result.modified.insert(self.path.clone());
                }
            }
            (Some(a), Some(b)) => {
                self.result.modified.insert(self.path.clone());
                self.subtree(a, Side::Removed);
                self.subtree(b, Side::Added);
            }
            (None, Some(b)) => {
                self.mark(Side::Added);
                self.subtree(b, Side::Added);
            }
            (Some(a), None) => {
                self.mark(Side::Removed);
                self.subtree(a, Side::Removed);
            }
        }
    }

    fn diff_items(
        &mut self,
        a: &[(PathElement, &Value)],
        b: &[(PathElement, &Value)],
        keyed: bool,
    ) {
        let in_a: BTreeMap<&PathElement, &Value> = a.iter().map(|(p, v)| (p, *v)).collect();
        let in_b: BTreeMap<&PathElement, &Value> = b.iter().map(|(p, v)| (p, *v)).collect();
        for (pe, lv) in a {
            self.path.push(pe.clone());
            match (in_b.get(pe), keyed) {
                (Some(rv), true) => self.diff_nodes(
                    lv.as_object().map(Node::Object),
                    rv.as_object().map(Node::Object),
                ),
                (Some(_), false) => {}
                (None, true) => self.diff_nodes(lv.as_object().map(Node::Object), None),
                (None, false) => self.mark(Side::Removed),
            }
            self.path.pop();
        }
        for (pe, rv) in b {
            if in_a.contains_key(pe) {
                continue;
            }
            self.path.push(pe.clone());
            if keyed {
                self.diff_nodes(None, rv.as_object().map(Node::Object));
            } else {
                self.mark(Side::Added);
            }
            self.path.pop();
        }
    }

    /// Marks every path below the current one.
    fn subtree(&mut self, n: Node<'_>, side: Side) {
        match n {
            Node::Leaf(_) => {}
            Node::Object(m) => {
                for (k, v) in m {
                    self.push_field(k);
                    self.mark(side);
                    let child = self.node(v);
                    self.subtree(child, side);
                    self.pop_field();
                }
            }
            Node::Set(items) => {
                for (pe, _) in items {
                    self.path.push(pe);
                    self.mark(side);
                    self.path.pop();
                }
            }
            Node::MapList(items) => {
                for (pe, item) in items {
                    self.path.push(pe);
                    self.mark(side);
                    if let Value::Object(m) = item {
                        self.subtree(Node::Object(m), side);
                    }
                    self.path.pop();
                }
            }
        }
    }

    fn push_field(&mut self, k: &str) {
        self.path.push(PathElement::Field(k.to_string()));
        self.names.push(k.to_string());
    }

    fn pop_field(&mut self) {
        self.path.pop();
        self.names.pop();
    }
}

fn compare(kind: &str, old: &Value, new: &Value) -> Comparison {
    let mut d = Differ {
        kind,
        path: Vec::new(),
        names: Vec::new(),
        result: Comparison::default(),
    };
    d.diff_values(Some(old), Some(new));
    d.result
}

// ---------------------------------------------------------------------------------------------
// Merging and pruning
// ---------------------------------------------------------------------------------------------

/// Merges an apply configuration into the live object: objects merge field by field,
/// map-lists item by item (by key), sets are united, everything else is replaced. A `null` in
/// the configuration removes the field.
struct Merger<'k> {
    kind: &'k str,
    names: Vec<String>,
}

impl Merger<'_> {
    fn merge(&mut self, lhs: Option<&Value>, rhs: &Value) -> Option<Value> {
        match rhs {
            Value::Null => None,
            Value::Object(r) => {
                let mut out = match lhs {
                    Some(Value::Object(l)) => l.clone(),
                    _ => Map::new(),
                };
                for (k, rv) in r {
                    self.names.push(k.clone());
                    let merged = self.merge(lhs.and_then(|l| l.get(k)), rv);
                    self.names.pop();
                    match merged {
                        Some(v) => {
                            out.insert(k.clone(), v);
                        }
                        None => {
                            out.shift_remove(k);
                        }
                    }
                }
                Some(Value::Object(out))
            }
            Value::Array(r) => Some(self.merge_list(lhs, r, rhs)),
            _ => Some(rhs.clone()),
        }
    }

    fn merge_list(&mut self, lhs: Option<&Value>, r: &[Value], rhs: &Value) -> Value {
        let right = list_items(self.kind, &self.names, r);
        let left = match lhs {
            Some(Value::Array(l)) => list_items(self.kind, &self.names, l),
            _ => Items::Atomic,
        };
        match (left, right) {
            (Items::Set(a), Items::Set(b)) => Value::Array(
                merged_order(&a, &b)
                    .into_iter()
                    .filter_map(|(l, r)| r.or(l).cloned())
                    .collect(),
            ),
            (Items::Map(a), Items::Map(b)) => Value::Array(
                merged_order(&a, &b)
                    .into_iter()
                    .filter_map(|(l, r)| match r {
                        Some(r) => self.merge(l, r),
                        None => l.cloned(),
                    })
                    .collect(),
            ),
            (_, Items::Map(b)) => Value::Array(
                b.iter()
                    .filter_map(|(_, item)| self.merge(None, item))
                    .collect(),
            ),
            _ => rhs.clone(),
        }
    }
}

/// The order of a merged associative list (structured-merge-diff's `visitListItems`): items of
/// both sides follow the configuration's order, items only on the live side keep their place,
/// new items come where the configuration puts them.
fn merged_order<'a>(
    lhs: &[(PathElement, &'a Value)],
    rhs: &[(PathElement, &'a Value)],
) -> Vec<(Option<&'a Value>, Option<&'a Value>)> {
    let observed_l: BTreeMap<&PathElement, &'a Value> = lhs.iter().map(|(p, v)| (p, *v)).collect();
    let observed_r: BTreeMap<&PathElement, &'a Value> = rhs.iter().map(|(p, v)| (p, *v)).collect();
    let mut shared: VecDeque<&PathElement> = rhs
        .iter()
        .map(|(p, _)| p)
        .filter(|p| observed_l.contains_key(p))
        .collect();
    let mut next_shared = shared.pop_front();
    let mut merged_r: BTreeSet<&PathElement> = BTreeSet::new();
    let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
    let (mut li, mut ri) = (0, 0);
    while li < lhs.len() || ri < rhs.len() {
        if li < lhs.len() && ri < rhs.len() {
            let pe = &lhs[li].0;
            if *pe == rhs[ri].0 {
                merged_r.insert(pe);
                out.push((Some(lhs[li].1), Some(rhs[ri].1)));
                li += 1;
                ri += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if observed_r.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                li += 1;
                continue;
            }
        }
        if li < lhs.len() {
            let pe = &lhs[li].0;
            if !observed_r.contains_key(pe) {
                out.push((Some(lhs[li].1), None));
                li += 1;
                continue;
            }
            if merged_r.contains(pe) {
                li += 1;
                continue;
            }
        }
        if ri < rhs.len() {
            let pe = &rhs[ri].0;
            merged_r.insert(pe);
            out.push((observed_l.get(pe).copied(), Some(rhs[ri].1)));
            ri += 1;
            if next_shared == Some(pe) {
                next_shared = shared.pop_front();
            }
        }
    }
    out
}

fn child_mut<'a>(v: &'a mut Value, pe: &PathElement) -> Option<&'a mut Value> {
    match (pe, v) {
        (PathElement::Field(f), Value::Object(m)) => m.get_mut(f),
        (PathElement::Index(i), Value::Array(list)) => list.get_mut(*i),
        (pe, Value::Array(list)) => list.iter_mut().find(|item| item_matches(pe, item)),
        _ => None,
    }
}

/// Removes the value at `path` (with everything below it); true if something was removed.
fn remove_path(v: &mut Value, path: &[PathElement]) -> bool {
    let Some((last, parent)) = path.split_last() else {
        return false;
    };
    let mut cur = v;
    for pe in parent {
        match child_mut(cur, pe) {
            Some(c) => cur = c,
            None => return false,
        }
    }
    match (last, cur) {
        (PathElement::Field(f), Value::Object(m)) => m.shift_remove(f).is_some(),
        (PathElement::Index(i), Value::Array(list)) if *i < list.len() => {
            list.remove(*i);
            true
        }
        (pe, Value::Array(list)) => match list.iter().position(|item| item_matches(pe, item)) {
            Some(i) => {
                list.remove(i);
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// Whether `path` is a key field of a map-list item (removed only with the item).
fn is_key_field(path: &[PathElement]) -> bool {
    match path {
        [.., PathElement::Key(fields), PathElement::Field(f)] => fields.iter().any(|(k, _)| k == f),
        _ => false,
    }
}

/// Removes from `merged` what the applier owned last time, no longer applies, and nobody else
/// owns (structured-merge-diff's `prune`): a path goes when it, or for field names any path
/// below it, is owned by no one.
fn prune(merged: &mut Value, last: &FieldSet, keep: &FieldSet) {
    let keep = keep.with_named_prefixes();
    let mut candidates: Vec<Path> = last
        .with_named_prefixes()
        .into_iter()
        .filter(|p| !keep.contains(p))
        .collect();
    candidates.sort_by_key(Vec::len);
    let mut removed: Vec<Path> = Vec::new();
    for p in candidates {
        if removed.iter().any(|r| p.starts_with(r)) || is_key_field(&p) {
            continue;
        }
        if remove_path(merged, &p) {
            removed.push(p);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// managedFields entries
// ---------------------------------------------------------------------------------------------

/// One entry of `metadata.managedFields`.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedFieldsEntry {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    pub api_version: String,
    /// RFC 3339.
    pub time: Option<String>,
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

impl ManagedFieldsEntry {
    fn is(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref().filter(|s| !s.is_empty())
                == subresource.filter(|s| !s.is_empty())
    }

    /// Reads one entry; fails on a `fieldsType` other than `FieldsV1`, an operation other than
    /// `Apply`/`Update`, or a malformed `fieldsV1`.
    pub fn from_json(v: &Value) -> Result<Self, ApplyError> {
        let Value::Object(m) = v else {
            return Err(ApplyError::Invalid(
                "managedFields entries must be objects".to_string(),
            ));
        };
        let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        let operation = text("operation").unwrap_or_default();
        if operation != OPERATION_APPLY && operation != OPERATION_UPDATE {
            return Err(ApplyError::Invalid(format!(
                "managedFields operation must be Apply or Update, not {operation:?}"
            )));
        }
        match text("fieldsType").as_deref() {
            None | Some("FieldsV1") => {}
            Some(other) => {
                return Err(ApplyError::Invalid(format!(
                    "managedFields fieldsType must be FieldsV1, not {other:?}"
                )));
            }
        }
        let fields = match m.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(f) => FieldSet::from_fields_v1(f)?,
        };
        Ok(ManagedFieldsEntry {
            manager: text("manager").unwrap_or_default(),
            operation,
            api_version: text("apiVersion").unwrap_or_default(),
            time: text("time"),
            subresource: text("subresource").filter(|s| !s.is_empty()),
            fields,
        })
    }

    /// The entry as Kubernetes writes it (fields in Go struct order).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), json!(t));
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if let Some(s) = self.subresource.as_deref().filter(|s| !s.is_empty()) {
            m.insert("subresource".into(), json!(s));
        }
        Value::Object(m)
    }
}

/// Reads an object's `metadata.managedFields` (absent or null reads as no entries).
pub fn decode_managed_fields(obj: &Value) -> Result<Vec<ManagedFieldsEntry>, ApplyError> {
    match obj.pointer("/metadata/managedFields") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => decode_list(v),
    }
}

fn decode_list(v: &Value) -> Result<Vec<ManagedFieldsEntry>, ApplyError> {
    match v {
        Value::Array(items) => items.iter().map(ManagedFieldsEntry::from_json).collect(),
        _ => Err(ApplyError::Invalid(
            "metadata.managedFields must be a list".to_string(),
        )),
    }
}

fn seconds(time: Option<&str>) -> i64 {
    time.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// Sorts entries as Kubernetes does: by operation (`Apply` first), time (whole seconds),
/// manager, apiVersion, subresource.
pub fn sort_managed_fields(entries: &mut [ManagedFieldsEntry]) {
    entries.sort_by(|p, q| {
        p.operation
            .cmp(&q.operation)
            .then_with(|| seconds(p.time.as_deref()).cmp(&seconds(q.time.as_deref())))
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.api_version.cmp(&q.api_version))
            .then_with(|| p.subresource.cmp(&q.subresource))
    });
}

/// Writes entries (sorted, empty ones dropped) into `obj.metadata.managedFields`; with none
/// left the field is removed.
pub fn set_managed_fields(obj: &mut Value, mut entries: Vec<ManagedFieldsEntry>) {
    entries.retain(|e| !e.fields.is_empty());
    sort_managed_fields(&mut entries);
    let Value::Object(root) = obj else {
        return;
    };
    if entries.is_empty() {
        if let Some(Value::Object(meta)) = root.get_mut("metadata") {
            meta.shift_remove("managedFields");
        }
        return;
    }
    let meta = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    if let Value::Object(meta) = meta {
        meta.insert(
            "managedFields".to_string(),
            Value::Array(entries.iter().map(ManagedFieldsEntry::to_json).collect()),
        );
    }
}

/// Takes `metadata.managedFields` out of an object.
fn take_managed_fields(obj: &mut Value) -> Option<Value> {
    match obj.get_mut("metadata") {
        Some(Value::Object(meta)) => meta.shift_remove("managedFields"),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Server-side apply
// ---------------------------------------------------------------------------------------------

/// Server-side apply of `applied` (the configuration of `manager`) to `live` (None: create),
/// for the main resource. See [`server_side_apply_subresource`].
pub fn server_side_apply(
    kind: &str,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
    api_version: &str,
) -> Result<Value, ApplyError> {
    server_side_apply_subresource(kind, live, applied, manager, force, now, api_version, None)
}

/// Server-side apply through `subresource` (`Some("status")` applies only `status`; the main
/// resource ignores the configuration's `status`).
///
/// The result is `live` merged with the configuration (objects merge, map-lists merge by key,
/// sets unite, everything else is replaced; `null` removes). Fields the manager applied last
/// time but not now are removed unless another manager owns them. Changing a field another
/// manager owns is a [`ApplyError::Conflict`] unless `force`, which moves the ownership; setting
/// it to its current value shares it. `metadata.managedFields` of the result holds the
/// manager's `Apply` entry (its fields = the configuration's) and the others' entries minus what
/// they lost. On an object without managedFields, the existing fields are owned by
/// [`BEFORE_FIRST_APPLY`] first.
#[allow(clippy::too_many_arguments)]
pub fn server_side_apply_subresource(
    kind: &str,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
    api_version: &str,
    subresource: Option<&str>,
) -> Result<Value, ApplyError> {
    let scope = scope_of(subresource);
    let Value::Object(applied_map) = applied else {
        return Err(ApplyError::Invalid(
            "the apply configuration must be a JSON object".to_string(),
        ));
    };
    match applied.pointer("/metadata/managedFields") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.is_empty() => {}
        Some(_) => {
            return Err(ApplyError::Invalid(
                "metadata.managedFields must be nil".to_string(),
            ));
        }
    }

    // The part of the configuration this endpoint writes.
    let mut config = Map::new();
    for (k, v) in applied_map {
        let wanted = match scope {
            Scope::Main => k != "status",
            Scope::Status => matches!(k.as_str(), "apiVersion" | "kind" | "status"),
        };
        if wanted {
            config.insert(k.clone(), v.clone());
        }
    }
    let mut config = Value::Object(config);
    take_managed_fields(&mut config);
    let applier_set = fields_in_scope(kind, &config, scope);
    let applier_entry = |time: String, fields: FieldSet| ManagedFieldsEntry {
        manager: manager.to_string(),
        operation: OPERATION_APPLY.to_string(),
        api_version: api_version.to_string(),
        time: Some(time),
        subresource: subresource.map(str::to_string),
        fields,
    };

    let Some(live) = live else {
        let mut obj = Merger {
            kind,
            names: Vec::new(),
        }
        .merge(None, &config)
        .unwrap_or_else(|| json!({}));
        set_managed_fields(&mut obj, vec![applier_entry(now.to_string(), applier_set)]);
        return Ok(obj);
    };

    let mut live_obj = live.clone();
    let live_managed = take_managed_fields(&mut live_obj);
    let mut entries = live_managed
        .as_ref()
        .and_then(|v| decode_list(v).ok())
        .unwrap_or_default();
    if entries.is_empty() {
        let fields = raw_fields(kind, &live_obj)
            .paths
            .into_iter()
            .filter(|p| ownable(p))
            .collect::<FieldSet>();
        entries.push(ManagedFieldsEntry {
            manager: BEFORE_FIRST_APPLY.to_string(),
            operation: OPERATION_UPDATE.to_string(),
            api_version: live_obj
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or(api_version)
                .to_string(),
            time: None,
            subresource: None,
            fields,
        });
    }
    let previous = entries
        .iter()
        .position(|e| e.is(manager, OPERATION_APPLY, subresource))
        .map(|i| entries.remove(i));

    let mut merged = Merger {
        kind,
        names: Vec::new(),
    }
    .merge(Some(&live_obj), &config)
    .unwrap_or_else(|| json!({}));
    restore_preserved_metadata(&mut merged, &live_obj);

    if let Some(last) = previous
        .as_ref()
        .map(|e| &e.fields)
        .filter(|f| !f.is_empty())
    {
        let mut keep = applier_set.clone();
        for e in &entries {
            keep.paths.extend(e.fields.paths.iter().cloned());
        }
        keep.paths.extend(
            raw_fields(kind, &merged)
                .paths
                .into_iter()
                .filter(|p| !counts(p, scope)),
        );
        prune(&mut merged, last, &keep);
    }

    let mut cmp = compare(kind, &live_obj, &merged);
    cmp.retain(ownable);
    let changed = cmp.added.union(&cmp.modified);

    let mut conflicts: Vec<Conflict> = Vec::new();
    for e in &entries {
        for p in e.fields.intersection(&changed).iteration_ordered() {
            conflicts.push(Conflict {
                manager: e.manager.clone(),
                operation: e.operation.clone(),
                api_version: e.api_version.clone(),
                subresource: e.subresource.clone(),
                field: path_string(p),
            });
        }
    }
    if !force && !conflicts.is_empty() {
        conflicts.sort_by(|a, b| a.identity().cmp(&b.identity()));
        return Err(ApplyError::Conflict(conflicts));
    }
    for e in &mut entries {
        e.fields = e.fields.difference(&changed).difference(&cmp.removed);
    }

    // An apply that changes nothing keeps the time of the manager's entry.
    let time = match &previous {
        Some(p) if merged == live_obj => p.time.clone().unwrap_or_else(|| now.to_string()),
        _ => now.to_string(),
    };
    entries.push(applier_entry(time, applier_set));
    set_managed_fields(&mut merged, entries);
    Ok(merged)
}

/// Puts the live object's server-owned metadata back into the merge result.
fn restore_preserved_metadata(merged: &mut Value, live: &Value) {
    let live_meta = live.get("metadata").and_then(Value::as_object);
    let Some(Value::Object(meta)) = merged.get_mut("metadata") else {
        if let (Some(lm), Value::Object(root)) = (live_meta, merged) {
            root.insert("metadata".to_string(), Value::Object(lm.clone()));
        }
        return;
    };
    for k in PRESERVED_METADATA {
        match live_meta.and_then(|lm| lm.get(*k)) {
            Some(v) => {
                meta.insert(k.to_string(), v.clone());
            }
            None => {
                meta.shift_remove(*k);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Ordinary writes
// ---------------------------------------------------------------------------------------------

/// Tracks ownership for a create, update or patch (`operation` = `Update`) of `manager` through
/// `subresource`: the fields that differ between `old` and `new` (all of `new`'s on create) join
/// the manager's entry for (manager, operation, subresource), with `time` = `now`, and leave
/// every other entry (an update takes ownership without conflicts); removed fields leave every
/// entry. Entries left empty are dropped; the list is kept sorted.
///
/// If `new` carries a non-empty, valid `managedFields` (through the main resource), it is taken
/// as given, as the base of the tracking; otherwise `old`'s is carried forward. A
/// `managedFields` of only empty entries (`[{}]`) clears the field.
#[allow(clippy::too_many_arguments)]
pub fn update_managed_fields(
    kind: &str,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    operation: &str,
    subresource: Option<&str>,
    now: &str,
    api_version: &str,
) {
    if !new.is_object() {
        return;
    }
    let scope = scope_of(subresource);
    let sent = take_managed_fields(new);
    let through_main = subresource.is_none_or(str::is_empty);

    if through_main
        && let Some(Value::Array(items)) = &sent
        && !items.is_empty()
        && items
            .iter()
            .all(|i| i.as_object().is_some_and(Map::is_empty))
    {
        return;
    }
    let given = match &sent {
        Some(v @ Value::Array(items)) if through_main && !items.is_empty() => decode_list(v).ok(),
        _ => None,
    };
    let mut entries = match given {
        Some(entries) => entries,
        None => old
            .and_then(|o| decode_managed_fields(o).ok())
            .unwrap_or_default(),
    };

    let old_obj = match old {
        Some(o) => {
            let mut o = o.clone();
            take_managed_fields(&mut o);
            o
        }
        None => creation_base(new),
    };
    let mut cmp = compare(kind, &old_obj, new);
    cmp.retain(|p| counts(p, scope));
    let changed = cmp.added.union(&cmp.modified);
    for e in &mut entries {
        e.fields = e.fields.difference(&changed).difference(&cmp.removed);
    }
    if !changed.is_empty() {
        match entries
            .iter_mut()
            .find(|e| e.is(manager, operation, subresource))
        {
            Some(e) => {
                e.fields = e.fields.union(&changed);
                e.time = Some(now.to_string());
                e.api_version = api_version.to_string();
            }
            None => entries.push(ManagedFieldsEntry {
                manager: manager.to_string(),
                operation: operation.to_string(),
                api_version: api_version.to_string(),
                time: Some(now.to_string()),
                subresource: subresource.filter(|s| !s.is_empty()).map(str::to_string),
                fields: changed,
            }),
        }
    }
    set_managed_fields(new, entries);
}

/// What a create compares against: an empty object whose `metadata`, `spec` and `status` exist
/// (as Go's zero-valued structs do), so that they are not owned as members themselves.
fn creation_base(new: &Value) -> Value {
    let mut base = Map::new();
    for k in ["metadata", "spec", "status"] {
        if new.get(k).is_some_and(Value::is_object) {
            base.insert(k.to_string(), json!({}));
        }
    }
    Value::Object(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2025-01-01T00:00:00Z";
    const LATER: &str = "2025-01-01T00:05:00Z";

    fn deployment(replicas: i64, containers: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": containers}
                }
            }
        })
    }

    fn app(image: &str) -> Value {
        json!({"name": "app", "image": image})
    }

    fn entry<'a>(obj: &'a Value, manager: &str, operation: &str) -> Option<&'a Value> {
        obj.pointer("/metadata/managedFields")?
            .as_array()?
            .iter()
            .find(|e| e["manager"] == manager && e["operation"] == operation)
    }

    fn owned(obj: &Value, manager: &str, operation: &str) -> FieldSet {
        entry(obj, manager, operation)
            .map(|e| FieldSet::from_fields_v1(&e["fieldsV1"]).unwrap())
            .unwrap_or_default()
    }

    fn path(s: &[&str]) -> Path {
        s.iter()
            .map(|f| PathElement::Field(f.to_string()))
            .collect()
    }

    fn container_path(name: &str, field: Option<&str>) -> Path {
        let mut p = path(&["spec", "template", "spec", "containers"]);
        p.push(PathElement::Key(vec![("name".into(), json!(name))]));
        if let Some(f) = field {
            p.push(PathElement::Field(f.into()));
        }
        p
    }

    /// Simulates the API server persisting an object: server metadata appears.
    fn persisted(mut obj: Value) -> Value {
        obj["metadata"]["uid"] = json!("u-1");
        obj["metadata"]["resourceVersion"] = json!("1");
        obj["metadata"]["creationTimestamp"] = json!(NOW);
        obj
    }

    /// `kubectl scale`-like update of replicas by another manager.
    fn scale(live: &Value, replicas: i64, manager: &str) -> Value {
        let mut new = live.clone();
        new["spec"]["replicas"] = json!(replicas);
        update_managed_fields(
            "Deployment",
            Some(live),
            &mut new,
            manager,
            "Update",
            None,
            LATER,
            "apps/v1",
        );
        new
    }

    #[test]
    fn fields_v1_round_trip_of_keyed_containers() {
        let text = r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:image":{}}}}}"#;
        let v: Value = serde_json::from_str(text).unwrap();
        let set = FieldSet::from_fields_v1(&v).unwrap();
        assert_eq!(set.len(), 3);
        assert!(set.contains(&path(&["metadata", "labels", "app"])));
        let mut item = path(&["spec", "containers"]);
        item.push(PathElement::Key(vec![("name".into(), json!("app"))]));
        assert!(set.contains(&item));
        assert_eq!(serde_json::to_string(&set.to_fields_v1()).unwrap(), text);
    }

    #[test]
    fn fields_of_deployment_matches_kubectl_apply_entry() {
        let obj = deployment(
            3,
            json!([{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]),
        );
        let fields = fields_of("Deployment", &obj);
        let expected = json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {"f:matchLabels": {"f:app": {}}},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                        ".": {},
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                            ".": {},
                            "f:containerPort": {}
                        }}
                    }}}
                }
            }
        });
        assert_eq!(fields.to_fields_v1(), expected);
        // Key order and the encoding itself are exact.
        let text = serde_json::to_string(&fields.to_fields_v1()).unwrap();
        assert!(text.contains(r#""k:{\"containerPort\":80,\"protocol\":\"TCP\"}""#));
        assert_eq!(FieldSet::from_fields_v1(&expected).unwrap(), fields);
    }

    #[test]
    fn fields_of_excludes_server_metadata_and_status() {
        let obj = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "d", "uid": "u", "resourceVersion": "4",
                         "finalizers": ["a", "b"], "managedFields": []},
            "data": {"k": "v"},
            "status": {"phase": "x"}
        });
        let f = fields_of("ConfigMap", &obj);
        assert_eq!(
            f.to_fields_v1(),
            json!({"f:data": {"f:k": {}}, "f:metadata": {"f:finalizers": {"v:\"a\"": {}, "v:\"b\"": {}}}})
        );
        let s = fields_of_subresource("ConfigMap", &obj, Some("status"));
        assert_eq!(s.to_fields_v1(), json!({"f:status": {"f:phase": {}}}));
    }

    #[test]
    fn apply_creates_and_owns_everything_applied() {
        let cfg = deployment(3, json!([app("nginx:1")]));
        let obj =
            server_side_apply("Deployment", None, &cfg, "kubectl", false, NOW, "apps/v1").unwrap();
        let mut without = obj.clone();
        take_managed_fields(&mut without);
        assert_eq!(without, cfg);
        let e = entry(&obj, "kubectl", "Apply").unwrap();
        assert_eq!(e["apiVersion"], "apps/v1");
        assert_eq!(e["time"], NOW);
        assert_eq!(e["fieldsType"], "FieldsV1");
        let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "manager",
                "operation",
                "apiVersion",
                "time",
                "fieldsType",
                "fieldsV1"
            ]
        );
        assert_eq!(
            owned(&obj, "kubectl", "Apply"),
            fields_of("Deployment", &cfg)
        );
    }

    #[test]
    fn update_takes_ownership_and_reapply_conflicts() {
        let cfg = deployment(3, json!([app("nginx:1")]));
        let live = persisted(
            server_side_apply("Deployment", None, &cfg, "kubectl", false, NOW, "apps/v1").unwrap(),
        );
        let scaled = scale(&live, 5, "kubectl-client-side-apply");
        let replicas = path(&["spec", "replicas"]);
        assert!(owned(&scaled, "kubectl-client-side-apply", "Update").contains(&replicas));
        assert!(!owned(&scaled, "kubectl", "Apply").contains(&replicas));
        assert_eq!(
            owned(&scaled, "kubectl-client-side-apply", "Update").len(),
            1,
            "only replicas changed"
        );
        // Apply entries sort first.
        assert_eq!(scaled["metadata"]["managedFields"][0]["operation"], "Apply");

        // Re-apply with a different replicas: conflict.
        let cfg4 = deployment(4, json!([app("nginx:1")]));
        let err = server_side_apply(
            "Deployment",
            Some(&scaled),
            &cfg4,
            "kubectl",
            false,
            LATER,
            "apps/v1",
        )
        .unwrap_err();
        let ApplyError::Conflict(conflicts) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].manager, "kubectl-client-side-apply");
        assert_eq!(conflicts[0].field, ".spec.replicas");
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
        );
        assert_eq!(
            conflict_causes(conflicts),
            vec![json!({
                "type": "FieldManagerConflict",
                "message": "conflict with \"kubectl-client-side-apply\" using apps/v1",
                "field": ".spec.replicas"
            })]
        );
        let status = conflict_status(conflicts);
        assert_eq!(status["code"], 409);
        assert_eq!(status["reason"], "Conflict");

        // The same value is no conflict: ownership is shared.
        let cfg5 = deployment(5, json!([app("nginx:1")]));
        let shared = server_side_apply(
            "Deployment",
            Some(&scaled),
            &cfg5,
            "kubectl",
            false,
            LATER,
            "apps/v1",
        )
        .unwrap();
        assert!(owned(&shared, "kubectl", "Apply").contains(&replicas));
        assert!(owned(&shared, "kubectl-client-side-apply", "Update").contains(&replicas));

        // Forced: the applier takes replicas; the emptied entry disappears.
        let forced = server_side_apply(
            "Deployment",
            Some(&scaled),
            &cfg4,
            "kubectl",
            true,
            LATER,
            "apps/v1",
        )
        .unwrap();
        assert_eq!(forced["spec"]["replicas"], 4);
        assert!(owned(&forced, "kubectl", "Apply").contains(&replicas));
        assert!(entry(&forced, "kubectl-client-side-apply", "Update").is_none());
        assert_eq!(forced["metadata"]["uid"], "u-1");
        assert_eq!(forced["metadata"]["resourceVersion"], "1");
        assert_eq!(
            forced["metadata"]["managedFields"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn several_conflicts_are_grouped_by_manager() {
        let cfg = deployment(3, json!([app("nginx:1")]));
        let live = persisted(
            server_side_apply("Deployment", None, &cfg, "kubectl", false, NOW, "apps/v1").unwrap(),
        );
        let mut edited = live.clone();
        edited["spec"]["replicas"] = json!(7);
        edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        update_managed_fields(
            "Deployment",
            Some(&live),
            &mut edited,
            "kubectl-edit",
            "Update",
            None,
            LATER,
            "apps/v1",
        );
        let mut labelled = edited.clone();
        labelled["metadata"]["labels"]["app"] = json!("other");
        update_managed_fields(
            "Deployment",
            Some(&edited),
            &mut labelled,
            "kubectl-label",
            "Update",
            None,
            LATER,
            "apps/v1",
        );
        let err = server_side_apply(
            "Deployment",
            Some(&labelled),
            &cfg,
            "kubectl",
            false,
            LATER,
            "apps/v1",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 3 conflicts: conflicts with \"kubectl-edit\" using apps/v1:\n\
             - .spec.replicas\n\
             - .spec.template.spec.containers[name=\"app\"].image\n\
             conflicts with \"kubectl-label\" using apps/v1:\n\
             - .metadata.labels.app"
        );
    }

    #[test]
    fn conflict_with_another_applier_names_no_version() {
        let c = Conflict {
            manager: "helm".into(),
            operation: "Apply".into(),
            api_version: "apps/v1".into(),
            subresource: None,
            field: ".spec.replicas".into(),
        };
        assert_eq!(
            conflict_message(std::slice::from_ref(&c)),
            "Apply failed with 1 conflict: conflict with \"helm\": .spec.replicas"
        );
        let scale = Conflict {
            manager: "hpa".into(),
            operation: "Update".into(),
            api_version: "autoscaling/v1".into(),
            subresource: Some("scale".into()),
            field: ".spec.replicas".into(),
        };
        assert_eq!(
            scale.manager_description(),
            "\"hpa\" with subresource \"scale\" using autoscaling/v1"
        );
    }

    #[test]
    fn dropping_a_container_removes_it_when_only_the_applier_owned_it() {
        let cfg = deployment(
            3,
            json!([app("nginx:1"), {"name": "sidecar", "image": "envoy"}]),
        );
        let live = persisted(
            server_side_apply("Deployment", None, &cfg, "kubectl", false, NOW, "apps/v1").unwrap(),
        );
        let cfg2 = deployment(3, json!([app("nginx:1")]));
        let out = server_side_apply(
            "Deployment",
            Some(&live),
            &cfg2,
            "kubectl",
            false,
            LATER,
            "apps/v1",
        )
        .unwrap();
        let containers = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0]["name"], "app");
        assert_eq!(
            owned(&out, "kubectl", "Apply"),
            fields_of("Deployment", &cfg2)
        );

        // Dropping replicas from the configuration removes it too.
        let mut cfg3 = cfg2.clone();
        cfg3["spec"]
            .as_object_mut()
            .unwrap()
            .shift_remove("replicas");
        let out = server_side_apply(
            "Deployment",
            Some(&out),
            &cfg3,
            "kubectl",
            false,
            LATER,
            "apps/v1",
        )
        .unwrap();
        assert!(out["spec"].get("replicas").is_none());
        assert_eq!(out["metadata"]["name"], "web");
    }

    #[test]
    fn dropping_a_container_another_manager_also_owns_keeps_it() {
        let cfg = deployment(
            3,
            json!([app("nginx:1"), {"name": "sidecar", "image": "envoy"}]),
        );
        let live = persisted(
            server_side_apply("Deployment", None, &cfg, "kubectl", false, NOW, "apps/v1").unwrap(),
        );
        // Another applier declares the same sidecar with the same values: shared ownership.
        let other_cfg = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "envoy"}]}}}
        });
        let shared = server_side_apply(
            "Deployment",
            Some(&live),
            &other_cfg,
            "mesh",
            false,
            NOW,
            "apps/v1",
        )
        .unwrap();
        assert!(owned(&shared, "mesh", "Apply").contains(&container_path("sidecar", None)));
        assert!(owned(&shared, "kubectl", "Apply").contains(&container_path("sidecar", None)));

        let cfg2 = deployment(3, json!([app("nginx:1")]));
        let out = server_side_apply(
            "Deployment",
            Some(&shared),
            &cfg2,
            "kubectl",
            false,
            LATER,
            "apps/v1",
        )
        .unwrap();
        let containers = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers.len(), 2);
        assert_eq!(containers[1], json!({"name": "sidecar", "image": "envoy"}));
        assert!(!owned(&out, "kubectl", "Apply").contains(&container_path("sidecar", None)));
        assert!(owned(&out, "mesh", "Apply").contains(&container_path("sidecar", Some("image"))));
    }

    #[test]
    fn labels_merge_and_lists_merge_by_key() {
        let mut live = deployment(
            2,
            json!([{"name": "app", "image": "a:1", "imagePullPolicy": "IfNotPresent"},
                   {"name": "log", "image": "l:1"}]),
        );
        live["metadata"]["labels"]["team"] = json!("core");
        live = persisted(live);
        update_managed_fields(
            "Deployment",
            None,
            &mut live,
            "kubectl-create",
            "Update",
            None,
            NOW,
            "apps/v1",
        );
        let mut cfg = deployment(2, json!([{"name": "new", "image": "n:1"}, app("a:2")]));
        cfg["metadata"]["labels"] = json!({"app": "web", "tier": "front"});
        // The image of "app" is owned by kubectl-create: force takes it.
        let out = server_side_apply(
            "Deployment",
            Some(&live),
            &cfg,
            "kubectl",
            true,
            LATER,
            "apps/v1",
        )
        .unwrap();
        assert_eq!(
            out["metadata"]["labels"],
            json!({"app": "web", "team": "core", "tier": "front"})
        );
        // Shared items follow the configuration's order, live-only items keep their place.
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([
                {"name": "new", "image": "n:1"},
                {"name": "app", "image": "a:2", "imagePullPolicy": "IfNotPresent"},
                {"name": "log", "image": "l:1"}
            ])
        );
        let creator = owned(&out, "kubectl-create", "Update");
        assert!(!creator.contains(&container_path("app", Some("image"))));
        assert!(creator.contains(&container_path("app", Some("imagePullPolicy"))));
        assert!(creator.contains(&path(&["metadata", "labels", "team"])));
    }

    #[test]
    fn sets_unite() {
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "finalizers": ["a", "b"]}});
        let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "finalizers": ["c", "a"]}});
        let out = server_side_apply("ConfigMap", Some(&live), &cfg, "m", true, NOW, "v1").unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", "b"]));
    }

    #[test]
    fn first_apply_to_untracked_object_conflicts_with_before_first_apply() {
        let live = persisted(deployment(3, json!([app("nginx:1")])));
        let err = server_side_apply(
            "Deployment",
            Some(&live),
            &deployment(4, json!([app("nginx:1")])),
            "helm",
            false,
            NOW,
            "apps/v1",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: .spec.replicas"
        );
    }

    #[test]
    fn noop_apply_keeps_the_time() {
        let cfg = deployment(3, json!([app("nginx:1")]));
        let live = persisted(
            server_side_apply("Deployment", None, &cfg, "kubectl", false, NOW, "apps/v1").unwrap(),
        );
        let again = server_side_apply(
            "Deployment",
            Some(&live),
            &cfg,
            "kubectl",
            false,
            LATER,
            "apps/v1",
        )
        .unwrap();
        assert_eq!(again, live);
    }

    #[test]
    fn apply_rejects_managed_fields_in_configuration() {
        let mut cfg = deployment(1, json!([]));
        cfg["metadata"]["managedFields"] = json!([{"manager": "x"}]);
        let err = server_side_apply("Deployment", None, &cfg, "kubectl", false, NOW, "apps/v1")
            .unwrap_err();
        assert_eq!(
            err,
            ApplyError::Invalid("metadata.managedFields must be nil".into())
        );
    }

    #[test]
    fn status_apply_owns_only_status() {
        let live = persisted(deployment(3, json!([app("nginx:1")])));
        let cfg = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"}, "spec": {"replicas": 9},
            "status": {"readyReplicas": 2}});
        let out = server_side_apply_subresource(
            "Deployment",
            Some(&live),
            &cfg,
            "controller",
            false,
            NOW,
            "apps/v1",
            Some("status"),
        )
        .unwrap();
        assert_eq!(out["spec"]["replicas"], 3);
        assert_eq!(out["status"]["readyReplicas"], 2);
        let e = entry(&out, "controller", "Apply").unwrap();
        assert_eq!(e["subresource"], "status");
        assert_eq!(e["fieldsV1"], json!({"f:status": {"f:readyReplicas": {}}}));
    }

    #[test]
    fn create_via_update_owns_new_maps_as_members() {
        let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v"}});
        update_managed_fields(
            "ConfigMap",
            None,
            &mut obj,
            "kubectl-create",
            "Update",
            None,
            NOW,
            "v1",
        );
        let e = entry(&obj, "kubectl-create", "Update").unwrap();
        assert_eq!(
            e["fieldsV1"],
            json!({"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}})
        );
        assert_eq!(e["time"], NOW);
    }

    #[test]
    fn update_carries_sent_or_old_managed_fields() {
        let mut live = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c"}, "data": {"k": "v"}});
        update_managed_fields("ConfigMap", None, &mut live, "a", "Update", None, NOW, "v1");

        // No managedFields sent: the old ones are kept.
        let mut new = live.clone();
        take_managed_fields(&mut new);
        update_managed_fields(
            "ConfigMap",
            Some(&live),
            &mut new,
            "b",
            "Update",
            None,
            LATER,
            "v1",
        );
        assert_eq!(new, live);

        // Different, valid managedFields sent: taken as given.
        let mut new = live.clone();
        new["metadata"]["managedFields"][0]["manager"] = json!("renamed");
        let expected = new.clone();
        update_managed_fields(
            "ConfigMap",
            Some(&live),
            &mut new,
            "b",
            "Update",
            None,
            LATER,
            "v1",
        );
        assert_eq!(new, expected);

        // Invalid ones: the old ones are kept.
        let mut new = live.clone();
        new["metadata"]["managedFields"][0]["fieldsType"] = json!("FieldsV2");
        update_managed_fields(
            "ConfigMap",
            Some(&live),
            &mut new,
            "b",
            "Update",
            None,
            LATER,
            "v1",
        );
        assert_eq!(new, live);

        // [{}] clears them.
        let mut new = live.clone();
        new["metadata"]["managedFields"] = json!([{}]);
        update_managed_fields(
            "ConfigMap",
            Some(&live),
            &mut new,
            "b",
            "Update",
            None,
            LATER,
            "v1",
        );
        assert!(new["metadata"].get("managedFields").is_none());
    }

    #[test]
    fn update_moves_changed_and_drops_removed_fields() {
        let mut live = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c"}, "data": {"k": "v", "gone": "x"}});
        update_managed_fields("ConfigMap", None, &mut live, "a", "Update", None, NOW, "v1");
        let mut new = live.clone();
        new["data"] = json!({"k": "w"});
        update_managed_fields(
            "ConfigMap",
            Some(&live),
            &mut new,
            "b",
            "Update",
            None,
            LATER,
            "v1",
        );
        let a = owned(&new, "a", "Update");
        let b = owned(&new, "b", "Update");
        assert_eq!(a, [path(&["data"])].into_iter().collect());
        assert_eq!(b, [path(&["data", "k"])].into_iter().collect());
        // Sorted by time: a (earlier) before b.
        assert_eq!(new["metadata"]["managedFields"][0]["manager"], "a");
    }

    #[test]
    fn status_update_owns_status_under_subresource() {
        let live = persisted(deployment(1, json!([app("x")])));
        let mut new = live.clone();
        new["status"] =
            json!({"replicas": 1, "conditions": [{"type": "Available", "status": "True"}]});
        update_managed_fields(
            "Deployment",
            Some(&live),
            &mut new,
            "kube-controller-manager",
            "Update",
            Some("status"),
            NOW,
            "apps/v1",
        );
        let e = entry(&new, "kube-controller-manager", "Update").unwrap();
        assert_eq!(e["subresource"], "status");
        assert_eq!(
            e["fieldsV1"],
            json!({"f:status": {"f:conditions": {".": {}, "k:{\"type\":\"Available\"}": {
                ".": {}, "f:status": {}, "f:type": {}}}, "f:replicas": {}}})
        );
    }

    #[test]
    fn iteration_order_puts_members_first() {
        let set: FieldSet = [
            path(&["spec", "template", "x"]),
            path(&["spec", "zzz"]),
            path(&["spec", "a", "b"]),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            set.to_path_strings(),
            [".spec.zzz", ".spec.a.b", ".spec.template.x"]
        );
    }

    #[test]
    fn bad_fields_v1_is_rejected() {
        assert!(FieldSet::from_fields_v1(&json!({"x:y": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"f:a": 1})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"k:[1]": {}})).is_err());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn element() -> impl Strategy<Value = PathElement> {
            prop_oneof![
                "[a-z]{1,6}".prop_map(PathElement::Field),
                ("[a-z]{1,4}", any::<i32>())
                    .prop_map(|(k, v)| PathElement::Key(vec![(k, json!(v))])),
                "[a-z ]{0,4}".prop_map(|s| PathElement::Value(json!(s))),
                (0usize..5).prop_map(PathElement::Index),
            ]
        }

        proptest! {
            #[test]
            fn fields_v1_round_trips(paths in proptest::collection::vec(
                proptest::collection::vec(element(), 1..5), 0..12)) {
                let set: FieldSet = paths.into_iter().collect();
                let encoded = set.to_fields_v1();
                let text = serde_json::to_string(&encoded).unwrap();
                let back = FieldSet::from_fields_v1(&serde_json::from_str(&text).unwrap()).unwrap();
                prop_assert_eq!(back, set);
            }

            #[test]
            fn apply_to_itself_is_stable(replicas in 0i64..10, image in "[a-z]{1,5}") {
                let cfg = deployment(replicas, json!([app(&image)]));
                let first = server_side_apply("Deployment", None, &cfg, "k", false, NOW, "apps/v1").unwrap();
                let second = server_side_apply("Deployment", Some(&first), &cfg, "k", false, LATER, "apps/v1").unwrap();
                prop_assert_eq!(first, second);
            }
        }
    }
}
