//! `kumo up --nodes N` (a local cluster laid out as `kumo control` processes on 127.0.0.x)
//! and `kumo members` (who is in the cluster and how far along each node is).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use kumo_chaos::client::{https_client, read_kubeconfig};
use kumo_raft_store::node::Leadership;
use kumo_raft_store::{NodeId, NodeStatus};
use kumo_server::pki::{self, Pki};
use kumo_transport::ClusterCa;
use serde_json::Value;

use crate::error::{NodeError, cluster_err};
use crate::member::CLUSTER_CA_KEY;

/// The addresses of node `i` of a local cluster: 127.0.0.i, API on the given port, peers on
/// the next one.
fn local_addrs(i: u64, api_port: u16) -> (SocketAddr, SocketAddr) {
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, i as u8));
    (
        SocketAddr::new(ip, api_port),
        SocketAddr::new(ip, api_port + 1),
    )
}

fn copy_if_missing(from: &Path, to: &Path) -> Result<(), NodeError> {
    if !to.exists() {
        let data = std::fs::read(from)?;
        pki::write_private(to, &data)?;
    }
    Ok(())
}

/// `kumo up --nodes N`: lays out a local cluster in `dir` (one data directory per node,
/// shared API CA and token, shared cluster CA), starts every node as its own `kumo control`
/// process on 127.0.0.x, writes `dir/kubeconfig`, and stops them all on SIGINT/SIGTERM.
pub async fn run_local_cluster(
    n: u64,
    dir: &Path,
    api_addr: SocketAddr,
    history_events: usize,
    tls_san: &[String],
) -> Result<(), NodeError> {
    if !(1..=9).contains(&n) {
        return Err(cluster_err("--nodes must be between 1 and 9"));
    }
    if !api_addr.ip().is_loopback() || api_addr.port() == 0 {
        return Err(cluster_err(
            "a local cluster needs --api-addr 127.0.0.1:PORT with a fixed port",
        ));
    }
    std::fs::create_dir_all(dir)?;
    // One launcher per directory, for as long as it runs.
    let lock = std::fs::File::create(dir.join("kumo-up.lock"))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(cluster_err(format!(
                "{} is in use by another `kumo up --nodes`; stop it first (Ctrl-C in its \
                 terminal) or pick another --data-dir",
                dir.display()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
    }
    let node_dir = |i: u64| dir.join(format!("node-{i}"));
    // A cluster laid out before restarts as a whole: every node at once, since none can
    // serve before a quorum is back.
    let restart = node_dir(1).join("store").exists();
    // Shared credentials: the API CA and token (so one kubeconfig works on every node) and
    // the cluster CA (so nodes can issue their own QUIC certificates).
    let first = node_dir(1);
    std::fs::create_dir_all(first.join("pki"))?;
    let hosts: Vec<String> = (1..=n)
        .map(|i| local_addrs(i, api_addr.port()).0.ip().to_string())
        .collect();
    let api_pki = Pki::load_or_create(&first, &hosts)?;
    let first_ca = first.join("pki").join(kumo_transport::CA_CERT_FILE);
    if !first_ca.exists() {
        let ca = ClusterCa::try_generate()?;
        let (cert, key) = ca.to_pem();
        pki::write_private(&first_ca, cert.as_bytes())?;
        pki::write_private(&first.join("pki").join(CLUSTER_CA_KEY), key.as_bytes())?;
    }
    for i in 2..=n {
        let pki_dir = node_dir(i).join("pki");
        std::fs::create_dir_all(&pki_dir)?;
        for f in [
            "ca.crt",
            "ca.key",
            "admin.token",
            kumo_transport::CA_CERT_FILE,
            CLUSTER_CA_KEY,
        ] {
            copy_if_missing(&first.join("pki").join(f), &pki_dir.join(f))?;
        }
    }
    let exe = std::env::current_exe()?;
    let mut children: Vec<(u64, Child)> = Vec::new();
    let ca_pem = api_pki.ca_pem.clone();
    let spawn = |i: u64| -> Result<Child, NodeError> {
        let (api, peer) = local_addrs(i, api_addr.port());
        let d = node_dir(i);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("kumo.log"))?;
        let mut cmd = Process::new(&exe);
        cmd.arg("control")
            .args(["--id", &i.to_string()])
            .arg("--data-dir")
            .arg(&d)
            .args([
                "--peer-addr",
                &peer.to_string(),
                "--api-addr",
                &api.to_string(),
            ])
            .args(["--history-events", &history_events.to_string()])
            .args(tls_san.iter().flat_map(|s| ["--tls-san", s.as_str()]))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if i > 1 {
            cmd.args(["--join", &local_addrs(1, api_addr.port()).1.to_string()]);
        }
        let child = cmd.spawn()?;
        eprintln!(
            "kumo: node {i}: pid {} — API https://{api}, peer {peer}, log {}",
            child.id(),
            d.join("kumo.log").display()
        );
        Ok(child)
    };
    // A new cluster: the first node bootstraps, then the others join through it one by
    // one. A restart: all at once.
    let waves: Vec<Vec<u64>> = if restart {
        vec![(1..=n).collect()]
    } else {
        (1..=n).map(|i| vec![i]).collect()
    };
    for wave in waves {
        for &i in &wave {
            match spawn(i) {
                Ok(c) => children.push((i, c)),
                Err(e) => {
                    stop_children(&mut children).await;
                    return Err(e);
                }
            }
        }
        for &i in &wave {
            let url = format!("https://{}", local_addrs(i, api_addr.port()).0);
            let child = &mut children
                .iter_mut()
                .find(|(j, _)| *j == i)
                .expect("spawned")
                .1;
            let ready = wait_ready(
                &url,
                &ca_pem,
                &api_pki.admin_token,
                Duration::from_secs(60),
                child,
            )
            .await;
            if let Err(e) = ready {
                stop_children(&mut children).await;
                return Err(cluster_err(format!(
                    "node {i} did not become ready: {e}; see {}",
                    node_dir(i).join("kumo.log").display()
                )));
            }
        }
    }
    let urls: Vec<String> = (1..=n)
        .map(|i| format!("https://{}", local_addrs(i, api_addr.port()).0))
        .collect();
    let kubeconfig = dir.join("kubeconfig");
    pki::write_private(
        &kubeconfig,
        pki::kubeconfig_multi(&urls, &ca_pem, &api_pki.admin_token).as_bytes(),
    )?;
    eprintln!(
        "kumo: {n}-node cluster serving; kubeconfig written to {}",
        kubeconfig.display()
    );
    eprintln!();
    eprintln!("  export KUBECONFIG={}", kubeconfig.display());
    eprintln!("  kubectl get namespaces                  # through node 1");
    for (i, u) in urls.iter().enumerate().skip(1) {
        eprintln!(
            "  kubectl --context kumo-node-{} get ns    # through {u}",
            i + 1
        );
    }
    eprintln!("  kumo members --data-dir {}", dir.display());
    eprintln!();
    eprintln!("kumo: press Ctrl-C to stop the cluster");
    // A node that exits (crash, kill) is reported, not fatal: the others keep serving.
    let watcher = async {
        let mut reported = std::collections::BTreeSet::new();
        loop {
            for (i, c) in children.iter_mut() {
                if !reported.contains(i)
                    && let Ok(Some(status)) = c.try_wait()
                {
                    eprintln!(
                        "kumo: node {i} exited ({status}); the others keep serving. Restart it with:\n  {} control --data-dir {}",
                        exe.display(),
                        node_dir(*i).display()
                    );
                    reported.insert(*i);
                }
            }
            if reported.len() == children.len() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::select! {
        _ = crate::node::wait_for_signal() => {}
        _ = watcher => eprintln!("kumo: every node has exited"),
    }
    eprintln!("kumo: stopping {} nodes", children.len());
    stop_children(&mut children).await;
    eprintln!("kumo: stopped");
    Ok(())
}

/// SIGTERM to every node still running, then waits (up to 20 s) before killing what is left.
async fn stop_children(children: &mut Vec<(u64, Child)>) {
    for (_, c) in children.iter_mut() {
        // A child already reaped (`try_wait` answered before) has given its pid back to the
        // system, which may have reused it: never signal it. One not yet reaped still owns
        // its pid (as a zombie at worst), so the signal cannot reach another process.
        if matches!(c.try_wait(), Ok(Some(_))) {
            continue;
        }
        let _ = Process::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    for (_, c) in children.iter_mut() {
        while Instant::now() < deadline && !matches!(c.try_wait(), Ok(Some(_))) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = c.kill();
        let _ = c.wait();
    }
    children.clear();
}

/// Waits until the node's `/readyz` answers 200; fails at once if its process exits.
async fn wait_ready(
    url: &str,
    ca_pem: &str,
    token: &str,
    patience: Duration,
    child: &mut Child,
) -> Result<(), String> {
    let client = https_client(ca_pem, 1)?;
    let deadline = Instant::now() + patience;
    let mut last = String::from("not answering");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("its process exited ({status})"));
        }
        match client
            .get(format!("{url}/readyz"))
            .bearer_auth(token)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("readyz answered {}", r.status()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last)
}

/// Every cluster server URL in a kubeconfig.
fn kubeconfig_servers(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(v) = serde_yaml::from_str::<Value>(&text) else {
        return Vec::new();
    };
    v["clusters"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["cluster"]["server"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The role `kumo members` shows for a member, from its own `/kumo/v1/status` (none: it did
/// not answer). A leader past its lease serves nothing (503): it is shown as such, not as a
/// leader to rely on.
fn role_of(status: Option<&NodeStatus>, voter: bool) -> &'static str {
    match status {
        None => "down",
        Some(s) if s.leads() && s.leadership == Leadership::Lost => "leader (no quorum)",
        Some(s) if s.leads() => "leader",
        Some(_) if voter => "follower",
        Some(_) => "learner",
    }
}

/// `kumo members`: one line per node — id, addresses, role (`leader`, `leader (no quorum)`
/// for a leader that has lost its lease, `follower`, `learner`, `down`), term, last log
/// index, replication lag, and the pid of nodes started locally.
pub async fn members(
    data_dir: Option<PathBuf>,
    kubeconfig: Option<PathBuf>,
    remove: Option<NodeId>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let kc = match (&kubeconfig, &data_dir) {
        (Some(k), _) => k.clone(),
        (None, Some(d)) => d.join("kubeconfig"),
        (None, None) => crate::config::default_data_dir().join("kubeconfig"),
    };
    let (server, ca_b64, token) = read_kubeconfig(&kc)
        .with_context(|| format!("cannot read server, CA and token from {}", kc.display()))?;
    let servers = kubeconfig_servers(&kc);
    use base64::Engine;
    let ca = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(ca_b64)?)?;
    let client = https_client(&ca, 4).map_err(anyhow::Error::msg)?;
    let get = |url: String| {
        let client = client.clone();
        let token = token.clone();
        async move {
            let r = client
                .get(format!("{url}/kumo/v1/status"))
                .bearer_auth(&token)
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "{url}: {}", r.status());
            Ok::<NodeStatus, anyhow::Error>(r.json().await?)
        }
    };
    if let Some(id) = remove {
        // Only a member can be removed: ask first, so a typo is not reported as done.
        let mut known = None;
        for s in std::iter::once(server.clone()).chain(servers.clone()) {
            if let Ok(v) = get(s).await {
                known = Some(v);
                break;
            }
        }
        let known = known.context("no node of the cluster answers")?;
        let ids: Vec<u64> = known.members.iter().map(|m| m.id).collect();
        anyhow::ensure!(
            ids.contains(&id),
            "node {id} is not a member (members: {})",
            ids.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut done = false;
        for s in std::iter::once(server.clone()).chain(servers.clone()) {
            let r = client
                .post(format!("{s}/kumo/v1/remove?id={id}"))
                .bearer_auth(&token)
                .send()
                .await;
            if let Ok(r) = r
                && r.status().is_success()
            {
                done = true;
                break;
            }
        }
        anyhow::ensure!(done, "no member accepted the removal of node {id}");
        println!(
            "node {id} removed from the membership; stop its process now. Its data directory \
             no longer belongs to the cluster: to bring the node back, delete it and start the \
             node again with --join"
        );
    }
    // The first node that answers tells who the members are.
    let mut first = None;
    let mut last_err = None;
    for s in std::iter::once(server.clone()).chain(servers) {
        match get(s.clone()).await {
            Ok(v) => {
                first = Some(v);
                break;
            }
            Err(e) => last_err = Some(e.context(format!("asking {s}"))),
        }
    }
    let first = match (first, last_err) {
        (Some(v), _) => v,
        (None, Some(e)) => return Err(e),
        (None, None) => anyhow::bail!("no server in {}", kc.display()),
    };
    let mut statuses = std::collections::BTreeMap::new();
    for mem in &first.members {
        let url = format!("https://{}", mem.api_addr);
        statuses.insert(mem.id, get(url).await.ok());
    }
    let leader_status = statuses.values().flatten().find(|s| s.leads()).cloned();
    println!(
        "{:<4} {:<21} {:<21} {:<18} {:>6} {:>10} {:>6} PID",
        "ID", "PEER", "API", "ROLE", "TERM", "LAST-LOG", "LAG"
    );
    for mem in &first.members {
        let st = statuses.get(&mem.id).and_then(Option::as_ref);
        let role = role_of(st, mem.voter);
        let term = st.map_or("-".into(), |s| s.term.to_string());
        let last = st.map_or("-".into(), |s| s.last_log_index.to_string());
        let lag = leader_status
            .as_ref()
            .and_then(|l| l.lag_of(mem.id))
            .map_or("-".into(), |n| n.to_string());
        // The pid the node reports, for a node on this machine (a loopback API address).
        let local = mem
            .api_addr
            .parse::<SocketAddr>()
            .is_ok_and(|a| a.ip().is_loopback());
        let pid = st
            .map(|s| s.pid)
            .filter(|_| local)
            .map_or(String::new(), |p| format!("pid={p}"));
        println!(
            "{:<4} {:<21} {:<21} {:<18} {:>6} {:>10} {:>6} {}",
            mem.id, mem.peer_addr, mem.api_addr, role, term, last, lag, pid
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leader_past_its_lease_is_shown_without_quorum() {
        let st = |leader: u64, leadership: Leadership| NodeStatus {
            id: 1,
            state: kumo_raft_store::RaftRole::Leader,
            term: 1,
            leader: Some(leader),
            leadership,
            last_log_index: 0,
            applied: 0,
            members: vec![],
            replication: Default::default(),
            pid: 1,
        };
        let held = st(1, Leadership::Held);
        assert_eq!(role_of(Some(&held), true), "leader");
        assert_eq!(
            role_of(Some(&st(1, Leadership::Unconfirmed)), true),
            "leader"
        );
        assert_eq!(
            role_of(Some(&st(1, Leadership::Lost)), true),
            "leader (no quorum)"
        );
        assert_eq!(
            role_of(Some(&st(2, Leadership::Follower)), true),
            "follower"
        );
        assert_eq!(
            role_of(Some(&st(2, Leadership::Follower)), false),
            "learner"
        );
        assert_eq!(role_of(None, true), "down");
    }
}
