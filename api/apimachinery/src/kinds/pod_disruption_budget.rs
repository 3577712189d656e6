//! PodDisruptionBudget (`policy/v1`): Kubernetes' `pkg/registry/policy/poddisruptionbudget/strategy.go`.

use super::prelude::*;

/// The PodDisruptionBudget strategy.
#[derive(Debug)]
pub struct PodDisruptionBudgetStrategy;

static PRINTER: Printer = Printer {
    columns: t::PDB_COLUMNS,
    cells: |obj, now| (t::pdb_cells(obj, now), None),
};

/// PodDisruptionBudget-specific checks (everything but `metadata`).
fn spec(obj: &Value, errs: &mut Vec<FieldError>) {
    v::validate_pdb(obj, errs);
}

/// The status of a new PodDisruptionBudget as Kubernetes serializes it (its Go status type has
/// fields without `omitempty`; clients generated from the schema want them).
pub(crate) fn empty_status() -> Value {
    zeros(&[
        "disruptionsAllowed",
        "currentHealthy",
        "desiredHealthy",
        "expectedPods",
    ])
}

impl Strategy for PodDisruptionBudgetStrategy {
    fn kind(&self) -> &'static str {
        "PodDisruptionBudget"
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
        let mut errs = v::validate_meta("PodDisruptionBudget", true, obj);
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
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "sample", "namespace": "default"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "sample"}}}})
    }
}
