//! Deployment (`apps/v1`): Kubernetes' `pkg/registry/apps/deployment/strategy.go`.

use super::prelude::*;

/// The Deployment strategy.
#[derive(Debug)]
pub struct DeploymentStrategy;

static PRINTER: Printer = Printer {
    columns: t::DEPLOYMENT_COLUMNS,
    cells: |obj, now| (t::deployment_cells(obj, now), None),
};

/// Deployment-specific checks (everything but `metadata`).
fn spec(obj: &Value, errs: &mut Vec<FieldError>) {
    v::validate_replicated_spec("Deployment", v::or_null(v::get(obj, "spec")), errs);
}

/// The status of a new Deployment as Kubernetes serializes it (its Go status type has
/// fields without `omitempty`; clients generated from the schema want them).
pub(crate) fn empty_status() -> Value {
    json!({})
}

impl Strategy for DeploymentStrategy {
    fn kind(&self) -> &'static str {
        "Deployment"
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
        if let Some(strategy) = d::ensure_obj(spec, "strategy") {
            d::set_default(strategy, "type", json!("RollingUpdate"));
            if d::str_of(strategy, "type") == "RollingUpdate"
                && let Some(ru) = d::ensure_obj(strategy, "rollingUpdate")
            {
                d::set_default(ru, "maxUnavailable", json!("25%"));
                d::set_default(ru, "maxSurge", json!("25%"));
            }
        }
        if spec.get("revisionHistoryLimit").is_none_or(Value::is_null) {
            spec.insert("revisionHistoryLimit".into(), json!(10));
        }
        if spec
            .get("progressDeadlineSeconds")
            .is_none_or(Value::is_null)
        {
            spec.insert("progressDeadlineSeconds".into(), json!(600));
        }
        d::default_template(spec, d::SpecKind::Template);
    }

    fn complete_create(&self, obj: &mut Value) {
        replace_status_if_set(obj, empty_status());
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta("Deployment", true, obj);
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
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "sample", "namespace": "default"}, "spec": {"selector": {"matchLabels": {"app": "sample"}}, "template": {"metadata": {"labels": {"app": "sample"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    }
}
