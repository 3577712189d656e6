//! EndpointSlice (`discovery.k8s.io/v1`): Kubernetes' `pkg/registry/discovery/endpointslice/strategy.go`.

use super::prelude::*;

/// The EndpointSlice strategy.
#[derive(Debug)]
pub struct EndpointSliceStrategy;

static PRINTER: Printer = Printer {
    columns: t::ENDPOINT_SLICE_COLUMNS,
    cells: |obj, now| (t::endpoint_slice_cells(obj, now), None),
};

impl Strategy for EndpointSliceStrategy {
    fn kind(&self) -> &'static str {
        "EndpointSlice"
    }

    fn tracks_generation(&self) -> bool {
        false
    }

    fn allow_create_on_update(&self) -> bool {
        false
    }

    fn prepare_for_create(&self, _obj: &mut Value, _uid: &str) {}

    fn defaults(&self, obj: &mut Value) {
        let Some(m) = obj.as_object_mut() else {
            return;
        };
        d::for_each_obj(m, "ports", |p| {
            if p.get("name").is_none_or(Value::is_null) {
                p.insert("name".into(), json!(""));
            }
            d::set_default(p, "protocol", json!("TCP"));
        });
    }

    fn complete_create(&self, _obj: &mut Value) {}

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        v::validate_meta("EndpointSlice", true, obj)
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        v::validate_meta_update(old, new)
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "sample", "namespace": "default"}, "addressType": "IPv4", "endpoints": []})
    }
}
