//! Older kubectl releases against the real `kumo up`: kubectl.1.27 … kubectl.1.32, found
//! beside the real `kubectl` (the Google Cloud SDK ships them side by side). Releases up to
//! 1.29 read `/openapi/v2` as gnostic protobuf for `apply` (field validation support,
//! strategic-merge metadata); every release reads it for `explain --output=plaintext-openapiv2`.
//! A release that is not installed fails the test: `scripts/install-test-deps` installs
//! them all.

// Tests pause between kubectl calls on purpose.
#![allow(clippy::disallowed_methods)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Kumo;

const APP: &str = include_str!("../kubectl/testdata/app.yaml");

/// The app with the `app` container's env list changed: MODE changed, LEVEL gone, DEBUG new.
fn changed_app() -> String {
    let changed = APP
        .replace("value: prod", "value: staging")
        .replace("- name: LEVEL", "- name: DEBUG")
        .replace("value: info", "value: \"1\"");
    assert_ne!(changed, APP, "the app manifest no longer has the env list");
    changed
}

const UNKNOWN_FIELD: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: typo
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {app: typo}
  template:
    metadata:
      labels: {app: typo}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        imagePullPolicyy: Always
";

/// The directory of the real `kubectl` on PATH, symlinks followed.
fn kubectl_dir() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
        .and_then(|found| std::fs::canonicalize(found).ok())
        .and_then(|real| real.parent().map(Path::to_path_buf))
}

/// `kubectl.<version>` beside the real kubectl; a missing release fails the test.
fn release(version: &str) -> Option<PathBuf> {
    let dir = kubectl_dir().expect("no kubectl on PATH: run scripts/install-test-deps");
    let bin = dir.join(format!("kubectl.{version}"));
    assert!(
        bin.is_file(),
        "{} is absent: run scripts/install-test-deps",
        bin.display()
    );
    Some(bin)
}

/// One kubectl release driving one cluster.
struct Client<'a> {
    bin: PathBuf,
    kumo: &'a Kumo,
    version: &'a str,
}

impl Client<'_> {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .args(args)
            .env("KUBECONFIG", &self.kumo.kubeconfig)
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .output()
            .expect("run kubectl")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {} {args:?} failed: {}\n{}",
            self.version,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "kubectl {} {args:?} should have failed: {}",
            self.version,
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Writes `text` into the cluster's directory and returns its path.
    fn manifest(&self, name: &str, text: &str) -> String {
        let path = self.kumo.dir.join(name);
        std::fs::write(&path, text).expect("write manifest");
        path.to_string_lossy().into_owned()
    }

    fn env_of_app(&self, server: &[&str]) -> Vec<(String, String)> {
        let args = cat(
            server,
            &[
                "get",
                "deploy",
                "web",
                "-n",
                "shop",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].env}",
            ],
        );
        let text = self.ok(&args);
        let env: Vec<serde_json::Value> = serde_json::from_str(&text).expect("env json");
        env.iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap_or_default().to_string(),
                    e["value"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}

fn cat<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<&'a str> {
    a.iter().chain(b).copied().collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// `kubectl proxy` refusing `/openapi/v3`, so that the client must use the v2 protobuf.
struct V2OnlyProxy {
    child: Child,
    url: String,
}

impl V2OnlyProxy {
    fn start(client: &Client) -> V2OnlyProxy {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let child = Command::new(&client.bin)
            .args([
                "proxy",
                "--address=127.0.0.1",
                &format!("--port={port}"),
                "--reject-paths=^/openapi/v3.*",
            ])
            .env("KUBECONFIG", &client.kumo.kubeconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn kubectl proxy");
        let proxy = V2OnlyProxy {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let out = client.run(&["-s", &proxy.url, "get", "--raw", "/readyz"]);
            if out.status.success() {
                return proxy;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("kubectl proxy did not start");
    }
}

impl Drop for V2OnlyProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn check_release(version: &str) {
    let Some(bin) = release(version) else { return };
    let kumo = Kumo::start();
    let k = Client {
        bin,
        kumo: &kumo,
        version,
    };
    let app = k.manifest("app.yaml", APP);
    let changed = k.manifest("app-changed.yaml", &changed_app());

    // Apply: needs /openapi/v2 as protobuf on kubectl ≤ 1.29.
    let out = k.ok(&["apply", "-f", &app]);
    for line in [
        "namespace/shop created",
        "deployment.apps/web created",
        "service/web created",
        "ingress.networking.k8s.io/web created",
    ] {
        assert!(out.contains(line), "kubectl {version} apply: {out}");
    }

    // Re-apply with a changed env list: a strategic merge by name keeps an entry that
    // another manager added and the manifest never had.
    k.ok(&[
        "set",
        "env",
        "deploy/web",
        "-n",
        "shop",
        "-c",
        "app",
        "EXTRA=kept",
    ]);
    let out = k.ok(&["apply", "-f", &changed]);
    assert!(
        out.contains("deployment.apps/web configured"),
        "kubectl {version} re-apply: {out}"
    );
    assert_eq!(
        k.env_of_app(&[]),
        pairs(&[("MODE", "staging"), ("DEBUG", "1"), ("EXTRA", "kept")]),
        "kubectl {version}"
    );

    let wide = k.ok(&["get", "deploy", "-n", "shop", "-o", "wide"]);
    assert!(
        wide.contains("CONTAINERS")
            && wide.contains("nginx:1.27,busybox:1.36")
            && wide.contains("app=web"),
        "kubectl {version} get -o wide: {wide}"
    );

    let explain = k.ok(&["explain", "deployment.spec.strategy"]);
    assert!(
        explain.contains("strategy") && explain.contains("rollingUpdate"),
        "kubectl {version} explain: {explain}"
    );
    // The v2 explainer walks the protobuf document (it finds the kind by its GVK extension).
    let explain = k.ok(&[
        "explain",
        "deployment.spec.strategy",
        "--output=plaintext-openapiv2",
    ]);
    assert!(
        explain.contains("RESOURCE: strategy")
            && explain.contains("rollingUpdate")
            && explain.contains("replace existing pods"),
        "kubectl {version} explain (openapi v2): {explain}"
    );

    let typo = k.manifest("typo.yaml", UNKNOWN_FIELD);
    let err = k.fails(&["apply", "-f", &typo]);
    assert!(
        err.contains(r#"unknown field "spec.template.spec.containers[0].imagePullPolicyy""#),
        "kubectl {version} unknown field: {err}"
    );

    // Without OpenAPI v3 the client falls back to the v2 protobuf for everything: the
    // field-validation probe (operation GVK extensions, query parameters) and the
    // strategic-merge metadata (patch strategy and merge key extensions).
    let proxy = V2OnlyProxy::start(&k);
    let server = ["-s", proxy.url.as_str()];
    k.ok(&cat(
        &server,
        &[
            "set",
            "env",
            "deploy/web",
            "-n",
            "shop",
            "-c",
            "app",
            "MORE=kept",
        ],
    ));
    let out = k.ok(&cat(&server, &["apply", "-f", &app]));
    assert!(
        out.contains("deployment.apps/web configured"),
        "kubectl {version} apply (openapi v2 only): {out}"
    );
    assert_eq!(
        k.env_of_app(&server),
        pairs(&[
            ("MODE", "prod"),
            ("LEVEL", "info"),
            ("EXTRA", "kept"),
            ("MORE", "kept"),
        ]),
        "kubectl {version} (openapi v2 only)"
    );
    let err = k.fails(&cat(&server, &["apply", "-f", &typo]));
    assert!(
        err.contains("unknown field"),
        "kubectl {version} unknown field (openapi v2 only): {err}"
    );
}

#[test]
fn kubectl_1_27() {
    check_release("1.27");
}

#[test]
fn kubectl_1_28() {
    check_release("1.28");
}

#[test]
fn kubectl_1_29() {
    check_release("1.29");
}

#[test]
fn kubectl_1_30() {
    check_release("1.30");
}

#[test]
fn kubectl_1_31() {
    check_release("1.31");
}

#[test]
fn kubectl_1_32() {
    check_release("1.32");
}
