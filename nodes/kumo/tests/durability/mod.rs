//! Durability: `kill -9` of `kumo up` in the middle of a stream of acknowledged creates;
//! after a restart every acknowledged object is there with the same resourceVersion. A full
//! disk refuses writes (507), serves reads, and recovers once space is freed.

// The full-disk test polls a child process between kubectl calls.
#![allow(clippy::disallowed_methods)]

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::Kumo;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

async fn client(k: &Kumo) -> kube::Client {
    let kc = Kubeconfig::read_from(&k.kubeconfig).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    kube::Client::try_from(cfg).expect("client")
}

#[tokio::test(flavor = "multi_thread")]
async fn t01_kill9_loses_no_acknowledged_create() {
    let tmp = tempfile::tempdir().expect("tmp");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut k = Kumo::start_in(tmp.path(), &addr);
    let c = client(&k).await;
    let acked = Arc::new(parking_lot::Mutex::new(Vec::<(String, String)>::new()));
    let mut writers = Vec::new();
    for w in 0..16 {
        let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
        let acked = acked.clone();
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let obj: ConfigMap = serde_json::from_value(serde_json::json!({"metadata": {"name": format!("d-{w}-{i}")}, "data": {"i": i.to_string()}})).expect("cm");
                match cms.create(&PostParams::default(), &obj).await {
                    Ok(o) => acked.lock().push((o.metadata.name.expect("name"), o.metadata.resource_version.expect("rv"))),
                    Err(_) => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    k.kill9();
    // A writer ends at its first failed create (the server is gone); a panic is a failure.
    for w in writers {
        w.await.expect("writer panicked");
    }
    let acked = acked.lock().clone();
    assert!(
        acked.len() > 100,
        "too few creates acknowledged before the kill: {}",
        acked.len()
    );
    drop(c);
    let k2 = Kumo::start_in(tmp.path(), &addr);
    let c2 = client(&k2).await;
    let cms: Api<ConfigMap> = Api::namespaced(c2, "default");
    let list = cms.list(&ListParams::default()).await.expect("list");
    let stored: std::collections::HashMap<String, String> = list
        .items
        .into_iter()
        .map(|o| {
            (
                o.metadata.name.expect("name"),
                o.metadata.resource_version.expect("rv"),
            )
        })
        .collect();
    for (name, rv) in &acked {
        assert_eq!(
            stored.get(name),
            Some(rv),
            "acknowledged {name}@{rv} lost or changed after kill -9"
        );
    }
    eprintln!(
        "{} acknowledged creates, all present after kill -9 and restart",
        acked.len()
    );
}

#[test]
fn t02_second_up_on_same_dir_refuses() {
    let k = Kumo::start();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kumo"))
        .args(["up", "--data-dir"])
        .arg(&k.dir)
        .args(["--api-addr", "127.0.0.1:0"])
        .output()
        .expect("kumo");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another kumo process"), "{err}");
}

#[test]
fn t03_sigterm_stops_cleanly_and_restart_keeps_revisions() {
    let tmp = tempfile::tempdir().expect("tmp");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut k = Kumo::start_in(tmp.path(), &addr);
    k.ok(&["create", "configmap", "kept", "--from-literal=a=b"]);
    let rv = k.ok(&[
        "get",
        "cm",
        "kept",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    let st = k.stop();
    assert!(st.success(), "exit status {st}");
    let k2 = Kumo::start_in(tmp.path(), &addr);
    assert_eq!(
        k2.ok(&[
            "get",
            "cm",
            "kept",
            "-o",
            "jsonpath={.metadata.resourceVersion}"
        ]),
        rv
    );
}

/// A tmpfs of `size` on a new temporary directory, unmounted on drop; `None` (with a
/// message) where this process may not mount.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("tmp");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        if !out.status.success() {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs to fill (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = std::process::Command::new("umount")
            .arg(self.0.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.0.path())
                .status();
        }
    }
}

/// Fills the filesystem of `dir` until not even a byte fits; returns the filler file.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("filler");
    for chunk in [1 << 20, 64 << 10, 4 << 10, 1] {
        let buf = vec![0x5au8; chunk];
        while f.write_all(&buf).is_ok() {}
    }
    path
}

fn disk_full_gauge(k: &Kumo) -> Option<String> {
    let out = k.kubectl(&["get", "--raw", "/metrics"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("kumo_store_disk_full ").map(str::to_string))
}

/// A full disk (issue 6, item 7): `kubectl get` is served, `kubectl create` gets 507 saying
/// the disk is full; once space is freed, creates work again without a restart.
#[test]
fn t04_full_disk_serves_reads_refuses_writes_and_recovers() {
    let Some(fs) = Tmpfs::mount("64m") else {
        return;
    };
    let dir = fs.0.path().join("data");
    let mut k = Kumo::start_in_with(&dir, &[]);
    k.ok(&["create", "configmap", "before", "--from-literal=a=b"]);
    assert_eq!(disk_full_gauge(&k).as_deref(), Some("0"));

    // A large create needs new pages of the log: it waits for space in the writer. (Its
    // value is read from a file off the tmpfs: an argument is limited to 128 KiB.)
    let src = tempfile::tempdir().expect("tmp");
    let big = src.path().join("big");
    std::fs::write(&big, "x".repeat(256 << 10)).expect("write value");
    let filler = fill(fs.0.path());
    let mut waiting = std::process::Command::new("kubectl")
        .args(["create", "configmap", "queued"])
        .arg(format!("--from-file=big={}", big.display()))
        .env("KUBECONFIG", &k.kubeconfig)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kubectl");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while disk_full_gauge(&k).as_deref() != Some("1") {
        assert!(
            std::time::Instant::now() < deadline,
            "kumo_store_disk_full never became 1; log: {}",
            k.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Reads are served; writes are refused with 507 and a message that says why.
    assert!(
        k.ok(&["get", "configmap", "before", "-o", "name"])
            .contains("before")
    );
    k.ok(&["get", "configmaps"]);
    let err = k.fails(&["create", "configmap", "refused", "--from-literal=a=b"]);
    assert!(
        err.contains("the node's disk is full: writes are refused until space is freed"),
        "{err}"
    );
    let raw = k.kubectl(&["create", "configmap", "refused2", "-v=6"]);
    let log = String::from_utf8_lossy(&raw.stderr);
    assert!(log.contains("507"), "{log}");

    // Space is back: the waiting create completes and new creates are served.
    std::fs::remove_file(&filler).expect("free space");
    let st = waiting.wait().expect("kubectl");
    assert!(
        st.success(),
        "the create queued while the disk was full failed"
    );
    k.ok(&["create", "configmap", "after", "--from-literal=a=b"]);
    assert_eq!(disk_full_gauge(&k).as_deref(), Some("0"));
    k.ok(&["get", "configmap", "queued", "after", "before"]);
    let st = k.stop();
    assert!(st.success(), "exit status {st}");
    drop(fs);
}
