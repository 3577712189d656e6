//! ServiceAccount (`v1`): Kubernetes' `pkg/registry/core/serviceaccount/strategy.go`.

use super::prelude::*;

/// The ServiceAccount strategy.
#[derive(Debug)]
pub struct ServiceAccountStrategy;

static PRINTER: Printer = Printer {
    columns: t::NAME_AGE_COLUMNS,
    cells: |obj, now| (vec![t::name(obj), t::age(obj, now)], None),
};

impl Strategy for ServiceAccountStrategy {
    fn kind(&self) -> &'static str {
        "ServiceAccount"
    }

    fn tracks_generation(&self) -> bool {
        false
    }

    fn allow_create_on_update(&self) -> bool {
        false
    }

    fn prepare_for_create(&self, _obj: &mut Value, _uid: &str) {}

    fn defaults(&self, _obj: &mut Value) {}

    fn complete_create(&self, _obj: &mut Value) {}

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        v::validate_meta("ServiceAccount", true, obj)
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        v::validate_meta_update(old, new)
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sample", "namespace": "default"}})
    }
}
