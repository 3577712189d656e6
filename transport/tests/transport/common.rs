//! Test handler, cluster harnesses for both transports, and a log capture.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use kumo_transport::{
    ClusterCa, Error, Failure, Faults, Handler, MemNetwork, NodeId, QuicConfig, QuicTransport,
    Service, StreamReceiver, StreamSender, Transport,
};

pub const ECHO: Service = 1;
pub const FAIL: Service = 2;
pub const WHO: Service = 3;
/// Body: milliseconds to sleep (u64 BE).
pub const SLEEP: Service = 4;
/// Counts calls of this service and answers the count.
pub const COUNT: Service = 5;
/// Body: length (u64 BE) of the reply to make.
pub const BIG: Service = 6;
pub const PANIC: Service = 7;

/// Stream: echoes every frame, finishes after the opener finishes.
pub const S_ECHO: Service = 20;
/// Stream: drains the opener's frames; when it finishes, answers one frame (count u64 BE |
/// sum of the frames' first 8 bytes as u64 BE) and finishes.
pub const S_SUM: Service = 21;
/// Stream: reads nothing until `release` is notified; then drains, answers the count of
/// frames (u64 BE) and finishes.
pub const S_HOLD: Service = 22;
/// Stream: reads one frame, then drops both halves without finishing.
pub const S_DROP: Service = 23;
/// Stream: answers the opener's id (u64 BE) and finishes.
pub const S_WHO: Service = 24;
/// Stream: for each frame (a length, u64 BE), answers a frame of that length, or the frame
/// "too large" if sending it failed with `TooLarge`.
pub const S_BIG: Service = 25;
/// Stream: panics.
pub const S_PANIC: Service = 26;

/// A handler with a few services, counting every call.
#[derive(Default)]
pub struct TestHandler {
    /// Every call, whatever the service.
    pub total: AtomicU64,
    /// Calls of `COUNT`.
    pub counted: AtomicU64,
    /// Streams served, whatever the service.
    pub streams: AtomicU64,
    /// Lets an `S_HOLD` stream start reading.
    pub release: tokio::sync::Notify,
}

impl TestHandler {
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::SeqCst)
    }
}

pub fn u64_body(n: u64) -> Bytes {
    Bytes::copy_from_slice(&n.to_be_bytes())
}

pub fn body_u64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b.try_into().expect("8 bytes"))
}

impl Handler for TestHandler {
    fn handle(
        &self,
        from: NodeId,
        service: Service,
        body: Bytes,
    ) -> impl Future<Output = Result<Bytes, Failure>> + Send {
        self.total.fetch_add(1, Ordering::SeqCst);
        async move {
            match service {
                ECHO => Ok(body),
                FAIL => Err(Failure::Failed(format!(
                    "boom: {}",
                    String::from_utf8_lossy(&body)
                ))),
                WHO => Ok(u64_body(from)),
                SLEEP => {
                    tokio::time::sleep(Duration::from_millis(body_u64(&body))).await;
                    Ok(Bytes::from_static(b"slept"))
                }
                COUNT => Ok(u64_body(self.counted.fetch_add(1, Ordering::SeqCst) + 1)),
                BIG => Ok(Bytes::from(vec![7u8; body_u64(&body) as usize])),
                PANIC => panic!("handler panics on purpose"),
                s => Err(Failure::UnknownService(s)),
            }
        }
    }

    fn handle_stream(
        &self,
        from: NodeId,
        service: Service,
        tx: StreamSender,
        rx: StreamReceiver,
    ) -> impl Future<Output = ()> + Send {
        self.streams.fetch_add(1, Ordering::SeqCst);
        async move {
            if let Err(e) = self.serve_stream(from, service, tx, rx).await {
                tracing::debug!(peer = from, service, error = %e, "test stream ended");
            }
        }
    }
}

impl TestHandler {
    async fn serve_stream(
        &self,
        from: NodeId,
        service: Service,
        mut tx: StreamSender,
        mut rx: StreamReceiver,
    ) -> Result<(), Error> {
        match service {
            S_ECHO => {
                while let Some(frame) = rx.recv().await? {
                    tx.send(frame).await?;
                }
                tx.finish().await
            }
            S_SUM => {
                let (mut count, mut sum) = (0u64, 0u64);
                while let Some(frame) = rx.recv().await? {
                    count += 1;
                    sum += body_u64(&frame[..8]);
                }
                let mut answer = count.to_be_bytes().to_vec();
                answer.extend_from_slice(&sum.to_be_bytes());
                tx.send(Bytes::from(answer)).await?;
                tx.finish().await
            }
            S_HOLD => {
                self.release.notified().await;
                let mut count = 0u64;
                while rx.recv().await?.is_some() {
                    count += 1;
                }
                tx.send(u64_body(count)).await?;
                tx.finish().await
            }
            S_DROP => {
                rx.recv().await?;
                Ok(())
            }
            S_WHO => {
                tx.send(u64_body(from)).await?;
                tx.finish().await
            }
            S_BIG => {
                while let Some(frame) = rx.recv().await? {
                    let big = Bytes::from(vec![7u8; body_u64(&frame) as usize]);
                    match tx.send(big).await {
                        Err(Error::TooLarge { .. }) => {
                            tx.send(Bytes::from_static(b"too large")).await?
                        }
                        r => r?,
                    }
                }
                tx.finish().await
            }
            S_PANIC => panic!("stream handler panics on purpose"),
            _ => Ok(()),
        }
    }
}

/// A handler that serves requests only (the default `handle_stream`).
pub struct Plain(pub Arc<TestHandler>);

impl Handler for Plain {
    fn handle(
        &self,
        from: NodeId,
        service: Service,
        body: Bytes,
    ) -> impl Future<Output = Result<Bytes, Failure>> + Send {
        self.0.handle(from, service, body)
    }
}

/// A running node of a test cluster.
pub struct Node<T> {
    pub id: NodeId,
    pub transport: T,
    pub handler: Arc<TestHandler>,
}

/// Starts clusters of one transport kind for the conformance suite.
pub trait Harness {
    type T: Transport;
    /// Starts nodes `ids`, each knowing every other, sharing `faults`, with frame limit
    /// `max_frame`.
    fn start(
        &self,
        ids: &[NodeId],
        faults: Faults,
        max_frame: usize,
    ) -> impl Future<Output = Vec<Node<Self::T>>> {
        self.start_with(ids, faults, max_frame, &[])
    }

    /// [`Harness::start`], the nodes of `plain` serving requests only (`Plain`).
    fn start_with(
        &self,
        ids: &[NodeId],
        faults: Faults,
        max_frame: usize,
        plain: &[NodeId],
    ) -> impl Future<Output = Vec<Node<Self::T>>>;
}

pub struct Mem;

impl Harness for Mem {
    type T = kumo_transport::MemTransport;

    async fn start_with(
        &self,
        ids: &[NodeId],
        faults: Faults,
        max_frame: usize,
        plain: &[NodeId],
    ) -> Vec<Node<Self::T>> {
        let net = MemNetwork::with(faults, max_frame);
        let nodes: Vec<_> = ids
            .iter()
            .map(|&id| {
                let handler = Arc::new(TestHandler::default());
                let transport = if plain.contains(&id) {
                    net.join(id, Arc::new(Plain(handler.clone())))
                } else {
                    net.join(id, handler.clone())
                };
                Node {
                    id,
                    transport,
                    handler,
                }
            })
            .collect();
        for n in &nodes {
            for m in &nodes {
                n.transport.set_peer(m.id, MemNetwork::addr_of(m.id));
            }
        }
        nodes
    }
}

pub struct Quic;

pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

impl Harness for Quic {
    type T = QuicTransport;

    async fn start_with(
        &self,
        ids: &[NodeId],
        faults: Faults,
        max_frame: usize,
        plain: &[NodeId],
    ) -> Vec<Node<Self::T>> {
        let ca = ClusterCa::generate();
        let nodes: Vec<_> = ids
            .iter()
            .map(|&id| {
                let handler = Arc::new(TestHandler::default());
                let identity = ca.issue(id, &["127.0.0.1".into()], 1).unwrap();
                let config = QuicConfig {
                    max_frame,
                    faults: faults.clone(),
                    ..QuicConfig::default()
                };
                let transport = if plain.contains(&id) {
                    let plain = Arc::new(Plain(handler.clone()));
                    QuicTransport::bind_with(id, loopback(), identity, plain, config)
                } else {
                    QuicTransport::bind_with(id, loopback(), identity, handler.clone(), config)
                }
                .unwrap();
                Node {
                    id,
                    transport,
                    handler,
                }
            })
            .collect();
        for n in &nodes {
            for m in &nodes {
                n.transport.set_peer(m.id, m.transport.local_addr());
            }
        }
        nodes
    }
}

/// Captures this thread's log lines (current-thread runtimes keep every task on it).
#[derive(Clone, Default)]
pub struct Logs(Arc<parking_lot::Mutex<Vec<u8>>>);

impl Logs {
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let sub = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || logs.clone())
            .finish();
        tracing::subscriber::set_default(sub)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
