//! Storage semantics found wrong in review, each pinned by a test through a real client.

#![allow(clippy::disallowed_methods)]

use crate::common;

use common::Kumo;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

async fn client(k: &Kumo) -> kube::Client {
    let kc = Kubeconfig::read_from(&k.kubeconfig).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    kube::Client::try_from(cfg).expect("client")
}

fn cm(name: &str, data: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({"metadata": {"name": name}, "data": {"a": data}}))
        .expect("cm")
}

#[test]
fn t01_refused_service_keeps_no_cluster_ip() {
    let k = Kumo::start();
    let big = serde_json::json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "big"},
        "spec": {"clusterIP": "10.96.100.101", "ports": [{"port": 80}], "junk": "x".repeat(1_600_000)}})
    .to_string();
    let out = k.kubectl_stdin(
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/default/services?fieldValidation=Ignore",
            "-f",
            "-",
        ],
        &big,
    );
    assert!(!out.status.success(), "an oversized Service was accepted");
    k.ok(&[
        "create",
        "service",
        "clusterip",
        "small",
        "--clusterip=10.96.100.101",
        "--tcp=80:80",
    ]);
    assert_eq!(
        k.ok(&["get", "svc", "small", "-o", "jsonpath={.spec.clusterIP}"]),
        "10.96.100.101"
    );
    // Deleting a Service frees its IP.
    k.ok(&["delete", "svc", "small"]);
    k.ok(&[
        "create",
        "service",
        "clusterip",
        "again",
        "--clusterip=10.96.100.101",
        "--tcp=80:80",
    ]);
}

#[test]
fn t02_delete_on_a_subresource_is_refused() {
    let k = Kumo::start();
    k.ok(&["create", "deployment", "d", "--image=nginx"]);
    let (server, _, token) = k.credentials();
    let out = std::process::Command::new("kubectl")
        .args([
            "--server",
            &server,
            "--insecure-skip-tls-verify",
            "--token",
            &token,
            "delete",
            "--raw",
            "/apis/apps/v1/namespaces/default/deployments/d/status",
        ])
        .env("KUBECONFIG", "/dev/null")
        .output()
        .expect("kubectl");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("MethodNotAllowed")
            || String::from_utf8_lossy(&out.stderr).contains("not allow")
    );
    k.ok(&["get", "deploy", "d"]);
}

#[test]
fn t03_namespace_finalizers_hold_the_namespace() {
    let k = Kumo::start();
    k.ok(&["create", "namespace", "held"]);
    k.ok(&["create", "configmap", "c", "-n", "held"]);
    k.ok(&[
        "patch",
        "ns",
        "held",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
    ]);
    k.ok(&["delete", "ns", "held", "--wait=false"]);
    // Content goes; the namespace stays Terminating while the finalizer is there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !k
        .ok(&["get", "cm", "-n", "held", "-o", "name"])
        .trim()
        .is_empty()
    {
        assert!(std::time::Instant::now() < deadline, "content not deleted");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        k.ok(&["get", "ns", "held", "-o", "jsonpath={.status.phase}"]),
        "Terminating"
    );
    k.ok(&[
        "patch",
        "ns",
        "held",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    k.ok(&["wait", "--for=delete", "ns/held", "--timeout=20s"]);
}

#[test]
fn t04_dry_run_create_of_an_existing_name_conflicts() {
    let k = Kumo::start();
    k.ok(&["create", "configmap", "a"]);
    let err = k.fails(&["create", "configmap", "a", "--dry-run=server"]);
    assert!(err.contains("already exists"), "{err}");
    k.ok(&["create", "configmap", "b", "--dry-run=server"]);
    k.fails(&["get", "configmap", "b"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn t05_concurrent_unconditional_updates_all_succeed() {
    let k = Kumo::start();
    let c = client(&k).await;
    let cms: Api<ConfigMap> = Api::namespaced(c, "default");
    cms.create(&PostParams::default(), &cm("u", "0"))
        .await
        .expect("create");
    let mut tasks = Vec::new();
    for i in 0..30 {
        let cms = cms.clone();
        tasks.push(tokio::spawn(async move {
            cms.replace("u", &PostParams::default(), &cm("u", &i.to_string()))
                .await
        }));
    }
    for t in tasks {
        t.await
            .expect("join")
            .expect("an update without resourceVersion failed");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn t06_watching_one_object_sees_only_it() {
    let k = Kumo::start();
    let c = client(&k).await;
    let cms: Api<ConfigMap> = Api::namespaced(c, "default");
    cms.create(&PostParams::default(), &cm("one", "1"))
        .await
        .expect("create");
    let rv = cms
        .get("one")
        .await
        .expect("get")
        .metadata
        .resource_version
        .expect("rv");
    let stream = cms
        .watch(
            &WatchParams::default()
                .fields("metadata.name=one")
                .timeout(3),
            &rv,
        )
        .await
        .expect("watch");
    // kube's field-selector watch goes to the collection; the named-path form is checked raw.
    drop(stream);
    let (server, _, token) = k.credentials();
    let url = format!(
        "{server}/api/v1/namespaces/default/configmaps/one?watch=1&resourceVersion={rv}&timeoutSeconds=2"
    );
    let child = std::process::Command::new("kubectl")
        .args([
            "--server",
            &server,
            "--insecure-skip-tls-verify",
            "--token",
            &token,
            "get",
            "--raw",
            &url[server.len()..],
        ])
        .env("KUBECONFIG", "/dev/null")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    cms.create(&PostParams::default(), &cm("two", "2"))
        .await
        .expect("create");
    cms.replace("one", &PostParams::default(), &cm("one", "changed"))
        .await
        .expect("replace");
    let out = child.wait_with_output().expect("watch output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"changed\""), "{text}");
    assert!(
        !text.contains("\"two\""),
        "a watch on one object saw another: {text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn t07_large_concurrent_writes_survive_restart() {
    let tmp = tempfile::tempdir().expect("tmp");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut k = Kumo::start_in(tmp.path(), &addr);
    let c = client(&k).await;
    let cms: Api<ConfigMap> = Api::namespaced(c, "default");
    // 60 × 900 KB at once: far more than one log entry may carry.
    let payload = "x".repeat(900_000);
    let mut tasks = Vec::new();
    for i in 0..60 {
        let cms = cms.clone();
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            cms.create(&PostParams::default(), &cm(&format!("big-{i}"), &payload))
                .await
        }));
    }
    for t in tasks {
        t.await.expect("join").expect("create");
    }
    k.kill9();
    let k2 = Kumo::start_in(tmp.path(), &addr);
    let names = k2.ok(&["get", "cm", "-o", "name"]);
    assert_eq!(
        names
            .lines()
            .filter(|l| l.starts_with("configmap/big-"))
            .count(),
        60,
        "{}",
        k2.log()
    );
}

#[test]
fn t08_unknown_fields_in_a_patch_are_reported_as_warnings() {
    let k = Kumo::start();
    k.ok(&["create", "configmap", "w"]);
    // kubectl patch sends no fieldValidation: the server's default (Warn) applies, and the
    // client is told through a Warning header.
    let out = k.kubectl(&[
        "patch",
        "cm",
        "w",
        "--type",
        "merge",
        "-p",
        r#"{"bogus":1}"#,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let warn = String::from_utf8_lossy(&out.stderr);
    assert!(
        warn.contains("Warning") && warn.contains("unknown field \"bogus\""),
        "{warn}"
    );
}

#[test]
fn t09_namespace_finalize_is_the_stuck_namespace_fix() {
    let k = Kumo::start();
    k.ok(&["create", "namespace", "stuck"]);
    let finalizers = || k.ok(&["get", "ns", "stuck", "-o", "jsonpath={.spec.finalizers}"]);
    assert_eq!(finalizers(), r#"["kubernetes"]"#);
    // Another system's finalizer, added the way such systems do: PUT namespaces/x/finalize.
    let with = r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"stuck"},"spec":{"finalizers":["kubernetes","example.com/x"]}}"#;
    let out = k.kubectl_stdin(
        &[
            "replace",
            "--raw",
            "/api/v1/namespaces/stuck/finalize",
            "-f",
            "-",
        ],
        with,
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(finalizers(), r#"["kubernetes","example.com/x"]"#);
    // The main resource cannot change spec.finalizers.
    k.ok(&[
        "patch",
        "ns",
        "stuck",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"finalizers":[]}}"#,
    ]);
    assert_eq!(finalizers(), r#"["kubernetes","example.com/x"]"#);
    // Only PUT is allowed on finalize.
    let err = k.fails(&["get", "--raw", "/api/v1/namespaces/stuck/finalize"]);
    assert!(
        err.contains("MethodNotAllowed") || err.contains("405"),
        "{err}"
    );
    // Deleting: content goes, the namespace controller drops `kubernetes`, the foreign
    // finalizer holds the namespace in Terminating.
    k.ok(&["create", "configmap", "c", "-n", "stuck"]);
    k.ok(&["delete", "ns", "stuck", "--wait=false"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while finalizers() != r#"["example.com/x"]"# {
        assert!(std::time::Instant::now() < deadline, "{}", finalizers());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(k.ok(&["get", "cm", "-n", "stuck", "-o", "name"]).trim(), "");
    assert_eq!(
        k.ok(&["get", "ns", "stuck", "-o", "jsonpath={.status.phase}"]),
        "Terminating"
    );
    // The well-known fix for a stuck namespace: empty spec.finalizers through finalize.
    let cleared = r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"stuck"},"spec":{"finalizers":[]}}"#;
    let out = k.kubectl_stdin(
        &[
            "replace",
            "--raw",
            "/api/v1/namespaces/stuck/finalize",
            "-f",
            "-",
        ],
        cleared,
    );
    assert!(out.status.success(), "{out:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while k.kubectl(&["get", "ns", "stuck"]).status.success() {
        assert!(
            std::time::Instant::now() < deadline,
            "namespace not removed"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Review findings through kubectl: each answer is the one Kubernetes 1.33 gives.
#[test]
fn t10_kubernetes_answers_for_review_findings() {
    let k = Kumo::start();
    // autoscaling/v1 HPAs can be written, not just read.
    let hpa = "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: h\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  maxReplicas: 4\n  targetCPUUtilizationPercentage: 60\n";
    let out = k.kubectl_stdin(&["apply", "-f", "-"], hpa);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        k.ok(&[
            "get",
            "hpa.v2.autoscaling",
            "h",
            "-o",
            "jsonpath={.spec.metrics[0].resource.target.averageUtilization}"
        ]),
        "60"
    );
    // /version/ with a trailing slash (the Python client asks for it).
    let v: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "--raw", "/version/"])).expect("version json");
    assert_eq!(v["minor"], "33");
    // The three protected namespaces cannot be deleted, not even on a dry run.
    for ns in ["default", "kube-system", "kube-public"] {
        let err = k.fails(&["delete", "namespace", ns, "--dry-run=server"]);
        assert!(
            err.contains(&format!(
                "namespaces \"{ns}\" is forbidden: this namespace may not be deleted"
            )),
            "{err}"
        );
    }
    // Namespaces have no deletecollection.
    let err = k.fails(&["delete", "--raw", "/api/v1/namespaces"]);
    assert!(
        err.contains("MethodNotAllowed") || err.contains("405"),
        "{err}"
    );
    assert_eq!(
        k.ok(&["get", "ns", "default", "-o", "name"]).trim(),
        "namespace/default"
    );
    // QoS is computed after requests default from limits.
    k.ok(&[
        "run",
        "q",
        "--image=nginx",
        "--overrides",
        r#"{"spec":{"containers":[{"name":"q","image":"nginx","resources":{"limits":{"cpu":"100m","memory":"64Mi"}}}]}}"#,
    ]);
    assert_eq!(
        k.ok(&["get", "pod", "q", "-o", "jsonpath={.status.qosClass}"]),
        "Guaranteed"
    );
    // PUT creates the kinds whose strategies allow it (a Lease), and only those.
    let lease = r#"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l","namespace":"default"},"spec":{"holderIdentity":"me"}}"#;
    let out = k.kubectl_stdin(
        &[
            "replace",
            "--raw",
            "/apis/coordination.k8s.io/v1/namespaces/default/leases/l",
            "-f",
            "-",
        ],
        lease,
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        k.ok(&["get", "lease", "l", "-o", "jsonpath={.spec.holderIdentity}"]),
        "me"
    );
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"nope","namespace":"default"}}"#;
    let out = k.kubectl_stdin(
        &[
            "replace",
            "--raw",
            "/api/v1/namespaces/default/configmaps/nope",
            "-f",
            "-",
        ],
        cm,
    );
    assert!(!out.status.success(), "{out:?}");
    k.fails(&["get", "cm", "nope"]);
    // A PDB with both bounds is invalid.
    let pdb = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: p\nspec:\n  minAvailable: 1\n  maxUnavailable: 1\n  selector: {matchLabels: {a: b}}\n";
    let out = k.kubectl_stdin(&["apply", "-f", "-"], pdb);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("minAvailable and maxUnavailable cannot be both set"),
        "{err}"
    );
    k.fails(&["get", "pdb", "p"]);
    // uid is immutable.
    k.ok(&["create", "configmap", "u"]);
    let err = k.fails(&[
        "patch",
        "cm",
        "u",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"uid":"00000000-0000-0000-0000-000000000000"}}"#,
    ]);
    assert!(
        err.contains("metadata.uid") && err.contains("field is immutable"),
        "{err}"
    );
    // A live namespace cannot be reported Terminating.
    k.ok(&["create", "ns", "live"]);
    let err = k.fails(&[
        "patch",
        "ns",
        "live",
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"phase":"Terminating"}}"#,
    ]);
    assert!(
        err.contains("may only be 'Active' if `deletionTimestamp` is empty"),
        "{err}"
    );
    assert_eq!(
        k.ok(&["get", "ns", "live", "-o", "jsonpath={.status.phase}"]),
        "Active"
    );
}

/// NodePort and LoadBalancer Services get node ports from 30000-32767, never shared, kept
/// across updates and released when the Service or its type goes.
#[test]
fn t11_node_ports_are_allocated_and_released() {
    let k = Kumo::start();
    let port_of = |svc: &str| {
        k.ok(&[
            "get",
            "svc",
            svc,
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ])
        .parse::<u32>()
        .unwrap_or(0)
    };
    k.ok(&["create", "service", "nodeport", "np", "--tcp=80:80"]);
    let p = port_of("np");
    assert!((30000..=32767).contains(&p), "nodePort {p}");
    let table = k.ok(&["get", "svc", "np"]);
    assert!(table.contains(&format!("80:{p}/TCP")), "{table}");
    k.ok(&["create", "service", "loadbalancer", "lb", "--tcp=80:80"]);
    let l = port_of("lb");
    assert!((30000..=32767).contains(&l) && l != p, "lb nodePort {l}");
    // Taken and out-of-range ports are refused.
    let taken = p.to_string();
    let err = k.fails(&[
        "create",
        "service",
        "nodeport",
        "np2",
        "--tcp=81:81",
        &format!("--node-port={taken}"),
    ]);
    assert!(
        err.contains(&format!(
            "spec.ports[0].nodePort: Invalid value: {p}: provided port is already allocated"
        )),
        "{err}"
    );
    let err = k.fails(&[
        "create",
        "service",
        "nodeport",
        "np3",
        "--tcp=80:80",
        "--node-port=80",
    ]);
    assert!(
        err.contains(
            "provided port is not in the valid range. The range of valid ports is 30000-32767"
        ),
        "{err}"
    );
    k.fails(&["get", "svc", "np2"]);
    // An update keeps the port.
    k.ok(&["label", "svc", "np", "tier=web"]);
    assert_eq!(port_of("np"), p);
    // Becoming ClusterIP drops it, and it is free again.
    k.ok(&[
        "patch",
        "svc",
        "np",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"type":"ClusterIP"}}"#,
    ]);
    assert_eq!(port_of("np"), 0);
    k.ok(&[
        "create",
        "service",
        "nodeport",
        "np2",
        "--tcp=81:81",
        &format!("--node-port={taken}"),
    ]);
    assert_eq!(port_of("np2"), p);
    // Deleting a Service frees its port.
    k.ok(&["delete", "svc", "lb"]);
    k.ok(&[
        "create",
        "service",
        "nodeport",
        "np4",
        "--tcp=82:82",
        &format!("--node-port={l}"),
    ]);
    assert_eq!(port_of("np4"), l);
}

/// Objects every cluster keeps: `kube-root-ca.crt` in every namespace (the API's CA,
/// restored when deleted or edited) and the `kubernetes` Service (restored when deleted).
#[test]
fn t12_system_objects_are_kept_in_place() {
    let k = Kumo::start();
    let (_, ca_pem, _) = k.credentials();
    let wait_for = |what: &str, ok: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !ok() {
            assert!(std::time::Instant::now() < deadline, "{what}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let root_ca = |ns: &str| {
        k.kubectl(&[
            "get",
            "cm",
            "kube-root-ca.crt",
            "-n",
            ns,
            "-o",
            "jsonpath={.data.ca\\.crt}",
        ])
    };
    let holds_ca = |ns: &str| {
        let out = root_ca(ns);
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == ca_pem.trim()
    };
    for ns in ["default", "kube-system"] {
        wait_for(&format!("kube-root-ca.crt in {ns}"), &|| holds_ca(ns));
    }
    k.ok(&["create", "namespace", "team-a"]);
    wait_for("kube-root-ca.crt in a new namespace", &|| {
        holds_ca("team-a")
    });
    k.ok(&["delete", "cm", "kube-root-ca.crt", "-n", "team-a"]);
    wait_for("kube-root-ca.crt restored after delete", &|| {
        holds_ca("team-a")
    });
    k.ok(&[
        "patch",
        "cm",
        "kube-root-ca.crt",
        "-n",
        "team-a",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"ca.crt":"tampered"}}"#,
    ]);
    wait_for("kube-root-ca.crt corrected after an edit", &|| {
        holds_ca("team-a")
    });
    k.ok(&["delete", "svc", "kubernetes"]);
    wait_for("kubernetes Service restored", &|| {
        k.kubectl(&[
            "get",
            "svc",
            "kubernetes",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ])
        .stdout
            == b"10.96.0.1"
    });
    // A deleted namespace goes away with its ConfigMap: nothing brings it back.
    k.ok(&[
        "delete",
        "namespace",
        "team-a",
        "--wait=true",
        "--timeout=30s",
    ]);
    assert!(!k.kubectl(&["get", "namespace", "team-a"]).status.success());
}
