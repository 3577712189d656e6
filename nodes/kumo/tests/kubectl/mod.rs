//! The kubectl suite: the real `kubectl` against the real `kumo up`.
//! One cluster per case; cases are numbered in the order a user meets them.

// Tests pause between kubectl calls on purpose.
#![allow(clippy::disallowed_methods)]

use crate::common;

use std::time::Duration;

use common::Kumo;

const APP: &str = include_str!("testdata/app.yaml");

fn apply_app(k: &Kumo) {
    let out = k.kubectl_stdin(&["apply", "-f", "-"], APP);
    assert!(
        out.status.success(),
        "apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn t01_version_discovery_and_api_resources() {
    let k = Kumo::start();
    let v = k.ok(&["version", "-o", "json"]);
    assert!(v.contains("\"gitVersion\": \"v1.33.0\""), "{v}");
    let res = k.ok(&["api-resources"]);
    for line in [
        "deployments",
        "horizontalpodautoscalers",
        "ingresses",
        "leases",
        "clusterrolebindings",
        "poddisruptionbudgets",
    ] {
        assert!(res.contains(line), "api-resources lacks {line}:\n{res}");
    }
    assert!(
        res.lines().any(|l| l.starts_with("pods")
            && l.contains("po")
            && l.contains("true")
            && l.contains("Pod")),
        "{res}"
    );
    let ns = k.ok(&["get", "namespaces"]);
    for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(ns.contains(n), "{ns}");
    }
    assert!(
        k.ok(&[
            "get",
            "serviceaccount",
            "default",
            "-n",
            "kube-system",
            "-o",
            "name"
        ])
        .contains("serviceaccount/default")
    );
}

#[test]
fn t02_apply_manifest_with_validation_and_get_forms() {
    let k = Kumo::start();
    apply_app(&k);
    let deploy = k.ok(&["get", "deployment", "web", "-n", "shop"]);
    let header: Vec<&str> = deploy.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    assert!(deploy.contains("web"), "{deploy}");
    let svc = k.ok(&["get", "svc", "web", "-n", "shop"]);
    assert!(
        svc.starts_with("NAME") && svc.contains("CLUSTER-IP") && svc.contains("80/TCP"),
        "{svc}"
    );
    let wide = k.ok(&["get", "deploy", "-n", "shop", "-o", "wide"]);
    assert!(
        wide.contains("CONTAINERS")
            && wide.contains("nginx:1.27,busybox:1.36")
            && wide.contains("app=web"),
        "{wide}"
    );
    let yaml = k.ok(&[
        "get",
        "deploy",
        "web",
        "-n",
        "shop",
        "-o",
        "yaml",
        "--show-managed-fields",
    ]);
    for needle in [
        "resourceVersion:",
        "uid:",
        "creationTimestamp:",
        "generation: 1",
        "maxSurge: 25%",
        "revisionHistoryLimit: 10",
        "progressDeadlineSeconds: 600",
        "imagePullPolicy: IfNotPresent",
        "terminationGracePeriodSeconds: 30",
        "dnsPolicy: ClusterFirst",
        "managedFields:",
    ] {
        assert!(yaml.contains(needle), "yaml lacks {needle}:\n{yaml}");
    }
    let image = k.ok(&[
        "get",
        "deploy",
        "web",
        "-n",
        "shop",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(image, "nginx:1.27");
    let job = k.ok(&[
        "get",
        "job",
        "migrate",
        "-n",
        "shop",
        "-o",
        "jsonpath={.spec.backoffLimit}",
    ]);
    assert_eq!(job, "6");
    let all = k.ok(&["get", "all", "-n", "shop"]);
    assert!(
        all.contains("deployment.apps/web")
            && all.contains("service/web")
            && all.contains("cronjob.batch/nightly"),
        "{all}"
    );
    let hpa = k.ok(&["get", "hpa", "-n", "shop"]);
    assert!(hpa.contains("Deployment/web"), "{hpa}");
    let ing = k.ok(&["get", "ingress", "-n", "shop"]);
    assert!(ing.contains("shop.example.com"), "{ing}");
    // Re-applying the same manifest changes nothing.
    let rv1 = k.ok(&[
        "get",
        "deploy",
        "web",
        "-n",
        "shop",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    let out = k.kubectl_stdin(&["apply", "-f", "-"], APP);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("deployment.apps/web unchanged"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let rv2 = k.ok(&[
        "get",
        "deploy",
        "web",
        "-n",
        "shop",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    assert_eq!(rv1, rv2);
}

#[test]
fn t03_describe_shows_events() {
    let k = Kumo::start();
    apply_app(&k);
    let ev = r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"web.1","namespace":"shop"},
      "involvedObject":{"apiVersion":"apps/v1","kind":"Deployment","name":"web","namespace":"shop"},
      "reason":"ScalingReplicaSet","message":"Scaled up replica set web-abc to 2","type":"Normal",
      "source":{"component":"deployment-controller"},"count":1}"#;
    let uid = k.ok(&[
        "get",
        "deploy",
        "web",
        "-n",
        "shop",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let ev = ev.replace(
        "\"namespace\":\"shop\"},\n      \"reason\"",
        &format!("\"namespace\":\"shop\",\"uid\":\"{uid}\"}},\n      \"reason\""),
    );
    let out = k.kubectl_stdin(&["create", "-f", "-"], &ev);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = k.ok(&["describe", "deployment", "web", "-n", "shop"]);
    assert!(
        d.contains("Name:") && d.contains("web") && d.contains("nginx:1.27"),
        "{d}"
    );
    assert!(
        d.contains("ScalingReplicaSet") && d.contains("Scaled up replica set web-abc to 2"),
        "describe lacks the event:\n{d}"
    );
    for kind in [
        "service/web",
        "job/migrate",
        "cronjob/nightly",
        "statefulset/db",
        "hpa/web",
        "ingress/web",
        "configmap/web-config",
        "secret/web-secret",
        "namespace/shop",
    ] {
        let out = k.kubectl(&["describe", kind, "-n", "shop"]);
        assert!(
            out.status.success(),
            "describe {kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn t04_label_annotate_and_selectors() {
    let k = Kumo::start();
    apply_app(&k);
    k.ok(&["label", "deploy", "web", "-n", "shop", "tier=frontend"]);
    k.ok(&["annotate", "deploy", "web", "-n", "shop", "owner=team-a"]);
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "-n",
            "shop",
            "-l",
            "tier=frontend",
            "-o",
            "name"
        ])
        .trim(),
        "deployment.apps/web"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "-n",
            "shop",
            "-l",
            "tier in (backend,db)",
            "-o",
            "name"
        ])
        .trim(),
        ""
    );
    // A long selector (a 40 KB URL once encoded) over kubectl's HTTP/2, which Kubernetes
    // serves (its limit is 1 MiB of request line and headers): it must not be refused by a
    // smaller header-list limit of HTTP/2 than of HTTP/1.
    let many: Vec<String> = (0..3000).map(|i| format!("v{i:05}")).collect();
    let long = format!("tier in (frontend,{})", many.join(","));
    assert_eq!(
        k.ok(&["get", "deploy", "-n", "shop", "-l", &long, "-o", "name"])
            .trim(),
        "deployment.apps/web"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "-n",
            "shop",
            "-l",
            "tier,!absent",
            "-o",
            "name"
        ])
        .trim(),
        "deployment.apps/web"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.metadata.annotations.owner}"
        ]),
        "team-a"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "cm",
            "-A",
            "--field-selector",
            "metadata.name=web-config",
            "-o",
            "name"
        ])
        .trim(),
        "configmap/web-config"
    );
    let err = k.fails(&[
        "get",
        "cm",
        "-n",
        "shop",
        "--field-selector",
        "spec.bogus=1",
    ]);
    assert!(err.contains("field label not supported"), "{err}");
    k.ok(&["label", "deploy", "web", "-n", "shop", "tier-"]);
    assert_eq!(
        k.ok(&["get", "deploy", "-n", "shop", "-l", "tier", "-o", "name"])
            .trim(),
        ""
    );
}

#[test]
fn t05_patch_types() {
    let k = Kumo::start();
    apply_app(&k);
    // Strategic merge: one container's image, the other container kept.
    k.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:1.28"}]}}}}"#,
    ]);
    let images = k.ok(&[
        "get",
        "deploy",
        "web",
        "-n",
        "shop",
        "-o",
        "jsonpath={.spec.template.spec.containers[*].image}",
    ]);
    assert_eq!(images, "nginx:1.28 busybox:1.36");
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.metadata.generation}"
        ]),
        "2"
    );
    // Merge patch.
    k.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"labels":{"patched":"merge"}}}"#,
    ]);
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.metadata.labels.patched}"
        ]),
        "merge"
    );
    // The label change is not a spec change: generation stays.
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.metadata.generation}"
        ]),
        "2"
    );
    // JSON patch.
    k.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":4}]"#,
    ]);
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "4"
    );
    // $patch: delete removes a container by name.
    k.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}"#,
    ]);
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].name}"
        ]),
        "app"
    );
    // A failing JSON patch test changes nothing.
    let rv = k.ok(&[
        "get",
        "deploy",
        "web",
        "-n",
        "shop",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    let err = k.fails(&["patch", "deploy", "web", "-n", "shop", "--type", "json", "-p", r#"[{"op":"test","path":"/spec/replicas","value":9},{"op":"replace","path":"/spec/replicas","value":1}]"#]);
    assert!(!err.is_empty());
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.metadata.resourceVersion}"
        ]),
        rv
    );
}

#[test]
fn t06_apply_twice_merges_lists_by_key() {
    let k = Kumo::start();
    apply_app(&k);
    let changed = APP
        .replace("        - name: LEVEL\n          value: info\n", "        - name: LEVEL\n          value: debug\n        - name: REGION\n          value: eu\n")
        .replace("      - name: sidecar\n        image: busybox:1.36\n        command: [\"sleep\", \"3600\"]\n", "      - name: metrics\n        image: prom/statsd:1\n");
    assert_ne!(changed, APP);
    let out = k.kubectl_stdin(&["apply", "-f", "-"], &changed);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = k.ok(&[
        "get",
        "deploy",
        "web",
        "-n",
        "shop",
        "-o",
        "jsonpath={.spec.template.spec.containers[*].name}",
    ]);
    assert_eq!(names, "app metrics");
    let env = k.ok(&[
        "get",
        "deploy",
        "web",
        "-n",
        "shop",
        "-o",
        "jsonpath={range .spec.template.spec.containers[0].env[*]}{.name}={.value} {end}",
    ]);
    assert_eq!(env.trim(), "MODE=prod LEVEL=debug REGION=eu");
    // A field set by another writer and not in the manifest survives (3-way merge).
    k.ok(&["patch", "deploy", "web", "-n", "shop", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"INJECTED","value":"yes"}]}]}}}}"#]);
    let out = k.kubectl_stdin(&["apply", "-f", "-"], &changed);
    assert!(out.status.success());
    let env = k.ok(&[
        "get",
        "deploy",
        "web",
        "-n",
        "shop",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].env[*].name}",
    ]);
    assert!(env.contains("INJECTED"), "{env}");
}

#[test]
fn t07_server_side_apply_conflicts_and_force() {
    let k = Kumo::start();
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: default\ndata:\n  a: \"1\"\n";
    let out = k.kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "alice",
            "-f",
            "-",
        ],
        cm,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let other = cm.replace("a: \"1\"", "a: \"2\"");
    let out = k.kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "bob",
            "-f",
            "-",
        ],
        &other,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("conflict") && err.contains("alice") && err.contains(".data.a"),
        "{err}"
    );
    assert_eq!(k.ok(&["get", "cm", "ssa", "-o", "jsonpath={.data.a}"]), "1");
    let out = k.kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "bob",
            "--force-conflicts",
            "-f",
            "-",
        ],
        &other,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(k.ok(&["get", "cm", "ssa", "-o", "jsonpath={.data.a}"]), "2");
    let managers = k.ok(&[
        "get",
        "cm",
        "ssa",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert!(managers.contains("bob"), "{managers}");
}

#[test]
fn t08_scale_replace_conflict_and_delete_cascade() {
    let k = Kumo::start();
    apply_app(&k);
    k.ok(&["scale", "deploy", "web", "-n", "shop", "--replicas", "5"]);
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "5"
    );
    // A negative scale is refused (422) and changes nothing.
    let err = k.fails(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "--subresource=scale",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"replicas":-2}}"#,
    ]);
    assert!(
        err.contains("is invalid") && err.contains("spec.replicas"),
        "{err}"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "5"
    );
    k.ok(&[
        "scale",
        "statefulset",
        "db",
        "-n",
        "shop",
        "--replicas",
        "3",
    ]);
    assert_eq!(
        k.ok(&[
            "get",
            "sts",
            "db",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "3"
    );
    // replace with a stale object is a conflict, and nothing changes.
    let stale = k.ok(&["get", "cm", "web-config", "-n", "shop", "-o", "json"]);
    k.ok(&[
        "patch",
        "cm",
        "web-config",
        "-n",
        "shop",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"greeting":"hi"}}"#,
    ]);
    let stale_changed = stale.replace("\"greeting\": \"hello\"", "\"greeting\": \"stale\"");
    let out = k.kubectl_stdin(&["replace", "-f", "-"], &stale_changed);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the object has been modified"), "{err}");
    assert_eq!(
        k.ok(&[
            "get",
            "cm",
            "web-config",
            "-n",
            "shop",
            "-o",
            "jsonpath={.data.greeting}"
        ]),
        "hi"
    );
    // Cascading deletes.
    k.ok(&[
        "delete",
        "deploy",
        "web",
        "-n",
        "shop",
        "--cascade=foreground",
        "--wait=true",
        "--timeout=20s",
    ]);
    k.fails(&["get", "deploy", "web", "-n", "shop"]);
    k.ok(&["delete", "job", "migrate", "-n", "shop", "--cascade=orphan"]);
    k.fails(&["get", "job", "migrate", "-n", "shop"]);
    // Namespace deletion removes everything in it.
    k.ok(&[
        "delete",
        "namespace",
        "shop",
        "--wait=true",
        "--timeout=30s",
    ]);
    k.fails(&["get", "namespace", "shop"]);
    assert_eq!(k.ok(&["get", "cm", "-n", "shop", "-o", "name"]).trim(), "");
}

#[test]
fn t09_watch_sees_update() {
    let k = Kumo::start();
    k.ok(&["create", "configmap", "watched", "--from-literal=a=1"]);
    let mut cmd = std::process::Command::new("kubectl");
    cmd.args([
        "get",
        "cm",
        "watched",
        "-w",
        "-o",
        "jsonpath={.data.a}{\"\\n\"}",
    ])
    .env("KUBECONFIG", &k.kubeconfig);
    let mut watch = common::lines::Lines::spawn(cmd);
    // The watch has listed (and so is watching) once it prints the current value.
    watch.wait_for(Duration::from_secs(30), |l| l == "1");
    k.ok(&[
        "patch",
        "cm",
        "watched",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"a":"2"}}"#,
    ]);
    watch.wait_for(Duration::from_secs(30), |l| l == "2");
    assert_eq!(watch.seen(), ["1", "2"]);
}

#[test]
fn t10_explain() {
    let k = Kumo::start();
    let out = k.ok(&["explain", "deployment.spec.strategy"]);
    assert!(
        out.contains("KIND:") && out.contains("Deployment") && out.contains("rollingUpdate"),
        "{out}"
    );
    let out = k.ok(&["explain", "pods.spec.containers.image"]);
    assert!(out.contains("image"), "{out}");
}

#[test]
fn t11_bad_input_is_refused_and_changes_nothing() {
    let k = Kumo::start();
    apply_app(&k);
    let before = k.ok(&[
        "get",
        "all,cm,secret,ing,hpa",
        "-n",
        "shop",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}",
    ]);
    // Unknown field, strict validation (kubectl's default).
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: shop\ndataa:\n  a: b\n";
    let out = k.kubectl_stdin(&["apply", "-f", "-"], bad);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("unknown field \"dataa\""),
        "{err}"
    );
    // Malformed body (400).
    let out = k.kubectl_stdin(
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/shop/configmaps",
            "-f",
            "-",
        ],
        "{not json",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("BadRequest")
            || err.contains("malformed")
            || err.contains("400"),
        "{err}"
    );
    // Namespace in the body differs from the URL (400).
    let out = k.kubectl_stdin(
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/default/configmaps",
            "-f",
            "-",
        ],
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"shop"}}"#,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("does not match the namespace"),
        "{err}"
    );
    // Invalid name (422 with the field).
    let err = k.fails(&["create", "configmap", "Bad_Name", "-n", "shop"]);
    assert!(
        err.contains("is invalid") && err.contains("metadata.name"),
        "{err}"
    );
    // Missing required field (422).
    let out = k.kubectl_stdin(&["create", "-f", "-"], "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: nosel\n  namespace: shop\nspec:\n  template:\n    metadata:\n      labels: {a: b}\n    spec:\n      containers: [{name: c, image: i}]\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("spec.selector"),
        "{err}"
    );
    // Immutable: a Service's clusterIP and a Deployment's selector (422).
    let err = k.fails(&[
        "patch",
        "svc",
        "web",
        "-n",
        "shop",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"clusterIP":"10.96.99.99","clusterIPs":["10.96.99.99"]}}"#,
    ]);
    assert!(
        err.contains("immutable") || err.contains("may not change"),
        "{err}"
    );
    let err = k.fails(&["patch", "deploy", "web", "-n", "shop", "--type", "merge", "-p", r#"{"spec":{"selector":{"matchLabels":{"app":"other"}},"template":{"metadata":{"labels":{"app":"other"}}}}}"#]);
    assert!(err.contains("field is immutable"), "{err}");
    // Existing name (409).
    let err = k.fails(&["create", "configmap", "web-config", "-n", "shop"]);
    assert!(
        err.contains("AlreadyExists") || err.contains("already exists"),
        "{err}"
    );
    // Unknown object and unknown namespace (404).
    let err = k.fails(&["get", "deploy", "nope", "-n", "shop"]);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
    let err = k.fails(&["create", "configmap", "x", "-n", "nowhere"]);
    assert!(err.contains("namespaces \"nowhere\" not found"), "{err}");
    // Annotations over 256 KiB (422), body over 3 MiB (413).
    // Three annotations of 100 KiB (one argv string may not exceed 128 KiB).
    let big = "a".repeat(100 * 1024);
    let (a1, a2, a3) = (
        format!("big1={big}"),
        format!("big2={big}"),
        format!("big3={big}"),
    );
    let err = k.fails(&["annotate", "cm", "web-config", "-n", "shop", &a1, &a2, &a3]);
    assert!(
        err.contains("Too long") || err.contains("too long"),
        "{err}"
    );
    let huge = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"huge\"}},\"data\":{{\"a\":\"{}\"}}}}",
        "x".repeat(4 << 20)
    );
    let out = k.kubectl_stdin(
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/shop/configmaps",
            "-f",
            "-",
        ],
        &huge,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && (err.contains("too large") || err.contains("413")),
        "{err}"
    );
    // Object over 1.5 MiB after encoding (413): a Deployment with a 2 MiB env value (a
    // ConfigMap would hit its own 1 MiB data limit, a 422, first).
    let big_obj = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "big"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
        "spec": {"containers": [{"name": "c", "image": "i", "env": [{"name": "E", "value": "x".repeat(2 << 20)}]}]}}}})
    .to_string();
    let out = k.kubectl_stdin(
        &[
            "create",
            "--raw",
            "/apis/apps/v1/namespaces/shop/deployments",
            "-f",
            "-",
        ],
        &big_obj,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && (err.contains("too large") || err.contains("413")),
        "{err}"
    );
    let after = k.ok(&[
        "get",
        "all,cm,secret,ing,hpa",
        "-n",
        "shop",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}",
    ]);
    assert_eq!(before, after, "bad input changed stored state");
    // Create in a Terminating namespace (403).
    k.ok(&["create", "configmap", "keep", "-n", "shop"]);
    let out = k.kubectl(&[
        "patch",
        "cm",
        "keep",
        "-n",
        "shop",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
    ]);
    assert!(out.status.success());
    k.ok(&["delete", "namespace", "shop", "--wait=false"]);
    let err = k.fails(&["create", "configmap", "late", "-n", "shop"]);
    assert!(
        err.contains("Forbidden") || err.contains("being terminated"),
        "{err}"
    );
    assert_eq!(
        k.ok(&["get", "ns", "shop", "-o", "jsonpath={.status.phase}"]),
        "Terminating"
    );
}

#[test]
fn t12_finalizers_hold_deletion() {
    let k = Kumo::start();
    k.ok(&["create", "configmap", "held"]);
    k.ok(&[
        "patch",
        "cm",
        "held",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
    ]);
    k.ok(&["delete", "cm", "held", "--wait=false"]);
    let ts = k.ok(&[
        "get",
        "cm",
        "held",
        "-o",
        "jsonpath={.metadata.deletionTimestamp}",
    ]);
    assert!(!ts.is_empty());
    k.ok(&[
        "patch",
        "cm",
        "held",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    k.fails(&["get", "cm", "held"]);
}

#[test]
fn t13_unauthenticated_is_401() {
    let k = Kumo::start();
    let (server, _, _) = k.credentials();
    let out = std::process::Command::new("kubectl")
        .args([
            "--server",
            &server,
            "--insecure-skip-tls-verify",
            "--token",
            "wrong",
            "get",
            "pods",
        ])
        .env("KUBECONFIG", "/dev/null")
        .output()
        .expect("kubectl");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Unauthorized") || err.contains("provide credentials"),
        "{err}"
    );
}

#[test]
fn t14_typed_commands_send_protobuf() {
    // kubectl 1.33 sends these bodies as Kubernetes protobuf.
    let k = Kumo::start();
    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=3",
        "--port=80",
    ]);
    assert_eq!(k.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.strategy.type}"]), "3 nginx:1.27 RollingUpdate");
    k.ok(&[
        "create",
        "configmap",
        "cfg",
        "--from-literal=a=1",
        "--from-literal=b=2",
    ]);
    assert_eq!(
        k.ok(&["get", "cm", "cfg", "-o", "jsonpath={.data.a}{.data.b}"]),
        "12"
    );
    k.ok(&[
        "create",
        "secret",
        "generic",
        "sec",
        "--from-literal=password=hunter2",
    ]);
    assert_eq!(
        k.ok(&["get", "secret", "sec", "-o", "jsonpath={.data.password}"]),
        "aHVudGVyMg=="
    );
    k.ok(&["create", "namespace", "team-a"]);
    assert!(
        k.ok(&["get", "sa", "-n", "team-a", "-o", "name"])
            .contains("serviceaccount/default")
    );
    k.ok(&[
        "expose",
        "deployment",
        "web",
        "--port=80",
        "--target-port=8080",
    ]);
    assert_eq!(
        k.ok(&[
            "get",
            "svc",
            "web",
            "-o",
            "jsonpath={.spec.ports[0].targetPort}"
        ]),
        "8080"
    );
    k.ok(&[
        "create",
        "job",
        "once",
        "--image=busybox:1.36",
        "--",
        "true",
    ]);
    assert_eq!(
        k.ok(&[
            "get",
            "job",
            "once",
            "-o",
            "jsonpath={.spec.template.spec.restartPolicy}"
        ]),
        "Never"
    );
    k.ok(&[
        "run",
        "solo",
        "--image=busybox:1.36",
        "--restart=Never",
        "--",
        "sleep",
        "1",
    ]);
    let pods = k.ok(&["get", "pods"]);
    assert!(pods.contains("solo") && pods.contains("Pending"), "{pods}");
    k.ok(&[
        "autoscale",
        "deployment",
        "web",
        "--min=2",
        "--max=5",
        "--cpu-percent=70",
    ]);
    assert!(k.ok(&["get", "hpa", "web"]).contains("Deployment/web"));
    k.ok(&[
        "create",
        "role",
        "reader",
        "--verb=get,list",
        "--resource=pods",
    ]);
    k.ok(&[
        "create",
        "rolebinding",
        "reader",
        "--role=reader",
        "--user=alice",
    ]);
    assert_eq!(
        k.ok(&[
            "get",
            "rolebinding",
            "reader",
            "-o",
            "jsonpath={.roleRef.name}"
        ]),
        "reader"
    );
    // Bad input through protobuf is refused the same way.
    let err = k.fails(&["create", "deployment", "Bad_Name", "--image=nginx"]);
    assert!(
        err.contains("is invalid") && err.contains("metadata.name"),
        "{err}"
    );
    let err = k.fails(&["create", "configmap", "cfg"]);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn t15_invalid_labels_and_stale_update() {
    let k = Kumo::start();
    k.ok(&["create", "configmap", "c"]);
    let err = k.fails(&["label", "cm", "c", "bad key=x"]);
    assert!(!err.is_empty());
    // kubectl checks label syntax itself; a patch reaches the server's validation.
    let err = k.fails(&[
        "patch",
        "cm",
        "c",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"labels":{"ok":"-bad-value-"}}}"#,
    ]);
    assert!(
        err.contains("is invalid") && err.contains("metadata.labels"),
        "{err}"
    );
    assert_eq!(
        k.ok(&["get", "cm", "c", "-o", "jsonpath={.metadata.labels}"]),
        ""
    );
    // An update carrying an old resourceVersion is a 409 Conflict.
    let old = k.ok(&["get", "cm", "c", "-o", "json"]);
    k.ok(&["label", "cm", "c", "fresh=yes"]);
    let out = k.kubectl_stdin(&["replace", "-f", "-"], &old);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Conflict")
            || String::from_utf8_lossy(&out.stderr).contains("modified")
    );
    assert_eq!(
        k.ok(&["get", "cm", "c", "-o", "jsonpath={.metadata.labels.fresh}"]),
        "yes"
    );
}

const PRUNE_AB: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  labels: {set: p}
data: {k: a}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: b
  labels: {set: p}
data: {k: b}
";

const PRUNE_A: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  labels: {set: p}
data: {k: a}
";

const RC: &str = "apiVersion: v1
kind: ReplicationController
metadata:
  name: web
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
";

const PV: &str = "apiVersion: v1
kind: PersistentVolume
metadata:
  name: pv1
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /tmp/pv1}
";

#[test]
fn t16_apply_prune_replication_controllers_and_persistent_volumes() {
    let k = Kumo::start();
    // kubectl's default prune list includes ReplicationControllers and PersistentVolumes:
    // pruning works without --prune-allowlist only when both are served.
    let run = |args: &[&str], stdin: &str| {
        let out = k.kubectl_stdin(args, stdin);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = run(&["apply", "-l", "set=p", "--prune", "-f", "-"], PRUNE_AB);
    assert!(
        out.contains("configmap/a created") && out.contains("configmap/b created"),
        "{out}"
    );
    let out = run(&["apply", "--prune", "-l", "set=p", "-f", "-"], PRUNE_A);
    assert!(out.contains("configmap/b pruned"), "{out}");
    assert_eq!(
        k.ok(&["get", "cm", "-l", "set=p", "-o", "name"]).trim(),
        "configmap/a"
    );
    k.fails(&["get", "cm", "b"]);

    // A ReplicationController: defaults, table, scale.
    let out = run(&["create", "-f", "-"], RC);
    assert!(out.contains("replicationcontroller/web created"), "{out}");
    assert_eq!(
        k.ok(&[
            "get",
            "rc",
            "web",
            "-o",
            "jsonpath={.spec.selector.app} {.metadata.labels.app} {.status.replicas} {.metadata.generation} {.spec.template.spec.restartPolicy}"
        ]),
        "web web 0 1 Always"
    );
    let table = k.ok(&["get", "rc"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]);
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(row[..4], ["web", "2", "0", "0"], "{table}");
    let wide = k.ok(&["get", "rc", "-o", "wide"]);
    assert!(
        wide.contains("SELECTOR") && wide.contains("nginx:1.27") && wide.contains("app=web"),
        "{wide}"
    );
    assert!(
        k.ok(&["get", "all", "-o", "name"])
            .contains("replicationcontroller/web"),
        "get all lacks the rc"
    );
    let out = k.ok(&["scale", "rc", "web", "--replicas=3"]);
    assert!(out.contains("replicationcontroller/web scaled"), "{out}");
    assert_eq!(
        k.ok(&[
            "get",
            "rc",
            "web",
            "-o",
            "jsonpath={.spec.replicas} {.metadata.generation}"
        ]),
        "3 2"
    );
    let scale = k.ok(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/replicationcontrollers/web/scale",
    ]);
    assert!(
        scale.contains("\"replicas\":3") && scale.contains("\"selector\":\"app=web\""),
        "{scale}"
    );
    // A selector that does not match the template is refused.
    let err = k.fails(&[
        "patch",
        "rc",
        "web",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"selector":{"app":"api"}}}"#,
    ]);
    assert!(
        err.contains("is invalid") && err.contains("spec.template.metadata.labels"),
        "{err}"
    );

    // A PersistentVolume: cluster-scoped, defaulted, printed.
    let out = run(&["create", "-f", "-"], PV);
    assert!(out.contains("persistentvolume/pv1 created"), "{out}");
    let table = k.ok(&["get", "pv"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "CAPACITY",
            "ACCESS",
            "MODES",
            "RECLAIM",
            "POLICY",
            "STATUS",
            "CLAIM",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "REASON",
            "AGE"
        ]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        row[..6],
        ["pv1", "1Gi", "RWO", "Retain", "Pending", "<unset>"],
        "{table}"
    );
    assert!(k.ok(&["get", "pv", "-o", "wide"]).contains("Filesystem"));
    assert_eq!(
        k.ok(&[
            "get",
            "pv",
            "pv1",
            "-o",
            "jsonpath={.metadata.namespace}|{.spec.persistentVolumeReclaimPolicy}"
        ]),
        "|Retain"
    );
}

#[test]
fn t17_auth_can_i_and_whoami() {
    // No authorization is enforced yet: the admin may do everything, and says so.
    let k = Kumo::start();
    assert_eq!(k.ok(&["auth", "can-i", "create", "pods"]).trim(), "yes");
    assert_eq!(
        k.ok(&[
            "auth",
            "can-i",
            "delete",
            "deployments.apps",
            "-n",
            "kube-system"
        ])
        .trim(),
        "yes"
    );
    assert_eq!(k.ok(&["auth", "can-i", "get", "/healthz"]).trim(), "yes");
    let list = k.ok(&["auth", "can-i", "--list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("*.*") && l.contains("[*]")),
        "{list}"
    );
    let me = k.ok(&["auth", "whoami"]);
    assert!(
        me.contains("kumo-admin") && me.contains("system:masters"),
        "{me}"
    );
    let me = k.ok(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    assert_eq!(me, "kumo-admin");
    let res = k.ok(&["api-resources"]);
    for r in [
        "selfsubjectaccessreviews",
        "selfsubjectrulesreviews",
        "selfsubjectreviews",
    ] {
        assert!(res.contains(r), "api-resources lacks {r}:\n{res}");
    }
    let wide = k.ok(&["api-resources", "-o", "wide"]);
    assert!(
        wide.lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.first() == Some(&"selfsubjectaccessreviews")
                && cols.contains(&"create")
                && !l.contains("list")
        }),
        "{wide}"
    );
    // Reviews are answered, never stored: no other verb.
    let err = k.fails(&[
        "get",
        "--raw",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    ]);
    assert!(err.contains("MethodNotAllowed"), "{err}");
    let err = k.fails(&["get", "selfsubjectaccessreviews"]);
    assert!(
        err.contains("MethodNotAllowed") || err.contains("not allow"),
        "{err}"
    );
    // Kubernetes' validation: exactly one of the attribute kinds; a rules review needs a
    // namespace. (`--validate=false`: kubectl's field-validation probe finds no PATCH for a
    // review in OpenAPI, as in Kubernetes, and then asks whether it is a CRD, which Kumo
    // does not serve.)
    let out = k.kubectl_stdin(
        &["create", "--validate=false", "-f", "-"],
        r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{}}"#,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("is invalid")
            && err.contains(
                "exactly one of nonResourceAttributes or resourceAttributes must be specified"
            ),
        "{err}"
    );
    let out = k.kubectl_stdin(
        &["create", "--validate=false", "-f", "-", "-o", "json"],
        r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":{"verb":"list","resource":"secrets"}}}"#,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["status"]["allowed"], true, "{v}");
    assert_eq!(
        v["spec"]["resourceAttributes"]["resource"], "secrets",
        "{v}"
    );
    let out = k.kubectl_stdin(
        &["create", "--validate=false", "-f", "-"],
        r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","spec":{}}"#,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no namespace on request"),
        "{err}"
    );
}
