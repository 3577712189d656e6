//! LimitRange (`v1`): Kubernetes' `pkg/registry/core/limitrange/strategy.go`.

use super::prelude::*;

/// The LimitRange strategy.
#[derive(Debug)]
pub struct LimitRangeStrategy;

impl Strategy for LimitRangeStrategy {
    fn kind(&self) -> &'static str {
        "LimitRange"
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
        d::default_limit_range(m);
    }

    fn complete_create(&self, _obj: &mut Value) {}

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        v::validate_meta("LimitRange", true, obj)
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        v::validate_meta_update(old, new)
    }

    fn printer(&self) -> &'static Printer {
        &t::CREATED_AT
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "sample", "namespace": "default"}, "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}}]}})
    }
}
