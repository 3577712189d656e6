//! `kumo-transport` owns how Kumo nodes talk to each other: request/response and
//! long-lived streams (see [`StreamSender`]) between node ids over QUIC (quinn + rustls/ring), the cluster CA and the mutual TLS that binds every
//! connection to a node id, the frame format and its limits, an in-memory network with the
//! same contract for deterministic tests, and the fault filters (partition, drop, delay,
//! duplicate) that tests and `chaos/` drive.
//!
//! It must not know about Kubernetes, Raft, actors or HTTP: a request is a [`Service`]
//! number chosen by the caller and opaque bytes. Only this crate knows quinn.

pub mod codec;
mod error;
mod faults;
mod frame;
mod mem;
mod pki;
mod quic;
mod stream;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

pub use error::{Error, Failure, Result};
pub use faults::Faults;
pub use frame::DEFAULT_MAX_FRAME;
pub use mem::{MemNetwork, MemTransport};
pub use pki::{
    CA_CERT_FILE, ClusterCa, NODE_CERT_FILE, NODE_KEY_FILE, NodeIdentity, node_id_of,
    node_server_name, node_uri,
};
pub use quic::{QuicConfig, QuicTransport};
pub use stream::{MEM_STREAM_CAPACITY, StreamReceiver, StreamSender};

/// A node of the cluster, named in its certificate.
pub type NodeId = u64;

/// Dial this id to reach whichever node listens at an address (a first contact, such as
/// joining a cluster through a peer known only by address): any node certified by the
/// cluster CA is accepted. Real node ids start at 1.
pub const ANY_NODE: NodeId = 0;

/// A service number names a kind of request (Raft append, vote, snapshot, KV forward …);
/// the caller defines them, each crate inside the range [`services`] reserves for it.
pub type Service = u16;

/// The ranges of service numbers, one per user of the transport, so that two crates can
/// never pick the same number. A crate defines its numbers inside its range (and checks
/// that at compile time); a new user takes a new range here.
pub mod services {
    use std::ops::RangeInclusive;

    use super::Service;

    /// The object store: Raft's RPCs, forwarded writes, read index, membership, ping.
    pub const STORE: RangeInclusive<Service> = 1..=99;
    /// The sandbox fleet: placing, starting and stopping sandboxes, their status.
    pub const FLEET: RangeInclusive<Service> = 100..=199;
    /// Long-lived streams (watches, logs, exec, port-forward) between nodes.
    pub const STREAMS: RangeInclusive<Service> = 200..=299;
    /// The actors: messages to actors on the node that owns their shard.
    pub const ACTORS: RangeInclusive<Service> = 300..=399;
    /// Later users take ranges from here on.
    pub const UNASSIGNED: RangeInclusive<Service> = 400..=Service::MAX;

    /// Whether `s` lies in `range` (usable in `const` assertions).
    pub const fn within(s: Service, range: &RangeInclusive<Service>) -> bool {
        s >= *range.start() && s <= *range.end()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn ranges_do_not_overlap() {
            let all = [STORE, FLEET, STREAMS, ACTORS, UNASSIGNED];
            for w in all.windows(2) {
                assert!(w[0].end() < w[1].start(), "{w:?}");
            }
        }
    }
}

/// Handles requests arriving at this node.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request from node `from` (the id proven by its certificate on QUIC).
    /// An `Err` reaches the caller as [`Error::Remote`].
    fn handle(
        &self,
        from: NodeId,
        service: Service,
        body: Bytes,
    ) -> impl Future<Output = Result<Bytes, Failure>> + Send;

    /// Serves one long-lived stream opened by node `from` (the id proven by its
    /// certificate on QUIC): `rx` carries the opener's frames, `tx` this node's. The
    /// stream lives until both directions are closed; see [`StreamSender`] for how each
    /// ends. Dropping `tx` without [`StreamSender::finish`] resets the opener's direction.
    ///
    /// The default serves no streams: it refuses, and the opener's `recv` fails with
    /// [`Error::Remote`]`(`[`Failure::UnknownService`]`)`.
    fn handle_stream(
        &self,
        from: NodeId,
        service: Service,
        tx: StreamSender,
        rx: StreamReceiver,
    ) -> impl Future<Output = ()> + Send {
        async move {
            tracing::debug!(peer = from, service, "no stream service, refusing");
            tx.refuse();
            rx.refuse();
        }
    }
}

/// What a node uses to reach its peers. Cheap to clone (Arc inside).
pub trait Transport: Clone + Send + Sync + 'static {
    /// This node's id.
    fn id(&self) -> NodeId;
    /// Records (or changes) where a peer listens; QUIC connects lazily.
    fn set_peer(&self, node: NodeId, addr: SocketAddr);
    /// Forgets a peer (and closes any connection to it).
    fn remove_peer(&self, node: NodeId);
    /// One request, one response, bounded by `timeout`.
    fn request(
        &self,
        to: NodeId,
        service: Service,
        body: Bytes,
        timeout: Duration,
    ) -> impl Future<Output = Result<Bytes, Error>> + Send;
    /// Opens a long-lived stream to `to`'s [`Handler::handle_stream`] for `service`.
    /// `timeout` bounds the opening only (dial, fault delay, waiting for a free stream when
    /// the peer's limit of concurrent streams is reached), not the stream's life. Returns
    /// once the stream is open on this side; a refusal by the peer shows on the first
    /// `recv`. Cut by a fault filter or an unknown peer → [`Error::Unreachable`].
    fn open_stream(
        &self,
        to: NodeId,
        service: Service,
        timeout: Duration,
    ) -> impl Future<Output = Result<(StreamSender, StreamReceiver), Error>> + Send;
}

/// A handler behind a vtable, so transports need not be generic over it.
pub(crate) trait DynHandler: Send + Sync + 'static {
    fn call(
        &self,
        from: NodeId,
        service: Service,
        body: Bytes,
    ) -> futures::future::BoxFuture<'static, Result<Bytes, Failure>>;

    fn call_stream(
        &self,
        from: NodeId,
        service: Service,
        tx: StreamSender,
        rx: StreamReceiver,
    ) -> futures::future::BoxFuture<'static, ()>;
}

impl<H: Handler> DynHandler for std::sync::Arc<H> {
    fn call(
        &self,
        from: NodeId,
        service: Service,
        body: Bytes,
    ) -> futures::future::BoxFuture<'static, Result<Bytes, Failure>> {
        use futures::FutureExt;
        let h = self.clone();
        async move {
            std::panic::AssertUnwindSafe(h.handle(from, service, body))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(Failure::Panicked(service)))
        }
        .boxed()
    }

    fn call_stream(
        &self,
        from: NodeId,
        service: Service,
        tx: StreamSender,
        rx: StreamReceiver,
    ) -> futures::future::BoxFuture<'static, ()> {
        use futures::FutureExt;
        let h = self.clone();
        async move {
            // A panic drops both halves, which resets the stream for the opener.
            if std::panic::AssertUnwindSafe(h.handle_stream(from, service, tx, rx))
                .catch_unwind()
                .await
                .is_err()
            {
                tracing::warn!(peer = from, service, "stream handler panicked");
            }
        }
        .boxed()
    }
}
