//! One suite, run on the QUIC and the in-memory transport: the contract that Raft and the
//! fleet protocol rely on.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kumo_transport::{DEFAULT_MAX_FRAME, Error, Faults, Transport};

use crate::common::*;

const T: Duration = Duration::from_secs(5);

macro_rules! suite {
    ($name:ident, $harness:expr) => {
        mod $name {
            #[tokio::test]
            async fn c01_round_trip() {
                super::c01_round_trip(&$harness).await
            }
            #[tokio::test]
            async fn c02_handler_error_is_remote() {
                super::c02_handler_error_is_remote(&$harness).await
            }
            #[tokio::test]
            async fn c03_unknown_peer_is_unreachable() {
                super::c03_unknown_peer_is_unreachable(&$harness).await
            }
            #[tokio::test]
            async fn c04_frame_limit() {
                super::c04_frame_limit(&$harness).await
            }
            #[tokio::test]
            async fn c05_concurrent_requests() {
                super::c05_concurrent_requests(&$harness).await
            }
            #[tokio::test]
            async fn c06_partition_then_heal() {
                super::c06_partition_then_heal(&$harness).await
            }
            #[tokio::test]
            async fn c07_delay_respected() {
                super::c07_delay_respected(&$harness).await
            }
            #[tokio::test]
            async fn c08_timeout_honoured() {
                super::c08_timeout_honoured(&$harness).await
            }
            #[tokio::test]
            async fn c09_from_is_the_caller() {
                super::c09_from_is_the_caller(&$harness).await
            }
            #[tokio::test]
            async fn c10_drops_end_in_timeout() {
                super::c10_drops_end_in_timeout(&$harness).await
            }
            #[tokio::test]
            async fn c11_duplicates_reach_the_handler_twice() {
                super::c11_duplicates_reach_the_handler_twice(&$harness).await
            }
            #[tokio::test]
            async fn c12_isolate() {
                super::c12_isolate(&$harness).await
            }
            #[tokio::test]
            async fn c13_handler_panic_is_remote() {
                super::c13_handler_panic_is_remote(&$harness).await
            }
            #[tokio::test]
            async fn c14_default_limit_body() {
                super::c14_default_limit_body(&$harness).await
            }
        }
    };
}

suite!(mem, crate::common::Mem);
suite!(quic, crate::common::Quic);

async fn start<H: Harness>(h: &H, n: u64) -> (Vec<Node<H::T>>, Faults) {
    let faults = Faults::with_seed(42);
    let ids: Vec<u64> = (1..=n).collect();
    (h.start(&ids, faults.clone(), 1 << 20).await, faults)
}

fn cut(r: &Result<Bytes, Error>) -> bool {
    matches!(r, Err(Error::Unreachable { .. } | Error::Timeout))
}

async fn c01_round_trip<H: Harness>(h: &H) {
    let (nodes, _) = start(h, 2).await;
    let (a, b) = (&nodes[0].transport, &nodes[1].transport);
    let r = a
        .request(2, ECHO, Bytes::from_static(b"hello"), T)
        .await
        .unwrap();
    assert_eq!(&r[..], b"hello");
    let r = b
        .request(1, ECHO, Bytes::from_static(b"back"), T)
        .await
        .unwrap();
    assert_eq!(&r[..], b"back");
    let r = a.request(1, ECHO, Bytes::new(), T).await.unwrap();
    assert!(r.is_empty(), "a request to oneself and an empty body work");
    // The connection is reused.
    for i in 0..20u64 {
        let r = a.request(2, ECHO, u64_body(i), T).await.unwrap();
        assert_eq!(body_u64(&r), i);
    }
}

async fn c02_handler_error_is_remote<H: Harness>(h: &H) {
    let (nodes, _) = start(h, 2).await;
    let r = nodes[0]
        .transport
        .request(2, FAIL, Bytes::from_static(b"x"), T)
        .await;
    assert!(
        matches!(&r, Err(Error::Remote(m)) if m == "boom: x"),
        "{r:?}"
    );
    let r = nodes[0].transport.request(2, 999, Bytes::new(), T).await;
    assert!(
        matches!(&r, Err(Error::Remote(m)) if m.contains("unknown service")),
        "{r:?}"
    );
    // The connection survives a handler error.
    assert!(
        nodes[0]
            .transport
            .request(2, ECHO, Bytes::new(), T)
            .await
            .is_ok()
    );
}

async fn c03_unknown_peer_is_unreachable<H: Harness>(h: &H) {
    let (nodes, _) = start(h, 2).await;
    let a = &nodes[0].transport;
    let r = a.request(99, ECHO, Bytes::new(), T).await;
    assert!(
        matches!(r, Err(Error::Unreachable { node: 99, .. })),
        "{r:?}"
    );
    a.request(2, ECHO, Bytes::new(), T).await.unwrap();
    a.remove_peer(2);
    let r = a.request(2, ECHO, Bytes::new(), T).await;
    assert!(
        matches!(r, Err(Error::Unreachable { node: 2, .. })),
        "{r:?}"
    );
}

async fn c04_frame_limit<H: Harness>(h: &H) {
    let (nodes, _) = start(h, 2).await;
    let a = &nodes[0].transport;
    let max = 1 << 20;
    let body = Bytes::from(vec![3u8; max]);
    let r = a.request(2, ECHO, body.clone(), T).await.unwrap();
    assert_eq!(r, body, "a body at the limit goes through");
    let r = a.request(2, ECHO, Bytes::from(vec![3u8; max + 1]), T).await;
    assert!(
        matches!(r, Err(Error::TooLarge { len, max: m }) if len == max + 1 && m == max),
        "{r:?}"
    );
    let r = a.request(2, BIG, u64_body(max as u64 + 1), T).await;
    assert!(
        matches!(r, Err(Error::TooLarge { len, .. }) if len == max + 1),
        "a response over the limit: {r:?}"
    );
    assert_eq!(
        nodes[1].handler.total(),
        2,
        "the oversized request never reached the handler"
    );
    assert!(a.request(2, ECHO, Bytes::new(), T).await.is_ok());
}

async fn c05_concurrent_requests<H: Harness>(h: &H) {
    let (nodes, _) = start(h, 2).await;
    let a = &nodes[0].transport;
    let started = Instant::now();
    let replies = futures::future::join_all((0..200u64).map(|i| {
        let a = a.clone();
        async move { a.request(2, ECHO, u64_body(i), T).await }
    }))
    .await;
    for (i, r) in replies.into_iter().enumerate() {
        assert_eq!(body_u64(&r.unwrap()), i as u64);
    }
    assert_eq!(nodes[1].handler.total(), 200);
    eprintln!("200 concurrent requests in {:?}", started.elapsed());
}

async fn c06_partition_then_heal<H: Harness>(h: &H) {
    let (nodes, faults) = start(h, 3).await;
    let (a, b, c) = (
        &nodes[0].transport,
        &nodes[1].transport,
        &nodes[2].transport,
    );
    a.request(2, ECHO, Bytes::new(), T).await.unwrap();
    faults.partition(&[1], &[2, 3]);
    let short = Duration::from_millis(300);
    let before = nodes[1].handler.total();
    assert!(cut(&a.request(2, ECHO, Bytes::new(), short).await));
    assert!(cut(&b.request(1, ECHO, Bytes::new(), short).await));
    assert!(cut(&c.request(1, ECHO, Bytes::new(), short).await));
    assert_eq!(
        nodes[1].handler.total(),
        before,
        "nothing crossed the partition"
    );
    b.request(3, ECHO, Bytes::new(), T).await.unwrap();
    faults.heal();
    a.request(2, ECHO, Bytes::new(), T).await.unwrap();
    c.request(1, ECHO, Bytes::new(), T).await.unwrap();
}

async fn c07_delay_respected<H: Harness>(h: &H) {
    let (nodes, faults) = start(h, 2).await;
    let a = &nodes[0].transport;
    a.request(2, ECHO, Bytes::new(), T).await.unwrap();
    let d = Duration::from_millis(150);
    faults.delay(d..=d);
    let started = Instant::now();
    a.request(2, ECHO, Bytes::new(), T).await.unwrap();
    assert!(started.elapsed() >= d, "{:?}", started.elapsed());
    let r = a
        .request(2, ECHO, Bytes::new(), Duration::from_millis(50))
        .await;
    assert!(
        matches!(r, Err(Error::Timeout)),
        "the delay counts against the timeout: {r:?}"
    );
    faults.delay(Duration::ZERO..Duration::ZERO);
    let started = Instant::now();
    a.request(2, ECHO, Bytes::new(), T).await.unwrap();
    assert!(started.elapsed() < d);
}

async fn c08_timeout_honoured<H: Harness>(h: &H) {
    let (nodes, _) = start(h, 2).await;
    let a = &nodes[0].transport;
    let started = Instant::now();
    let r = a
        .request(2, SLEEP, u64_body(3_000), Duration::from_millis(200))
        .await;
    let took = started.elapsed();
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(1_000),
        "{took:?}"
    );
    // The transport is still usable afterwards.
    a.request(2, ECHO, Bytes::new(), T).await.unwrap();
}

async fn c09_from_is_the_caller<H: Harness>(h: &H) {
    let (nodes, _) = start(h, 3).await;
    for n in &nodes {
        let r = n.transport.request(2, WHO, Bytes::new(), T).await.unwrap();
        assert_eq!(body_u64(&r), n.id);
        assert_eq!(n.transport.id(), n.id);
    }
}

async fn c10_drops_end_in_timeout<H: Harness>(h: &H) {
    let (nodes, faults) = start(h, 2).await;
    let a = &nodes[0].transport;
    a.request(2, ECHO, Bytes::new(), T).await.unwrap();
    faults.drop_rate(1.0);
    for _ in 0..4 {
        let started = Instant::now();
        let r = a
            .request(2, ECHO, Bytes::new(), Duration::from_millis(100))
            .await;
        assert!(cut(&r), "{r:?}");
        assert!(
            started.elapsed() < Duration::from_millis(600),
            "no hang past the timeout"
        );
    }
    faults.drop_rate(0.5);
    let mut ok = 0;
    for _ in 0..20 {
        ok += a
            .request(2, ECHO, Bytes::new(), Duration::from_millis(100))
            .await
            .is_ok() as u32;
    }
    assert!((2..19).contains(&ok), "{ok} of 20 got through at p = 0.5");
    faults.clear();
    a.request(2, ECHO, Bytes::new(), T).await.unwrap();
}

async fn c11_duplicates_reach_the_handler_twice<H: Harness>(h: &H) {
    let (nodes, faults) = start(h, 2).await;
    let a = &nodes[0].transport;
    faults.duplicate_rate(1.0);
    let r = a.request(2, COUNT, Bytes::new(), T).await.unwrap();
    assert!([1, 2].contains(&body_u64(&r)));
    let deadline = Instant::now() + Duration::from_secs(5);
    while nodes[1]
        .handler
        .counted
        .load(std::sync::atomic::Ordering::SeqCst)
        < 2
    {
        assert!(Instant::now() < deadline, "the duplicate never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    faults.clear();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = a.request(2, COUNT, Bytes::new(), T).await.unwrap();
    assert_eq!(body_u64(&r), 3);
}

async fn c12_isolate<H: Harness>(h: &H) {
    let (nodes, faults) = start(h, 3).await;
    faults.isolate(2);
    let short = Duration::from_millis(300);
    assert!(cut(&nodes[0]
        .transport
        .request(2, ECHO, Bytes::new(), short)
        .await));
    assert!(cut(&nodes[1]
        .transport
        .request(3, ECHO, Bytes::new(), short)
        .await));
    nodes[0]
        .transport
        .request(3, ECHO, Bytes::new(), T)
        .await
        .unwrap();
    nodes[1]
        .transport
        .request(2, ECHO, Bytes::new(), T)
        .await
        .unwrap();
    faults.heal();
    nodes[0]
        .transport
        .request(2, ECHO, Bytes::new(), T)
        .await
        .unwrap();
}

async fn c13_handler_panic_is_remote<H: Harness>(h: &H) {
    let (nodes, _) = start(h, 2).await;
    let r = nodes[0].transport.request(2, PANIC, Bytes::new(), T).await;
    assert!(
        matches!(&r, Err(Error::Remote(m)) if m.contains("panicked")),
        "{r:?}"
    );
    nodes[0]
        .transport
        .request(2, ECHO, Bytes::new(), T)
        .await
        .unwrap();
}

async fn c14_default_limit_body<H: Harness>(h: &H) {
    // With the default 64 MiB limit, an 8 MiB body (a snapshot chunk) goes through.
    let faults = Faults::new();
    let nodes = h.start(&[1, 2], faults, DEFAULT_MAX_FRAME).await;
    let body = Bytes::from(vec![9u8; 8 << 20]);
    let started = Instant::now();
    let r = nodes[0]
        .transport
        .request(2, ECHO, body.clone(), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(r, body);
    eprintln!("8 MiB round trip in {:?}", started.elapsed());
    let r = nodes[0]
        .transport
        .request(2, ECHO, Bytes::from(vec![0u8; DEFAULT_MAX_FRAME + 1]), T)
        .await;
    assert!(matches!(r, Err(Error::TooLarge { .. })), "{r:?}");
}
