//! StatefulSet (`apps/v1`): Kubernetes' `pkg/registry/apps/statefulset/strategy.go`.

use super::prelude::*;

/// The StatefulSet strategy.
#[derive(Debug)]
pub struct StatefulSetStrategy;

static PRINTER: Printer = Printer {
    columns: t::STATEFUL_SET_COLUMNS,
    cells: |obj, now| (t::stateful_set_cells(obj, now), None),
};

/// StatefulSet-specific checks (everything but `metadata`).
fn spec(obj: &Value, errs: &mut Vec<FieldError>) {
    v::validate_replicated_spec("StatefulSet", v::or_null(v::get(obj, "spec")), errs);
}

/// The status of a new StatefulSet as Kubernetes serializes it (its Go status type has
/// fields without `omitempty`; clients generated from the schema want them).
pub(crate) fn empty_status() -> Value {
    zeros(&["replicas", "availableReplicas"])
}

impl Strategy for StatefulSetStrategy {
    fn kind(&self) -> &'static str {
        "StatefulSet"
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
        d::set_default(spec, "podManagementPolicy", json!("OrderedReady"));
        if let Some(us) = d::ensure_obj(spec, "updateStrategy") {
            if d::is_unset(us.get("type")) {
                us.insert("type".into(), json!("RollingUpdate"));
                d::ensure_obj(us, "rollingUpdate");
            }
            if d::str_of(us, "type") == "RollingUpdate"
                && let Some(ru) = d::obj_at(us, "rollingUpdate")
                && ru.get("partition").is_none_or(Value::is_null)
            {
                ru.insert("partition".into(), json!(0));
            }
        }
        if let Some(p) = d::ensure_obj(spec, "persistentVolumeClaimRetentionPolicy") {
            d::set_default(p, "whenDeleted", json!("Retain"));
            d::set_default(p, "whenScaled", json!("Retain"));
        }
        if spec.get("replicas").is_none_or(Value::is_null) {
            spec.insert("replicas".into(), json!(1));
        }
        if spec.get("revisionHistoryLimit").is_none_or(Value::is_null) {
            spec.insert("revisionHistoryLimit".into(), json!(10));
        }
        d::default_template(spec, d::SpecKind::Template);
        d::for_each_obj(spec, "volumeClaimTemplates", d::default_pvc);
    }

    fn complete_create(&self, obj: &mut Value) {
        replace_status_if_set(obj, empty_status());
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta("StatefulSet", true, obj);
        spec(obj, &mut errs);
        errs
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        let mut errs = self.validate(new);
        errs.extend(v::validate_meta_update(old, new));
        v::validate_statefulset_update(old, new, &mut errs);
        errs
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "sample", "namespace": "default"}, "spec": {"serviceName": "sample", "selector": {"matchLabels": {"app": "sample"}}, "template": {"metadata": {"labels": {"app": "sample"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    }
}
