//! One suite, run on the QUIC and the in-memory transport: the contract that Raft and the
//! fleet protocol rely on.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kumo_transport::{
    DEFAULT_MAX_FRAME, Error, Failure, Faults, StreamReceiver, StreamSender, Transport,
};

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
            #[tokio::test]
            async fn s01_echo_1000_frames_in_order() {
                super::s01_echo_1000_frames_in_order(&$harness).await
            }
            #[tokio::test]
            async fn s02_half_close() {
                super::s02_half_close(&$harness).await
            }
            #[tokio::test]
            async fn s03_stream_frame_limit() {
                super::s03_stream_frame_limit(&$harness).await
            }
            #[tokio::test]
            async fn s04_back_pressure() {
                super::s04_back_pressure(&$harness).await
            }
            #[tokio::test]
            async fn s05_server_drop_is_closed() {
                super::s05_server_drop_is_closed(&$harness).await
            }
            #[tokio::test]
            async fn s06_partition_breaks_stream() {
                super::s06_partition_breaks_stream(&$harness).await
            }
            #[tokio::test]
            async fn s07_fifty_concurrent_streams() {
                super::s07_fifty_concurrent_streams(&$harness).await
            }
            #[tokio::test]
            async fn s08_stream_from_is_the_opener() {
                super::s08_stream_from_is_the_opener(&$harness).await
            }
            #[tokio::test]
            async fn s09_stream_to_unknown_peer_is_unreachable() {
                super::s09_stream_to_unknown_peer_is_unreachable(&$harness).await
            }
            #[tokio::test]
            async fn s10_no_stream_service_is_remote() {
                super::s10_no_stream_service_is_remote(&$harness).await
            }
            #[tokio::test]
            async fn s11_stream_handler_panic_is_closed() {
                super::s11_stream_handler_panic_is_closed(&$harness).await
            }
            #[tokio::test]
            async fn s12_faults_on_open() {
                super::s12_faults_on_open(&$harness).await
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
        matches!(&r, Err(Error::Remote(Failure::Failed(m))) if m == "boom: x"),
        "{r:?}"
    );
    let r = nodes[0].transport.request(2, 999, Bytes::new(), T).await;
    assert!(
        matches!(&r, Err(Error::Remote(Failure::UnknownService(999)))),
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
        matches!(&r, Err(Error::Remote(Failure::Panicked(PANIC)))),
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

// ---- Long-lived streams ----

const MAX: usize = 1 << 20;

async fn open<Tr: Transport>(t: &Tr, to: u64, service: u16) -> (StreamSender, StreamReceiver) {
    t.open_stream(to, service, T).await.unwrap()
}

/// The next frame, within the suite's timeout.
async fn next(rx: &mut StreamReceiver) -> Result<Option<Bytes>, Error> {
    tokio::time::timeout(T, rx.recv())
        .await
        .expect("recv timed out")
}

fn numbered(i: u64) -> Bytes {
    // Frames of varied sizes (8 .. 8 + 1000 bytes), numbered in their first 8 bytes.
    let mut v = i.to_be_bytes().to_vec();
    v.resize(8 + (i as usize * 37) % 1000, i as u8);
    Bytes::from(v)
}

async fn s01_echo_1000_frames_in_order<H: Harness>(h: &H) {
    let (nodes, _) = start(h, 2).await;
    let (mut tx, mut rx) = open(&nodes[0].transport, 2, S_ECHO).await;
    let started = Instant::now();
    // Sending and reading at once: both directions are bounded.
    let sender = tokio::spawn(async move {
        for i in 0..1_000u64 {
            tx.send(numbered(i)).await.unwrap();
        }
        tx.finish().await.unwrap();
    });
    for i in 0..1_000u64 {
        let frame = next(&mut rx).await.unwrap().expect("a frame");
        assert_eq!(frame, numbered(i), "frame {i}");
    }
    assert!(matches!(next(&mut rx).await, Ok(None)), "the echo finishes");
    assert!(matches!(rx.recv().await, Ok(None)), "and stays finished");
    sender.await.unwrap();
    eprintln!("1,000 frames echoed in {:?}", started.elapsed());
    assert_eq!(
        nodes[1]
            .handler
            .streams
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

async fn s02_half_close<H: Harness>(h: &H) {
    let (nodes, _) = start(h, 2).await;
    let (mut tx, mut rx) = open(&nodes[0].transport, 2, S_SUM).await;
    for i in 1..=100u64 {
        tx.send(u64_body(i)).await.unwrap();
    }
    // Nothing comes back until the client's side is finished …
    assert!(
        tokio::time::timeout(Duration::from_millis(200), rx.recv())
            .await
            .is_err(),
        "the server answers only after the client finished"
    );
    tx.finish().await.unwrap();
    // … then the server, having drained, answers on its still open side and finishes.
    let answer = next(&mut rx).await.unwrap().expect("the answer");
    assert_eq!(body_u64(&answer[..8]), 100);
    assert_eq!(body_u64(&answer[8..]), 5050);
    assert!(matches!(next(&mut rx).await, Ok(None)));
}

async fn s03_stream_frame_limit<H: Harness>(h: &H) {
    let (nodes, _) = start(h, 2).await;
    let (mut tx, mut rx) = open(&nodes[0].transport, 2, S_ECHO).await;
    let at_limit = Bytes::from(vec![5u8; MAX]);
    tx.send(at_limit.clone()).await.unwrap();
    assert_eq!(next(&mut rx).await.unwrap().unwrap(), at_limit);
    let r = tx.send(Bytes::from(vec![5u8; MAX + 1])).await;
    assert!(
        matches!(r, Err(Error::TooLarge { len, max }) if len == MAX + 1 && max == MAX),
        "{r:?}"
    );
    // The refused frame was not sent and the stream goes on.
    tx.send(Bytes::from_static(b"after")).await.unwrap();
    assert_eq!(&next(&mut rx).await.unwrap().unwrap()[..], b"after");
    tx.send(Bytes::new()).await.unwrap();
    assert!(
        next(&mut rx).await.unwrap().unwrap().is_empty(),
        "an empty frame is a frame"
    );
    tx.finish().await.unwrap();
    assert!(matches!(next(&mut rx).await, Ok(None)));

    // The listener's side has the same limit.
    let (mut tx, mut rx) = open(&nodes[0].transport, 2, S_BIG).await;
    tx.send(u64_body(MAX as u64)).await.unwrap();
    assert_eq!(next(&mut rx).await.unwrap().unwrap().len(), MAX);
    tx.send(u64_body(MAX as u64 + 1)).await.unwrap();
    assert_eq!(&next(&mut rx).await.unwrap().unwrap()[..], b"too large");
    tx.finish().await.unwrap();
    assert!(matches!(next(&mut rx).await, Ok(None)));
}

async fn s04_back_pressure<H: Harness>(h: &H) {
    let (nodes, _) = start(h, 2).await;
    let (mut tx, mut rx) = open(&nodes[0].transport, 2, S_HOLD).await;
    let frame = Bytes::from(vec![1u8; 64 << 10]);
    let mut sent = 0u64;
    let mut pended = false;
    // At most 128 MiB: far past any buffer of either transport.
    for _ in 0..2_048 {
        match tokio::time::timeout(Duration::from_millis(300), tx.send(frame.clone())).await {
            Ok(r) => {
                r.unwrap();
                sent += 1;
            }
            Err(_) => {
                pended = true;
                break;
            }
        }
    }
    eprintln!("send pended after {sent} frames of 64 KiB");
    assert!(pended, "a receiver that does not read makes send wait");
    assert!(sent >= 1, "some frames are buffered");
    // Once the receiver reads, everything flows: the cancelled send may or may not have
    // delivered its frame.
    nodes[1].handler.release.notify_one();
    for _ in 0..10 {
        tokio::time::timeout(T, tx.send(frame.clone()))
            .await
            .expect("send resumes")
            .unwrap();
    }
    tx.finish().await.unwrap();
    let count = body_u64(&next(&mut rx).await.unwrap().unwrap());
    assert!(
        count == sent + 10 || count == sent + 11,
        "received {count}, sent {sent} + 10 (+1 cancelled)"
    );
    assert!(matches!(next(&mut rx).await, Ok(None)));
}

async fn s05_server_drop_is_closed<H: Harness>(h: &H) {
    let (nodes, _) = start(h, 2).await;
    let (mut tx, mut rx) = open(&nodes[0].transport, 2, S_DROP).await;
    tx.send(Bytes::from_static(b"one")).await.unwrap();
    // The listener dropped its sender without finishing: a reset, not a finish.
    let r = next(&mut rx).await;
    assert!(matches!(r, Err(Error::Closed)), "{r:?}");
    assert!(
        matches!(rx.recv().await, Err(Error::Closed)),
        "the error stays"
    );
    // It dropped its receiver too: sending fails once that news arrives.
    let deadline = Instant::now() + T;
    loop {
        match tx.send(Bytes::from_static(b"more")).await {
            Ok(()) => {
                assert!(Instant::now() < deadline, "send never failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => {
                assert!(matches!(e, Error::Closed), "{e:?}");
                break;
            }
        }
    }
    assert!(matches!(tx.finish().await, Err(Error::Closed)));
}

async fn s06_partition_breaks_stream<H: Harness>(h: &H) {
    let (nodes, faults) = start(h, 3).await;
    let a = &nodes[0].transport;
    let (mut tx1, mut rx1) = open(a, 2, S_ECHO).await;
    let (mut tx2, mut rx2) = open(a, 2, S_ECHO).await;
    let (mut tx3, mut rx3) = open(a, 3, S_ECHO).await;
    for (tx, rx) in [
        (&mut tx1, &mut rx1),
        (&mut tx2, &mut rx2),
        (&mut tx3, &mut rx3),
    ] {
        tx.send(Bytes::from_static(b"hi")).await.unwrap();
        assert_eq!(&next(rx).await.unwrap().unwrap()[..], b"hi");
    }
    // A recv waiting when the partition starts is woken with an error.
    let waiting = tokio::spawn(async move { rx1.recv().await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    faults.partition(&[1], &[2]);
    let r = tokio::time::timeout(T, waiting)
        .await
        .expect("recv woken")
        .unwrap();
    assert!(
        matches!(r, Err(Error::Unreachable { node: 2, .. })),
        "{r:?}"
    );
    // The next send on another stream across the partition fails.
    let r = tx2.send(Bytes::from_static(b"x")).await;
    assert!(
        matches!(r, Err(Error::Unreachable { node: 2, .. })),
        "{r:?}"
    );
    assert!(next(&mut rx2).await.is_err());
    // Opening across it fails; a stream to a node on the same side lives on.
    let r = a.open_stream(2, S_ECHO, T).await;
    assert!(
        matches!(r, Err(Error::Unreachable { node: 2, .. })),
        "{r:?}"
    );
    tx3.send(Bytes::from_static(b"still")).await.unwrap();
    assert_eq!(&next(&mut rx3).await.unwrap().unwrap()[..], b"still");
    // Healing does not mend a broken stream, but new ones open.
    faults.heal();
    assert!(tx2.send(Bytes::from_static(b"x")).await.is_err());
    let (mut tx, mut rx) = open(a, 2, S_ECHO).await;
    tx.send(Bytes::from_static(b"again")).await.unwrap();
    assert_eq!(&next(&mut rx).await.unwrap().unwrap()[..], b"again");
    // Isolation cuts too.
    faults.isolate(2);
    assert!(tx.send(Bytes::from_static(b"x")).await.is_err() || next(&mut rx).await.is_err());
    faults.heal();
}

async fn s07_fifty_concurrent_streams<H: Harness>(h: &H) {
    let (nodes, _) = start(h, 2).await;
    let a = &nodes[0].transport;
    let started = Instant::now();
    let results = futures::future::join_all((0..50u64).map(|s| {
        let a = a.clone();
        async move {
            let (mut tx, mut rx) = a.open_stream(2, S_ECHO, T).await?;
            for i in 0..20u64 {
                tx.send(u64_body(s * 1_000 + i)).await?;
            }
            tx.finish().await?;
            let mut got = Vec::new();
            while let Some(f) = rx.recv().await? {
                got.push(body_u64(&f));
            }
            Ok::<_, Error>(got)
        }
    }))
    .await;
    for (s, r) in results.into_iter().enumerate() {
        let want: Vec<u64> = (0..20).map(|i| s as u64 * 1_000 + i).collect();
        assert_eq!(r.unwrap(), want, "stream {s}");
    }
    assert_eq!(
        nodes[1]
            .handler
            .streams
            .load(std::sync::atomic::Ordering::SeqCst),
        50
    );
    eprintln!("50 concurrent streams in {:?}", started.elapsed());
}

async fn s08_stream_from_is_the_opener<H: Harness>(h: &H) {
    let (nodes, _) = start(h, 3).await;
    for n in &nodes {
        let (tx, mut rx) = open(&n.transport, 2, S_WHO).await;
        assert_eq!(body_u64(&next(&mut rx).await.unwrap().unwrap()), n.id);
        assert_eq!((tx.peer(), rx.peer(), rx.service()), (2, 2, S_WHO));
        assert!(matches!(next(&mut rx).await, Ok(None)));
    }
}

async fn s09_stream_to_unknown_peer_is_unreachable<H: Harness>(h: &H) {
    let (nodes, _) = start(h, 2).await;
    let a = &nodes[0].transport;
    let r = a.open_stream(99, S_ECHO, T).await;
    assert!(
        matches!(r, Err(Error::Unreachable { node: 99, .. })),
        "{r:?}"
    );
    open(a, 2, S_WHO).await;
    a.remove_peer(2);
    let r = a.open_stream(2, S_ECHO, T).await;
    assert!(
        matches!(r, Err(Error::Unreachable { node: 2, .. })),
        "{r:?}"
    );
}

async fn s10_no_stream_service_is_remote<H: Harness>(h: &H) {
    let nodes = h.start_with(&[1, 2], Faults::new(), MAX, &[2]).await;
    let a = &nodes[0].transport;
    // A handler without stream support: the open succeeds, the first recv says why not.
    let (mut tx, mut rx) = open(a, 2, S_ECHO).await;
    let _ = tx.send(Bytes::from_static(b"anyone?")).await;
    let r = next(&mut rx).await;
    assert!(
        matches!(&r, Err(Error::Remote(Failure::UnknownService(20)))),
        "{r:?}"
    );
    // Requests to it still work.
    a.request(2, ECHO, Bytes::new(), T).await.unwrap();
    // A stream handler that ignores a service drops its halves: `Closed`.
    let (_tx, mut rx) = open(&nodes[1].transport, 1, 999).await;
    let r = next(&mut rx).await;
    assert!(matches!(r, Err(Error::Closed)), "{r:?}");
}

async fn s11_stream_handler_panic_is_closed<H: Harness>(h: &H) {
    let (nodes, _) = start(h, 2).await;
    let a = &nodes[0].transport;
    let (_tx, mut rx) = open(a, 2, S_PANIC).await;
    let r = next(&mut rx).await;
    assert!(matches!(r, Err(Error::Closed)), "{r:?}");
    let (mut tx, mut rx) = open(a, 2, S_ECHO).await;
    tx.send(Bytes::from_static(b"fine")).await.unwrap();
    assert_eq!(&next(&mut rx).await.unwrap().unwrap()[..], b"fine");
}

async fn s12_faults_on_open<H: Harness>(h: &H) {
    let (nodes, faults) = start(h, 2).await;
    let a = &nodes[0].transport;
    open(a, 2, S_WHO).await;
    // A delay delays the opening and counts against its timeout …
    let d = Duration::from_millis(150);
    faults.delay(d..=d);
    let started = Instant::now();
    let (mut tx, mut rx) = open(a, 2, S_ECHO).await;
    assert!(started.elapsed() >= d);
    let r = a.open_stream(2, S_ECHO, Duration::from_millis(50)).await;
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    // … but not the frames of an open stream, which are never dropped either.
    faults.drop_rate(1.0);
    let started = Instant::now();
    tx.send(Bytes::from_static(b"through")).await.unwrap();
    assert_eq!(&next(&mut rx).await.unwrap().unwrap()[..], b"through");
    assert!(started.elapsed() < d);
    // A dropped opening times out.
    faults.delay(Duration::ZERO..Duration::ZERO);
    let r = a.open_stream(2, S_ECHO, Duration::from_millis(100)).await;
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    faults.clear();
    open(a, 2, S_WHO).await;
}
