//! ControllerRevision (`apps/v1`): Kubernetes' `pkg/registry/apps/controllerrevision/strategy.go`.

use super::prelude::*;

/// The ControllerRevision strategy.
#[derive(Debug)]
pub struct ControllerRevisionStrategy;

static PRINTER: Printer = Printer {
    columns: t::CONTROLLER_REVISION_COLUMNS,
    cells: |obj, now| (t::controller_revision_cells(obj, now), None),
};

impl Strategy for ControllerRevisionStrategy {
    fn kind(&self) -> &'static str {
        "ControllerRevision"
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
        v::validate_meta("ControllerRevision", true, obj)
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        v::validate_meta_update(old, new)
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "sample", "namespace": "default"}, "revision": 1})
    }
}
