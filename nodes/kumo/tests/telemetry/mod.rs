//! Telemetry of `kumo up`: Prometheus metrics on the API port (authenticated), and OTLP span
//! export only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

#![allow(clippy::disallowed_methods)]

use crate::common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::Kumo;

#[test]
fn t01_metrics_are_served_and_count_requests() {
    let k = Kumo::start();
    k.ok(&["create", "configmap", "m1"]);
    k.ok(&["get", "configmap", "m1"]);
    let text = k.ok(&["get", "--raw", "/metrics"]);
    for needle in [
        "apiserver_request_total{verb=\"create\",resource=\"configmaps\",code=\"201\"} 1",
        "apiserver_request_duration_seconds_bucket{verb=\"get\",resource=\"configmaps\",le=\"+Inf\"}",
        "kumo_raft_term ",
        "kumo_raft_commit_index ",
        "kumo_raft_apply_lag ",
        "kumo_store_objects ",
        "kumo_store_bytes ",
        "apiserver_registered_watchers ",
        "process_resident_memory_bytes ",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
    // Without credentials: 401.
    let (server, _, _) = k.credentials();
    let out = std::process::Command::new("kubectl")
        .args([
            "--server",
            &server,
            "--insecure-skip-tls-verify",
            "--token",
            "nope",
            "get",
            "--raw",
            "/metrics",
        ])
        .env("KUBECONFIG", "/dev/null")
        .output()
        .expect("kubectl");
    assert!(!out.status.success());
}

/// Accepts one connection within `wait` and returns its first bytes.
fn first_bytes(l: &std::net::TcpListener, wait: Duration) -> Option<Vec<u8>> {
    l.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if let Ok((mut s, _)) = l.accept() {
            s.set_nonblocking(false).expect("blocking");
            s.set_read_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            let mut buf = [0u8; 24];
            let n = s.read(&mut buf).unwrap_or(0);
            return Some(buf[..n].to_vec());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn t02_otlp_export_only_when_configured() {
    // Configured: the exporter connects to the collector and speaks gRPC (HTTP/2).
    let collector = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", collector.local_addr().expect("addr"));
    let k = Kumo::start_with_env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]);
    k.ok(&["create", "configmap", "traced"]);
    let got = first_bytes(&collector, Duration::from_secs(15))
        .expect("no OTLP export reached the collector");
    assert!(
        got.starts_with(b"PRI * HTTP/2.0"),
        "not an HTTP/2 (gRPC) connection: {got:?}"
    );
    drop(k);
    // Not configured: nothing is sent. The listener takes OTLP's default endpoint
    // (localhost:4317), where an exporter built without configuration would send.
    let quiet = std::net::TcpListener::bind("127.0.0.1:4317")
        .expect("127.0.0.1:4317 (OTLP's default port) must be free for this test");
    let k = Kumo::start_with_env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]);
    k.ok(&["create", "configmap", "untraced"]);
    assert!(first_bytes(&quiet, Duration::from_secs(2)).is_none());
}
