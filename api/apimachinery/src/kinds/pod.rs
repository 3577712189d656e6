//! Pod (`v1`): Kubernetes' `pkg/registry/core/pod/strategy.go`.

use super::prelude::*;

/// The Pod strategy.
#[derive(Debug)]
pub struct PodStrategy;

static PRINTER: Printer = Printer {
    columns: t::POD_COLUMNS,
    cells: t::pod_cells,
};

/// Pod-specific checks (everything but `metadata`).
fn spec(obj: &Value, errs: &mut Vec<FieldError>) {
    let spec = v::or_null(v::get(obj, "spec"));
    v::validate_pod_spec(spec, "spec", v::PodCtx::default(), errs);
    if !v::garr(spec, "ephemeralContainers").is_empty() {
        errs.push(FieldError::forbidden(
            "spec.ephemeralContainers",
            "cannot be set on create",
        ));
    }
}

impl Strategy for PodStrategy {
    fn kind(&self) -> &'static str {
        "Pod"
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
        if let Some(spec) = d::ensure_obj(m, "spec") {
            d::default_pod_spec(spec, d::SpecKind::Pod);
        }
        let qos = d::pod_qos_class(m.get("spec").unwrap_or(&Value::Null));
        if let Some(status) = d::ensure_obj(m, "status")
            && d::is_unset(status.get("phase"))
        {
            status.insert("phase".into(), json!("Pending"));
            d::set_default(status, "qosClass", json!(qos));
        }
    }

    fn complete_create(&self, obj: &mut Value) {
        let Some(m) = obj.as_object_mut() else {
            return;
        };
        let qos = d::pod_qos_class(m.get("spec").unwrap_or(&Value::Null));
        m.insert(
            "status".into(),
            json!({"phase": "Pending", "qosClass": qos}),
        );
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta("Pod", true, obj);
        spec(obj, &mut errs);
        errs
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta_update(old, new);
        let spec = v::or_null(v::get(new, "spec"));
        v::validate_pod_spec(spec, "spec", v::PodCtx::default(), &mut errs);
        v::validate_pod_update(old, new, &mut errs);
        errs
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn unserved_subresources(&self) -> &'static [&'static str] {
        &[
            "log",
            "exec",
            "attach",
            "portforward",
            "proxy",
            "ephemeralcontainers",
            "eviction",
            "binding",
            "resize",
        ]
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sample", "namespace": "default"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    }
}
