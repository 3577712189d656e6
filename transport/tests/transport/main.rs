//! The transport's integration suite: one conformance suite run on both transports, then
//! the QUIC-only cases (mutual TLS, reconnect, limits).

mod common;
mod conformance;
mod quic;
