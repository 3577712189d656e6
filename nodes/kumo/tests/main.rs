//! The integration suites of the `kumo` binary, one test binary. Each suite drives a real
//! `kumo up` (or a local cluster of `kumo control` processes) through real clients —
//! kubectl, the `kube` crate, the Python `kubernetes` package, raw HTTPS — and `common` is
//! their one shared prelude.

mod common;

mod clients;
mod cluster;
mod durability;
mod hostile;
mod kubectl;
mod kubectl_versions;
mod semantics;
mod telemetry;
