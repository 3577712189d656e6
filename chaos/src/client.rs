//! The client side of a Kumo cluster for tools (benchmarks, `kumo members`, the local
//! launcher): an HTTPS client that trusts the cluster's CA, and the kubeconfig `kumo up`
//! writes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// An HTTPS client that trusts only `ca_pem` (ring provider), keeping up to `pool` idle
/// connections per host.
pub fn https_client(ca_pem: &str, pool: usize) -> Result<reqwest::Client, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .pool_max_idle_per_host(pool.max(1))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())
}

/// Reads `DIR/kubeconfig`'s server URL and token (for tools such as `kumo bench`).
pub fn read_kubeconfig(path: &Path) -> Option<(String, String, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_yaml::from_str(&text).ok()?;
    let server = v
        .pointer("/clusters/0/cluster/server")?
        .as_str()?
        .to_string();
    let ca = v
        .pointer("/clusters/0/cluster/certificate-authority-data")?
        .as_str()?
        .to_string();
    let token = v.pointer("/users/0/user/token")?.as_str()?.to_string();
    Some((server, ca, token))
}
