//! `kumo bench`: load generators that print tables of medians and p99s, with the machine
//! and the settings, against a running Kumo.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub mod failover;
pub mod store;

use anyhow::Context;
use base64::Engine;
use clap::Subcommand;
use serde_json::{Value, json};

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// Create, get, list and watch small ConfigMaps against a running `kumo up`.
    Api {
        /// Kubeconfig of the target (default: the default data dir's kubeconfig).
        #[arg(long)]
        kubeconfig: Option<std::path::PathBuf>,
        /// Concurrent clients.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Seconds per phase.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Open watches during the watch phase.
        #[arg(long, default_value_t = 16)]
        watchers: usize,
        /// Limit the create rate (requests/s, 0 = unlimited), to measure latency at a given load.
        #[arg(long, default_value_t = 0)]
        rate: u64,
    },
    /// Memory and disk of a running `kumo up` under large updates: one ConfigMap of
    /// `--size` bytes updated `--updates` times, with `--watchers` watches that never read.
    /// Prints the server's RSS before, at the peak, after the updates and after the
    /// watchers close, and (with `--data-dir`) the size of its data directory.
    Memory {
        /// Kubeconfig of the target (default: the default data dir's kubeconfig).
        #[arg(long)]
        kubeconfig: Option<std::path::PathBuf>,
        /// The server's data directory, to report its size on disk.
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
        /// Updates of the ConfigMap (≤ 100,000).
        #[arg(long, default_value_t = 600)]
        updates: usize,
        /// Bytes of the ConfigMap's data (≤ 1,000,000; objects over 1.5 MiB are refused).
        #[arg(long, default_value_t = 900_000)]
        size: usize,
        /// Watches of the ConfigMap's namespace that never read (≤ 1,000).
        #[arg(long, default_value_t = 0)]
        watchers: usize,
    },
    /// Acknowledged puts/s and p50/p99 latency through Raft with fsync: Kumo's store (N nodes
    /// in this process, QUIC with mutual TLS) and, in the same run with the same settings,
    /// etcd (N `etcd` processes on 127.0.0.1, driven by the etcd-client crate).
    Store {
        /// Store nodes (and etcd members): 1, 3 or 5.
        #[arg(long, default_value_t = 3)]
        nodes: u64,
        /// Concurrent clients (≤ 10,000), each with one put in flight.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Bytes per value (≤ 1 MiB).
        #[arg(long, default_value_t = 256)]
        value_size: usize,
        /// Seconds per system (≤ 600).
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Distinct keys, written round-robin.
        #[arg(long, default_value_t = 100_000)]
        keys: usize,
        /// The etcd binary (Debian's `etcd-server` package).
        #[arg(long)]
        etcd: Option<std::path::PathBuf>,
        /// Run Kumo's side only.
        #[arg(long)]
        no_etcd: bool,
        /// Send every write to the leader (default: clients spread round-robin over the nodes).
        #[arg(long)]
        leader_only: bool,
        /// etcd client connections shared by the clients (0: one per 10 clients, at least one
        /// per node, at most 100).
        #[arg(long, default_value_t = 0)]
        etcd_conns: usize,
    },
    /// Write stalls when the leader is SIGKILLed under load: starts `kumo up --nodes N` on
    /// 127.0.0.x, writes through every node, kills the leader `kills` times (restarting it
    /// each time) and prints the median and p99 of the election and the write stall.
    Failover {
        /// Nodes of the local cluster.
        #[arg(long, default_value_t = 3)]
        nodes: u64,
        /// Leader kills.
        #[arg(long, default_value_t = 10)]
        kills: usize,
        /// Concurrent writers, spread over the nodes.
        #[arg(long, default_value_t = 12)]
        clients: usize,
        /// Directory for the cluster (default: a temporary one); must not hold one.
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
        /// API port of every node (127.0.0.i:PORT; peers on PORT+1).
        #[arg(long, default_value_t = 16443)]
        api_port: u16,
        /// Seconds of steady load before each kill.
        #[arg(long, default_value_t = 3)]
        settle: u64,
    },
}

/// Runs one benchmark. `default_kubeconfig` is where `kumo up` writes its kubeconfig (the
/// target when `--kubeconfig` is not given).
pub async fn run(cmd: BenchCmd, default_kubeconfig: &std::path::Path) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Api {
            kubeconfig,
            clients,
            duration,
            watchers,
            rate,
        } => {
            let kc = kubeconfig.unwrap_or_else(|| default_kubeconfig.to_path_buf());
            api(&kc, clients, Duration::from_secs(duration), watchers, rate).await
        }
        BenchCmd::Memory {
            kubeconfig,
            data_dir,
            updates,
            size,
            watchers,
        } => {
            let kc = kubeconfig.unwrap_or_else(|| default_kubeconfig.to_path_buf());
            memory(
                &kc,
                data_dir.as_deref(),
                updates.min(100_000),
                size.min(1_000_000),
                watchers.min(1_000),
            )
            .await
        }
        BenchCmd::Failover {
            nodes,
            kills,
            clients,
            data_dir,
            api_port,
            settle,
        } => {
            failover::run(failover::FailoverBench {
                nodes,
                kills,
                clients,
                data_dir,
                api_port,
                settle,
            })
            .await
        }
        BenchCmd::Store {
            nodes,
            clients,
            value_size,
            duration,
            keys,
            etcd,
            no_etcd,
            leader_only,
            etcd_conns,
        } => {
            store::run(store::StoreBench {
                nodes,
                clients,
                value_size,
                duration: Duration::from_secs(duration),
                keys,
                etcd: etcd.unwrap_or_else(|| store::DEFAULT_ETCD.into()),
                no_etcd,
                leader_only,
                etcd_conns,
            })
            .await
        }
    }
}

struct Target {
    client: reqwest::Client,
    server: String,
    token: String,
}

fn target(kubeconfig: &std::path::Path, clients: usize) -> anyhow::Result<Target> {
    let (server, ca_b64, token) =
        crate::client::read_kubeconfig(kubeconfig).with_context(|| {
            format!(
                "cannot read server, CA and token from {}",
                kubeconfig.display()
            )
        })?;
    let ca = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(ca_b64)?)?;
    let client = crate::client::https_client(&ca, clients).map_err(anyhow::Error::msg)?;
    Ok(Target {
        client,
        server,
        token,
    })
}

#[derive(Default)]
struct Samples(parking_lot::Mutex<Vec<Duration>>);

impl Samples {
    fn push(&self, d: Duration) {
        self.0.lock().push(d);
    }
    fn summary(&self) -> (usize, f64, f64, f64) {
        let mut v = self.0.lock().clone();
        v.sort();
        if v.is_empty() {
            return (0, 0.0, 0.0, 0.0);
        }
        let q = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1e3;
        (v.len(), q(0.5), q(0.99), v[v.len() - 1].as_secs_f64() * 1e3)
    }
}

async fn api(
    kubeconfig: &std::path::Path,
    clients: usize,
    duration: Duration,
    watchers: usize,
    rate: u64,
) -> anyhow::Result<()> {
    let t = Arc::new(target(kubeconfig, clients)?);
    let ns = format!("bench-{}", std::process::id());
    let r = t
        .client
        .post(format!("{}/api/v1/namespaces", t.server))
        .bearer_auth(&t.token)
        .json(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
        .send()
        .await?;
    anyhow::ensure!(
        r.status().is_success(),
        "creating namespace {ns}: {}",
        r.status()
    );
    let base = format!("{}/api/v1/namespaces/{ns}/configmaps", t.server);
    let mut rows = Vec::new();

    // Phase 1: create (and watch, with `watchers` open streams measuring delivery).
    let created = Arc::new(AtomicU64::new(0));
    let watch_lat = Arc::new(Samples::default());
    let start_rv = {
        let v: Value = t
            .client
            .get(&base)
            .bearer_auth(&t.token)
            .query(&[("limit", "1")])
            .send()
            .await?
            .json()
            .await?;
        v.pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("0")
            .to_string()
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut watch_tasks = Vec::new();
    let watch_events = Arc::new(AtomicU64::new(0));
    for _ in 0..watchers {
        let t = t.clone();
        let base = base.clone();
        let rv = start_rv.clone();
        let lat = watch_lat.clone();
        let stop = stop.clone();
        let events = watch_events.clone();
        watch_tasks.push(tokio::spawn(async move {
            let Ok(mut resp) = t
                .client
                .get(&base)
                .bearer_auth(&t.token)
                .query(&[
                    ("watch", "true"),
                    ("resourceVersion", rv.as_str()),
                    ("timeoutSeconds", "600"),
                ])
                .timeout(Duration::from_secs(600))
                .send()
                .await
            else {
                return;
            };
            let mut buf = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let chunk =
                    match tokio::time::timeout(Duration::from_millis(500), resp.chunk()).await {
                        Ok(Ok(Some(c))) => c,
                        Ok(_) => return,
                        Err(_) => continue,
                    };
                buf.extend_from_slice(&chunk);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    if let Ok(ev) = serde_json::from_slice::<Value>(&line)
                        && let Some(sent) = ev
                            .pointer("/object/data/sent")
                            .and_then(Value::as_str)
                            .and_then(|s| s.parse::<u128>().ok())
                    {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap_or_default()
                            .as_micros();
                        lat.push(Duration::from_micros(now.saturating_sub(sent) as u64));
                        events.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let create = Arc::new(Samples::default());
    let per_client: Arc<Vec<AtomicU64>> =
        Arc::new((0..clients).map(|_| AtomicU64::new(0)).collect());
    let errors = Arc::new(Errors::default());
    let phase =
        |samples: Arc<Samples>,
         f: Arc<dyn Fn(usize, u64) -> reqwest::RequestBuilder + Send + Sync>| {
            let errors = errors.clone();
            let per_client_interval = if rate > 0 {
                Some(Duration::from_secs_f64(clients as f64 / rate as f64))
            } else {
                None
            };
            async move {
                let deadline = Instant::now() + duration;
                let mut tasks = Vec::new();
                for c in 0..clients {
                    let samples = samples.clone();
                    let f = f.clone();
                    let errors = errors.clone();
                    tasks.push(tokio::spawn(async move {
                        let mut i = 0u64;
                        let mut next = Instant::now();
                        while Instant::now() < deadline {
                            // At a fixed rate, latency counts from when the request was due,
                            // not from when a busy client got to send it: a slow answer that
                            // delays the next requests is charged to them too (no
                            // coordinated omission).
                            let t0 = match per_client_interval {
                                Some(iv) => {
                                    tokio::time::sleep_until(next.into()).await;
                                    let due = next;
                                    next += iv;
                                    due
                                }
                                None => Instant::now(),
                            };
                            match f(c, i).send().await {
                                Ok(r) if r.status().is_success() => {
                                    let _ = r.bytes().await;
                                    samples.push(t0.elapsed());
                                }
                                Ok(r) => {
                                    let code = r.status().as_u16();
                                    let body: Value = r.json().await.unwrap_or(Value::Null);
                                    let reason = body
                                        .get("reason")
                                        .and_then(Value::as_str)
                                        .unwrap_or("-")
                                        .to_string();
                                    errors.add(code.to_string(), reason);
                                }
                                Err(e) => {
                                    let what = if e.is_timeout() {
                                        "timeout"
                                    } else if e.is_connect() {
                                        "connect"
                                    } else {
                                        "transport"
                                    };
                                    errors.add("-".into(), what.into());
                                }
                            }
                            i += 1;
                        }
                    }));
                }
                for t in tasks {
                    let _ = t.await;
                }
            }
        };
    {
        let t2 = t.clone();
        let base2 = base.clone();
        let created2 = created.clone();
        let per_client2 = per_client.clone();
        let started = Instant::now();
        phase(
            create.clone(),
            Arc::new(move |c, i| {
                created2.fetch_add(1, Ordering::Relaxed);
                per_client2[c].fetch_max(i + 1, Ordering::Relaxed);
                let sent = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_micros();
                t2.client.post(&base2).bearer_auth(&t2.token).json(&json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("cm-{c}-{i}"), "labels": {"bench": "kumo"}},
                    "data": {"sent": sent.to_string(), "payload": "x".repeat(64)}
                }))
            }),
        )
        .await;
        rows.push(("create", create.summary(), started.elapsed()));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for w in watch_tasks {
        let _ = w.await;
    }
    // Phase 2: get.
    let get = Arc::new(Samples::default());
    {
        let t2 = t.clone();
        let base2 = base.clone();
        let per_client2 = per_client.clone();
        let started = Instant::now();
        phase(
            get.clone(),
            Arc::new(move |c, i| {
                // Only names this client created (its last create may have been cut short).
                let per = per_client2[c]
                    .load(Ordering::Relaxed)
                    .saturating_sub(1)
                    .max(1);
                t2.client
                    .get(format!("{base2}/cm-{c}-{}", i % per))
                    .bearer_auth(&t2.token)
            }),
        )
        .await;
        rows.push(("get", get.summary(), started.elapsed()));
    }
    // Phase 3: list (pages of 100).
    let list = Arc::new(Samples::default());
    {
        let t2 = t.clone();
        let base2 = base.clone();
        let started = Instant::now();
        phase(
            list.clone(),
            Arc::new(move |_, _| {
                t2.client
                    .get(&base2)
                    .bearer_auth(&t2.token)
                    .query(&[("limit", "100")])
            }),
        )
        .await;
        rows.push(("list (limit=100)", list.summary(), started.elapsed()));
    }
    let rss = server_rss(&t).await.unwrap_or(0.0);
    // Clean up in the background of the server: the namespace controller deletes its content.
    let _ = t
        .client
        .delete(format!("{}/api/v1/namespaces/{ns}", t.server))
        .bearer_auth(&t.token)
        .send()
        .await;

    println!(
        "kumo bench api — {} clients, {}s per phase, {} watchers, rate {}",
        clients,
        duration.as_secs(),
        watchers,
        if rate == 0 {
            "unlimited".to_string()
        } else {
            format!("{rate}/s")
        }
    );
    println!("machine: {} cores, {}", num_cpus(), machine());
    println!();
    println!("| verb | requests | req/s | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (verb, (n, p50, p99, max), elapsed) in &rows {
        println!(
            "| {verb} | {n} | {:.0} | {p50:.2} | {p99:.2} | {max:.2} |",
            *n as f64 / elapsed.as_secs_f64()
        );
    }
    let (wn, wp50, wp99, wmax) = watch_lat.summary();
    println!(
        "| watch delivery (create sent → event received) | {wn} | {:.0} | {wp50:.2} | {wp99:.2} | {wmax:.2} |",
        wn as f64 / duration.as_secs_f64()
    );
    println!();
    println!(
        "errors: {}   server RSS after run: {:.1} MiB",
        errors.total(),
        rss / (1 << 20) as f64
    );
    for ((code, reason), n) in errors.by_kind() {
        println!("  {n} × {code} {reason}");
    }
    if rate > 0 {
        println!("latency at a fixed rate is measured from each request's scheduled send time");
    }
    Ok(())
}

/// Failed requests by status code and Kubernetes reason (or the transport failure), at
/// most [`Errors::MAX_KINDS`] distinct kinds (the rest are counted as "other").
#[derive(Default)]
struct Errors(parking_lot::Mutex<std::collections::BTreeMap<(String, String), u64>>);

impl Errors {
    const MAX_KINDS: usize = 64;

    fn add(&self, code: String, reason: String) {
        let mut m = self.0.lock();
        let key = if m.len() >= Self::MAX_KINDS && !m.contains_key(&(code.clone(), reason.clone()))
        {
            ("other".to_string(), String::new())
        } else {
            (code, reason)
        };
        *m.entry(key).or_default() += 1;
    }

    fn total(&self) -> u64 {
        self.0.lock().values().sum()
    }

    fn by_kind(&self) -> Vec<((String, String), u64)> {
        self.0.lock().iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

async fn memory(
    kubeconfig: &std::path::Path,
    data_dir: Option<&std::path::Path>,
    updates: usize,
    size: usize,
    watchers: usize,
) -> anyhow::Result<()> {
    let t = target(kubeconfig, 4)?;
    let (server, ca_b64, _) =
        crate::client::read_kubeconfig(kubeconfig).context("reading the kubeconfig")?;
    let ca = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(ca_b64)?)?;
    let addr: std::net::SocketAddr = server
        .trim_start_matches("https://")
        .parse()
        .context("the kubeconfig's server must be https://IP:PORT")?;
    let hostile_target = crate::hostile::Target::new(addr, &ca)?;
    let ns = format!("bench-mem-{}", std::process::id());
    let r = t
        .client
        .post(format!("{}/api/v1/namespaces", t.server))
        .bearer_auth(&t.token)
        .json(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "creating {ns}: {}", r.status());
    let url = format!("{}/api/v1/namespaces/{ns}/configmaps", t.server);
    let payload = "x".repeat(size);
    let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
        "data": {"a": payload}});
    let r = t
        .client
        .post(&url)
        .bearer_auth(&t.token)
        .json(&cm)
        .send()
        .await?;
    anyhow::ensure!(
        r.status().is_success(),
        "creating the ConfigMap: {}",
        r.status()
    );
    let rss0 = server_rss(&t).await.unwrap_or(0.0);
    let disk0 = data_dir.map(dir_bytes);
    let mut held = Vec::new();
    for _ in 0..watchers {
        held.push(
            crate::hostile::stalled_watch(
                &hostile_target,
                &t.token,
                &format!("/api/v1/namespaces/{ns}/configmaps?watch=1"),
            )
            .await?,
        );
    }
    let mut peak = rss0;
    let mut update_lat = Vec::with_capacity(updates);
    let started = Instant::now();
    for i in 0..updates {
        // A different value each time: nothing can be shared between versions.
        let tag = format!("{i:08}");
        cm["data"]["a"] = json!(format!("{tag}{}", &payload[tag.len().min(size)..]));
        let t0 = Instant::now();
        let r = t
            .client
            .put(format!("{url}/big"))
            .bearer_auth(&t.token)
            .json(&cm)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "update {i}: {}", r.status());
        update_lat.push(t0.elapsed());
        if i % 10 == 0 {
            peak = peak.max(server_rss(&t).await.unwrap_or(0.0));
        }
    }
    let took = started.elapsed();
    let rss_after = server_rss(&t).await.unwrap_or(0.0);
    peak = peak.max(rss_after);
    let disk_after = data_dir.map(dir_bytes);
    drop(held);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_closed = server_rss(&t).await.unwrap_or(0.0);
    let cut = metric(&t, "kumo_watch_cut_total").await.unwrap_or(0.0);
    let _ = t
        .client
        .delete(format!("{}/api/v1/namespaces/{ns}", t.server))
        .bearer_auth(&t.token)
        .send()
        .await;
    update_lat.sort();
    let q = |p: f64| {
        update_lat
            .get(((update_lat.len() as f64 * p) as usize).min(update_lat.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let mib = |b: f64| b / (1 << 20) as f64;
    println!(
        "kumo bench memory — {updates} updates of a {size}-byte ConfigMap, {watchers} watchers that never read"
    );
    println!("machine: {} cores, {}", num_cpus(), machine());
    println!();
    println!("| measure | value |");
    println!("|---|---:|");
    println!("| server RSS before the updates | {:.1} MiB |", mib(rss0));
    println!(
        "| server RSS peak (sampled every 10 updates) | {:.1} MiB |",
        mib(peak)
    );
    println!(
        "| server RSS after the updates | {:.1} MiB |",
        mib(rss_after)
    );
    println!(
        "| server RSS 5 s after the watchers closed | {:.1} MiB |",
        mib(rss_closed)
    );
    if let (Some(d0), Some(d1)) = (disk0, disk_after) {
        println!(
            "| data directory before / after | {:.1} / {:.1} MiB |",
            mib(d0 as f64),
            mib(d1 as f64)
        );
    }
    println!(
        "| bytes written (updates × size) | {:.1} MiB |",
        mib((updates * size) as f64)
    );
    println!("| update p50 / p99 | {:.1} / {:.1} ms |", q(0.5), q(0.99));
    println!("| updates/s | {:.1} |", updates as f64 / took.as_secs_f64());
    println!("| watches ended for not reading (kumo_watch_cut_total) | {cut} |");
    Ok(())
}

async fn metric(t: &Target, name: &str) -> Option<f64> {
    let text = t
        .client
        .get(format!("{}/metrics", t.server))
        .bearer_auth(&t.token)
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

async fn server_rss(t: &Target) -> Option<f64> {
    metric(t, "process_resident_memory_bytes").await
}

pub(crate) fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub(crate) fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|c| {
            c.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0);
    format!("{model}, {:.0} GiB RAM", mem as f64 / (1 << 20) as f64)
}
