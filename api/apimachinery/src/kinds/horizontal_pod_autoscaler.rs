//! HorizontalPodAutoscaler (`autoscaling/v2`): Kubernetes' `pkg/registry/autoscaling/horizontalpodautoscaler/strategy.go`.

use super::prelude::*;

/// The HorizontalPodAutoscaler strategy.
#[derive(Debug)]
pub struct HorizontalPodAutoscalerStrategy;

static PRINTER: Printer = Printer {
    columns: t::HPA_COLUMNS,
    cells: |obj, now| (t::hpa_cells(obj, now), None),
};

/// HorizontalPodAutoscaler-specific checks (everything but `metadata`).
fn spec(obj: &Value, errs: &mut Vec<FieldError>) {
    v::validate_hpa(obj, errs);
}

/// The status of a new HorizontalPodAutoscaler as Kubernetes serializes it (its Go status type has
/// fields without `omitempty`; clients generated from the schema want them).
pub(crate) fn empty_status() -> Value {
    // v1 requires both counts; v2 requires desiredReplicas and takes currentReplicas.
    zeros(&["currentReplicas", "desiredReplicas"])
}

impl Strategy for HorizontalPodAutoscalerStrategy {
    fn kind(&self) -> &'static str {
        "HorizontalPodAutoscaler"
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

    fn defaults(&self, obj: &mut Value) {
        let Some(m) = obj.as_object_mut() else {
            return;
        };
        d::default_hpa(m);
    }

    fn complete_create(&self, obj: &mut Value) {
        replace_status_if_set(obj, empty_status());
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta("HorizontalPodAutoscaler", true, obj);
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
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "sample", "namespace": "default"}, "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "sample"}, "maxReplicas": 3}})
    }
}
