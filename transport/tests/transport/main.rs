//! The transport's integration suite: one conformance suite run on both transports, then
//! the QUIC-only cases (mutual TLS, reconnect, limits) and the in-memory-only ones.

mod common;
mod conformance;
mod mem;
mod quic;
