//! `kumo bench failover`: how long writes stall when the leader is SIGKILLed under load.
//!
//! Starts `kumo up --nodes N` (this binary) on 127.0.0.x, keeps `clients` writers creating
//! ConfigMaps through every node, and `kills` times: finds the leader, SIGKILLs it, waits
//! for the survivors to elect another, restarts the killed node with `kumo control
//! --data-dir` and lets it rejoin. Per kill it measures, over the writers on surviving
//! nodes: the election (kill → a survivor leads), the stall (for each writer, from its last
//! acknowledged write before the kill to its first after; the longest), and the resumption
//! (new leader → the last surviving writer's first acknowledged write). It prints the
//! median and p99 of each, and every failed write by status.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use serde_json::{Value, json};

/// Settings of `kumo bench failover`.
#[derive(Debug, Clone)]
pub struct FailoverBench {
    pub nodes: u64,
    pub kills: usize,
    pub clients: usize,
    /// Cluster directory (a temporary one when absent).
    pub data_dir: Option<PathBuf>,
    pub api_port: u16,
    /// Seconds of steady load before each kill.
    pub settle: u64,
}

/// One write, as a writer saw it.
#[derive(Clone, Copy)]
struct Write {
    client: usize,
    node: u64,
    end: Instant,
    /// HTTP status, or 0 when no response came (connection refused or lost, timeout).
    status: u16,
}

struct Kill {
    node: u64,
    at: Instant,
    elected: Instant,
}

fn api_addr(i: u64, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, i as u8)), port)
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

/// The node's `/kumo/v1/status`, if it answers within 500 ms.
async fn status(client: &reqwest::Client, token: &str, node: u64, port: u16) -> Option<Value> {
    let r = client
        .get(format!("https://{}/kumo/v1/status", api_addr(node, port)))
        .bearer_auth(token)
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

fn pid_of(dir: &Path, node: u64) -> Option<u32> {
    std::fs::read_to_string(dir.join(format!("node-{node}/pid")))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn signal(pid: u32, sig: &str) {
    let _ = Process::new("kill")
        .args([sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| !st.contains(") Z "))
}

pub async fn run(b: FailoverBench) -> anyhow::Result<()> {
    anyhow::ensure!((3..=9).contains(&b.nodes), "--nodes must be 3 to 9");
    anyhow::ensure!(
        b.kills >= 1 && b.clients >= 1,
        "--kills and --clients must be ≥ 1"
    );
    let tmp;
    let dir = match &b.data_dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::Builder::new()
                .prefix("kumo-failover-")
                .tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    anyhow::ensure!(
        !dir.join("node-1").exists(),
        "{} holds a cluster already; give an empty --data-dir",
        dir.display()
    );
    std::fs::create_dir_all(&dir)?;
    let exe = std::env::current_exe()?;
    let log = std::fs::File::create(dir.join("launcher.log"))?;
    let mut launcher = Process::new(&exe)
        .args(["up", "--nodes", &b.nodes.to_string(), "--data-dir"])
        .arg(&dir)
        .args(["--api-addr", &api_addr(1, b.api_port).to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting kumo up --nodes")?;
    let mut restarted: Vec<Child> = Vec::new();
    let result = measure(&b, &dir, &exe, &mut restarted).await;
    // Stop everything: the launcher stops the nodes it started; the restarted ones by pid.
    signal(launcher.id(), "-TERM");
    for i in 1..=b.nodes {
        if let Some(pid) = pid_of(&dir, i)
            && restarted.iter().any(|c| c.id() == pid)
        {
            signal(pid, "-TERM");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for c in restarted.iter_mut() {
        while Instant::now() < deadline && !matches!(c.try_wait(), Ok(Some(_))) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = c.kill();
        let _ = c.wait();
    }
    while Instant::now() < deadline && !matches!(launcher.try_wait(), Ok(Some(_))) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = launcher.kill();
    let _ = launcher.wait();
    result.with_context(|| format!("see the logs in {}", dir.display()))
}

async fn measure(
    b: &FailoverBench,
    dir: &Path,
    exe: &Path,
    restarted: &mut Vec<Child>,
) -> anyhow::Result<()> {
    let kc = dir.join("kubeconfig");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !kc.exists() {
        anyhow::ensure!(Instant::now() < deadline, "the cluster did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, ca_b64, token) =
        crate::client::read_kubeconfig(&kc).context("reading the kubeconfig")?;
    let ca = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(ca_b64)?)?;
    let client = crate::client::https_client(&ca, b.clients).map_err(anyhow::Error::msg)?;
    let port = b.api_port;

    // Writers: each creates ConfigMaps through one node, one at a time, until stopped.
    let stop = Arc::new(AtomicBool::new(false));
    let writes: Arc<parking_lot::Mutex<Vec<Write>>> = Arc::default();
    let mut tasks = Vec::new();
    for c in 0..b.clients {
        let node = c as u64 % b.nodes + 1;
        let (client, token, stop, writes) =
            (client.clone(), token.clone(), stop.clone(), writes.clone());
        let url = format!(
            "https://{}/api/v1/namespaces/default/configmaps",
            api_addr(node, port)
        );
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let body = json!({"metadata": {"name": format!("failover-{c}-{i}")}});
                let r = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                let status = match r {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        let _ = r.bytes().await;
                        s
                    }
                    Err(_) => 0,
                };
                writes.lock().push(Write {
                    client: c,
                    node,
                    end: Instant::now(),
                    status,
                });
                if status != 201 {
                    // A refused connection (the killed node) fails at once: do not spin.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                i += 1;
            }
        }));
    }

    let mut kills = Vec::new();
    for round in 0..b.kills {
        tokio::time::sleep(Duration::from_secs(b.settle)).await;
        let mut leader = None;
        for i in 1..=b.nodes {
            if let Some(s) = status(&client, &token, i, port).await
                && s["leader"] == s["id"]
            {
                leader = s["id"].as_u64();
                break;
            }
        }
        let Some(leader) = leader else {
            bail!("round {round}: no node says it leads");
        };
        let pid = pid_of(dir, leader).with_context(|| format!("no pid for node {leader}"))?;
        let at = Instant::now();
        signal(pid, "-KILL");
        while alive(pid) && at.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = std::fs::remove_file(dir.join(format!("node-{leader}/pid")));
        // A survivor leads once it says so itself.
        let elected = loop {
            let mut found = false;
            for i in (1..=b.nodes).filter(|i| *i != leader) {
                if let Some(s) = status(&client, &token, i, port).await
                    && s["leader"] == s["id"]
                {
                    found = true;
                }
            }
            if found {
                break Instant::now();
            }
            anyhow::ensure!(
                at.elapsed() < Duration::from_secs(30),
                "round {round}: no new leader 30 s after killing node {leader}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        eprintln!(
            "kill {}: node {leader} (pid {pid}); a new leader after {:.0} ms",
            round + 1,
            (elected - at).as_secs_f64() * 1e3
        );
        kills.push(Kill {
            node: leader,
            at,
            elected,
        });
        // Let the survivors run alone for a while, then bring the node back.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let d = dir.join(format!("node-{leader}"));
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(d.join("kumo.log"))?;
        let child = Process::new(exe)
            .args(["control", "--data-dir"])
            .arg(&d)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("restarting the killed node")?;
        restarted.push(child);
        let back = Instant::now();
        loop {
            let r = client
                .get(format!("https://{}/readyz", api_addr(leader, port)))
                .timeout(Duration::from_millis(500))
                .send()
                .await;
            if r.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            anyhow::ensure!(
                back.elapsed() < Duration::from_secs(60),
                "round {round}: node {leader} did not come back"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(b.settle)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }

    // Per kill, over the writers on surviving nodes.
    let writes = writes.lock().clone();
    let mut by_client: BTreeMap<usize, Vec<Write>> = BTreeMap::new();
    for w in &writes {
        by_client.entry(w.client).or_default().push(*w);
    }
    let (mut elections, mut stalls, mut resumes) = (Vec::new(), Vec::new(), Vec::new());
    println!();
    println!(
        "{:<5} {:>6} {:>12} {:>10} {:>16}  failed writes on survivors (status: count)",
        "KILL", "NODE", "ELECTION ms", "STALL ms", "AFTER-ELECT ms"
    );
    for (k, kill) in kills.iter().enumerate() {
        let next = kills.get(k + 1).map(|n| n.at);
        let mut stall: f64 = 0.0;
        let mut resume: f64 = 0.0;
        let mut failed: BTreeMap<u16, usize> = BTreeMap::new();
        for ws in by_client.values() {
            if ws.first().is_none_or(|w| w.node == kill.node) {
                continue;
            }
            let before = ws
                .iter()
                .filter(|w| w.status == 201 && w.end <= kill.at)
                .map(|w| w.end)
                .max();
            let after = ws
                .iter()
                .filter(|w| w.status == 201 && w.end > kill.at)
                .map(|w| w.end)
                .min();
            let (Some(before), Some(after)) = (before, after) else {
                continue;
            };
            if next.is_some_and(|n| after > n) {
                continue;
            }
            stall = stall.max((after - before).as_secs_f64() * 1e3);
            resume = resume.max(after.saturating_duration_since(kill.elected).as_secs_f64() * 1e3);
            for w in ws
                .iter()
                .filter(|w| w.status != 201 && w.end > kill.at && w.end <= after)
            {
                *failed.entry(w.status).or_default() += 1;
            }
        }
        let election = (kill.elected - kill.at).as_secs_f64() * 1e3;
        let failed_text = failed
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "{:<5} {:>6} {:>12.0} {:>10.0} {:>16.0}  {}",
            k + 1,
            kill.node,
            election,
            stall,
            resume,
            if failed_text.is_empty() {
                "none".into()
            } else {
                failed_text
            }
        );
        elections.push(election);
        stalls.push(stall);
        resumes.push(resume);
    }
    let acked = writes.iter().filter(|w| w.status == 201).count();
    let mut errors: BTreeMap<u16, usize> = BTreeMap::new();
    for w in writes.iter().filter(|w| w.status != 201) {
        *errors.entry(w.status).or_default() += 1;
    }
    println!();
    println!(
        "{} nodes, {} writers, {} kills: {acked} writes acknowledged; failed (all nodes, status 0 = no response): {:?}",
        b.nodes, b.clients, b.kills, errors
    );
    for (name, v) in [
        ("election (kill → new leader)", &mut elections),
        ("write stall on survivors", &mut stalls),
        ("new leader → writes resume", &mut resumes),
    ] {
        println!(
            "{name:<30} median {:>6.0} ms   p99 {:>6.0} ms   max {:>6.0} ms",
            quantile(v, 0.5),
            quantile(v, 0.99),
            quantile(v, 1.0)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn quantiles_of_few_samples_are_observed_values() {
        let mut v = vec![5.0, 1.0, 3.0, 2.0, 4.0, 10.0, 6.0, 7.0, 8.0, 9.0];
        assert_eq!(super::quantile(&mut v, 0.5), 5.0);
        // p99 of ten kills is the worst one.
        assert_eq!(super::quantile(&mut v, 0.99), 10.0);
        assert!(super::quantile(&mut [], 0.5).is_nan());
    }
}
