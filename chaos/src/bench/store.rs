//! `kumo bench store`: acknowledged puts through Raft with fsync — Kumo's store (N nodes in
//! this process over QUIC with mutual TLS, each with its own data directory) and, in the
//! same run with the same settings, etcd (N `etcd` processes on 127.0.0.1) driven through
//! the `etcd-client` crate. One table with both and the ratio.

#[cfg(feature = "etcd-baseline")]
use std::net::TcpListener;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command as Process;
#[cfg(feature = "etcd-baseline")]
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use kumo_raft_store::cluster::{ClusterService, TransportNetwork, TransportPeers};
use kumo_raft_store::{Command, Node, Outcome, Precondition, StoreConfig, StoreNode};
use kumo_transport::{ClusterCa, QuicTransport};

/// Most concurrent clients accepted.
pub const MAX_CLIENTS: usize = 10_000;
/// Largest value accepted.
pub const MAX_VALUE: usize = 1 << 20;
/// Longest run accepted, per system.
pub const MAX_DURATION: u64 = 600;
/// Most distinct keys accepted.
pub const MAX_KEYS: usize = 10_000_000;
/// Default etcd binary (Debian's `etcd-server`).
pub const DEFAULT_ETCD: &str = "/usr/bin/etcd";

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct StoreBench {
    pub nodes: u64,
    pub clients: usize,
    pub value_size: usize,
    pub duration: Duration,
    pub keys: usize,
    pub etcd: PathBuf,
    pub no_etcd: bool,
    pub leader_only: bool,
    /// etcd client connections (gRPC channels) shared by the clients; 0 = one per 10
    /// clients, at least one per node, at most 100.
    pub etcd_conns: usize,
}

impl StoreBench {
    fn check(&self) -> anyhow::Result<()> {
        ensure!(matches!(self.nodes, 1 | 3 | 5), "--nodes must be 1, 3 or 5");
        ensure!(
            (1..=MAX_CLIENTS).contains(&self.clients),
            "--clients must be 1..={MAX_CLIENTS}"
        );
        ensure!(
            (1..=MAX_VALUE).contains(&self.value_size),
            "--value-size must be 1..={MAX_VALUE} bytes"
        );
        ensure!(
            (1..=MAX_DURATION).contains(&self.duration.as_secs()),
            "--duration must be 1..={MAX_DURATION} seconds"
        );
        ensure!(
            (1..=MAX_KEYS).contains(&self.keys),
            "--keys must be 1..={MAX_KEYS}"
        );
        ensure!(self.etcd_conns <= MAX_CLIENTS, "--etcd-conns is too large");
        Ok(())
    }

    fn etcd_conns(&self) -> usize {
        if self.etcd_conns > 0 {
            return self.etcd_conns.min(self.clients);
        }
        self.clients
            .div_ceil(10)
            .clamp(1, 100)
            .max((self.nodes as usize).min(self.clients))
    }
}

/// The result of one system's run.
struct Row {
    system: String,
    puts: usize,
    errors: u64,
    elapsed: Duration,
    p50: f64,
    p99: f64,
}

impl Row {
    fn rate(&self) -> f64 {
        self.puts as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn key_of(i: u64, keys: usize) -> String {
    format!("bench/{:08}", i % keys as u64)
}

/// Runs `clients` tasks for `duration`; task `c` calls `put(c, i)` with the next global
/// sequence number `i` until the deadline. Returns (latencies of acknowledged puts, errors,
/// wall time until every task stopped).
async fn drive<F, Fut>(clients: usize, duration: Duration, put: F) -> (Vec<Duration>, u64, Duration)
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let put = Arc::new(put);
    let seq = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients {
        let put = put.clone();
        let seq = seq.clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(4096);
            let mut last_error = None;
            while Instant::now() < deadline {
                let i = seq.fetch_add(1, Ordering::Relaxed);
                let t0 = Instant::now();
                match put(c, i).await {
                    Ok(()) => lat.push(t0.elapsed()),
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        last_error = Some(e);
                        // Do not spin on a failing system.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            (lat, last_error)
        }));
    }
    let mut all = Vec::new();
    let mut shown = false;
    for t in tasks {
        if let Ok((lat, last_error)) = t.await {
            all.extend(lat);
            if let Some(e) = last_error
                && !shown
            {
                eprintln!("kumo bench store: a put failed: {e:#}");
                shown = true;
            }
        }
    }
    (all, errors.load(Ordering::Relaxed), start.elapsed())
}

fn row(system: String, (mut lat, errors, elapsed): (Vec<Duration>, u64, Duration)) -> Row {
    lat.sort_unstable();
    let q = |p: f64| {
        if lat.is_empty() {
            return 0.0;
        }
        lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3
    };
    Row {
        system,
        puts: lat.len(),
        errors,
        elapsed,
        p50: q(0.5),
        p99: q(0.99),
    }
}

// ---------------------------------------------------------------------------------------
// Kumo: N store nodes in this process.

struct KumoCluster {
    nodes: Vec<StoreNode>,
    transports: Vec<QuicTransport>,
    dirs: Vec<tempfile::TempDir>,
}

impl KumoCluster {
    async fn start(n: u64) -> anyhow::Result<Self> {
        let ca = ClusterCa::try_generate()?;
        let mut c = KumoCluster {
            nodes: Vec::new(),
            transports: Vec::new(),
            dirs: Vec::new(),
        };
        if let Err(e) = c.grow(&ca, n).await {
            c.stop().await;
            return Err(e);
        }
        Ok(c)
    }

    async fn grow(&mut self, ca: &ClusterCa, n: u64) -> anyhow::Result<()> {
        for id in 1..=n {
            let identity = ca.issue(id, &["127.0.0.1".to_string()], 1)?;
            let svc = ClusterService::new();
            let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
            let transport = QuicTransport::bind(id, listen, identity, svc.clone())?;
            self.transports.push(transport.clone());
            let addr = transport.local_addr().to_string();
            let dir = tempfile::Builder::new()
                .prefix(&format!("kumo-bench-store-{id}-"))
                .tempdir()?;
            let mut cfg = StoreConfig::single(addr.clone());
            cfg.node_id = id;
            cfg.api_addr = addr.clone();
            let (node, _) = StoreNode::open_with(
                dir.path(),
                cfg,
                TransportNetwork::new(transport.clone()),
                Some(TransportPeers::new(transport.clone())),
                id == 1,
            )
            .await
            .with_context(|| format!("opening store node {id}"))?;
            self.dirs.push(dir);
            svc.set_node(node.clone());
            kumo_raft_store::cluster::guard_elections(node.clone(), transport.clone());
            if id == 1 {
                node.wait_leader(Duration::from_secs(10)).await?;
            } else {
                let node_info = Node {
                    peer_addr: addr.clone(),
                    api_addr: addr,
                };
                self.nodes[0]
                    .add_member(id, node_info, true)
                    .await
                    .with_context(|| format!("adding node {id}"))?;
            }
            self.nodes.push(node);
        }
        for node in &self.nodes {
            node.wait_leader_known(Duration::from_secs(10)).await?;
        }
        Ok(())
    }

    fn leader(&self) -> usize {
        self.nodes.iter().position(|n| n.is_leader()).unwrap_or(0)
    }

    /// Stops the leader first (followers then have nothing to answer), then the others.
    async fn stop(&mut self) {
        let leader = self.leader();
        if let Some(node) = self.nodes.get(leader) {
            let _ = node.shutdown().await;
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if i != leader {
                let _ = node.shutdown().await;
            }
        }
        for t in &self.transports {
            t.shutdown().await;
        }
        self.nodes.clear();
        self.transports.clear();
        for d in self.dirs.drain(..) {
            let _ = d.close();
        }
    }
}

/// An unconditional put in Kumo's store: `Absent` for a key's first write, `Exists` after
/// (the store has no unconditional put; a wrong guess retries with the other precondition).
async fn kumo_put(node: &StoreNode, key: String, value: Bytes, first: bool) -> anyhow::Result<()> {
    let mut pre = if first {
        Precondition::Absent
    } else {
        Precondition::Exists
    };
    for _ in 0..4 {
        let cmd = Command::Put {
            key: key.clone(),
            value: value.clone(),
            precondition: pre,
        };
        match node.propose(cmd).await? {
            Outcome::Done { .. } => return Ok(()),
            Outcome::AlreadyExists { .. } => pre = Precondition::Exists,
            Outcome::NotFound => pre = Precondition::Absent,
            other => bail!("unexpected outcome {other:?}"),
        }
    }
    bail!("put of {key} kept racing")
}

async fn run_kumo(b: &StoreBench) -> anyhow::Result<Row> {
    let mut cluster = KumoCluster::start(b.nodes).await?;
    let leader = cluster.leader();
    let nodes: Arc<Vec<StoreNode>> = Arc::new(cluster.nodes.clone());
    let value = Bytes::from(vec![b'v'; b.value_size]);
    let (keys, leader_only) = (b.keys, b.leader_only);
    let result = drive(b.clients, b.duration, move |c, i| {
        let node = if leader_only {
            nodes[leader].clone()
        } else {
            nodes[c % nodes.len()].clone()
        };
        let value = value.clone();
        async move { kumo_put(&node, key_of(i, keys), value, i < keys as u64).await }
    })
    .await;
    cluster.stop().await;
    Ok(row(
        format!("kumo (openraft, QUIC+mTLS, {} node(s))", b.nodes),
        result,
    ))
}

// ---------------------------------------------------------------------------------------
// etcd: N processes on 127.0.0.1.

#[cfg(feature = "etcd-baseline")]
struct EtcdCluster {
    children: Vec<Child>,
    client_urls: Vec<String>,
    dirs: Vec<tempfile::TempDir>,
}

#[cfg(feature = "etcd-baseline")]
impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(feature = "etcd-baseline")]
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn etcd_version(bin: &Path) -> anyhow::Result<String> {
    let out = Process::new(bin)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("etcd Version:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into()))
}

#[cfg(feature = "etcd-baseline")]
impl EtcdCluster {
    async fn start(bin: &Path, n: u64) -> anyhow::Result<Self> {
        let mut c = EtcdCluster {
            children: Vec::new(),
            client_urls: Vec::new(),
            dirs: Vec::new(),
        };
        let mut peer_urls = Vec::new();
        for _ in 0..n {
            c.client_urls
                .push(format!("http://127.0.0.1:{}", free_port()?));
            peer_urls.push(format!("http://127.0.0.1:{}", free_port()?));
        }
        let initial: Vec<String> = peer_urls
            .iter()
            .enumerate()
            .map(|(i, u)| format!("e{}={u}", i + 1))
            .collect();
        let initial = initial.join(",");
        for (i, peer_url) in peer_urls.iter().enumerate() {
            let dir = tempfile::Builder::new()
                .prefix(&format!("etcd-bench-store-{}-", i + 1))
                .tempdir()?;
            let log = std::fs::File::create(dir.path().join("etcd.log"))?;
            let child = Process::new(bin)
                .args(["--name", &format!("e{}", i + 1)])
                .arg("--data-dir")
                .arg(dir.path().join("data"))
                .args(["--listen-client-urls", &c.client_urls[i]])
                .args(["--advertise-client-urls", &c.client_urls[i]])
                .args(["--listen-peer-urls", peer_url])
                .args(["--initial-advertise-peer-urls", peer_url])
                .args(["--initial-cluster", &initial])
                .args(["--initial-cluster-state", "new"])
                .args([
                    "--initial-cluster-token",
                    &format!("kumo-bench-{}", std::process::id()),
                ])
                .args(["--quota-backend-bytes", &(8u64 << 30).to_string()])
                .args(["--max-request-bytes", &(2u64 << 20).to_string()])
                .args(["--logger", "zap", "--log-level", "warn"])
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .with_context(|| format!("starting {}", bin.display()))?;
            c.children.push(child);
            c.dirs.push(dir);
        }
        c.wait_healthy(Duration::from_secs(30)).await?;
        Ok(c)
    }

    /// Waits until every member answers its status and names a leader.
    async fn wait_healthy(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        for (i, url) in self.client_urls.clone().iter().enumerate() {
            loop {
                if let Ok(Some(status)) = self.children[i].try_wait() {
                    bail!("etcd e{} exited ({status}): {}", i + 1, self.log_tail(i));
                }
                let ok = async {
                    let opts = etcd_client::ConnectOptions::new()
                        .with_connect_timeout(Duration::from_secs(1))
                        .with_timeout(Duration::from_secs(2));
                    let mut client = etcd_client::Client::connect([url], Some(opts)).await?;
                    let st = client.status().await?;
                    anyhow::Ok(st.leader() != 0)
                }
                .await
                .unwrap_or(false);
                if ok {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("etcd e{} not healthy in time: {}", i + 1, self.log_tail(i));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    fn log_tail(&self, i: usize) -> String {
        let text =
            std::fs::read_to_string(self.dirs[i].path().join("etcd.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// The index of the member that leads.
    async fn leader(&self) -> anyhow::Result<usize> {
        for (i, url) in self.client_urls.iter().enumerate() {
            let mut client = etcd_client::Client::connect([url], None).await?;
            let st = client.status().await?;
            if st.header().map(|h| h.member_id()) == Some(st.leader()) {
                return Ok(i);
            }
        }
        bail!("no etcd member says it leads")
    }

    fn stop(mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.clear();
        for d in self.dirs.drain(..) {
            let _ = d.close();
        }
    }
}

#[cfg(feature = "etcd-baseline")]
async fn run_etcd(b: &StoreBench, version: &str) -> anyhow::Result<Row> {
    let cluster = EtcdCluster::start(&b.etcd, b.nodes).await?;
    let leader = if b.leader_only {
        Some(cluster.leader().await?)
    } else {
        None
    };
    let mut conns = Vec::new();
    for j in 0..b.etcd_conns() {
        let url = &cluster.client_urls[leader.unwrap_or(j % cluster.client_urls.len())];
        let client = etcd_client::Client::connect([url], None)
            .await
            .with_context(|| format!("connecting to etcd at {url}"))?;
        conns.push(client.kv_client());
    }
    let conns = Arc::new(conns);
    let value = Arc::new(vec![b'v'; b.value_size]);
    let keys = b.keys;
    let result = drive(b.clients, b.duration, move |c, i| {
        let mut kv = conns[c % conns.len()].clone();
        let value = value.clone();
        async move {
            kv.put(key_of(i, keys), value.as_slice(), None).await?;
            Ok(())
        }
    })
    .await;
    cluster.stop();
    Ok(row(format!("etcd {version} ({} node(s))", b.nodes), result))
}

// ---------------------------------------------------------------------------------------

pub async fn run(b: StoreBench) -> anyhow::Result<()> {
    b.check()?;
    let etcd_version = if b.no_etcd {
        None
    } else if cfg!(not(feature = "etcd-baseline")) {
        bail!(
            "this kumo was built without the etcd baseline: rebuild with \
             `cargo build --release -p kumo --features etcd-baseline` (needs protoc), \
             or pass --no-etcd"
        );
    } else if !b.etcd.exists() {
        bail!(
            "no etcd binary at {}: install Debian's etcd-server (apt-get install etcd-server) \
             or pass --no-etcd",
            b.etcd.display()
        );
    } else {
        Some(etcd_version(&b.etcd)?)
    };
    println!("kumo bench store");
    println!("machine: {} cores, {}", super::num_cpus(), super::machine());
    println!(
        "settings: {} node(s), {} clients, {} B values, {} s per system, {} distinct keys written \
         round-robin (bench/00000000…), data in {} (fsync on every acknowledged write)",
        b.nodes,
        b.clients,
        b.value_size,
        b.duration.as_secs(),
        b.keys,
        std::env::temp_dir().display()
    );
    let spread = if b.leader_only || b.nodes == 1 {
        "every client writes to the leader".to_string()
    } else {
        "clients spread round-robin over the nodes; writes reaching a follower are forwarded \
         to the leader"
            .to_string()
    };
    println!(
        "kumo: {} store nodes in this process over QUIC with mutual TLS; each client a task \
         calling StoreNode::propose(Put) (Absent for a key's first write, Exists after); {spread}",
        b.nodes
    );
    if let Some(v) = &etcd_version {
        println!(
            "etcd: {} × {} {v} on 127.0.0.1 (default fsync), driven by etcd-client (gRPC): {} \
             connections shared by the {} clients (client c uses connection c mod {}); {}",
            b.nodes,
            b.etcd.display(),
            b.etcd_conns(),
            b.clients,
            b.etcd_conns(),
            if b.leader_only || b.nodes == 1 {
                "every connection to the leader"
            } else {
                "connections spread round-robin over the members; followers forward to the leader"
            }
        );
    } else {
        println!("etcd: skipped (--no-etcd)");
    }
    println!();

    #[allow(unused_mut)] // the etcd row is only there with the etcd-baseline feature
    let mut rows = vec![run_kumo(&b).await?];
    #[cfg(feature = "etcd-baseline")]
    if let Some(v) = &etcd_version {
        rows.push(run_etcd(&b, v).await?);
    }

    println!("| system | nodes | clients | value B | puts | puts/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.2} |",
            r.system,
            b.nodes,
            b.clients,
            b.value_size,
            r.puts,
            r.rate(),
            r.p50,
            r.p99
        );
    }
    println!();
    let errors: Vec<String> = rows
        .iter()
        .map(|r| format!("{}: {}", r.system, r.errors))
        .collect();
    println!("errors: {}", errors.join(", "));
    if let [kumo, etcd] = rows.as_slice() {
        println!(
            "ratio kumo/etcd: puts/s {:.2}×, p99 {:.2}× (p99 below 1 is better for kumo)",
            kumo.rate() / etcd.rate().max(1e-9),
            kumo.p99 / etcd.p99.max(1e-9)
        );
    }
    Ok(())
}
