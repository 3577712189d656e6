//! One strategy per served kind: what Kubernetes' `pkg/registry/<group>/<kind>/strategy.go`
//! says about a kind (`PrepareForCreate`, `PrepareForUpdate`, defaults, `Validate`,
//! `ValidateUpdate`, `AllowCreateOnUpdate`, whether `metadata.generation` tracks the spec,
//! its allocations, its table columns), as pure functions. `kumo-registry` runs every kind
//! through one generic store and asks the strategy wherever a kind differs.
//!
//! Every row of [`crate::resources::RESOURCES`] carries its strategy (the `res!` macro will
//! not build a row without one), so the lookup from a resource to its strategy is total;
//! each strategy lives in its own file under [`crate::kinds`]. The methods whose omission
//! would be a silent bug (validation, defaults, generation, create-on-update, the status a
//! new object starts with, its table, a sample) have no default: a new kind does not compile
//! until it says what it does. The defaulted ones name a behaviour almost every kind shares
//! (no allocation, the generic lifecycle, no body check, no subresource not served yet).

use serde_json::Value;

use crate::table::Printer;
use crate::validation::FieldError;

/// What the registry allocates for an object of a kind, written next to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocations {
    /// Nothing.
    None,
    /// A Service's cluster IP and node ports (claim keys `core/_clusterips/<ip>` and
    /// `core/_nodeports/<port>`).
    ServiceAddresses,
}

/// How objects of a kind live and die beyond the generic store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// The generic store: a delete is immediate unless finalizers remain, and an update that
    /// drops the last finalizer of an object being deleted completes the delete.
    Object,
    /// A Namespace (Kubernetes' own namespace storage): `default`, `kube-system` and
    /// `kube-public` may not be deleted; a delete always marks it `Terminating` and waits for
    /// the namespace controller; `spec.finalizers` changes only through the `finalize`
    /// subresource; a new one gets its `default` ServiceAccount.
    Namespace,
}

/// How the `scale` subresource renders `status.selector`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleSelector {
    /// `spec.selector` is a `LabelSelector` (`matchLabels`, `matchExpressions`).
    LabelSelector,
    /// `spec.selector` is a plain label map (`labels.SelectorFromSet`): ReplicationController.
    LabelMap,
}

/// A served kind's rules. Implemented once per kind, in `kinds/<kind>.rs`.
pub trait Strategy: std::fmt::Debug + Send + Sync {
    /// The kind this strategy is for (`Deployment`); a test checks it against its row.
    fn kind(&self) -> &'static str;

    /// Whether `metadata.generation` starts at 1 and grows with each change of `spec`.
    fn tracks_generation(&self) -> bool;

    /// Whether a PUT of a missing name creates it (`AllowCreateOnUpdate`); else 404.
    fn allow_create_on_update(&self) -> bool;

    /// Server-set fields of a new object, before defaulting (`PrepareForCreate`'s status
    /// reset, the Job's generated selector). `uid` is the new object's.
    fn prepare_for_create(&self, obj: &mut Value, uid: &str);

    /// Kubernetes' defaulting, on create and on update (`SetDefaults_*`).
    fn defaults(&self, obj: &mut Value);

    /// Create-only changes after defaulting: the status a new object shows (a Pod's phase
    /// and QoS class, a Namespace's `kubernetes` finalizer, zero counts the status schema
    /// requires).
    fn complete_create(&self, obj: &mut Value);

    /// Before defaulting an update (`PrepareForUpdate`): fields the request may not change
    /// through this path are carried from `old`. `sub` is the subresource written.
    fn prepare_for_update(&self, _old: &Value, _new: &mut Value, _sub: Option<&str>) {}

    /// Validation of a defaulted object on create (metadata and the kind's own fields).
    fn validate(&self, obj: &Value) -> Vec<FieldError>;

    /// Validation of an update from `old` to the defaulted `new`.
    fn validate_update(&self, old: &Value, new: &Value) -> Vec<FieldError>;

    /// A refusal (400) of a body that does not decode as this kind, beyond unknown fields
    /// and types (a Secret's data that is not base64).
    fn decode_error(&self, _obj: &Value) -> Option<String> {
        None
    }

    /// Server-side printing: the table's columns and each row's cells.
    fn printer(&self) -> &'static Printer;

    /// What the registry allocates for an object of this kind.
    fn allocations(&self) -> Allocations {
        Allocations::None
    }

    /// How objects of this kind are deleted and finalized.
    fn lifecycle(&self) -> Lifecycle {
        Lifecycle::Object
    }

    /// Subresources Kubernetes serves for this kind that need running sandboxes, which Kumo
    /// does not have yet (answered 501, not 404).
    fn unserved_subresources(&self) -> &'static [&'static str] {
        &[]
    }

    /// The shape of `spec.selector` the `scale` subresource reports.
    fn scale_selector(&self) -> ScaleSelector {
        ScaleSelector::LabelSelector
    }

    /// A minimal valid object of this kind (name `sample`, namespace `default` when the kind
    /// is namespaced), as a client would send it: the registry's conformance tests create it.
    fn sample(&self) -> Value;
}
