//! Endpoints (`v1`): Kubernetes' `pkg/registry/core/endpoint/strategy.go`.

use super::prelude::*;

/// The Endpoints strategy.
#[derive(Debug)]
pub struct EndpointsStrategy;

static PRINTER: Printer = Printer {
    columns: t::ENDPOINTS_COLUMNS,
    cells: |obj, now| {
        (
            vec![
                t::name(obj),
                t::s(t::format_endpoints(obj)),
                t::age(obj, now),
            ],
            None,
        )
    },
};

impl Strategy for EndpointsStrategy {
    fn kind(&self) -> &'static str {
        "Endpoints"
    }

    fn tracks_generation(&self) -> bool {
        false
    }

    fn allow_create_on_update(&self) -> bool {
        true
    }

    fn prepare_for_create(&self, _obj: &mut Value, _uid: &str) {}

    fn defaults(&self, obj: &mut Value) {
        let Some(m) = obj.as_object_mut() else {
            return;
        };
        d::for_each_obj(m, "subsets", |s| {
            d::for_each_obj(s, "ports", |p| d::set_default(p, "protocol", json!("TCP")));
        });
    }

    fn complete_create(&self, _obj: &mut Value) {}

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        v::validate_meta("Endpoints", true, obj)
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        v::validate_meta_update(old, new)
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "sample", "namespace": "default"}})
    }
}
