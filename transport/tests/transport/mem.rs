//! In-memory-only cases: a member that leaves breaks its streams.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kumo_transport::{Error, MemNetwork, Transport};

use crate::common::*;

const T: Duration = Duration::from_secs(5);

#[tokio::test]
async fn m01_leaving_or_shutting_down_breaks_streams() {
    let net = MemNetwork::new();
    let a = net.join(1, Arc::new(TestHandler::default()));
    let b = net.join(2, Arc::new(TestHandler::default()));
    a.set_peer(2, MemNetwork::addr_of(2));
    b.set_peer(1, MemNetwork::addr_of(1));

    let (mut tx, mut rx) = a.open_stream(2, S_ECHO, T).await.unwrap();
    tx.send(Bytes::from_static(b"hi")).await.unwrap();
    assert_eq!(&rx.recv().await.unwrap().unwrap()[..], b"hi");
    net.leave(2);
    let r = tokio::time::timeout(T, rx.recv()).await.unwrap();
    assert!(matches!(r, Err(Error::Closed)), "{r:?}");
    assert!(matches!(tx.send(Bytes::new()).await, Err(Error::Closed)));
    let r = a.open_stream(2, S_ECHO, T).await;
    assert!(
        matches!(r, Err(Error::Unreachable { node: 2, .. })),
        "{r:?}"
    );

    // The opener shutting down breaks its streams too.
    let c = net.join(3, Arc::new(TestHandler::default()));
    a.set_peer(3, MemNetwork::addr_of(3));
    let (_tx, mut rx) = a.open_stream(3, S_ECHO, T).await.unwrap();
    a.shutdown();
    let r = tokio::time::timeout(T, rx.recv()).await.unwrap();
    assert!(matches!(r, Err(Error::Closed)), "{r:?}");
    assert!(matches!(
        a.open_stream(3, S_ECHO, T).await,
        Err(Error::Closed)
    ));
    drop(c);
}
