//! Hostile clients: what a careless or malicious user does to an HTTPS API server — hold
//! connections without a handshake or without finishing a request, promise a body and
//! never send it, stop reading a response, send bytes no parser expects. Each function is
//! bounded in count and time and talks only to the address it is given (tests give it
//! 127.0.0.1).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Errors of the hostile clients themselves (not of the server under test).
#[derive(Debug, thiserror::Error)]
pub enum HostileError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    #[error("the CA certificate could not be read")]
    BadCa,
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("http client: {0}")]
    Http(String),
}

/// How to reach the server: its address and the CA that signed its certificate.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    connector: TlsConnector,
    /// The same trust, for [`Target::http_client`] (which negotiates its own ALPN).
    tls: rustls::ClientConfig,
}

impl Target {
    /// `ca_pem`: the cluster CA (the kubeconfig's `certificate-authority-data`).
    pub fn new(addr: SocketAddr, ca_pem: &str) -> Result<Self, HostileError> {
        let mut roots = rustls::RootCertStore::empty();
        let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut ca_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|_| HostileError::BadCa)?;
        for c in certs {
            roots.add(c).map_err(|_| HostileError::BadCa)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut cfg = tls.clone();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            addr,
            connector: TlsConnector::from(Arc::new(cfg)),
            tls,
        })
    }

    /// A real HTTP client (reqwest on hyper, HTTP/2 or HTTP/1.1 as the server offers, as
    /// kubectl does) trusting the same CA; every request times out after `timeout`.
    pub fn http_client(&self, timeout: Duration) -> Result<reqwest::Client, HostileError> {
        let mut tls = self.tls.clone();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| HostileError::Http(e.to_string()))
    }

    /// `https://ADDR`, the base of every URL of this server.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// A TLS connection (HTTP/1.1 negotiated).
    pub async fn tls(&self) -> Result<TlsStream<TcpStream>, HostileError> {
        let tcp = TcpStream::connect(self.addr).await?;
        let name = ServerName::IpAddress(self.addr.ip().into());
        Ok(self.connector.connect(name, tcp).await?)
    }
}

/// Opens `n` TCP connections that never start the TLS handshake. Connections the server
/// refuses at once are not retried; the open ones are returned to be held.
pub async fn stalled_tcp(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        if let Ok(s) = TcpStream::connect(addr).await {
            out.push(s);
        }
    }
    out
}

/// Opens `n` TLS connections that send half a request line, without a token, and stall.
pub async fn stalled_half_requests(t: &Target, n: usize) -> Vec<TlsStream<TcpStream>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let Ok(mut s) = t.tls().await else { continue };
        if s.write_all(b"GET /api/v1/namespa").await.is_ok() && s.flush().await.is_ok() {
            out.push(s);
        }
    }
    out
}

/// Counts how many of `conns` the server has closed (a read returns EOF or an error
/// within `wait`).
pub async fn closed_by_server<S: tokio::io::AsyncRead + Unpin>(
    conns: &mut [S],
    wait: Duration,
) -> usize {
    let mut closed = 0;
    for c in conns.iter_mut() {
        let mut b = [0u8; 512];
        match tokio::time::timeout(wait, c.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed += 1,
            // Data (an error response) then, usually, EOF: count it as closed when EOF follows.
            Ok(Ok(_)) => {
                if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(wait, c.read(&mut b)).await {
                    closed += 1;
                }
            }
            Err(_) => {}
        }
    }
    closed
}

/// Sends raw request bytes on a new TLS connection and returns what the server answered
/// until it closed the connection or `wait` passed (the response may be partial then).
pub async fn raw_exchange(
    t: &Target,
    request: &[u8],
    wait: Duration,
) -> Result<Vec<u8>, HostileError> {
    let mut s = t.tls().await?;
    s.write_all(request).await?;
    s.flush().await?;
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(out);
        }
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Ok(out),
            Ok(Ok(n)) => {
                out.extend_from_slice(&buf[..n]);
                // One response with a known length is enough.
                if response_complete(&out) {
                    return Ok(out);
                }
            }
        }
    }
}

/// Whether `buf` holds a whole HTTP/1.1 response (headers and a `Content-Length` body).
fn response_complete(buf: &[u8]) -> bool {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    match len {
        Some(n) => buf.len() >= end + 4 + n,
        None => false,
    }
}

/// The status code of a raw HTTP/1.1 response, if it has a status line.
pub fn status_code(resp: &[u8]) -> Option<u16> {
    let line = resp.split(|b| *b == b'\n').next()?;
    let line = String::from_utf8_lossy(line);
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Sends a request whose `Content-Length` promises `promised` bytes but sends `sent`, then
/// waits up to `wait` for the server's answer. Returns the answer and how long it took.
pub async fn short_body(
    t: &Target,
    token: &str,
    path: &str,
    promised: usize,
    sent: usize,
    wait: Duration,
) -> Result<(Vec<u8>, Duration), HostileError> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: kumo\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {promised}\r\n\r\n"
    )
    .into_bytes();
    req.extend(std::iter::repeat_n(b' ', sent.min(promised)));
    let started = Instant::now();
    let out = raw_exchange(t, &req, wait).await?;
    Ok((out, started.elapsed()))
}

/// Opens a watch and never reads from it: the server's buffer toward it fills and stays
/// full. The connection is returned to be held (drop it to go away).
pub async fn stalled_watch(
    t: &Target,
    token: &str,
    path_and_query: &str,
) -> Result<TlsStream<TcpStream>, HostileError> {
    let mut s = t.tls().await?;
    let req = format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: kumo\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    s.flush().await?;
    // Read the response head only, so the watch is known to have started.
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !head.ends_with(b"\r\n\r\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut b)).await {
            Ok(Ok(1)) => head.push(b[0]),
            Ok(Ok(_)) | Ok(Err(_)) => {
                return Err(HostileError::Io(std::io::Error::other(
                    "watch closed before its response head",
                )));
            }
            Err(_) => return Err(HostileError::Timeout(Duration::from_secs(10))),
        }
    }
    Ok(s)
}

/// What [`lone_leader_refuses`] saw.
#[derive(Debug, Clone)]
pub struct LoneLeader {
    /// How long `/readyz` took to answer 503.
    pub not_ready_after: Duration,
    /// ConfigMaps (in `default`) whose creation was refused (503): none may ever be stored.
    pub refused: Vec<String>,
    /// ConfigMaps whose creation, sent as the quorum went, was answered 504 (its outcome is
    /// unknown: it may be stored once the followers are back).
    pub unknown: Vec<String>,
}

/// One answer, as a client saw it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
    pub took: Duration,
}

async fn answer(req: reqwest::RequestBuilder) -> Result<Answer, String> {
    let started = Instant::now();
    let r = req.send().await.map_err(|e| format!("no answer: {e}"))?;
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (retry_after, content_type) = (header("retry-after"), header("content-type"));
    let status = r.status().as_u16();
    let body = r
        .text()
        .await
        .map_err(|e| format!("body of a {status}: {e}"))?;
    Ok(Answer {
        status,
        retry_after,
        content_type,
        body,
        took: started.elapsed(),
    })
}

/// The first of `topology` (or any loopback address) that `text` names: what a client must
/// never read in an error (internal addresses, node ids, who leads).
pub fn names_topology<'a>(text: &str, topology: &'a [String]) -> Option<&'a str> {
    const LOOPBACK: &str = "127.0.0.";
    if text.contains(LOOPBACK) {
        return Some(LOOPBACK);
    }
    topology
        .iter()
        .find(|t| !t.is_empty() && text.contains(t.as_str()))
        .map(String::as_str)
}

/// Judges an answer to a request that a leader without its quorum must refuse: 503, a
/// `Retry-After` of whole seconds, a Kubernetes `Status` (`ServiceUnavailable`), nothing of
/// the cluster's topology.
pub fn judge_unavailable(a: &Answer, topology: &[String]) -> Result<(), String> {
    if a.status != 503 {
        return Err(format!("answered {} instead of 503: {}", a.status, a.body));
    }
    match a.retry_after.as_deref().map(str::parse::<u64>) {
        Some(Ok(s)) if s >= 1 => {}
        other => return Err(format!("Retry-After {other:?} on a 503: {}", a.body)),
    }
    if !a
        .content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/json"))
    {
        return Err(format!(
            "a 503 typed {:?}, not a Status: {}",
            a.content_type, a.body
        ));
    }
    let v: serde_json::Value = serde_json::from_str(&a.body)
        .map_err(|e| format!("a 503 body that is not JSON ({e}): {}", a.body))?;
    let want = [
        ("kind", serde_json::json!("Status")),
        ("apiVersion", serde_json::json!("v1")),
        ("status", serde_json::json!("Failure")),
        ("reason", serde_json::json!("ServiceUnavailable")),
        ("code", serde_json::json!(503)),
    ];
    for (field, value) in want {
        if v[field] != value {
            return Err(format!(
                "Status {field} is {}, not {value}: {}",
                v[field], a.body
            ));
        }
    }
    if v["message"].as_str().is_none_or(str::is_empty) {
        return Err(format!("a Status without a message: {}", a.body));
    }
    if let Some(t) = names_topology(&a.body, topology) {
        return Err(format!(
            "an error names the cluster's topology ({t}): {}",
            a.body
        ));
    }
    Ok(())
}

/// Judges the answer to a write sent as the quorum went, before the leader's lease ran out:
/// refused (as [`judge_unavailable`]) or, if it was already waiting to commit, 504 with a
/// `Timeout` Status (its outcome unknown) — never another code, never the topology.
pub fn judge_unavailable_or_unknown(a: &Answer, topology: &[String]) -> Result<(), String> {
    if a.status != 504 {
        return judge_unavailable(a, topology);
    }
    let v: serde_json::Value = serde_json::from_str(&a.body)
        .map_err(|e| format!("a 504 body that is not JSON ({e}): {}", a.body))?;
    if v["kind"] != "Status" || v["reason"] != "Timeout" || v["code"] != 504 {
        return Err(format!("a 504 that is not a Timeout Status: {}", a.body));
    }
    if let Some(t) = names_topology(&a.body, topology) {
        return Err(format!(
            "an error names the cluster's topology ({t}): {}",
            a.body
        ));
    }
    Ok(())
}

fn create_configmap(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
) -> reqwest::RequestBuilder {
    let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name}, "data": {"a": "1"}});
    client
        .post(format!("{base}/api/v1/namespaces/default/configmaps"))
        .bearer_auth(token)
        .json(&cm)
}

/// Item 4 of the hardening issue, as a load balancer and a client see it: a cluster's leader
/// at `t`, cut off from its quorum just before the call (its followers killed or frozen),
/// asked through a real HTTP client. A write sent at once is refused or, if it was already
/// waiting to commit, answered 504 ([`judge_unavailable_or_unknown`]). Within `patience`
/// `/readyz` must answer 503; then a write (the create of a ConfigMap) and a read (a list,
/// which needs the leader's read index) are each refused at once (within 5 s, not after a
/// write timeout) as [`judge_unavailable`] requires. `topology`: what the caller knows of
/// the cluster (every node's addresses, "node N" for each id) — no answer may contain any
/// of it. Bounded: at most `patience` of probes (every 200 ms) and three requests of at most
/// 10 s each.
pub async fn lone_leader_refuses(
    t: &Target,
    token: &str,
    topology: &[String],
    patience: Duration,
) -> Result<LoneLeader, String> {
    let client = t
        .http_client(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let base = t.base_url();
    let started = Instant::now();
    let tag = std::process::id();
    let (early_name, name) = (format!("early-{tag}"), format!("refused-{tag}"));
    let early = answer(create_configmap(&client, &base, token, &early_name));
    // `/readyz` is unauthenticated: what a load balancer's health check asks.
    let readyz = async {
        loop {
            let a = answer(client.get(format!("{base}/readyz"))).await;
            if let Ok(a) = &a {
                if let Some(leak) = names_topology(&a.body, topology) {
                    return Err(format!(
                        "/readyz names the cluster's topology ({leak}): {}",
                        a.body
                    ));
                }
                if a.status == 503 {
                    return Ok(started.elapsed());
                }
            }
            if started.elapsed() > patience {
                return Err(format!(
                    "/readyz still answers {a:?} {patience:?} after the leader lost its quorum"
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let (early, not_ready_after) = tokio::join!(early, readyz);
    let not_ready_after = not_ready_after?;
    let early = early.map_err(|e| format!("write sent as the quorum went: {e}"))?;
    judge_unavailable_or_unknown(&early, topology)
        .map_err(|e| format!("write sent as the quorum went: {e}"))?;
    let write = answer(create_configmap(&client, &base, token, &name))
        .await
        .map_err(|e| format!("write: {e}"))?;
    let read = answer(
        client
            .get(format!("{base}/api/v1/namespaces/default/configmaps"))
            .bearer_auth(token),
    )
    .await
    .map_err(|e| format!("read: {e}"))?;
    for (what, a) in [("write", &write), ("read", &read)] {
        judge_unavailable(a, topology).map_err(|e| format!("{what}: {e}"))?;
        if a.took > Duration::from_secs(5) {
            return Err(format!("{what}: refused only after {:?}", a.took));
        }
    }
    let (mut refused, mut unknown) = (vec![name], Vec::new());
    if early.status == 503 {
        refused.push(early_name);
    } else {
        unknown.push(early_name);
    }
    Ok(LoneLeader {
        not_ready_after,
        refused,
        unknown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_framing() {
        assert!(!response_complete(b"HTTP/1.1 200 OK\r\n"));
        assert!(response_complete(
            b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\n\r\n{}"
        ));
        assert!(!response_complete(
            b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 3\r\n\r\n{}"
        ));
        assert_eq!(status_code(b"HTTP/1.1 408 Request Timeout\r\n"), Some(408));
        assert_eq!(status_code(b""), None);
    }

    fn unavailable() -> Answer {
        Answer {
            status: 503,
            retry_after: Some("1".into()),
            content_type: Some("application/json".into()),
            body: r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"this server has lost contact with most of the cluster","reason":"ServiceUnavailable","details":{"retryAfterSeconds":1},"code":503}"#.into(),
            took: Duration::from_millis(3),
        }
    }

    /// The checker bites on each way the lone leader answered before the fix, and on each
    /// part of the answer it requires.
    #[test]
    fn the_unavailable_judge_catches_each_wrong_answer() {
        let topology = vec!["10.0.0.2:7443".to_string(), "node 2".to_string()];
        assert_eq!(judge_unavailable(&unavailable(), &topology), Ok(()));
        // What it answered before: 500 InternalError listing the peers.
        let mut old = unavailable();
        old.status = 500;
        old.retry_after = None;
        old.body = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"has to forward request to: Some(2), Some(Node { peer_addr: \"127.0.0.2:7001\" })","reason":"InternalError","code":500}"#.into();
        assert!(judge_unavailable(&old, &topology).is_err());
        let mut a = unavailable();
        a.retry_after = None;
        assert!(
            judge_unavailable(&a, &topology)
                .unwrap_err()
                .contains("Retry-After")
        );
        let mut a = unavailable();
        a.retry_after = Some("soon".into());
        assert!(judge_unavailable(&a, &topology).is_err());
        let mut a = unavailable();
        a.content_type = Some("text/plain".into());
        a.body = "service unavailable".into();
        assert!(judge_unavailable(&a, &topology).is_err());
        let mut a = unavailable();
        a.body = a.body.replace("ServiceUnavailable", "InternalError");
        assert!(
            judge_unavailable(&a, &topology)
                .unwrap_err()
                .contains("reason")
        );
        for leak in [
            "no reply from node 2",
            "peer 10.0.0.2:7443 unreachable",
            "127.0.0.3:6444",
        ] {
            let mut a = unavailable();
            a.body = a.body.replace("most of the cluster", leak);
            assert!(
                judge_unavailable(&a, &topology)
                    .unwrap_err()
                    .contains("topology"),
                "{leak}"
            );
        }
    }
}
