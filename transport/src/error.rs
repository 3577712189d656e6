//! The transport's error type.

use serde::{Deserialize, Serialize};

use crate::{NodeId, Service};

/// Why a peer's handler did not answer a request (or a stream), as it travels back over the
/// wire. The handler was reached: unlike [`Error::Unreachable`], the request arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Failure {
    /// The peer serves no such service (for requests or for streams).
    #[error("no service {0}")]
    UnknownService(Service),
    /// The request's body could not be decoded.
    #[error("the request could not be decoded: {0}")]
    Malformed(String),
    /// The peer is starting and cannot serve this service yet.
    #[error("the peer is not ready")]
    NotReady,
    /// The handler panicked (the peer goes on serving other requests).
    #[error("the handler panicked on service {0}")]
    Panicked(Service),
    /// The peer refused one of the stream's frames: over its frame limit.
    #[error("the peer refused a frame over its limit")]
    FrameRefused,
    /// Any other failure of the handler, as it described it.
    #[error("{0}")]
    Failed(String),
}

/// Errors of the transport: reaching a peer, a request's outcome, or key material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The peer is not known, not listening, cut off by a fault filter, or the connection
    /// to it failed before the request was sent: the handler never saw the request.
    #[error("node {node} unreachable: {reason}")]
    Unreachable { node: NodeId, reason: String },
    /// The connection failed after the request (or part of it) was sent and before the
    /// response arrived: the request may or may not have been handled.
    #[error("connection to node {node} lost during the request: {reason}")]
    Lost { node: NodeId, reason: String },
    /// No response within the request's timeout. The request may or may not have been
    /// handled.
    #[error("request timed out")]
    Timeout,
    /// The peer was rejected, or rejected us, during the handshake (wrong CA, expired
    /// certificate, certificate naming another node …). No request was read.
    #[error("peer refused: {0}")]
    Refused(String),
    /// A request or response body is larger than the frame limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    /// The remote handler was reached and failed (see [`Failure`]).
    #[error("remote handler failed: {0}")]
    Remote(Failure),
    /// This transport has been shut down; or, on a long-lived stream, the peer reset its
    /// side (dropped it without finishing) or stopped reading, or the connection was lost.
    #[error("transport or stream closed")]
    Closed,
    #[error("i/o")]
    Io(#[from] std::io::Error),
    #[error("tls")]
    Tls(#[from] rustls::Error),
    #[error("encoding")]
    Codec(#[from] postcard::Error),
    /// Generating or signing a certificate failed.
    #[error("certificate generation")]
    Cert(#[from] rcgen::Error),
    /// Key material that cannot be used: unparsable PEM, a certificate without a node id,
    /// an identity for another node, an invalid host name.
    #[error("invalid key material: {0}")]
    Pki(String),
}

/// Result of the transport.
pub type Result<T, E = Error> = std::result::Result<T, E>;
