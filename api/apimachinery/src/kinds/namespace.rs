//! Namespace (`v1`): Kubernetes' `pkg/registry/core/namespace/strategy.go`.

use super::prelude::*;

/// The Namespace strategy.
#[derive(Debug)]
pub struct NamespaceStrategy;

static PRINTER: Printer = Printer {
    columns: t::NAMESPACE_COLUMNS,
    cells: |obj, now| {
        (
            vec![
                t::name(obj),
                t::s(t::str_at(obj, "status.phase")),
                t::age(obj, now),
            ],
            None,
        )
    },
};

/// Namespace-specific checks (everything but `metadata`).
fn spec(obj: &Value, errs: &mut Vec<FieldError>) {
    v::validate_namespace(obj, errs);
}

impl Strategy for NamespaceStrategy {
    fn kind(&self) -> &'static str {
        "Namespace"
    }

    fn tracks_generation(&self) -> bool {
        false
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
        let name = m
            .get("metadata")
            .and_then(|md| md.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(name) = name.filter(|n| !n.is_empty())
            && let Some(meta) = d::ensure_obj(m, "metadata")
            && let Some(labels) = d::ensure_obj(meta, "labels")
        {
            labels.insert("kubernetes.io/metadata.name".into(), json!(name));
        }
        if let Some(status) = d::ensure_obj(m, "status") {
            d::set_default(status, "phase", json!("Active"));
        }
    }

    fn complete_create(&self, obj: &mut Value) {
        let Some(m) = obj.as_object_mut() else {
            return;
        };
        m.insert("status".into(), json!({"phase": "Active"}));
        if let Some(spec) = d::ensure_obj(m, "spec") {
            if !matches!(spec.get("finalizers"), Some(Value::Array(_))) {
                spec.insert("finalizers".into(), Value::Array(Vec::new()));
            }
            if let Some(Value::Array(f)) = spec.get_mut("finalizers")
                && !f.iter().any(|x| x == "kubernetes")
            {
                f.push(json!("kubernetes"));
            }
        }
    }

    fn prepare_for_update(&self, old: &Value, new: &mut Value, sub: Option<&str>) {
        if sub == Some("finalize") {
            return;
        }
        // As in Kubernetes, spec.finalizers changes only through namespaces/finalize.
        match old.pointer("/spec/finalizers") {
            Some(f) => new["spec"]["finalizers"] = f.clone(),
            None => {
                if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.remove("finalizers");
                }
            }
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta("Namespace", false, obj);
        spec(obj, &mut errs);
        errs
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta_update(old, new);
        spec(new, &mut errs);
        v::validate_namespace_status(old, new, &mut errs);
        errs
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn lifecycle(&self) -> Lifecycle {
        Lifecycle::Namespace
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sample"}})
    }
}
