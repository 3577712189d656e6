//! The QUIC transport: one quinn endpoint per node, mutual TLS under the cluster CA, one
//! lazily dialled connection per peer, one bidirectional stream per request and one per
//! long-lived stream (told apart by their first byte, `frame.rs`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use dashmap::DashMap;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use parking_lot::Mutex;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{ConnectionError, ReadError, ReadExactError, VarInt, WriteError};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::error::Error;
use crate::faults::{self, Faults};
use crate::frame::{
    CODE_DROPPED, DEFAULT_MAX_FRAME, KIND_REQUEST, KIND_STREAM, REQUEST_HEADER, RESPONSE_HEADER,
    Response, STREAM_HEADER, check_len, parse_request_header, request_header, stream_header,
};
use crate::pki::{self, NodeIdentity, node_id_of, node_server_name};
use crate::stream::{self, Ends, Guard};
use crate::{DynHandler, Handler, NodeId, Service, StreamReceiver, StreamSender, Transport};

/// Application close code: the node shut down.
const CLOSE_SHUTDOWN: u32 = 0;
/// Application close code: the peer's identity was not accepted.
const CLOSE_REFUSED: u32 = 1;
/// Application close code: the peer was removed or moved.
const CLOSE_PEER_CHANGED: u32 = 2;
/// Stream stop code: the request was larger than the frame limit.
const STOP_TOO_LARGE: u32 = 1;

/// Limits and timings of a [`QuicTransport`].
#[derive(Debug, Clone)]
pub struct QuicConfig {
    /// Largest request or response body, and largest frame of a long-lived stream
    /// (default 64 MiB). Larger → [`Error::TooLarge`].
    pub max_frame: usize,
    /// Requests in flight to one peer (default 1024); past it, callers wait.
    pub max_in_flight_per_peer: usize,
    /// Concurrent incoming QUIC streams per connection (default 1024): requests in flight
    /// and open long-lived streams together (QUIC's `max_concurrent_bidi_streams`). Past
    /// it, the dialler waits for one to close: a request until its timeout, and
    /// `open_stream` until its open timeout. A long-lived stream holds its slot until both
    /// of its directions are closed, so many idle streams to one peer can starve requests.
    ///
    /// Flow control: each stream's receive window is 8 MiB and each connection's 32 MiB; a
    /// stream whose receiver does not read makes its sender wait once 8 MiB are
    /// unread (the back-pressure), and holds that much of its connection's window, so
    /// four stalled streams stall every stream and request on that connection until
    /// they are read or closed.
    pub max_incoming_streams: u32,
    /// Incoming connections served at once (default 4096); past it, new ones are refused.
    pub max_connections: usize,
    /// Keep-alive interval, so idle connections survive (default 2 s).
    pub keep_alive: Duration,
    /// A connection that hears nothing for this long is dead (default 10 s).
    pub idle_timeout: Duration,
    /// Longest dial (QUIC + TLS handshake) (default 3 s).
    pub connect_timeout: Duration,
    /// First wait between failed dials to a peer; doubles up to `backoff_max`
    /// (defaults 50 ms and 250 ms). A successful request resets it. The ceiling stays under
    /// Raft's election timeout (300 ms at least): a restarted follower must hear the
    /// leader's heartbeat before it times out, or it starts an election and bumps the term.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Fault filters applied to this node's requests.
    pub faults: Faults,
}

/// The key of this node's QUIC stateless resets, derived from its private key so that it
/// survives a restart. A peer still holding a connection to the node's previous process
/// then gets a valid reset for its next packet and redials at once, instead of timing out
/// on a dead connection until the idle timeout (long enough for a restarted follower to
/// miss heartbeats and start an election). Only the holder of the node key can forge it.
fn reset_key(identity: &NodeIdentity) -> Arc<dyn quinn::crypto::HmacKey> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"kumo quic stateless reset v1\0");
    ctx.update(identity.key_pem.as_bytes());
    let secret = ctx.finish();
    Arc::new(ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        secret.as_ref(),
    ))
}

impl Default for QuicConfig {
    fn default() -> Self {
        QuicConfig {
            max_frame: DEFAULT_MAX_FRAME,
            max_in_flight_per_peer: 1024,
            max_incoming_streams: 1024,
            max_connections: 4096,
            keep_alive: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_millis(250),
            faults: Faults::new(),
        }
    }
}

/// A node's QUIC endpoint: it serves its handler and reaches its peers. Cheap to clone.
#[derive(Clone)]
pub struct QuicTransport {
    inner: Arc<Inner>,
}

struct Inner {
    id: NodeId,
    local_addr: SocketAddr,
    endpoint: Mutex<Option<quinn::Endpoint>>,
    client: quinn::ClientConfig,
    config: QuicConfig,
    peers: DashMap<NodeId, Arc<Peer>>,
    /// Long-lived streams get their own connection per peer, so a stalled stream reader
    /// (QUIC's connection-level flow control) can never hold up requests such as Raft's.
    stream_peers: DashMap<NodeId, Arc<Peer>>,
    closed: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(endpoint) = self.endpoint.lock().take() {
            endpoint.close(VarInt::from_u32(CLOSE_SHUTDOWN), b"shutdown");
        }
    }
}

/// One peer: where it listens, its connection and the bound on requests in flight to it.
struct Peer {
    in_flight: Semaphore,
    state: Mutex<PeerState>,
}

struct PeerState {
    addr: SocketAddr,
    /// Bumped when the address changes or the peer is removed; a dial of an older epoch
    /// does not install its connection.
    epoch: u64,
    conn: Conn,
    backoff: Duration,
    next_attempt: Instant,
    last_error: Option<Failure>,
    /// When the connection last answered a request, or came up (whichever is later).
    last_answer: Instant,
}

/// A connection that has answered nothing for this long when its peer dials us anew is
/// taken to lead to the peer's previous process (killed and restarted: its packets go
/// unanswered, and a stateless reset may never come) and is replaced.
const STALE_AFTER: Duration = Duration::from_secs(1);

type Dial = Shared<BoxFuture<'static, Result<quinn::Connection, Failure>>>;

enum Conn {
    None,
    Dialing(Dial),
    Up(quinn::Connection),
}

/// Why a peer could not be reached, kept to answer callers during back-off.
#[derive(Debug, Clone)]
enum Failure {
    Refused(String),
    Unreachable(String),
}

impl Failure {
    fn into_error(self, node: NodeId) -> Error {
        match self {
            Failure::Refused(r) => Error::Refused(r),
            Failure::Unreachable(reason) => Error::Unreachable { node, reason },
        }
    }

    fn of(e: &Error) -> Option<Failure> {
        match e {
            Error::Refused(r) => Some(Failure::Refused(r.clone())),
            Error::Unreachable { reason, .. } | Error::Lost { reason, .. } => {
                Some(Failure::Unreachable(reason.clone()))
            }
            _ => None,
        }
    }
}

fn is_crypto(code: quinn::TransportErrorCode) -> bool {
    (0x100..0x200).contains(&u64::from(code))
}

/// A TLS failure's reason without rustls' prefix for `Error::General`.
fn tls_reason(reason: &str) -> String {
    reason
        .strip_prefix("unexpected error: ")
        .unwrap_or(reason)
        .to_string()
}

/// What a dead connection means for the caller.
fn connection_failure(e: &ConnectionError) -> Failure {
    match e {
        ConnectionError::TransportError(t) if is_crypto(t.code) => {
            Failure::Refused(if t.reason.is_empty() {
                t.to_string()
            } else {
                tls_reason(&t.reason)
            })
        }
        ConnectionError::ConnectionClosed(c) if is_crypto(c.error_code) => {
            let reason = String::from_utf8_lossy(&c.reason);
            Failure::Refused(if reason.is_empty() {
                format!("the peer rejected our certificate ({})", c.error_code)
            } else {
                format!("the peer rejected our certificate: {}", tls_reason(&reason))
            })
        }
        ConnectionError::ApplicationClosed(c)
            if c.error_code == VarInt::from_u32(CLOSE_REFUSED) =>
        {
            Failure::Refused(String::from_utf8_lossy(&c.reason).into_owned())
        }
        other => Failure::Unreachable(other.to_string()),
    }
}

fn write_failure(e: WriteError) -> Failure {
    match e {
        WriteError::ConnectionLost(c) => connection_failure(&c),
        other => Failure::Unreachable(format!("sending the request: {other}")),
    }
}

fn read_failure(e: ReadExactError) -> Failure {
    match e {
        ReadExactError::ReadError(ReadError::ConnectionLost(c)) => connection_failure(&c),
        other => Failure::Unreachable(format!("reading the response: {other}")),
    }
}

fn transport_config(config: &QuicConfig) -> Result<quinn::TransportConfig, Error> {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(VarInt::from_u32(config.max_incoming_streams))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .keep_alive_interval(Some(config.keep_alive))
        .max_idle_timeout(Some(config.idle_timeout.try_into().map_err(|_| {
            Error::Pki(format!("idle timeout {:?} too large", config.idle_timeout))
        })?))
        .stream_receive_window(VarInt::from_u32(8 << 20))
        .receive_window(VarInt::from_u32(32 << 20))
        .send_window(32 << 20);
    Ok(t)
}

impl QuicTransport {
    /// Binds `listen` as node `id` with the default [`QuicConfig`] and spawns the accept
    /// loop that serves `handler`. Must be called inside a tokio runtime.
    pub fn bind<H: Handler>(
        id: NodeId,
        listen: SocketAddr,
        identity: NodeIdentity,
        handler: Arc<H>,
    ) -> Result<QuicTransport, Error> {
        Self::bind_with(id, listen, identity, handler, QuicConfig::default())
    }

    /// [`QuicTransport::bind`] with explicit limits, timings and fault filters.
    pub fn bind_with<H: Handler>(
        id: NodeId,
        listen: SocketAddr,
        identity: NodeIdentity,
        handler: Arc<H>,
        config: QuicConfig,
    ) -> Result<QuicTransport, Error> {
        if identity.node != id {
            return Err(Error::Pki(format!(
                "identity is for node {}, not node {id}",
                identity.node
            )));
        }
        let (server_tls, client_tls) = pki::tls_configs(&identity)?;
        let transport = Arc::new(transport_config(&config)?);
        let no_suite = |e| Error::Pki(format!("TLS: {e}"));
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(
            QuicServerConfig::try_from(server_tls).map_err(no_suite)?,
        ));
        server.transport_config(transport.clone());
        let mut client = quinn::ClientConfig::new(Arc::new(
            QuicClientConfig::try_from(client_tls).map_err(no_suite)?,
        ));
        client.transport_config(transport);
        let socket = std::net::UdpSocket::bind(listen)?;
        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::new(reset_key(&identity)),
            Some(server),
            socket,
            Arc::new(quinn::TokioRuntime),
        )?;
        let local_addr = endpoint.local_addr()?;
        let faults = config.faults.clone();
        let (max_frame, max_connections) = (config.max_frame, config.max_connections);
        let inner = Arc::new(Inner {
            id,
            local_addr,
            endpoint: Mutex::new(Some(endpoint.clone())),
            client,
            config,
            peers: DashMap::new(),
            stream_peers: DashMap::new(),
            closed: AtomicBool::new(false),
        });
        tokio::spawn(accept_loop(
            id,
            endpoint,
            Arc::new(handler),
            max_frame,
            Arc::new(Semaphore::new(max_connections)),
            faults,
            Arc::downgrade(&inner),
        ));
        tracing::debug!(node = id, %local_addr, "transport listening");
        Ok(QuicTransport { inner })
    }

    /// The address the endpoint is bound to (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// The fault filters applied to this node's requests.
    pub fn faults(&self) -> Faults {
        self.inner.config.faults.clone()
    }

    /// Stops serving and closes every connection; requests then fail with `Closed`.
    /// Returns once the connections have drained, so the port can be bound again after
    /// every clone of this transport is dropped.
    pub async fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let endpoint = self.inner.endpoint.lock().take();
        self.inner.peers.clear();
        self.inner.stream_peers.clear();
        if let Some(endpoint) = endpoint {
            endpoint.close(VarInt::from_u32(CLOSE_SHUTDOWN), b"shutdown");
            endpoint.wait_idle().await;
        }
        tracing::debug!(node = self.inner.id, "transport shut down");
    }
}

impl Inner {
    /// `node` dialled us. If our own connection to it has answered nothing for
    /// [`STALE_AFTER`], it most likely leads to the peer's previous process: drop it, so
    /// the next request dials the live one at once instead of timing out until the idle
    /// timeout (10 s) — a restarted follower heard nothing from its leader meanwhile.
    fn peer_dialled_us(&self, node: NodeId) {
        let Some(peer) = self.peers.get(&node).map(|p| p.clone()) else {
            return;
        };
        let mut st = peer.state.lock();
        if matches!(st.conn, Conn::Up(_)) && st.last_answer.elapsed() >= STALE_AFTER {
            if let Conn::Up(c) = std::mem::replace(&mut st.conn, Conn::None) {
                tracing::info!(
                    node = self.id,
                    peer = node,
                    "peer reconnected; replacing a silent connection to it"
                );
                c.close(VarInt::from_u32(CLOSE_PEER_CHANGED), b"peer reconnected");
            }
            st.backoff = self.config.backoff_min;
            st.next_attempt = Instant::now();
            st.last_error = None;
        }
    }

    fn peer(&self, node: NodeId) -> Option<Arc<Peer>> {
        self.peers.get(&node).map(|p| p.clone())
    }

    fn stream_peer(&self, node: NodeId) -> Option<Arc<Peer>> {
        self.stream_peers.get(&node).map(|p| p.clone())
    }

    /// The connection to `to`: the live one, the dial in progress, or a new dial unless
    /// the peer is in back-off.
    async fn connection(&self, to: NodeId, peer: &Arc<Peer>) -> Result<quinn::Connection, Error> {
        let dial = {
            let mut st = peer.state.lock();
            if let Conn::Up(c) = &st.conn {
                if c.close_reason().is_none() {
                    return Ok(c.clone());
                }
                st.conn = Conn::None;
            }
            match &st.conn {
                Conn::Dialing(d) => d.clone(),
                _ => {
                    let now = Instant::now();
                    if now < st.next_attempt {
                        let wait = st.next_attempt - now;
                        return Err(match st.last_error.clone() {
                            Some(Failure::Refused(r)) => Error::Refused(r),
                            Some(Failure::Unreachable(r)) => Error::Unreachable {
                                node: to,
                                reason: format!("{r} (next dial in {wait:?})"),
                            },
                            None => Error::Unreachable {
                                node: to,
                                reason: format!("next dial in {wait:?}"),
                            },
                        });
                    }
                    st.next_attempt = now + st.backoff;
                    st.backoff = (st.backoff * 2).min(self.config.backoff_max);
                    let d = self.dial(to, st.addr, st.epoch, peer.clone())?;
                    st.conn = Conn::Dialing(d.clone());
                    d
                }
            }
        };
        dial.await.map_err(|f| f.into_error(to))
    }

    /// Starts a dial in its own task, so it completes (and records its outcome) even if
    /// the request that started it times out.
    fn dial(
        &self,
        to: NodeId,
        addr: SocketAddr,
        epoch: u64,
        peer: Arc<Peer>,
    ) -> Result<Dial, Error> {
        let endpoint = self.endpoint.lock().clone().ok_or(Error::Closed)?;
        let client = self.client.clone();
        let connect_timeout = self.config.connect_timeout;
        let local = self.id;
        let task = tokio::spawn(async move {
            let result = async {
                let connecting = endpoint
                    .connect_with(client, addr, &node_server_name(to))
                    .map_err(|e| Failure::Unreachable(format!("dialling {addr}: {e}")))?;
                match tokio::time::timeout(connect_timeout, connecting).await {
                    Err(_) => Err(Failure::Unreachable(format!(
                        "no handshake with {addr} within {connect_timeout:?}"
                    ))),
                    Ok(Err(e)) => Err(connection_failure(&e)),
                    Ok(Ok(c)) => Ok(c),
                }
            }
            .await;
            let mut st = peer.state.lock();
            if st.epoch != epoch {
                if let Ok(c) = &result {
                    c.close(VarInt::from_u32(CLOSE_PEER_CHANGED), b"peer changed");
                }
                return Err(Failure::Unreachable("peer changed while dialling".into()));
            }
            match &result {
                Ok(c) => {
                    tracing::debug!(node = local, peer = to, %addr, "connected");
                    st.conn = Conn::Up(c.clone());
                    st.last_answer = Instant::now();
                }
                Err(f) => {
                    tracing::debug!(node = local, peer = to, %addr, failure = ?f, "dial failed");
                    st.conn = Conn::None;
                    st.last_error = Some(f.clone());
                }
            }
            result
        });
        Ok(async move {
            task.await
                .unwrap_or_else(|e| Err(Failure::Unreachable(format!("dial task: {e}"))))
        }
        .boxed()
        .shared())
    }

    /// One delivery of a request (the fault filters may call it twice).
    async fn send_once(
        &self,
        to: NodeId,
        peer: Arc<Peer>,
        service: Service,
        body: Bytes,
    ) -> Result<Bytes, Error> {
        let _permit = peer.in_flight.acquire().await.map_err(|_| Error::Closed)?;
        let conn = self.connection(to, &peer).await?;
        let result = call(&conn, to, service, body, self.config.max_frame).await;
        let mut st = peer.state.lock();
        match &result {
            // The link works: the next failure starts its back-off afresh.
            Ok(_) | Err(Error::Remote(_)) => {
                st.last_answer = Instant::now();
                if st.backoff != self.config.backoff_min || st.last_error.is_some() {
                    st.backoff = self.config.backoff_min;
                    st.next_attempt = Instant::now();
                    st.last_error = None;
                }
            }
            Err(e) if conn.close_reason().is_some() => st.last_error = Failure::of(e),
            Err(_) => {}
        }
        result
    }
}

/// Reads exactly `len` bytes as they arrive (memory follows the bytes received, not the
/// announced length); a body that arrives in one chunk is not copied.
async fn read_body(recv: &mut quinn::RecvStream, len: usize) -> Result<Bytes, ReadExactError> {
    let mut first: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    let mut got = 0;
    while got < len {
        let Some(chunk) = recv.read_chunk(len - got, true).await? else {
            return Err(ReadExactError::FinishedEarly(got));
        };
        got += chunk.bytes.len();
        if first.is_none() && buf.is_empty() {
            first = Some(chunk.bytes);
        } else {
            if let Some(f) = first.take() {
                buf.extend_from_slice(&f);
            }
            buf.extend_from_slice(&chunk.bytes);
        }
    }
    Ok(first.unwrap_or_else(|| buf.freeze()))
}

/// Sends one request to `to` on a new stream of `conn` and reads its response.
async fn call(
    conn: &quinn::Connection,
    to: NodeId,
    service: Service,
    body: Bytes,
    max_frame: usize,
) -> Result<Bytes, Error> {
    let (mut send, mut recv) = conn
        .open_bi()
        .await
        .map_err(|e| connection_failure(&e).into_error(to))?;
    let mut header = [KIND_REQUEST; 1 + REQUEST_HEADER];
    header[1..].copy_from_slice(&request_header(service, body.len()));
    let written = async {
        send.write_all(&header).await?;
        send.write_chunk(body).await?;
        send.finish().map_err(|_| WriteError::ClosedStream)
    }
    .await;
    // Past this point the peer may have read the request: a failed connection leaves its
    // outcome unknown (`Lost`), unlike a failure to open the stream above.
    let lost = |f: Failure| match f {
        Failure::Unreachable(reason) => Error::Lost { node: to, reason },
        other => other.into_error(to),
    };
    match written {
        // The peer stopped reading (a body over its limit): its response says why.
        Ok(()) | Err(WriteError::Stopped(_)) => {}
        Err(e) => return Err(lost(write_failure(e))),
    }
    let mut h = [0; RESPONSE_HEADER];
    recv.read_exact(&mut h)
        .await
        .map_err(|e| lost(read_failure(e)))?;
    let (status, len) = Response::parse_header(&h);
    if let Err(e) = check_len(len, max_frame) {
        let _ = recv.stop(VarInt::from_u32(STOP_TOO_LARGE));
        return Err(e);
    }
    let body = read_body(&mut recv, len)
        .await
        .map_err(|e| lost(read_failure(e)))?;
    Response::decode(status, body)
}

async fn accept_loop(
    local: NodeId,
    endpoint: quinn::Endpoint,
    handler: Arc<dyn DynHandler>,
    max_frame: usize,
    connections: Arc<Semaphore>,
    faults: Faults,
    transport: std::sync::Weak<Inner>,
) {
    while let Some(incoming) = endpoint.accept().await {
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!(node = local, remote = %incoming.remote_address(), "too many connections, refusing");
            incoming.refuse();
            continue;
        };
        let handler = handler.clone();
        let faults = faults.clone();
        let transport = transport.clone();
        tokio::spawn(async move {
            let _permit = permit;
            serve_connection(local, incoming, handler, max_frame, faults, transport).await;
        });
    }
}

/// The node id proven by the peer's certificate.
fn peer_node(conn: &quinn::Connection) -> Result<NodeId, String> {
    let certs = conn
        .peer_identity()
        .ok_or("no peer certificate")?
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .map_err(|_| "unexpected peer identity type")?;
    node_id_of(certs.first().ok_or("empty peer certificate chain")?)
}

async fn serve_connection(
    local: NodeId,
    incoming: quinn::Incoming,
    handler: Arc<dyn DynHandler>,
    max_frame: usize,
    faults: Faults,
    transport: std::sync::Weak<Inner>,
) {
    let remote = incoming.remote_address();
    let conn = match incoming.await {
        Ok(c) => c,
        Err(e) => {
            // A refused certificate was already logged by the verifier.
            tracing::debug!(node = local, %remote, error = %e, "incoming handshake failed");
            return;
        }
    };
    let from = match peer_node(&conn) {
        Ok(id) => id,
        Err(reason) => {
            tracing::warn!(node = local, %remote, %reason, "refused incoming peer");
            conn.close(VarInt::from_u32(CLOSE_REFUSED), reason.as_bytes());
            return;
        }
    };
    tracing::debug!(node = local, peer = from, %remote, "accepted connection");
    if let Some(inner) = transport.upgrade() {
        inner.peer_dialled_us(from);
    }
    loop {
        match conn.accept_bi().await {
            Ok((send, recv)) => {
                let served = Served {
                    local,
                    from,
                    handler: handler.clone(),
                    max_frame,
                    faults: faults.clone(),
                };
                tokio::spawn(serve_stream(served, send, recv));
            }
            Err(e) => {
                tracing::debug!(node = local, peer = from, error = %e, "connection ended");
                return;
            }
        }
    }
}

/// What serving one incoming QUIC stream needs.
struct Served {
    local: NodeId,
    from: NodeId,
    handler: Arc<dyn DynHandler>,
    max_frame: usize,
    faults: Faults,
}

/// Serves one incoming QUIC stream: a request or a long-lived stream, by its first byte.
async fn serve_stream(served: Served, mut send: quinn::SendStream, mut recv: quinn::RecvStream) {
    let from = served.from;
    let mut kind = [0u8; 1];
    if let Err(e) = recv.read_exact(&mut kind).await {
        tracing::debug!(peer = from, error = %e, "stream ended before its kind byte");
        return;
    }
    match kind[0] {
        KIND_REQUEST => serve_request(served, send, recv).await,
        KIND_STREAM => {
            let mut h = [0u8; STREAM_HEADER];
            if let Err(e) = recv.read_exact(&mut h).await {
                tracing::debug!(peer = from, error = %e, "stream ended before its header");
                return;
            }
            let service = u16::from_be_bytes(h);
            let ends = Ends {
                peer: from,
                service,
                max_frame: served.max_frame,
            };
            let guard = Guard::new(&served.faults, served.local, from);
            let (tx, rx) = stream::quic_end(send, recv, ends, guard);
            served.handler.call_stream(from, service, tx, rx).await;
        }
        k => {
            tracing::debug!(peer = from, kind = k, "unknown stream kind");
            let _ = recv.stop(VarInt::from_u32(CODE_DROPPED));
            let _ = send.reset(VarInt::from_u32(CODE_DROPPED));
        }
    }
}

async fn serve_request(served: Served, mut send: quinn::SendStream, mut recv: quinn::RecvStream) {
    let Served {
        from,
        handler,
        max_frame,
        ..
    } = served;
    let result: Result<(), String> = async {
        let mut h = [0; REQUEST_HEADER];
        recv.read_exact(&mut h).await.map_err(|e| e.to_string())?;
        let (service, len) = parse_request_header(&h);
        let response = match check_len(len, max_frame) {
            Err(_) => {
                let _ = recv.stop(VarInt::from_u32(STOP_TOO_LARGE));
                Response::TooLarge {
                    len,
                    max: max_frame,
                }
            }
            Ok(()) => {
                let body = read_body(&mut recv, len).await.map_err(|e| e.to_string())?;
                match handler.call(from, service, body).await {
                    Ok(reply) => match check_len(reply.len(), max_frame) {
                        Ok(()) => Response::Ok(reply),
                        Err(_) => Response::TooLarge {
                            len: reply.len(),
                            max: max_frame,
                        },
                    },
                    Err(m) => Response::Remote(m),
                }
            }
        };
        let (h, body) = response.encode();
        send.write_all(&h).await.map_err(|e| e.to_string())?;
        send.write_chunk(body).await.map_err(|e| e.to_string())?;
        send.finish().map_err(|e| e.to_string())
    }
    .await;
    if let Err(e) = result {
        tracing::debug!(peer = from, error = %e, "request stream failed");
    }
}

impl Transport for QuicTransport {
    fn id(&self) -> NodeId {
        self.inner.id
    }

    fn set_peer(&self, node: NodeId, addr: SocketAddr) {
        upsert_peer(&self.inner.peers, &self.inner.config, node, addr);
        upsert_peer(&self.inner.stream_peers, &self.inner.config, node, addr);
    }

    fn remove_peer(&self, node: NodeId) {
        for map in [&self.inner.peers, &self.inner.stream_peers] {
            if let Some((_, peer)) = map.remove(&node) {
                let mut st = peer.state.lock();
                st.epoch += 1;
                if let Conn::Up(c) = std::mem::replace(&mut st.conn, Conn::None) {
                    c.close(VarInt::from_u32(CLOSE_PEER_CHANGED), b"peer removed");
                }
            }
        }
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
            check_len(body.len(), inner.config.max_frame)?;
            let peer = inner.peer(to).ok_or_else(|| Error::Unreachable {
                node: to,
                reason: "unknown peer".into(),
            })?;
            let from = inner.id;
            let send = || {
                let inner = inner.clone();
                let peer = peer.clone();
                let body = body.clone();
                async move {
                    tokio::time::timeout(timeout, inner.send_once(to, peer, service, body))
                        .await
                        .unwrap_or(Err(Error::Timeout))
                }
            };
            tokio::time::timeout(
                timeout,
                faults::deliver(&inner.config.faults, from, to, send),
            )
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
            let peer = inner.stream_peer(to).ok_or_else(|| Error::Unreachable {
                node: to,
                reason: "unknown peer".into(),
            })?;
            let faults = &inner.config.faults;
            let open = async {
                faults::admit_stream(faults, inner.id, to).await?;
                let conn = inner.connection(to, &peer).await?;
                // Waits here while the peer's limit of concurrent streams is reached.
                let (mut send, recv) = conn
                    .open_bi()
                    .await
                    .map_err(|e| connection_failure(&e).into_error(to))?;
                send.write_all(&stream_header(service))
                    .await
                    .map_err(|e| write_failure(e).into_error(to))?;
                let ends = Ends {
                    peer: to,
                    service,
                    max_frame: inner.config.max_frame,
                };
                Ok(stream::quic_end(
                    send,
                    recv,
                    ends,
                    Guard::new(faults, inner.id, to),
                ))
            };
            tokio::time::timeout(timeout, open)
                .await
                .unwrap_or(Err(Error::Timeout))
        }
    }
}

/// Records where `node` listens in `peers`: a new peer, or a moved one (its connection is
/// closed and its back-off reset).
fn upsert_peer(
    peers: &DashMap<NodeId, Arc<Peer>>,
    cfg: &QuicConfig,
    node: NodeId,
    addr: SocketAddr,
) {
    let peer = peers
        .entry(node)
        .or_insert_with(|| {
            Arc::new(Peer {
                in_flight: Semaphore::new(cfg.max_in_flight_per_peer),
                state: Mutex::new(PeerState {
                    addr,
                    epoch: 0,
                    conn: Conn::None,
                    backoff: cfg.backoff_min,
                    next_attempt: Instant::now(),
                    last_error: None,
                    last_answer: Instant::now(),
                }),
            })
        })
        .clone();
    let mut st = peer.state.lock();
    if st.addr != addr {
        st.addr = addr;
        st.epoch += 1;
        if let Conn::Up(c) = std::mem::replace(&mut st.conn, Conn::None) {
            c.close(VarInt::from_u32(CLOSE_PEER_CHANGED), b"peer moved");
        }
        st.backoff = cfg.backoff_min;
        st.next_attempt = Instant::now();
        st.last_error = None;
    }
}
