//! The Raft log is bounded by bytes, not only by entries: a log of large entries is
//! snapshotted and purged by size, its cache in RAM stays under its bound, and entries
//! evicted from the cache (or never loaded, after a restart) are read back from disk.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use kumo_raft_store::{Command, Outcome, Precondition, StoreConfig, StoreNode};
use openraft::{EntryPayload, RaftLogReader};

const MIB: u64 = 1 << 20;

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

fn value(i: usize, len: usize) -> Bytes {
    let mut v = vec![(i % 251) as u8; len];
    v[..8].copy_from_slice(&(i as u64).to_le_bytes());
    Bytes::from(v)
}

async fn put(node: &StoreNode, key: &str, value: Bytes, precondition: Precondition) -> u64 {
    let cmd = Command::Put {
        key: key.into(),
        value,
        precondition,
    };
    match node.propose(cmd).await.expect("propose") {
        Outcome::Done { revision, .. } => revision,
        other => panic!("{other:?}"),
    }
}

/// 600 updates of one 900 kB value: the log on disk and its cache in RAM stay bounded by
/// the byte policy, not by the 50,000-entry one (which would keep all 540 MB).
#[tokio::test(flavor = "multi_thread")]
async fn big_updates_keep_the_log_bounded_on_disk_and_in_ram() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = StoreConfig::single("x");
    cfg.max_events = 16;
    cfg.log_cache_bytes = 8 * MIB;
    cfg.snapshot_log_bytes = 16 * MIB;
    cfg.keep_behind_bytes = 4 * MIB;
    let (node, _) = StoreNode::open(dir.path(), cfg.clone())
        .await
        .expect("open");
    node.wait_leader(Duration::from_secs(5))
        .await
        .expect("leader");
    let log_dir = dir.path().join("raft-log");
    let mut max_disk = 0;
    for i in 0..600 {
        let pre = if i == 0 {
            Precondition::Absent
        } else {
            Precondition::Exists
        };
        put(&node, "cm/big", value(i, 900_000), pre).await;
        let stats = node.log_stats();
        assert!(
            stats.cached_bytes <= stats.cache_limit,
            "cache over its bound after write {i}: {stats:?}"
        );
        let d = dir_bytes(&log_dir);
        max_disk = max_disk.max(d);
    }
    // Bound: snapshot threshold (16 MiB) + kept behind it (4 MiB) + one segment of purged
    // entries (16 MiB + one group) + what is written while a snapshot builds and registers
    // (up to ~40 writes, 36 MiB, here). Without the byte policy, the whole 540 MB stays.
    assert!(
        max_disk < 128 * MIB,
        "the log on disk reached {} MiB",
        max_disk / MIB
    );
    let m = node.raft.metrics().borrow().clone();
    assert!(
        m.snapshot.is_some_and(|s| s.index > 500),
        "{:?}",
        m.snapshot
    );
    let stats = node.log_stats();
    assert!(stats.entry_bytes < 64 * MIB, "{stats:?}");
    let snap = dir_bytes(&dir.path().join("state"));
    assert!(snap < 2 * MIB, "snapshot of {snap} bytes");
    node.read_barrier().await.expect("barrier");
    let page = node
        .shared()
        .read(|m| m.range("cm/", None, None, None))
        .expect("range");
    assert_eq!(page.items[0].value, value(599, 900_000));
    node.shutdown().await.expect("shutdown");
}

fn keep_everything() -> StoreConfig {
    let mut cfg = StoreConfig::single("x");
    cfg.log_cache_bytes = MIB;
    cfg.snapshot_every = 1_000_000;
    cfg.snapshot_log_bytes = 1 << 40;
    cfg.keep_behind_bytes = 1 << 40;
    cfg
}

/// The puts found in `entries`, by key.
fn puts(entries: &[openraft::Entry<kumo_raft_store::TypeConfig>]) -> Vec<(String, Bytes)> {
    entries
        .iter()
        .filter_map(|e| match &e.payload {
            EntryPayload::Normal(Command::Put { key, value, .. }) => {
                Some((key.clone(), value.clone()))
            }
            _ => None,
        })
        .collect()
}

/// A follower that lags needs entries long evicted from the cache: they are read back from
/// the segments, whole and in order; a restart replays the log without loading them all.
#[tokio::test(flavor = "multi_thread")]
async fn evicted_entries_are_read_back_from_disk_and_restart_keeps_only_the_cache() {
    let dir = tempfile::tempdir().expect("tmp");
    let n = 200;
    let expected: Vec<(String, Bytes)> = (0..n)
        .map(|i| (format!("k/{i:04}"), value(i, 100_000)))
        .collect();
    let check = |entries: &[openraft::Entry<kumo_raft_store::TypeConfig>]| {
        assert_eq!(puts(entries), expected);
        for w in entries.windows(2) {
            assert_eq!(w[0].log_id.index + 1, w[1].log_id.index);
        }
    };
    {
        let (node, _) = StoreNode::open(dir.path(), keep_everything())
            .await
            .expect("open");
        node.wait_leader(Duration::from_secs(5))
            .await
            .expect("leader");
        for (k, v) in &expected {
            put(&node, k, v.clone(), Precondition::Absent).await;
        }
        let stats = node.log_stats();
        assert!(stats.cached_bytes <= MIB, "{stats:?}");
        assert!(stats.entry_bytes > 19_000_000, "{stats:?}");
        let mut reader = node.log_reader();
        let all = reader.try_get_log_entries(..).await.expect("read");
        assert_eq!(all.len() as u64, stats.entries);
        check(&all);
        // One AppendEntries' worth is bounded in bytes (16 MiB), and never empty.
        let last = all.last().expect("last").log_id.index;
        let some = reader
            .limited_get_log_entries(all[0].log_id.index, last + 1)
            .await
            .expect("limited read");
        assert!(!some.is_empty() && some.len() < all.len(), "{}", some.len());
        let ids = |v: &[openraft::Entry<kumo_raft_store::TypeConfig>]| {
            v.iter().map(|e| e.log_id.index).collect::<Vec<_>>()
        };
        assert_eq!(ids(&some), ids(&all[..some.len()]));
        assert!(some.iter().zip(&all).all(|(a, b)| a == b));
        node.shutdown().await.expect("shutdown");
    }
    let (node, _) = StoreNode::open(dir.path(), keep_everything())
        .await
        .expect("reopen");
    let stats = node.log_stats();
    assert!(stats.cached_bytes <= MIB, "replay kept {stats:?}");
    assert!(stats.entry_bytes > 19_000_000, "{stats:?}");
    node.wait_leader(Duration::from_secs(5))
        .await
        .expect("leader");
    node.read_barrier().await.expect("barrier");
    let page = node
        .shared()
        .read(|m| m.range("k/", None, None, None))
        .expect("range");
    let got: Vec<(String, Bytes)> = page
        .items
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone()))
        .collect();
    assert_eq!(got, expected);
    let all = node
        .log_reader()
        .try_get_log_entries(..)
        .await
        .expect("read after restart");
    check(&all);
}
