//! Secret (`v1`): Kubernetes' `pkg/registry/core/secret/strategy.go`.

use super::prelude::*;

/// The Secret strategy.
#[derive(Debug)]
pub struct SecretStrategy;

static PRINTER: Printer = Printer {
    columns: t::SECRET_COLUMNS,
    cells: |obj, now| {
        (
            vec![
                t::name(obj),
                t::s(t::str_at(obj, "type")),
                json!(t::obj_len(t::at(obj, "data"))),
                t::age(obj, now),
            ],
            None,
        )
    },
};

/// Secret-specific checks (everything but `metadata`).
fn spec(obj: &Value, errs: &mut Vec<FieldError>) {
    v::validate_secret(obj, errs);
}

impl Strategy for SecretStrategy {
    fn kind(&self) -> &'static str {
        "Secret"
    }

    fn tracks_generation(&self) -> bool {
        false
    }

    fn allow_create_on_update(&self) -> bool {
        false
    }

    fn prepare_for_create(&self, _obj: &mut Value, _uid: &str) {}

    fn defaults(&self, obj: &mut Value) {
        let Some(m) = obj.as_object_mut() else {
            return;
        };
        d::default_secret(m);
    }

    fn complete_create(&self, _obj: &mut Value) {}

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta("Secret", true, obj);
        spec(obj, &mut errs);
        errs
    }

    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError> {
        let mut errs = v::validate_meta_update(old, new);
        errs.extend(v::immutable(
            v::get(old, "type"),
            v::get(new, "type"),
            "type",
            v::go_quote(v::gs(new, "type")),
        ));
        v::immutable_data("Secret", old, new, &mut errs);
        spec(new, &mut errs);
        errs
    }

    fn printer(&self) -> &'static Printer {
        &PRINTER
    }

    fn decode_error(&self, obj: &Value) -> Option<String> {
        v::secret_decode_error(obj)
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sample", "namespace": "default"}, "data": {"k": "dg=="}})
    }
}
