//! `kumo-transport` owns how Kumo nodes talk to each other: request/response between node
//! ids over QUIC (quinn + rustls/ring), the cluster CA and the mutual TLS that binds every
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

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

pub use error::{Error, Result};
pub use faults::Faults;
pub use frame::DEFAULT_MAX_FRAME;
pub use mem::{MemNetwork, MemTransport};
pub use pki::{
    CA_CERT_FILE, ClusterCa, NODE_CERT_FILE, NODE_KEY_FILE, NodeIdentity, node_id_of,
    node_server_name, node_uri,
};
pub use quic::{QuicConfig, QuicTransport};

/// A node of the cluster, named in its certificate.
pub type NodeId = u64;

/// Dial this id to reach whichever node listens at an address (a first contact, such as
/// joining a cluster through a peer known only by address): any node certified by the
/// cluster CA is accepted. Real node ids start at 1.
pub const ANY_NODE: NodeId = 0;

/// A service number names a kind of request (Raft append, vote, snapshot, KV forward …);
/// the caller defines them.
pub type Service = u16;

/// Handles requests arriving at this node.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request from node `from` (the id proven by its certificate on QUIC).
    /// An `Err` reaches the caller as [`Error::Remote`].
    fn handle(
        &self,
        from: NodeId,
        service: Service,
        body: Bytes,
    ) -> impl Future<Output = Result<Bytes, String>> + Send;
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
}

/// A handler behind a vtable, so transports need not be generic over it.
pub(crate) trait DynHandler: Send + Sync + 'static {
    fn call(
        &self,
        from: NodeId,
        service: Service,
        body: Bytes,
    ) -> futures::future::BoxFuture<'static, Result<Bytes, String>>;
}

impl<H: Handler> DynHandler for std::sync::Arc<H> {
    fn call(
        &self,
        from: NodeId,
        service: Service,
        body: Bytes,
    ) -> futures::future::BoxFuture<'static, Result<Bytes, String>> {
        use futures::FutureExt;
        let h = self.clone();
        async move {
            std::panic::AssertUnwindSafe(h.handle(from, service, body))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(format!("handler panicked on service {service}")))
        }
        .boxed()
    }
}
