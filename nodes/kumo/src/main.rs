//! The `kumo` command.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use kumo_nodes::{bench, telemetry, up};

#[derive(Parser)]
#[command(name = "kumo", version, about = "Kumo: a serverless Kubernetes")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the embedded single-node control plane.
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
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: bench::BenchCmd,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
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
            } => {
                let cfg = up::UpConfig {
                    data_dir: data_dir.unwrap_or_else(up::default_data_dir),
                    api_addr,
                    limits: Default::default(),
                    history_events,
                };
                up::run(cfg).await?;
                Ok(())
            }
            Cmd::Bench { what } => bench::run(what).await,
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
