//! Service (`v1`): Kubernetes' `pkg/registry/core/service/strategy.go`.

use super::prelude::*;

/// The Service strategy.
#[derive(Debug)]
pub struct ServiceStrategy;

static PRINTER: Printer = Printer {
    columns: t::SERVICE_COLUMNS,
    cells: |obj, now| (t::service_cells(obj, now), None),
};

/// Service-specific checks (everything but `metadata`).
fn spec(obj: &Value, errs: &mut Vec<FieldError>) {
    v::validate_service(obj, errs);
}

/// The status of a new Service as Kubernetes serializes it (its Go status type has
/// fields without `omitempty`; clients generated from the schema want them).
pub(crate) fn empty_status() -> Value {
    json!({"loadBalancer": {}})
}

impl Strategy for ServiceStrategy {
    fn kind(&self) -> &'static str {
        "Service"
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
        d::default_service(m);
    }

    fn complete_create(&self, obj: &mut Value) {
        replace_status_if_set(obj, empty_status());
    }

    /// The node ports a port keeps or drops are the registry's (they are allocations).
    fn prepare_for_update(&self, old: &Value, new: &mut Value, _sub: Option<&str>) {
        // clusterIP is allocated once; an update that omits it keeps it.
        for f in ["clusterIP", "clusterIPs"] {
            if new.pointer(&format!("/spec/{f}")).is_none()
                && let Some(v) = old.pointer(&format!("/spec/{f}"))
            {
                new["spec"][f] = v.clone();
            }
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta("Service", true, obj);
        spec(obj, &mut errs);
        errs
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta_update(old, new);
        v::validate_service_update(old, new, &mut errs);
        spec(new, &mut errs);
        errs
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn unserved_subresources(&self) -> &'static [&'static str] {
        &["proxy"]
    }

    fn allocations(&self) -> Allocations {
        Allocations::ServiceAddresses
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "sample", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}})
    }
}
