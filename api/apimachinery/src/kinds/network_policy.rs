//! NetworkPolicy (`networking.k8s.io/v1`): Kubernetes' `pkg/registry/networking/networkpolicy/strategy.go`.

use super::prelude::*;

/// The NetworkPolicy strategy.
#[derive(Debug)]
pub struct NetworkPolicyStrategy;

static PRINTER: Printer = Printer {
    columns: t::NETWORK_POLICY_COLUMNS,
    cells: |obj, now| {
        (
            vec![
                t::name(obj),
                t::s(t::format_label_selector(t::at(obj, "spec.podSelector"))),
                t::age(obj, now),
            ],
            None,
        )
    },
};

impl Strategy for NetworkPolicyStrategy {
    fn kind(&self) -> &'static str {
        "NetworkPolicy"
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn allow_create_on_update(&self) -> bool {
        false
    }

    fn prepare_for_create(&self, _obj: &mut Value, _uid: &str) {}

    fn defaults(&self, obj: &mut Value) {
        let Some(m) = obj.as_object_mut() else {
            return;
        };
        d::default_network_policy(m);
    }

    fn complete_create(&self, _obj: &mut Value) {}

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        v::validate_meta("NetworkPolicy", true, obj)
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        v::validate_meta_update(old, new)
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "sample", "namespace": "default"}, "spec": {"podSelector": {}}})
    }
}
