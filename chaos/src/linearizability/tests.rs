use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

// ---------------------------------------------------------------------------------------
// Building histories by hand.

fn get(k: &str) -> Op {
    Op::Get { key: k.into() }
}

fn create(k: &str, v: &str) -> Op {
    Op::Create {
        key: k.into(),
        value: v.into(),
    }
}

fn update(k: &str, v: &str, expected_revision: Option<Revision>) -> Op {
    Op::Update {
        key: k.into(),
        value: v.into(),
        expected_revision,
    }
}

fn delete(k: &str, expected_revision: Option<Revision>) -> Op {
    Op::Delete {
        key: k.into(),
        expected_revision,
    }
}

fn found(v: &str, mod_revision: Revision) -> Output {
    Output::Found {
        value: v.into(),
        mod_revision,
    }
}

fn ok(revision: Revision) -> Output {
    Output::Ok { revision }
}

#[derive(Default)]
struct B(History);

impl B {
    fn increasing() -> B {
        B(History::new(0, Revisions::Increasing))
    }

    /// An answered call on `client` over `[call, ret]`.
    fn op(mut self, client: u64, call: u64, ret: u64, op: Op, output: Output) -> B {
        self.0.ops.push(Operation {
            client,
            op,
            call,
            ret: Some(Returned { at: ret, output }),
        });
        self
    }

    /// A call without reply.
    fn lost(mut self, client: u64, call: u64, op: Op) -> B {
        self.0.ops.push(Operation {
            client,
            op,
            call,
            ret: None,
        });
        self
    }
}

fn whole_search(h: &History) -> CheckResult {
    check_whole_search(h, &Budget::default(), None)
}

#[track_caller]
fn assert_ok(h: &History) {
    for (name, r) in [
        ("check_history", check_history(h)),
        ("check_per_key", check_per_key(h)),
        ("whole search", whole_search(h)),
    ] {
        assert_eq!(r, CheckResult::Ok, "{name}");
    }
}

/// Illegal for `check_history` and for the whole search alone (so the search bites by
/// itself, not only the per-key pass or the revision facts). Returns the explanation.
#[track_caller]
fn assert_illegal(h: &History) -> String {
    let CheckResult::Illegal { explanation } = whole_search(h) else {
        panic!("whole search: {:?}", whole_search(h));
    };
    let r = check_history(h);
    assert!(r.is_illegal(), "check_history: {r:?}");
    explanation
}

// ---------------------------------------------------------------------------------------
// Legal histories.

#[test]
fn sequential_histories_are_linearizable() {
    let h = B::default()
        .op(1, 0, 1, get("a"), Output::NotFound)
        .op(1, 2, 3, create("a", "x"), ok(1))
        .op(1, 4, 5, get("a"), found("x", 1))
        .op(2, 6, 7, create("a", "y"), Output::AlreadyExists)
        .op(2, 8, 9, update("a", "y", Some(1)), ok(2))
        .op(1, 10, 11, update("a", "z", Some(1)), Output::Conflict)
        .op(1, 12, 13, update("a", "z", None), ok(3))
        .op(2, 14, 15, create("b", "q"), ok(4))
        .op(2, 16, 17, delete("a", Some(2)), Output::Conflict)
        .op(2, 18, 19, delete("a", Some(3)), ok(5))
        .op(1, 20, 21, get("a"), Output::NotFound)
        .op(1, 22, 23, update("a", "w", None), Output::NotFound)
        .op(1, 24, 25, delete("a", None), Output::NotFound)
        .op(1, 26, 27, create("a", "again"), ok(6))
        .op(1, 28, 29, get("b"), found("q", 4))
        .0;
    assert_ok(&h);
    assert_ok(&History::default());
}

#[test]
fn a_concurrent_history_linearizes_in_an_order_unlike_its_invocations() {
    // The update invoked first (rev 3) takes effect last; a read sees the second update's
    // value before that update returned; a read concurrent with both sees the original.
    //
    //   c1 |--Update a=1 -> Ok 3-------------------------|
    //   c2      |--Update a=2 -> Ok 2----------|
    //   c3         |--Get a -> "2"@2--|
    //   c4  |-Get a -> "0"@1---------------------|
    //   c3                                                  |--Get a -> "1"@3--|
    let h = B::default()
        .op(0, 0, 5, create("a", "0"), ok(1))
        .op(1, 10, 60, update("a", "1", None), ok(3))
        .op(2, 15, 45, update("a", "2", Some(1)), ok(2))
        .op(3, 20, 30, get("a"), found("2", 2))
        .op(4, 12, 50, get("a"), found("0", 1))
        .op(3, 70, 80, get("a"), found("1", 3))
        .0;
    assert_ok(&h);
    // The same with the last read seeing the update that, by invocation, came last: no.
    let mut bad = h.clone();
    bad.ops[5].ret = Some(Returned {
        at: 80,
        output: found("2", 2),
    });
    assert_illegal(&bad);
}

#[test]
fn two_concurrent_creates_one_wins() {
    let h = B::default()
        .op(1, 0, 10, create("a", "x"), Output::AlreadyExists)
        .op(2, 1, 9, create("a", "y"), ok(1))
        .op(3, 2, 3, get("a"), Output::NotFound)
        .op(3, 11, 12, get("a"), found("y", 1))
        .0;
    assert_ok(&h);
}

#[test]
fn a_write_without_reply_may_or_may_not_have_applied() {
    let base = || {
        B::default()
            .op(1, 0, 1, create("a", "x"), ok(1))
            .lost(2, 2, update("a", "y", Some(1)))
    };
    // It applied.
    let applied = base().op(1, 10, 11, get("a"), found("y", 2)).0;
    assert_ok(&applied);
    // It did not (or not yet).
    let not_applied = base().op(1, 10, 11, get("a"), found("x", 1)).0;
    assert_ok(&not_applied);
    // Not yet, then it did: still fine.
    let later = base()
        .op(1, 10, 11, get("a"), found("x", 1))
        .op(1, 12, 13, get("a"), found("y", 2))
        .0;
    assert_ok(&later);
    // Once applied it cannot un-apply.
    let flip = base()
        .op(1, 10, 11, get("a"), found("y", 2))
        .op(1, 12, 13, get("a"), found("x", 1))
        .0;
    let why = assert_illegal(&flip);
    assert!(why.contains("#3"), "{why}");
    // A later write's revision proves it took revision 2 before that write was invoked...
    let took_a_revision = base().op(3, 10, 11, create("b", "q"), ok(3)).0;
    assert_ok(&took_a_revision);
    // ...so a read after that write cannot still see the old value.
    let stale = base()
        .op(3, 10, 11, create("b", "q"), ok(3))
        .op(1, 12, 13, get("a"), found("x", 1))
        .0;
    assert_illegal(&stale);
    // A read without reply constrains nothing.
    let lost_read = base().lost(3, 5, get("a")).0;
    assert_ok(&lost_read);
}

#[test]
fn writes_without_reply_under_increasing_revisions() {
    // Revision unknown to the history: a read pins it.
    let base = || {
        B::increasing()
            .op(1, 0, 1, create("a", "x"), ok(4))
            .lost(2, 2, update("a", "y", None))
    };
    assert_ok(&base().op(1, 10, 11, get("a"), found("y", 9)).0);
    assert_ok(
        &base()
            .op(1, 10, 11, get("a"), found("y", 9))
            .op(1, 12, 13, update("a", "z", Some(9)), ok(12))
            .0,
    );
    // Pinned at 9: a CAS on another revision must conflict.
    assert_illegal(
        &base()
            .op(1, 10, 11, get("a"), found("y", 9))
            .op(1, 12, 13, update("a", "z", Some(8)), ok(12))
            .0,
    );
    // Pinned at 9: the next write is above 9.
    assert_illegal(
        &base()
            .op(1, 10, 11, get("a"), found("y", 9))
            .op(1, 12, 13, create("b", "z"), ok(8))
            .0,
    );
    // It cannot be below the write before it.
    assert_illegal(&base().op(1, 10, 11, get("a"), found("y", 3)).0);
}

// ---------------------------------------------------------------------------------------
// Bugs the checker must catch.

#[test]
fn stale_read_after_an_acknowledged_write() {
    let h = B::default()
        .op(1, 0, 10, create("a", "x"), ok(1))
        .op(1, 20, 30, update("a", "y", Some(1)), ok(2))
        .op(2, 40, 50, get("a"), found("x", 1))
        .0;
    let why = assert_illegal(&h);
    assert!(why.contains("cannot place #2"), "{why}");
    assert!(why.contains("\"a\" \"y\" at revision 2"), "{why}");
    // The same read, concurrent with the update, is fine.
    let mut h = h;
    h.ops[2].call = 25;
    assert_ok(&h);
}

#[test]
fn lost_acknowledged_write() {
    let h = B::default()
        .op(1, 0, 10, create("a", "x"), ok(1))
        .op(2, 11, 20, get("a"), Output::NotFound)
        .0;
    assert_illegal(&h);
    let mut concurrent = h;
    concurrent.ops[1].call = 5;
    assert_ok(&concurrent);
}

#[test]
fn two_creates_of_one_key_both_succeed() {
    let h = B::default()
        .op(1, 0, 10, create("a", "x"), ok(1))
        .op(2, 0, 10, create("a", "y"), ok(2))
        .0;
    assert_illegal(&h);
    // With a delete between them it is fine.
    let h = B(h)
        .op(3, 0, 10, delete("a", None), ok(3))
        .op(3, 11, 12, get("a"), found("y", 2))
        .0;
    let mut fixed = h.clone();
    fixed.ops[2].ret = Some(Returned {
        at: 10,
        output: ok(2),
    });
    fixed.ops[1].ret = Some(Returned {
        at: 10,
        output: ok(3),
    });
    fixed.ops[3].ret = Some(Returned {
        at: 12,
        output: found("y", 3),
    });
    assert_ok(&fixed);
}

#[test]
fn duplicate_revision() {
    let h = B::default()
        .op(1, 0, 10, create("a", "x"), ok(1))
        .op(2, 0, 10, create("b", "y"), ok(1))
        .0;
    let r = check_per_key(&h);
    assert!(r.is_illegal(), "{r:?}");
    assert_illegal(&h);
    // Per key the search alone cannot see it: that is what the revision facts are for.
    let CheckResult::Illegal { explanation } = r else {
        unreachable!()
    };
    assert!(explanation.contains("two writes"), "{explanation}");
}

#[test]
fn revision_going_backwards() {
    let h = B::default()
        .op(1, 0, 10, create("a", "x"), ok(2))
        .op(2, 20, 30, create("b", "y"), ok(1))
        .0;
    assert_illegal(&h);
    let r = check_per_key(&h);
    assert!(
        matches!(&r, CheckResult::Illegal { explanation } if explanation.contains("backwards")),
        "{r:?}"
    );
    // Within one key, the per-key search itself sees it.
    let h = B::increasing()
        .op(1, 0, 10, create("a", "x"), ok(5))
        .op(1, 20, 30, update("a", "y", None), ok(5))
        .0;
    assert!(check_per_key(&h).is_illegal());
    assert_illegal(&h);
    // A read that sees an older revision than a write that finished before it.
    let h = B::increasing()
        .op(1, 0, 10, create("a", "x"), ok(5))
        .op(2, 20, 30, get("a"), found("x", 4))
        .0;
    assert!(check_per_key(&h).is_illegal());
    assert_illegal(&h);
}

#[test]
fn cas_with_a_wrong_expected_revision_succeeds() {
    let h = B::default()
        .op(1, 0, 10, create("a", "x"), ok(1))
        .op(2, 20, 30, update("a", "y", Some(7)), ok(2))
        .0;
    assert_illegal(&h);
    let h = B::default()
        .op(1, 0, 10, create("a", "x"), ok(1))
        .op(2, 20, 30, delete("a", Some(7)), ok(2))
        .0;
    assert_illegal(&h);
    // And the reverse: the right revision rejected.
    let h = B::default()
        .op(1, 0, 10, create("a", "x"), ok(1))
        .op(2, 20, 30, update("a", "y", Some(1)), Output::Conflict)
        .0;
    assert_illegal(&h);
    // An unconditional update cannot conflict.
    let h = B::default()
        .op(1, 0, 10, create("a", "x"), ok(1))
        .op(2, 20, 30, update("a", "y", None), Output::Conflict)
        .0;
    assert_illegal(&h);
    // Two CAS updates from the same revision cannot both win.
    let h = B::increasing()
        .op(1, 0, 10, create("a", "x"), ok(1))
        .op(2, 20, 30, update("a", "y", Some(1)), ok(2))
        .op(3, 20, 30, update("a", "z", Some(1)), ok(3))
        .0;
    assert_illegal(&h);
}

#[test]
fn only_the_whole_history_sees_across_keys() {
    // `a` took revision 1 and `b` revision 2, and `b` returned before the read of `a` began:
    // the read must see `a`. Per key, the read overlaps `a`'s create and may precede it.
    let h = B::default()
        .op(1, 0, 10, create("a", "x"), ok(1))
        .op(2, 0, 3, create("b", "y"), ok(2))
        .op(3, 5, 20, get("a"), Output::NotFound)
        .0;
    assert_eq!(check_per_key(&h), CheckResult::Ok);
    let why = assert_illegal(&h);
    assert!(why.contains("whole history"), "{why}");
    // A revision skipped although only the recorded clients write: too many revisions for
    // the writes made is a cheap fact...
    let h = B::default()
        .op(1, 0, 10, create("a", "x"), ok(1))
        .op(2, 20, 30, create("b", "y"), ok(3))
        .0;
    assert!(check_per_key(&h).is_illegal());
    assert_illegal(&h);
    // ...but with a write without reply that could have taken revision 2, only the search
    // sees that it was invoked too late to.
    let h = B(h).lost(3, 40, create("c", "z")).0;
    assert_eq!(check_per_key(&h), CheckResult::Ok);
    let why = assert_illegal(&h);
    assert!(why.contains("next write takes revision 2"), "{why}");
    // ...which a shared store allows.
    let mut shared = h;
    shared.revisions = Revisions::Increasing;
    assert_ok(&shared);
}

#[test]
fn initial_revision_is_respected() {
    let h = History {
        initial_revision: 100,
        revisions: Revisions::Consecutive,
        ops: B::default().op(1, 0, 1, create("a", "x"), ok(101)).0.ops,
    };
    assert_ok(&h);
    let mut below = h.clone();
    below.ops[0].ret = Some(Returned {
        at: 1,
        output: ok(50),
    });
    assert_illegal(&below);
}

#[test]
fn malformed_histories_are_reported() {
    let h = B::default().op(1, 10, 5, get("a"), Output::NotFound).0;
    assert!(matches!(
        h.validate(),
        Err(Error::ReturnBeforeCall { index: 0 })
    ));
    assert!(check_history(&h).is_illegal());
    let h = B::default().op(1, 0, 5, get("a"), ok(1)).0;
    assert!(matches!(
        h.validate(),
        Err(Error::ImpossibleReply { index: 0, .. })
    ));
    assert!(check_per_key(&h).is_illegal());
}

#[test]
fn the_budget_gives_unknown_not_a_verdict() {
    // Many concurrent reads of a value nobody wrote: the search must try every order.
    let mut b = B::default();
    for c in 0..14 {
        b = b.op(c, 0, 100, get(&format!("k{c}")), Output::NotFound);
    }
    let h = b.op(99, 0, 100, get("k0"), found("ghost", 1)).0;
    let tiny = Budget {
        max_steps: 50,
        ..Budget::default()
    };
    assert!(matches!(
        check_whole_search(&h, &tiny, None),
        CheckResult::Unknown { .. }
    ));
    let small_memo = Budget {
        max_memo_bytes: 1000,
        ..Budget::default()
    };
    assert!(matches!(
        check_whole_search(&h, &small_memo, None),
        CheckResult::Unknown { .. }
    ));
    // With room, the memo makes it quick: 2^15 sets at most.
    assert!(whole_search(&h).is_illegal());
}

// ---------------------------------------------------------------------------------------
// Recorder and JSON.

#[test]
fn recorder_from_threads_and_json_round_trip() {
    // A correct store behind a mutex; some calls "time out" after applying or before.
    type Store = (BTreeMap<String, (String, Revision)>, Revision);
    let store: Arc<Mutex<Store>> = Arc::default();
    let rec = Arc::new(Recorder::new());
    let threads: Vec<_> = (0..8u64)
        .map(|client| {
            let (store, rec) = (store.clone(), rec.clone());
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(client);
                for i in 0..200 {
                    let key = format!("k{}", rng.random_range(0..3));
                    let value = format!("c{client}-{i}");
                    let op = match rng.random_range(0..4) {
                        0 => get(&key),
                        1 => create(&key, &value),
                        2 => update(&key, &value, None),
                        _ => delete(&key, None),
                    };
                    let inv = rec.invoke(client, op.clone());
                    let output = apply(&mut store.lock().unwrap(), &op);
                    if rng.random_bool(0.03) {
                        rec.unknown(inv);
                    } else {
                        rec.ok(inv, output);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let h = rec.history();
    assert_eq!(h.ops.len(), 1600);
    assert_ok(&h);
    let json = h.to_json();
    let back = History::from_json(&json).unwrap();
    assert_eq!(back, h);
    assert!(matches!(
        History::from_json("{\"ops\": 3}"),
        Err(Error::Json(_))
    ));
    // Older files without the revision fields read as a fresh exclusive store.
    let minimal = r#"{"ops":[{"client":1,"op":{"Get":{"key":"a"}},"call":0,
        "ret":{"at":1,"output":"NotFound"}}]}"#;
    let h = History::from_json(minimal).unwrap();
    assert_eq!(h.revisions, Revisions::Consecutive);
    assert_ok(&h);
}

#[test]
fn recorder_counts_an_unanswered_invocation_as_unknown() {
    let rec = Recorder::new();
    let a = rec.invoke(1, create("a", "x"));
    let b = rec.invoke(2, get("a"));
    rec.ok(b, found("x", 1));
    drop(a);
    let h = rec.history();
    assert_eq!(h.ops[0].ret, None);
    assert!(h.ops[1].ret.as_ref().unwrap().at >= h.ops[1].call);
    assert_ok(&h);
}

/// The sequential store the simulations and the recorder test use.
fn apply(s: &mut (BTreeMap<String, (String, Revision)>, Revision), op: &Op) -> Output {
    apply_with_step(s, op, 1)
}

fn apply_with_step(
    (map, rev): &mut (BTreeMap<String, (String, Revision)>, Revision),
    op: &Op,
    step: Revision,
) -> Output {
    let cur = map.get(op.key()).cloned();
    let precondition = |expected: &Option<Revision>| match (&cur, expected) {
        (None, _) => Err(Output::NotFound),
        (Some((_, r)), Some(e)) if r != e => Err(Output::Conflict),
        _ => Ok(()),
    };
    match op {
        Op::Get { .. } => match cur {
            Some((value, mod_revision)) => Output::Found {
                value,
                mod_revision,
            },
            None => Output::NotFound,
        },
        Op::Create { key, value } => {
            if cur.is_some() {
                return Output::AlreadyExists;
            }
            *rev += step;
            map.insert(key.clone(), (value.clone(), *rev));
            ok(*rev)
        }
        Op::Update {
            key,
            value,
            expected_revision,
        } => {
            if let Err(out) = precondition(expected_revision) {
                return out;
            }
            *rev += step;
            map.insert(key.clone(), (value.clone(), *rev));
            ok(*rev)
        }
        Op::Delete {
            key,
            expected_revision,
        } => {
            if let Err(out) = precondition(expected_revision) {
                return out;
            }
            *rev += step;
            map.remove(key);
            ok(*rev)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Simulated concurrent clients on a correct store.

#[derive(Debug, Clone)]
struct Sim {
    clients: usize,
    keys: usize,
    ops: usize,
    /// Longest call, in ticks.
    width: u64,
    /// Chance that a call gets no reply (it then applies or not, half and half).
    unknown: f64,
    revisions: Revisions,
}

/// A history of `p.clients` sequential clients on a correct store: each call gets a random
/// interval, a linearization point inside it, and its result from applying the calls to the
/// store in the order of those points.
fn simulate(seed: u64, p: &Sim) -> History {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut free = vec![0u64; p.clients];
    // (linearization point, index, client, call, return, unknown)
    let mut calls = Vec::with_capacity(p.ops);
    for i in 0..p.ops {
        let client = (0..p.clients).min_by_key(|&c| free[c]).unwrap_or(0);
        let call = free[client] + rng.random_range(0..=p.width / 4);
        let ret = call + rng.random_range(1..=p.width);
        let point = rng.random_range(call..=ret);
        free[client] = ret + 1;
        calls.push((point, i, client, call, ret, rng.random_bool(p.unknown)));
    }
    calls.sort_unstable();
    let mut store = (BTreeMap::new(), 0);
    let mut ops: Vec<Option<Operation>> = vec![None; p.ops];
    for (_, i, client, call, ret, unknown) in calls {
        let key = format!("k{}", rng.random_range(0..p.keys));
        let value = format!("v{i}");
        let expected = |rng: &mut StdRng, store: &(BTreeMap<String, (String, u64)>, u64)| match rng
            .random_range(0..10)
        {
            0..4 => None,
            4..8 => Some(store.0.get(&key).map_or(store.1, |(_, r)| *r)),
            _ => Some(rng.random_range(1..=store.1 + 1)),
        };
        let op = match rng.random_range(0..20) {
            0..8 => get(&key),
            8..12 => create(&key, &value),
            12..17 => update(&key, &value, expected(&mut rng, &store)),
            _ => delete(&key, expected(&mut rng, &store)),
        };
        let step = match p.revisions {
            Revisions::Consecutive => 1,
            Revisions::Increasing => rng.random_range(1..=3),
        };
        let ret = if unknown {
            if rng.random_bool(0.5) {
                apply_with_step(&mut store, &op, step);
            }
            None
        } else {
            let output = apply_with_step(&mut store, &op, step);
            Some(Returned { at: ret, output })
        };
        ops[i] = Some(Operation {
            client: client as u64,
            op,
            call,
            ret,
        });
    }
    History {
        initial_revision: 0,
        revisions: p.revisions,
        ops: ops.into_iter().flatten().collect(),
    }
}

/// Corrupts one result so that no linearization can exist. Returns what it did, or `None`
/// if the history has no result it can corrupt that way.
fn corrupt_surely(h: &mut History, rng: &mut StdRng) -> Option<String> {
    let exact = h.revisions == Revisions::Consecutive;
    let candidates: Vec<usize> = (0..h.ops.len())
        .filter(|&i| match &h.ops[i].ret {
            Some(Returned {
                output: Output::Found { .. },
                ..
            }) => true,
            Some(Returned {
                output: Output::Ok { .. },
                ..
            }) => exact,
            _ => false,
        })
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let i = candidates[rng.random_range(0..candidates.len())];
    let never = 1_000_000_000 + rng.random_range(0..1000);
    let ret = h.ops[i].ret.as_mut()?;
    let what = match &mut ret.output {
        Output::Ok { revision } => {
            *revision = never;
            "write revision never produced"
        }
        Output::Found {
            value,
            mod_revision,
        } => {
            if exact && rng.random_bool(0.5) {
                *mod_revision = never;
                "read revision never produced"
            } else {
                *value = "never written".into();
                "read value never written"
            }
        }
        _ => return None,
    };
    Some(format!("#{i}: {what}"))
}

/// Replaces one result with another plausible one; the history may stay linearizable.
fn corrupt_plausibly(h: &mut History, rng: &mut StdRng) -> Option<usize> {
    let answered: Vec<usize> = (0..h.ops.len())
        .filter(|&i| h.ops[i].ret.is_some())
        .collect();
    if answered.is_empty() {
        return None;
    }
    let i = answered[rng.random_range(0..answered.len())];
    let revisions: Vec<Revision> = h
        .ops
        .iter()
        .filter_map(|o| match o.ret.as_ref()?.output {
            Output::Ok { revision } => Some(revision),
            _ => None,
        })
        .collect();
    let some_revision = |rng: &mut StdRng| {
        revisions
            .get(rng.random_range(0..revisions.len().max(1)))
            .copied()
            .unwrap_or(1)
    };
    let op = h.ops[i].op.clone();
    let ret = h.ops[i].ret.as_mut()?;
    ret.output = match (&op, &ret.output) {
        (
            Op::Get { .. },
            Output::Found {
                value,
                mod_revision,
            },
        ) => match rng.random_range(0..3) {
            0 => Output::NotFound,
            1 => found(value, mod_revision + 1),
            _ => found(value, mod_revision.saturating_sub(1)),
        },
        (Op::Get { .. }, _) => found("v0", some_revision(rng)),
        (Op::Create { .. }, Output::Ok { revision }) => match rng.random_range(0..2) {
            0 => Output::AlreadyExists,
            _ => ok(revision + 1),
        },
        (Op::Create { .. }, _) => ok(some_revision(rng)),
        (_, Output::Ok { .. }) => match rng.random_range(0..2) {
            0 => Output::Conflict,
            _ => Output::NotFound,
        },
        (_, Output::Conflict) => Output::NotFound,
        (_, _) => match op {
            Op::Update {
                expected_revision: Some(_),
                ..
            }
            | Op::Delete {
                expected_revision: Some(_),
                ..
            } => Output::Conflict,
            _ => ok(some_revision(rng)),
        },
    };
    Some(i)
}

fn sim(clients: usize, keys: usize, ops: usize, increasing: bool) -> Sim {
    Sim {
        clients,
        keys,
        ops,
        width: 40,
        unknown: 0.05,
        revisions: if increasing {
            Revisions::Increasing
        } else {
            Revisions::Consecutive
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn correct_store_histories_are_linearizable(
        seed in any::<u64>(),
        clients in 1usize..9,
        keys in 1usize..5,
        ops in 0usize..160,
        increasing in any::<bool>(),
    ) {
        let h = simulate(seed, &sim(clients, keys, ops, increasing));
        prop_assert_eq!(check_history(&h), CheckResult::Ok, "{}", h.to_json());
        prop_assert_eq!(check_per_key(&h), CheckResult::Ok);
        prop_assert_eq!(whole_search(&h), CheckResult::Ok);
    }

    #[test]
    fn surely_corrupted_histories_are_illegal(
        seed in any::<u64>(),
        clients in 1usize..9,
        keys in 1usize..5,
        ops in 1usize..160,
        increasing in any::<bool>(),
    ) {
        let mut h = simulate(seed, &sim(clients, keys, ops, increasing));
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
        if let Some(what) = corrupt_surely(&mut h, &mut rng) {
            let r = check_history(&h);
            prop_assert!(r.is_illegal(), "{what}: {r:?}");
            // The search alone may run out of budget on a wrong history, never accept it.
            let r = whole_search(&h);
            prop_assert!(!r.is_ok(), "{what}: {r:?}");
        }
    }
}

#[test]
fn plausibly_corrupted_histories_are_usually_illegal() {
    let (mut tried, mut caught, mut caught_per_key) = (0, 0, 0);
    for seed in 0..300 {
        let mut h = simulate(seed, &sim(6, 3, 80, seed % 2 == 1));
        let mut rng = StdRng::seed_from_u64(seed);
        if corrupt_plausibly(&mut h, &mut rng).is_none() {
            continue;
        }
        tried += 1;
        let r = check_history(&h);
        assert!(
            !matches!(r, CheckResult::Unknown { .. }),
            "seed {seed}: {r:?}"
        );
        caught += usize::from(r.is_illegal());
        caught_per_key += usize::from(check_per_key(&h).is_illegal());
    }
    eprintln!("plausible corruptions caught: {caught}/{tried} whole, {caught_per_key} per key");
    assert!(caught_per_key <= caught);
    assert!(caught * 10 >= tried * 8, "{caught}/{tried}");
}

#[test]
fn two_thousand_calls_from_eight_clients_check_quickly() {
    // Unanswered calls are what costs: with revisions consecutive their revisions are
    // forced; with revisions only increasing they can go anywhere, so fewer are used here.
    for (increasing, unknown) in [(false, 0.05), (true, 0.02)] {
        for seed in 0..3 {
            let p = Sim {
                unknown,
                ..sim(8, 8, 2000, increasing)
            };
            let h = simulate(seed, &p);
            let t = Instant::now();
            let r = check_history(&h);
            eprintln!(
                "{:?} seed {seed}: 2000 calls checked in {:?}",
                p.revisions,
                t.elapsed()
            );
            assert_eq!(r, CheckResult::Ok);
            assert_eq!(whole_search(&h), CheckResult::Ok);
            let mut rng = StdRng::seed_from_u64(seed);
            let mut bad = h.clone();
            let what = corrupt_surely(&mut bad, &mut rng).unwrap();
            let t = Instant::now();
            let r = check_history(&bad);
            eprintln!("  corrupted ({what}) checked in {:?}", t.elapsed());
            assert!(r.is_illegal(), "{r:?}");
        }
    }
}
