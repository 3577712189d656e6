//! Node (`v1`): Kubernetes' `pkg/registry/core/node/strategy.go`.

use super::prelude::*;

/// The Node strategy.
#[derive(Debug)]
pub struct NodeStrategy;

static PRINTER: Printer = Printer {
    columns: t::NODE_COLUMNS,
    cells: |obj, now| (t::node_cells(obj, now), None),
};

impl Strategy for NodeStrategy {
    fn kind(&self) -> &'static str {
        "Node"
    }

    fn tracks_generation(&self) -> bool {
        false
    }

    fn allow_create_on_update(&self) -> bool {
        false
    }

    fn prepare_for_create(&self, _obj: &mut Value, _uid: &str) {
        // A Node's status comes from its kubelet, which creates it.
    }

    fn defaults(&self, _obj: &mut Value) {}

    fn complete_create(&self, _obj: &mut Value) {}

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        v::validate_meta("Node", false, obj)
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        v::validate_meta_update(old, new)
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn unserved_subresources(&self) -> &'static [&'static str] {
        &["proxy"]
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "sample"}})
    }
}
