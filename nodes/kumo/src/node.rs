//! The one composition root: how a control-plane node is put together from its parts —
//! store, cluster transport, registry, controllers and API server — for both `kumo up` (one
//! node with no peers) and `kumo control` (a member of a cluster). Nothing else starts a
//! node.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kumo_apimachinery::resources;
use kumo_raft_store::cluster::{ClusterService, TransportNetwork, TransportPeers};
use kumo_raft_store::{RecoveryReport, StoreConfig, StoreNode};
use kumo_registry::error::Reason;
use kumo_registry::runtime::{RuntimeHandle, RuntimeMetrics};
use kumo_registry::{Api, WriteOpts};
use kumo_server::metrics::Metrics;
use kumo_server::pki::{self, Pki};
use serde_json::json;

use crate::config::NodeConfig;
use crate::error::NodeError;
use crate::member;

/// A running node.
pub struct Running {
    pub store: StoreNode,
    pub addr: SocketAddr,
    pub kubeconfig: PathBuf,
    shutdown: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    controllers: RuntimeHandle,
    transport: Option<kumo_transport::QuicTransport>,
}

/// What [`Running::stop`] stopped.
#[derive(Debug)]
pub struct Stopped {
    /// Controller tasks (the runtime's watcher and each controller) that ended.
    pub controller_tasks: usize,
}

impl Running {
    /// Stops the controllers and serving, then the store (its log writer flushes) and the
    /// transport.
    pub async fn stop(self) -> Stopped {
        let controller_tasks = self.controllers.stop().await;
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.server).await;
        let _ = self.store.shutdown().await;
        if let Some(t) = self.transport {
            t.shutdown().await;
        }
        Stopped { controller_tasks }
    }
}

/// Starts the node and returns once its API serves. On an error nothing is left running.
pub async fn start(cfg: &NodeConfig) -> Result<Running, NodeError> {
    std::fs::create_dir_all(&cfg.data_dir)?;
    let store_dir = cfg.data_dir.join("store");
    let mut scfg = StoreConfig::single(cfg.api_addr.to_string());
    scfg.max_events = cfg.history_events;
    scfg.truncate_damaged_log = cfg.truncate_damaged_log;
    let (store, transport) = match &cfg.member {
        None => (
            open_store(cfg, StoreNode::open(&store_dir, scfg).await)?,
            None,
        ),
        Some(m) => {
            let svc = ClusterService::new();
            let transport = member::bind(cfg, m, svc.clone()).await?;
            scfg.node_id = m.id;
            scfg.peer_addr = m.peer_addr.to_string();
            let opened = StoreNode::open_with(
                &store_dir,
                scfg,
                TransportNetwork::new(transport.clone()),
                Some(TransportPeers::new(transport.clone())),
                m.join.is_none(),
            )
            .await;
            let store = match open_store(cfg, opened) {
                Ok(s) => s,
                Err(e) => {
                    transport.shutdown().await;
                    return Err(e);
                }
            };
            if let Err(e) = member::take_part(cfg, m, &store, &transport, &svc).await {
                let _ = store.shutdown().await;
                transport.shutdown().await;
                return Err(e);
            }
            (store, Some(transport))
        }
    };
    match serve(cfg, store.clone(), transport.clone()).await {
        Ok(r) => Ok(r),
        Err(e) => {
            // Stop Raft cleanly before reporting: nothing is left running behind the error.
            let _ = store.shutdown().await;
            if let Some(t) = transport {
                t.shutdown().await;
            }
            Err(e)
        }
    }
}

/// The store as opened, or the error the operator can act on; what recovery cut is logged.
fn open_store(
    cfg: &NodeConfig,
    opened: kumo_raft_store::Result<(StoreNode, RecoveryReport)>,
) -> Result<StoreNode, NodeError> {
    let (store, report) = match opened {
        Ok(x) => x,
        Err(kumo_raft_store::Error::Locked(_)) => {
            return Err(NodeError::InUse {
                dir: cfg.data_dir.clone(),
            });
        }
        Err(source) => {
            return Err(NodeError::Store {
                dir: cfg.data_dir.join("store"),
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
        let after = if cfg.member.is_some() {
            "this node catches up from its peers"
        } else {
            "writes it held may have been acknowledged and are lost"
        };
        tracing::error!(
            "--truncate-damaged-log: cut {bytes} bytes of a damaged log group at {}:{off}; {after}",
            seg.display()
        );
    }
    Ok(store)
}

/// Serves the API of `store` on `cfg.api_addr`, with the controllers, once a leader is known.
async fn serve(
    cfg: &NodeConfig,
    store: StoreNode,
    transport: Option<kumo_transport::QuicTransport>,
) -> Result<Running, NodeError> {
    let wait = Duration::from_secs(30);
    store
        .wait_leader_known(wait)
        .await
        .map_err(|_| NodeError::NoLeader(wait))?;
    let mut hosts = vec![cfg.api_addr.ip().to_string()];
    hosts.extend(cfg.tls_san.iter().cloned());
    let pki = Pki::load_or_create(&cfg.data_dir, &hosts)?;
    let tls = pki.server_config()?;
    let listener = tokio::net::TcpListener::bind(cfg.api_addr)
        .await
        .map_err(|source| NodeError::Listen {
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
    let controller_metrics = Arc::new(RuntimeMetrics::default());
    let metrics = Arc::new(Metrics::default().with_controllers(controller_metrics.clone()));
    let api = Api::new(store.clone(), cfg.limits.clone());
    let server = kumo_server::api::new_server(
        api,
        pki.admin_token.clone(),
        metrics,
        addr.to_string(),
        cfg.connections.clone(),
    );
    bootstrap(&server.api).await;
    // Claims left by older code (which wrote them apart from their Service) are freed
    // (bounded: retried each second for at most 5 minutes, then it gives up and logs).
    tokio::spawn(kumo_registry::repair_allocations_at_start(
        server.api.clone(),
    ));
    // Supervised; they stop with the node (`Running::stop`).
    let controllers = kumo_registry::controllers::start(
        server.api.clone(),
        pki.ca_pem.clone(),
        controller_metrics,
    );
    let conns = server.conns.clone();
    let token: Arc<str> = Arc::from(server.token.as_str());
    let app = kumo_server::api::router(server);
    let (shutdown, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(kumo_server::api::serve(
        listener, tls, app, conns, token, rx,
    ));
    Ok(Running {
        store,
        addr,
        kubeconfig,
        shutdown,
        server: handle,
        controllers,
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
            Err(e) if e.reason == Reason::AlreadyExists => {}
            Err(e) => tracing::warn!(namespace = ns, error = %e.message, "bootstrap"),
        }
    }
    let svc = resources::lookup("", "v1", "services").expect("registered");
    let obj = kumo_registry::controllers::kubernetes_service();
    match api.create(svc, Some("default"), obj, &opts).await {
        Ok(_) | Err(_) => {}
    }
}

/// Runs the node until SIGINT/SIGTERM: prints how to use it, then stops cleanly.
pub async fn run(cfg: NodeConfig) -> Result<(), NodeError> {
    match &cfg.member {
        None => eprintln!(
            "kumo: starting the control plane (data in {})",
            cfg.data_dir.display()
        ),
        Some(m) => eprintln!(
            "kumo: starting control-plane node {} (peer {}, API {}, data in {})",
            m.id,
            m.peer_addr,
            cfg.api_addr,
            cfg.data_dir.display()
        ),
    }
    let running = start(&cfg).await?;
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
    let stopped = running.stop().await;
    tracing::debug!(
        controller_tasks = stopped.controller_tasks,
        "controllers stopped"
    );
    if cfg.member.is_some() {
        let _ = std::fs::remove_file(cfg.data_dir.join("pid"));
    }
    eprintln!("kumo: stopped");
    Ok(())
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

#[cfg(test)]
mod tests {
    use kumo_registry::Limits;
    use kumo_server::api::conns::ConnLimits;

    use super::*;

    /// The controllers run in a node (the system-objects controller publishes the root CA)
    /// and every controller task ends when the node stops.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn controllers_run_and_stop_with_the_node() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cfg = NodeConfig {
            data_dir: tmp.path().to_path_buf(),
            api_addr: "127.0.0.1:0".parse().expect("addr"),
            limits: Limits::default(),
            connections: ConnLimits::default(),
            history_events: kumo_raft_store::mvcc::DEFAULT_MAX_EVENTS,
            tls_san: Vec::new(),
            truncate_damaged_log: false,
            member: None,
        };
        let running = start(&cfg).await.expect("node starts");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while running.store.shared().read(|m| {
            m.get("core/configmaps/kube-system/kube-root-ca.crt")
                .is_none()
        }) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no root CA published"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let stopped = running.stop().await;
        assert_eq!(
            stopped.controller_tasks, 4,
            "the watcher and three controllers end with the node"
        );
    }
}
