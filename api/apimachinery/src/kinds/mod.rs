//! One file per served kind, each holding that kind's [`crate::strategy::Strategy`]: its
//! defaults (moved from the old `match kind` in `defaults`), its validation entry points (the shared checks —
//! pod specs for Pods and every pod template, object metadata, quantities — stay in
//! [`crate::validation`]), its table printer (the cell functions stay in [`crate::table`]),
//! whether it tracks generation or creates on PUT, and a sample object.
//!
//! A resource row in [`crate::resources::RESOURCES`] names its strategy, so no kind is served
//! without one; `tests::every_served_kind_has_its_strategy` checks each names its row's kind.

use serde_json::{Map, Value, json};

/// What every kind file imports.
mod prelude {
    pub(crate) use super::{replace_status_if_set, reset_status, zeros};
    pub(crate) use crate::defaults as d;
    pub(crate) use crate::strategy::{Allocations, Lifecycle, ScaleSelector, Strategy};
    pub(crate) use crate::table::{self as t, Printer};
    pub(crate) use crate::validation::{self as v, FieldError};
    pub(crate) use serde_json::{Map, Value, json};
}

pub mod cluster_role;
pub mod cluster_role_binding;
pub mod config_map;
pub mod controller_revision;
pub mod cron_job;
pub mod daemon_set;
pub mod deployment;
pub mod endpoint_slice;
pub mod endpoints;
pub mod event;
pub mod horizontal_pod_autoscaler;
pub mod ingress;
pub mod ingress_class;
pub mod job;
pub mod lease;
pub mod limit_range;
pub mod namespace;
pub mod network_policy;
pub mod node;
pub mod persistent_volume;
pub mod persistent_volume_claim;
pub mod pod;
pub mod pod_disruption_budget;
pub mod replica_set;
pub mod replication_controller;
pub mod resource_quota;
pub mod role;
pub mod role_binding;
pub mod secret;
pub mod self_subject_access_review;
pub mod self_subject_review;
pub mod self_subject_rules_review;
pub mod service;
pub mod service_account;
pub mod stateful_set;

/// `PrepareForCreate`'s status reset of a kind with a status: a new object's status is the
/// server's to set.
pub(crate) fn reset_status(obj: &mut Value) {
    obj["status"] = json!({});
}

/// After defaulting a new object that has a status: its status as Kubernetes serializes it.
pub(crate) fn replace_status_if_set(obj: &mut Value, status: Value) {
    if let Some(m) = obj.as_object_mut()
        && m.contains_key("status")
    {
        m.insert("status".into(), status);
    }
}

/// A status of zero counts (Go fields without `omitempty`).
pub(crate) fn zeros(fields: &[&str]) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|f| (f.to_string(), json!(0)))
            .collect::<Map<_, _>>(),
    )
}

#[cfg(test)]
mod tests {
    use crate::resources::{RESOURCES, strategy_by_kind};
    use crate::strategy::Strategy;

    /// Totality: every served resource names a strategy for its own kind (the `res!` macro
    /// already refuses a row without one).
    #[test]
    fn every_served_kind_has_its_strategy() {
        for r in RESOURCES {
            assert_eq!(r.strategy.kind(), r.kind, "{}/{}", r.group, r.plural);
            assert!(std::ptr::eq(
                strategy_by_kind(r.kind).unwrap() as *const dyn Strategy as *const u8,
                r.strategy as *const dyn Strategy as *const u8
            ));
        }
    }

    /// Each sample is a valid object of its kind, as the registry would store it: defaulted,
    /// prepared for create, then validated.
    #[test]
    fn every_sample_is_valid() {
        for r in RESOURCES {
            let s = r.strategy;
            let mut obj = s.sample();
            assert_eq!(obj["kind"], r.kind);
            if r.review {
                assert!(s.validate(&obj).is_empty(), "{}", r.kind);
                continue;
            }
            let api_version = obj["apiVersion"].as_str().unwrap_or("");
            assert!(crate::resources::lookup_kind(api_version, r.kind).is_some());
            assert_eq!(obj["metadata"].get("namespace").is_some(), r.namespaced);
            s.prepare_for_create(&mut obj, "00000000-0000-0000-0000-000000000001");
            s.defaults(&mut obj);
            s.complete_create(&mut obj);
            let errs = s.validate(&obj);
            assert!(errs.is_empty(), "{}: {errs:?}", r.kind);
            let errs = s.validate_update(&obj, &obj);
            assert!(errs.is_empty(), "{} update: {errs:?}", r.kind);
        }
    }
}
