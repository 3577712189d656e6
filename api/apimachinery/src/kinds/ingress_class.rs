//! IngressClass (`networking.k8s.io/v1`): Kubernetes' `pkg/registry/networking/ingressclass/strategy.go`.

use super::prelude::*;

/// The IngressClass strategy.
#[derive(Debug)]
pub struct IngressClassStrategy;

static PRINTER: Printer = Printer {
    columns: t::INGRESS_CLASS_COLUMNS,
    cells: |obj, now| (t::ingress_class_cells(obj, now), None),
};

impl Strategy for IngressClassStrategy {
    fn kind(&self) -> &'static str {
        "IngressClass"
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn allow_create_on_update(&self) -> bool {
        false
    }

    fn prepare_for_create(&self, _obj: &mut Value, _uid: &str) {}

    fn defaults(&self, _obj: &mut Value) {}

    fn complete_create(&self, _obj: &mut Value) {}

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        v::validate_meta("IngressClass", false, obj)
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        v::validate_meta_update(old, new)
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "sample"}, "spec": {"controller": "example.com/ingress"}})
    }
}
