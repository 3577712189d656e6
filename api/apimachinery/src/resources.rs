//! The registry of served resources: one row per (group, version, kind).

/// One served resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group; `""` is the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Lower-case plural, the URL path segment (`deployments`).
    pub plural: &'static str,
    /// Lower-case singular (`deployment`).
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    /// Has a `/status` subresource.
    pub status: bool,
    /// Has a `/scale` subresource.
    pub scale: bool,
    /// A review (`SelfSubjectAccessReview`, ...): the only verb is `create`, which answers
    /// a question about the caller ([`crate::review`]); nothing is ever stored, listed or
    /// watched.
    pub review: bool,
}

impl ResourceInfo {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The `List` kind (`DeploymentList`).
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Storage key prefix shared by every version of this resource
    /// (`apps/deployments`, `core/pods`).
    pub fn storage_prefix(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        format!("{group}/{}", self.plural)
    }

    /// URL prefix of the group-version (`/api/v1`, `/apis/apps/v1`).
    pub fn gv_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The verbs discovery lists. Namespaces have no `deletecollection` in Kubernetes (the
    /// API server answers 405): deleting every namespace at once is not a request to honour.
    /// A review only takes `create`.
    pub fn verbs(&self) -> &'static [&'static str] {
        const ALL: &[&str] = &[
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ];
        const NO_COLLECTION: &[&str] = &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ];
        if self.review {
            &["create"]
        } else if self.kind == "Namespace" {
            NO_COLLECTION
        } else {
            ALL
        }
    }
}

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];

macro_rules! res {
    ($group:literal, $version:literal, $kind:literal, $plural:literal, $singular:literal,
     ns=$ns:literal, short=$short:expr, cat=$cat:expr, status=$status:literal, scale=$scale:literal) => {
        res!(
            $group,
            $version,
            $kind,
            $plural,
            $singular,
            ns = $ns,
            short = $short,
            cat = $cat,
            status = $status,
            scale = $scale,
            review = false
        )
    };
    ($group:literal, $version:literal, $kind:literal, $plural:literal, $singular:literal,
     ns=$ns:literal, short=$short:expr, cat=$cat:expr, status=$status:literal, scale=$scale:literal,
     review=$review:literal) => {
        ResourceInfo {
            group: $group,
            version: $version,
            kind: $kind,
            plural: $plural,
            singular: $singular,
            namespaced: $ns,
            short_names: $short,
            categories: $cat,
            status: $status,
            scale: $scale,
            review: $review,
        }
    };
}

/// Every served resource, in discovery order.
pub static RESOURCES: &[ResourceInfo] = &[
    res!(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        ns = false,
        short = &["ns"],
        cat = NONE,
        status = true,
        scale = false
    ),
    res!(
        "",
        "v1",
        "Pod",
        "pods",
        "pod",
        ns = true,
        short = &["po"],
        cat = ALL,
        status = true,
        scale = false
    ),
    res!(
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        "replicationcontroller",
        ns = true,
        short = &["rc"],
        cat = ALL,
        status = true,
        scale = true
    ),
    res!(
        "",
        "v1",
        "Service",
        "services",
        "service",
        ns = true,
        short = &["svc"],
        cat = ALL,
        status = true,
        scale = false
    ),
    res!(
        "",
        "v1",
        "Endpoints",
        "endpoints",
        "endpoints",
        ns = true,
        short = &["ep"],
        cat = NONE,
        status = false,
        scale = false
    ),
    res!(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        "configmap",
        ns = true,
        short = &["cm"],
        cat = NONE,
        status = false,
        scale = false
    ),
    res!(
        "",
        "v1",
        "Secret",
        "secrets",
        "secret",
        ns = true,
        short = NONE,
        cat = NONE,
        status = false,
        scale = false
    ),
    res!(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        ns = true,
        short = &["sa"],
        cat = NONE,
        status = false,
        scale = false
    ),
    res!(
        "",
        "v1",
        "Event",
        "events",
        "event",
        ns = true,
        short = &["ev"],
        cat = NONE,
        status = false,
        scale = false
    ),
    res!(
        "",
        "v1",
        "Node",
        "nodes",
        "node",
        ns = false,
        short = &["no"],
        cat = NONE,
        status = true,
        scale = false
    ),
    res!(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        ns = true,
        short = &["pvc"],
        cat = NONE,
        status = true,
        scale = false
    ),
    res!(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        "persistentvolume",
        ns = false,
        short = &["pv"],
        cat = NONE,
        status = true,
        scale = false
    ),
    res!(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        "resourcequota",
        ns = true,
        short = &["quota"],
        cat = NONE,
        status = true,
        scale = false
    ),
    res!(
        "",
        "v1",
        "LimitRange",
        "limitranges",
        "limitrange",
        ns = true,
        short = &["limits"],
        cat = NONE,
        status = false,
        scale = false
    ),
    res!(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        ns = true,
        short = &["deploy"],
        cat = ALL,
        status = true,
        scale = true
    ),
    res!(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        ns = true,
        short = &["rs"],
        cat = ALL,
        status = true,
        scale = true
    ),
    res!(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        ns = true,
        short = &["sts"],
        cat = ALL,
        status = true,
        scale = true
    ),
    res!(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        "daemonset",
        ns = true,
        short = &["ds"],
        cat = ALL,
        status = true,
        scale = false
    ),
    res!(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        "controllerrevision",
        ns = true,
        short = NONE,
        cat = NONE,
        status = false,
        scale = false
    ),
    res!(
        "authentication.k8s.io",
        "v1",
        "SelfSubjectReview",
        "selfsubjectreviews",
        "selfsubjectreview",
        ns = false,
        short = NONE,
        cat = NONE,
        status = false,
        scale = false,
        review = true
    ),
    res!(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        ns = false,
        short = NONE,
        cat = NONE,
        status = false,
        scale = false,
        review = true
    ),
    res!(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        "selfsubjectrulesreview",
        ns = false,
        short = NONE,
        cat = NONE,
        status = false,
        scale = false,
        review = true
    ),
    res!(
        "batch",
        "v1",
        "Job",
        "jobs",
        "job",
        ns = true,
        short = NONE,
        cat = ALL,
        status = true,
        scale = false
    ),
    res!(
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        "cronjob",
        ns = true,
        short = &["cj"],
        cat = ALL,
        status = true,
        scale = false
    ),
    res!(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        ns = true,
        short = &["hpa"],
        cat = ALL,
        status = true,
        scale = false
    ),
    res!(
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        ns = true,
        short = &["hpa"],
        cat = ALL,
        status = true,
        scale = false
    ),
    res!(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        "ingress",
        ns = true,
        short = &["ing"],
        cat = NONE,
        status = true,
        scale = false
    ),
    res!(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        "ingressclass",
        ns = false,
        short = NONE,
        cat = NONE,
        status = false,
        scale = false
    ),
    res!(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        "networkpolicy",
        ns = true,
        short = &["netpol"],
        cat = NONE,
        status = false,
        scale = false
    ),
    res!(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        "endpointslice",
        ns = true,
        short = NONE,
        cat = NONE,
        status = false,
        scale = false
    ),
    res!(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        "lease",
        ns = true,
        short = NONE,
        cat = NONE,
        status = false,
        scale = false
    ),
    res!(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        ns = true,
        short = &["pdb"],
        cat = NONE,
        status = true,
        scale = false
    ),
    res!(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        "role",
        ns = true,
        short = NONE,
        cat = NONE,
        status = false,
        scale = false
    ),
    res!(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        "clusterrole",
        ns = false,
        short = NONE,
        cat = NONE,
        status = false,
        scale = false
    ),
    res!(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        "rolebinding",
        ns = true,
        short = NONE,
        cat = NONE,
        status = false,
        scale = false
    ),
    res!(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        "clusterrolebinding",
        ns = false,
        short = NONE,
        cat = NONE,
        status = false,
        scale = false
    ),
];

/// The resources whose objects are stored (every one but the reviews).
pub fn stored() -> impl Iterator<Item = &'static ResourceInfo> {
    RESOURCES.iter().filter(|r| !r.review)
}

/// Finds a resource by group, version and plural.
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Finds a resource by apiVersion (`apps/v1`) and kind.
pub fn lookup_kind(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    let (group, version) = split_api_version(api_version);
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// `apps/v1` -> (`apps`, `v1`); `v1` -> (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// The served group-versions, in discovery order, with the preferred version first.
pub fn group_versions() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for r in RESOURCES {
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) => {
                if !versions.contains(&r.version) {
                    versions.push(r.version);
                }
            }
            None => out.push((r.group, vec![r.version])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(
            lookup("apps", "v1", "deployments").unwrap().kind,
            "Deployment"
        );
        assert_eq!(lookup_kind("v1", "Pod").unwrap().plural, "pods");
        assert_eq!(
            lookup_kind("autoscaling/v1", "HorizontalPodAutoscaler")
                .unwrap()
                .storage_prefix(),
            lookup_kind("autoscaling/v2", "HorizontalPodAutoscaler")
                .unwrap()
                .storage_prefix()
        );
        let gvs = group_versions();
        assert_eq!(gvs[0], ("", vec!["v1"]));
        let ssar = lookup("authorization.k8s.io", "v1", "selfsubjectaccessreviews").unwrap();
        assert!(ssar.review && !ssar.namespaced);
        assert_eq!(ssar.verbs(), ["create"]);
        assert_eq!(lookup("", "v1", "pods").unwrap().verbs().len(), 8);
        assert!(stored().all(|r| !r.review));
        assert_eq!(stored().count() + 3, RESOURCES.len());
        assert!(gvs.contains(&("autoscaling", vec!["v2", "v1"])));
    }
}
