//! The registry of served resources: one row per (group, version, kind), each with the
//! strategy of its kind.

use crate::kinds;
use crate::strategy::{Lifecycle, Strategy};

/// One served resource type.
#[derive(Debug, Clone, Copy)]
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
    /// The kind's rules ([`crate::strategy`]); every row has one.
    pub strategy: &'static dyn Strategy,
}

/// Two rows are the same resource when they name the same group, version and plural (the
/// strategy follows from the kind).
impl PartialEq for ResourceInfo {
    fn eq(&self, other: &Self) -> bool {
        self.group == other.group
            && self.version == other.version
            && self.plural == other.plural
            && self.kind == other.kind
    }
}

impl Eq for ResourceInfo {}

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
            return &["create"];
        }
        match self.strategy.lifecycle() {
            Lifecycle::Namespace => NO_COLLECTION,
            Lifecycle::Object => ALL,
        }
    }
}

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];

macro_rules! res {
    ($group:literal, $version:literal, $kind:literal, $plural:literal, $singular:literal,
     ns=$ns:literal, short=$short:expr, cat=$cat:expr, status=$status:literal, scale=$scale:literal,
     strategy=$strategy:expr) => {
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
            review = false,
            strategy = $strategy
        )
    };
    ($group:literal, $version:literal, $kind:literal, $plural:literal, $singular:literal,
     ns=$ns:literal, short=$short:expr, cat=$cat:expr, status=$status:literal, scale=$scale:literal,
     review=$review:literal, strategy=$strategy:expr) => {
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
            strategy: $strategy,
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
        scale = false,
        strategy = &kinds::namespace::NamespaceStrategy
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
        scale = false,
        strategy = &kinds::pod::PodStrategy
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
        scale = true,
        strategy = &kinds::replication_controller::ReplicationControllerStrategy
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
        scale = false,
        strategy = &kinds::service::ServiceStrategy
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
        scale = false,
        strategy = &kinds::endpoints::EndpointsStrategy
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
        scale = false,
        strategy = &kinds::config_map::ConfigMapStrategy
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
        scale = false,
        strategy = &kinds::secret::SecretStrategy
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
        scale = false,
        strategy = &kinds::service_account::ServiceAccountStrategy
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
        scale = false,
        strategy = &kinds::event::EventStrategy
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
        scale = false,
        strategy = &kinds::node::NodeStrategy
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
        scale = false,
        strategy = &kinds::persistent_volume_claim::PersistentVolumeClaimStrategy
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
        scale = false,
        strategy = &kinds::persistent_volume::PersistentVolumeStrategy
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
        scale = false,
        strategy = &kinds::resource_quota::ResourceQuotaStrategy
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
        scale = false,
        strategy = &kinds::limit_range::LimitRangeStrategy
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
        scale = true,
        strategy = &kinds::deployment::DeploymentStrategy
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
        scale = true,
        strategy = &kinds::replica_set::ReplicaSetStrategy
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
        scale = true,
        strategy = &kinds::stateful_set::StatefulSetStrategy
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
        scale = false,
        strategy = &kinds::daemon_set::DaemonSetStrategy
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
        scale = false,
        strategy = &kinds::controller_revision::ControllerRevisionStrategy
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
        review = true,
        strategy = &kinds::self_subject_review::SelfSubjectReviewStrategy
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
        review = true,
        strategy = &kinds::self_subject_access_review::SelfSubjectAccessReviewStrategy
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
        review = true,
        strategy = &kinds::self_subject_rules_review::SelfSubjectRulesReviewStrategy
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
        scale = false,
        strategy = &kinds::job::JobStrategy
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
        scale = false,
        strategy = &kinds::cron_job::CronJobStrategy
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
        scale = false,
        strategy = &kinds::horizontal_pod_autoscaler::HorizontalPodAutoscalerStrategy
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
        scale = false,
        strategy = &kinds::horizontal_pod_autoscaler::HorizontalPodAutoscalerStrategy
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
        scale = false,
        strategy = &kinds::ingress::IngressStrategy
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
        scale = false,
        strategy = &kinds::ingress_class::IngressClassStrategy
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
        scale = false,
        strategy = &kinds::network_policy::NetworkPolicyStrategy
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
        scale = false,
        strategy = &kinds::endpoint_slice::EndpointSliceStrategy
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
        scale = false,
        strategy = &kinds::lease::LeaseStrategy
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
        scale = false,
        strategy = &kinds::pod_disruption_budget::PodDisruptionBudgetStrategy
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
        scale = false,
        strategy = &kinds::role::RoleStrategy
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
        scale = false,
        strategy = &kinds::cluster_role::ClusterRoleStrategy
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
        scale = false,
        strategy = &kinds::role_binding::RoleBindingStrategy
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
        scale = false,
        strategy = &kinds::cluster_role_binding::ClusterRoleBindingStrategy
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

/// The strategy of a served kind, by kind name (both HorizontalPodAutoscaler versions share
/// one). For tests and tools that hold a kind name; the registry takes the strategy from the
/// resource row it serves.
pub fn strategy_by_kind(kind: &str) -> Option<&'static dyn Strategy> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind)
        .map(|r| r.strategy)
}

/// The `Kind.group` Kubernetes prints in messages (`Deployment.apps`, `Pod`): a kind that
/// already contains a `.` is used as is, otherwise its group is looked up in the registry.
pub fn qualified_kind(kind: &str) -> String {
    if kind.contains('.') {
        return kind.to_string();
    }
    match RESOURCES.iter().find(|r| r.kind == kind) {
        Some(r) if !r.group.is_empty() => format!("{kind}.{}", r.group),
        _ => kind.to_string(),
    }
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
