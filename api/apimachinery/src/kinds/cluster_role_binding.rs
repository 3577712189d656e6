//! ClusterRoleBinding (`rbac.authorization.k8s.io/v1`): Kubernetes' `pkg/registry/rbac/clusterrolebinding/strategy.go`.

use super::prelude::*;

/// The ClusterRoleBinding strategy.
#[derive(Debug)]
pub struct ClusterRoleBindingStrategy;

static PRINTER: Printer = Printer {
    columns: t::CLUSTER_ROLE_BINDING_COLUMNS,
    cells: |obj, now| (t::role_binding_cells(obj, now), None),
};

/// ClusterRoleBinding-specific checks (everything but `metadata`).
fn spec(obj: &Value, errs: &mut Vec<FieldError>) {
    v::validate_rbac_binding(obj, errs);
}

impl Strategy for ClusterRoleBindingStrategy {
    fn kind(&self) -> &'static str {
        "ClusterRoleBinding"
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
        d::default_rbac_binding(m);
    }

    fn complete_create(&self, _obj: &mut Value) {}

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta("ClusterRoleBinding", false, obj);
        spec(obj, &mut errs);
        errs
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta_update(old, new);
        spec(new, &mut errs);
        v::validate_role_ref_unchanged(old, new, &mut errs);
        errs
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "sample"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "sample"}, "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}]})
    }
}
