//! PersistentVolumeClaim (`v1`): Kubernetes' `pkg/registry/core/persistentvolumeclaim/strategy.go`.

use super::prelude::*;

/// The PersistentVolumeClaim strategy.
#[derive(Debug)]
pub struct PersistentVolumeClaimStrategy;

static PRINTER: Printer = Printer {
    columns: t::PVC_COLUMNS,
    cells: |obj, now| (t::pvc_cells(obj, now), None),
};

/// PersistentVolumeClaim-specific checks (everything but `metadata`).
fn spec(obj: &Value, errs: &mut Vec<FieldError>) {
    v::validate_pvc(obj, errs);
}

impl Strategy for PersistentVolumeClaimStrategy {
    fn kind(&self) -> &'static str {
        "PersistentVolumeClaim"
    }

    fn tracks_generation(&self) -> bool {
        false
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
        d::default_pvc(m);
    }

    fn complete_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({"phase": "Pending"}));
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta("PersistentVolumeClaim", true, obj);
        spec(obj, &mut errs);
        errs
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta_update(old, new);
        spec(new, &mut errs);
        let os = v::or_null(v::get(old, "spec"));
        let ns = v::or_null(v::get(new, "spec"));
        for f in [
            "accessModes",
            "volumeMode",
            "storageClassName",
            "selector",
            "volumeName",
            "dataSource",
        ] {
            let settable = (f == "volumeName" && v::gs(os, f).is_empty())
                || (f == "storageClassName" && v::get(os, f).is_none());
            if !settable && !v::semantic_eq(v::get(os, f), v::get(ns, f)) {
                errs.push(FieldError::forbidden(
                    "spec",
                    "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
                ));
                break;
            }
        }
        errs
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "sample", "namespace": "default"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    }
}
