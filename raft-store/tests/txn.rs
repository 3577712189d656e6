//! All-or-nothing transactions on a real store node, and the log format across the change
//! that brought them: entries written by the code before `Command::Txn` (`Put`, `Delete`,
//! `Compact`, `Batch`, `Guarded`) still decode and apply, from bytes and from a data
//! directory.

use std::time::Duration;

use bytes::Bytes;
use kumo_raft_store::{
    Command, Failure, Mvcc, Op, Outcome, Precondition, StoreConfig, StoreNode, Txn, TxnOutcome,
};

fn cfg() -> StoreConfig {
    // No snapshot: a restart re-applies every entry from the log.
    let mut c = StoreConfig::single("127.0.0.1:0");
    c.snapshot_every = 1_000_000;
    c
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn put(key: &str, v: &str, precondition: Precondition) -> Command {
    Command::Put {
        key: key.into(),
        value: Bytes::from(v.to_string()),
        precondition,
    }
}

/// Commands as postcard encoded them before `Command::Txn` existed (captured from the code
/// at 601c7bd): what the Raft log of an existing data directory holds.
const OLD_ENTRIES: [&str; 7] = [
    // Put a=1 Absent
    "000161013100",
    // Put a=2 Revision(1)
    "00016101320201",
    // Delete a Exists
    "01016101",
    // Compact 2
    "0202",
    // Batch [Put ns/x=n Absent, Put ns/x=m Absent]
    "030200046e732f78016e0000046e732f78016d00",
    // Guarded ns/x@4 [Put o/y=y Absent]
    "04046e732f780400036f2f79017900",
    // Guarded ns/x@9 [Put o/z=z Absent]
    "04046e732f780900036f2f7a017a00",
];

#[test]
fn entries_written_before_transactions_decode_and_apply() {
    let cmds: Vec<Command> = OLD_ENTRIES
        .iter()
        .map(|h| postcard::from_bytes(&hex(h)).expect("an old entry decodes"))
        .collect();
    assert_eq!(cmds[0], put("a", "1", Precondition::Absent));
    assert_eq!(
        cmds[5],
        Command::Guarded {
            guard_key: "ns/x".into(),
            guard_revision: 4,
            cmd: Box::new(put("o/y", "y", Precondition::Absent)),
        }
    );
    // Encoding is unchanged too (a follower on this code writes the same bytes).
    for (cmd, h) in cmds.iter().zip(OLD_ENTRIES) {
        assert_eq!(postcard::to_allocvec(cmd).expect("encode"), hex(h));
    }
    let mut s = Mvcc::default();
    let outs: Vec<Outcome> = cmds.into_iter().map(|c| s.apply(c)).collect();
    // The same state and revisions as the old code gave: a=1 (1), a=2 (2), a deleted (3),
    // compact, ns/x=n (4) and its duplicate refused, o/y under the guard (5), o/z refused.
    assert_eq!(s.revision(), 5);
    assert_eq!(s.compact_revision(), 2);
    assert!(s.get("a").is_none());
    assert_eq!(s.get("ns/x").map(|kv| kv.mod_revision), Some(4));
    assert_eq!(s.get("o/y").map(|kv| kv.mod_revision), Some(5));
    assert!(s.get("o/z").is_none());
    assert!(matches!(
        &outs[4],
        Outcome::Batch(b) if matches!(b[..], [Outcome::Done { revision: 4, .. }, Outcome::AlreadyExists { .. }])
    ));
    assert!(matches!(
        outs[5],
        Outcome::Txn(TxnOutcome::Committed { revision: 5, .. })
    ));
    assert!(matches!(
        outs[6],
        Outcome::Txn(TxnOutcome::Failed {
            op: 0,
            failure: Failure::Conflict { .. },
            ..
        })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn old_entries_and_transactions_reapply_from_the_log_after_a_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let state = |node: &StoreNode| {
        node.shared().read(|m| {
            let page = m.range("", None, None, None).expect("range");
            let kvs: Vec<_> = page
                .items
                .into_iter()
                .map(|kv| (kv.key, kv.value, kv.create_revision, kv.mod_revision))
                .collect();
            (m.revision(), kvs)
        })
    };
    let before = {
        let (node, _) = StoreNode::open(dir.path(), cfg()).await.expect("open");
        node.wait_leader(Duration::from_secs(5))
            .await
            .expect("leader");
        // Entries in the shapes the old code proposed.
        node.propose(put("ns/a", "1", Precondition::Absent))
            .await
            .expect("put");
        node.propose(Command::Batch(vec![
            put("ns/b", "1", Precondition::Absent),
            put("ns/a", "2", Precondition::Absent),
        ]))
        .await
        .expect("batch");
        let out = node
            .propose(Command::Guarded {
                guard_key: "ns/a".into(),
                guard_revision: 1,
                cmd: Box::new(put("obj/x", "1", Precondition::Absent)),
            })
            .await
            .expect("guarded");
        assert!(matches!(
            out,
            Outcome::Txn(TxnOutcome::Committed { revision: 3, .. })
        ));
        // And a transaction.
        let txn = Txn::new(vec![
            Op::check_revision("ns/a", 1),
            Op::put("obj/y", Bytes::from_static(b"y"), Precondition::Absent),
            Op::delete("obj/x", Precondition::Revision(3)),
            Op::put("ns/b", Bytes::from_static(b"2"), Precondition::Revision(2)),
        ])
        .expect("txn");
        let out = node.propose(txn.into()).await.expect("txn");
        assert!(
            matches!(out, Outcome::Txn(TxnOutcome::Committed { revision: 4, .. })),
            "{out:?}"
        );
        let st = state(&node);
        node.shutdown().await.expect("shutdown");
        st
    };
    assert!(!dir.path().join("state/snapshot.bin").exists());
    let (node, _) = StoreNode::open(dir.path(), cfg()).await.expect("reopen");
    node.wait_leader(Duration::from_secs(5))
        .await
        .expect("leader");
    node.read_barrier().await.expect("barrier");
    assert_eq!(state(&node), before);
    assert_eq!(before.0, 4);
    let keys: Vec<_> = before.1.iter().map(|kv| kv.0.as_str()).collect();
    assert_eq!(keys, ["ns/a", "ns/b", "obj/y"]);
    // The transaction's events are in the window again, together.
    let (events, _) = node
        .shared()
        .read(|m| m.events_after(3, "", 1))
        .expect("events");
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e.revision == 4));
}

/// Readers of a node taking transactions never see part of one: every read of the event
/// window holds each transaction's events all together or not at all, and the store never
/// holds half a transaction.
#[tokio::test(flavor = "multi_thread")]
async fn readers_never_see_half_a_transaction() {
    const TXNS: usize = 200;
    const WIDTH: usize = 5;
    let dir = tempfile::tempdir().expect("tmp");
    let (node, _) = StoreNode::open(dir.path(), cfg()).await.expect("open");
    node.wait_leader(Duration::from_secs(5))
        .await
        .expect("leader");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let node = node.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut reads = 0u64;
            let mut last = 0;
            let mut applied = node.shared().subscribe();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let (events, upto, live) = node.shared().read(|m| {
                    let (e, u) = m.events_after(last, "t/", 3).expect("window");
                    (e, u, m.range("t/", None, None, None).expect("range").items)
                });
                for e in &events {
                    let n = events.iter().filter(|x| x.revision == e.revision).count();
                    assert_eq!(n, WIDTH, "a read held part of transaction {}", e.revision);
                }
                // Keys t/<i>/<j> of one transaction exist all together or not at all.
                let mut per_txn = std::collections::BTreeMap::<&str, usize>::new();
                for kv in &live {
                    let t = kv.key.rsplit_once('/').map_or("", |(t, _)| t);
                    *per_txn.entry(t).or_default() += 1;
                }
                assert!(per_txn.values().all(|n| *n == WIDTH), "{per_txn:?}");
                last = upto;
                reads += 1;
                let _ = tokio::time::timeout(Duration::from_millis(5), applied.changed()).await;
            }
            reads
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let node = node.clone();
            tokio::spawn(async move {
                for i in (w..TXNS).step_by(4) {
                    let ops = (0..WIDTH)
                        .map(|j| {
                            Op::put(
                                format!("t/{i:04}/{j}"),
                                Bytes::from_static(b"v"),
                                Precondition::Absent,
                            )
                        })
                        .collect();
                    let out = node
                        .propose(Txn::new(ops).expect("txn").into())
                        .await
                        .expect("propose");
                    assert!(matches!(out, Outcome::Txn(TxnOutcome::Committed { .. })));
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.await.expect("reader");
    assert!(reads > 0);
    let page = node
        .shared()
        .read(|m| m.range("t/", None, None, None))
        .expect("range");
    assert_eq!(page.items.len(), TXNS * WIDTH);
    assert_eq!(node.shared().read(Mvcc::revision), TXNS as u64);
    node.shutdown().await.expect("shutdown");
}
