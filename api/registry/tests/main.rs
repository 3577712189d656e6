//! The registry's integration tests, one test binary: every stored kind through every verb
//! (conformance, after Kubernetes' resttest), and a Service with its allocations.

mod common;

mod allocations;
mod conformance;
