//! OpenAPI documents as the Kubernetes apiserver serves them: the v3 index and per
//! group-version v3 documents (`/openapi/v3/...`) and one Swagger 2.0 document
//! (`/openapi/v2`), with schemas generated from k8s-openapi's `JsonSchema` impls.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use k8s_openapi::Resource;
use k8s_openapi::api::{apps, autoscaling, batch, coordination, core, discovery, networking};
use k8s_openapi::api::{authentication, authorization};
use k8s_openapi::api::{policy, rbac};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use schemars::generate::SchemaSettings;
use schemars::transform::{AddNullable, RemoveRefSiblings};
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::resources::{RESOURCES, ResourceInfo, group_versions};

/// The Kubernetes version the documents claim to describe.
const KUBERNETES_VERSION: &str = "v1.33.0";

/// FNV-1a, 64 bits: a small stable digest (document hashes, storage version hashes).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Which OpenAPI dialect a schema or path is rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// Swagger 2.0, `#/definitions/`.
    V2,
    /// OpenAPI 3.0, `#/components/schemas/`.
    V3,
}

impl Dialect {
    fn ref_prefix(self) -> &'static str {
        match self {
            Dialect::V2 => "#/definitions/",
            Dialect::V3 => "#/components/schemas/",
        }
    }

    fn reference(self, name: &str) -> Value {
        json!({ "$ref": format!("{}{name}", self.ref_prefix()) })
    }

    fn generator(self) -> SchemaGenerator {
        let settings = SchemaSettings::openapi3().with(|s| {
            s.meta_schema = None;
            if self == Dialect::V2 {
                s.definitions_path = "/definitions".into();
                // Swagger 2.0 has no `nullable`, and Kubernetes' own v2 document keeps
                // siblings (descriptions) beside `$ref`.
                s.transforms
                    .retain(|t| !t.is::<RemoveRefSiblings>() && !t.is::<AddNullable>());
            }
        });
        settings.into_generator()
    }
}

// ---------------------------------------------------------------------------------------
// The kinds: every served kind mapped to its k8s-openapi type.

/// Adds `T`'s schema (and everything it references) to the generator; returns its name.
type AddFn = fn(&mut SchemaGenerator) -> String;

fn add<T: JsonSchema>(generator: &mut SchemaGenerator) -> String {
    generator.subschema_for::<T>();
    T::schema_name().into_owned()
}

/// One k8s-openapi resource type.
struct KindEntry {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    add: AddFn,
    schema_name: fn() -> Cow<'static, str>,
}

const fn entry<T: JsonSchema + Resource>() -> KindEntry {
    KindEntry {
        group: T::GROUP,
        version: T::VERSION,
        kind: T::KIND,
        add: add::<T>,
        schema_name: T::schema_name,
    }
}

/// Every type that `RESOURCES` serves (a test checks that none is missing).
static KINDS: &[KindEntry] = &[
    entry::<core::v1::Namespace>(),
    entry::<core::v1::Pod>(),
    entry::<core::v1::ReplicationController>(),
    entry::<core::v1::Service>(),
    entry::<core::v1::Endpoints>(),
    entry::<core::v1::ConfigMap>(),
    entry::<core::v1::Secret>(),
    entry::<core::v1::ServiceAccount>(),
    entry::<core::v1::Event>(),
    entry::<core::v1::Node>(),
    entry::<core::v1::PersistentVolumeClaim>(),
    entry::<core::v1::PersistentVolume>(),
    entry::<core::v1::ResourceQuota>(),
    entry::<core::v1::LimitRange>(),
    entry::<apps::v1::Deployment>(),
    entry::<apps::v1::ReplicaSet>(),
    entry::<apps::v1::StatefulSet>(),
    entry::<apps::v1::DaemonSet>(),
    entry::<apps::v1::ControllerRevision>(),
    entry::<authentication::v1::SelfSubjectReview>(),
    entry::<authorization::v1::SelfSubjectAccessReview>(),
    entry::<authorization::v1::SelfSubjectRulesReview>(),
    entry::<batch::v1::Job>(),
    entry::<batch::v1::CronJob>(),
    entry::<autoscaling::v2::HorizontalPodAutoscaler>(),
    entry::<autoscaling::v1::HorizontalPodAutoscaler>(),
    entry::<networking::v1::Ingress>(),
    entry::<networking::v1::IngressClass>(),
    entry::<networking::v1::NetworkPolicy>(),
    entry::<discovery::v1::EndpointSlice>(),
    entry::<coordination::v1::Lease>(),
    entry::<policy::v1::PodDisruptionBudget>(),
    entry::<rbac::v1::Role>(),
    entry::<rbac::v1::ClusterRole>(),
    entry::<rbac::v1::RoleBinding>(),
    entry::<rbac::v1::ClusterRoleBinding>(),
];

fn kind_entry(r: &ResourceInfo) -> Option<&'static KindEntry> {
    KINDS
        .iter()
        .find(|e| e.group == r.group && e.version == r.version && e.kind == r.kind)
}

fn name_of<T: JsonSchema>() -> String {
    T::schema_name().into_owned()
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({ "group": group, "kind": kind, "version": version })
}

/// GVKs of a meta kind that every served group-version accepts (`DeleteOptions`, ...).
fn every_gv(kind: &str) -> Vec<Value> {
    group_versions()
        .into_iter()
        .flat_map(|(g, versions)| versions.into_iter().map(move |v| gvk(g, v, kind)))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Schemas.

const API_VERSION_DOC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DOC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// The `<Kind>List` schema (k8s-openapi has no `JsonSchema` for `List<T>`).
fn list_schema(dialect: Dialect, item: &str, kind: &str, list_meta: &str) -> Value {
    let mut metadata = dialect.reference(list_meta);
    metadata["description"] =
        "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds".into();
    json!({
        "description": format!("{kind}List is a list of {kind} objects."),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": API_VERSION_DOC, "type": "string"},
            "items": {
                "description": format!("items is the list of {kind} objects."),
                "type": "array",
                "items": dialect.reference(item),
            },
            "kind": {"description": KIND_DOC, "type": "string"},
            "metadata": metadata,
        },
    })
}

/// What goes into one set of schemas.
#[derive(Default)]
struct SchemaSet {
    /// Served kinds (their `List` kinds are added too).
    kinds: Vec<&'static ResourceInfo>,
    /// Further types, each with the GVKs its schema is tagged with.
    extras: Vec<(AddFn, Vec<Value>)>,
}

impl SchemaSet {
    fn extra(&mut self, add: AddFn, gvks: Vec<Value>) {
        self.extras.push((add, gvks));
    }

    /// The meta types every group-version document carries.
    fn with_meta(mut self) -> Self {
        self.extra(add::<meta::Status>, vec![gvk("", "v1", "Status")]);
        self.extra(add::<meta::DeleteOptions>, every_gv("DeleteOptions"));
        self.extra(add::<meta::Patch>, Vec::new());
        self.extra(
            add::<meta::WatchEvent<meta::Status>>,
            every_gv("WatchEvent"),
        );
        self.extra(add::<meta::APIResourceList>, Vec::new());
        if self.kinds.iter().any(|r| r.scale) {
            self.extra(
                add::<autoscaling::v1::Scale>,
                vec![gvk("autoscaling", "v1", "Scale")],
            );
        }
        self
    }

    fn build(&self, dialect: Dialect) -> Map<String, Value> {
        let mut generator = dialect.generator();
        let mut tags: Vec<(String, Value)> = Vec::new();
        let mut lists: Vec<(String, String, &str)> = Vec::new();
        for r in &self.kinds {
            let Some(e) = kind_entry(r) else { continue };
            let name = (e.add)(&mut generator);
            tags.push((name.clone(), gvk(r.group, r.version, r.kind)));
            // A review is never listed: it has no `List` kind.
            if !r.review {
                let list = format!("{name}List");
                tags.push((list.clone(), gvk(r.group, r.version, &r.list_kind())));
                lists.push((list, name, r.kind));
            }
        }
        let list_meta = add::<meta::ListMeta>(&mut generator);
        for (add, gvks) in &self.extras {
            let name = add(&mut generator);
            tags.extend(gvks.iter().map(|g| (name.clone(), g.clone())));
        }
        let mut defs = generator.take_definitions(true);
        for (list, item, kind) in lists {
            defs.insert(list, list_schema(dialect, &item, kind, &list_meta));
        }
        for schema in defs.values_mut() {
            fix_schema(schema, dialect);
            optional_metadata(schema);
        }
        for r in &self.kinds {
            if let Some(e) = kind_entry(r) {
                annotate_lists(&mut defs, r.kind, &(e.schema_name)(), dialect);
            }
        }
        for (name, tag) in tags {
            if let Some(Value::Object(schema)) = defs.get_mut(&name) {
                let list = schema
                    .entry("x-kubernetes-group-version-kind")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = list
                    && !list.contains(&tag)
                {
                    list.push(tag);
                }
            }
        }
        let sorted: BTreeMap<String, Value> = defs.into_iter().collect();
        sorted.into_iter().collect()
    }
}

/// Adds the strategic-merge and server-side-apply extensions (`x-kubernetes-patch-*`,
/// `x-kubernetes-list-*`) that k8s-openapi's schemas lack, from [`crate::merge_keys`], to
/// every property reachable from the kind's schema `root`. kubectl's client-side apply
/// reads them to merge lists such as containers by name.
fn annotate_lists(defs: &mut Map<String, Value>, kind: &str, root: &str, dialect: Dialect) {
    annotate_def(defs, kind, root, dialect, &mut Vec::new(), &mut Vec::new());
}

/// The definition a property schema refers to (plain `$ref` or `allOf: [{$ref}]`).
fn ref_target(schema: &Value, dialect: Dialect) -> Option<&str> {
    let reference = schema
        .get("$ref")
        .or_else(|| schema.get("allOf")?.get(0)?.get("$ref"))?;
    reference.as_str()?.strip_prefix(dialect.ref_prefix())
}

fn annotate_def(
    defs: &mut Map<String, Value>,
    kind: &str,
    name: &str,
    dialect: Dialect,
    path: &mut Vec<String>,
    stack: &mut Vec<String>,
) {
    if stack.iter().any(|s| s == name) || path.len() > 32 {
        return;
    }
    let Some(Value::Object(props)) = defs.get(name).and_then(|d| d.get("properties")) else {
        return;
    };
    // (property, is a list, definition it leads to)
    let fields: Vec<(String, bool, Option<String>)> = props
        .iter()
        .map(|(prop, schema)| {
            let is_list = schema.get("type").and_then(Value::as_str) == Some("array");
            let target = if is_list {
                schema.get("items").and_then(|i| ref_target(i, dialect))
            } else {
                ref_target(schema, dialect)
            };
            (prop.clone(), is_list, target.map(str::to_owned))
        })
        .collect();
    stack.push(name.to_owned());
    for (prop, is_list, target) in fields {
        path.push(prop.clone());
        let at: Vec<&str> = path.iter().map(String::as_str).collect();
        let extensions = list_extensions(kind, &at, is_list);
        if !extensions.is_empty()
            && let Some(Value::Object(schema)) = defs
                .get_mut(name)
                .and_then(|d| d.get_mut("properties"))
                .and_then(|p| p.get_mut(&prop))
        {
            if dialect == Dialect::V3
                && let Some(reference) = schema.remove("$ref")
            {
                schema.insert("allOf".into(), json!([{"$ref": reference}]));
            }
            for (key, value) in extensions {
                schema.entry(key).or_insert(value);
            }
        }
        if let Some(target) = target {
            annotate_def(defs, kind, &target, dialect, path, stack);
        }
        path.pop();
    }
    stack.pop();
}

/// The extensions Kubernetes puts on the field at `path` of `kind`.
fn list_extensions(kind: &str, path: &[&str], is_list: bool) -> Vec<(&'static str, Value)> {
    use crate::merge_keys::{ListType, list_type, patch_list_type, retain_keys};
    let retain = retain_keys(kind, path);
    let mut out = Vec::new();
    if !is_list {
        if retain {
            out.push(("x-kubernetes-patch-strategy", "retainKeys".into()));
        }
        return out;
    }
    let mut strategy = Vec::new();
    match patch_list_type(kind, path) {
        ListType::Map(keys) => {
            strategy.push("merge");
            if let Some(key) = keys.first() {
                out.push(("x-kubernetes-patch-merge-key", (*key).into()));
            }
        }
        ListType::Set => strategy.push("merge"),
        ListType::Atomic => {}
    }
    if retain {
        strategy.push("retainKeys");
    }
    if !strategy.is_empty() {
        out.push(("x-kubernetes-patch-strategy", strategy.join(",").into()));
    }
    match list_type(kind, path) {
        ListType::Map(keys) => {
            out.push(("x-kubernetes-list-type", "map".into()));
            out.push(("x-kubernetes-list-map-keys", json!(keys)));
        }
        ListType::Set => out.push(("x-kubernetes-list-type", "set".into())),
        ListType::Atomic => {}
    }
    out
}

/// k8s-openapi lists `metadata` as required because its Rust field is not optional;
/// Kubernetes never requires it (`json:"metadata,omitempty"`).
fn optional_metadata(schema: &mut Value) {
    let Value::Object(o) = schema else { return };
    if let Some(Value::Array(required)) = o.get_mut("required") {
        required.retain(|r| r != "metadata");
        if required.is_empty() {
            o.remove("required");
        }
    }
}

/// Keywords of an OpenAPI 3.0 Schema Object (`x-` extensions are always kept).
const V3_KEYWORDS: &[&str] = &[
    "$ref",
    "title",
    "description",
    "type",
    "format",
    "default",
    "nullable",
    "enum",
    "example",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "items",
    "properties",
    "additionalProperties",
    "discriminator",
    "readOnly",
    "writeOnly",
    "xml",
    "externalDocs",
    "deprecated",
];

/// Keywords of a Swagger 2.0 Schema Object (gnostic rejects any other non-`x-` key).
const V2_KEYWORDS: &[&str] = &[
    "$ref",
    "title",
    "description",
    "type",
    "format",
    "default",
    "enum",
    "example",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "allOf",
    "items",
    "properties",
    "additionalProperties",
    "discriminator",
    "readOnly",
    "xml",
    "externalDocs",
];

/// Rewrites whatever schemars emitted into the dialect's Schema Object: no type arrays,
/// no boolean schemas, no JSON Schema 2020-12 keywords; int-or-string spelt out.
fn fix_schema(schema: &mut Value, dialect: Dialect) {
    if let Value::Bool(allow) = schema {
        *schema = if *allow || dialect == Dialect::V2 {
            json!({})
        } else {
            json!({"not": {}})
        };
    }
    let Value::Object(o) = schema else { return };
    let mut nullable = o.remove("nullable") == Some(Value::Bool(true));

    if let Some(value) = o.remove("const") {
        o.entry("enum").or_insert_with(|| json!([value]));
    }
    if let Some(Value::Array(examples)) = o.remove("examples")
        && let Some(first) = examples.into_iter().next()
    {
        o.entry("example").or_insert(first);
    }
    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(n @ Value::Number(_)) = o.get(exclusive).cloned() {
            o.insert(bound.into(), n);
            o.insert(exclusive.into(), true.into());
        }
    }

    // `type: [..., "null"]` -> one type (+ nullable); several types -> anyOf.
    match o.get("type").cloned() {
        Some(Value::Array(types)) => {
            let mut rest: Vec<Value> = Vec::new();
            for t in types {
                if t == "null" {
                    nullable = true;
                } else {
                    rest.push(t);
                }
            }
            o.remove("type");
            match rest.len() {
                0 => {}
                1 => {
                    o.insert("type".into(), rest.remove(0));
                }
                _ if dialect == Dialect::V3 && !o.contains_key("anyOf") => {
                    let any: Vec<Value> = rest.into_iter().map(|t| json!({"type": t})).collect();
                    o.insert("anyOf".into(), Value::Array(any));
                }
                _ => {}
            }
        }
        Some(Value::String(t)) if t == "null" => {
            o.remove("type");
            nullable = true;
        }
        _ => {}
    }

    // `anyOf: [X, {type: null}]` -> `allOf: [X]` (+ nullable).
    for key in ["anyOf", "oneOf"] {
        let Some(Value::Array(branches)) = o.get_mut(key) else {
            continue;
        };
        let before = branches.len();
        branches.retain(|b| b.get("type").and_then(Value::as_str) != Some("null"));
        if branches.len() < before {
            nullable = true;
        }
        if branches.len() <= 1 {
            let only = branches.pop();
            o.remove(key);
            if let Some(only) = only {
                let all = o.entry("allOf").or_insert_with(|| json!([]));
                if let Value::Array(all) = all {
                    all.push(only);
                }
            }
        }
    }

    if o.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
        && !o.contains_key("type")
        && !o.contains_key("anyOf")
    {
        match dialect {
            Dialect::V3 => {
                o.insert(
                    "anyOf".into(),
                    json!([{"type": "integer"}, {"type": "string"}]),
                );
            }
            Dialect::V2 => {
                o.insert("type".into(), "string".into());
                o.entry("format").or_insert_with(|| "int-or-string".into());
            }
        }
    }

    // Subschemas.
    if let Some(Value::Object(props)) = o.get_mut("properties") {
        for p in props.values_mut() {
            fix_schema(p, dialect);
        }
    }
    if let Some(items) = o.get_mut("items") {
        if let Value::Array(tuple) = items {
            // Tuples do not exist in either dialect: keep the first item's schema.
            *items = tuple.first().cloned().unwrap_or_else(|| json!({}));
        }
        fix_schema(items, dialect);
    }
    if let Some(extra @ Value::Object(_)) = o.get_mut("additionalProperties") {
        fix_schema(extra, dialect);
    }
    if let Some(not) = o.get_mut("not") {
        fix_schema(not, dialect);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = o.get_mut(key) {
            for b in branches {
                fix_schema(b, dialect);
            }
        }
    }

    if nullable && dialect == Dialect::V3 {
        o.insert("nullable".into(), true.into());
    }
    let keywords = match dialect {
        Dialect::V2 => V2_KEYWORDS,
        Dialect::V3 => V3_KEYWORDS,
    };
    o.retain(|k, _| k.starts_with("x-") || keywords.contains(&k.as_str()));

    // OpenAPI 3.0 ignores siblings of `$ref`: wrap the reference in `allOf`.
    if dialect == Dialect::V3
        && o.len() > 1
        && let Some(reference) = o.remove("$ref")
    {
        let all = o.entry("allOf").or_insert_with(|| json!([]));
        if let Value::Array(all) = all {
            all.insert(0, json!({"$ref": reference}));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Paths.

/// One operation parameter (path or query; the type is a scalar).
#[derive(Debug, Clone, Copy)]
struct Param {
    name: &'static str,
    location: &'static str,
    ty: &'static str,
    description: &'static str,
}

const fn query(name: &'static str, ty: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: "query",
        ty,
        description,
    }
}

const NAME: Param = Param {
    name: "name",
    location: "path",
    ty: "string",
    description: "name of the object",
};
const NAMESPACE: Param = Param {
    name: "namespace",
    location: "path",
    ty: "string",
    description: "object name and auth scope, such as for teams and projects",
};
const PRETTY: Param = query(
    "pretty",
    "string",
    "If 'true', then the output is pretty printed.",
);
const DRY_RUN: Param = query(
    "dryRun",
    "string",
    "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed",
);
const FIELD_MANAGER: Param = query(
    "fieldManager",
    "string",
    "fieldManager is a name associated with the actor or entity that is making these changes. Required for apply requests (application/apply-patch), optional otherwise.",
);
const FIELD_VALIDATION: Param = query(
    "fieldValidation",
    "string",
    "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: drop them silently - Warn: drop them and return a warning for each - Strict: fail the request with a BadRequest error",
);
const FORCE: Param = query(
    "force",
    "boolean",
    "Force is going to \"force\" Apply requests: the caller re-acquires fields owned by other managers. Must be unset for non-apply patch requests.",
);
const LIST: &[Param] = &[
    query(
        "allowWatchBookmarks",
        "boolean",
        "allowWatchBookmarks requests watch events with type \"BOOKMARK\".",
    ),
    query(
        "continue",
        "string",
        "The continue option should be set when retrieving more results from the server, with the value returned by the previous list call.",
    ),
    query(
        "fieldSelector",
        "string",
        "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
    ),
    query(
        "labelSelector",
        "string",
        "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
    ),
    query(
        "limit",
        "integer",
        "limit is a maximum number of responses to return for a list call; more results are fetched with continue.",
    ),
    query(
        "resourceVersion",
        "string",
        "resourceVersion sets a constraint on what resource versions a request may be served from.",
    ),
    query(
        "resourceVersionMatch",
        "string",
        "resourceVersionMatch determines how resourceVersion is applied to list calls.",
    ),
    query(
        "sendInitialEvents",
        "boolean",
        "sendInitialEvents=true may be set together with watch=true to begin the watch stream with synthetic events for the current state.",
    ),
    query(
        "timeoutSeconds",
        "integer",
        "Timeout for the list/watch call, regardless of activity.",
    ),
    query(
        "watch",
        "boolean",
        "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
    ),
];
const DELETE: &[Param] = &[
    DRY_RUN,
    query(
        "gracePeriodSeconds",
        "integer",
        "The duration in seconds before the object should be deleted.",
    ),
    query(
        "ignoreStoreReadErrorWithClusterBreakingPotential",
        "boolean",
        "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error.",
    ),
    query(
        "orphanDependents",
        "boolean",
        "Deprecated: please use the PropagationPolicy.",
    ),
    query(
        "propagationPolicy",
        "string",
        "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'.",
    ),
];
const WRITE: &[Param] = &[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION];
const PATCH: &[Param] = &[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE];

const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];
const ANY_BODY: &[&str] = &["*/*"];
const PRODUCES: &[&str] = &["application/json", "application/yaml"];
const PRODUCES_WATCH: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/json;stream=watch",
];

struct Body {
    schema: String,
    types: &'static [&'static str],
    required: bool,
}

struct Op {
    method: &'static str,
    action: Option<&'static str>,
    id: String,
    description: String,
    gvk: Option<Value>,
    params: Vec<Param>,
    body: Option<Body>,
    responses: Vec<(&'static str, String)>,
    produces: &'static [&'static str],
}

struct PathItem {
    path: String,
    params: Vec<Param>,
    ops: Vec<Op>,
}

fn render_param(p: &Param, dialect: Dialect) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), p.name.into());
    out.insert("in".into(), p.location.into());
    out.insert("description".into(), p.description.into());
    if p.location == "path" {
        out.insert("required".into(), true.into());
    }
    match dialect {
        Dialect::V3 => {
            out.insert("schema".into(), json!({"type": p.ty, "uniqueItems": true}));
        }
        Dialect::V2 => {
            out.insert("type".into(), p.ty.into());
            out.insert("uniqueItems".into(), true.into());
        }
    }
    Value::Object(out)
}

fn response_description(code: &str) -> &'static str {
    match code {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        _ => "Unauthorized",
    }
}

fn render_op(op: &Op, tag: &str, dialect: Dialect) -> Value {
    let mut out = Map::new();
    out.insert("tags".into(), json!([tag]));
    out.insert("description".into(), op.description.clone().into());
    out.insert("operationId".into(), op.id.clone().into());
    if dialect == Dialect::V2 {
        if let Some(body) = &op.body {
            out.insert("consumes".into(), json!(body.types));
        }
        out.insert("produces".into(), json!(op.produces));
        out.insert("schemes".into(), json!(["https"]));
    }
    let mut params: Vec<Value> = op.params.iter().map(|p| render_param(p, dialect)).collect();
    if dialect == Dialect::V2
        && let Some(body) = &op.body
    {
        params.insert(
            0,
            json!({
                "name": "body",
                "in": "body",
                "required": body.required,
                "schema": dialect.reference(&body.schema),
            }),
        );
    }
    if !params.is_empty() {
        out.insert("parameters".into(), Value::Array(params));
    }
    if dialect == Dialect::V3
        && let Some(body) = &op.body
    {
        let content: Map<String, Value> = body
            .types
            .iter()
            .map(|t| {
                (
                    t.to_string(),
                    json!({"schema": dialect.reference(&body.schema)}),
                )
            })
            .collect();
        out.insert(
            "requestBody".into(),
            json!({"content": content, "required": body.required}),
        );
    }
    let mut responses = Map::new();
    for (code, schema) in &op.responses {
        let mut r = Map::new();
        r.insert("description".into(), response_description(code).into());
        match dialect {
            Dialect::V3 => {
                let content: Map<String, Value> = op
                    .produces
                    .iter()
                    .map(|t| (t.to_string(), json!({"schema": dialect.reference(schema)})))
                    .collect();
                r.insert("content".into(), Value::Object(content));
            }
            Dialect::V2 => {
                r.insert("schema".into(), dialect.reference(schema));
            }
        }
        responses.insert(code.to_string(), Value::Object(r));
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    out.insert("responses".into(), Value::Object(responses));
    if let Some(action) = op.action {
        out.insert("x-kubernetes-action".into(), action.into());
    }
    if let Some(gvk) = &op.gvk {
        out.insert("x-kubernetes-group-version-kind".into(), gvk.clone());
    }
    Value::Object(out)
}

fn render_paths(items: &[PathItem], tag: &str, dialect: Dialect, out: &mut Map<String, Value>) {
    for item in items {
        let mut path = Map::new();
        if !item.params.is_empty() {
            let params = item.params.iter().map(|p| render_param(p, dialect));
            path.insert("parameters".into(), params.collect());
        }
        for op in &item.ops {
            path.insert(op.method.into(), render_op(op, tag, dialect));
        }
        out.insert(item.path.clone(), Value::Object(path));
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `Apps`, `Core`, `RbacAuthorization`, `Networking`.
fn group_ident(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    group
        .trim_end_matches(".k8s.io")
        .split('.')
        .map(capitalize)
        .collect()
}

/// The operation tag: `apps_v1`, `core_v1`, `rbacAuthorization_v1`.
fn tag(group: &str, version: &str) -> String {
    let ident = group_ident(group);
    let mut chars = ident.chars();
    let lower: String = match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    format!("{lower}_{version}")
}

fn simple_get(path: String, id: String, description: &str, schema: String) -> PathItem {
    PathItem {
        path,
        params: Vec::new(),
        ops: vec![Op {
            method: "get",
            action: None,
            id,
            description: description.into(),
            gvk: None,
            params: Vec::new(),
            body: None,
            responses: vec![("200", schema)],
            produces: PRODUCES,
        }],
    }
}

/// The paths of one served resource.
fn resource_paths(r: &ResourceInfo, ident: &str, out: &mut Vec<PathItem>) {
    let Some(entry) = kind_entry(r) else { return };
    let object = (entry.schema_name)().into_owned();
    let list = format!("{object}List");
    let status = name_of::<meta::Status>();
    let kind = r.kind;
    let scope = if r.namespaced { "Namespaced" } else { "" };
    let this_gvk = gvk(r.group, r.version, kind);
    let base = if r.namespaced {
        format!("{}/namespaces/{{namespace}}/{}", r.gv_path(), r.plural)
    } else {
        format!("{}/{}", r.gv_path(), r.plural)
    };
    let mut scope_params = Vec::new();
    if r.namespaced {
        scope_params.push(NAMESPACE);
    }
    scope_params.push(PRETTY);
    let op = |method, action, id: String, description: String, params: &[Param]| Op {
        method,
        action: Some(action),
        id,
        description,
        gvk: Some(this_gvk.clone()),
        params: params.to_vec(),
        body: None,
        responses: Vec::new(),
        produces: PRODUCES,
    };
    let body = |schema: &str, types, required| {
        Some(Body {
            schema: schema.to_string(),
            types,
            required,
        })
    };

    // Collection.
    let list_op = |id: String| Op {
        responses: vec![("200", list.clone())],
        produces: PRODUCES_WATCH,
        ..op(
            "get",
            "list",
            id,
            format!("list or watch objects of kind {kind}"),
            LIST,
        )
    };
    let create = Op {
        body: body(&object, ANY_BODY, true),
        responses: vec![
            ("200", object.clone()),
            ("201", object.clone()),
            ("202", object.clone()),
        ],
        ..op(
            "post",
            "post",
            format!("create{ident}{scope}{kind}"),
            format!("create a {kind}"),
            WRITE,
        )
    };
    if r.review {
        // A review answers `create` only (Kubernetes serves no other path for it).
        out.push(PathItem {
            path: base,
            params: scope_params,
            ops: vec![create],
        });
        return;
    }
    let delete_collection = Op {
        body: body(&name_of::<meta::DeleteOptions>(), ANY_BODY, false),
        responses: vec![("200", status.clone())],
        params: [DELETE, LIST].concat(),
        ..op(
            "delete",
            "deletecollection",
            format!("delete{ident}Collection{scope}{kind}"),
            format!("delete collection of {kind}"),
            &[],
        )
    };
    out.push(PathItem {
        path: base.clone(),
        params: scope_params.clone(),
        ops: if r.verbs().contains(&"deletecollection") {
            vec![
                list_op(format!("list{ident}{scope}{kind}")),
                create,
                delete_collection,
            ]
        } else {
            vec![list_op(format!("list{ident}{scope}{kind}")), create]
        },
    });

    // Item.
    let mut item_params = vec![NAME];
    item_params.extend(scope_params.iter().copied());
    let read = |suffix: &str, schema: &str, what: &str| Op {
        responses: vec![("200", schema.to_string())],
        ..op(
            "get",
            "get",
            format!("read{ident}{scope}{kind}{suffix}"),
            format!("read {what}the specified {kind}"),
            &[],
        )
    };
    let replace = |suffix: &str, schema: &str, what: &str| Op {
        body: body(schema, ANY_BODY, true),
        responses: vec![("200", schema.to_string()), ("201", schema.to_string())],
        ..op(
            "put",
            "put",
            format!("replace{ident}{scope}{kind}{suffix}"),
            format!("replace {what}the specified {kind}"),
            WRITE,
        )
    };
    let patch = |suffix: &str, schema: &str, what: &str| Op {
        body: body(&name_of::<meta::Patch>(), PATCH_TYPES, true),
        responses: vec![("200", schema.to_string()), ("201", schema.to_string())],
        ..op(
            "patch",
            "patch",
            format!("patch{ident}{scope}{kind}{suffix}"),
            format!("partially update {what}the specified {kind}"),
            PATCH,
        )
    };
    let delete = Op {
        body: body(&name_of::<meta::DeleteOptions>(), ANY_BODY, false),
        responses: vec![("200", status.clone()), ("202", status.clone())],
        ..op(
            "delete",
            "delete",
            format!("delete{ident}{scope}{kind}"),
            format!("delete a {kind}"),
            DELETE,
        )
    };
    out.push(PathItem {
        path: format!("{base}/{{name}}"),
        params: item_params.clone(),
        ops: vec![
            read("", &object, ""),
            replace("", &object, ""),
            patch("", &object, ""),
            delete,
        ],
    });
    if r.status {
        out.push(PathItem {
            path: format!("{base}/{{name}}/status"),
            params: item_params.clone(),
            ops: vec![
                read("Status", &object, "status of "),
                replace("Status", &object, "status of "),
                patch("Status", &object, "status of "),
            ],
        });
    }
    if r.scale {
        let scale = name_of::<autoscaling::v1::Scale>();
        let mut ops = vec![
            read("Scale", &scale, "scale of "),
            replace("Scale", &scale, "scale of "),
            patch("Scale", &scale, "scale of "),
        ];
        for o in &mut ops {
            o.gvk = Some(gvk("autoscaling", "v1", "Scale"));
        }
        out.push(PathItem {
            path: format!("{base}/{{name}}/scale"),
            params: item_params,
            ops,
        });
    }
    if r.namespaced {
        out.push(PathItem {
            path: format!("{}/{}", r.gv_path(), r.plural),
            params: vec![PRETTY],
            ops: vec![list_op(format!("list{ident}{kind}ForAllNamespaces"))],
        });
    }
}

/// The paths of one group-version: its discovery endpoint and every resource.
fn gv_path_items(group: &str, version: &str) -> Vec<PathItem> {
    let ident = format!("{}{}", group_ident(group), capitalize(version));
    let mut items = Vec::new();
    let gv_path = if group.is_empty() {
        format!("/api/{version}/")
    } else {
        format!("/apis/{group}/{version}/")
    };
    items.push(simple_get(
        gv_path,
        format!("get{ident}APIResources"),
        "get available resources",
        name_of::<meta::APIResourceList>(),
    ));
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        resource_paths(r, &ident, &mut items);
    }
    items
}

// ---------------------------------------------------------------------------------------
// Documents.

fn security_v3() -> Value {
    json!({
        "BearerToken": {
            "type": "apiKey",
            "description": "Bearer Token authentication",
            "name": "authorization",
            "in": "header",
        }
    })
}

fn v3_doc(paths: Map<String, Value>, schemas: Map<String, Value>) -> Value {
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": security_v3()},
        "security": [{"BearerToken": []}],
    })
}

/// Builds the v3 document of one index path, or `None` if nothing is served there.
fn build_v3(path: &str) -> Option<Value> {
    let dialect = Dialect::V3;
    let served = group_versions();
    let mut paths = Map::new();
    let mut set = SchemaSet::default();
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["api"] => {
            let item = simple_get(
                "/api/".into(),
                "getCoreAPIVersions".into(),
                "get available API versions",
                name_of::<meta::APIVersions>(),
            );
            render_paths(&[item], "core", dialect, &mut paths);
            set.extra(add::<meta::APIVersions>, Vec::new());
        }
        ["apis"] => {
            let item = simple_get(
                "/apis/".into(),
                "getAPIVersions".into(),
                "get available API versions",
                name_of::<meta::APIGroupList>(),
            );
            render_paths(&[item], "apis", dialect, &mut paths);
            set.extra(add::<meta::APIGroupList>, Vec::new());
        }
        ["api", version] => {
            served
                .iter()
                .find(|(g, v)| g.is_empty() && v.contains(version))?;
            render_paths(
                &gv_path_items("", version),
                &tag("", version),
                dialect,
                &mut paths,
            );
            set.kinds = RESOURCES
                .iter()
                .filter(|r| r.group.is_empty() && r.version == *version)
                .collect();
            set = set.with_meta();
        }
        ["apis", group] if !group.is_empty() => {
            served.iter().find(|(g, _)| g == group)?;
            let item = simple_get(
                format!("/apis/{group}/"),
                format!("get{}APIGroup", group_ident(group)),
                "get information of a group",
                name_of::<meta::APIGroup>(),
            );
            let group_tag = tag(group, "").trim_end_matches('_').to_string();
            render_paths(&[item], &group_tag, dialect, &mut paths);
            set.extra(add::<meta::APIGroup>, Vec::new());
        }
        ["apis", group, version] if !group.is_empty() => {
            served
                .iter()
                .find(|(g, v)| g == group && v.contains(version))?;
            render_paths(
                &gv_path_items(group, version),
                &tag(group, version),
                dialect,
                &mut paths,
            );
            set.kinds = RESOURCES
                .iter()
                .filter(|r| r.group == *group && r.version == *version)
                .collect();
            set = set.with_meta();
        }
        _ => return None,
    }
    Some(v3_doc(paths, set.build(dialect)))
}

/// Every index path (`api`, `api/v1`, `apis`, `apis/apps`, `apis/apps/v1`, ...), sorted.
fn index_paths() -> Vec<String> {
    let mut out = vec!["api".to_string(), "apis".to_string()];
    for (group, versions) in group_versions() {
        if group.is_empty() {
            out.extend(versions.iter().map(|v| format!("api/{v}")));
        } else {
            out.push(format!("apis/{group}"));
            out.extend(versions.iter().map(|v| format!("apis/{group}/{v}")));
        }
    }
    out.sort();
    out
}

struct Doc {
    value: Value,
    bytes: Vec<u8>,
}

impl Doc {
    fn new(value: Value) -> Doc {
        let bytes = serde_json::to_vec(&value).expect("JSON values serialise");
        Doc { value, bytes }
    }
}

struct V3Docs {
    docs: BTreeMap<String, Doc>,
    index: Doc,
}

fn v3_docs() -> &'static V3Docs {
    static DOCS: OnceLock<V3Docs> = OnceLock::new();
    DOCS.get_or_init(|| {
        let mut docs = BTreeMap::new();
        let mut index = Map::new();
        for path in index_paths() {
            let Some(value) = build_v3(&path) else {
                continue;
            };
            let doc = Doc::new(value);
            let hash = format!("{:016X}", fnv1a64(&doc.bytes));
            index.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
            );
            docs.insert(path, doc);
        }
        V3Docs {
            docs,
            index: Doc::new(json!({ "paths": index })),
        }
    })
}

fn normalise(path: &str) -> &str {
    path.trim_matches('/')
}

/// `GET /openapi/v3`: every document's path and its content-addressed URL.
pub fn v3_index() -> Value {
    v3_docs().index.value.clone()
}

/// [`v3_index`] serialised.
pub fn v3_index_bytes() -> &'static [u8] {
    &v3_docs().index.bytes
}

/// `GET /openapi/v3/<path>` (`api/v1`, `apis/apps/v1`, `apis/apps`, `api`, `apis`).
pub fn v3_document(path: &str) -> Option<Value> {
    v3_docs().docs.get(normalise(path)).map(|d| d.value.clone())
}

/// [`v3_document`] serialised once.
pub fn v3_document_bytes(path: &str) -> Option<&'static [u8]> {
    v3_docs()
        .docs
        .get(normalise(path))
        .map(|d| d.bytes.as_slice())
}

/// The hash in a document's `serverRelativeURL` (what `?hash=` must match).
pub fn v3_document_hash(path: &str) -> Option<String> {
    v3_document_bytes(path).map(|b| format!("{:016X}", fnv1a64(b)))
}

fn v2_doc() -> &'static Doc {
    static DOC: OnceLock<Doc> = OnceLock::new();
    DOC.get_or_init(|| {
        let dialect = Dialect::V2;
        let mut paths = Map::new();
        for (group, versions) in group_versions() {
            for version in versions {
                render_paths(
                    &gv_path_items(group, version),
                    &tag(group, version),
                    dialect,
                    &mut paths,
                );
            }
        }
        let mut set = SchemaSet {
            kinds: RESOURCES.iter().collect(),
            extras: Vec::new(),
        }
        .with_meta();
        set.extra(add::<meta::APIVersions>, Vec::new());
        set.extra(add::<meta::APIGroupList>, Vec::new());
        set.extra(add::<meta::APIGroup>, Vec::new());
        Doc::new(json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
            "paths": paths,
            "definitions": set.build(dialect),
            "securityDefinitions": {
                "BearerToken": {
                    "type": "apiKey",
                    "description": "Bearer Token authentication",
                    "name": "authorization",
                    "in": "header",
                }
            },
            "security": [{"BearerToken": []}],
        }))
    })
}

/// `GET /openapi/v2` (JSON): one Swagger 2.0 document with every definition and path.
pub fn v2_document() -> Value {
    v2_doc().value.clone()
}

/// [`v2_document`] serialised once.
pub fn v2_document_bytes() -> &'static [u8] {
    &v2_doc().bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk<'a>(v: &'a Value, f: &mut dyn FnMut(&'a Value)) {
        f(v);
        match v {
            Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
            Value::Object(o) => o.values().for_each(|x| walk(x, f)),
            _ => {}
        }
    }

    /// `$ref` of a property: plain or wrapped in `allOf`.
    fn ref_of(v: &Value) -> &str {
        v.get("$ref")
            .or_else(|| v["allOf"][0].get("$ref"))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no $ref in {v}"))
    }

    fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("bad ref {reference}"));
        &doc["components"]["schemas"][name]
    }

    #[test]
    fn every_served_kind_has_a_type() {
        for r in RESOURCES {
            assert!(kind_entry(r).is_some(), "{}/{}", r.api_version(), r.kind);
        }
    }

    #[test]
    fn fnv_known_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn deployment_strategy_is_explainable() {
        let doc = v3_document("apis/apps/v1").unwrap();
        assert_eq!(doc["openapi"], "3.0.0");
        let deploy = &doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(
            deploy["x-kubernetes-group-version-kind"],
            json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
        );
        let spec_ref = ref_of(&deploy["properties"]["spec"]);
        assert_eq!(
            spec_ref,
            "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"
        );
        let spec = resolve(&doc, spec_ref);
        let strategy = resolve(&doc, ref_of(&spec["properties"]["strategy"]));
        assert!(
            strategy["description"]
                .as_str()
                .unwrap()
                .contains("replace")
        );
        assert!(strategy["properties"]["rollingUpdate"].is_object());
        assert!(deploy.get("required").is_none());
        let list = &doc["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentList"];
        assert_eq!(
            list["x-kubernetes-group-version-kind"][0]["kind"],
            "DeploymentList"
        );
        let scale = &doc["components"]["schemas"]["io.k8s.api.autoscaling.v1.Scale"];
        assert_eq!(
            scale["x-kubernetes-group-version-kind"][0]["group"],
            "autoscaling"
        );
        let status = &doc["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.Status"];
        assert_eq!(
            status["x-kubernetes-group-version-kind"][0]["kind"],
            "Status"
        );
    }

    #[test]
    fn merge_keys_are_annotated() {
        let doc = v3_document("apis/apps/v1").unwrap();
        let schemas = &doc["components"]["schemas"];
        let pod_spec = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"];
        assert_eq!(
            pod_spec["containers"]["x-kubernetes-patch-merge-key"],
            "name"
        );
        assert_eq!(
            pod_spec["containers"]["x-kubernetes-patch-strategy"],
            "merge"
        );
        assert_eq!(pod_spec["containers"]["x-kubernetes-list-type"], "map");
        assert_eq!(
            pod_spec["volumes"]["x-kubernetes-patch-strategy"],
            "merge,retainKeys"
        );
        assert!(
            pod_spec["tolerations"]
                .get("x-kubernetes-patch-strategy")
                .is_none()
        );
        let ports = &schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"];
        assert_eq!(ports["x-kubernetes-patch-merge-key"], "containerPort");
        assert_eq!(
            ports["x-kubernetes-list-map-keys"],
            json!(["containerPort", "protocol"])
        );
        let meta = &schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"];
        assert_eq!(meta["finalizers"]["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(
            meta["ownerReferences"]["x-kubernetes-patch-merge-key"],
            "uid"
        );
        let strategy = &schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"];
        assert_eq!(strategy["x-kubernetes-patch-strategy"], "retainKeys");
        let conditions =
            &schemas["io.k8s.api.apps.v1.DeploymentStatus"]["properties"]["conditions"];
        assert_eq!(conditions["x-kubernetes-patch-merge-key"], "type");
        let v2 = v2_document();
        let containers =
            &v2["definitions"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    }

    #[test]
    fn int_or_string_and_time() {
        let doc = v3_document("apis/apps/v1").unwrap();
        let schemas = &doc["components"]["schemas"];
        let ios = &schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
        assert_eq!(ios["x-kubernetes-int-or-string"], true);
        assert_eq!(ios["anyOf"].as_array().unwrap().len(), 2);
        let time = &schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Time"];
        assert_eq!(time["type"], "string");
        assert_eq!(time["format"], "date-time");
        let v2 = v2_document();
        let ios = &v2["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
        assert_eq!(ios["type"], "string");
        assert_eq!(ios["format"], "int-or-string");
    }

    fn assert_valid_v3(path: &str, doc: &Value) {
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        assert!(!schemas.is_empty(), "{path}");
        walk(doc, &mut |v| {
            let Value::Object(o) = v else { return };
            assert!(!o.contains_key("$defs"), "{path}: $defs");
            assert!(!o.contains_key("$schema"), "{path}: $schema");
            if let Some(t) = o.get("type") {
                // `type` is also a property name inside `properties`.
                assert!(t.is_string() || t.is_object(), "{path}: type {t}");
            }
            if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                let name = r
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("{path}: bad ref {r}"));
                assert!(schemas.contains_key(name), "{path}: dangling {r}");
                assert_eq!(o.len(), 1, "{path}: $ref with siblings {v}");
            }
        });
        for (name, s) in schemas {
            assert!(s.is_object(), "{path}: {name} is not an object");
        }
    }

    #[test]
    fn every_v3_document_is_valid() {
        let index = v3_index();
        let paths = index["paths"].as_object().unwrap();
        assert!(paths.contains_key("api/v1"));
        assert!(paths.contains_key("apis/apps/v1"));
        assert!(paths.contains_key("apis/apps"));
        assert!(paths.contains_key("api"));
        assert!(paths.contains_key("apis"));
        assert!(paths.contains_key("apis/autoscaling/v1"));
        for (path, entry) in paths {
            let url = entry["serverRelativeURL"].as_str().unwrap();
            let hash = v3_document_hash(path).unwrap();
            assert_eq!(url, format!("/openapi/v3/{path}?hash={hash}"));
            let doc = v3_document(path).unwrap();
            assert_valid_v3(path, &doc);
            let reparsed: Value = serde_json::from_slice(v3_document_bytes(path).unwrap()).unwrap();
            assert_eq!(reparsed, doc);
        }
        assert!(v3_document("apis/apps/v2").is_none());
        assert!(v3_document("apis/nope").is_none());
        assert!(v3_document("/apis/apps/v1").is_some());
    }

    #[test]
    fn patch_operations_advertise_field_validation() {
        let doc = v3_document("apis/apps/v1").unwrap();
        let item = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
        let patch = &item["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "apps", "kind": "Deployment", "version": "v1"})
        );
        assert_eq!(patch["x-kubernetes-action"], "patch");
        assert_eq!(patch["operationId"], "patchAppsV1NamespacedDeployment");
        let names: Vec<&str> = patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for n in ["fieldValidation", "dryRun", "fieldManager", "force"] {
            assert!(names.contains(&n), "{n}");
        }
        let content = patch["requestBody"]["content"].as_object().unwrap();
        for t in PATCH_TYPES {
            assert_eq!(
                content[*t]["schema"]["$ref"],
                "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
            );
        }
        assert_eq!(item["put"]["x-kubernetes-action"], "put");
        let item_params: Vec<&str> = item["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(item_params.contains(&"name") && item_params.contains(&"namespace"));
        let collection = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"];
        assert_eq!(collection["post"]["x-kubernetes-action"], "post");
        for op in [&collection["post"], &item["put"]] {
            assert!(
                op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == "fieldValidation")
            );
        }
        let scale = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
        assert_eq!(
            scale["patch"]["x-kubernetes-group-version-kind"]["kind"],
            "Scale"
        );
        assert!(doc["paths"]["/apis/apps/v1/deployments"]["get"].is_object());
        let core = v3_document("api/v1").unwrap();
        let ns = &core["paths"]["/api/v1/namespaces/{name}"]["patch"];
        assert_eq!(ns["operationId"], "patchCoreV1Namespace");
        let rbac = v3_document("apis/rbac.authorization.k8s.io/v1").unwrap();
        assert!(
            rbac["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"]["patch"]["operationId"]
                == "patchRbacAuthorizationV1ClusterRole"
        );
    }

    #[test]
    fn reviews_have_only_a_create_operation() {
        let doc = v3_document("apis/authorization.k8s.io/v1").unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let mut names: Vec<&str> = paths.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "/apis/authorization.k8s.io/v1/",
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
            ]
        );
        let item = paths["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]
            .as_object()
            .unwrap();
        let methods: Vec<&str> = item
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "parameters")
            .collect();
        assert_eq!(methods, ["post"]);
        let post = &item["post"];
        assert_eq!(
            post["operationId"],
            "createAuthorizationV1SelfSubjectAccessReview"
        );
        assert_eq!(
            post["x-kubernetes-group-version-kind"],
            json!({"group": "authorization.k8s.io", "kind": "SelfSubjectAccessReview", "version": "v1"})
        );
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let ssar = &schemas["io.k8s.api.authorization.v1.SelfSubjectAccessReview"];
        assert!(ssar["properties"]["spec"].is_object());
        assert!(!schemas.contains_key("io.k8s.api.authorization.v1.SelfSubjectAccessReviewList"));
        let authn = v3_document("apis/authentication.k8s.io/v1").unwrap();
        assert!(
            authn["paths"]["/apis/authentication.k8s.io/v1/selfsubjectreviews"]["post"].is_object()
        );
        let v2 = v2_document();
        let item = v2["paths"]["/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"]
            .as_object()
            .unwrap();
        assert!(item.contains_key("post") && !item.contains_key("get"));
        assert!(
            v2["definitions"]
                .get("io.k8s.api.authentication.v1.SelfSubjectReview")
                .is_some()
        );
    }

    #[test]
    fn v2_document_is_swagger() {
        let doc = v2_document();
        assert_eq!(doc["swagger"], "2.0");
        let defs = doc["definitions"].as_object().unwrap();
        let deploy = &defs["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(
            deploy["x-kubernetes-group-version-kind"][0]["kind"],
            "Deployment"
        );
        assert_eq!(
            deploy["properties"]["spec"]["$ref"],
            "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
        );
        assert!(defs.contains_key("io.k8s.api.core.v1.Pod"));
        assert!(defs.contains_key("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerList"));
        walk(&doc, &mut |v| {
            let Value::Object(o) = v else { return };
            for banned in ["nullable", "anyOf", "oneOf", "$defs", "requestBody"] {
                assert!(!o.contains_key(banned), "{banned} in {v}");
            }
            if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                let name = r.strip_prefix("#/definitions/").unwrap();
                assert!(defs.contains_key(name), "dangling {r}");
            }
        });
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation" && p["type"] == "string")
        );
        assert_eq!(patch["consumes"], json!(PATCH_TYPES));
        let reparsed: Value = serde_json::from_slice(v2_document_bytes()).unwrap();
        assert_eq!(reparsed, doc);
    }

    #[test]
    fn fix_schema_rewrites_2020_12() {
        let mut s = json!({
            "type": ["string", "null"],
            "const": "x",
            "properties": {"a": true, "type": {"type": ["integer", "string"]}},
            "items": false,
            "$ref": "#/components/schemas/X",
            "description": "d",
            "$comment": "gone",
        });
        fix_schema(&mut s, Dialect::V3);
        assert_eq!(s["type"], "string");
        assert_eq!(s["nullable"], true);
        assert_eq!(s["enum"], json!(["x"]));
        assert_eq!(s["properties"]["a"], json!({}));
        assert_eq!(
            s["properties"]["type"]["anyOf"],
            json!([{"type": "integer"}, {"type": "string"}])
        );
        assert_eq!(s["items"], json!({"not": {}}));
        assert_eq!(s["allOf"][0]["$ref"], "#/components/schemas/X");
        assert!(s.get("$ref").is_none() && s.get("$comment").is_none());

        let mut s = json!({"anyOf": [{"$ref": "#/definitions/X"}, {"type": "null"}]});
        fix_schema(&mut s, Dialect::V2);
        assert_eq!(s, json!({"allOf": [{"$ref": "#/definitions/X"}]}));
    }
}
