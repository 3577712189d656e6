//! Test handler, cluster harnesses for both transports, and a log capture.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use kumo_transport::{
    ClusterCa, Faults, Handler, MemNetwork, NodeId, QuicConfig, QuicTransport, Service, Transport,
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

/// A handler with a few services, counting every call.
#[derive(Default)]
pub struct TestHandler {
    /// Every call, whatever the service.
    pub total: AtomicU64,
    /// Calls of `COUNT`.
    pub counted: AtomicU64,
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
    ) -> impl Future<Output = Result<Bytes, String>> + Send {
        self.total.fetch_add(1, Ordering::SeqCst);
        async move {
            match service {
                ECHO => Ok(body),
                FAIL => Err(format!("boom: {}", String::from_utf8_lossy(&body))),
                WHO => Ok(u64_body(from)),
                SLEEP => {
                    tokio::time::sleep(Duration::from_millis(body_u64(&body))).await;
                    Ok(Bytes::from_static(b"slept"))
                }
                COUNT => Ok(u64_body(self.counted.fetch_add(1, Ordering::SeqCst) + 1)),
                BIG => Ok(Bytes::from(vec![7u8; body_u64(&body) as usize])),
                PANIC => panic!("handler panics on purpose"),
                s => Err(format!("unknown service {s}")),
            }
        }
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
    ) -> impl Future<Output = Vec<Node<Self::T>>>;
}

pub struct Mem;

impl Harness for Mem {
    type T = kumo_transport::MemTransport;

    async fn start(&self, ids: &[NodeId], faults: Faults, max_frame: usize) -> Vec<Node<Self::T>> {
        let net = MemNetwork::with(faults, max_frame);
        let nodes: Vec<_> = ids
            .iter()
            .map(|&id| {
                let handler = Arc::new(TestHandler::default());
                Node {
                    id,
                    transport: net.join(id, handler.clone()),
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

    async fn start(&self, ids: &[NodeId], faults: Faults, max_frame: usize) -> Vec<Node<Self::T>> {
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
                let transport =
                    QuicTransport::bind_with(id, loopback(), identity, handler.clone(), config)
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
