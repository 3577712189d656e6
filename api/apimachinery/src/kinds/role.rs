//! Role (`rbac.authorization.k8s.io/v1`): Kubernetes' `pkg/registry/rbac/role/strategy.go`.

use super::prelude::*;

/// The Role strategy.
#[derive(Debug)]
pub struct RoleStrategy;

impl Strategy for RoleStrategy {
    fn kind(&self) -> &'static str {
        "Role"
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
        v::validate_meta("Role", true, obj)
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        v::validate_meta_update(old, new)
    }

    fn printer(&self) -> &'static Printer {
        &t::CREATED_AT
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "sample", "namespace": "default"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})
    }
}
