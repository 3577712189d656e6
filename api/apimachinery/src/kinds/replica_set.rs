//! ReplicaSet (`apps/v1`): Kubernetes' `pkg/registry/apps/replicaset/strategy.go`.

use super::prelude::*;

/// The ReplicaSet strategy.
#[derive(Debug)]
pub struct ReplicaSetStrategy;

static PRINTER: Printer = Printer {
    columns: t::REPLICA_SET_COLUMNS,
    cells: |obj, now| (t::replica_set_cells(obj, now), None),
};

/// ReplicaSet-specific checks (everything but `metadata`).
fn spec(obj: &Value, errs: &mut Vec<FieldError>) {
    v::validate_replicated_spec("ReplicaSet", v::or_null(v::get(obj, "spec")), errs);
}

/// The status of a new ReplicaSet as Kubernetes serializes it (its Go status type has
/// fields without `omitempty`; clients generated from the schema want them).
pub(crate) fn empty_status() -> Value {
    zeros(&["replicas"])
}

impl Strategy for ReplicaSetStrategy {
    fn kind(&self) -> &'static str {
        "ReplicaSet"
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn allow_create_on_update(&self) -> bool {
        false
    }

    fn prepare_for_create(&self, obj: &mut Value, _uid: &str) {
        reset_status(obj);
    }

    fn defaults(&self, obj: &mut Value) {
        let Some(m) = obj.as_object_mut() else {
            return;
        };
        let Some(spec) = d::ensure_obj(m, "spec") else {
            return;
        };
        if spec.get("replicas").is_none_or(Value::is_null) {
            spec.insert("replicas".into(), json!(1));
        }
        d::default_template(spec, d::SpecKind::Template);
    }

    fn complete_create(&self, obj: &mut Value) {
        replace_status_if_set(obj, empty_status());
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta("ReplicaSet", true, obj);
        spec(obj, &mut errs);
        errs
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta_update(old, new);
        spec(new, &mut errs);
        let os = v::or_null(v::get(old, "spec"));
        let ns = v::or_null(v::get(new, "spec"));
        errs.extend(v::immutable(
            v::get(os, "selector"),
            v::get(ns, "selector"),
            "spec.selector",
            v::go_label_selector(v::or_null(v::get(ns, "selector"))),
        ));
        errs
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "sample", "namespace": "default"}, "spec": {"selector": {"matchLabels": {"app": "sample"}}, "template": {"metadata": {"labels": {"app": "sample"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    }
}
