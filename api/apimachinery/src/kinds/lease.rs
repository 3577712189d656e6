//! Lease (`coordination.k8s.io/v1`): Kubernetes' `pkg/registry/coordination/lease/strategy.go`.

use super::prelude::*;

/// The Lease strategy.
#[derive(Debug)]
pub struct LeaseStrategy;

static PRINTER: Printer = Printer {
    columns: t::LEASE_COLUMNS,
    cells: |obj, now| {
        (
            vec![
                t::name(obj),
                t::s(t::str_at(obj, "spec.holderIdentity")),
                t::age(obj, now),
            ],
            None,
        )
    },
};

impl Strategy for LeaseStrategy {
    fn kind(&self) -> &'static str {
        "Lease"
    }

    fn tracks_generation(&self) -> bool {
        false
    }

    fn allow_create_on_update(&self) -> bool {
        true
    }

    fn prepare_for_create(&self, _obj: &mut Value, _uid: &str) {}

    fn defaults(&self, _obj: &mut Value) {}

    fn complete_create(&self, _obj: &mut Value) {}

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        v::validate_meta("Lease", true, obj)
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        v::validate_meta_update(old, new)
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "sample", "namespace": "default"}, "spec": {"holderIdentity": "sample"}})
    }
}
