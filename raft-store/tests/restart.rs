//! A store node across restarts: snapshots are built and restored, the log is purged behind
//! them, and a torn tail is cut off and reported without losing acknowledged entries.

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use kumo_raft_store::{Command, Outcome, Precondition, StoreConfig, StoreNode};

fn cfg() -> StoreConfig {
    let mut c = StoreConfig::single("127.0.0.1:0");
    c.snapshot_every = 200;
    c.keep_behind_snapshot = 10;
    c
}

async fn put(node: &StoreNode, key: &str) -> u64 {
    let cmd = Command::Put {
        key: key.into(),
        value: Bytes::from(key.to_string()),
        precondition: Precondition::Absent,
    };
    match node.propose(cmd).await.expect("propose") {
        Outcome::Done { revision, .. } => revision,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshot_restore_and_purge() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut revs = Vec::new();
    {
        let (node, _) = StoreNode::open(dir.path(), cfg()).await.expect("open");
        node.wait_leader(Duration::from_secs(5))
            .await
            .expect("leader");
        for i in 0..1000 {
            revs.push((format!("k/{i:04}"), put(&node, &format!("k/{i:04}")).await));
        }
        // Let the snapshot and purge triggered by the policy finish.
        for _ in 0..100 {
            if node
                .raft
                .metrics()
                .borrow()
                .snapshot
                .is_some_and(|s| s.index >= 800)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let m = node.raft.metrics().borrow().clone();
        assert!(m.snapshot.is_some(), "no snapshot was built");
        assert!(
            m.purged.is_some(),
            "the log was not purged behind the snapshot"
        );
        node.shutdown().await.expect("shutdown");
    }
    assert!(dir.path().join("state/snapshot.bin").exists());
    let (node, _) = StoreNode::open(dir.path(), cfg()).await.expect("reopen");
    node.wait_leader(Duration::from_secs(5))
        .await
        .expect("leader");
    node.read_barrier().await.expect("barrier");
    let page = node
        .shared()
        .read(|m| m.range("k/", None, None, None))
        .expect("range");
    assert_eq!(page.items.len(), 1000);
    for (kv, (key, rev)) in page.items.iter().zip(&revs) {
        assert_eq!((&kv.key, kv.mod_revision), (key, *rev));
    }
    // Revisions continue after the restored ones.
    assert_eq!(put(&node, "after").await, revs.last().expect("last").1 + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn torn_tail_is_cut_and_reported() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let (node, _) = StoreNode::open(dir.path(), StoreConfig::single("x"))
            .await
            .expect("open");
        node.wait_leader(Duration::from_secs(5))
            .await
            .expect("leader");
        for i in 0..50 {
            put(&node, &format!("t/{i}")).await;
        }
        node.shutdown().await.expect("shutdown");
    }
    // A crash in the middle of a write leaves half a frame at the end of the segment.
    let seg = std::fs::read_dir(dir.path().join("raft-log"))
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .max()
        .expect("segment");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&seg)
        .expect("open segment");
    f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 5, 6])
        .expect("write garbage");
    drop(f);
    let (node, report) = StoreNode::open(dir.path(), StoreConfig::single("x"))
        .await
        .expect("reopen");
    let (path, _, bytes) = report.truncated_tail.expect("the torn tail is reported");
    assert_eq!((path, bytes), (seg, 10));
    node.wait_leader(Duration::from_secs(5))
        .await
        .expect("leader");
    node.read_barrier().await.expect("barrier");
    assert_eq!(
        node.shared()
            .read(|m| m.range("t/", None, None, None))
            .expect("range")
            .items
            .len(),
        50
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn corruption_before_the_tail_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let mut c = StoreConfig::single("x");
        c.snapshot_every = 1_000_000;
        let (node, _) = StoreNode::open(dir.path(), c).await.expect("open");
        node.wait_leader(Duration::from_secs(5))
            .await
            .expect("leader");
        for i in 0..20 {
            put(&node, &format!("c/{i}")).await;
        }
        node.shutdown().await.expect("shutdown");
    }
    let log = dir.path().join("raft-log");
    let seg = std::fs::read_dir(&log)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .max()
        .expect("segment");
    // A second segment after the damaged one: the damage is no longer at the tail.
    let mut bytes = std::fs::read(&seg).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&seg, &bytes).expect("write");
    std::fs::write(log.join("segment-00000000000000000099.wal"), b"").expect("next segment");
    match StoreNode::open(dir.path(), StoreConfig::single("x")).await {
        Err(kumo_raft_store::Error::Corrupt(msg)) => {
            assert!(msg.contains("refusing to start"), "{msg}")
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a corrupt segment before the tail was accepted"),
    }
}
