//! ConfigMap (`v1`): Kubernetes' `pkg/registry/core/configmap/strategy.go`.

use super::prelude::*;

/// The ConfigMap strategy.
#[derive(Debug)]
pub struct ConfigMapStrategy;

static PRINTER: Printer = Printer {
    columns: t::CONFIG_MAP_COLUMNS,
    cells: |obj, now| {
        (
            vec![
                t::name(obj),
                json!(t::obj_len(t::at(obj, "data")) + t::obj_len(t::at(obj, "binaryData"))),
                t::age(obj, now),
            ],
            None,
        )
    },
};

/// ConfigMap-specific checks (everything but `metadata`).
fn spec(obj: &Value, errs: &mut Vec<FieldError>) {
    v::validate_config_map(obj, errs);
}

impl Strategy for ConfigMapStrategy {
    fn kind(&self) -> &'static str {
        "ConfigMap"
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
        let mut errs = v::validate_meta("ConfigMap", true, obj);
        spec(obj, &mut errs);
        errs
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta_update(old, new);
        v::immutable_data("ConfigMap", old, new, &mut errs);
        spec(new, &mut errs);
        errs
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sample", "namespace": "default"}, "data": {"k": "v"}})
    }
}
