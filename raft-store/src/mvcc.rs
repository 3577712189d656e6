//! The versioned key/value store that every replica applies the log to.
//!
//! Pure: no I/O, no clock, no locks. Every write that succeeds takes the next cluster-wide
//! revision; the revision becomes the object's `resourceVersion`. A window of recent events
//! (bounded by [`Mvcc::max_events`] and by explicit compaction) serves watches and lists at
//! older revisions.

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
    /// in order with its own revision and its own outcome, as if proposed alone.
    Batch(Vec<Command>),
    /// `cmd`, only if `guard_key` is still at `guard_revision` (e.g. a create only while
    /// its namespace is unchanged since it was checked); else `GuardFailed`.
    Guarded {
        guard_key: String,
        guard_revision: Revision,
        cmd: Box<Command>,
    },
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
        }
    }
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
    /// The guard of a `Command::Guarded` changed; nothing was applied.
    GuardFailed,
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
    /// Events with revision > `compact_revision`, revisions strictly increasing.
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
            } => {
                if self.kvs.get(&guard_key).map(|kv| kv.mod_revision) == Some(guard_revision) {
                    self.apply(*cmd)
                } else {
                    Outcome::GuardFailed
                }
            }
        }
    }

    fn check(&self, key: &str, pre: Precondition) -> Result<Option<&KeyValue>, Outcome> {
        let current = self.kvs.get(key);
        match (pre, current) {
            (Precondition::Absent, Some(kv)) => Err(Outcome::AlreadyExists {
                current: kv.clone(),
            }),
            (Precondition::Absent, None) => Ok(None),
            (Precondition::Exists | Precondition::Revision(_), None) => Err(Outcome::NotFound),
            (Precondition::Revision(rev), Some(kv)) if kv.mod_revision != rev => {
                Err(Outcome::Conflict {
                    current: kv.clone(),
                })
            }
            (_, Some(kv)) => Ok(Some(kv)),
        }
    }

    fn put(&mut self, key: String, value: Bytes, pre: Precondition) -> Outcome {
        let prev = match self.check(&key, pre) {
            Ok(prev) => prev.cloned(),
            Err(outcome) => return outcome,
        };
        self.revision += 1;
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
        Outcome::Done {
            revision: self.revision,
            kv: Some(kv),
            prev,
        }
    }

    fn delete(&mut self, key: String, pre: Precondition) -> Outcome {
        if let Err(outcome) = self.check(&key, pre) {
            return outcome;
        }
        let Some(prev) = self.kvs.remove(&key) else {
            return Outcome::NotFound;
        };
        self.revision += 1;
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
        Outcome::Done {
            revision: self.revision,
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
        // Past either bound, the oldest event goes and the compact revision follows it.
        while self.events.len() > self.max_events
            || (self.event_bytes > MAX_EVENT_BYTES && self.events.len() > 1)
        {
            if let Some(old) = self.events.pop_front() {
                self.event_bytes -= event_bytes(&old);
                self.compact_revision = old.revision;
            }
        }
    }

    /// Events after `after` (exclusive) whose key starts with `prefix`, at most `limit`.
    /// Returns the events and the revision up to which the window was scanned (so a watcher
    /// that filtered everything out can still advance).
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
            if out.len() >= limit {
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
        assert!(matches!(s.apply(guarded(9)), Outcome::GuardFailed));
        assert!(s.get("obj/x").is_none());
        assert!(matches!(
            s.apply(guarded(1)),
            Outcome::Done { revision: 2, .. }
        ));
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
}
