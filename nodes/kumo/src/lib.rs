//! The Kumo programs: the `kumo` command, the Kubernetes API server and the embedded
//! single-node control plane (`kumo up`).
//!
//! Owns: HTTP, TLS, credentials, process lifecycle, telemetry, benchmarks.
//! Must not: hold cluster state outside the store (`kumo-raft-store`), or decide an object's
//! shape (that is `kumo-apimachinery`).

pub mod api;
pub mod bench;
pub mod bench_failover;
pub mod bench_store;
pub mod cluster;
pub mod controllers;
pub mod metrics;
pub mod pki;
pub mod telemetry;
pub mod up;
