//! `kumo up`: one process with a one-node control plane, serving the Kubernetes API over
//! HTTPS, its data and kubeconfig in one directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kumo_apimachinery::resources;
use kumo_raft_store::{StoreConfig, StoreNode};
use serde_json::json;

use crate::api::registry::{Api, Limits, WriteOpts};
use crate::metrics::Metrics;
use crate::pki::{self, Pki};

/// Errors that stop `kumo up`, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    #[error("cluster transport")]
    Transport(#[from] kumo_transport::Error),
    #[error("{0}")]
    Cluster(String),
    #[error(
        "data directory {dir} is in use by another kumo process; stop it first, or pass another --data-dir"
    )]
    InUse { dir: PathBuf },
    #[error(
        "cannot listen on {addr} (is another API server running there? pass --api-addr to pick another address)"
    )]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the store at {dir}")]
    Store {
        dir: PathBuf,
        source: kumo_raft_store::Error,
    },
    #[error("certificates")]
    Pki(#[from] pki::Error),
    #[error("the store elected no leader within {0:?}")]
    NoLeader(Duration),
    #[error("i/o")]
    Io(#[from] std::io::Error),
}

/// Settings of `kumo up`.
#[derive(Debug, Clone)]
pub struct UpConfig {
    pub data_dir: PathBuf,
    pub api_addr: SocketAddr,
    pub limits: Limits,
    /// Bound of the store's event window (see `kumo_raft_store::mvcc::DEFAULT_MAX_EVENTS`).
    pub history_events: usize,
    /// Extra names or addresses the API's serving certificate covers (a load balancer).
    pub tls_san: Vec<String>,
    /// Cut a damaged last Raft log group instead of refusing to start.
    pub truncate_damaged_log: bool,
}

/// The default data directory: `$KUMO_HOME`, else `$XDG_DATA_HOME/kumo`, else `~/.local/share/kumo`.
pub fn default_data_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("KUMO_HOME") {
        return PathBuf::from(h);
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(x).join("kumo");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".local/share/kumo"),
        None => PathBuf::from("./kumo-data"),
    }
}

/// A running control plane.
pub struct Running {
    pub store: StoreNode,
    pub addr: SocketAddr,
    pub kubeconfig: PathBuf,
    shutdown: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    transport: Option<kumo_transport::QuicTransport>,
}

impl Running {
    /// Stops serving, then stops the store (its log writer flushes).
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.server).await;
        let _ = self.store.shutdown().await;
        if let Some(t) = self.transport {
            t.shutdown().await;
        }
    }
}

/// Starts everything and returns once the API is serving.
pub async fn start(cfg: &UpConfig) -> Result<Running, UpError> {
    std::fs::create_dir_all(&cfg.data_dir)?;
    let store_dir = cfg.data_dir.join("store");
    let mut store_cfg = StoreConfig::single(cfg.api_addr.to_string());
    store_cfg.max_events = cfg.history_events;
    store_cfg.truncate_damaged_log = cfg.truncate_damaged_log;
    let (store, report) = match StoreNode::open(&store_dir, store_cfg).await {
        Ok(x) => x,
        Err(kumo_raft_store::Error::Locked(_)) => {
            return Err(UpError::InUse {
                dir: cfg.data_dir.clone(),
            });
        }
        Err(source) => {
            return Err(UpError::Store {
                dir: store_dir,
                source,
            });
        }
    };
    if let Some((seg, off, bytes)) = &report.truncated_tail {
        tracing::warn!(
            "recovered the store: cut {bytes} bytes of an unfinished write at {}:{off}",
            seg.display()
        );
    }
    if let Some((seg, off, bytes)) = &report.damaged_tail_cut {
        tracing::error!(
            "--truncate-damaged-log: cut {bytes} bytes of a damaged log group at {}:{off}; \
             writes it held may have been acknowledged and are lost",
            seg.display()
        );
    }
    match serve_on(cfg, store.clone(), None).await {
        Ok(r) => Ok(r),
        Err(e) => {
            // Stop Raft cleanly before reporting: nothing is left running behind the error.
            let _ = store.shutdown().await;
            Err(e)
        }
    }
}

/// Serves the API of `store` on `cfg.api_addr`. `transport` is the node's QUIC endpoint in
/// a cluster (shut down with the node).
pub(crate) async fn serve_on(
    cfg: &UpConfig,
    store: StoreNode,
    transport: Option<kumo_transport::QuicTransport>,
) -> Result<Running, UpError> {
    let wait = Duration::from_secs(30);
    store
        .wait_leader_known(wait)
        .await
        .map_err(|_| UpError::NoLeader(wait))?;
    let mut hosts = vec![cfg.api_addr.ip().to_string()];
    hosts.extend(cfg.tls_san.iter().cloned());
    let pki = Pki::load_or_create(&cfg.data_dir, &hosts)?;
    let tls = pki.server_config()?;
    let listener = tokio::net::TcpListener::bind(cfg.api_addr)
        .await
        .map_err(|source| UpError::Listen {
            addr: cfg.api_addr,
            source,
        })?;
    let addr = listener.local_addr()?;
    let server_url = format!("https://{addr}");
    let kubeconfig = cfg.data_dir.join("kubeconfig");
    pki::write_private(
        &kubeconfig,
        pki::kubeconfig(&server_url, &pki.ca_pem, &pki.admin_token).as_bytes(),
    )?;
    let metrics = Arc::new(Metrics::default());
    let api = Api::new(store.clone(), cfg.limits.clone());
    let server = crate::api::new_server(api, pki.admin_token.clone(), metrics, addr.to_string());
    bootstrap(&server.api).await;
    tokio::spawn(crate::controllers::run(server.api.clone()));
    tokio::spawn(crate::controllers::run_system_objects(
        server.api.clone(),
        pki.ca_pem.clone(),
    ));
    let conns = server.conns.clone();
    let token: Arc<str> = Arc::from(server.token.as_str());
    let app = crate::api::router(server);
    let (shutdown, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(crate::api::serve(listener, tls, app, conns, token, rx));
    Ok(Running {
        store,
        addr,
        kubeconfig,
        shutdown,
        server: handle,
        transport,
    })
}

/// Creates what every cluster has from the start: the four system namespaces (each gets its
/// `default` ServiceAccount) and the `kubernetes` Service. Existing objects are kept.
async fn bootstrap(api: &Api) {
    let ns_res = resources::lookup("", "v1", "namespaces").expect("registered");
    let opts = WriteOpts {
        field_manager: Some("kube-apiserver".into()),
        ..Default::default()
    };
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        match api.create(ns_res, None, obj, &opts).await {
            Ok(_) => tracing::debug!(namespace = ns, "created"),
            Err(e) if e.code == 409 => {}
            Err(e) => tracing::warn!(namespace = ns, error = %e.message, "bootstrap"),
        }
    }
    let svc = resources::lookup("", "v1", "services").expect("registered");
    let obj = crate::controllers::kubernetes_service();
    match api.create(svc, Some("default"), obj, &opts).await {
        Ok(_) | Err(_) => {}
    }
}

/// `kumo up`: start, print how to use it, serve until SIGINT/SIGTERM.
pub async fn run(cfg: UpConfig) -> Result<(), UpError> {
    eprintln!(
        "kumo: starting the control plane (data in {})",
        cfg.data_dir.display()
    );
    let running = start(&cfg).await?;
    serve_until_signal(running).await;
    Ok(())
}

/// Prints how to use the running node, serves until SIGINT/SIGTERM, then stops cleanly.
pub(crate) async fn serve_until_signal(running: Running) {
    let kc = running.kubeconfig.display();
    eprintln!("kumo: API serving at https://{}", running.addr);
    eprintln!("kumo: kubeconfig written to {kc}");
    eprintln!();
    eprintln!("  export KUBECONFIG={kc}");
    eprintln!("  kubectl get namespaces");
    eprintln!();
    eprintln!("kumo: press Ctrl-C to stop");
    wait_for_signal().await;
    eprintln!("kumo: shutting down");
    running.stop().await;
    eprintln!("kumo: stopped");
}

pub(crate) async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let term_fut = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term_fut => {}
    }
}

/// Reads `DIR/kubeconfig`'s server URL and token (for tools such as `kumo bench`).
pub fn read_kubeconfig(path: &Path) -> Option<(String, String, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_yaml::from_str(&text).ok()?;
    let server = v
        .pointer("/clusters/0/cluster/server")?
        .as_str()?
        .to_string();
    let ca = v
        .pointer("/clusters/0/cluster/certificate-authority-data")?
        .as_str()?
        .to_string();
    let token = v.pointer("/users/0/user/token")?.as_str()?.to_string();
    Some((server, ca, token))
}
