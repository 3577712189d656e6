//! Memory follows the live data, not the bytes written: 600 updates of one 900 kB value
//! (540 MB through the log) leave the process's resident memory within a small bound of
//! where it started. Alone in its test binary, so no other test's memory is counted.

use std::time::Duration;

use bytes::Bytes;
use kumo_raft_store::{Command, Outcome, Precondition, StoreConfig, StoreNode};

const MIB: u64 = 1 << 20;

fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

#[tokio::test(flavor = "multi_thread")]
async fn six_hundred_big_updates_leave_memory_bounded() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = StoreConfig::single("x");
    // The event window is bounded on its own (count and `MAX_EVENT_BYTES`); keep it small
    // here so the log is what is measured.
    cfg.max_events = 16;
    let (node, _) = StoreNode::open(dir.path(), cfg).await.expect("open");
    node.wait_leader(Duration::from_secs(5))
        .await
        .expect("leader");
    let start = rss();
    for i in 0..600u64 {
        let mut v = vec![(i % 251) as u8; 900_000];
        v[..8].copy_from_slice(&i.to_le_bytes());
        let cmd = Command::Put {
            key: "cm/big".into(),
            value: Bytes::from(v),
            precondition: if i == 0 {
                Precondition::Absent
            } else {
                Precondition::Exists
            },
        };
        assert!(matches!(
            node.propose(cmd).await.expect("propose"),
            Outcome::Done { .. }
        ));
    }
    let end = rss();
    let stats = node.log_stats();
    eprintln!(
        "rss start {} MiB, end {} MiB; {stats:?}",
        start / MIB,
        end / MIB
    );
    assert!(stats.cached_bytes <= stats.cache_limit, "{stats:?}");
    // Log cache (64 MiB) + the log between snapshots is on disk, not in RAM + allocator
    // slack. Before the byte bounds, all 540 MB of entries stayed in RAM.
    assert!(
        end < start + 192 * MIB,
        "rss grew from {} MiB to {} MiB",
        start / MIB,
        end / MIB
    );
    node.shutdown().await.expect("shutdown");
}
