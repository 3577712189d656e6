//! Model-based property test: random commands — single writes, compactions and
//! all-or-nothing transactions — against the store and against a BTreeMap model; outcomes,
//! contents, revisions, ranges at old revisions and watch histories agree.

use std::collections::BTreeMap;

use bytes::Bytes;
use kumo_raft_store::{
    Command, EventKind, Failure, Mvcc, Op as TxnOp, Outcome, Precondition, Txn, TxnOutcome,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Create(u8, u8),
    Update(u8, u8, Option<u8>),
    Delete(u8, Option<u8>),
    Compact(u8),
    /// (0 put, 1 delete, 2 check; key; value; precondition: None = Absent, Some(r) = Revision)
    Txn(Vec<(u8, u8, u8, Option<u8>)>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..12, any::<u8>()).prop_map(|(k, v)| Op::Create(k, v)),
        4 => (0u8..12, any::<u8>(), proptest::option::of(0u8..40)).prop_map(|(k, v, r)| Op::Update(k, v, r)),
        2 => (0u8..12, proptest::option::of(0u8..40)).prop_map(|(k, r)| Op::Delete(k, r)),
        1 => (0u8..40).prop_map(Op::Compact),
        3 => proptest::collection::vec((0u8..3, 0u8..12, any::<u8>(), proptest::option::of(0u8..40)), 1..5).prop_map(Op::Txn),
    ]
}

fn key(k: u8) -> String {
    format!(
        "{}/{k:02}",
        if k.is_multiple_of(2) { "even" } else { "odd" }
    )
}

#[derive(Default)]
struct Model {
    rev: u64,
    compact: u64,
    /// key -> (value, create_rev, mod_rev)
    kvs: BTreeMap<String, (u8, u64, u64)>,
    /// Full state after every revision.
    history: Vec<BTreeMap<String, (u8, u64, u64)>>,
    events: Vec<(u64, String, EventKind)>,
}

impl Model {
    fn precondition_ok(&self, k: &str, pre: Precondition) -> Result<(), &'static str> {
        match (pre, self.kvs.get(k)) {
            (Precondition::Absent, Some(_)) => Err("exists"),
            (Precondition::Absent, None) => Ok(()),
            (_, None) => Err("notfound"),
            (Precondition::Revision(r), Some(v)) if v.2 != r => Err("conflict"),
            _ => Ok(()),
        }
    }
    fn commit(&mut self) {
        self.history.push(self.kvs.clone());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn store_matches_model(ops in proptest::collection::vec(op(), 1..120)) {
        let mut s = Mvcc::new(1_000_000);
        let mut m = Model::default();
        m.commit();
        for op in ops {
            let (cmd, k, val) = match op {
                Op::Create(k, v) => (Command::Put { key: key(k), value: Bytes::from(vec![v]), precondition: Precondition::Absent }, key(k), Some(v)),
                Op::Update(k, v, r) => (Command::Put { key: key(k), value: Bytes::from(vec![v]), precondition: r.map_or(Precondition::Exists, |r| Precondition::Revision(r as u64)) }, key(k), Some(v)),
                Op::Delete(k, r) => (Command::Delete { key: key(k), precondition: r.map_or(Precondition::Exists, |r| Precondition::Revision(r as u64)) }, key(k), None),
                Op::Txn(ops) => {
                    let ops: Vec<(u8, String, u8, Precondition)> = ops
                        .into_iter()
                        .map(|(kind, k, v, r)| (kind, key(k), v, r.map_or(Precondition::Absent, |r| Precondition::Revision(r as u64))))
                        .collect();
                    let mut written = std::collections::BTreeSet::new();
                    let duplicate = ops.iter().any(|(kind, k, ..)| *kind != 2 && !written.insert(k.clone()));
                    if duplicate {
                        continue;
                    }
                    let txn = Txn::new(
                        ops.iter()
                            .map(|(kind, k, v, pre)| match kind {
                                0 => TxnOp::put(k.clone(), Bytes::from(vec![*v]), *pre),
                                1 => TxnOp::delete(k.clone(), *pre),
                                _ => TxnOp::check(k.clone(), *pre),
                            })
                            .collect(),
                    )
                    .expect("valid");
                    let failed = ops.iter().enumerate().find_map(|(i, (kind, k, _, pre))| {
                        let r = match (kind, m.precondition_ok(k, *pre)) {
                            (1, Ok(())) if !m.kvs.contains_key(k) => Err("notfound"),
                            (_, r) => r,
                        };
                        r.err().map(|e| (i, e))
                    });
                    let out = s.apply(Command::Txn(txn));
                    match (failed, &out) {
                        (Some((i, e)), Outcome::Txn(TxnOutcome::Failed { op, failure, .. })) => {
                            let got = match failure {
                                Failure::AlreadyExists { .. } => "exists",
                                Failure::NotFound => "notfound",
                                Failure::Conflict { .. } => "conflict",
                            };
                            prop_assert_eq!((i, e), (*op, got));
                        }
                        (None, Outcome::Txn(TxnOutcome::Committed { revision, .. })) => {
                            if !written.is_empty() {
                                m.rev += 1;
                                for (kind, k, v, _) in &ops {
                                    match kind {
                                        0 => {
                                            let create = m.kvs.get(k).map_or(m.rev, |e| e.1);
                                            m.kvs.insert(k.clone(), (*v, create, m.rev));
                                            m.events.push((m.rev, k.clone(), EventKind::Put));
                                        }
                                        1 => {
                                            m.kvs.remove(k);
                                            m.events.push((m.rev, k.clone(), EventKind::Delete));
                                        }
                                        _ => {}
                                    }
                                }
                                m.commit();
                            }
                            prop_assert_eq!(*revision, m.rev);
                        }
                        (e, o) => prop_assert!(false, "model {e:?} store {o:?}"),
                    }
                    prop_assert_eq!(s.revision(), m.rev);
                    continue;
                }
                Op::Compact(r) => {
                    let r = r as u64;
                    let out = s.apply(Command::Compact { revision: r });
                    if r < m.compact || r > m.rev {
                        prop_assert!(matches!(out, Outcome::CompactRejected { .. }), "{out:?}");
                    } else {
                        prop_assert!(matches!(out, Outcome::Done { .. }), "{:?}", out);
                        m.compact = r;
                    }
                    continue;
                }
            };
            let pre = match &cmd { Command::Put { precondition, .. } | Command::Delete { precondition, .. } => *precondition, _ => unreachable!() };
            let expected = m.precondition_ok(&k, pre);
            let out = s.apply(cmd);
            match (expected, &out) {
                (Ok(()), Outcome::Done { revision, .. }) => {
                    m.rev += 1;
                    prop_assert_eq!(*revision, m.rev);
                    match val {
                        Some(v) => {
                            let create = m.kvs.get(&k).map_or(m.rev, |e| e.1);
                            m.kvs.insert(k.clone(), (v, create, m.rev));
                            m.events.push((m.rev, k, EventKind::Put));
                        }
                        None => {
                            m.kvs.remove(&k);
                            m.events.push((m.rev, k, EventKind::Delete));
                        }
                    }
                    m.commit();
                }
                (Err("exists"), Outcome::AlreadyExists { .. }) => {}
                (Err("notfound"), Outcome::NotFound) => {}
                (Err("conflict"), Outcome::Conflict { .. }) => {}
                (e, o) => prop_assert!(false, "model {e:?} store {o:?}"),
            }
            prop_assert_eq!(s.revision(), m.rev);
        }
        // Current contents.
        let page = s.range("", None, None, None).unwrap();
        let got: BTreeMap<String, (u8, u64, u64)> = page.items.iter().map(|kv| (kv.key.clone(), (kv.value[0], kv.create_revision, kv.mod_revision))).collect();
        prop_assert_eq!(&got, &m.kvs);
        // Every retained revision reads as the model had it, per prefix, paginated by 3.
        for at in m.compact..=m.rev {
            for prefix in ["even/", "odd/", ""] {
                let mut got = BTreeMap::new();
                let mut after: Option<String> = None;
                loop {
                    let p = s.range(prefix, after.as_deref(), Some(3), Some(at)).unwrap();
                    for kv in &p.items { got.insert(kv.key.clone(), (kv.value[0], kv.create_revision, kv.mod_revision)); }
                    if !p.more { break; }
                    after = p.items.last().map(|kv| kv.key.clone());
                }
                let want: BTreeMap<_, _> = m.history[at as usize].iter().filter(|(k, _)| k.starts_with(prefix)).map(|(k, v)| (k.clone(), *v)).collect();
                prop_assert_eq!(got, want, "at {} prefix {}", at, prefix);
            }
        }
        if m.compact > 0 {
            prop_assert!(s.range("", None, None, Some(m.compact - 1)).is_err());
            prop_assert!(s.events_after(m.compact - 1, "", 100).is_err());
        }
        // Watch from the compact revision: every later event, in order, no gaps or duplicates.
        let (events, upto) = s.events_after(m.compact, "", usize::MAX).unwrap();
        let want: Vec<_> = m.events.iter().filter(|e| e.0 > m.compact).cloned().collect();
        let got: Vec<_> = events.iter().map(|e| (e.revision, e.kv.key.clone(), e.kind)).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(upto, m.rev);
    }
}
