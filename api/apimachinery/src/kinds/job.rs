//! Job (`batch/v1`): Kubernetes' `pkg/registry/batch/job/strategy.go`.

use super::prelude::*;

/// The Job strategy.
#[derive(Debug)]
pub struct JobStrategy;

static PRINTER: Printer = Printer {
    columns: t::JOB_COLUMNS,
    cells: |obj, now| (t::job_cells(obj, now), None),
};

/// Job-specific checks (everything but `metadata`).
fn spec(obj: &Value, errs: &mut Vec<FieldError>) {
    v::validate_job_spec(v::or_null(v::get(obj, "spec")), errs);
}

/// The status of a new Job as Kubernetes serializes it (its Go status type has
/// fields without `omitempty`; clients generated from the schema want them).
pub(crate) fn empty_status() -> Value {
    json!({})
}

impl Strategy for JobStrategy {
    fn kind(&self) -> &'static str {
        "Job"
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn allow_create_on_update(&self) -> bool {
        false
    }

    fn prepare_for_create(&self, obj: &mut Value, uid: &str) {
        reset_status(obj);
        d::default_job_selector(obj, uid);
    }

    fn defaults(&self, obj: &mut Value) {
        let Some(m) = obj.as_object_mut() else {
            return;
        };
        let template_labels = m
            .get("spec")
            .and_then(|s| s.get("template"))
            .and_then(|t| t.get("metadata"))
            .and_then(|md| md.get("labels"))
            .filter(|l| l.is_object())
            .cloned();
        let Some(spec) = d::ensure_obj(m, "spec") else {
            return;
        };
        let unset = |s: &Map<String, Value>, k: &str| s.get(k).is_none_or(Value::is_null);
        if unset(spec, "completions") && unset(spec, "parallelism") {
            spec.insert("completions".into(), json!(1));
            spec.insert("parallelism".into(), json!(1));
        }
        if unset(spec, "parallelism") {
            spec.insert("parallelism".into(), json!(1));
        }
        if unset(spec, "backoffLimit") {
            let v = if unset(spec, "backoffLimitPerIndex") {
                i64::from(6)
            } else {
                i64::from(i32::MAX)
            };
            spec.insert("backoffLimit".into(), json!(v));
        }
        d::set_default(spec, "completionMode", json!("NonIndexed"));
        if unset(spec, "suspend") {
            spec.insert("suspend".into(), json!(false));
        }
        let has_pfp = !unset(spec, "podFailurePolicy");
        if let Some(pfp) = d::obj_at(spec, "podFailurePolicy") {
            d::for_each_obj(pfp, "rules", |r| {
                d::for_each_obj(r, "onPodConditions", |c| {
                    d::set_default(c, "status", json!("True"));
                });
            });
        }
        let prp = if has_pfp {
            "Failed"
        } else {
            "TerminatingOrFailed"
        };
        d::set_default(spec, "podReplacementPolicy", json!(prp));
        d::default_template(spec, d::SpecKind::JobTemplate);
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
        let mut errs = v::validate_meta("Job", true, obj);
        spec(obj, &mut errs);
        errs
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        let mut errs = self.validate(new);
        errs.extend(v::validate_meta_update(old, new));
        v::validate_job_update(old, new, &mut errs);
        errs
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "sample", "namespace": "default"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}})
    }
}
