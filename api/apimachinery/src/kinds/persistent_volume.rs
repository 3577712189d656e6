//! PersistentVolume (`v1`): Kubernetes' `pkg/registry/core/persistentvolume/strategy.go`.

use super::prelude::*;

/// The PersistentVolume strategy.
#[derive(Debug)]
pub struct PersistentVolumeStrategy;

static PRINTER: Printer = Printer {
    columns: t::PV_COLUMNS,
    cells: |obj, now| (t::pv_cells(obj, now), None),
};

/// PersistentVolume-specific checks (everything but `metadata`).
fn spec(obj: &Value, errs: &mut Vec<FieldError>) {
    v::validate_pv(obj, errs);
}

impl Strategy for PersistentVolumeStrategy {
    fn kind(&self) -> &'static str {
        "PersistentVolume"
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
        d::default_pv(m);
    }

    fn complete_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({"phase": "Pending"}));
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta("PersistentVolume", false, obj);
        spec(obj, &mut errs);
        errs
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta_update(old, new);
        spec(new, &mut errs);
        v::validate_pv_update(old, new, &mut errs);
        errs
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "sample"}, "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/sample"}}})
    }
}
