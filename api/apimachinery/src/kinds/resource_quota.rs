//! ResourceQuota (`v1`): Kubernetes' `pkg/registry/core/resourcequota/strategy.go`.

use super::prelude::*;

/// The ResourceQuota strategy.
#[derive(Debug)]
pub struct ResourceQuotaStrategy;

static PRINTER: Printer = Printer {
    columns: t::RESOURCE_QUOTA_COLUMNS,
    cells: |obj, now| (t::resource_quota_cells(obj, now), None),
};

/// The status of a new ResourceQuota as Kubernetes serializes it (its Go status type has
/// fields without `omitempty`; clients generated from the schema want them).
pub(crate) fn empty_status() -> Value {
    json!({})
}

impl Strategy for ResourceQuotaStrategy {
    fn kind(&self) -> &'static str {
        "ResourceQuota"
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

    fn defaults(&self, _obj: &mut Value) {}

    fn complete_create(&self, obj: &mut Value) {
        replace_status_if_set(obj, empty_status());
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        v::validate_meta("ResourceQuota", true, obj)
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        v::validate_meta_update(old, new)
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "sample", "namespace": "default"}, "spec": {"hard": {"pods": "10"}}})
    }
}
