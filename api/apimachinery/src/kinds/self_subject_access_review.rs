//! SelfSubjectAccessReview (`authorization.k8s.io/v1`): Kubernetes' `pkg/registry/authorization/selfsubjectaccessreview`. A review is
//! created and answered in one request and never stored ([`crate::review::answer`]): the
//! registry runs none of the store's steps for it, so only its validation and sample say
//! anything.

use super::prelude::*;

/// The SelfSubjectAccessReview strategy.
#[derive(Debug)]
pub struct SelfSubjectAccessReviewStrategy;

impl Strategy for SelfSubjectAccessReviewStrategy {
    fn kind(&self) -> &'static str {
        "SelfSubjectAccessReview"
    }

    fn tracks_generation(&self) -> bool {
        false
    }

    fn allow_create_on_update(&self) -> bool {
        false
    }

    fn prepare_for_create(&self, _obj: &mut Value, _uid: &str) {}

    fn defaults(&self, _obj: &mut Value) {}

    fn complete_create(&self, _obj: &mut Value) {}

    fn validate(&self, _obj: &Value) -> Vec<FieldError> {
        // `review::answer` validates it (`review::validate_access_review`), with the rest
        // of the answer; the registry never stores a review.
        Vec::new()
    }

    fn validate_update(&self, _old: &Value, _new: &Value) -> Vec<FieldError> {
        // Never updated: a review's only verb is create.
        Vec::new()
    }

    fn printer(&self) -> &'static Printer {
        &t::DEFAULT
    }

    fn sample(&self) -> Value {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "metadata": {}, "spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}})
    }
}
