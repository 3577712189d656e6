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
}

/// How to reach the server: its address and the CA that signed its certificate.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    connector: TlsConnector,
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
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            addr,
            connector: TlsConnector::from(Arc::new(cfg)),
        })
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
}
