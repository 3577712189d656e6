//! CronJob (`batch/v1`): Kubernetes' `pkg/registry/batch/cronjob/strategy.go`.

use super::prelude::*;

/// The CronJob strategy.
#[derive(Debug)]
pub struct CronJobStrategy;

static PRINTER: Printer = Printer {
    columns: t::CRON_JOB_COLUMNS,
    cells: |obj, now| (t::cron_job_cells(obj, now), None),
};

/// CronJob-specific checks (everything but `metadata`).
fn spec(obj: &Value, errs: &mut Vec<FieldError>) {
    let spec = v::or_null(v::get(obj, "spec"));
    let name = v::gs(v::or_null(v::get(obj, "metadata")), "name");
    if name.len() > 52 {
        errs.push(FieldError::invalid(
            "metadata.name",
            &v::go_quote(name),
            "must be no more than 52 characters",
        ));
    }
    v::validate_cronjob_spec(spec, None, errs);
}

/// The status of a new CronJob as Kubernetes serializes it (its Go status type has
/// fields without `omitempty`; clients generated from the schema want them).
pub(crate) fn empty_status() -> Value {
    json!({})
}

impl Strategy for CronJobStrategy {
    fn kind(&self) -> &'static str {
        "CronJob"
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
        d::set_default(spec, "concurrencyPolicy", json!("Allow"));
        if spec.get("suspend").is_none_or(Value::is_null) {
            spec.insert("suspend".into(), json!(false));
        }
        if spec
            .get("successfulJobsHistoryLimit")
            .is_none_or(Value::is_null)
        {
            spec.insert("successfulJobsHistoryLimit".into(), json!(3));
        }
        if spec
            .get("failedJobsHistoryLimit")
            .is_none_or(Value::is_null)
        {
            spec.insert("failedJobsHistoryLimit".into(), json!(1));
        }
        if let Some(jt) = d::obj_at(spec, "jobTemplate")
            && let Some(js) = d::obj_at(jt, "spec")
        {
            d::default_template(js, d::SpecKind::JobTemplate);
        }
    }

    fn complete_create(&self, obj: &mut Value) {
        replace_status_if_set(obj, empty_status());
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta("CronJob", true, obj);
        spec(obj, &mut errs);
        errs
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta_update(old, new);
        let old_schedule = v::at(old, &["spec", "schedule"]).and_then(Value::as_str);
        v::validate_cronjob_spec(v::or_null(v::get(new, "spec")), old_schedule, &mut errs);
        errs
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "sample", "namespace": "default"}, "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}})
    }
}
