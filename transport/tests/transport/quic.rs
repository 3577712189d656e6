//! QUIC-only cases: mutual TLS identity checks, reconnect after a restart, limits.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use kumo_transport::{ClusterCa, Error, NodeIdentity, QuicConfig, QuicTransport, Transport};

use crate::common::*;

const T: Duration = Duration::from_secs(5);
const DAY: Duration = Duration::from_secs(86_400);

fn bind(id: u64, identity: NodeIdentity) -> (QuicTransport, Arc<TestHandler>) {
    let handler = Arc::new(TestHandler::default());
    let t = QuicTransport::bind(id, loopback(), identity, handler.clone()).unwrap();
    (t, handler)
}

fn refused(r: &Result<Bytes, Error>) -> bool {
    matches!(r, Err(Error::Refused(_) | Error::Unreachable { .. }))
}

#[tokio::test]
async fn q01_foreign_ca_can_neither_reach_nor_be_reached() {
    let logs = Logs::default();
    let _guard = logs.install();
    let ca = ClusterCa::generate();
    let foreign = ClusterCa::generate();
    let (a, ha) = bind(1, ca.issue(1, &[], 1).unwrap());
    let (b, hb) = bind(2, ca.issue(2, &[], 1).unwrap());
    // A node of another cluster.
    let (x, hx) = bind(3, foreign.issue(3, &[], 1).unwrap());
    // An impostor: a foreign certificate, but it trusts our CA (so only the server's
    // check of client certificates stands in its way).
    let impostor = NodeIdentity {
        ca_cert_pem: ca.cert_pem().to_string(),
        ..foreign.issue(4, &[], 1).unwrap()
    };
    let (y, hy) = bind(4, impostor);
    a.set_peer(2, b.local_addr());
    a.set_peer(3, x.local_addr());
    x.set_peer(1, a.local_addr());
    y.set_peer(1, a.local_addr());
    a.request(2, ECHO, Bytes::new(), T).await.unwrap();

    let r = a.request(3, ECHO, Bytes::new(), T).await;
    eprintln!("a -> foreign: {r:?}");
    assert!(
        matches!(&r, Err(Error::Refused(m)) if m.contains("UnknownIssuer")),
        "{r:?}"
    );
    let r = x.request(1, ECHO, Bytes::new(), T).await;
    eprintln!("foreign -> a: {r:?}");
    assert!(refused(&r), "{r:?}");
    let r = y.request(1, ECHO, Bytes::new(), T).await;
    eprintln!("impostor -> a: {r:?}");
    assert!(
        matches!(&r, Err(Error::Refused(m)) if m.contains("rejected our certificate") && m.contains("UnknownIssuer")),
        "the dialler learns why it was refused: {r:?}"
    );
    assert_eq!(ha.total(), 0, "the server never called its handler");
    assert_eq!(hx.total() + hy.total(), 0);
    assert_eq!(hb.total(), 1);
    let text = logs.text();
    assert!(
        text.lines().any(|l| l.contains("WARN")
            && l.contains("refused incoming peer")
            && l.contains("node=1")
            && l.contains("UnknownIssuer")),
        "the server logs the refusal with its reason: {text}"
    );
    assert!(
        text.lines().any(|l| l.contains("WARN")
            && l.contains("refused peer")
            && l.contains("node=1")
            && l.contains("peer=Some(3)")),
        "the dialler logs the refusal: {text}"
    );
}

#[tokio::test]
async fn q02_expired_certificate_is_refused() {
    let logs = Logs::default();
    let _guard = logs.install();
    let ca = ClusterCa::generate();
    let now = SystemTime::now();
    let expired = ca
        .issue_with_validity(2, &[], now - 3 * DAY, now - DAY)
        .unwrap();
    let (a, ha) = bind(1, ca.issue(1, &[], 1).unwrap());
    let (b, hb) = bind(2, expired);
    a.set_peer(2, b.local_addr());
    b.set_peer(1, a.local_addr());
    let r = a.request(2, ECHO, Bytes::new(), T).await;
    eprintln!("-> expired: {r:?}");
    assert!(
        matches!(&r, Err(Error::Refused(m)) if m.contains("xpired")),
        "{r:?}"
    );
    let r = b.request(1, ECHO, Bytes::new(), T).await;
    eprintln!("expired ->: {r:?}");
    assert!(refused(&r), "{r:?}");
    assert_eq!(ha.total() + hb.total(), 0);
    assert!(
        logs.text().contains("certificate expired"),
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn q03_certificate_for_another_node_is_refused() {
    let logs = Logs::default();
    let _guard = logs.install();
    let ca = ClusterCa::generate();
    let (a, _) = bind(1, ca.issue(1, &[], 1).unwrap());
    // Node 7's process, which node 1 believes is node 3.
    let (seven, h7) = bind(7, ca.issue(7, &[], 1).unwrap());
    a.set_peer(3, seven.local_addr());
    let r = a.request(3, ECHO, Bytes::new(), T).await;
    eprintln!("dialled 3, met 7: {r:?}");
    assert!(
        matches!(&r, Err(Error::Refused(m)) if m.contains("node 7") && m.contains("node 3")),
        "{r:?}"
    );
    assert_eq!(h7.total(), 0);
    assert!(logs.text().contains("refused peer"), "{}", logs.text());
    // The same peer under its true id is fine.
    a.set_peer(7, seven.local_addr());
    a.request(7, ECHO, Bytes::new(), T).await.unwrap();
    // An identity cannot be bound under another id.
    let r = QuicTransport::bind(
        3,
        loopback(),
        ca.issue(7, &[], 1).unwrap(),
        Arc::new(TestHandler::default()),
    );
    assert!(matches!(r, Err(Error::Pki(_))));
}

#[tokio::test]
async fn q04_reconnect_after_restart_on_the_same_address() {
    let ca = ClusterCa::generate();
    let id2 = ca.issue(2, &[], 1).unwrap();
    let (a, _) = bind(1, ca.issue(1, &[], 1).unwrap());
    let (b, _) = bind(2, id2.clone());
    let addr = b.local_addr();
    a.set_peer(2, addr);
    a.request(2, ECHO, Bytes::new(), T).await.unwrap();

    b.shutdown().await;
    assert!(matches!(
        b.request(1, ECHO, Bytes::new(), T).await,
        Err(Error::Closed)
    ));
    drop(b);
    let short = Duration::from_millis(300);
    let r = a.request(2, ECHO, Bytes::new(), short).await;
    eprintln!("while down: {r:?}");
    assert!(
        matches!(r, Err(Error::Unreachable { .. } | Error::Timeout)),
        "{r:?}"
    );

    // Restart on the same address (the old socket may take a moment to be released).
    let deadline = Instant::now() + Duration::from_secs(5);
    let (b, hb) = loop {
        let handler = Arc::new(TestHandler::default());
        match QuicTransport::bind(2, addr, id2.clone(), handler.clone()) {
            Ok(t) => break (t, handler),
            Err(e) if Instant::now() < deadline => {
                eprintln!("rebind: {e:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot rebind {addr}: {e:?}"),
        }
    };
    let restarted = Instant::now();
    let deadline = restarted + Duration::from_secs(10);
    let mut attempts = 0;
    loop {
        attempts += 1;
        match a
            .request(2, ECHO, Bytes::from_static(b"again"), short)
            .await
        {
            Ok(r) => {
                assert_eq!(&r[..], b"again");
                break;
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "no reconnect within 10 s: {e:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    eprintln!(
        "reconnected {:?} after restart, {attempts} attempts",
        restarted.elapsed()
    );
    assert_eq!(hb.total(), 1);
    b.shutdown().await;
}

#[tokio::test]
async fn q05_backoff_answers_fast_while_a_peer_is_down() {
    let ca = ClusterCa::generate();
    let config = QuicConfig {
        connect_timeout: Duration::from_millis(200),
        backoff_min: Duration::from_millis(500),
        ..QuicConfig::default()
    };
    let a = QuicTransport::bind_with(
        1,
        loopback(),
        ca.issue(1, &[], 1).unwrap(),
        Arc::new(TestHandler::default()),
        config,
    )
    .unwrap();
    // Nothing listens at this address.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead = sock.local_addr().unwrap();
    drop(sock);
    a.set_peer(2, dead);
    let r = a.request(2, ECHO, Bytes::new(), T).await;
    assert!(
        matches!(&r, Err(Error::Unreachable { reason, .. }) if reason.contains("handshake")),
        "{r:?}"
    );
    let started = Instant::now();
    let r = a.request(2, ECHO, Bytes::new(), T).await;
    assert!(
        matches!(&r, Err(Error::Unreachable { reason, .. }) if reason.contains("next dial")),
        "{r:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "in back-off, no new dial"
    );
}

#[tokio::test]
async fn q06_in_flight_bound_makes_callers_wait() {
    let ca = ClusterCa::generate();
    let config = QuicConfig {
        max_in_flight_per_peer: 2,
        ..QuicConfig::default()
    };
    let a = QuicTransport::bind_with(
        1,
        loopback(),
        ca.issue(1, &[], 1).unwrap(),
        Arc::new(TestHandler::default()),
        config,
    )
    .unwrap();
    let (b, _) = bind(2, ca.issue(2, &[], 1).unwrap());
    a.set_peer(2, b.local_addr());
    a.request(2, ECHO, Bytes::new(), T).await.unwrap();
    let started = Instant::now();
    let replies =
        futures::future::join_all((0..6).map(|_| a.request(2, SLEEP, u64_body(100), T))).await;
    assert!(replies.iter().all(|r| r.is_ok()));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "6 requests, 2 at a time: {took:?}"
    );
}

#[tokio::test]
async fn q07_idle_connection_survives_with_keep_alive() {
    let ca = ClusterCa::generate();
    let config = || QuicConfig {
        keep_alive: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(500),
        ..QuicConfig::default()
    };
    let logs = Logs::default();
    let _guard = logs.install();
    let h = Arc::new(TestHandler::default());
    let a = QuicTransport::bind_with(
        1,
        loopback(),
        ca.issue(1, &[], 1).unwrap(),
        h.clone(),
        config(),
    )
    .unwrap();
    let b =
        QuicTransport::bind_with(2, loopback(), ca.issue(2, &[], 1).unwrap(), h, config()).unwrap();
    a.set_peer(2, b.local_addr());
    a.request(2, ECHO, Bytes::new(), T).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    a.request(2, ECHO, Bytes::new(), T).await.unwrap();
    let connects = logs.text().matches("accepted connection").count();
    assert_eq!(
        connects, 1,
        "one connection, kept alive across 3 idle timeouts"
    );
}

#[tokio::test]
async fn q08_identity_survives_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ClusterCa::generate();
    let (cert, key) = ca.to_pem();
    let ca = ClusterCa::from_pem(&cert, &key).unwrap();
    ca.issue(5, &["127.0.0.1".into()], 365)
        .unwrap()
        .save(&dir.path().join("pki"))
        .unwrap();
    let id = NodeIdentity::load(&dir.path().join("pki")).unwrap();
    assert_eq!(id.node, 5);
    let (a, _) = bind(1, ca.issue(1, &[], 1).unwrap());
    let (b, _) = bind(5, id);
    a.set_peer(5, b.local_addr());
    let r = a.request(5, WHO, Bytes::new(), T).await.unwrap();
    assert_eq!(body_u64(&r), 1);
}

#[tokio::test]
async fn q09_the_servers_frame_limit_is_reported() {
    let ca = ClusterCa::generate();
    let (a, _) = bind(1, ca.issue(1, &[], 1).unwrap());
    let small = QuicConfig {
        max_frame: 1 << 20,
        ..QuicConfig::default()
    };
    let hb = Arc::new(TestHandler::default());
    let b = QuicTransport::bind_with(
        2,
        loopback(),
        ca.issue(2, &[], 1).unwrap(),
        hb.clone(),
        small,
    )
    .unwrap();
    a.set_peer(2, b.local_addr());
    // Within the caller's 64 MiB limit, over the server's 1 MiB one.
    let r = a.request(2, ECHO, Bytes::from(vec![1u8; 3 << 20]), T).await;
    assert!(
        matches!(r, Err(Error::TooLarge { len, max }) if len == 3 << 20 && max == 1 << 20),
        "{r:?}"
    );
    assert_eq!(hb.total(), 0);
    a.request(2, ECHO, Bytes::from(vec![1u8; 1 << 20]), T)
        .await
        .unwrap();
}

#[tokio::test]
async fn q10_stream_limit_makes_open_wait() {
    let ca = ClusterCa::generate();
    let config = QuicConfig {
        max_incoming_streams: 2,
        ..QuicConfig::default()
    };
    let (a, _) = bind(1, ca.issue(1, &[], 1).unwrap());
    let b = QuicTransport::bind_with(
        2,
        loopback(),
        ca.issue(2, &[], 1).unwrap(),
        Arc::new(TestHandler::default()),
        config,
    )
    .unwrap();
    a.set_peer(2, b.local_addr());
    let (mut tx1, mut rx1) = a.open_stream(2, S_ECHO, T).await.unwrap();
    let (_tx2, _rx2) = a.open_stream(2, S_ECHO, T).await.unwrap();
    // Two streams are open: a third waits for one to close, until its open timeout.
    let started = Instant::now();
    let r = a.open_stream(2, S_ECHO, Duration::from_millis(300)).await;
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    // Requests ride their own connection: the streams' limit does not hold them up.
    let r = a
        .request(2, ECHO, Bytes::new(), Duration::from_millis(300))
        .await;
    assert!(r.is_ok(), "{r:?}");
    // Closing the first stream (both directions) frees a slot.
    let waiting = {
        let a = a.clone();
        tokio::spawn(async move { a.open_stream(2, S_WHO, T).await })
    };
    tx1.send(Bytes::from_static(b"bye")).await.unwrap();
    tx1.finish().await.unwrap();
    assert_eq!(&rx1.recv().await.unwrap().unwrap()[..], b"bye");
    assert!(rx1.recv().await.unwrap().is_none());
    let (_tx3, mut rx3) = waiting.await.unwrap().unwrap();
    assert_eq!(body_u64(&rx3.recv().await.unwrap().unwrap()), 1);
}

#[tokio::test]
async fn q11_lost_connection_breaks_streams() {
    let ca = ClusterCa::generate();
    let (a, _) = bind(1, ca.issue(1, &[], 1).unwrap());
    let (b, _) = bind(2, ca.issue(2, &[], 1).unwrap());
    a.set_peer(2, b.local_addr());
    let (mut tx, mut rx) = a.open_stream(2, S_ECHO, T).await.unwrap();
    tx.send(Bytes::from_static(b"hi")).await.unwrap();
    assert_eq!(&rx.recv().await.unwrap().unwrap()[..], b"hi");
    b.shutdown().await;
    let r = tokio::time::timeout(T, rx.recv()).await.unwrap();
    assert!(matches!(r, Err(Error::Closed)), "{r:?}");
    let r = tx.send(Bytes::from_static(b"x")).await;
    assert!(matches!(r, Err(Error::Closed)), "{r:?}");
    // A stream across an unusable peer fails to open.
    let r = a.open_stream(2, S_ECHO, Duration::from_millis(500)).await;
    assert!(
        matches!(r, Err(Error::Unreachable { .. } | Error::Timeout)),
        "{r:?}"
    );
}

#[tokio::test]
async fn q12_stalled_streams_do_not_hold_up_requests() {
    let ca = ClusterCa::generate();
    let (a, _) = bind(1, ca.issue(1, &[], 1).unwrap());
    let (b, _) = bind(2, ca.issue(2, &[], 1).unwrap());
    a.set_peer(2, b.local_addr());
    // Six streams whose reader never reads, each filled until its sender blocks: more
    // unread data than one connection's flow-control window.
    let mut held = Vec::new();
    for _ in 0..6 {
        // Once the streams' connection is saturated, even opening another stream waits.
        let Ok((mut tx, rx)) = a.open_stream(2, S_HOLD, Duration::from_secs(1)).await else {
            break;
        };
        let frame = Bytes::from(vec![7u8; 64 << 10]);
        while tokio::time::timeout(Duration::from_millis(200), tx.send(frame.clone()))
            .await
            .is_ok_and(|r| r.is_ok())
        {}
        held.push((tx, rx));
    }
    assert!(!held.is_empty(), "no stream could be opened");
    // Requests ride their own connection and still get through at once.
    let started = Instant::now();
    let r = a.request(2, ECHO, Bytes::from_static(b"ping"), T).await;
    assert_eq!(&r.unwrap()[..], b"ping");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(held);
}

/// A connection lost while the peer holds the request (it may have acted on it) is `Lost`,
/// never `Unreachable`: callers retry `Unreachable` as certainly not delivered.
#[tokio::test]
async fn q13_a_connection_lost_mid_request_is_lost_not_unreachable() {
    let ca = ClusterCa::generate();
    let (a, _) = bind(1, ca.issue(1, &[], 1).unwrap());
    let (b, hb) = bind(2, ca.issue(2, &[], 1).unwrap());
    a.set_peer(2, b.local_addr());
    a.request(2, ECHO, Bytes::new(), T).await.unwrap();
    let pending = tokio::spawn({
        let a = a.clone();
        async move { a.request(2, SLEEP, u64_body(10_000), T).await }
    });
    // The peer has the request, then goes away before answering.
    let deadline = Instant::now() + T;
    while hb.total() < 2 {
        assert!(Instant::now() < deadline, "the request never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    b.shutdown().await;
    let r = pending.await.unwrap();
    eprintln!("lost mid-request: {r:?}");
    assert!(matches!(r, Err(Error::Lost { node: 2, .. })), "{r:?}");
}
