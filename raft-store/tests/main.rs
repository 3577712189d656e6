//! The store's integration tests, one test binary: clusters in process (memory and QUIC
//! transports), restarts and power cuts, full disks, bounded logs, transactions, the
//! linearizable model, and openraft's own storage suite.

mod common;

mod cluster;
mod disk_full;
mod log_bounds;
mod log_memory;
mod model;
mod openraft_suite;
mod power_cut;
mod quic_cluster;
mod restart;
mod txn;
