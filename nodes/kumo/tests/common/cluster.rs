//! A local cluster as a user runs it (`kumo up --nodes N`), for the suites that drive one:
//! start and stop the launcher, find each node's pid, status and leader, SIGKILL, freeze or
//! restart a node, and reach a node with kubectl or the `kube` client. Traffic only to
//! 127.0.0.x; every wait is bounded.

#![allow(dead_code)]
// The harness is synchronous: it polls child processes between kubectl calls.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;

pub struct Cluster {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub n: u64,
    pub port: u16,
    pub launcher: Child,
    pub restarted: Vec<Child>,
}

fn free_port() -> u16 {
    loop {
        let p = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        if p < 60000 && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

impl Cluster {
    pub fn start(n: u64) -> Cluster {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().to_path_buf();
        let port = free_port();
        let launcher = Self::launch(&dir, n, port);
        let c = Cluster {
            _tmp: tmp,
            dir,
            n,
            port,
            launcher,
            restarted: Vec::new(),
        };
        c.wait_serving();
        c
    }

    /// `kumo up --nodes n` on `dir`, its output appended to `dir/launcher.log`.
    pub fn launch(dir: &std::path::Path, n: u64, port: u16) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("launcher.log"))
            .expect("log");
        Command::new(env!("CARGO_BIN_EXE_kumo"))
            .args(["up", "--nodes", &n.to_string(), "--data-dir"])
            .arg(dir)
            .args(["--api-addr", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone"))
            .stderr(log)
            .spawn()
            .expect("spawn kumo up --nodes")
    }

    /// The launcher writes the kubeconfig once every node serves.
    pub fn wait_serving(&self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !self.dir.join("kubeconfig").exists() {
            assert!(
                Instant::now() < deadline,
                "cluster did not start:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Ctrl-C for the launcher: it stops every node it started.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.launcher.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(40);
        while !matches!(self.launcher.try_wait(), Ok(Some(_))) {
            assert!(Instant::now() < deadline, "launcher did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `kumo up --nodes n` again on the same directory.
    pub fn relaunch(&mut self) {
        let _ = std::fs::remove_file(self.kubeconfig());
        self.launcher = Self::launch(&self.dir, self.n, self.port);
        self.wait_serving();
    }

    pub fn logs(&self) -> String {
        let mut s = std::fs::read_to_string(self.dir.join("launcher.log")).unwrap_or_default();
        for i in 1..=self.n {
            let log = std::fs::read_to_string(self.dir.join(format!("node-{i}/kumo.log")))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            s.push_str(&format!("\n--- node {i} (last lines) ---\n"));
            for l in tail.into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    pub fn context(i: u64) -> String {
        if i == 1 {
            "kumo".into()
        } else {
            format!("kumo-node-{i}")
        }
    }

    pub fn kubectl(&self, node: u64, args: &[&str]) -> std::process::Output {
        Command::new("kubectl")
            .args(["--context", &Self::context(node)])
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .output()
            .expect("kubectl")
    }

    pub fn ok(&self, node: u64, args: &[&str]) -> String {
        let out = self.kubectl(node, args);
        assert!(
            out.status.success(),
            "kubectl on node {node} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn node_json(&self, i: u64) -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(self.dir.join(format!("node-{i}/node.json")))
                .expect("node.json"),
        )
        .expect("json")
    }

    pub fn pid(&self, i: u64) -> u32 {
        let path = self.dir.join(format!("node-{i}/pid"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(p) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                return p;
            }
            assert!(Instant::now() < deadline, "no pid file for node {i}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The leader, as the first node that answers sees it.
    pub fn leader(&self) -> Option<u64> {
        for i in 1..=self.n {
            let out = self.kubectl(
                i,
                &["get", "--raw", "/kumo/v1/status", "--request-timeout=2s"],
            );
            if out.status.success()
                && let Ok(v) = serde_json::from_slice::<Value>(&out.stdout)
                && let Some(l) = v["leader"].as_u64()
            {
                return Some(l);
            }
        }
        None
    }

    /// Node `i`'s own view (`/kumo/v1/status`), if it answers within 2 s.
    pub fn status(&self, i: u64) -> Option<Value> {
        let out = self.kubectl(
            i,
            &["get", "--raw", "/kumo/v1/status", "--request-timeout=2s"],
        );
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Whether node `i` says it leads.
    pub fn leads(&self, i: u64) -> bool {
        self.status(i)
            .is_some_and(|s| s["leader"].as_u64() == Some(i) && s["id"].as_u64() == Some(i))
    }

    /// Waits until one of `among` says it leads.
    pub fn wait_new_leader(&self, among: &[u64], patience: Duration) -> u64 {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(l) = among.iter().copied().find(|i| self.leads(*i)) {
                return l;
            }
            assert!(
                Instant::now() < deadline,
                "no leader among {among:?} after {patience:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every object of the kinds the tests write, as `namespace/name@resourceVersion` per
    /// kind, through node `i` (a list is a linearizable read on every node).
    pub fn whole_state(&self, i: u64) -> Option<String> {
        let out = self.kubectl(
            i,
            &[
                "get",
                "cm,ns,svc,deploy,sts,job,secret,sa",
                "-A",
                "-o",
                "jsonpath={range .items[*]}{.kind}:{.metadata.namespace}/{.metadata.name}@{.metadata.resourceVersion} {end}",
                "--request-timeout=5s",
            ],
        );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Waits (bounded) until every node in `nodes` serves the same whole state; returns it.
    pub fn same_state_everywhere(&self, nodes: &[u64]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let views: Vec<Option<String>> = nodes.iter().map(|i| self.whole_state(*i)).collect();
            if let Some(Some(first)) = views.first()
                && views.iter().all(|v| v.as_ref() == Some(first))
            {
                return first.clone();
            }
            assert!(
                Instant::now() < deadline,
                "nodes {nodes:?} disagree: {views:#?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    pub fn signal(&self, i: u64, sig: &str) {
        let pid = self.pid(i);
        let st = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("kill");
        assert!(st.success(), "kill {sig} {pid}");
    }

    pub fn kill9(&self, i: u64) {
        let pid = self.pid(i);
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        // Until it has exited (gone, or a zombie), it still holds its ports.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|st| !st.contains(") Z "))
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        // The node writes its pid once it holds its data directory again after a restart.
        let _ = std::fs::remove_file(self.dir.join(format!("node-{i}/pid")));
    }

    /// Restarts node `i` from its data directory (it rejoins as a member).
    pub fn restart(&mut self, i: u64) {
        self.restart_with(i, &[]);
    }

    pub fn restart_with(&mut self, i: u64, extra: &[&str]) {
        let nj = self.node_json(i);
        let d = self.dir.join(format!("node-{i}"));
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(d.join("kumo.log"))
            .expect("log");
        // The restart command the launcher prints: the data directory says the rest.
        let child = Command::new(env!("CARGO_BIN_EXE_kumo"))
            .args(["control", "--data-dir"])
            .arg(&d)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone"))
            .stderr(log)
            .spawn()
            .expect("restart");
        assert_eq!(nj["id"].as_u64(), Some(i));
        self.restarted.push(child);
    }

    /// The API's CA (PEM) and the admin token, from the launcher's kubeconfig.
    pub fn credentials(&self) -> (String, String) {
        let text = std::fs::read_to_string(self.kubeconfig()).expect("kubeconfig");
        let v: Value = serde_yaml::from_str(&text).expect("yaml");
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD
            .decode(
                v.pointer("/clusters/0/cluster/certificate-authority-data")
                    .and_then(Value::as_str)
                    .expect("ca"),
            )
            .expect("base64");
        let token = v
            .pointer("/users/0/user/token")
            .and_then(Value::as_str)
            .expect("token");
        (String::from_utf8(ca).expect("utf8"), token.to_string())
    }

    /// Node `i`'s API address, as its `node.json` records it.
    pub fn api_addr(&self, i: u64) -> std::net::SocketAddr {
        self.node_json(i)["api_addr"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .expect("api_addr in node.json")
    }

    /// What the cluster is made of, as strings no client may read in an error: every node's
    /// peer and API addresses and "node N" for each id.
    pub fn topology(&self) -> Vec<String> {
        let mut t = Vec::new();
        for i in 1..=self.n {
            let nj = self.node_json(i);
            for key in ["peer_addr", "api_addr"] {
                t.push(nj[key].as_str().expect("address").to_string());
            }
            t.push(format!("node {i}"));
        }
        t
    }

    /// `kumo members --data-dir DIR`, as a user runs it: its standard output.
    pub fn members(&self) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_kumo"))
            .args(["members", "--data-dir"])
            .arg(&self.dir)
            .output()
            .expect("kumo members");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The line `kumo members` prints for node `i`.
    pub fn members_line(text: &str, i: u64) -> Option<&str> {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(i.to_string().as_str()))
    }

    pub async fn client(&self, i: u64) -> kube::Client {
        let kc = Kubeconfig::read_from(self.kubeconfig()).expect("kubeconfig");
        let opts = KubeConfigOptions {
            context: Some(Self::context(i)),
            ..Default::default()
        };
        let mut cfg = kube::Config::from_custom_kubeconfig(kc, &opts)
            .await
            .expect("config");
        cfg.read_timeout = Some(Duration::from_secs(5));
        cfg.write_timeout = Some(Duration::from_secs(5));
        cfg.connect_timeout = Some(Duration::from_secs(2));
        kube::Client::try_from(cfg).expect("client")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.restarted {
            let _ = c.kill();
            let _ = c.wait();
        }
        for i in 1..=self.n {
            if let Ok(p) = std::fs::read_to_string(self.dir.join(format!("node-{i}/pid"))) {
                let _ = Command::new("kill").args(["-9", p.trim()]).status();
            }
        }
        let _ = self.launcher.kill();
        let _ = self.launcher.wait();
    }
}
