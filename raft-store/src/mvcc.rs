//! The versioned key/value store that every replica applies the log to.
//!
//! Pure: no I/O, no clock, no locks. Every write that succeeds takes the next cluster-wide
//! revision; the revision becomes the object's `resourceVersion`. A window of recent events
//! (bounded by [`Mvcc::max_events`] and by explicit compaction) serves watches and lists at
//! older revisions.
//!
//! Transactions ([`Txn`]): several puts, deletes and checks, each with its own
//! [`Precondition`], applied together or not at all, as one command (one log entry). As in
//! etcd's `Txn`, every write of a transaction shares one revision (each written key's
//! `mod_revision` is that revision) and the transaction's events sit together in the window:
//! a watcher reading it with [`Mvcc::events_after`] gets all of them or none.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A cluster-wide revision. 0 means "nothing written yet".
pub type Revision = u64;

/// One stored value with its revisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision of the write that created the key.
    pub create_revision: Revision,
    /// Revision of the last write to the key (its `resourceVersion`).
    pub mod_revision: Revision,
}

/// What must hold for a write to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precondition {
    /// The key must not exist (create).
    Absent,
    /// The key must exist, at any revision (unconditional update or delete).
    Exists,
    /// The key must exist at exactly this revision (optimistic concurrency).
    Revision(Revision),
}

/// A state-machine command: the `D` of the Raft log, encoded with postcard.
///
/// Log format: postcard encodes a variant by its position, and the logs of existing data
/// directories hold the first five variants, so variants are only ever added at the end and
/// none is removed or reordered (`tests/txn.rs` decodes entries encoded by the code before
/// [`Command::Txn`] and applies them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Put {
        key: String,
        value: Bytes,
        precondition: Precondition,
    },
    Delete {
        key: String,
        precondition: Precondition,
    },
    /// Forget history at and below `revision` (watches and lists from there get `Compacted`).
    Compact { revision: Revision },
    /// Independent commands proposed together as one log entry (one fsync); each is applied
    /// in order with its own revision and its own outcome, as if proposed alone. Not a
    /// transaction: some may apply and others not (that is [`Command::Txn`]).
    Batch(Vec<Command>),
    /// Legacy, kept so that logs written before [`Command::Txn`] still decode and apply:
    /// `cmd` only if `guard_key` is still at `guard_revision`. Applied as the transaction
    /// `[Op::Check { guard_key, Revision(guard_revision) }, cmd]` (the same state and
    /// revisions as the code that wrote it; the outcome is a [`TxnOutcome`]). New code
    /// proposes that transaction instead.
    Guarded {
        guard_key: String,
        guard_revision: Revision,
        cmd: Box<Command>,
    },
    /// An all-or-nothing transaction (see [`Txn`]); its outcome is [`Outcome::Txn`].
    Txn(Txn),
}

impl Command {
    /// Bytes of keys and values the command carries (what sizes a log entry).
    pub fn approx_bytes(&self) -> usize {
        match self {
            Command::Put { key, value, .. } => key.len() + value.len(),
            Command::Delete { key, .. } => key.len(),
            Command::Compact { .. } => 8,
            Command::Batch(cmds) => cmds.iter().map(Command::approx_bytes).sum(),
            Command::Guarded { guard_key, cmd, .. } => guard_key.len() + cmd.approx_bytes(),
            Command::Txn(txn) => txn.approx_bytes(),
        }
    }
}

/// Operations in one transaction at most. Past it, [`Txn::new`] refuses the transaction
/// (`TxnError::TooManyOps`), and one that reaches the state machine anyway (decoded from the
/// wire unchecked) is answered [`TxnOutcome::Invalid`] with nothing applied. A transaction's
/// events are never split, so the event window may hold up to this many events beyond
/// [`Mvcc::max_events`], and [`Mvcc::events_after`] may return up to this many beyond its
/// `limit`. An object with its allocations (a Service: the object, its cluster IPs, node
/// ports old and new, a namespace check) is far below it.
pub const MAX_TXN_OPS: usize = 1_024;

/// Bytes of keys and values in one transaction at most (the batcher's bound on one log
/// entry, far below the log's record limit and the transport's frame limit); past it the
/// transaction is refused as with [`MAX_TXN_OPS`] (`TxnError::TooLarge`).
pub const MAX_TXN_BYTES: usize = 8 << 20;

/// One operation of a [`Txn`]. Its precondition is checked against the store as it was
/// before the transaction, whatever the other operations write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Write `value` at `key`.
    Put {
        key: String,
        value: Bytes,
        precondition: Precondition,
    },
    /// Remove `key`; it must exist (with `Precondition::Absent` the transaction always
    /// fails: `NotFound` if the key is absent, `AlreadyExists` if present).
    Delete {
        key: String,
        precondition: Precondition,
    },
    /// Write nothing: only require `key` to be as `precondition` says. With
    /// `Precondition::Revision(r)`, "key K is still at revision R": a fence (a namespace
    /// unchanged since it was checked, a shard owner's epoch).
    Check {
        key: String,
        precondition: Precondition,
    },
}

impl Op {
    pub fn put(key: impl Into<String>, value: Bytes, precondition: Precondition) -> Op {
        Op::Put {
            key: key.into(),
            value,
            precondition,
        }
    }

    pub fn delete(key: impl Into<String>, precondition: Precondition) -> Op {
        Op::Delete {
            key: key.into(),
            precondition,
        }
    }

    pub fn check(key: impl Into<String>, precondition: Precondition) -> Op {
        Op::Check {
            key: key.into(),
            precondition,
        }
    }

    /// "`key` is at exactly `revision`", writing nothing.
    pub fn check_revision(key: impl Into<String>, revision: Revision) -> Op {
        Op::check(key, Precondition::Revision(revision))
    }

    pub fn key(&self) -> &str {
        match self {
            Op::Put { key, .. } | Op::Delete { key, .. } | Op::Check { key, .. } => key,
        }
    }

    pub fn precondition(&self) -> Precondition {
        match self {
            Op::Put { precondition, .. }
            | Op::Delete { precondition, .. }
            | Op::Check { precondition, .. } => *precondition,
        }
    }

    /// Whether the operation changes the store (a put or a delete).
    pub fn writes(&self) -> bool {
        !matches!(self, Op::Check { .. })
    }

    fn approx_bytes(&self) -> usize {
        match self {
            Op::Put { key, value, .. } => key.len() + value.len(),
            Op::Delete { key, .. } | Op::Check { key, .. } => key.len(),
        }
    }
}

/// Why a transaction is refused before any precondition is looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum TxnError {
    #[error("a transaction holds at most {max} operations; this one holds {ops}")]
    TooManyOps { ops: usize, max: usize },
    #[error("a transaction carries at most {max} bytes of keys and values; this one {bytes}")]
    TooLarge { bytes: usize, max: usize },
    /// Two puts or deletes of one key (it would need two values at one revision). Checks
    /// may name any key, written or not, any number of times.
    #[error("key {key:?} is written more than once in one transaction")]
    DuplicateWrite { key: String },
}

/// An all-or-nothing transaction: every operation's precondition is checked against the
/// store as it is before the transaction; if all hold, every put and delete is applied at
/// one new revision (none when the transaction only checks), else nothing is, and the
/// outcome names the first operation, in order, whose precondition failed.
///
/// Built by [`Txn::new`], which enforces [`MAX_TXN_OPS`], [`MAX_TXN_BYTES`] and one write
/// per key; the state machine checks them again on what it decodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    ops: Vec<Op>,
}

impl Txn {
    pub fn new(ops: Vec<Op>) -> Result<Txn, TxnError> {
        let txn = Txn { ops };
        txn.validate()?;
        Ok(txn)
    }

    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    pub fn into_ops(self) -> Vec<Op> {
        self.ops
    }

    /// Checks the limits and that no key is written twice.
    pub fn validate(&self) -> Result<(), TxnError> {
        if self.ops.len() > MAX_TXN_OPS {
            return Err(TxnError::TooManyOps {
                ops: self.ops.len(),
                max: MAX_TXN_OPS,
            });
        }
        let bytes = self.approx_bytes();
        if bytes > MAX_TXN_BYTES {
            return Err(TxnError::TooLarge {
                bytes,
                max: MAX_TXN_BYTES,
            });
        }
        let mut written = std::collections::BTreeSet::new();
        for op in self.ops.iter().filter(|op| op.writes()) {
            if !written.insert(op.key()) {
                return Err(TxnError::DuplicateWrite {
                    key: op.key().to_string(),
                });
            }
        }
        Ok(())
    }

    pub fn approx_bytes(&self) -> usize {
        self.ops.iter().map(Op::approx_bytes).sum()
    }
}

impl From<Txn> for Command {
    fn from(txn: Txn) -> Command {
        Command::Txn(txn)
    }
}

/// A precondition that did not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Failure {
    /// `Precondition::Absent` failed: the key exists.
    AlreadyExists { current: KeyValue },
    /// `Precondition::Exists` or `Revision` failed (or a delete found nothing): no such key.
    NotFound,
    /// `Precondition::Revision` failed: the key is at another revision.
    Conflict { current: KeyValue },
}

impl From<Failure> for Outcome {
    fn from(f: Failure) -> Outcome {
        match f {
            Failure::AlreadyExists { current } => Outcome::AlreadyExists { current },
            Failure::NotFound => Outcome::NotFound,
            Failure::Conflict { current } => Outcome::Conflict { current },
        }
    }
}

/// What one operation of a committed transaction did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpResult {
    /// Put: the new value. Delete: the deleted value with `mod_revision` set to the
    /// transaction's revision. Check: the key's value as checked (before the transaction).
    pub kv: Option<KeyValue>,
    /// Put and delete: the value before. Check: `None`.
    pub prev: Option<KeyValue>,
}

/// The outcome of a [`Command::Txn`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOutcome {
    /// Every precondition held and every write applied at `revision` (the store's current
    /// revision when the transaction only checked). `results[i]` is what `ops[i]` did.
    Committed {
        revision: Revision,
        results: Vec<OpResult>,
    },
    /// The precondition of `ops[op]` (on `key`) failed, the first to fail in order;
    /// nothing was applied.
    Failed {
        op: usize,
        key: String,
        failure: Failure,
    },
    /// The transaction breaks a limit of [`Txn::validate`]; nothing was applied.
    Invalid(TxnError),
}

/// The result of applying one command: the `R` of the Raft log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Applied. `kv` is the new value (for a delete: the deleted value, with `mod_revision` set
    /// to the delete's revision); `prev` the value before.
    Done {
        revision: Revision,
        kv: Option<KeyValue>,
        prev: Option<KeyValue>,
    },
    /// `Precondition::Absent` failed: the key exists.
    AlreadyExists { current: KeyValue },
    /// `Precondition::Exists` or `Revision` failed: no such key.
    NotFound,
    /// `Precondition::Revision` failed: the key is at another revision.
    Conflict { current: KeyValue },
    /// A compaction below the current compact revision, or above the head; nothing changed.
    CompactRejected {
        compact_revision: Revision,
        revision: Revision,
    },
    /// Non-data entries (blank, membership).
    Empty,
    /// Outcomes of a `Command::Batch`, in order.
    Batch(Vec<Outcome>),
    /// The outcome of a `Command::Txn` (or a legacy `Command::Guarded`).
    Txn(TxnOutcome),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change, as watchers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub revision: Revision,
    pub kind: EventKind,
    /// For `Put`: the new value. For `Delete`: the last value, `mod_revision` = the delete.
    pub kv: KeyValue,
    /// The value before this change, if any.
    pub prev: Option<KeyValue>,
}

/// The requested revision is older than what the store retains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("revision {requested} has been compacted; oldest retained is {compact_revision}")]
pub struct Compacted {
    pub requested: Revision,
    pub compact_revision: Revision,
}

/// A page of a range read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<KeyValue>,
    /// The revision the page was read at.
    pub revision: Revision,
    /// Keys remain after the last item.
    pub more: bool,
    /// Number of keys after this page when `more`, if at most [`COUNT_CAP`] (else unknown).
    pub remaining: Option<u64>,
}

/// Keys counted after a page to report how many remain; past it the count is left unknown
/// (Kubernetes' `remainingItemCount` is optional) so a small page of a huge list stays cheap.
pub const COUNT_CAP: usize = 10_000;

/// Serialised form of the whole store, the body of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MvccSnapshot {
    pub revision: Revision,
    pub compact_revision: Revision,
    pub kvs: Vec<KeyValue>,
}

/// Default bound on the retained event window. Past it, the oldest events are compacted
/// away (deterministically, since every replica applies the same log) and a watch that
/// falls that far behind gets `Compacted` (HTTP 410) and must relist.
pub const DEFAULT_MAX_EVENTS: usize = 200_000;

/// Bound on the bytes of values (new and previous) held by the event window, whatever the
/// count; past it the oldest events are compacted away as with [`DEFAULT_MAX_EVENTS`].
/// Part of the constant that memory is bounded by beside the live data: 600 updates of a
/// 900 kB object kept 512 MiB of old versions at the earlier bound. At 64 MiB the window
/// holds about 100,000 small-object writes (seconds of history at full write rate, far
/// more at normal rates); a watch further behind gets 410 and relists.
pub const MAX_EVENT_BYTES: u64 = 64 << 20;

fn event_bytes(e: &Event) -> u64 {
    (e.kv.value.len() + e.prev.as_ref().map_or(0, |p| p.value.len())) as u64
}

/// The store.
#[derive(Debug, Clone)]
pub struct Mvcc {
    revision: Revision,
    compact_revision: Revision,
    kvs: BTreeMap<String, KeyValue>,
    /// Events with revision > `compact_revision`, revisions non-decreasing (the events of
    /// one transaction share its revision, in the order of its operations).
    events: VecDeque<Event>,
    max_events: usize,
    value_bytes: u64,
    /// Bytes of values held by `events` (see [`MAX_EVENT_BYTES`]).
    event_bytes: u64,
}

impl Default for Mvcc {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_EVENTS)
    }
}

impl Mvcc {
    pub fn new(max_events: usize) -> Self {
        Self {
            revision: 0,
            compact_revision: 0,
            kvs: BTreeMap::new(),
            events: VecDeque::new(),
            max_events: max_events.max(1),
            value_bytes: 0,
            event_bytes: 0,
        }
    }

    pub fn revision(&self) -> Revision {
        self.revision
    }

    pub fn compact_revision(&self) -> Revision {
        self.compact_revision
    }

    pub fn max_events(&self) -> usize {
        self.max_events
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.kvs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kvs.is_empty()
    }

    /// Total bytes of live values.
    pub fn value_bytes(&self) -> u64 {
        self.value_bytes
    }

    /// Number of retained events.
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    pub fn get(&self, key: &str) -> Option<&KeyValue> {
        self.kvs.get(key)
    }

    /// Applies one command. Deterministic: the same commands in the same order give the
    /// same state and outcomes on every replica.
    pub fn apply(&mut self, cmd: Command) -> Outcome {
        match cmd {
            Command::Put {
                key,
                value,
                precondition,
            } => self.put(key, value, precondition),
            Command::Delete { key, precondition } => self.delete(key, precondition),
            Command::Compact { revision } => self.compact(revision),
            Command::Batch(cmds) => {
                Outcome::Batch(cmds.into_iter().map(|c| self.apply(c)).collect())
            }
            Command::Guarded {
                guard_key,
                guard_revision,
                cmd,
            } => self.guarded(guard_key, guard_revision, *cmd),
            Command::Txn(txn) => Outcome::Txn(self.txn(txn)),
        }
    }

    /// A legacy `Guarded` entry: a put or delete (all the old code proposed) becomes the
    /// transaction `[check guard, cmd]`; anything else keeps the old meaning (the command
    /// alone, applied only while the guard holds).
    fn guarded(&mut self, guard_key: String, guard_revision: Revision, cmd: Command) -> Outcome {
        let guard = Op::check_revision(guard_key, guard_revision);
        let op = match cmd {
            Command::Put {
                key,
                value,
                precondition,
            } => Op::put(key, value, precondition),
            Command::Delete { key, precondition } => Op::delete(key, precondition),
            other => {
                return match self.check(guard.key(), guard.precondition()) {
                    Ok(_) => self.apply(other),
                    Err(failure) => Outcome::Txn(TxnOutcome::Failed {
                        op: 0,
                        key: guard.key().to_string(),
                        failure,
                    }),
                };
            }
        };
        Outcome::Txn(self.txn(Txn {
            ops: vec![guard, op],
        }))
    }

    fn check(&self, key: &str, pre: Precondition) -> Result<Option<&KeyValue>, Failure> {
        let current = self.kvs.get(key);
        match (pre, current) {
            (Precondition::Absent, Some(kv)) => Err(Failure::AlreadyExists {
                current: kv.clone(),
            }),
            (Precondition::Absent, None) => Ok(None),
            (Precondition::Exists | Precondition::Revision(_), None) => Err(Failure::NotFound),
            (Precondition::Revision(rev), Some(kv)) if kv.mod_revision != rev => {
                Err(Failure::Conflict {
                    current: kv.clone(),
                })
            }
            (_, Some(kv)) => Ok(Some(kv)),
        }
    }

    fn put(&mut self, key: String, value: Bytes, pre: Precondition) -> Outcome {
        let prev = match self.check(&key, pre) {
            Ok(prev) => prev.cloned(),
            Err(failure) => return failure.into(),
        };
        self.revision += 1;
        let r = self.write_put(key, value, prev);
        self.trim();
        Outcome::Done {
            revision: self.revision,
            kv: r.kv,
            prev: r.prev,
        }
    }

    fn delete(&mut self, key: String, pre: Precondition) -> Outcome {
        match self.check(&key, pre) {
            Err(failure) => return failure.into(),
            Ok(None) => return Outcome::NotFound,
            Ok(Some(_)) => {}
        }
        self.revision += 1;
        let r = self.write_delete(&key);
        self.trim();
        Outcome::Done {
            revision: self.revision,
            kv: r.kv,
            prev: r.prev,
        }
    }

    /// Checks every precondition against the state before the transaction, then applies
    /// every write at one new revision — or nothing.
    fn txn(&mut self, txn: Txn) -> TxnOutcome {
        if let Err(e) = txn.validate() {
            return TxnOutcome::Invalid(e);
        }
        let mut checked = Vec::with_capacity(txn.ops.len());
        for (i, op) in txn.ops.iter().enumerate() {
            let current = match self.check(op.key(), op.precondition()) {
                // A delete needs something to delete (`Absent` passed: nothing there).
                Ok(None) if matches!(op, Op::Delete { .. }) => Err(Failure::NotFound),
                other => other,
            };
            match current {
                Ok(current) => checked.push(current.cloned()),
                Err(failure) => {
                    return TxnOutcome::Failed {
                        op: i,
                        key: op.key().to_string(),
                        failure,
                    };
                }
            }
        }
        if txn.ops.iter().any(Op::writes) {
            self.revision += 1;
        }
        let results = txn
            .ops
            .into_iter()
            .zip(checked)
            .map(|(op, current)| match op {
                Op::Put { key, value, .. } => self.write_put(key, value, current),
                Op::Delete { key, .. } => self.write_delete(&key),
                Op::Check { .. } => OpResult {
                    kv: current,
                    prev: None,
                },
            })
            .collect();
        self.trim();
        TxnOutcome::Committed {
            revision: self.revision,
            results,
        }
    }

    /// Writes `value` at `key` at the current revision (already taken by the caller).
    fn write_put(&mut self, key: String, value: Bytes, prev: Option<KeyValue>) -> OpResult {
        let kv = KeyValue {
            key: key.clone(),
            value,
            create_revision: prev.as_ref().map_or(self.revision, |p| p.create_revision),
            mod_revision: self.revision,
        };
        self.value_bytes += kv.value.len() as u64;
        if let Some(p) = &prev {
            self.value_bytes -= p.value.len() as u64;
        }
        self.kvs.insert(key, kv.clone());
        self.record(Event {
            revision: self.revision,
            kind: EventKind::Put,
            kv: kv.clone(),
            prev: prev.clone(),
        });
        OpResult { kv: Some(kv), prev }
    }

    /// Removes `key` (present: checked by the caller) at the current revision.
    fn write_delete(&mut self, key: &str) -> OpResult {
        let Some(prev) = self.kvs.remove(key) else {
            return OpResult {
                kv: None,
                prev: None,
            };
        };
        self.value_bytes -= prev.value.len() as u64;
        let tomb = KeyValue {
            mod_revision: self.revision,
            ..prev.clone()
        };
        self.record(Event {
            revision: self.revision,
            kind: EventKind::Delete,
            kv: tomb.clone(),
            prev: Some(prev.clone()),
        });
        OpResult {
            kv: Some(tomb),
            prev: Some(prev),
        }
    }

    fn compact(&mut self, revision: Revision) -> Outcome {
        if revision < self.compact_revision || revision > self.revision {
            return Outcome::CompactRejected {
                compact_revision: self.compact_revision,
                revision: self.revision,
            };
        }
        while self.events.front().is_some_and(|e| e.revision <= revision) {
            if let Some(old) = self.events.pop_front() {
                self.event_bytes -= event_bytes(&old);
            }
        }
        self.compact_revision = revision;
        Outcome::Done {
            revision: self.revision,
            kv: None,
            prev: None,
        }
    }

    fn record(&mut self, event: Event) {
        self.event_bytes += event_bytes(&event);
        self.events.push_back(event);
    }

    /// Past either bound of the window, the oldest revision's events go (all of them: a
    /// transaction's events are never split) and the compact revision follows. The newest
    /// revision always stays, so the window may exceed its bounds by one transaction.
    fn trim(&mut self) {
        while self.events.len() > self.max_events || self.event_bytes > MAX_EVENT_BYTES {
            let Some(oldest) = self.events.front().map(|e| e.revision) else {
                return;
            };
            if oldest >= self.revision {
                return;
            }
            while self.events.front().is_some_and(|e| e.revision == oldest) {
                if let Some(old) = self.events.pop_front() {
                    self.event_bytes -= event_bytes(&old);
                }
            }
            self.compact_revision = oldest;
        }
    }

    /// Events after `after` (exclusive) whose key starts with `prefix`, at most `limit` —
    /// or more, up to the end of the revision the limit was reached in, so the events of a
    /// transaction are returned together (at most [`MAX_TXN_OPS`] beyond `limit`).
    /// Returns the events and the revision up to which the window was scanned (so a watcher
    /// that filtered everything out can still advance); every event of that revision has
    /// been scanned.
    pub fn events_after(
        &self,
        after: Revision,
        prefix: &str,
        limit: usize,
    ) -> Result<(Vec<Event>, Revision), Compacted> {
        if after < self.compact_revision {
            return Err(Compacted {
                requested: after,
                compact_revision: self.compact_revision,
            });
        }
        let start = self.events.partition_point(|e| e.revision <= after);
        let mut out = Vec::new();
        let mut scanned = after.max(self.compact_revision);
        for e in self.events.range(start..) {
            // Stop at the limit, but only between revisions: a transaction's events go
            // together (a caller resumes after `scanned` and would skip the rest).
            if out.len() >= limit && e.revision != scanned {
                break;
            }
            scanned = e.revision;
            if e.kv.key.starts_with(prefix) {
                out.push(e.clone());
            }
        }
        if out.len() < limit {
            scanned = self.revision.max(scanned);
        }
        Ok((out, scanned))
    }

    /// Reads up to `limit` keys with `prefix`, strictly after `start_after`, as they were at
    /// `at` (`None`: the current revision).
    pub fn range(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: Option<usize>,
        at: Option<Revision>,
    ) -> Result<Page, Compacted> {
        self.range_counted(prefix, start_after, limit, at, true)
    }

    /// [`Mvcc::range`], counting the remaining keys only when `count` is set.
    pub fn range_counted(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: Option<usize>,
        at: Option<Revision>,
        count: bool,
    ) -> Result<Page, Compacted> {
        let at = at.unwrap_or(self.revision).min(self.revision);
        if at < self.compact_revision && at < self.revision {
            return Err(Compacted {
                requested: at,
                compact_revision: self.compact_revision,
            });
        }
        let lower = match start_after {
            Some(k) if k >= prefix => Bound::Excluded(k.to_string()),
            _ => Bound::Included(prefix.to_string()),
        };
        let after_lower = |k: &str| match &lower {
            Bound::Excluded(s) => k > s.as_str(),
            Bound::Included(s) => k >= s.as_str(),
            Bound::Unbounded => true,
        };
        // Keys changed after `at`: their value at `at` is the `prev` of their first change
        // after `at` (None: the key did not exist then).
        let mut rolled: BTreeMap<&str, Option<&KeyValue>> = BTreeMap::new();
        if at < self.revision {
            let start = self.events.partition_point(|e| e.revision <= at);
            for e in self.events.range(start..) {
                let k = e.kv.key.as_str();
                if k.starts_with(prefix) && after_lower(k) {
                    rolled.entry(k).or_insert(e.prev.as_ref());
                }
            }
        }
        // Merge the current keys with the rolled-back ones, in key order, lazily: a page
        // costs its size plus the changes since `at`, not the size of the prefix.
        let mut cur = self
            .kvs
            .range::<String, _>((lower.clone(), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v))
            .peekable();
        let mut old = rolled.into_iter().peekable();
        let mut next = move || -> Option<Option<&KeyValue>> {
            let take_old = match (cur.peek(), old.peek()) {
                (None, None) => return None,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some((a, _)), Some((b, _))) => {
                    if a == b {
                        cur.next();
                        true
                    } else {
                        b < a
                    }
                }
            };
            Some(if take_old {
                old.next().and_then(|(_, v)| v)
            } else {
                cur.next().map(|(_, v)| v)
            })
        };
        let limit = limit.unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut more = false;
        while let Some(v) = next() {
            let Some(kv) = v else { continue };
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(kv.clone());
        }
        let mut remaining = Some(u64::from(more));
        if more && !count {
            remaining = None;
        } else if more {
            let mut n = 1u64;
            while let Some(v) = next() {
                if v.is_some() {
                    n += 1;
                    if n as usize > COUNT_CAP {
                        break;
                    }
                }
            }
            remaining = (n as usize <= COUNT_CAP).then_some(n);
        }
        Ok(Page {
            items,
            revision: at,
            more,
            remaining,
        })
    }

    pub fn to_snapshot(&self) -> MvccSnapshot {
        MvccSnapshot {
            revision: self.revision,
            compact_revision: self.revision,
            kvs: self.kvs.values().cloned().collect(),
        }
    }

    /// Replaces the state with a snapshot. History before the snapshot is gone: watches from
    /// older revisions get `Compacted`.
    pub fn restore(&mut self, snap: MvccSnapshot) {
        self.revision = snap.revision;
        self.compact_revision = snap.revision;
        self.events.clear();
        self.event_bytes = 0;
        self.value_bytes = snap.kvs.iter().map(|kv| kv.value.len() as u64).sum();
        self.kvs = snap
            .kvs
            .into_iter()
            .map(|kv| (kv.key.clone(), kv))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, v: &str, pre: Precondition) -> Command {
        Command::Put {
            key: key.into(),
            value: Bytes::from(v.to_string()),
            precondition: pre,
        }
    }

    #[test]
    fn create_update_delete_with_preconditions() {
        let mut s = Mvcc::default();
        assert!(matches!(
            s.apply(put("a", "1", Precondition::Absent)),
            Outcome::Done { revision: 1, .. }
        ));
        assert!(matches!(
            s.apply(put("a", "2", Precondition::Absent)),
            Outcome::AlreadyExists { .. }
        ));
        assert!(matches!(
            s.apply(put("a", "2", Precondition::Revision(7))),
            Outcome::Conflict { .. }
        ));
        assert!(matches!(
            s.apply(put("b", "2", Precondition::Exists)),
            Outcome::NotFound
        ));
        assert!(matches!(
            s.apply(put("a", "2", Precondition::Revision(1))),
            Outcome::Done { revision: 2, .. }
        ));
        let kv = s.get("a").unwrap();
        assert_eq!((kv.create_revision, kv.mod_revision), (1, 2));
        assert!(matches!(
            s.apply(Command::Delete {
                key: "a".into(),
                precondition: Precondition::Revision(1)
            }),
            Outcome::Conflict { .. }
        ));
        assert!(matches!(
            s.apply(Command::Delete {
                key: "a".into(),
                precondition: Precondition::Exists
            }),
            Outcome::Done { revision: 3, .. }
        ));
        assert_eq!(s.revision(), 3);
        assert!(s.is_empty());
        assert_eq!(s.value_bytes(), 0);
    }

    #[test]
    fn range_at_old_revision_and_pagination() {
        let mut s = Mvcc::default();
        for i in 0..5 {
            s.apply(put(&format!("p/{i}"), "v1", Precondition::Absent));
        }
        s.apply(put("q/x", "other", Precondition::Absent));
        let at = s.revision();
        s.apply(put("p/1", "v2", Precondition::Exists));
        s.apply(Command::Delete {
            key: "p/2".into(),
            precondition: Precondition::Exists,
        });
        s.apply(put("p/9", "new", Precondition::Absent));

        let now = s.range("p/", None, None, None).unwrap();
        assert_eq!(now.items.len(), 5);
        let old = s.range("p/", None, None, Some(at)).unwrap();
        let keys: Vec<_> = old.items.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["p/0", "p/1", "p/2", "p/3", "p/4"]);
        assert_eq!(old.items[1].value, Bytes::from("v1"));

        let p1 = s.range("p/", None, Some(2), Some(at)).unwrap();
        assert!(p1.more);
        assert_eq!(p1.remaining, Some(3));
        let p2 = s
            .range("p/", Some(&p1.items[1].key), Some(10), Some(at))
            .unwrap();
        assert_eq!(p2.items.len(), 3);
        assert!(!p2.more);
    }

    #[test]
    fn watch_window_and_compaction() {
        let mut s = Mvcc::new(3);
        for i in 0..5 {
            s.apply(put(&format!("k{i}"), "v", Precondition::Absent));
        }
        // Only 3 events retained: revisions 3, 4, 5; compact revision is 2.
        assert_eq!(s.compact_revision(), 2);
        assert!(s.events_after(1, "", 10).is_err());
        let (ev, upto) = s.events_after(2, "", 10).unwrap();
        assert_eq!(ev.iter().map(|e| e.revision).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(upto, 5);
        let (ev, upto) = s.events_after(3, "k4", 10).unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(upto, 5);
        assert!(matches!(
            s.apply(Command::Compact { revision: 4 }),
            Outcome::Done { .. }
        ));
        assert!(s.events_after(3, "", 10).is_err());
        assert!(s.range("", None, None, Some(3)).is_err());
        assert!(matches!(
            s.apply(Command::Compact { revision: 1 }),
            Outcome::CompactRejected { .. }
        ));
    }

    #[test]
    fn batch_applies_each_command_alone() {
        let mut s = Mvcc::default();
        let out = s.apply(Command::Batch(vec![
            put("a", "1", Precondition::Absent),
            put("a", "2", Precondition::Absent),
            put("b", "1", Precondition::Absent),
        ]));
        let Outcome::Batch(outs) = out else {
            panic!("{out:?}")
        };
        assert!(matches!(outs[0], Outcome::Done { revision: 1, .. }));
        assert!(matches!(outs[1], Outcome::AlreadyExists { .. }));
        assert!(matches!(outs[2], Outcome::Done { revision: 2, .. }));
    }

    #[test]
    fn guarded_commands_apply_only_while_the_guard_holds() {
        let mut s = Mvcc::default();
        s.apply(put("ns/a", "1", Precondition::Absent));
        let guarded = |rev| Command::Guarded {
            guard_key: "ns/a".into(),
            guard_revision: rev,
            cmd: Box::new(put("obj/x", "1", Precondition::Absent)),
        };
        assert!(matches!(
            s.apply(guarded(9)),
            Outcome::Txn(TxnOutcome::Failed {
                op: 0,
                failure: Failure::Conflict { .. },
                ..
            })
        ));
        assert!(s.get("obj/x").is_none());
        assert_eq!(s.revision(), 1);
        assert!(matches!(
            s.apply(guarded(1)),
            Outcome::Txn(TxnOutcome::Committed { revision: 2, .. })
        ));
        assert_eq!(s.get("obj/x").map(|kv| kv.mod_revision), Some(2));
        // The inner command's own precondition still counts.
        assert!(matches!(
            s.apply(guarded(1)),
            Outcome::Txn(TxnOutcome::Failed {
                op: 1,
                failure: Failure::AlreadyExists { .. },
                ..
            })
        ));
    }

    fn bv(v: &str) -> Bytes {
        Bytes::from(v.to_string())
    }

    #[test]
    fn a_failed_precondition_applies_nothing() {
        let mut s = Mvcc::default();
        s.apply(put("a", "1", Precondition::Absent));
        s.apply(put("b", "1", Precondition::Absent));
        let (events_before, _) = s.events_after(0, "", 100).unwrap();
        let txn = Txn::new(vec![
            Op::put("c", bv("1"), Precondition::Absent),
            Op::delete("b", Precondition::Exists),
            Op::put("a", bv("2"), Precondition::Revision(7)),
            Op::put("b", bv("x"), Precondition::Absent),
        ]);
        // b is written twice: refused before anything is looked at.
        assert_eq!(txn, Err(TxnError::DuplicateWrite { key: "b".into() }));
        let txn = Txn::new(vec![
            Op::put("c", bv("1"), Precondition::Absent),
            Op::delete("b", Precondition::Exists),
            Op::put("a", bv("2"), Precondition::Revision(7)),
            Op::check("z", Precondition::Exists),
        ])
        .unwrap();
        let out = s.apply(txn.into());
        let Outcome::Txn(TxnOutcome::Failed { op, key, failure }) = out else {
            panic!("{out:?}")
        };
        // The first failing precondition, in order, is named.
        assert_eq!((op, key.as_str()), (2, "a"));
        assert!(matches!(failure, Failure::Conflict { current } if current.mod_revision == 1));
        assert_eq!(s.revision(), 2);
        assert!(s.get("c").is_none());
        assert!(s.get("b").is_some());
        assert_eq!(s.events_after(0, "", 100).unwrap().0, events_before);
        assert_eq!(s.value_bytes(), 2);
    }

    #[test]
    fn a_transaction_takes_one_revision_and_its_events_go_together() {
        let mut s = Mvcc::default();
        s.apply(put("a", "1", Precondition::Absent));
        s.apply(put("b", "1", Precondition::Absent));
        let txn = Txn::new(vec![
            Op::put("c", bv("new"), Precondition::Absent),
            Op::delete("b", Precondition::Revision(2)),
            Op::check_revision("a", 1),
            Op::put("a", bv("2"), Precondition::Exists),
        ])
        .unwrap();
        let out = s.apply(txn.into());
        let Outcome::Txn(TxnOutcome::Committed { revision, results }) = out else {
            panic!("{out:?}")
        };
        assert_eq!(revision, 3);
        assert_eq!(s.revision(), 3);
        let c = s.get("c").unwrap();
        assert_eq!((c.create_revision, c.mod_revision), (3, 3));
        let a = s.get("a").unwrap();
        assert_eq!((a.create_revision, a.mod_revision), (1, 3));
        assert!(s.get("b").is_none());
        // Results in op order; the check saw the value before the transaction.
        assert_eq!(results[0].kv.as_ref().unwrap().key, "c");
        assert_eq!(results[1].kv.as_ref().unwrap().mod_revision, 3);
        assert_eq!(results[1].prev.as_ref().unwrap().mod_revision, 2);
        assert_eq!(results[2].kv.as_ref().unwrap().mod_revision, 1);
        assert_eq!(results[2].prev, None);
        assert_eq!(results[3].prev.as_ref().unwrap().value, bv("1"));
        // One event per write, all at the transaction's revision, in op order.
        let (events, upto) = s.events_after(2, "", 100).unwrap();
        let got: Vec<_> = events
            .iter()
            .map(|e| (e.revision, e.kv.key.as_str(), e.kind))
            .collect();
        assert_eq!(
            got,
            [
                (3, "c", EventKind::Put),
                (3, "b", EventKind::Delete),
                (3, "a", EventKind::Put)
            ]
        );
        assert_eq!(upto, 3);
        // A limit reached inside the transaction does not split it.
        let (events, upto) = s.events_after(2, "", 1).unwrap();
        assert_eq!((events.len(), upto), (3, 3));
        // Before the transaction, as lists at older revisions see it.
        let old = s.range("", None, None, Some(2)).unwrap();
        let keys: Vec<_> = old.items.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
    }

    #[test]
    fn a_limit_stops_between_transactions() {
        let mut s = Mvcc::default();
        for t in 0..3 {
            let ops = (0..3)
                .map(|i| Op::put(format!("k{t}{i}"), bv("v"), Precondition::Absent))
                .collect();
            s.apply(Txn::new(ops).unwrap().into());
        }
        let (events, upto) = s.events_after(0, "", 4).unwrap();
        assert_eq!((events.len(), upto), (6, 2));
        let (events, upto) = s.events_after(upto, "", 4).unwrap();
        assert_eq!((events.len(), upto), (3, 3));
        // A prefix that matches only part of a transaction: still nothing split.
        let (events, upto) = s.events_after(0, "k1", 1).unwrap();
        assert_eq!((events.len(), upto), (3, 2));
    }

    #[test]
    fn a_fence_writes_only_while_its_key_is_at_its_revision() {
        // The actors' shard epoch: "owner key at revision R" guards writes to other keys.
        let mut s = Mvcc::default();
        s.apply(put("shards/7", "node-1", Precondition::Absent));
        let epoch = s.get("shards/7").unwrap().mod_revision;
        let fenced = |v: &str| {
            Command::from(
                Txn::new(vec![
                    Op::check_revision("shards/7", epoch),
                    Op::put("pods/p", bv(v), Precondition::Exists),
                ])
                .unwrap(),
            )
        };
        s.apply(put("pods/p", "0", Precondition::Absent));
        assert!(matches!(
            s.apply(fenced("1")),
            Outcome::Txn(TxnOutcome::Committed { revision: 3, .. })
        ));
        // The shard moves: the old owner's writes are refused.
        s.apply(put("shards/7", "node-2", Precondition::Exists));
        let out = s.apply(fenced("2"));
        assert!(
            matches!(
                &out,
                Outcome::Txn(TxnOutcome::Failed { op: 0, key, failure: Failure::Conflict { current } })
                    if key == "shards/7" && current.mod_revision == 4
            ),
            "{out:?}"
        );
        assert_eq!(s.get("pods/p").unwrap().value, bv("1"));
        // Only checks: nothing written, no revision taken, no event.
        let rev = s.revision();
        let out = s.apply(
            Txn::new(vec![Op::check_revision("shards/7", 4)])
                .unwrap()
                .into(),
        );
        assert!(
            matches!(out, Outcome::Txn(TxnOutcome::Committed { revision, .. }) if revision == rev)
        );
        assert_eq!(s.revision(), rev);
        assert!(s.events_after(rev, "", 10).unwrap().0.is_empty());
        assert!(matches!(
            s.apply(
                Txn::new(vec![Op::check("gone", Precondition::Absent)])
                    .unwrap()
                    .into()
            ),
            Outcome::Txn(TxnOutcome::Committed { .. })
        ));
    }

    #[test]
    fn a_delete_needs_its_key() {
        let mut s = Mvcc::default();
        s.apply(put("a", "1", Precondition::Absent));
        for (key, want) in [("a", "exists"), ("b", "notfound")] {
            let txn = Txn::new(vec![Op::delete(key, Precondition::Absent)]).unwrap();
            let out = s.apply(txn.into());
            let Outcome::Txn(TxnOutcome::Failed { failure, .. }) = &out else {
                panic!("{out:?}")
            };
            let got = match failure {
                Failure::AlreadyExists { .. } => "exists",
                Failure::NotFound => "notfound",
                Failure::Conflict { .. } => "conflict",
            };
            assert_eq!(got, want);
        }
        assert_eq!(s.revision(), 1);
    }

    #[test]
    fn limits_are_checked_when_built_and_when_applied() {
        let many = (0..=MAX_TXN_OPS)
            .map(|i| Op::check(format!("k{i}"), Precondition::Absent))
            .collect::<Vec<_>>();
        assert_eq!(
            Txn::new(many.clone()),
            Err(TxnError::TooManyOps {
                ops: MAX_TXN_OPS + 1,
                max: MAX_TXN_OPS
            })
        );
        assert!(Txn::new(many[..MAX_TXN_OPS].to_vec()).is_ok());
        let big = Op::put(
            "k",
            Bytes::from(vec![0u8; MAX_TXN_BYTES]),
            Precondition::Absent,
        );
        assert!(matches!(
            Txn::new(vec![big]),
            Err(TxnError::TooLarge { .. })
        ));
        // One that reached the state machine unchecked (decoded) applies nothing.
        let mut s = Mvcc::default();
        let unchecked = Txn {
            ops: vec![
                Op::put("a", bv("1"), Precondition::Absent),
                Op::delete("a", Precondition::Exists),
            ],
        };
        assert!(matches!(
            s.apply(Command::Txn(unchecked)),
            Outcome::Txn(TxnOutcome::Invalid(TxnError::DuplicateWrite { .. }))
        ));
        assert_eq!((s.revision(), s.len()), (0, 0));
    }

    #[test]
    fn the_window_drops_whole_transactions() {
        let mut s = Mvcc::new(2);
        s.apply(put("a", "1", Precondition::Absent));
        let ops = (0..3)
            .map(|i| Op::put(format!("t{i}"), bv("v"), Precondition::Absent))
            .collect();
        s.apply(Txn::new(ops).unwrap().into());
        // The newest transaction stays whole, past the bound of 2.
        assert_eq!(s.event_count(), 3);
        assert_eq!(s.compact_revision(), 1);
        s.apply(put("b", "1", Precondition::Absent));
        // Then it goes whole.
        assert_eq!(s.event_count(), 1);
        assert_eq!(s.compact_revision(), 2);
        assert!(s.events_after(1, "", 10).is_err());
        assert_eq!(s.events_after(2, "", 10).unwrap().0.len(), 1);
    }

    #[test]
    fn snapshot_round_trip() {
        let mut s = Mvcc::default();
        s.apply(put("a", "1", Precondition::Absent));
        s.apply(put("b", "2", Precondition::Absent));
        let snap = s.to_snapshot();
        let bytes = postcard::to_allocvec(&snap).unwrap();
        let mut t = Mvcc::default();
        t.restore(postcard::from_bytes(&bytes).unwrap());
        assert_eq!(t.revision(), 2);
        assert_eq!(t.get("b"), s.get("b"));
        assert_eq!(t.value_bytes(), 2);
        assert!(t.events_after(1, "", 10).is_err());
        assert!(t.events_after(2, "", 10).unwrap().0.is_empty());
    }

    /// All-or-nothing under random preconditions, against a reference that applies a
    /// transaction the simplest way: check everything, then write everything.
    mod txn_model {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone, Copy)]
        enum Kind {
            Put,
            Delete,
            Check,
        }

        /// A precondition, resolved against the reference when applied so that many hold.
        #[derive(Debug, Clone, Copy)]
        enum Pre {
            Absent,
            Exists,
            /// The key's current revision (if it exists; else revision 1).
            Current,
            Stale(u8),
        }

        type GenOp = (Kind, u8, u8, Pre);

        fn gen_op() -> impl Strategy<Value = GenOp> {
            let kind =
                prop_oneof![3 => Just(Kind::Put), 1 => Just(Kind::Delete), 2 => Just(Kind::Check)];
            let pre = prop_oneof![
                2 => Just(Pre::Absent),
                1 => Just(Pre::Exists),
                4 => Just(Pre::Current),
                1 => (0u8..30).prop_map(Pre::Stale),
            ];
            (kind, 0u8..6, any::<u8>(), pre)
        }

        #[derive(Default)]
        struct Reference {
            rev: Revision,
            /// key -> (value, create, mod)
            kvs: BTreeMap<String, (u8, Revision, Revision)>,
            events: Vec<(Revision, String, EventKind)>,
        }

        #[derive(Debug, PartialEq)]
        enum Expect {
            Committed(Revision),
            Failed(usize, &'static str),
            Duplicate,
        }

        impl Reference {
            fn holds(
                &self,
                key: &str,
                pre: Precondition,
                delete: bool,
            ) -> Result<(), &'static str> {
                match (pre, self.kvs.get(key)) {
                    (Precondition::Absent, Some(_)) => Err("exists"),
                    (Precondition::Absent, None) if delete => Err("notfound"),
                    (Precondition::Absent, None) => Ok(()),
                    (_, None) => Err("notfound"),
                    (Precondition::Revision(r), Some(v)) if v.2 != r => Err("conflict"),
                    _ => Ok(()),
                }
            }

            fn apply(&mut self, ops: &[(Kind, String, u8, Precondition)]) -> Expect {
                let mut written = std::collections::BTreeSet::new();
                for (kind, key, ..) in ops {
                    if !matches!(kind, Kind::Check) && !written.insert(key.clone()) {
                        return Expect::Duplicate;
                    }
                }
                for (i, (kind, key, _, pre)) in ops.iter().enumerate() {
                    if let Err(e) = self.holds(key, *pre, matches!(kind, Kind::Delete)) {
                        return Expect::Failed(i, e);
                    }
                }
                if written.is_empty() {
                    return Expect::Committed(self.rev);
                }
                self.rev += 1;
                for (kind, key, v, _) in ops {
                    match kind {
                        Kind::Put => {
                            let create = self.kvs.get(key).map_or(self.rev, |e| e.1);
                            self.kvs.insert(key.clone(), (*v, create, self.rev));
                            self.events.push((self.rev, key.clone(), EventKind::Put));
                        }
                        Kind::Delete => {
                            self.kvs.remove(key);
                            self.events.push((self.rev, key.clone(), EventKind::Delete));
                        }
                        Kind::Check => {}
                    }
                }
                Expect::Committed(self.rev)
            }
        }

        fn contents(s: &Mvcc) -> BTreeMap<String, (u8, Revision, Revision)> {
            s.range("", None, None, None)
                .unwrap()
                .items
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        (kv.value[0], kv.create_revision, kv.mod_revision),
                    )
                })
                .collect()
        }

        fn failure_name(f: &Failure) -> &'static str {
            match f {
                Failure::AlreadyExists { .. } => "exists",
                Failure::NotFound => "notfound",
                Failure::Conflict { .. } => "conflict",
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            #[test]
            fn transactions_match_the_reference(
                txns in proptest::collection::vec(proptest::collection::vec(gen_op(), 0..6), 1..40),
                window in 1usize..8,
            ) {
                let mut s = Mvcc::new(1_000_000);
                // The same log with a small window: it drops whole transactions only.
                let mut small = Mvcc::new(window);
                let mut r = Reference::default();
                for drawn in txns {
                    let ops: Vec<(Kind, String, u8, Precondition)> = drawn
                        .iter()
                        .map(|&(kind, k, v, pre)| {
                            let key = format!("k{k}");
                            let pre = match pre {
                                Pre::Absent => Precondition::Absent,
                                Pre::Exists => Precondition::Exists,
                                Pre::Current => Precondition::Revision(r.kvs.get(&key).map_or(1, |e| e.2)),
                                Pre::Stale(x) => Precondition::Revision(Revision::from(x)),
                            };
                            (kind, key, v, pre)
                        })
                        .collect();
                    let txn_ops: Vec<Op> = ops
                        .iter()
                        .map(|(kind, key, v, pre)| match kind {
                            Kind::Put => Op::put(key.clone(), Bytes::from(vec![*v]), *pre),
                            Kind::Delete => Op::delete(key.clone(), *pre),
                            Kind::Check => Op::check(key.clone(), *pre),
                        })
                        .collect();
                    let before = s.revision();
                    let before_contents = contents(&s);
                    let expect = r.apply(&ops);
                    // Built unchecked, as the state machine may decode it.
                    let txn = Txn { ops: txn_ops };
                    prop_assert_eq!(txn.validate().is_err(), expect == Expect::Duplicate);
                    let out = s.apply(Command::Txn(txn.clone()));
                    let out_small = small.apply(Command::Txn(txn));
                    prop_assert_eq!(&out, &out_small);
                    let Outcome::Txn(out) = out else { panic!("{out:?}") };
                    match (&expect, &out) {
                        (Expect::Committed(rev), TxnOutcome::Committed { revision, results }) => {
                            prop_assert_eq!(rev, revision);
                            prop_assert_eq!(results.len(), ops.len());
                        }
                        (Expect::Failed(i, why), TxnOutcome::Failed { op, key, failure }) => {
                            prop_assert_eq!((*i, *why), (*op, failure_name(failure)));
                            prop_assert_eq!(key, &ops[*i].1);
                        }
                        (Expect::Duplicate, TxnOutcome::Invalid(TxnError::DuplicateWrite { .. })) => {}
                        (e, o) => prop_assert!(false, "reference {e:?} store {o:?}"),
                    }
                    // All or nothing: the contents are the reference's, and unchanged on failure.
                    let now = contents(&s);
                    prop_assert_eq!(&now, &r.kvs);
                    prop_assert_eq!(&contents(&small), &r.kvs);
                    if !matches!(expect, Expect::Committed(_)) {
                        prop_assert_eq!(&now, &before_contents);
                        prop_assert_eq!(s.revision(), before);
                    }
                    prop_assert_eq!(s.revision(), r.rev);
                    prop_assert_eq!(s.value_bytes(), r.kvs.len() as u64);
                    // The events of this transaction, all of them at once.
                    let (evs, upto) = s.events_after(before, "", usize::MAX).unwrap();
                    let got: Vec<_> = evs.iter().map(|e| (e.revision, e.kv.key.clone(), e.kind)).collect();
                    let want: Vec<_> = r.events.iter().filter(|e| e.0 > before).cloned().collect();
                    prop_assert_eq!(got, want);
                    prop_assert_eq!(upto, r.rev);
                }
                // A watcher reading one event at a time still gets whole transactions, and
                // every event once, in order.
                let per_rev = |rev: Revision| r.events.iter().filter(|e| e.0 == rev).count();
                let mut seen = Vec::new();
                let mut last = 0;
                loop {
                    let (evs, upto) = s.events_after(last, "", 1).unwrap();
                    for e in &evs {
                        prop_assert_eq!(evs.iter().filter(|x| x.revision == e.revision).count(), per_rev(e.revision));
                    }
                    seen.extend(evs.iter().map(|e| (e.revision, e.kv.key.clone(), e.kind)));
                    if upto == last { break; }
                    last = upto;
                }
                prop_assert_eq!(&seen, &r.events);
                // The small window holds whole revisions only, and exactly those after its
                // compact revision.
                let c = small.compact_revision();
                let (evs, _) = small.events_after(c, "", usize::MAX).unwrap();
                let got: Vec<_> = evs.iter().map(|e| (e.revision, e.kv.key.clone(), e.kind)).collect();
                let want: Vec<_> = r.events.iter().filter(|e| e.0 > c).cloned().collect();
                prop_assert_eq!(small.event_count(), want.len(), "events held at or below {}", c);
                prop_assert_eq!(got, want);
                // Within its bound, but for the newest transaction.
                prop_assert!(small.event_count() <= window.max(per_rev(r.rev)));
            }
        }
    }
}
