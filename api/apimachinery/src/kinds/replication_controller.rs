//! ReplicationController (`v1`): Kubernetes' `pkg/registry/core/replicationcontroller/strategy.go`.

use super::prelude::*;

/// The ReplicationController strategy.
#[derive(Debug)]
pub struct ReplicationControllerStrategy;

static PRINTER: Printer = Printer {
    columns: t::REPLICATION_CONTROLLER_COLUMNS,
    cells: |obj, now| (t::replication_controller_cells(obj, now), None),
};

/// ReplicationController-specific checks (everything but `metadata`).
fn spec(obj: &Value, errs: &mut Vec<FieldError>) {
    v::validate_replication_controller_spec(v::or_null(v::get(obj, "spec")), errs);
}

/// The status of a new ReplicationController as Kubernetes serializes it (its Go status type has
/// fields without `omitempty`; clients generated from the schema want them).
pub(crate) fn empty_status() -> Value {
    zeros(&["replicas"])
}

impl Strategy for ReplicationControllerStrategy {
    fn kind(&self) -> &'static str {
        "ReplicationController"
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
        // `SetDefaults_ReplicationController`: an empty selector and empty labels take
        // the template's labels.
        let template_labels = m
            .get("spec")
            .and_then(|s| s.get("template"))
            .and_then(|t| t.get("metadata"))
            .and_then(|md| md.get("labels"))
            .filter(|l| l.as_object().is_some_and(|l| !l.is_empty()))
            .cloned();
        let Some(spec) = d::ensure_obj(m, "spec") else {
            return;
        };
        if let Some(labels) = &template_labels
            && spec
                .get("selector")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty)
        {
            spec.insert("selector".into(), labels.clone());
        }
        if spec.get("replicas").is_none_or(Value::is_null) {
            spec.insert("replicas".into(), json!(1));
        }
        d::default_template(spec, d::SpecKind::Template);
        if let Some(labels) = template_labels
            && let Some(meta) = d::ensure_obj(m, "metadata")
            && meta
                .get("labels")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty)
        {
            meta.insert("labels".into(), labels);
        }
    }

    fn complete_create(&self, obj: &mut Value) {
        replace_status_if_set(obj, empty_status());
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta("ReplicationController", true, obj);
        spec(obj, &mut errs);
        errs
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta_update(old, new);
        spec(new, &mut errs);
        errs
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn scale_selector(&self) -> ScaleSelector {
        ScaleSelector::LabelMap
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "sample", "namespace": "default"}, "spec": {"selector": {"app": "sample"}, "template": {"metadata": {"labels": {"app": "sample"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    }
}
