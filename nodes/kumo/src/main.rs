//! The `kumo` command.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// mimalloc gives freed memory back to the system; glibc's malloc kept the ~200 MB that 60
/// stalled watchers had buffered after they were gone (hostile test t04, measured).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
mod config;
mod error;
mod launcher;
mod member;
mod node;

use kumo_chaos::bench;
use kumo_server::telemetry;

#[derive(Parser)]
#[command(name = "kumo", version, about = "Kumo: a serverless Kubernetes")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Limits of the API server that an operator may tune (the defaults follow Kubernetes).
#[derive(clap::Args, Clone)]
struct ServeFlags {
    /// Seconds a client has to send a request's line and headers (also between keep-alive
    /// requests on HTTP/1).
    #[arg(long, default_value_t = 32)]
    request_header_timeout: u64,
    /// Seconds a handler waits for a request body (then 408).
    #[arg(long, default_value_t = 60)]
    request_body_timeout: u64,
    /// Seconds a connection may stay open without authenticating.
    #[arg(long, default_value_t = 32)]
    unauthenticated_timeout: u64,
    /// Seconds an authenticated connection may stay idle.
    #[arg(long, default_value_t = 90)]
    idle_connection_timeout: u64,
    /// Connections that have not authenticated yet; past it the oldest such is closed.
    #[arg(long, default_value_t = 1024)]
    max_unauthenticated_connections: usize,
    /// Authenticated client connections; when full the oldest idle one is closed, and when
    /// none is idle a new one is answered 429.
    #[arg(long, default_value_t = 8192)]
    max_connections: usize,
    /// Seconds a watch may keep its buffer full (its client not reading) before it is ended.
    #[arg(long, default_value_t = 10)]
    watch_stall_timeout: u64,
}

impl ServeFlags {
    /// The node's settings with these limits (every other setting given).
    #[allow(clippy::too_many_arguments)]
    fn node(
        &self,
        data_dir: PathBuf,
        api_addr: SocketAddr,
        history_events: usize,
        tls_san: Vec<String>,
        truncate_damaged_log: bool,
        member: Option<config::Member>,
    ) -> config::NodeConfig {
        use std::time::Duration;
        let secs = |s: u64| Duration::from_secs(s.max(1));
        config::NodeConfig {
            data_dir,
            api_addr,
            limits: kumo_registry::Limits {
                watch_stall: secs(self.watch_stall_timeout),
                ..Default::default()
            },
            connections: kumo_server::api::conns::ConnLimits {
                max_connections: self.max_connections.max(1),
                max_unauthenticated: self.max_unauthenticated_connections.max(1),
                handshake: Duration::from_secs(10),
                header: secs(self.request_header_timeout),
                body: secs(self.request_body_timeout),
                authenticate_within: secs(self.unauthenticated_timeout),
                idle: secs(self.idle_connection_timeout),
            },
            history_events,
            tls_san,
            truncate_damaged_log,
            member,
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the embedded single-node control plane, or a local cluster with --nodes N.
    Up {
        /// Where data, certificates and the kubeconfig live.
        #[arg(long, env = "KUMO_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Address of the Kubernetes API (HTTPS).
        #[arg(long, default_value = "127.0.0.1:6443")]
        api_addr: SocketAddr,
        /// Revisions of change history kept for watches and consistent lists; a watch that
        /// falls further behind gets 410 Expired and relists.
        #[arg(long, default_value_t = kumo_raft_store::mvcc::DEFAULT_MAX_EVENTS)]
        history_events: usize,
        /// Lay out and run a local cluster of this many control-plane nodes (processes on
        /// 127.0.0.1 … 127.0.0.N).
        #[arg(long, default_value_t = 1)]
        nodes: u64,
        /// Extra names or addresses for the API's serving certificate (e.g. a load balancer).
        #[arg(long = "tls-san")]
        tls_san: Vec<String>,
        #[command(flatten)]
        serve: ServeFlags,
        /// Start even if the last group of the Raft log is damaged (complete but failing
        /// its checksum), cutting it off: writes it held may have been acknowledged. Without
        /// this, such a node refuses to start and names the file and offset.
        #[arg(long)]
        truncate_damaged_log: bool,
    },
    /// Run one control-plane node of a cluster. A node that ran before restarts with
    /// `--data-dir` alone: its id and addresses are recorded there.
    Control {
        /// This node's id (unique in the cluster, from 1).
        #[arg(long)]
        id: Option<u64>,
        /// This node's data directory (its store, certificates and node.json).
        #[arg(long)]
        data_dir: PathBuf,
        /// QUIC address for Raft and peers.
        #[arg(long)]
        peer_addr: Option<SocketAddr>,
        /// HTTPS address of the Kubernetes API.
        #[arg(long)]
        api_addr: Option<SocketAddr>,
        /// Peer address of a member to join through (omit to start a new cluster).
        #[arg(long)]
        join: Option<SocketAddr>,
        #[arg(long, default_value_t = kumo_raft_store::mvcc::DEFAULT_MAX_EVENTS)]
        history_events: usize,
        /// Extra names or addresses for the API's serving certificate (e.g. a load balancer).
        #[arg(long = "tls-san")]
        tls_san: Vec<String>,
        #[command(flatten)]
        serve: ServeFlags,
        /// Start even if the last group of the Raft log is damaged (complete but failing
        /// its checksum), cutting it off: writes it held may have been acknowledged. Without
        /// this, such a node refuses to start and names the file and offset.
        #[arg(long)]
        truncate_damaged_log: bool,
    },
    /// List the members of a cluster: role, term, log position, replication lag.
    Members {
        /// Data directory of `kumo up` (reads its kubeconfig).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Any kubeconfig of the cluster.
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// Remove this node from the membership (then stop its process).
        #[arg(long)]
        remove: Option<u64>,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: bench::BenchCmd,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Every client connection is a file descriptor: raise the soft limit to the hard one,
    // as Go programs (kube-apiserver among them) do at start.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("kumo: could not raise the open-files limit: {e}");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kumo: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let _telemetry = rt.block_on(async { telemetry::init("info") });
    let result: anyhow::Result<()> = rt.block_on(async move {
        match cli.cmd {
            Cmd::Up {
                data_dir,
                api_addr,
                history_events,
                nodes,
                tls_san,
                truncate_damaged_log,
                ..
            } if nodes > 1 => {
                anyhow::ensure!(
                    !truncate_damaged_log,
                    "--truncate-damaged-log applies to one node: run that node with \
                     `kumo control --data-dir DIR --truncate-damaged-log`"
                );
                let dir = data_dir.unwrap_or_else(config::default_data_dir);
                launcher::run_local_cluster(nodes, &dir, api_addr, history_events, &tls_san)
                    .await?;
                Ok(())
            }
            Cmd::Control {
                id,
                data_dir,
                peer_addr,
                api_addr,
                join,
                history_events,
                tls_san,
                serve,
                truncate_damaged_log,
            } => {
                let record = member::read_record(&data_dir)?;
                let (id, peer_addr, api_addr) =
                    member::reconcile(record.as_ref(), id, peer_addr, api_addr)
                        .map_err(anyhow::Error::msg)?;
                let member = config::Member {
                    id,
                    peer_addr,
                    join,
                };
                let cfg = serve.node(
                    data_dir,
                    api_addr,
                    history_events,
                    tls_san,
                    truncate_damaged_log,
                    Some(member),
                );
                node::run(cfg).await?;
                Ok(())
            }
            Cmd::Members {
                data_dir,
                kubeconfig,
                remove,
            } => launcher::members(data_dir, kubeconfig, remove).await,
            Cmd::Up {
                data_dir,
                api_addr,
                history_events,
                tls_san,
                serve,
                truncate_damaged_log,
                ..
            } => {
                let cfg = serve.node(
                    data_dir.unwrap_or_else(config::default_data_dir),
                    api_addr,
                    history_events,
                    tls_san,
                    truncate_damaged_log,
                    None,
                );
                node::run(cfg).await?;
                Ok(())
            }
            Cmd::Bench { what } => {
                bench::run(what, &config::default_data_dir().join("kubeconfig")).await
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kumo: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
