//! Client libraries against `kumo up`: the `kube` crate (list, watch, resume, 410 after
//! compaction, patch conflicts) and the Python `kubernetes` package (list, create, watch).

use crate::common;

use common::Kumo;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

async fn client(k: &Kumo) -> kube::Client {
    let kc = Kubeconfig::read_from(&k.kubeconfig).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    kube::Client::try_from(cfg).expect("client")
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({"metadata": {"name": name, "labels": {"suite": "kube"}}, "data": {"a": "1"}})).expect("cm")
}

#[tokio::test(flavor = "multi_thread")]
async fn t01_kube_list_watch_resume() {
    let k = Kumo::start();
    let c = client(&k).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    for i in 0..5 {
        cms.create(&PostParams::default(), &cm(&format!("c{i}")))
            .await
            .expect("create");
    }
    let list = cms
        .list(&ListParams::default().labels("suite=kube"))
        .await
        .expect("list");
    assert_eq!(list.items.len(), 5);
    let rv = list.metadata.resource_version.clone().expect("rv");
    // Pagination.
    let page = cms
        .list(&ListParams::default().labels("suite=kube").limit(2))
        .await
        .expect("page");
    assert_eq!(page.items.len(), 2);
    let cont = page.metadata.continue_.clone().expect("continue");
    let rest = cms
        .list(
            &ListParams::default()
                .labels("suite=kube")
                .limit(10)
                .continue_token(&cont),
        )
        .await
        .expect("rest");
    assert_eq!(rest.items.len(), 3);
    // Watch from the list's revision sees later changes only, in order.
    cms.create(&PostParams::default(), &cm("c5"))
        .await
        .expect("create");
    cms.patch(
        "c0",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"a": "2"}})),
    )
    .await
    .expect("patch");
    cms.delete("c1", &Default::default()).await.expect("delete");
    let stream = cms
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .expect("watch");
    let events: Vec<_> = stream.take(3).try_collect().await.expect("events");
    let kinds: Vec<String> = events
        .iter()
        .map(|e| match e {
            WatchEvent::Added(o) => format!("ADDED {}", o.metadata.name.as_deref().unwrap_or("")),
            WatchEvent::Modified(o) => {
                format!("MODIFIED {}", o.metadata.name.as_deref().unwrap_or(""))
            }
            WatchEvent::Deleted(o) => {
                format!("DELETED {}", o.metadata.name.as_deref().unwrap_or(""))
            }
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["ADDED c5", "MODIFIED c0", "DELETED c1"]);
    // Resume from the second event's revision: only the third comes again.
    let rv2 = match &events[1] {
        WatchEvent::Modified(o) => o.metadata.resource_version.clone().expect("rv"),
        _ => unreachable!(),
    };
    let stream = cms
        .watch(&WatchParams::default().timeout(2), &rv2)
        .await
        .expect("watch");
    let again: Vec<_> = stream.take(1).try_collect().await.expect("events");
    assert!(
        matches!(&again[0], WatchEvent::Deleted(o) if o.metadata.name.as_deref() == Some("c1"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn t02_kube_patch_conflict_and_410() {
    let k = Kumo::start_with_history(50);
    let c = client(&k).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let created = cms
        .create(&PostParams::default(), &cm("p"))
        .await
        .expect("create");
    let old_rv = created.metadata.resource_version.clone().expect("rv");
    cms.patch(
        "p",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"a": "2"}})),
    )
    .await
    .expect("patch");
    // A patch pinned to the old resourceVersion is a conflict.
    let err = cms
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(
                serde_json::json!({"metadata": {"resourceVersion": old_rv}, "data": {"a": "3"}}),
            ),
        )
        .await
        .expect_err("conflict");
    match err {
        kube::Error::Api(s) => assert_eq!((s.code, s.reason.as_str()), (409, "Conflict")),
        other => panic!("{other}"),
    }
    assert_eq!(
        cms.get("p").await.expect("get").data.expect("data")["a"],
        "2"
    );
    // Push the old revision out of the retained history (50 events).
    for i in 0..80 {
        cms.create(&PostParams::default(), &cm(&format!("f{i}")))
            .await
            .expect("create");
    }
    // A watch from it gets an ERROR event with 410 Expired.
    let mut stream = cms
        .watch(&WatchParams::default().timeout(5), &old_rv)
        .await
        .expect("watch")
        .boxed();
    match stream.next().await {
        Some(Ok(WatchEvent::Error(e))) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    // A list at it is 410 too.
    let err = cms
        .list(
            &ListParams::default()
                .at(&old_rv)
                .matching(kube::api::VersionMatch::Exact),
        )
        .await
        .expect_err("gone");
    match err {
        kube::Error::Api(s) => assert_eq!(s.code, 410),
        other => panic!("{other}"),
    }
}

#[test]
fn t03_python_client() {
    let k = Kumo::start();
    let out = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/client_test.py"
        ))
        .env("KUBECONFIG", &k.kubeconfig)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python client failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn t04_kube_bookmarks_and_initial_events() {
    let k = Kumo::start();
    let c = client(&k).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    cms.create(&PostParams::default(), &cm("b0"))
        .await
        .expect("create");
    let rv = cms
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    // A quiet watch that asked for bookmarks gets one (every 5 s), carrying the revision.
    let mut stream = cms
        .watch(&WatchParams::default().timeout(8), &rv)
        .await
        .expect("watch")
        .boxed();
    let ev = tokio::time::timeout(std::time::Duration::from_secs(8), stream.next())
        .await
        .expect("an event within 8 s");
    match ev {
        Some(Ok(WatchEvent::Bookmark(b))) => assert_eq!(b.metadata.resource_version, rv),
        other => panic!("expected a bookmark, got {other:?}"),
    }
    // The streaming-list protocol: initial ADDED events, then a bookmark marking their end.
    let wp = WatchParams::default().initial_events().timeout(5);
    let mut stream = cms.watch(&wp, "").await.expect("watch").boxed();
    let mut added = 0;
    loop {
        match stream.next().await {
            Some(Ok(WatchEvent::Added(_))) => added += 1,
            Some(Ok(WatchEvent::Bookmark(b))) => {
                assert_eq!(
                    b.metadata
                        .annotations
                        .get("k8s.io/initial-events-end")
                        .map(String::as_str),
                    Some("true")
                );
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(added >= 1);
}
