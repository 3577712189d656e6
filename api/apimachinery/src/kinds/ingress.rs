//! Ingress (`networking.k8s.io/v1`): Kubernetes' `pkg/registry/networking/ingress/strategy.go`.

use super::prelude::*;

/// The Ingress strategy.
#[derive(Debug)]
pub struct IngressStrategy;

static PRINTER: Printer = Printer {
    columns: t::INGRESS_COLUMNS,
    cells: |obj, now| (t::ingress_cells(obj, now), None),
};

/// Ingress-specific checks (everything but `metadata`).
fn spec(obj: &Value, errs: &mut Vec<FieldError>) {
    v::validate_ingress(obj, errs);
}

/// The status of a new Ingress as Kubernetes serializes it (its Go status type has
/// fields without `omitempty`; clients generated from the schema want them).
pub(crate) fn empty_status() -> Value {
    json!({"loadBalancer": {}})
}

impl Strategy for IngressStrategy {
    fn kind(&self) -> &'static str {
        "Ingress"
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn allow_create_on_update(&self) -> bool {
        false
    }

    fn prepare_for_create(&self, obj: &mut Value, _uid: &str) {
        reset_status(obj);
    }

    fn defaults(&self, _obj: &mut Value) {}

    fn complete_create(&self, obj: &mut Value) {
        replace_status_if_set(obj, empty_status());
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta("Ingress", true, obj);
        spec(obj, &mut errs);
        errs
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta_update(old, new);
        spec(new, &mut errs);
        errs
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "sample", "namespace": "default"}, "spec": {"defaultBackend": {"service": {"name": "sample", "port": {"number": 80}}}}})
    }
}
