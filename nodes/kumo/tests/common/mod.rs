//! Test harness: runs the real `kumo up` binary in a temporary data directory on a free
//! loopback port, and drives it with the real `kubectl`.

#![allow(dead_code)]
// The harness is synchronous: it polls child processes between kubectl calls.
#![allow(clippy::disallowed_methods)]

pub mod cluster;
pub mod lines;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Kumo {
    pub child: Option<Child>,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub kubeconfig: PathBuf,
    pub addr: String,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Kumo {
    /// Starts `kumo up` in a fresh temporary directory.
    pub fn start() -> Kumo {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut k = Kumo::start_in(&dir, &format!("127.0.0.1:{}", free_port()));
        k._tmp = Some(tmp);
        k
    }

    /// Starts `kumo up` keeping only `events` revisions of watch history.
    pub fn start_with_history(events: usize) -> Kumo {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut k = Kumo::start_args(
            &dir,
            &format!("127.0.0.1:{}", free_port()),
            &["--history-events", &events.to_string()],
        );
        k._tmp = Some(tmp);
        k
    }

    /// Starts `kumo up` on an existing data directory and address.
    pub fn start_in(dir: &Path, addr: &str) -> Kumo {
        Kumo::start_args(dir, addr, &[])
    }

    /// Starts `kumo up` in a fresh directory with extra environment variables.
    pub fn start_with_env(env: &[(&str, &str)]) -> Kumo {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut k = Kumo::start_full(&dir, &format!("127.0.0.1:{}", free_port()), &[], env);
        k._tmp = Some(tmp);
        k
    }

    /// Starts `kumo up` in `dir` on a free port with extra flags.
    pub fn start_in_with(dir: &Path, extra: &[&str]) -> Kumo {
        Kumo::start_args(dir, &format!("127.0.0.1:{}", free_port()), extra)
    }

    fn start_args(dir: &Path, addr: &str, extra: &[&str]) -> Kumo {
        Kumo::start_full(dir, addr, extra, &[])
    }

    fn start_full(dir: &Path, addr: &str, extra: &[&str], env: &[(&str, &str)]) -> Kumo {
        let log = std::fs::File::create(
            dir.join(format!("kumo-{}.log", Instant::now().elapsed().as_nanos())),
        )
        .ok();
        let _ = std::fs::create_dir_all(dir);
        let log = log.or_else(|| std::fs::File::create(dir.join("kumo.log")).ok());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kumo"));
        cmd.envs(env.iter().copied());
        cmd.args(["up", "--data-dir"])
            .arg(dir)
            .args(["--api-addr", addr])
            .args(extra)
            .stdin(Stdio::null());
        match log {
            Some(f) => {
                let f2 = f.try_clone().expect("clone log");
                cmd.stdout(f).stderr(f2);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let child = cmd.spawn().expect("spawn kumo");
        let k = Kumo {
            child: Some(child),
            dir: dir.to_path_buf(),
            _tmp: None,
            kubeconfig: dir.join("kubeconfig"),
            addr: addr.to_string(),
        };
        k.wait_ready();
        k
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.kubeconfig.exists() {
                let out = self.kubectl(&["get", "--raw", "/readyz"]);
                if out.status.success() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("kumo did not become ready; log: {}", self.log());
    }

    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().ends_with(".log") {
                    s.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
                }
            }
        }
        s
    }

    /// Runs kubectl with this cluster's kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .output()
            .expect("run kubectl")
    }

    /// Runs kubectl with `stdin` as input.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        // kubectl may stop reading early (the server refused the body): ignore a broken pipe.
        let _ = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes());
        child.wait_with_output().expect("kubectl output")
    }

    /// kubectl that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// kubectl that must fail; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} should have failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let pid = c.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = c.try_wait().expect("wait") {
                return st;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("kumo did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// (server URL, CA PEM, token) from the kubeconfig.
    pub fn credentials(&self) -> (String, String, String) {
        let text = std::fs::read_to_string(&self.kubeconfig).expect("kubeconfig");
        let v: serde_json::Value = serde_yaml::from_str(&text).expect("yaml");
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD
            .decode(
                v.pointer("/clusters/0/cluster/certificate-authority-data")
                    .and_then(|x| x.as_str())
                    .expect("ca"),
            )
            .expect("b64");
        (
            v.pointer("/clusters/0/cluster/server")
                .and_then(|x| x.as_str())
                .expect("server")
                .to_string(),
            String::from_utf8(ca).expect("utf8"),
            v.pointer("/users/0/user/token")
                .and_then(|x| x.as_str())
                .expect("token")
                .to_string(),
        )
    }
}

impl Drop for Kumo {
    fn drop(&mut self) {
        self.kill9();
    }
}
