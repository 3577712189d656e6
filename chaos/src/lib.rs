//! Kumo's chaos kit: fault plans, workload and load generators, checkers, and the scenario
//! runner that drives a cluster through them and judges what it saw.
//!
//! Owns: the properties a run must keep (one checker per property, one file per checker)
//! and the means to provoke their violation.
//! Must not: be needed at run time. No node, actor or store may depend on this crate; only
//! tests, benches and the `kumo chaos` command use it.
//!
//! Checkers so far:
//! - [`linearizability`]: the object store's key/value semantics (create, compare-and-set
//!   update and delete, get) and its global revision counter, checked over a recorded history
//!   of concurrent client calls (Wing & Gong / Lowe, as in porcupine).
//!
//! Load generators: [`bench`] (`kumo bench api|memory|failover|store`), which print tables
//! of medians and p99s with the machine and settings. They are tools run from the command
//! line, so they report with `anyhow` as binaries do.
//!
//! [`client`]: the client side of a cluster (an HTTPS client trusting its CA, the
//! kubeconfig) for the benchmarks, the local launcher and `kumo members`.
//!
//! Provokers so far:
//! - [`hostile`]: hostile HTTPS clients (stalled handshakes and requests, short bodies,
//!   watchers that stop reading, raw malformed requests), bounded in count and time.

pub mod bench;
pub mod client;
pub mod hostile;
pub mod linearizability;

pub use linearizability::{
    Budget, CheckResult, History, Invocation, Op, Operation, Output, Recorder, Returned, Revisions,
    check_history, check_history_with, check_per_key, check_per_key_with,
};
