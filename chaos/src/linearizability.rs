//! Linearizability of the object store.
//!
//! The model is Kumo's object store seen by a client: every key holds a value and the
//! revision of its last write (`mod_revision`), and the store has one global revision counter
//! that every successful write advances (the Kubernetes `resourceVersion`). Clients call
//! [`Op::Get`], [`Op::Create`], and compare-and-set [`Op::Update`] / [`Op::Delete`]
//! (`expected_revision: Some(r)` applies only if the key is at revision `r`). A history is
//! linearizable if every call can be given one instant between its invocation and its return
//! such that applying the calls in that order to the model yields exactly the results the
//! clients saw. A call that never returned (a timeout, a dropped connection) may have taken
//! effect at any instant after its invocation, or not at all.
//!
//! # Recording a history in a cluster test
//!
//! Share one [`Recorder`] (it is `Sync`; wrap it in an `Arc`) between the test's clients. Each
//! client calls [`Recorder::invoke`] right before it sends a request and [`Recorder::ok`] right
//! after the reply arrives, with the reply translated into an [`Output`]; when the outcome is
//! unknown (timeout, connection reset, leader lost mid-request) it calls
//! [`Recorder::unknown`] — never `ok` with a guessed result. A definite error that proves the
//! write did not apply (`409 AlreadyExists`, `409 Conflict`, `404`) is an outcome:
//! [`Output::AlreadyExists`], [`Output::Conflict`], [`Output::NotFound`].
//! An invocation that is neither answered nor marked unknown (its task panicked) counts as
//! unknown.
//!
//! ```
//! use kumo_chaos::linearizability::{check_history, CheckResult, Op, Output, Recorder};
//! use std::sync::{Arc, Mutex};
//!
//! // A toy store standing in for the cluster: (value, mod_revision) per key, one revision.
//! let store = Arc::new(Mutex::new((std::collections::HashMap::new(), 0u64)));
//! let rec = Arc::new(Recorder::new());
//! let clients: Vec<_> = (0..4u64)
//!     .map(|client| {
//!         let (store, rec) = (store.clone(), rec.clone());
//!         std::thread::spawn(move || {
//!             let key = format!("k{}", client % 2);
//!             let inv = rec.invoke(client, Op::Create { key: key.clone(), value: "v".into() });
//!             let out = {
//!                 let mut s = store.lock().unwrap();
//!                 if s.0.contains_key(&key) {
//!                     Output::AlreadyExists
//!                 } else {
//!                     s.1 += 1;
//!                     let revision = s.1;
//!                     s.0.insert(key.clone(), ("v".to_string(), revision));
//!                     Output::Ok { revision }
//!                 }
//!             };
//!             rec.ok(inv, out);
//!         })
//!     })
//!     .collect();
//! for c in clients {
//!     c.join().unwrap();
//! }
//! let history = rec.history();
//! assert_eq!(check_history(&history), CheckResult::Ok);
//! // A failing run is saved and replayed with `History::to_json` / `History::from_json`.
//! ```
//!
//! In a cluster test the clients are tokio tasks holding a `kube::Client` (or a raw store
//! client); a Kubernetes object's `metadata.resourceVersion` is its `mod_revision`, and the
//! `resourceVersion` of a create/update reply (or of the deleted object for a delete) is the
//! write's `revision`. Use fresh keys (names) that do not exist when recording starts. If
//! anything else writes to the store during the run (controllers, leases, events), the
//! revision counter skips values the history never saw: record with
//! `Recorder::with_store(current_revision, Revisions::Increasing)`; only a store that the
//! recorded clients have to themselves can use [`Revisions::Consecutive`], which also checks
//! that no revision is skipped. Pick keys so that clients collide (a handful of keys for
//! a few thousand calls): a history without contention proves little.
//!
//! # Two checks, and what each can prove
//!
//! - [`check_history`] searches for one linearization of the whole history with the global
//!   revision counter in the model: a write's revision must be exactly the previous one + 1
//!   ([`Revisions::Consecutive`]) or above every earlier one ([`Revisions::Increasing`]),
//!   across all keys. It catches cross-key anomalies (a read that misses a write which,
//!   by revision, happened before a write that finished before the read began) and skipped
//!   or duplicated revisions. Its cost grows with the number of keys (the model state holds
//!   them all) and with contention.
//! - [`check_per_key`] uses P-compositionality: linearizability is local, so each key's
//!   sub-history is checked on its own, small and fast. Revisions are global, though, so a
//!   per-key model cannot know what the counter was: within a key it only requires write
//!   revisions to increase, and the cross-key revision contract is reduced to cheap sound
//!   facts (no revision given twice; an operation that returned revision `r` before another
//!   write was invoked forces that write above `r`; a read of revision `r` shows what the
//!   write of revision `r` wrote; with consecutive revisions, no revision above the
//!   initial one plus the number of writes). It may accept histories that the whole check
//!   rejects, never the reverse.
//!
//! [`check_history`] runs the per-key check first (a per-key violation is a violation of the
//! whole), then the whole search. Both are bounded by a [`Budget`]; past it the answer is
//! [`CheckResult::Unknown`], never a guess.
//!
//! # Algorithm
//!
//! Wing & Gong's search with Lowe's just-in-time linearization and memoisation, as in
//! porcupine: calls and returns sit in one doubly linked list in time order; the candidates
//! to linearize next are the calls before the first return in the list; linearizing one
//! lifts its call and return out of the list (dancing links) and restarts from the head;
//! reaching a return whose call is not linearized backtracks. Every reached pair (set of
//! linearized calls as a bitset, model state) is remembered, and a step that reaches a known
//! pair is pruned.
//!
//! Calls that never returned have no return entry (their return is at infinity): the search
//! ends once every answered call is placed, and the unplaced unanswered calls are the ones
//! that did not take effect. Each of them doubles what the search may have to explore, so
//! they get more care than porcupine gives them:
//! - a write without reply whose value (unique to it) some read returned surely applied,
//!   before that read returned, at the revision the read saw: it is checked as an answered
//!   write with that return time and revision;
//! - the others are tried only after the answered candidates failed (latest first), and
//!   only one of each class of identical effect (same kind, key, expected revision, and
//!   value — all values nobody read are one);
//! - with consecutive revisions one cannot take a revision an answered write took; and
//!   past the last answered revision, and always with increasing revisions, its revision is
//!   only known to be above the key's previous one and it does not advance the counter, so
//!   its place among calls on other keys does not matter and it is tried only for the
//!   keys of the answered candidates. This relaxes the model (it accepts slightly more,
//!   never less).
//!
//! Measured (debug build) on simulated correct histories of 2,000 calls from 8 clients on
//! 8 keys: consecutive revisions with 5% of calls unanswered check in about 50 ms;
//! increasing revisions with 2% unanswered in about 250 ms. Many more unanswered calls on
//! few keys under increasing revisions can exhaust the default budget (then the answer is
//! [`CheckResult::Unknown`]). A wrong history can make the search explore every interleaving
//! of the open calls; the memo bounds that by the distinct (set, state) pairs, and the
//! budget bounds the rest.

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A store revision (`resourceVersion`).
pub type Revision = u64;

/// A client call on the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Replies [`Output::Found`] or [`Output::NotFound`].
    Get { key: String },
    /// Replies [`Output::Ok`] or [`Output::AlreadyExists`].
    Create { key: String, value: String },
    /// Replies [`Output::Ok`], [`Output::Conflict`] (the key is at another revision than
    /// `expected_revision`) or [`Output::NotFound`]. `None` updates whatever is there.
    Update {
        key: String,
        value: String,
        expected_revision: Option<Revision>,
    },
    /// Replies [`Output::Ok`] (the revision of the delete), [`Output::Conflict`] or
    /// [`Output::NotFound`].
    Delete {
        key: String,
        expected_revision: Option<Revision>,
    },
}

impl Op {
    pub fn key(&self) -> &str {
        match self {
            Op::Get { key }
            | Op::Create { key, .. }
            | Op::Update { key, .. }
            | Op::Delete { key, .. } => key,
        }
    }

    /// Whether `output` is a reply this call can get at all.
    pub fn accepts(&self, output: &Output) -> bool {
        matches!(
            (self, output),
            (Op::Get { .. }, Output::Found { .. } | Output::NotFound)
                | (Op::Create { .. }, Output::Ok { .. } | Output::AlreadyExists)
                | (
                    Op::Update { .. } | Op::Delete { .. },
                    Output::Ok { .. } | Output::Conflict | Output::NotFound
                )
        )
    }
}

/// What a call returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Output {
    Found {
        value: String,
        mod_revision: Revision,
    },
    NotFound,
    /// A write applied, at this revision.
    Ok {
        revision: Revision,
    },
    AlreadyExists,
    Conflict,
}

/// The return of a call: when, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Returned {
    /// Nanoseconds since the recording started.
    pub at: u64,
    pub output: Output,
}

/// One call in a history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// Who called (for reading a history; the checker does not need it).
    pub client: u64,
    pub op: Op,
    /// Nanoseconds since the recording started.
    pub call: u64,
    /// `None`: no reply (timeout, lost connection): the call may or may not have applied.
    pub ret: Option<Returned>,
}

/// What the recorded clients may assume of the global revision counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Revisions {
    /// Only the recorded clients write to the store: each successful write takes exactly
    /// the previous revision + 1.
    #[default]
    Consecutive,
    /// Other writers share the store: successful writes take strictly increasing revisions,
    /// with gaps.
    Increasing,
}

/// A recorded history: the store's revision when recording started, the rule for
/// revisions, and the calls (in any order).
///
/// Every key in the history is assumed absent when recording starts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct History {
    #[serde(default)]
    pub initial_revision: Revision,
    #[serde(default)]
    pub revisions: Revisions,
    pub ops: Vec<Operation>,
}

/// Errors of reading or validating a history.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("history is not valid JSON")]
    Json(#[from] serde_json::Error),
    #[error("operation #{index} returns before it is called")]
    ReturnBeforeCall { index: usize },
    #[error("operation #{index}: {output} is not a possible reply to {op}")]
    ImpossibleReply {
        index: usize,
        op: String,
        output: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl History {
    pub fn new(initial_revision: Revision, revisions: Revisions) -> Self {
        History {
            initial_revision,
            revisions,
            ops: Vec::new(),
        }
    }

    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialisation cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn from_json(json: &str) -> Result<History> {
        Ok(serde_json::from_str(json)?)
    }

    /// Checks the shape of the history (not its linearizability): returns after calls, and
    /// replies that fit their calls.
    pub fn validate(&self) -> Result<()> {
        for (index, o) in self.ops.iter().enumerate() {
            let Some(ret) = &o.ret else { continue };
            if ret.at < o.call {
                return Err(Error::ReturnBeforeCall { index });
            }
            if !o.op.accepts(&ret.output) {
                return Err(Error::ImpossibleReply {
                    index,
                    op: o.op.to_string(),
                    output: ret.output.to_string(),
                });
            }
        }
        Ok(())
    }
}

/// Records a history from concurrent clients (threads or tokio tasks): thread-safe, with
/// a monotonic clock that starts at [`Recorder::new`].
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    history: Mutex<History>,
}

/// A call that was invoked and awaits [`Recorder::ok`] or [`Recorder::unknown`].
#[derive(Debug)]
#[must_use = "report the outcome with Recorder::ok or Recorder::unknown"]
pub struct Invocation {
    index: usize,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// For a store that starts at revision 0 and that only the recorded clients write.
    pub fn new() -> Self {
        Self::with_store(0, Revisions::Consecutive)
    }

    /// For a store at `initial_revision` when recording starts.
    pub fn with_store(initial_revision: Revision, revisions: Revisions) -> Self {
        Recorder {
            start: Instant::now(),
            history: Mutex::new(History::new(initial_revision, revisions)),
        }
    }

    /// Nanoseconds since the recorder was made.
    pub fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Records a call about to be sent.
    pub fn invoke(&self, client: u64, op: Op) -> Invocation {
        let at = self.now();
        self.invoke_at(client, op, at)
    }

    /// [`Recorder::invoke`] with the time given by the caller (a simulation's clock).
    pub fn invoke_at(&self, client: u64, op: Op, at: u64) -> Invocation {
        let mut h = self.lock();
        h.ops.push(Operation {
            client,
            op,
            call: at,
            ret: None,
        });
        Invocation {
            index: h.ops.len() - 1,
        }
    }

    /// Records the reply of a call.
    pub fn ok(&self, inv: Invocation, output: Output) {
        let at = self.now();
        self.ok_at(inv, output, at);
    }

    /// [`Recorder::ok`] with the time given by the caller.
    pub fn ok_at(&self, inv: Invocation, output: Output, at: u64) {
        if let Some(o) = self.lock().ops.get_mut(inv.index) {
            o.ret = Some(Returned { at, output });
        }
    }

    /// Records that the call's outcome is unknown: it may or may not have applied.
    pub fn unknown(&self, inv: Invocation) {
        let _ = inv;
    }

    /// The history so far; calls without a reply count as unknown.
    pub fn history(&self) -> History {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, History> {
        // A client that panicked while recording leaves a consistent history behind.
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The verdict of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    /// A linearization exists.
    Ok,
    /// No linearization exists. The explanation names the call that cannot be placed and
    /// the longest linearizable prefix the search found.
    Illegal { explanation: String },
    /// The [`Budget`] ran out before a verdict.
    Unknown { reason: String },
}

impl CheckResult {
    pub fn is_ok(&self) -> bool {
        matches!(self, CheckResult::Ok)
    }

    pub fn is_illegal(&self) -> bool {
        matches!(self, CheckResult::Illegal { .. })
    }
}

/// Bounds on one check. Past any of them the check answers [`CheckResult::Unknown`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// Search steps (one step tries one call or backtracks once), per search.
    pub max_steps: u64,
    /// Approximate bytes held by the memo of visited (set, state) pairs, per search.
    pub max_memo_bytes: usize,
    /// Wall-clock time for the whole check.
    pub max_time: Option<Duration>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_steps: 20_000_000,
            max_memo_bytes: 512 << 20,
            max_time: Some(Duration::from_secs(60)),
        }
    }
}

/// Checks the whole history, global revision counter included (see the module docs), with
/// the default [`Budget`].
pub fn check_history(history: &History) -> CheckResult {
    check_history_with(history, &Budget::default())
}

/// [`check_history`] with a budget.
pub fn check_history_with(history: &History, budget: &Budget) -> CheckResult {
    let deadline = budget.max_time.map(|t| Instant::now() + t);
    match check_per_key_inner(history, budget, deadline) {
        CheckResult::Ok | CheckResult::Unknown { .. } => {}
        illegal => return illegal,
    }
    check_whole_search(history, budget, deadline)
}

/// Checks each key's sub-history on its own, plus the cross-key revision facts (see the
/// module docs), with the default [`Budget`].
pub fn check_per_key(history: &History) -> CheckResult {
    check_per_key_with(history, &Budget::default())
}

/// [`check_per_key`] with a budget (steps and memo bytes apply to each key).
pub fn check_per_key_with(history: &History, budget: &Budget) -> CheckResult {
    let deadline = budget.max_time.map(|t| Instant::now() + t);
    check_per_key_inner(history, budget, deadline)
}

fn check_per_key_inner(
    history: &History,
    budget: &Budget,
    deadline: Option<Instant>,
) -> CheckResult {
    if let Err(e) = history.validate() {
        return CheckResult::Illegal {
            explanation: format!("malformed history: {e}"),
        };
    }
    if let Some(explanation) = revision_facts(history) {
        return CheckResult::Illegal { explanation };
    }
    let mut keys: Vec<&str> = history.ops.iter().map(|o| o.op.key()).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut unknown = None;
    for key in keys {
        let compiled = Compiled::new(history, Some(key));
        let scope = format!("key {key:?}, revisions only increasing within the key");
        match search(
            &compiled,
            false,
            history.initial_revision + 1,
            budget,
            deadline,
        ) {
            Outcome::Linearizable => {}
            Outcome::Illegal(f) => {
                return CheckResult::Illegal {
                    explanation: explain(history, &compiled, false, &f, &scope),
                };
            }
            Outcome::OutOfBudget(reason) => {
                unknown.get_or_insert(format!("{scope}: {reason}"));
            }
        }
    }
    match unknown {
        Some(reason) => CheckResult::Unknown { reason },
        None => CheckResult::Ok,
    }
}

/// The whole-history search alone (no per-key pass, no revision facts).
fn check_whole_search(
    history: &History,
    budget: &Budget,
    deadline: Option<Instant>,
) -> CheckResult {
    if let Err(e) = history.validate() {
        return CheckResult::Illegal {
            explanation: format!("malformed history: {e}"),
        };
    }
    let compiled = Compiled::new(history, None);
    let exact = history.revisions == Revisions::Consecutive;
    let scope = match history.revisions {
        Revisions::Consecutive => "whole history, each write takes the previous revision + 1",
        Revisions::Increasing => "whole history, revisions increasing across all keys",
    };
    match search(
        &compiled,
        exact,
        history.initial_revision + 1,
        budget,
        deadline,
    ) {
        Outcome::Linearizable => CheckResult::Ok,
        Outcome::Illegal(f) => CheckResult::Illegal {
            explanation: explain(history, &compiled, exact, &f, scope),
        },
        Outcome::OutOfBudget(reason) => CheckResult::Unknown {
            reason: format!("{scope}: {reason}"),
        },
    }
}

/// Facts about revisions that hold in every linearization, checked without a search.
/// Returns the explanation of the first one broken.
fn revision_facts(h: &History) -> Option<String> {
    let d = |i: usize| describe(i, &h.ops[i]);
    // With consecutive revisions, each write takes one: none can be above this.
    let writes = h
        .ops
        .iter()
        .filter(|o| match &o.ret {
            None => !matches!(o.op, Op::Get { .. }),
            Some(r) => matches!(r.output, Output::Ok { .. }),
        })
        .count();
    let last_possible = h.initial_revision + writes as u64;
    // Revisions observed by each answered call, and who wrote each revision.
    let mut writer: HashMap<Revision, usize> = HashMap::new();
    let mut observed: Vec<(u64, Revision, usize)> = Vec::new();
    for (i, o) in h.ops.iter().enumerate() {
        let Some(ret) = &o.ret else { continue };
        let rev = match ret.output {
            Output::Ok { revision } => {
                if let Some(&j) = writer.get(&revision) {
                    return Some(format!(
                        "revision {revision} was given to two writes:\n  {}\n  {}",
                        d(j),
                        d(i)
                    ));
                }
                writer.insert(revision, i);
                revision
            }
            Output::Found { mod_revision, .. } => mod_revision,
            _ => continue,
        };
        if h.revisions == Revisions::Consecutive && rev > last_possible {
            return Some(format!(
                "{} shows revision {rev}, but the store started at revision {} and only {writes} \
                 writes (with or without reply) were made",
                d(i),
                h.initial_revision
            ));
        }
        if rev <= h.initial_revision {
            return Some(format!(
                "{} shows revision {rev}, but the store was at revision {} when recording \
                 started and the key did not exist",
                d(i),
                h.initial_revision
            ));
        }
        observed.push((ret.at, rev, i));
    }
    // A read of revision r shows what the write of revision r wrote.
    for (i, o) in h.ops.iter().enumerate() {
        let (
            Op::Get { key },
            Some(Returned {
                output:
                    Output::Found {
                        value,
                        mod_revision,
                    },
                ..
            }),
        ) = (&o.op, &o.ret)
        else {
            continue;
        };
        let Some(&w) = writer.get(mod_revision) else {
            continue;
        };
        let matches = match &h.ops[w].op {
            Op::Create { key: k, value: v }
            | Op::Update {
                key: k, value: v, ..
            } => k == key && v == value,
            Op::Delete { .. } | Op::Get { .. } => false,
        };
        if !matches {
            return Some(format!(
                "{} read revision {mod_revision}, which was written by\n  {}",
                d(i),
                d(w)
            ));
        }
    }
    // Real time: whatever returned revision r before a write was invoked forces that write
    // above r.
    observed.sort_unstable();
    let mut writes: Vec<(u64, Revision, usize)> = h
        .ops
        .iter()
        .enumerate()
        .filter_map(|(i, o)| match o.ret {
            Some(Returned {
                output: Output::Ok { revision },
                ..
            }) => Some((o.call, revision, i)),
            _ => None,
        })
        .collect();
    writes.sort_unstable();
    let mut seen = 0;
    let mut max: Option<(Revision, usize)> = None;
    for (call, rev, i) in writes {
        while seen < observed.len() && observed[seen].0 < call {
            let (_, r, j) = observed[seen];
            if max.is_none_or(|(m, _)| r > m) {
                max = Some((r, j));
            }
            seen += 1;
        }
        if let Some((m, j)) = max
            && m >= rev
        {
            return Some(format!(
                "revision went backwards: {}\n  returned revision {m} before\n  {}\n  \
                 was invoked, which got revision {rev}",
                d(j),
                d(i)
            ));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// The model.

/// A key's revision in the model: known, or (a write that never returned took effect with
/// an unknown revision under [`Revisions::Increasing`]) at least some value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Rev {
    Known(Revision),
    AtLeast(Revision),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Entry {
    value: u32,
    rev: Rev,
}

/// The model state: the least revision the next write may take (exactly that revision when
/// revisions are consecutive) and each key's entry (`None`: never written; a deleted key
/// keeps an entry with the value [`GONE`] and the revision of the delete).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct State {
    next: Revision,
    keys: Box<[Option<Entry>]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Get,
    Create,
    Update,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Found { value: u32, rev: Revision },
    NotFound,
    Ok(Revision),
    AlreadyExists,
    Conflict,
}

/// An operation compiled for the search: interned key and value.
#[derive(Debug, Clone, Copy)]
struct COp {
    key: usize,
    kind: Kind,
    value: u32,
    expected: Option<Revision>,
    out: Option<Out>,
    call: u64,
    ret: Option<u64>,
    /// For a call without reply: calls of one class have the same effect on the model, so
    /// the search tries one of each (see [`search`]).
    class: u32,
}

#[derive(Debug, Clone, Copy)]
struct Model<'a> {
    /// Each write takes exactly `next` (consecutive revisions) rather than at least `next`.
    exact: bool,
    /// Revisions that answered writes took: with exact revisions a call without reply
    /// cannot take one of them.
    taken: &'a HashSet<Revision>,
    /// The highest of them (0 if none).
    last_taken: Revision,
}

impl Model<'_> {
    /// The state after `op` with its recorded output, if the model allows it. A call without
    /// reply is stepped as "took effect"; "did not" is the search leaving it out.
    fn step(self, s: &State, op: &COp) -> Option<State> {
        let slot = s.keys[op.key];
        let cur = slot.filter(|e| e.value != GONE);
        let tomb = slot.filter(|e| e.value == GONE).map(|e| e.rev);
        match (op.kind, op.out) {
            (Kind::Get, Some(Out::NotFound))
            | (Kind::Update | Kind::Delete, Some(Out::NotFound)) => {
                cur.is_none().then(|| s.clone())
            }
            (Kind::Get, Some(Out::Found { value, rev })) => {
                let e = cur.filter(|e| e.value == value)?;
                let next = observe(e.rev, rev, s.next)?;
                let mut n = s.clone();
                n.next = next;
                n.keys[op.key] = Some(Entry {
                    value,
                    rev: Rev::Known(rev),
                });
                Some(n)
            }
            (Kind::Create, Some(Out::AlreadyExists)) => cur.is_some().then(|| s.clone()),
            (Kind::Create, out @ (Some(Out::Ok(_)) | None)) => {
                if cur.is_some() {
                    return None;
                }
                self.write(s, op, s.next, tomb, out)
            }
            (Kind::Update | Kind::Delete, Some(Out::Conflict)) => {
                let e = cur?;
                let expected = op.expected?;
                // An unknown revision may differ from the expected one.
                (e.rev != Rev::Known(expected)).then(|| s.clone())
            }
            (Kind::Update | Kind::Delete, out @ (Some(Out::Ok(_)) | None)) => {
                let e = cur?;
                let (next, prev) = match op.expected {
                    None => (s.next, e.rev),
                    Some(expected) => (observe(e.rev, expected, s.next)?, Rev::Known(expected)),
                };
                self.write(s, op, next, Some(prev), out)
            }
            _ => None,
        }
    }

    /// Applies a write (`Create`/`Update` sets the key, `Delete` removes it) over the key's
    /// revision `prev` (of its value, or of its deletion), at the revision the output names.
    /// A call without reply takes the next revision when revisions are exact; otherwise its
    /// revision is only known to be above `prev`, and it leaves `next` alone: then where it
    /// is placed among calls on other keys changes nothing, which lets the search place it
    /// late (see [`search`]).
    fn write(
        self,
        s: &State,
        op: &COp,
        next: Revision,
        prev: Option<Rev>,
        out: Option<Out>,
    ) -> Option<State> {
        let (rev, next) = match out {
            Some(Out::Ok(r)) => {
                let fits = if self.exact { r == next } else { r >= next };
                if !fits {
                    return None;
                }
                (Rev::Known(r), r + 1)
            }
            _ if self.exact && next <= self.last_taken => {
                if self.taken.contains(&next) {
                    return None;
                }
                (Rev::Known(next), next + 1)
            }
            _ => {
                // Past the last answered revision nothing depends on the exact revision of
                // a call without reply but what it can be pinned by, so it is treated as
                // inexact there too (accepting more, never less).
                let above = prev.map_or(0, |r| match r {
                    Rev::Known(r) | Rev::AtLeast(r) => r + 1,
                });
                let after_answered = if self.exact { self.last_taken + 1 } else { 0 };
                (Rev::AtLeast(above.max(after_answered)), next)
            }
        };
        let mut n = s.clone();
        n.next = next;
        let value = if op.kind == Kind::Delete {
            GONE
        } else {
            op.value
        };
        n.keys[op.key] = Some(Entry { value, rev });
        Some(n)
    }
}

/// A key at `rev` is seen at revision `want`: the least next revision afterwards, if
/// possible. Seeing an unknown revision pins it, and every later write is above it.
fn observe(rev: Rev, want: Revision, next: Revision) -> Option<Revision> {
    match rev {
        Rev::Known(r) => (r == want).then_some(next),
        Rev::AtLeast(lo) => (want >= lo).then(|| next.max(want + 1)),
    }
}

/// The value id of a deleted key's entry (which keeps the revision of the delete).
const GONE: u32 = u32::MAX - 1;

/// The value id of a write without reply whose value no read returned: such values are
/// never compared, so all of them are one.
const UNREAD: u32 = u32::MAX;

fn value_of(op: &Op) -> &str {
    match op {
        Op::Create { value, .. } | Op::Update { value, .. } => value,
        Op::Get { .. } | Op::Delete { .. } => "",
    }
}

/// A history (or one key's part of it) compiled for the search.
struct Compiled {
    ops: Vec<COp>,
    /// Index in the history of each compiled op.
    orig: Vec<usize>,
    keys: Vec<String>,
    values: Vec<String>,
    /// Revisions of the answered writes (and of the inferred ones).
    taken: HashSet<Revision>,
}

impl Compiled {
    fn new<'h>(h: &'h History, only_key: Option<&str>) -> Compiled {
        let mut c = Compiled {
            ops: Vec::new(),
            orig: Vec::new(),
            keys: Vec::new(),
            values: Vec::new(),
            taken: HashSet::new(),
        };
        let inferred = infer_unanswered(h);
        // Values read by some answered call; a value nobody read is never compared.
        let read: HashSet<(&str, &str)> = h
            .ops
            .iter()
            .filter_map(|o| match (&o.op, &o.ret.as_ref()?.output) {
                (Op::Get { key }, Output::Found { value, .. }) => {
                    Some((key.as_str(), value.as_str()))
                }
                _ => None,
            })
            .collect();
        let mut classes: HashMap<(usize, Kind, u32, Option<Revision>), u32> = HashMap::new();
        let mut key_ids: HashMap<&str, usize> = HashMap::new();
        let mut value_ids: HashMap<&str, u32> = HashMap::new();
        let mut value = |v: &'h str, values: &mut Vec<String>| -> u32 {
            *value_ids.entry(v).or_insert_with(|| {
                values.push(v.to_string());
                u32::try_from(values.len() - 1).unwrap_or(u32::MAX)
            })
        };
        for (i, o) in h.ops.iter().enumerate() {
            let key = o.op.key();
            if only_key.is_some_and(|k| k != key) {
                continue;
            }
            // A read without reply constrains nothing.
            if o.ret.is_none() && matches!(o.op, Op::Get { .. }) {
                continue;
            }
            let key_id = *key_ids.entry(key).or_insert_with(|| {
                c.keys.push(key.to_string());
                c.keys.len() - 1
            });
            let (kind, v, expected) = match &o.op {
                Op::Get { .. } => (Kind::Get, 0, None),
                Op::Create { value: v, .. } => (Kind::Create, value(v, &mut c.values), None),
                Op::Update {
                    value: v,
                    expected_revision,
                    ..
                } => (Kind::Update, value(v, &mut c.values), *expected_revision),
                Op::Delete {
                    expected_revision, ..
                } => (Kind::Delete, 0, *expected_revision),
            };
            let out = o.ret.as_ref().map(|r| match &r.output {
                Output::Found {
                    value: v,
                    mod_revision,
                } => Out::Found {
                    value: value(v, &mut c.values),
                    rev: *mod_revision,
                },
                Output::NotFound => Out::NotFound,
                Output::Ok { revision } => Out::Ok(*revision),
                Output::AlreadyExists => Out::AlreadyExists,
                Output::Conflict => Out::Conflict,
            });
            let mut op = COp {
                key: key_id,
                kind,
                value: v,
                expected,
                out,
                call: o.call,
                ret: o.ret.as_ref().map(|r| r.at),
                class: u32::MAX,
            };
            if let Some(&(at, revision)) = inferred.get(&i) {
                op.out = Some(Out::Ok(revision));
                op.ret = Some(at);
            }
            if let Some(Out::Ok(revision)) = op.out {
                c.taken.insert(revision);
            }
            if op.ret.is_none() {
                if matches!(o.op, Op::Create { .. } | Op::Update { .. })
                    && !read.contains(&(key, value_of(&o.op)))
                {
                    op.value = UNREAD;
                }
                let n = u32::try_from(classes.len()).unwrap_or(u32::MAX);
                op.class = *classes
                    .entry((op.key, op.kind, op.value, op.expected))
                    .or_insert(n);
            }
            c.ops.push(op);
            c.orig.push(i);
        }
        c
    }
}

/// Writes without reply that a read proves applied: the write is the only one of its value
/// to its key, and a read returned that value at some revision. It took effect before that
/// read returned, at that revision. Knowing this up front spares the search from guessing
/// where (and whether) such a write applied, the main cost of calls without reply.
/// Maps the history index of such a write to (latest time it took effect, its revision).
fn infer_unanswered(h: &History) -> HashMap<usize, (u64, Revision)> {
    let mut writers: HashMap<(&str, &str), (usize, usize)> = HashMap::new();
    for (i, o) in h.ops.iter().enumerate() {
        if let Op::Create { key, value } | Op::Update { key, value, .. } = &o.op {
            writers.entry((key, value)).or_insert((i, 0)).1 += 1;
        }
    }
    let mut inferred: HashMap<usize, (u64, Revision)> = HashMap::new();
    for o in &h.ops {
        let (
            Op::Get { key },
            Some(Returned {
                at,
                output:
                    Output::Found {
                        value,
                        mod_revision,
                    },
            }),
        ) = (&o.op, &o.ret)
        else {
            continue;
        };
        let Some(&(w, 1)) = writers.get(&(key.as_str(), value.as_str())) else {
            continue;
        };
        if h.ops[w].ret.is_some() || *at < h.ops[w].call {
            continue;
        }
        let e = inferred.entry(w).or_insert((*at, *mod_revision));
        if *at < e.0 {
            *e = (*at, *mod_revision);
        }
    }
    inferred
}

// ---------------------------------------------------------------------------------------
// The search.

const NIL: usize = usize::MAX;

/// A call or return in the time-ordered list. Node 0 is the head.
#[derive(Debug, Clone, Copy)]
struct Node {
    prev: usize,
    next: usize,
    op: usize,
    call: bool,
    /// For a call: its return's node, `NIL` for a call without reply.
    ret: usize,
}

fn build_list(ops: &[COp]) -> Vec<Node> {
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        // `false` sorts first: at equal times calls come before returns (the two overlap).
        events.push((op.call, false, i));
        if let Some(at) = op.ret {
            events.push((at, true, i));
        }
    }
    events.sort_unstable();
    let head = Node {
        prev: NIL,
        next: NIL,
        op: NIL,
        call: false,
        ret: NIL,
    };
    let mut nodes = vec![head];
    let mut call_node = vec![NIL; ops.len()];
    for (k, &(_, is_return, i)) in events.iter().enumerate() {
        let idx = k + 1;
        nodes.push(Node {
            prev: idx - 1,
            next: NIL,
            op: i,
            call: !is_return,
            ret: NIL,
        });
        nodes[idx - 1].next = idx;
        if is_return {
            nodes[call_node[i]].ret = idx;
        } else {
            call_node[i] = idx;
        }
    }
    nodes
}

fn unlink(nodes: &mut [Node], x: usize) {
    let Node { prev, next, .. } = nodes[x];
    nodes[prev].next = next;
    if next != NIL {
        nodes[next].prev = prev;
    }
}

fn relink(nodes: &mut [Node], x: usize) {
    let Node { prev, next, .. } = nodes[x];
    nodes[prev].next = x;
    if next != NIL {
        nodes[next].prev = x;
    }
}

fn lift(nodes: &mut [Node], call: usize) {
    unlink(nodes, call);
    if nodes[call].ret != NIL {
        unlink(nodes, nodes[call].ret);
    }
}

fn unlift(nodes: &mut [Node], call: usize) {
    if nodes[call].ret != NIL {
        relink(nodes, nodes[call].ret);
    }
    relink(nodes, call);
}

/// Which candidates a scan of the list tries: answered calls first, then calls without
/// reply (those are tried only where the answered ones cannot go on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Answered,
    Unanswered,
}

/// The deepest point the search reached, for the explanation.
struct Failure {
    /// Compiled ops in linearization order.
    prefix: Vec<usize>,
    state: State,
    /// The answered op that had to be placed next and could not be.
    blocker: usize,
    /// Other ops that could still have been placed before it.
    open: Vec<usize>,
}

enum Outcome {
    Linearizable,
    Illegal(Failure),
    OutOfBudget(String),
}

/// The just-in-time linearization search with memo (see the module docs): answered calls
/// first, in list order; then calls without reply, latest first, one per class, and (where
/// their place does not matter) only on keys an answered candidate is waiting on.
fn search(
    c: &Compiled,
    exact: bool,
    first_revision: Revision,
    budget: &Budget,
    deadline: Option<Instant>,
) -> Outcome {
    let ops = &c.ops;
    let model = Model {
        exact,
        taken: &c.taken,
        last_taken: c.taken.iter().copied().max().unwrap_or(0),
    };
    let mut nodes = build_list(ops);
    let answered = ops.iter().filter(|o| o.ret.is_some()).count();
    let words = ops.len().div_ceil(64).max(1);
    let state_bytes = std::mem::size_of::<State>()
        + c.keys.len() * std::mem::size_of::<Option<Entry>>()
        + words * 8
        + 48;

    let mut memo: HashSet<(Box<[u64]>, State)> = HashSet::new();
    let mut memo_bytes = 0usize;
    let mut bits = vec![0u64; words];
    let mut stack: Vec<(usize, Phase, State)> = Vec::new();
    let mut state = State {
        next: first_revision,
        keys: vec![None; c.keys.len()].into_boxed_slice(),
    };
    let mut remaining = answered;
    let mut best: Option<Failure> = None;
    let mut best_remaining = usize::MAX;
    let mut cursor = nodes[0].next;
    let mut phase = Phase::Answered;
    let mut steps: u64 = 0;
    // Keys of the answered candidates, when calls without reply are tried (inexact only).
    let mut hot = vec![false; c.keys.len()];

    while remaining > 0 {
        if remaining < best_remaining {
            best_remaining = remaining;
            best = Some(snapshot(&nodes, &stack, &state));
        }
        steps += 1;
        if steps > budget.max_steps {
            return Outcome::OutOfBudget(format!(
                "step budget of {} spent with {} of {answered} answered calls placed at best",
                budget.max_steps,
                answered - best_remaining
            ));
        }
        if steps.is_multiple_of(4096) && deadline.is_some_and(|d| Instant::now() >= d) {
            return Outcome::OutOfBudget(format!(
                "time budget spent after {steps} steps with {} of {answered} answered calls \
                 placed at best",
                answered - best_remaining
            ));
        }
        // While an answered call is unplaced its return is in the list, so a forward scan
        // from the head meets a return before the end.
        if phase == Phase::Answered && !nodes[cursor].call {
            // The answered candidates are spent; now the calls without reply, latest first.
            hot_keys(&nodes, ops, &mut hot);
            phase = Phase::Unanswered;
            cursor = nodes[cursor].prev;
            continue;
        }
        if cursor == 0 {
            // Every candidate failed: undo the last placement and try its successor.
            let Some((call, call_phase, prev_state)) = stack.pop() else {
                return match best {
                    Some(f) => Outcome::Illegal(f),
                    None => Outcome::Illegal(snapshot(&nodes, &stack, &state)),
                };
            };
            let op = nodes[call].op;
            bits[op / 64] &= !(1 << (op % 64));
            state = prev_state;
            unlift(&mut nodes, call);
            if ops[op].ret.is_some() {
                remaining += 1;
            }
            phase = call_phase;
            cursor = match phase {
                Phase::Answered => nodes[call].next,
                Phase::Unanswered => {
                    hot_keys(&nodes, ops, &mut hot);
                    nodes[call].prev
                }
            };
            continue;
        }
        let node = nodes[cursor];
        let op = &ops[node.op];
        let wanted = match phase {
            Phase::Answered => op.ret.is_some(),
            // Past the last answered revision (or without exact revisions) a call without
            // reply only matters to calls on its key: try it only where one is waiting.
            Phase::Unanswered => {
                op.ret.is_none()
                    && (hot[op.key] || (exact && state.next <= model.last_taken))
                    && !later_of_class(&nodes, ops, cursor)
            }
        };
        if wanted && let Some(next_state) = model.step(&state, op) {
            bits[node.op / 64] |= 1 << (node.op % 64);
            let key = (bits.clone().into_boxed_slice(), next_state.clone());
            if memo.insert(key) {
                memo_bytes += state_bytes;
                if memo_bytes > budget.max_memo_bytes {
                    return Outcome::OutOfBudget(format!(
                        "memo budget of {} bytes spent after {steps} steps",
                        budget.max_memo_bytes
                    ));
                }
                stack.push((cursor, phase, std::mem::replace(&mut state, next_state)));
                lift(&mut nodes, cursor);
                if op.ret.is_some() {
                    remaining -= 1;
                }
                cursor = nodes[0].next;
                phase = Phase::Answered;
                continue;
            }
            bits[node.op / 64] &= !(1 << (node.op % 64));
        }
        cursor = match phase {
            Phase::Answered => node.next,
            Phase::Unanswered => node.prev,
        };
    }
    Outcome::Linearizable
}

/// Whether a candidate after `call` (in list order) is a call without reply of the same
/// class. Such calls are interchangeable and never expire, so the search tries only the
/// last of them: the trees under the others are the same up to renaming.
fn later_of_class(nodes: &[Node], ops: &[COp], call: usize) -> bool {
    let class = ops[nodes[call].op].class;
    let mut x = nodes[call].next;
    while x != NIL && nodes[x].call {
        let op = &ops[nodes[x].op];
        if op.ret.is_none() && op.class == class {
            return true;
        }
        x = nodes[x].next;
    }
    false
}

/// Marks the keys of the answered calls among the candidates (the calls before the first
/// return).
fn hot_keys(nodes: &[Node], ops: &[COp], hot: &mut [bool]) {
    hot.fill(false);
    let mut x = nodes[0].next;
    while x != NIL && nodes[x].call {
        let op = &ops[nodes[x].op];
        if op.ret.is_some() {
            hot[op.key] = true;
        }
        x = nodes[x].next;
    }
}

fn snapshot(nodes: &[Node], stack: &[(usize, Phase, State)], state: &State) -> Failure {
    let mut open = Vec::new();
    let mut blocker = NIL;
    let mut x = nodes[0].next;
    while x != NIL {
        if !nodes[x].call {
            blocker = nodes[x].op;
            break;
        }
        open.push(nodes[x].op);
        x = nodes[x].next;
    }
    Failure {
        prefix: stack.iter().map(|(n, _, _)| nodes[*n].op).collect(),
        state: state.clone(),
        blocker,
        open,
    }
}

// ---------------------------------------------------------------------------------------
// Explanations.

fn explain(h: &History, c: &Compiled, exact: bool, f: &Failure, scope: &str) -> String {
    const SHOWN: usize = 10;
    let d = |k: usize| describe(c.orig[k], &h.ops[c.orig[k]]);
    let mut s = String::new();
    let _ = writeln!(s, "not linearizable ({scope})");
    if f.blocker == NIL {
        return s;
    }
    let key = c.ops[f.blocker].key;
    let _ = writeln!(s, "cannot place {}", d(f.blocker));
    let _ = writeln!(
        s,
        "  it must take effect before it returns, but no order of the calls open then gives \
         its result"
    );
    let placed_answered = f.prefix.iter().filter(|&&k| c.ops[k].ret.is_some()).count();
    let answered = c.ops.iter().filter(|o| o.ret.is_some()).count();
    let _ = writeln!(
        s,
        "longest linearizable prefix found: {} calls ({placed_answered} of {answered} answered)",
        f.prefix.len()
    );
    let on_key: Vec<usize> = f
        .prefix
        .iter()
        .copied()
        .filter(|&k| c.ops[k].key == key)
        .collect();
    let _ = writeln!(
        s,
        "  its last {} on key {:?}, in linearization order:",
        on_key.len().min(SHOWN),
        c.keys[key]
    );
    for &k in &on_key[on_key.len().saturating_sub(SHOWN)..] {
        let _ = writeln!(s, "    {}", d(k));
    }
    if c.keys.len() > 1 {
        let tail = &f.prefix[f.prefix.len().saturating_sub(3)..];
        let _ = writeln!(s, "  its last {} on any key:", tail.len());
        for &k in tail {
            let _ = writeln!(s, "    {}", d(k));
        }
    }
    let entry = match f.state.keys[key] {
        None => "absent".to_string(),
        Some(Entry { value: GONE, .. }) => "deleted".to_string(),
        Some(Entry { value, rev }) => {
            let rev = match rev {
                Rev::Known(r) => format!("revision {r}"),
                Rev::AtLeast(r) => format!("revision >= {r} (written by a call without reply)"),
            };
            match c.values.get(value as usize) {
                Some(v) => format!("{v:?} at {rev}"),
                None => format!("a value no read returned, at {rev}"),
            }
        }
    };
    let next = if exact { "" } else { ">= " };
    let _ = writeln!(
        s,
        "  model state after it: key {:?} {entry}; the next write takes revision {next}{}",
        c.keys[key], f.state.next
    );
    if !f.open.is_empty() {
        let _ = writeln!(s, "calls open at that point (none fits before it):");
        for &k in f.open.iter().take(SHOWN) {
            let _ = writeln!(s, "    {}", d(k));
        }
        if f.open.len() > SHOWN {
            let _ = writeln!(s, "    … and {} more", f.open.len() - SHOWN);
        }
    }
    s
}

fn describe(index: usize, o: &Operation) -> String {
    match &o.ret {
        Some(r) => format!(
            "#{index} client {} {} -> {} [{} .. {}]",
            o.client,
            o.op,
            r.output,
            ms(o.call),
            ms(r.at)
        ),
        None => format!(
            "#{index} client {} {} -> no reply [{} ..]",
            o.client,
            o.op,
            ms(o.call)
        ),
    }
}

fn ms(ns: u64) -> String {
    format!("{}.{:06}ms", ns / 1_000_000, ns % 1_000_000)
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cond = |e: &Option<Revision>| match e {
            Some(r) => format!(" if at revision {r}"),
            None => String::new(),
        };
        match self {
            Op::Get { key } => write!(f, "Get {key:?}"),
            Op::Create { key, value } => write!(f, "Create {key:?} = {value:?}"),
            Op::Update {
                key,
                value,
                expected_revision,
            } => write!(f, "Update {key:?} = {value:?}{}", cond(expected_revision)),
            Op::Delete {
                key,
                expected_revision,
            } => write!(f, "Delete {key:?}{}", cond(expected_revision)),
        }
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Found {
                value,
                mod_revision,
            } => write!(f, "Found {value:?} at revision {mod_revision}"),
            Output::NotFound => f.write_str("NotFound"),
            Output::Ok { revision } => write!(f, "Ok at revision {revision}"),
            Output::AlreadyExists => f.write_str("AlreadyExists"),
            Output::Conflict => f.write_str("Conflict"),
        }
    }
}

#[cfg(test)]
mod tests;
