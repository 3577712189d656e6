//! The Kubernetes API server of a Kumo control-plane node: HTTPS, HTTP/1 and HTTP/2,
//! routing, content negotiation, authentication, connection limits, discovery and OpenAPI,
//! `/metrics`, telemetry, and the node's certificates.
//!
//! Owns: everything between a socket and a call into `kumo-registry`.
//! Must not: decide an object's semantics (that is `kumo-registry` and
//! `kumo-apimachinery`), hold cluster state outside the store, start processes, or depend
//! on load generators (`kumo-chaos`).

pub mod api;
pub mod metrics;
pub mod pki;
pub mod status;
pub mod telemetry;
