//! Replicated control plane as separate processes on loopback (`kumo up --nodes N`):
//! kubectl through every node, and leader SIGKILLs under continuous writes through every
//! node with the history checked for linearizability and every acknowledged write present on
//! every node with the same revision.

#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, PostParams};
use kumo_chaos::hostile::{self, Target};
use kumo_chaos::linearizability::{self as lin, CheckResult, Op, Output, Recorder, Revisions};
use rand::Rng;

use crate::common::cluster;
use crate::common::lines;

use cluster::Cluster;

#[test]
fn t01_kubectl_through_every_node_sees_the_same_objects() {
    let c = Cluster::start(3);
    for i in 1..=3 {
        c.ok(
            i,
            &[
                "create",
                "configmap",
                &format!("from-{i}"),
                &format!("--from-literal=node={i}"),
            ],
        );
    }
    let app = include_str!("../kubectl/testdata/app.yaml");
    let out = Command::new("kubectl")
        .args(["--context", "kumo-node-3", "apply", "-f", "-"])
        .env("KUBECONFIG", c.kubeconfig())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut ch| {
            use std::io::Write;
            ch.stdin.take().expect("stdin").write_all(app.as_bytes())?;
            ch.wait_with_output()
        })
        .expect("apply");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let views: Vec<String> = (1..=3)
        .map(|i| {
            c.ok(i, &["get", "cm,deploy,svc,sts,job", "-A", "-o", "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}@{.metadata.resourceVersion} {end}"])
        })
        .collect();
    assert!(
        views[0].contains("default/from-2@") && views[0].contains("shop/web@"),
        "{}",
        views[0]
    );
    assert_eq!(views[0], views[1]);
    assert_eq!(views[1], views[2]);
    let text = c.members();
    assert_eq!(
        text.lines().filter(|l| l.contains("leader")).count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.contains("follower")).count(),
        2,
        "{text}"
    );
    assert!(text.contains("pid="), "{text}");
    // A watch served by node 3 sees a write made through node 1, at the same revision.
    let mut cmd = Command::new("kubectl");
    cmd.args([
        "--context",
        "kumo-node-3",
        "get",
        "cm",
        "-w",
        "--output-watch-events",
        "-o",
        "jsonpath={.type} {.object.metadata.name} {.object.metadata.resourceVersion}{\"\\n\"}",
    ])
    .env("KUBECONFIG", c.kubeconfig());
    let mut watch = lines::Lines::spawn(cmd);
    // The watch is established once it has listed what node 1 created earlier.
    watch.wait_for(Duration::from_secs(30), |l| l.starts_with("ADDED "));
    c.ok(1, &["create", "configmap", "watched"]);
    let rv = c.ok(
        1,
        &[
            "get",
            "cm",
            "watched",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ],
    );
    let want = format!("ADDED watched {rv}");
    watch.wait_for(Duration::from_secs(30), |l| l == want);
    drop(watch);
    // Remove node 3 while the API serves: it leaves the membership and stops taking writes.
    let out = Command::new(env!("CARGO_BIN_EXE_kumo"))
        .args(["members", "--remove", "3", "--data-dir"])
        .arg(&c.dir)
        .output()
        .expect("members");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.lines().any(|l| l.starts_with("3 ")), "{text}");
    c.ok(1, &["create", "configmap", "after-removal"]);
    let refused = c.kubectl(
        3,
        &[
            "create",
            "configmap",
            "from-removed",
            "--request-timeout=10s",
        ],
    );
    assert!(!refused.status.success(), "a removed node took a write");
    c.ok(2, &["get", "configmap", "after-removal"]);
    assert!(
        !c.kubectl(1, &["get", "configmap", "from-removed"])
            .status
            .success()
    );
}

/// One client's step: a random operation on a small set of keys, recorded.
async fn step(
    api: &Api<ConfigMap>,
    rec: &Recorder,
    client: u64,
    i: u64,
    keys: &[String],
    last_rv: &mut BTreeMap<String, u64>,
) {
    let (key, roll) = {
        let mut rng = rand::rng();
        (
            keys[rng.random_range(0..keys.len())].clone(),
            rng.random_range(0..100),
        )
    };
    let value = format!("c{client}-{i}");
    let cm = |v: &str, rv: Option<u64>| -> ConfigMap {
        let mut o = serde_json::json!({"metadata": {"name": key}, "data": {"v": v}});
        if let Some(rv) = rv {
            o["metadata"]["resourceVersion"] = serde_json::json!(rv.to_string());
        }
        serde_json::from_value(o).expect("cm")
    };
    let code = |e: &kube::Error| match e {
        kube::Error::Api(s) => Some((s.code, s.reason.clone())),
        _ => None,
    };
    let rv_of = |o: &ConfigMap| {
        o.metadata
            .resource_version
            .as_deref()
            .and_then(|r| r.parse().ok())
            .unwrap_or(0)
    };
    // A call that certainly had no effect is left out of the history: a read that failed,
    // a connection that was refused, or 503 (no leader: the write was not applied). Any
    // other failure leaves the write's outcome unknown.
    let no_effect = |e: &kube::Error| {
        matches!(code(e), Some((503, _)))
            || e.to_string().contains("Connect")
            || e.to_string().contains("connection refused")
    };
    match roll {
        0..40 => {
            let at = rec.now();
            match api.get_opt(&key).await {
                Ok(Some(o)) => {
                    let v = o
                        .data
                        .as_ref()
                        .and_then(|d| d.get("v"))
                        .cloned()
                        .unwrap_or_default();
                    last_rv.insert(key.clone(), rv_of(&o));
                    let inv = rec.invoke_at(client, Op::Get { key: key.clone() }, at);
                    rec.ok(
                        inv,
                        Output::Found {
                            value: v,
                            mod_revision: rv_of(&o),
                        },
                    );
                }
                Ok(None) => {
                    let inv = rec.invoke_at(client, Op::Get { key: key.clone() }, at);
                    rec.ok(inv, Output::NotFound);
                }
                Err(_) => backoff().await,
            }
        }
        40..60 => {
            let op = Op::Create {
                key: key.clone(),
                value: value.clone(),
            };
            let at = rec.now();
            let result = api.create(&PostParams::default(), &cm(&value, None)).await;
            if let Err(e) = &result
                && no_effect(e)
            {
                return backoff().await;
            }
            let inv = rec.invoke_at(client, op, at);
            match result {
                Ok(o) => rec.ok(
                    inv,
                    Output::Ok {
                        revision: rv_of(&o),
                    },
                ),
                Err(e) if code(&e).is_some_and(|(c, r)| c == 409 && r == "AlreadyExists") => {
                    rec.ok(inv, Output::AlreadyExists)
                }
                Err(_) => {
                    rec.unknown(inv);
                    backoff().await;
                }
            }
        }
        60..90 => {
            let expected = if roll < 80 {
                last_rv.get(&key).copied()
            } else {
                None
            };
            let op = Op::Update {
                key: key.clone(),
                value: value.clone(),
                expected_revision: expected,
            };
            let at = rec.now();
            let result = api
                .replace(&key, &PostParams::default(), &cm(&value, expected))
                .await;
            if let Err(e) = &result
                && no_effect(e)
            {
                return backoff().await;
            }
            let inv = rec.invoke_at(client, op, at);
            match result {
                Ok(o) => rec.ok(
                    inv,
                    Output::Ok {
                        revision: rv_of(&o),
                    },
                ),
                Err(e) if code(&e).is_some_and(|(c, r)| c == 409 && r == "Conflict") => {
                    rec.ok(inv, Output::Conflict)
                }
                Err(e) if code(&e).is_some_and(|(c, _)| c == 404) => rec.ok(inv, Output::NotFound),
                Err(_) => {
                    rec.unknown(inv);
                    backoff().await;
                }
            }
        }
        _ => {
            let op = Op::Delete {
                key: key.clone(),
                expected_revision: None,
            };
            let at = rec.now();
            let result = api.delete(&key, &DeleteParams::default()).await;
            if let Err(e) = &result
                && no_effect(e)
            {
                return backoff().await;
            }
            let inv = rec.invoke_at(client, op, at);
            match result {
                Ok(either) => {
                    let rv = either.left().map(|o| rv_of(&o)).unwrap_or(0);
                    rec.ok(inv, Output::Ok { revision: rv });
                }
                Err(e) if code(&e).is_some_and(|(c, _)| c == 404) => rec.ok(inv, Output::NotFound),
                Err(_) => {
                    rec.unknown(inv);
                    backoff().await;
                }
            }
        }
    }
}

async fn backoff() {
    tokio::time::sleep(Duration::from_millis(100)).await;
}

async fn kill_the_leader_three_times(n: u64) {
    let mut c = Cluster::start(n);
    let rec = Arc::new(Recorder::with_store(0, Revisions::Increasing));
    let keys: Arc<Vec<String>> = Arc::new((0..6).map(|k| format!("lin-{k}")).collect());
    let stop = Arc::new(AtomicBool::new(false));
    // (name, resourceVersion, node that took it, when it was acknowledged).
    type Acked = Vec<(String, String, u64, Instant)>;
    let acked: Arc<parking_lot::Mutex<Acked>> = Arc::default();
    let mut tasks = Vec::new();
    for client in 0..(2 * n) {
        let node = client % n + 1;
        let api: Api<ConfigMap> = Api::namespaced(c.client(node).await, "default");
        let (rec, keys, stop, acked) = (rec.clone(), keys.clone(), stop.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut last_rv = BTreeMap::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                step(&api, &rec, client, i, &keys, &mut last_rv).await;
                // Write-once objects: each acknowledged one must survive with its revision.
                let name = format!("ack-{client}-{i}");
                let obj: ConfigMap =
                    serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))
                        .expect("cm");
                if let Ok(o) = api.create(&PostParams::default(), &obj).await {
                    acked.lock().push((
                        name,
                        o.metadata.resource_version.expect("rv"),
                        node,
                        Instant::now(),
                    ));
                }
                i += 1;
            }
        }));
    }
    for round in 0..3 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let leader = c
            .leader()
            .unwrap_or_else(|| panic!("no leader in round {round}:\n{}", c.logs()));
        // The node killed is the leader by its own account, not only by a peer's.
        assert!(
            c.leads(leader),
            "round {round}: node {leader} does not say it leads:\n{}",
            c.logs()
        );
        let killed_at = Instant::now();
        c.kill9(leader);
        let survivors: Vec<u64> = (1..=n).filter(|i| *i != leader).collect();
        let new_leader = c.wait_new_leader(&survivors, Duration::from_secs(15));
        let elected = killed_at.elapsed();
        assert_ne!(new_leader, leader);
        // Writes through the survivors go on soon after the election: a write forwarded to
        // the dead leader is answered (504) when the election starts, not after the 5 s
        // forwarding timeout, and the writes queued behind it go to the new leader.
        let resumed = loop {
            let first = acked
                .lock()
                .iter()
                // (Answers already on their way when the leader died arrive within moments.)
                .filter(|(_, _, node, at)| {
                    *node != leader && *at > killed_at + Duration::from_millis(300)
                })
                .map(|(_, _, _, at)| *at)
                .min();
            if let Some(at) = first {
                break at - killed_at;
            }
            assert!(
                killed_at.elapsed() < elected + Duration::from_secs(15),
                "round {round}: no write acknowledged by a survivor after killing node {leader}:\n{}",
                c.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        eprintln!(
            "round {round}: killed leader {leader}; node {new_leader} seen leading after {elected:?}; first write through a survivor after {resumed:?}"
        );
        assert!(
            resumed < elected + Duration::from_secs(2),
            "round {round}: writes resumed {resumed:?} after the kill, the new leader was seen after {elected:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        c.restart(leader);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("a client task panicked");
    }
    // Linearizability of everything the clients saw.
    let history = rec.history();
    let answered = history.ops.iter().filter(|o| o.ret.is_some()).count();
    assert!(
        answered > 100,
        "too few operations answered: {answered}\n{}",
        c.logs()
    );
    let save = || {
        let path = std::env::temp_dir().join(format!("kumo-lin-{n}-{}.json", std::process::id()));
        std::fs::write(&path, history.to_json()).expect("save");
        path
    };
    match lin::check_history(&history) {
        CheckResult::Ok => {}
        CheckResult::Unknown { .. } => match lin::check_per_key(&history) {
            CheckResult::Ok => {}
            other => panic!(
                "per-key check: {other:?} (history saved to {})",
                save().display()
            ),
        },
        CheckResult::Illegal { explanation } => {
            panic!(
                "history is not linearizable (saved to {}): {explanation}",
                save().display()
            );
        }
    }
    // Every acknowledged write-once object is on every node, with the same revision.
    let acked = acked.lock().clone();
    assert!(
        acked.len() > 50,
        "too few acknowledged creates: {}",
        acked.len()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    for node in 1..=n {
        let view = loop {
            let out = c.kubectl(
                node,
                &[
                    "get",
                    "cm",
                    "-o",
                    "jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}",
                ],
            );
            if out.status.success() {
                break String::from_utf8_lossy(&out.stdout).into_owned();
            }
            assert!(
                Instant::now() < deadline,
                "node {node} does not answer:\n{}",
                c.logs()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        let stored: BTreeMap<&str, &str> = view
            .split_whitespace()
            .filter_map(|p| p.split_once('='))
            .collect();
        for (name, rv, _, _) in &acked {
            assert_eq!(
                stored.get(name.as_str()),
                Some(&rv.as_str()),
                "node {node} lost or changed acknowledged {name}@{rv}"
            );
        }
    }
    // And the nodes agree on everything, not only on what the clients saw acknowledged.
    let nodes: Vec<u64> = (1..=n).collect();
    let state = c.same_state_everywhere(&nodes);
    assert!(state.contains("ConfigMap:default/ack-"), "{state}");
    eprintln!(
        "{n} nodes: {answered} operations answered and linearizable; {} acknowledged creates on every node; whole state identical",
        acked.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn t02_three_nodes_survive_three_leader_kills() {
    kill_the_leader_three_times(3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t03_five_nodes_survive_three_leader_kills() {
    kill_the_leader_three_times(5).await;
}

#[test]
fn t04_a_stopped_cluster_comes_back_and_a_second_launcher_is_refused() {
    let mut c = Cluster::start(3);
    c.ok(2, &["create", "configmap", "kept", "--from-literal=a=1"]);
    let rv = c.ok(
        1,
        &[
            "get",
            "cm",
            "kept",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ],
    );
    // A second launcher on the same directory refuses and disturbs nothing.
    let out = Command::new(env!("CARGO_BIN_EXE_kumo"))
        .args(["up", "--nodes", "3", "--data-dir"])
        .arg(&c.dir)
        .args(["--api-addr", &format!("127.0.0.1:{}", c.port)])
        .output()
        .expect("second launcher");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("is in use by another `kumo up --nodes`"),
        "{err}"
    );
    c.ok(3, &["get", "cm", "kept"]);
    // Stop the whole cluster, then the same command brings it back with every object.
    c.stop();
    c.relaunch();
    for i in 1..=3 {
        assert_eq!(
            c.ok(
                i,
                &[
                    "get",
                    "cm",
                    "kept",
                    "-o",
                    "jsonpath={.metadata.resourceVersion}"
                ]
            ),
            rv,
            "node {i}"
        );
    }
    c.ok(3, &["create", "configmap", "after-restart"]);
    let text = c.members();
    // Every node reports its own pid, and it is the pid of a live process.
    for i in 1..=3 {
        let line = Cluster::members_line(&text, i)
            .unwrap_or_else(|| panic!("no line for node {i}: {text}"));
        let pid = line
            .split("pid=")
            .nth(1)
            .unwrap_or_else(|| panic!("{line}"))
            .trim();
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "{line}"
        );
    }
}

#[test]
fn t05_removing_the_leader_moves_leadership_and_it_drops_out() {
    let c = Cluster::start(3);
    let leader = c.leader().expect("leader");
    let out = Command::new(env!("CARGO_BIN_EXE_kumo"))
        .args(["members", "--remove", &leader.to_string(), "--data-dir"])
        .arg(&c.dir)
        .output()
        .expect("members --remove");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Removing a node that is not a member is an error, not a success.
    let out = Command::new(env!("CARGO_BIN_EXE_kumo"))
        .args(["members", "--remove", "9", "--data-dir"])
        .arg(&c.dir)
        .output()
        .expect("members --remove 9");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("node 9 is not a member"));
    // The others elect a new leader and keep taking writes.
    let other = (1..=3).find(|i| *i != leader).expect("other");
    let deadline = Instant::now() + Duration::from_secs(30);
    // A new name per attempt: an attempt answered 504 may still have been applied.
    for attempt in 0.. {
        let name = format!("after-removal-{attempt}");
        let out = c.kubectl(other, &["create", "configmap", &name]);
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no writes through node {other} after removing the leader: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // The removed node says it is not ready, so a load balancer drops it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = c.kubectl(leader, &["get", "--raw", "/readyz"]);
        if !out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the removed node still says it is ready"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn t06_a_removed_node_started_again_with_join_is_a_member_again() {
    let mut c = Cluster::start(3);
    let leader = c.leader().expect("leader");
    let f = (1..=3).find(|i| *i != leader).expect("a follower");
    let out = Command::new(env!("CARGO_BIN_EXE_kumo"))
        .args(["members", "--remove", &f.to_string(), "--data-dir"])
        .arg(&c.dir)
        .output()
        .expect("members --remove");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !c.members()
            .lines()
            .any(|l| l.split_whitespace().next() == Some(&f.to_string())),
        "{}",
        c.members()
    );
    // Stopped, then started again with --join: the cluster takes it back, data and all.
    c.kill9(f);
    let via = c.node_json(leader)["peer_addr"]
        .as_str()
        .expect("peer")
        .to_string();
    c.restart_with(f, &["--join", &via]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut written = String::new();
    for attempt in 0.. {
        let text = c.members();
        let back = text.lines().any(|l| {
            let mut w = l.split_whitespace();
            w.next() == Some(&f.to_string()) && l.contains("follower")
        });
        // A new name per attempt: an attempt answered 504 may still have been applied.
        let name = format!("rejoined-{attempt}");
        if back
            && c.kubectl(f, &["create", "configmap", &name])
                .status
                .success()
        {
            written = name;
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node {f} did not come back:\n{text}\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        c.ok(leader, &["get", "cm", &written, "-o", "name"]).trim(),
        format!("configmap/{written}")
    );
}

/// Both followers frozen (SIGSTOP): the leader is cut off from its quorum. It must say it is
/// not ready and refuse writes and reads with 503, `Retry-After` and a Status naming no
/// address (judged by `kumo_chaos::hostile::lone_leader_refuses`, which the hostile suite
/// runs after SIGKILLs); a write it refused must never appear, even after the followers come
/// back.
#[test]
fn t07_a_leader_without_its_quorum_stops_serving_and_its_refused_writes_never_appear() {
    let c = Cluster::start(3);
    c.ok(1, &["create", "configmap", "before"]);
    let leader = c.leader().expect("leader");
    assert!(c.leads(leader));
    let followers: Vec<u64> = (1..=3).filter(|i| *i != leader).collect();
    // Resume the followers whatever happens below, so the cluster can be torn down.
    struct Resume<'a>(&'a Cluster, Vec<u64>);
    impl Drop for Resume<'_> {
        fn drop(&mut self) {
            for f in &self.1 {
                let _ = Command::new("kill")
                    .args(["-CONT", &self.0.pid(*f).to_string()])
                    .status();
            }
        }
    }
    let (ca, token) = c.credentials();
    let target = Target::new(c.api_addr(leader), &ca).expect("target");
    let topology = c.topology();
    for f in &followers {
        c.signal(*f, "-STOP");
    }
    let resume = Resume(&c, followers.clone());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // Within a few seconds (the lease: 3 s) the lone leader says it is not ready.
    let seen = rt
        .block_on(hostile::lone_leader_refuses(
            &target,
            &token,
            &topology,
            Duration::from_secs(10),
        ))
        .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    eprintln!(
        "readyz 503 {:?} after the followers stopped; writes refused {:?}, answered 504 {:?}; read refused",
        seen.not_ready_after, seen.refused, seen.unknown
    );
    // The followers come back: the cluster serves again, and the refused write is nowhere.
    drop(resume);
    let deadline = Instant::now() + Duration::from_secs(30);
    for attempt in 0.. {
        if c.kubectl(
            leader,
            &["create", "configmap", &format!("after-{attempt}")],
        )
        .status
        .success()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no writes after the followers came back:\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let state = c.same_state_everywhere(&[1, 2, 3]);
    assert!(state.contains("ConfigMap:default/before@"), "{state}");
    for name in &seen.refused {
        assert!(
            !state.contains(&format!("ConfigMap:default/{name}@")),
            "a write refused with 503 was applied: {state}"
        );
        for i in 1..=3 {
            let out = c.kubectl(i, &["get", "configmap", name]);
            assert!(!out.status.success(), "node {i} has the refused write");
            assert!(String::from_utf8_lossy(&out.stderr).contains("NotFound"));
        }
    }
}

/// A node left alone (both others killed) stops campaigning instead of bumping its term at
/// every election timeout (it reached term 52 in 7 s), and elects again with the first peer
/// that comes back.
#[test]
fn t08_a_lone_follower_stops_campaigning_and_recovers_with_a_peer() {
    let mut c = Cluster::start(3);
    let leader = c.leader().expect("leader");
    let others: Vec<u64> = (1..=3).filter(|i| *i != leader).collect();
    let (gone, lone) = (others[0], others[1]);
    c.kill9(leader);
    c.kill9(gone);
    let term = |c: &Cluster| {
        c.status(lone)
            .and_then(|s| s["term"].as_u64())
            .expect("the lone node answers its status")
    };
    // Past the 2 s reachability window, elections are off.
    std::thread::sleep(Duration::from_secs(4));
    let first = term(&c);
    std::thread::sleep(Duration::from_secs(5));
    let later = term(&c);
    assert!(
        later <= first + 1,
        "a lone node kept campaigning: term {first} → {later} in 5 s"
    );
    // It is not ready (no leader), so a load balancer skips it.
    assert!(
        !c.kubectl(lone, &["get", "--raw", "/readyz"])
            .status
            .success()
    );
    // One peer back: a majority again, a leader, writes.
    c.restart(gone);
    let deadline = Instant::now() + Duration::from_secs(30);
    for attempt in 0.. {
        let name = format!("back-{attempt}");
        if c.kubectl(
            lone,
            &["create", "configmap", &name, "--request-timeout=5s"],
        )
        .status
        .success()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no writes after a peer came back:\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    eprintln!(
        "lone node {lone}: term {first} → {later} over 5 s alone; writes after a peer returned"
    );
}
