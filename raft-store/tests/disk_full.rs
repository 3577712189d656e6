//! A full disk is waited out, not fatal (issue 6, item 7): while the data directory's
//! filesystem is full, writes are refused with `DiskFull` and reads are served; once space
//! is freed the write that was waiting goes through and new writes are served, without
//! reopening the node; every acknowledged write survives a restart.
//!
//! Needs a small filesystem to fill: a tmpfs mounted for the test (root). Where `mount` is
//! not permitted the test says so and skips.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kumo_raft_store::{Command, Error, Outcome, Precondition, StoreConfig, StoreNode};

/// A tmpfs mounted on a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` when this process may not mount (not root, no CAP_SYS_ADMIN).
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Proc::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        if !out.status.success() {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs to fill (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Proc::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Proc::new("umount").arg("-l").arg(self.dir.path()).status();
        }
    }
}

/// Fills the filesystem of `dir` with one file until not even a byte fits; returns it.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("create filler");
    for chunk in [1 << 20, 64 << 10, 4 << 10, 1] {
        let buf = vec![0xa5u8; chunk];
        loop {
            match f.write_all(&buf) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling: {e}"),
            }
        }
    }
    path
}

fn put_cmd(key: &str, len: usize) -> Command {
    Command::Put {
        key: key.into(),
        value: Bytes::from(vec![b'v'; len]),
        precondition: Precondition::Absent,
    }
}

fn done(r: kumo_raft_store::Result<Outcome>) -> u64 {
    match r.expect("write") {
        Outcome::Done { revision, .. } => revision,
        other => panic!("{other:?}"),
    }
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_writes_serves_reads_and_recovers_without_a_restart() {
    let Some(fs) = Tmpfs::mount("8m") else {
        return;
    };
    let data = fs.path().join("data");
    let cfg = StoreConfig::single("127.0.0.1:0");
    let mut acked: Vec<String> = Vec::new();
    {
        let (node, _) = StoreNode::open(&data, cfg.clone()).await.expect("open");
        node.wait_leader(Duration::from_secs(10))
            .await
            .expect("leader");
        for i in 0..20 {
            let key = format!("before/{i}");
            done(node.propose(put_cmd(&key, 1000)).await);
            acked.push(key);
        }

        let filler = fill(fs.path());
        // The next write needs new pages: its group hits ENOSPC and waits in the writer.
        let queued = tokio::spawn({
            let node = node.clone();
            async move { node.propose(put_cmd("queued", 64 << 10)).await }
        });
        until("the node notices the full disk", || node.disk_full()).await;

        // Writes are refused at once, with the disk-full error.
        let t = Instant::now();
        match node.propose(put_cmd("refused", 10)).await {
            Err(e @ Error::DiskFull) => {
                assert_eq!(
                    e.to_string(),
                    "the node's disk is full: writes are refused until space is freed"
                );
            }
            other => panic!("expected DiskFull, got {other:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(1));
        // Reads are served: read barrier, then the local state machine.
        for _ in 0..3 {
            tokio::time::timeout(Duration::from_secs(5), node.read_barrier())
                .await
                .expect("read barrier in time")
                .expect("read barrier while the disk is full");
            let n = node
                .shared()
                .read(|m| acked.iter().filter(|k| m.get(k).is_some()).count());
            assert_eq!(n, acked.len());
            assert!(node.shared().read(|m| m.get("refused").is_none()));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert!(!queued.is_finished(), "the queued write waits for space");
        assert!(node.disk_full());

        // Space is back: the queued write goes through and new writes are served, without
        // reopening the node.
        std::fs::remove_file(&filler).expect("free space");
        let r = tokio::time::timeout(Duration::from_secs(10), queued)
            .await
            .expect("queued write completes once space is back")
            .expect("join");
        done(r);
        acked.push("queued".into());
        until("the flag clears", || !node.disk_full()).await;
        for i in 0..5 {
            let key = format!("after/{i}");
            done(node.propose(put_cmd(&key, 1000)).await);
            acked.push(key);
        }
        node.read_barrier().await.expect("read barrier");
        node.shutdown().await.expect("shutdown");
    }

    // Every acknowledged write survives a restart, and the log has no torn tail: the
    // failed attempts were cut back.
    let (node, report) = StoreNode::open(&data, cfg).await.expect("reopen");
    assert_eq!(report.truncated_tail, None, "{report:?}");
    node.wait_leader(Duration::from_secs(10))
        .await
        .expect("leader");
    node.read_barrier().await.expect("read barrier");
    let missing: Vec<&String> = node
        .shared()
        .read(|m| acked.iter().filter(|k| m.get(k).is_none()).collect());
    assert!(missing.is_empty(), "lost after restart: {missing:?}");
    node.shutdown().await.expect("shutdown");
    drop(node);
}
