//! Typed decoding of stored JSON through k8s-openapi: catches type errors (400) and finds
//! fields the schema does not know (strict field validation).

use serde_json::Value;

/// Decodes `obj` as the k8s-openapi type of `kind` and re-encodes it. `Err` carries the
/// decoder's message (a malformed body); `Ok` holds the paths of fields the type does not
/// know, like `spec.foo` or `spec.containers[0].bar`.
pub fn unknown_fields(kind: &str, obj: &Value) -> Result<Vec<String>, String> {
    macro_rules! kinds {
        ($($kind:literal => $ty:ty),* $(,)?) => {
            match kind {
                $($kind => roundtrip::<$ty>(obj),)*
                _ => return Ok(Vec::new()),
            }
        };
    }
    use k8s_openapi::api::{
        apps::v1 as apps, authentication::v1 as authentication, authorization::v1 as authorization,
        autoscaling::v2 as autoscaling, batch::v1 as batch, coordination::v1 as coordination,
        core::v1 as core, discovery::v1 as discovery, networking::v1 as networking,
        policy::v1 as policy, rbac::v1 as rbac,
    };
    // The one kind served in two versions with different shapes.
    if kind == "HorizontalPodAutoscaler"
        && obj.get("apiVersion").and_then(Value::as_str) == Some("autoscaling/v1")
    {
        let back = roundtrip::<k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler>(obj)?;
        let mut out = Vec::new();
        diff(obj, &back, String::new(), &mut out);
        return Ok(out);
    }
    let back = kinds! {
        "Namespace" => core::Namespace,
        "Pod" => core::Pod,
        "ReplicationController" => core::ReplicationController,
        "Service" => core::Service,
        "Endpoints" => core::Endpoints,
        "ConfigMap" => core::ConfigMap,
        "Secret" => core::Secret,
        "ServiceAccount" => core::ServiceAccount,
        "Event" => core::Event,
        "Node" => core::Node,
        "PersistentVolumeClaim" => core::PersistentVolumeClaim,
        "PersistentVolume" => core::PersistentVolume,
        "ResourceQuota" => core::ResourceQuota,
        "LimitRange" => core::LimitRange,
        "Deployment" => apps::Deployment,
        "ReplicaSet" => apps::ReplicaSet,
        "StatefulSet" => apps::StatefulSet,
        "DaemonSet" => apps::DaemonSet,
        "ControllerRevision" => apps::ControllerRevision,
        "SelfSubjectReview" => authentication::SelfSubjectReview,
        "SelfSubjectAccessReview" => authorization::SelfSubjectAccessReview,
        "SelfSubjectRulesReview" => authorization::SelfSubjectRulesReview,
        "Job" => batch::Job,
        "CronJob" => batch::CronJob,
        "HorizontalPodAutoscaler" => autoscaling::HorizontalPodAutoscaler,
        "Ingress" => networking::Ingress,
        "IngressClass" => networking::IngressClass,
        "NetworkPolicy" => networking::NetworkPolicy,
        "EndpointSlice" => discovery::EndpointSlice,
        "Lease" => coordination::Lease,
        "PodDisruptionBudget" => policy::PodDisruptionBudget,
        "Role" => rbac::Role,
        "ClusterRole" => rbac::ClusterRole,
        "RoleBinding" => rbac::RoleBinding,
        "ClusterRoleBinding" => rbac::ClusterRoleBinding,
    }?;
    let mut out = Vec::new();
    diff(obj, &back, String::new(), &mut out);
    Ok(out)
}

fn roundtrip<T: serde::de::DeserializeOwned + serde::Serialize>(
    obj: &Value,
) -> Result<Value, String> {
    let typed: T = serde_json::from_value(obj.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

fn diff(input: &Value, known: &Value, path: String, out: &mut Vec<String>) {
    match (input, known) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    Some(kv) => diff(v, kv, p, out),
                    // A null or an empty value the type drops is not an unknown field.
                    None if v.is_null() => {}
                    None if path.is_empty() && (k == "apiVersion" || k == "kind") => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
                diff(x, y, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_unknown_fields_and_type_errors() {
        let d = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a","labels":{}},
            "spec":{"replicas":1,"bogus":true,"selector":{"matchLabels":{"a":"b"}},
            "template":{"spec":{"containers":[{"name":"c","image":"i","imagePullPolicy":"Always","extra":1}]}}}});
        assert_eq!(
            unknown_fields("Deployment", &d).unwrap(),
            ["spec.bogus", "spec.template.spec.containers[0].extra"]
        );
        let bad = json!({"spec":{"replicas":"three","selector":{},"template":{}}});
        assert!(
            unknown_fields("Deployment", &bad)
                .unwrap_err()
                .contains("invalid type")
        );
        assert!(unknown_fields("Widget", &bad).unwrap().is_empty());
    }
}
