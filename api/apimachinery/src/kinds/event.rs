//! Event (`v1`): Kubernetes' `pkg/registry/core/event/strategy.go`.

use super::prelude::*;

/// The Event strategy.
#[derive(Debug)]
pub struct EventStrategy;

static PRINTER: Printer = Printer {
    columns: t::EVENT_COLUMNS,
    cells: |obj, now| (t::event_cells(obj, now), None),
};

impl Strategy for EventStrategy {
    fn kind(&self) -> &'static str {
        "Event"
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
        v::validate_meta("Event", true, obj)
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        v::validate_meta_update(old, new)
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "sample", "namespace": "default"}, "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}})
    }
}
