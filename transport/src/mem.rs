//! An in-process network with the QUIC transport's contract, for deterministic tests.
//!
//! Each member listens at a synthetic address derived from its id
//! ([`MemNetwork::addr_of`]); callers must `set_peer` it as on QUIC, and a request to an
//! address held by another node is refused as a certificate naming the wrong node would
//! be. Requests run the target's handler in a tokio task, so a caller that gives up does
//! not cancel the handler, as on a real network.
//!
//! A long-lived stream is a pair of bounded channels ([`crate::MEM_STREAM_CAPACITY`] frames
//! each way, the back-pressure), with the QUIC stream's semantics; its handler runs in a
//! task of its own. A member that leaves or shuts down breaks its streams (`Closed`), as a
//! lost connection does. There is no bound on the number of open streams.

use std::net::{Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use tokio::sync::watch;

use crate::error::{Error, Failure};
use crate::faults::{self, Faults};
use crate::frame::{DEFAULT_MAX_FRAME, check_len};
use crate::stream::{self, Guard};
use crate::{DynHandler, Handler, NodeId, Service, StreamReceiver, StreamSender, Transport};

/// The in-memory network that [`MemTransport`]s join. Cheap to clone.
#[derive(Clone)]
pub struct MemNetwork {
    inner: Arc<Net>,
}

struct Net {
    members: DashMap<SocketAddr, Member>,
    faults: Faults,
    max_frame: usize,
    generation: AtomicU64,
}

#[derive(Clone)]
struct Member {
    id: NodeId,
    generation: u64,
    handler: Arc<dyn DynHandler>,
    /// Turns true when the member leaves or shuts down: its streams break.
    down: Arc<watch::Sender<bool>>,
}

impl Default for MemNetwork {
    fn default() -> Self {
        Self::new()
    }
}

impl MemNetwork {
    /// An empty network with no faults and the default frame limit.
    pub fn new() -> Self {
        Self::with(Faults::new(), DEFAULT_MAX_FRAME)
    }

    /// An empty network with these fault filters and frame limit.
    pub fn with(faults: Faults, max_frame: usize) -> Self {
        MemNetwork {
            inner: Arc::new(Net {
                members: DashMap::new(),
                faults,
                max_frame,
                generation: AtomicU64::new(0),
            }),
        }
    }

    /// The fault filters shared by every member.
    pub fn faults(&self) -> Faults {
        self.inner.faults.clone()
    }

    /// The synthetic address at which node `id` listens (`[fd6b:756d:6f::<id>]:7000`).
    pub fn addr_of(id: NodeId) -> SocketAddr {
        let ip = Ipv6Addr::from((0xfd6b_756d_6f00_0000_u128 << 64) | u128::from(id));
        SocketAddr::new(ip.into(), 7000)
    }

    /// Adds node `id` with its handler (replacing an earlier member with that id, as a
    /// restarted process would) and returns its transport. It knows no peers yet.
    pub fn join<H: Handler>(&self, id: NodeId, handler: Arc<H>) -> MemTransport {
        let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed);
        let down = Arc::new(watch::Sender::new(false));
        let replaced = self.inner.members.insert(
            Self::addr_of(id),
            Member {
                id,
                generation,
                handler: Arc::new(handler),
                down: down.clone(),
            },
        );
        if let Some(old) = replaced {
            old.down.send_replace(true);
        }
        MemTransport {
            inner: Arc::new(MemInner {
                id,
                generation,
                net: self.inner.clone(),
                peers: DashMap::new(),
                closed: AtomicBool::new(false),
                down,
            }),
        }
    }

    /// Removes node `id`: requests to it fail as `Unreachable` (a crashed process).
    /// Its streams break (`Closed`).
    pub fn leave(&self, id: NodeId) {
        if let Some((_, m)) = self.inner.members.remove(&Self::addr_of(id)) {
            m.down.send_replace(true);
        }
    }
}

/// A node's handle on a [`MemNetwork`]. Cheap to clone.
#[derive(Clone)]
pub struct MemTransport {
    inner: Arc<MemInner>,
}

struct MemInner {
    id: NodeId,
    generation: u64,
    net: Arc<Net>,
    peers: DashMap<NodeId, SocketAddr>,
    closed: AtomicBool,
    down: Arc<watch::Sender<bool>>,
}

impl MemTransport {
    /// Where this node listens.
    pub fn local_addr(&self) -> SocketAddr {
        MemNetwork::addr_of(self.inner.id)
    }

    /// The network's fault filters.
    pub fn faults(&self) -> Faults {
        self.inner.net.faults.clone()
    }

    /// Leaves the network: this node's requests fail with `Closed`, requests to it with
    /// `Unreachable`, its streams break. A later member with the same id is not affected.
    pub fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.down.send_replace(true);
        self.inner
            .net
            .members
            .remove_if(&self.local_addr(), |_, m| {
                m.generation == self.inner.generation
            });
    }

    /// The member listening at `addr`, if it is node `to`.
    fn member(net: &Net, from: NodeId, to: NodeId, addr: SocketAddr) -> Result<Member, Error> {
        let member =
            net.members
                .get(&addr)
                .map(|m| m.clone())
                .ok_or_else(|| Error::Unreachable {
                    node: to,
                    reason: format!("nothing listens at {addr}"),
                })?;
        if member.id != to && to != crate::ANY_NODE {
            tracing::warn!(
                node = from,
                dialled = to,
                found = member.id,
                "refused peer: wrong node at address"
            );
            return Err(Error::Refused(format!(
                "dialled node {to} but node {} listens at {addr}",
                member.id
            )));
        }
        Ok(member)
    }

    async fn send(
        net: Arc<Net>,
        from: NodeId,
        to: NodeId,
        addr: SocketAddr,
        service: Service,
        body: Bytes,
    ) -> Result<Bytes, Error> {
        let member = Self::member(&net, from, to, addr)?;
        let reply = tokio::spawn(member.handler.call(from, service, body))
            .await
            .map_err(|e| Error::Remote(Failure::Failed(format!("handler task failed: {e}"))))?
            .map_err(Error::Remote)?;
        check_len(reply.len(), net.max_frame)?;
        Ok(reply)
    }
}

impl Transport for MemTransport {
    fn id(&self) -> NodeId {
        self.inner.id
    }

    fn set_peer(&self, node: NodeId, addr: SocketAddr) {
        self.inner.peers.insert(node, addr);
    }

    fn remove_peer(&self, node: NodeId) {
        self.inner.peers.remove(&node);
    }

    fn request(
        &self,
        to: NodeId,
        service: Service,
        body: Bytes,
        timeout: Duration,
    ) -> impl Future<Output = Result<Bytes, Error>> + Send {
        let inner = self.inner.clone();
        async move {
            if inner.closed.load(Ordering::Acquire) {
                return Err(Error::Closed);
            }
            check_len(body.len(), inner.net.max_frame)?;
            let addr = inner
                .peers
                .get(&to)
                .map(|a| *a)
                .ok_or_else(|| Error::Unreachable {
                    node: to,
                    reason: "unknown peer".into(),
                })?;
            let from = inner.id;
            let net = inner.net.clone();
            let send = || Self::send(net.clone(), from, to, addr, service, body.clone());
            tokio::time::timeout(timeout, faults::deliver(&inner.net.faults, from, to, send))
                .await
                .unwrap_or(Err(Error::Timeout))
        }
    }

    fn open_stream(
        &self,
        to: NodeId,
        service: Service,
        timeout: Duration,
    ) -> impl Future<Output = Result<(StreamSender, StreamReceiver), Error>> + Send {
        let inner = self.inner.clone();
        async move {
            if inner.closed.load(Ordering::Acquire) {
                return Err(Error::Closed);
            }
            let addr = inner
                .peers
                .get(&to)
                .map(|a| *a)
                .ok_or_else(|| Error::Unreachable {
                    node: to,
                    reason: "unknown peer".into(),
                })?;
            let from = inner.id;
            let net = &inner.net;
            let open = async {
                faults::admit_stream(&net.faults, from, to).await?;
                let member = Self::member(net, from, to, addr)?;
                let (a, b) = (inner.down.subscribe(), member.down.subscribe());
                let opener =
                    Guard::new(&net.faults, from, member.id).with_downs(a.clone(), b.clone());
                let listener = Guard::new(&net.faults, member.id, from).with_downs(a, b);
                let (mine, theirs) =
                    stream::mem_pair(from, member.id, service, net.max_frame, opener, listener);
                let (tx, rx) = theirs;
                tokio::spawn(member.handler.call_stream(from, service, tx, rx));
                Ok(mine)
            };
            tokio::time::timeout(timeout, open)
                .await
                .unwrap_or(Err(Error::Timeout))
        }
    }
}
