//! How list fields of the built-in kinds are merged and owned: the `patchStrategy` /
//! `patchMergeKey` (strategic merge patch) and `listType` / `listMapKeys` (server-side apply)
//! tags of the k8s.io/api types, as a lookup by kind and field path.
//!
//! A `path` is the field names from the object root to the list, skipping list items, e.g.
//! `["spec", "template", "spec", "containers", "env"]` for the env of any container of a
//! Deployment's pod template. Fields not listed here are [`ListType::Atomic`].

/// How a list field is merged (strategic merge patch) and owned (server-side apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    /// Replaced as a whole (x-kubernetes-list-type: atomic; no patch strategy).
    Atomic,
    /// A set of scalars (x-kubernetes-list-type: set; patchStrategy merge on scalar lists, e.g. finalizers).
    Set,
    /// A map keyed by these fields (x-kubernetes-list-map-keys / patchMergeKey), e.g. containers by ["name"].
    Map(&'static [&'static str]),
}

impl ListType {
    /// The merge keys of a [`ListType::Map`]; empty otherwise.
    pub fn keys(&self) -> &'static [&'static str] {
        match self {
            ListType::Map(keys) => keys,
            _ => &[],
        }
    }
}

const NAME: ListType = ListType::Map(&["name"]);
const TYPE: ListType = ListType::Map(&["type"]);
const UID: ListType = ListType::Map(&["uid"]);
const IP: ListType = ListType::Map(&["ip"]);

/// Which flavour of tags to read: server-side apply reads `listType`/`listMapKeys`,
/// strategic merge patch reads `patchStrategy`/`patchMergeKey`. They mostly agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    Apply,
    Strategic,
}

/// The list type used by server-side apply (`+listType` / `+listMapKeys`), e.g. container
/// ports are a map keyed by `containerPort` and `protocol`.
///
/// `kind` is the object's kind ("Deployment"); `path` is the field names from the object root
/// to the list, skipping list items, e.g. `["spec","template","spec","containers"]`.
pub fn list_type(kind: &str, path: &[&str]) -> ListType {
    lookup(kind, path, Flavour::Apply)
}

/// The list type used by strategic merge patch (`patchStrategy` / `patchMergeKey`): a
/// [`ListType::Map`] always has exactly one key (container ports merge by `containerPort`
/// only), `Set` is `patchStrategy: merge` on a scalar list, and a list without a patch
/// strategy is `Atomic`.
pub fn patch_list_type(kind: &str, path: &[&str]) -> ListType {
    lookup(kind, path, Flavour::Strategic)
}

/// True when the map at `path` carries `patchStrategy: retainKeys` (a union whose other
/// members are cleared when a patch with `$retainKeys` switches member): a Deployment's
/// `spec.strategy`, and the items of a PodSpec's `volumes` and `resourceClaims` (for list
/// items, `path` is the path of the list).
pub fn retain_keys(kind: &str, path: &[&str]) -> bool {
    if kind == "Deployment" && path == ["spec", "strategy"] {
        return true;
    }
    if kind == "Pod" && path == ["status", "resourceClaimStatuses"] {
        return true;
    }
    matches!(
        pod_spec_rel(kind, path),
        Some(["volumes"]) | Some(["resourceClaims"])
    )
}

/// Where the PodSpec sits in an object of `kind`.
fn pod_spec_prefix(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "Pod" => Some(&["spec"]),
        "PodTemplate" => Some(&["template", "spec"]),
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => Some(&["spec", "template", "spec"]),
        "CronJob" => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

/// The part of `path` below the object's PodSpec, if `path` is inside it.
fn pod_spec_rel<'a, 'b>(kind: &str, path: &'a [&'b str]) -> Option<&'a [&'b str]> {
    let prefix = pod_spec_prefix(kind)?;
    if path.len() < prefix.len() || path[..prefix.len()] != *prefix {
        return None;
    }
    Some(&path[prefix.len()..])
}

fn lookup(kind: &str, path: &[&str], flavour: Flavour) -> ListType {
    use Flavour::{Apply, Strategic};
    use ListType::{Atomic, Map, Set};

    // ObjectMeta, wherever it appears (object root, pod templates, job templates).
    match path {
        [.., "metadata", "finalizers"] => return Set,
        [.., "metadata", "ownerReferences"] => return UID,
        [.., "metadata", "managedFields"] => return Atomic,
        _ => {}
    }

    if let Some(rel) = pod_spec_rel(kind, path) {
        return pod_spec(rel, flavour);
    }

    match (kind, path, flavour) {
        // Conditions: patchMergeKey type on nearly every kind; Job's are listType atomic.
        ("Job", ["status", "conditions"], Apply) => Atomic,
        (_, ["status", "conditions"], _) => TYPE,

        // Pod status.
        ("Pod", ["status", "podIPs" | "hostIPs"], Strategic) => IP,
        ("Pod", ["status", "resourceClaimStatuses"], _) => NAME,

        // Node.
        ("Node", ["spec", "podCIDRs"], _) => Set,
        ("Node", ["status", "addresses"], Strategic) => TYPE,

        // Service.
        ("Service", ["spec", "ports"], Apply) => Map(&["port", "protocol"]),
        ("Service", ["spec", "ports"], Strategic) => Map(&["port"]),

        // ServiceAccount.
        ("ServiceAccount", ["secrets"], _) => NAME,

        _ => Atomic,
    }
}

/// List types inside a PodSpec; `rel` is the path below the PodSpec.
fn pod_spec(rel: &[&str], flavour: Flavour) -> ListType {
    use Flavour::{Apply, Strategic};
    use ListType::{Atomic, Map};

    match (rel, flavour) {
        (["containers" | "initContainers" | "ephemeralContainers"], _) => NAME,
        (
            [
                "containers" | "initContainers" | "ephemeralContainers",
                field,
            ],
            _,
        ) => match (*field, flavour) {
            ("ports", Apply) => Map(&["containerPort", "protocol"]),
            ("ports", Strategic) => Map(&["containerPort"]),
            ("env", _) => NAME,
            ("volumeMounts", _) => Map(&["mountPath"]),
            ("volumeDevices", _) => Map(&["devicePath"]),
            _ => Atomic,
        },
        (
            [
                "containers" | "initContainers" | "ephemeralContainers",
                "resources",
                "claims",
            ],
            Apply,
        ) => NAME,
        (["volumes"], _) => NAME,
        (["imagePullSecrets"], _) => NAME,
        (["hostAliases"], _) => IP,
        (["topologySpreadConstraints"], Apply) => Map(&["topologyKey", "whenUnsatisfiable"]),
        (["topologySpreadConstraints"], Strategic) => Map(&["topologyKey"]),
        (["resourceClaims"], _) => NAME,
        (["schedulingGates"], _) => NAME,
        _ => Atomic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ListType::{Atomic, Map, Set};

    #[test]
    fn pod_spec_everywhere() {
        for (kind, prefix) in [
            ("Pod", vec!["spec"]),
            ("Deployment", vec!["spec", "template", "spec"]),
            ("StatefulSet", vec!["spec", "template", "spec"]),
            ("DaemonSet", vec!["spec", "template", "spec"]),
            ("ReplicaSet", vec!["spec", "template", "spec"]),
            ("ReplicationController", vec!["spec", "template", "spec"]),
            ("Job", vec!["spec", "template", "spec"]),
            (
                "CronJob",
                vec!["spec", "jobTemplate", "spec", "template", "spec"],
            ),
        ] {
            let at = |rest: &[&'static str]| {
                let mut p = prefix.clone();
                p.extend_from_slice(rest);
                p
            };
            assert_eq!(list_type(kind, &at(&["containers"])), Map(&["name"]));
            assert_eq!(list_type(kind, &at(&["initContainers"])), Map(&["name"]));
            assert_eq!(
                list_type(kind, &at(&["ephemeralContainers"])),
                Map(&["name"])
            );
            assert_eq!(
                list_type(kind, &at(&["containers", "ports"])),
                Map(&["containerPort", "protocol"])
            );
            assert_eq!(
                patch_list_type(kind, &at(&["containers", "ports"])),
                Map(&["containerPort"])
            );
            assert_eq!(list_type(kind, &at(&["containers", "env"])), Map(&["name"]));
            assert_eq!(list_type(kind, &at(&["containers", "envFrom"])), Atomic);
            assert_eq!(list_type(kind, &at(&["containers", "args"])), Atomic);
            assert_eq!(
                list_type(kind, &at(&["initContainers", "volumeMounts"])),
                Map(&["mountPath"])
            );
            assert_eq!(
                list_type(kind, &at(&["containers", "volumeDevices"])),
                Map(&["devicePath"])
            );
            assert_eq!(list_type(kind, &at(&["volumes"])), Map(&["name"]));
            assert_eq!(list_type(kind, &at(&["imagePullSecrets"])), Map(&["name"]));
            assert_eq!(list_type(kind, &at(&["hostAliases"])), Map(&["ip"]));
            assert_eq!(list_type(kind, &at(&["tolerations"])), Atomic);
            assert_eq!(list_type(kind, &at(&["readinessGates"])), Atomic);
            assert_eq!(
                list_type(kind, &at(&["topologySpreadConstraints"])),
                Map(&["topologyKey", "whenUnsatisfiable"])
            );
            assert_eq!(
                patch_list_type(kind, &at(&["topologySpreadConstraints"])),
                Map(&["topologyKey"])
            );
            assert_eq!(list_type(kind, &at(&["resourceClaims"])), Map(&["name"]));
            assert!(retain_keys(kind, &at(&["volumes"])));
        }
    }

    #[test]
    fn metadata_and_status() {
        assert_eq!(list_type("ConfigMap", &["metadata", "finalizers"]), Set);
        assert_eq!(patch_list_type("Foo", &["metadata", "finalizers"]), Set);
        assert_eq!(
            list_type(
                "Deployment",
                &["spec", "template", "metadata", "finalizers"]
            ),
            Set
        );
        assert_eq!(
            list_type("Pod", &["metadata", "ownerReferences"]),
            Map(&["uid"])
        );
        assert_eq!(list_type("Pod", &["metadata", "managedFields"]), Atomic);
        assert_eq!(
            list_type("Deployment", &["status", "conditions"]),
            Map(&["type"])
        );
        assert_eq!(list_type("Pod", &["status", "conditions"]), Map(&["type"]));
        assert_eq!(list_type("Job", &["status", "conditions"]), Atomic);
        assert_eq!(
            patch_list_type("Job", &["status", "conditions"]),
            Map(&["type"])
        );
        assert_eq!(list_type("Pod", &["status", "containerStatuses"]), Atomic);
        assert_eq!(list_type("Pod", &["status", "podIPs"]), Atomic);
        assert_eq!(patch_list_type("Pod", &["status", "podIPs"]), Map(&["ip"]));
    }

    #[test]
    fn other_kinds() {
        assert_eq!(
            list_type("Service", &["spec", "ports"]),
            Map(&["port", "protocol"])
        );
        assert_eq!(
            patch_list_type("Service", &["spec", "ports"]),
            Map(&["port"])
        );
        assert_eq!(list_type("Endpoints", &["subsets"]), Atomic);
        assert_eq!(list_type("EndpointSlice", &["endpoints"]), Atomic);
        assert_eq!(list_type("Ingress", &["spec", "rules"]), Atomic);
        assert_eq!(list_type("Role", &["rules"]), Atomic);
        assert_eq!(list_type("ServiceAccount", &["secrets"]), Map(&["name"]));
        assert_eq!(
            list_type("PersistentVolumeClaim", &["spec", "accessModes"]),
            Atomic
        );
        assert_eq!(
            list_type("PersistentVolume", &["spec", "accessModes"]),
            Atomic
        );
        assert_eq!(
            list_type("PersistentVolume", &["spec", "mountOptions"]),
            Atomic
        );
        assert_eq!(
            list_type("ReplicationController", &["status", "conditions"]),
            Map(&["type"])
        );
        assert_eq!(
            list_type("StatefulSet", &["spec", "volumeClaimTemplates"]),
            Atomic
        );
        assert_eq!(
            list_type("HorizontalPodAutoscaler", &["spec", "metrics"]),
            Atomic
        );
        assert_eq!(list_type("Node", &["spec", "podCIDRs"]), Set);
        assert_eq!(list_type("Namespace", &["spec", "finalizers"]), Atomic);
        // A Pod's containers path means nothing on a Deployment.
        assert_eq!(list_type("Deployment", &["spec", "containers"]), Atomic);
        assert!(retain_keys("Deployment", &["spec", "strategy"]));
        assert!(!retain_keys("DaemonSet", &["spec", "updateStrategy"]));
        assert_eq!(Map(&["name"]).keys(), &["name"]);
        assert!(Atomic.keys().is_empty());
    }
}
