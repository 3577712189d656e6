//! Durability: `kill -9` of `kumo up` in the middle of a stream of acknowledged creates;
//! after a restart every acknowledged object is there with the same resourceVersion.

#[path = "../common/mod.rs"]
mod common;

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
