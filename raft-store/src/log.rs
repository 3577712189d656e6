//! The durable Raft log: checksummed records in segment files, written and fsynced by one
//! writer thread that groups whatever is queued into one fsync (group commit).
//!
//! A segment is a sequence of groups, one per write + fsync:
//! `[b"KUMOWAL1"][len: u32 LE][crc32c(body): u32 LE][body]`, where the body is record frames
//! `[len: u32 LE][crc32c(payload): u32 LE][payload: postcard(Record)]`. Nothing in a group is
//! acknowledged before the group's fsync, so only the last group can be torn by a crash.
//! On open every segment is replayed in order. A bad group at the end of the last segment —
//! with no valid group after it — is a torn write: it is cut off and reported. A bad group
//! followed by a valid one is damage to acknowledged data: a fatal [`Error::Corrupt`], as is
//! a bad group in any segment but the last.
//!
//! Memory: the log keeps an index of every entry it holds (log id, where its record is on
//! disk, its size: [`INDEX_BYTES_PER_ENTRY`] bytes or so each) and a cache of the most recent
//! entries bounded in bytes ([`LogOptions::cache_bytes`], plus entries appended but not yet
//! written). Older entries — for a follower that lags, or re-applied after a restart — are
//! read back from their segment. Replay holds one segment at a time.
//!
//! Disk: segments whose entries are all purged are deleted, so the log on disk is the
//! entries after the purge point plus at most one segment ([`SEGMENT_BYTES`] plus one
//! group).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{
    Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftLogReader, StorageError,
    StorageIOError, Vote,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::disk::{Disk, DiskFile, StdDisk};
use crate::disk_full::DiskFull;
use crate::{Error, NodeId, TypeConfig};

/// A segment is closed and a new one started past this size (a segment can exceed it by one
/// group). Purged segments are deleted whole, so this is the disk the log keeps beyond its
/// live entries.
pub const SEGMENT_BYTES: u64 = 16 << 20;
/// Default bound of the cache of recent entries kept in RAM.
pub const DEFAULT_LOG_CACHE_BYTES: u64 = 64 << 20;
/// Rough RAM of one entry in the index (kept for every entry the log holds).
pub const INDEX_BYTES_PER_ENTRY: u64 = 96;
/// `limited_get_log_entries` (what replication sends in one AppendEntries) returns at most
/// this many bytes of entries (and at least one entry).
const MAX_READ_BYTES: u64 = 16 << 20;
/// Largest record; a longer one is refused when written (never acknowledged) and treated as
/// corruption on replay. The batcher keeps entries far below it.
const MAX_FRAME: u32 = 48 << 20;
/// A group (one write + fsync) is closed past this size; a larger write is split into
/// several groups, each fsynced before the next is written.
const MAX_GROUP_BYTES: usize = 56 << 20;
/// How long a purge waits for a durable snapshot to cover it (then the log fails, and a
/// restart finds log and snapshot as they were) — unless the disk is full: then the
/// snapshot waits for space, and the purge as long.
const PURGE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
/// Marks the start of every group, so replay can tell whether valid data follows damage.
const GROUP_MAGIC: &[u8; 8] = b"KUMOWAL1";
/// Bound of the writer queue: `append` waits (back-pressure on Raft) when it is full.
const WRITER_QUEUE: usize = 4096;
/// At most this many queued requests are grouped into one fsync.
const MAX_GROUP: usize = 2048;

#[derive(Debug, Serialize, Deserialize)]
enum Record {
    Entry(Entry<TypeConfig>),
    /// Remove entries with index >= this.
    Truncate(u64),
    Purge(LogId<NodeId>),
    Vote(Vote<NodeId>),
    Committed(Option<LogId<NodeId>>),
}

/// What replay found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments: usize,
    pub records: u64,
    /// An incomplete (torn) last write cut off the last segment: (segment, offset, bytes).
    /// It was never acknowledged.
    pub truncated_tail: Option<(PathBuf, u64, u64)>,
    /// A complete but damaged last group cut off because [`LogOptions::truncate_damaged`]
    /// asked for it: (segment, offset, bytes). Writes it held may have been acknowledged.
    pub damaged_tail_cut: Option<(PathBuf, u64, u64)>,
}

/// How the log is opened.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Cut a complete last group that fails its checksum (damage, not a torn write) instead
    /// of refusing to start. The operator's explicit way out: what it held is lost on this
    /// node (a cluster node catches up from its peers).
    pub truncate_damaged: bool,
    /// Bound of the cache of recent entries in RAM (entries appended but not yet written
    /// are kept beyond it until written).
    pub cache_bytes: u64,
    /// Where the segments are written ([`StdDisk`], or a simulated disk in tests).
    pub disk: Arc<dyn Disk>,
    /// The last log id of the durable snapshot (from the state machine). With it, a purge
    /// is made durable only once a durable snapshot covers it: openraft 0.9 purges the log
    /// as soon as it hands a received snapshot to the state machine, before that snapshot
    /// is on disk, and a crash in between would leave neither.
    pub durable_snapshot: Option<tokio::sync::watch::Receiver<Option<LogId<NodeId>>>>,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            truncate_damaged: false,
            cache_bytes: DEFAULT_LOG_CACHE_BYTES,
            disk: Arc::new(StdDisk),
            durable_snapshot: None,
        }
    }
}

/// What the log holds now, for bounds checks and the snapshot policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Entries in the log (after the purge point).
    pub entries: u64,
    /// Bytes of all those entries (as counted by [`entry_bytes`]).
    pub entry_bytes: u64,
    /// Entries held in RAM by the cache, and their bytes.
    pub cached_entries: u64,
    pub cached_bytes: u64,
    /// The cache's bound.
    pub cache_limit: u64,
}

/// Where an entry's record is: the frame at `offset` of segment `seq`, payload `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loc {
    seq: u64,
    offset: u64,
    len: u32,
}

/// One entry of the index.
#[derive(Debug, Clone, Copy)]
struct Slot {
    log_id: LogId<NodeId>,
    /// Set once the record is written (None while it waits in the writer's queue).
    loc: Option<Loc>,
    bytes: u64,
    /// Running total of `bytes` up to and including this entry (consistent across the
    /// contiguous entries of the index), so the bytes of a range cost two look-ups.
    end: u64,
}

/// Bytes an entry counts for in the cache and the snapshot policy: its keys and values plus
/// a fixed overhead.
pub fn entry_bytes(e: &Entry<TypeConfig>) -> u64 {
    const OVERHEAD: u64 = 64;
    OVERHEAD
        + match &e.payload {
            EntryPayload::Blank => 0,
            EntryPayload::Normal(cmd) => cmd.approx_bytes() as u64,
            EntryPayload::Membership(_) => 512,
        }
}

#[derive(Debug, Default)]
struct LogState2 {
    /// Every entry the log holds: where it is and how big.
    index: BTreeMap<u64, Slot>,
    /// Sum of `bytes` over `index`.
    index_bytes: u64,
    /// The most recent entries, bounded by `cache_limit` bytes (plus unwritten entries).
    cache: BTreeMap<u64, Entry<TypeConfig>>,
    cache_bytes: u64,
    cache_limit: u64,
    last_purged: Option<LogId<NodeId>>,
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
}

impl LogState2 {
    /// Applies a record; an entry's location is `loc` if it is known (on replay).
    fn apply(&mut self, rec: Record, loc: Option<Loc>) {
        match rec {
            Record::Entry(e) => {
                let i = e.log_id.index;
                let bytes = entry_bytes(&e);
                let before = self.index.range(..i).next_back().map_or(0, |(_, s)| s.end);
                let slot = Slot {
                    log_id: e.log_id,
                    loc,
                    bytes,
                    end: before + bytes,
                };
                if let Some(old) = self.index.insert(i, slot) {
                    self.index_bytes -= old.bytes;
                }
                self.index_bytes += bytes;
                if let Some(old) = self.cache.insert(i, e) {
                    self.cache_bytes -= entry_bytes(&old);
                }
                self.cache_bytes += bytes;
                self.evict();
            }
            Record::Truncate(since) => self.remove(since..),
            Record::Purge(id) => {
                self.remove(..=id.index);
                self.last_purged = Some(id);
            }
            Record::Vote(v) => self.vote = Some(v),
            Record::Committed(c) => self.committed = c,
        }
    }

    fn remove(&mut self, range: impl RangeBounds<u64> + Clone) {
        let gone: Vec<u64> = self.index.range(range.clone()).map(|(i, _)| *i).collect();
        for i in gone {
            if let Some(s) = self.index.remove(&i) {
                self.index_bytes -= s.bytes;
            }
        }
        let gone: Vec<u64> = self.cache.range(range).map(|(i, _)| *i).collect();
        for i in gone {
            if let Some(e) = self.cache.remove(&i) {
                self.cache_bytes -= entry_bytes(&e);
            }
        }
    }

    /// Records where written entries are (those still in the index as written).
    fn place(&mut self, placed: &[(LogId<NodeId>, Loc)]) {
        for (id, loc) in placed {
            if let Some(slot) = self.index.get_mut(&id.index)
                && slot.log_id == *id
            {
                slot.loc = Some(*loc);
            }
        }
        self.evict();
    }

    /// Drops the oldest cached entries past the bound; an entry not yet written stays (it
    /// cannot be read back yet), and so do the ones after it.
    fn evict(&mut self) {
        while self.cache_bytes > self.cache_limit {
            let Some((&i, _)) = self.cache.first_key_value() else {
                break;
            };
            if self.index.get(&i).is_some_and(|s| s.loc.is_none()) {
                break;
            }
            if let Some(e) = self.cache.remove(&i) {
                self.cache_bytes -= entry_bytes(&e);
            }
        }
    }

    fn stats(&self) -> LogStats {
        LogStats {
            entries: self.index.len() as u64,
            entry_bytes: self.index_bytes,
            cached_entries: self.cache.len() as u64,
            cached_bytes: self.cache_bytes,
            cache_limit: self.cache_limit,
        }
    }
}

enum WriterMsg {
    Records(Vec<Record>, Option<Done>),
}

enum Done {
    /// Tells openraft, then the waiting `append`.
    FlushedThenNotify(
        LogFlushed<TypeConfig>,
        tokio::sync::oneshot::Sender<io::Result<()>>,
    ),
    Notify(tokio::sync::oneshot::Sender<io::Result<()>>),
}

/// The Raft log store. Cloning shares the same log (the clone is the log reader).
#[derive(Clone)]
pub struct LogStore {
    state: Arc<Mutex<LogState2>>,
    writer: tokio::sync::mpsc::Sender<WriterMsg>,
    dir: PathBuf,
    disk: Arc<dyn Disk>,
    durable_snapshot: Option<tokio::sync::watch::Receiver<Option<LogId<NodeId>>>>,
    /// Set while the writer waits for disk space.
    full: Arc<DiskFull>,
    /// How long a purge waits for a durable snapshot while the disk is not full
    /// ([`PURGE_WAIT`]; shorter in tests).
    purge_wait: std::time::Duration,
    /// Held by every clone: once all are gone the writer stops waiting for space.
    _alive: Arc<()>,
}

fn io_err(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    e: impl std::error::Error + 'static,
) -> StorageError<NodeId> {
    StorageError::IO {
        source: StorageIOError::new(subject, verb, openraft::AnyError::new(&e)),
    }
}

fn writer_gone() -> StorageError<NodeId> {
    io_err(
        ErrorSubject::Logs,
        ErrorVerb::Write,
        io::Error::other("log writer thread stopped"),
    )
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("segment-{seq:020}.wal"))
}

fn encode_frame(rec: &Record, out: &mut Vec<u8>) -> io::Result<()> {
    let payload = postcard::to_allocvec(rec).map_err(io::Error::other)?;
    if payload.len() > MAX_FRAME as usize {
        return Err(io::Error::other(format!(
            "log record of {} bytes exceeds the {MAX_FRAME}-byte limit",
            payload.len()
        )));
    }
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// Wraps record frames into one group.
fn encode_group(body: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(GROUP_MAGIC);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
    out.extend_from_slice(body);
}

/// A decoded record, with the offset of its frame and the length of its payload.
type Framed = (Record, usize, u32);

/// Decodes the record frames of a group body; `None` if any is damaged.
fn decode_frames(buf: &[u8]) -> Option<Vec<Framed>> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while off < buf.len() {
        if buf.len() - off < 8 {
            return None;
        }
        let len = u32::from_le_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]);
        let crc = u32::from_le_bytes([buf[off + 4], buf[off + 5], buf[off + 6], buf[off + 7]]);
        if len > MAX_FRAME || buf.len() - off - 8 < len as usize {
            return None;
        }
        let payload = &buf[off + 8..off + 8 + len as usize];
        if crc32c::crc32c(payload) != crc {
            return None;
        }
        out.push((postcard::from_bytes::<Record>(payload).ok()?, off, len));
        off += 8 + len as usize;
    }
    Some(out)
}

/// Why the group at an offset could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fault {
    /// The group is not all there: its header is cut short, its body runs past the end of
    /// the file, or the rest of the file is zeros (its size was extended but the data never
    /// reached the disk). Only the last write can be like this, and it was never
    /// acknowledged, since acknowledgement follows the fsync of the whole group.
    Incomplete,
    /// The group is all there but fails its checks (checksum, header, records): damage to
    /// data that may have been acknowledged.
    Damaged(&'static str),
}

/// The group at `off`: its records and its total length, or why it cannot be read.
/// Frame offsets are from the start of `buf`.
fn group_at(buf: &[u8], off: usize) -> Result<(Vec<Framed>, usize), Fault> {
    let rest = buf.get(off..).unwrap_or_default();
    let Some(head) = rest.get(..16) else {
        return Err(Fault::Incomplete);
    };
    if &head[..8] != GROUP_MAGIC {
        if rest.iter().all(|&b| b == 0) {
            return Err(Fault::Incomplete);
        }
        return Err(Fault::Damaged("no group header"));
    }
    let len = u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize;
    let crc = u32::from_le_bytes([head[12], head[13], head[14], head[15]]);
    if len > MAX_GROUP_BYTES {
        return Err(Fault::Damaged("group length out of range"));
    }
    let Some(body) = rest.get(16..16 + len) else {
        return Err(Fault::Incomplete);
    };
    if crc32c::crc32c(body) != crc {
        return Err(Fault::Damaged("checksum mismatch"));
    }
    let mut records = decode_frames(body).ok_or(Fault::Damaged("undecodable records"))?;
    for r in &mut records {
        r.1 += off + 16;
    }
    Ok((records, 16 + len))
}

/// What replay of one segment found.
struct Replayed {
    records: Vec<Framed>,
    /// Offset of the first bad group, if any, and what is wrong with it.
    bad: Option<(u64, Fault)>,
    /// A valid group follows the bad one: acknowledged data is damaged.
    valid_after_bad: bool,
}

fn replay_segment(buf: &[u8]) -> Replayed {
    let mut records = Vec::new();
    let mut off = 0usize;
    while off < buf.len() {
        match group_at(buf, off) {
            Ok((recs, len)) => {
                records.extend(recs);
                off += len;
            }
            Err(fault) => {
                let valid_after_bad = (off + 1..buf.len().saturating_sub(GROUP_MAGIC.len() - 1))
                    .filter(|&i| &buf[i..i + GROUP_MAGIC.len()] == GROUP_MAGIC)
                    .any(|i| group_at(buf, i).is_ok());
                return Replayed {
                    records,
                    bad: Some((off as u64, fault)),
                    valid_after_bad,
                };
            }
        }
    }
    Replayed {
        records,
        bad: None,
        valid_after_bad: false,
    }
}

/// Reads back one entry's record from its segment and checks it.
fn read_entry(
    disk: &dyn Disk,
    path: &Path,
    loc: &Loc,
    id: LogId<NodeId>,
) -> io::Result<Entry<TypeConfig>> {
    let mut buf = vec![0u8; 8 + loc.len as usize];
    disk.read_at(path, loc.offset, &mut buf)?;
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let bad = |what: &str| {
        io::Error::other(format!(
            "log entry {id} in segment {} at offset {}: {what}",
            loc.seq, loc.offset
        ))
    };
    if len != loc.len || crc32c::crc32c(&buf[8..]) != crc {
        return Err(bad("checksum mismatch"));
    }
    match postcard::from_bytes::<Record>(&buf[8..]) {
        Ok(Record::Entry(e)) if e.log_id == id => Ok(e),
        Ok(_) => Err(bad("not the expected entry")),
        Err(e) => Err(bad(&e.to_string())),
    }
}

impl LogStore {
    /// Opens (or creates) the log in `dir`, replaying every segment, with default options.
    pub fn open(dir: &Path) -> Result<(Self, RecoveryReport), Error> {
        Self::open_with(dir, &LogOptions::default())
    }

    /// Opens (or creates) the log in `dir`, replaying every segment.
    pub fn open_with(dir: &Path, opts: &LogOptions) -> Result<(Self, RecoveryReport), Error> {
        let disk = opts.disk.clone();
        disk.create_dir_all(dir)?;
        let mut seqs: Vec<u64> = disk
            .list(dir)?
            .into_iter()
            .filter_map(|name| {
                name.strip_prefix("segment-")?
                    .strip_suffix(".wal")?
                    .parse()
                    .ok()
            })
            .collect();
        seqs.sort_unstable();
        let mut state = LogState2 {
            cache_limit: opts.cache_bytes,
            ..Default::default()
        };
        let mut report = RecoveryReport {
            segments: seqs.len(),
            ..Default::default()
        };
        let mut segments = Vec::new();
        for (i, seq) in seqs.iter().enumerate() {
            let path = segment_path(dir, *seq);
            let buf = disk.read(&path)?;
            let Replayed {
                records,
                bad,
                valid_after_bad,
            } = replay_segment(&buf);
            let file_len = buf.len() as u64;
            let mut max_index = None;
            for (r, offset, len) in records {
                let loc = match &r {
                    Record::Entry(e) => {
                        max_index = max_index.max(Some(e.log_id.index));
                        Some(Loc {
                            seq: *seq,
                            offset: offset as u64,
                            len,
                        })
                    }
                    _ => None,
                };
                report.records += 1;
                state.apply(r, loc);
            }
            // Only the cached entries stay in RAM: one segment is held at a time.
            drop(buf);
            if let Some((off, fault)) = bad {
                if valid_after_bad {
                    return Err(Error::Corrupt(format!(
                        "{}: damaged data at offset {off} followed by valid log groups: \
                         acknowledged entries are damaged; refusing to start (restore this \
                         node from a peer or a backup)",
                        path.display()
                    )));
                }
                if i + 1 != seqs.len() {
                    return Err(Error::Corrupt(format!(
                        "{}: bad frame at offset {off} in a segment that is not the last; \
                         refusing to start (restore this node from a peer or a backup)",
                        path.display()
                    )));
                }
                let cut = file_len - off;
                match fault {
                    Fault::Incomplete => {
                        tracing::warn!(segment = %path.display(), offset = off, bytes = cut,
                            "cut off an incomplete (torn) last write of the raft log; it was \
                             never acknowledged");
                        report.truncated_tail = Some((path.clone(), off, cut));
                    }
                    Fault::Damaged(reason) if opts.truncate_damaged => {
                        tracing::error!(segment = %path.display(), offset = off, bytes = cut,
                            reason, "cut off a damaged last group of the raft log as the \
                             operator asked (truncate_damaged); writes it held may have been \
                             acknowledged and are lost on this node");
                        report.damaged_tail_cut = Some((path.clone(), off, cut));
                    }
                    Fault::Damaged(reason) => {
                        return Err(Error::DamagedLog {
                            path: path.clone(),
                            offset: off,
                            reason,
                        });
                    }
                }
                disk.truncate(&path, off)?;
            }
            segments.push(Segment {
                seq: *seq,
                max_index,
            });
        }
        // A node that led before the restart does not lead again in the same term (openraft
        // 0.9 restores a committed vote of its own as leadership at once): a power cut may
        // have taken unsynced entries of its term, and leading again in that term would
        // append different entries under the same log ids its followers hold. With the vote
        // kept but not committed, it must win an election, in a new term.
        if let Some(v) = state.vote
            && v.is_committed()
        {
            state.vote = Some(Vote::new(v.leader_id().term, v.leader_id().node_id));
        }
        // A commit point past the last entry here (written while a received snapshot was
        // still being installed, and lost with it) is forgotten: the leader tells it again.
        let last = state
            .index
            .values()
            .next_back()
            .map(|s| s.log_id)
            .or(state.last_purged);
        if state
            .committed
            .is_some_and(|c| last.is_none_or(|l| c.index > l.index))
        {
            tracing::warn!(committed = ?state.committed, last = ?last,
                "the commit point is past the log's end; starting from the log's end");
            state.committed = last;
        }
        let (tx, rx) = tokio::sync::mpsc::channel(WRITER_QUEUE);
        let state = Arc::new(Mutex::new(state));
        let full = Arc::new(DiskFull::default());
        let alive = Arc::new(());
        let mut writer = Writer::open(disk.clone(), dir.to_path_buf(), segments, state.clone())?;
        writer.full = full.clone();
        writer.alive = Arc::downgrade(&alive);
        std::thread::Builder::new()
            .name("raft-log-writer".into())
            .spawn(move || writer.run(rx))?;
        Ok((
            Self {
                state,
                writer: tx,
                dir: dir.to_path_buf(),
                disk,
                durable_snapshot: opts.durable_snapshot.clone(),
                purge_wait: PURGE_WAIT,
                full,
                _alive: alive,
            },
            report,
        ))
    }

    /// Set while the log cannot be written for lack of disk space (see [`crate::disk_full`]).
    pub fn disk_full(&self) -> &Arc<DiskFull> {
        &self.full
    }

    /// Alive while any clone of this log is: a write waiting for disk space gives up once
    /// it is gone.
    pub fn alive(&self) -> Weak<()> {
        Arc::downgrade(&self._alive)
    }

    /// What the log holds now.
    pub fn stats(&self) -> LogStats {
        self.state.lock().stats()
    }

    /// Bytes of the entries after `after` (all of them for `None`), as [`entry_bytes`]
    /// counts them.
    pub fn bytes_after(&self, after: Option<u64>) -> u64 {
        let st = self.state.lock();
        let Some((_, last)) = st.index.last_key_value() else {
            return 0;
        };
        match after.and_then(|a| st.index.range(..=a).next_back()) {
            Some((_, s)) => last.end.saturating_sub(s.end),
            None => st.index_bytes,
        }
    }

    /// The highest index up to which the log can be purged so that at most `keep_bytes` of
    /// entries up to and including `upto` remain; `None` if nothing needs to go.
    pub fn purge_point(&self, upto: u64, keep_bytes: u64) -> Option<u64> {
        let st = self.state.lock();
        let mut kept = 0u64;
        for (i, slot) in st.index.range(..=upto).rev() {
            kept += slot.bytes;
            if kept > keep_bytes {
                return Some(*i);
            }
        }
        None
    }

    /// The entries of `range`: from the cache, else read back from their segments.
    async fn read_entries(
        &self,
        range: impl RangeBounds<u64>,
        max_bytes: Option<u64>,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        enum Plan {
            Cached(Entry<TypeConfig>),
            Disk(LogId<NodeId>, Loc),
        }
        let mut plan = Vec::new();
        {
            let st = self.state.lock();
            let mut bytes = 0u64;
            for (i, slot) in st.index.range(range) {
                if max_bytes.is_some_and(|m| bytes >= m) && !plan.is_empty() {
                    break;
                }
                bytes += slot.bytes;
                match (st.cache.get(i), slot.loc) {
                    (Some(e), _) => plan.push(Plan::Cached(e.clone())),
                    (None, Some(loc)) => plan.push(Plan::Disk(slot.log_id, loc)),
                    (None, None) => {
                        return Err(io_err(
                            ErrorSubject::Log(slot.log_id),
                            ErrorVerb::Read,
                            io::Error::other("entry neither cached nor written"),
                        ));
                    }
                }
            }
        }
        if plan.iter().all(|p| matches!(p, Plan::Cached(_))) {
            return Ok(plan
                .into_iter()
                .filter_map(|p| match p {
                    Plan::Cached(e) => Some(e),
                    Plan::Disk(..) => None,
                })
                .collect());
        }
        let dir = self.dir.clone();
        let disk = self.disk.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::with_capacity(plan.len());
            for p in plan {
                match p {
                    Plan::Cached(e) => out.push(e),
                    Plan::Disk(id, loc) => {
                        let path = segment_path(&dir, loc.seq);
                        let e = read_entry(&*disk, &path, &loc, id)
                            .map_err(|e| io_err(ErrorSubject::Log(id), ErrorVerb::Read, e))?;
                        out.push(e);
                    }
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?
    }

    async fn send(
        &self,
        records: Vec<Record>,
        done: Option<Done>,
    ) -> Result<(), StorageError<NodeId>> {
        // A full queue makes this Raft task wait until the writer catches up: back-pressure.
        self.writer
            .send(WriterMsg::Records(records, done))
            .await
            .map_err(|_| writer_gone())
    }

    async fn send_and_wait(&self, records: Vec<Record>) -> Result<(), StorageError<NodeId>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(records, Some(Done::Notify(tx))).await?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(io_err(ErrorSubject::Logs, ErrorVerb::Write, e)),
            Err(_) => Err(writer_gone()),
        }
    }
}

struct Segment {
    seq: u64,
    max_index: Option<u64>,
}

struct Writer {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    /// Told where each written entry is, and evicts the cache past its bound.
    state: Arc<Mutex<LogState2>>,
    segments: Vec<Segment>,
    file: Box<dyn DiskFile>,
    size: u64,
    // Mirrors of the durable state, to write at the head of each new segment.
    vote: Option<Vote<NodeId>>,
    purged: Option<LogId<NodeId>>,
    committed: Option<LogId<NodeId>>,
    failed: Option<String>,
    full: Arc<DiskFull>,
    /// Gone once every [`LogStore`] is dropped: then a write waiting for space gives up.
    alive: Weak<()>,
}

impl Writer {
    fn open(
        disk: Arc<dyn Disk>,
        dir: PathBuf,
        mut segments: Vec<Segment>,
        shared: Arc<Mutex<LogState2>>,
    ) -> io::Result<Self> {
        let (vote, purged, committed) = {
            let st = shared.lock();
            (st.vote, st.last_purged, st.committed)
        };
        let seq = segments.last().map_or(0, |s| s.seq);
        if segments.is_empty() {
            segments.push(Segment {
                seq,
                max_index: None,
            });
        }
        let path = segment_path(&dir, seq);
        let file = disk.open_append(&path)?;
        let size = file.size()?;
        disk.sync_dir(&dir)?;
        Ok(Self {
            disk,
            dir,
            state: shared,
            segments,
            file,
            size,
            vote,
            purged,
            committed,
            failed: None,
            full: Arc::default(),
            alive: Weak::new(),
        })
    }

    fn run(&mut self, mut rx: tokio::sync::mpsc::Receiver<WriterMsg>) {
        while let Some(first) = rx.blocking_recv() {
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(m) => group.push(m),
                    Err(_) => break,
                }
            }
            let result = self.write_group(&group);
            for WriterMsg::Records(_, done) in group {
                let r = match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(io::Error::other(e.clone())),
                };
                match done {
                    Some(Done::FlushedThenNotify(cb, tx)) => {
                        let copy = match &r {
                            Ok(()) => Ok(()),
                            Err(e) => Err(io::Error::other(e.to_string())),
                        };
                        cb.log_io_completed(r);
                        let _ = tx.send(copy);
                    }
                    Some(Done::Notify(tx)) => {
                        let _ = tx.send(r);
                    }
                    None => {}
                }
            }
        }
    }

    fn write_group(&mut self, group: &[WriterMsg]) -> Result<(), String> {
        if let Some(e) = &self.failed {
            // After an I/O failure nothing more is acknowledged: the node must restart and
            // replay, which cuts off whatever is half-written.
            return Err(e.clone());
        }
        let r = self.try_write_group(group);
        if let Err(e) = &r {
            tracing::error!(error = %e, "raft log write failed; refusing further writes");
            self.failed = Some(e.to_string());
        }
        r.map_err(|e| e.to_string())
    }

    fn try_write_group(&mut self, group: &[WriterMsg]) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut purge_upto = None;
        // Entries of `buf` (frame offset, payload length), then where they were written.
        let mut pending: Vec<(usize, u32, LogId<NodeId>)> = Vec::new();
        let mut placed: Vec<(LogId<NodeId>, Loc)> = Vec::new();
        for WriterMsg::Records(records, _) in group {
            for r in records {
                let mut before = buf.len();
                encode_frame(r, &mut buf)?;
                if buf.len() > MAX_GROUP_BYTES && before > 0 {
                    // Close the group before this record: write and fsync it, then go on.
                    let rest = buf.split_off(before);
                    self.write_placed(&buf, &mut pending, &mut placed)?;
                    buf = rest;
                    before = 0;
                }
                match r {
                    Record::Entry(e) => {
                        let len = (buf.len() - before - 8) as u32;
                        pending.push((before, len, e.log_id));
                        if let Some(seg) = self.segments.last_mut() {
                            seg.max_index = seg.max_index.max(Some(e.log_id.index));
                        }
                    }
                    Record::Vote(v) => self.vote = Some(*v),
                    Record::Purge(id) => {
                        self.purged = Some(*id);
                        purge_upto = Some(id.index);
                    }
                    Record::Committed(c) => self.committed = *c,
                    Record::Truncate(_) => {}
                }
            }
        }
        if !buf.is_empty() {
            self.write_placed(&buf, &mut pending, &mut placed)?;
        }
        if !placed.is_empty() {
            self.state.lock().place(&placed);
        }
        if self.size >= SEGMENT_BYTES {
            self.rotate()?;
        }
        if let Some(upto) = purge_upto {
            self.delete_purged(upto)?;
        }
        Ok(())
    }

    /// Writes record frames as one group and fsyncs it, moving the `pending` entries of the
    /// group to `placed` with their location.
    fn write_placed(
        &mut self,
        frames: &[u8],
        pending: &mut Vec<(usize, u32, LogId<NodeId>)>,
        placed: &mut Vec<(LogId<NodeId>, Loc)>,
    ) -> io::Result<()> {
        let base = self.size + 16;
        let seq = self.segments.last().map_or(0, |s| s.seq);
        self.write_synced(frames)?;
        placed.extend(pending.drain(..).map(|(off, len, id)| {
            (
                id,
                Loc {
                    seq,
                    offset: base + off as u64,
                    len,
                },
            )
        }));
        Ok(())
    }

    /// Writes record frames as one group and fsyncs it. A full disk (on the write or the
    /// fdatasync) is waited out: the segment is cut back to where the group started
    /// (shrinking needs no space; after a failed fsync the pages of the group cannot be
    /// trusted) and the group is written again after a pause, until it goes through or
    /// every [`LogStore`] is dropped. Nothing of the group is acknowledged before that.
    fn write_synced(&mut self, frames: &[u8]) -> io::Result<()> {
        let mut out = Vec::with_capacity(frames.len() + 16);
        encode_group(frames, &mut out);
        let mut waiting = None;
        loop {
            let r = self.file.append(&out).and_then(|()| self.file.sync_data());
            match r {
                Ok(()) => break,
                Err(e) if crate::disk_full::is_full(&e) => {
                    let seq = self.segments.last().map_or(0, |s| s.seq);
                    self.disk
                        .truncate(&segment_path(&self.dir, seq), self.size)?;
                    if self.alive.strong_count() == 0 {
                        return Err(e);
                    }
                    let w = waiting.get_or_insert_with(|| {
                        self.full.waiting(crate::disk_full::Writer::Log, &e)
                    });
                    crate::disk_full::pause_writer_thread(w.next_delay(&e));
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(w) = waiting {
            w.done();
        }
        self.size += out.len() as u64;
        Ok(())
    }

    /// Starts a new segment whose head restates vote, purge point and commit, so older
    /// segments can be deleted once purged.
    fn rotate(&mut self) -> io::Result<()> {
        let seq = self.segments.last().map_or(0, |s| s.seq) + 1;
        let path = segment_path(&self.dir, seq);
        match self.start_segment(seq, &path) {
            Err(e) if crate::disk_full::is_full(&e) => {
                // Not fatal: the current segment goes on (past SEGMENT_BYTES while the disk
                // is full) and rotation is tried again after the next group. The new file
                // must go, or the next attempt would append to its partial head.
                match self.disk.remove(&path) {
                    Err(r) if r.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
                tracing::warn!(
                    segment = seq,
                    "no space to start a new log segment; retried later"
                );
                Ok(())
            }
            r => r,
        }
    }

    fn start_segment(&mut self, seq: u64, path: &Path) -> io::Result<()> {
        let mut f = self.disk.open_append(path)?;
        let mut head = Vec::new();
        if let Some(v) = self.vote {
            encode_frame(&Record::Vote(v), &mut head)?;
        }
        if let Some(p) = self.purged {
            encode_frame(&Record::Purge(p), &mut head)?;
        }
        encode_frame(&Record::Committed(self.committed), &mut head)?;
        let mut group = Vec::new();
        encode_group(&head, &mut group);
        let head = group;
        f.append(&head)?;
        f.sync_data()?;
        self.disk.sync_dir(&self.dir)?;
        self.file = f;
        self.size = head.len() as u64;
        self.segments.push(Segment {
            seq,
            max_index: None,
        });
        Ok(())
    }

    fn delete_purged(&mut self, upto: u64) -> io::Result<()> {
        let last = self.segments.len().saturating_sub(1);
        let mut keep = Vec::new();
        let mut deleted = false;
        for (i, seg) in std::mem::take(&mut self.segments).into_iter().enumerate() {
            if i < last && seg.max_index.is_none_or(|m| m <= upto) {
                self.disk.remove(&segment_path(&self.dir, seg.seq))?;
                deleted = true;
            } else {
                keep.push(seg);
            }
        }
        self.segments = keep;
        if deleted {
            self.disk.sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        self.read_entries(range, None).await
    }

    /// At most [`MAX_READ_BYTES`] of entries (at least one): one AppendEntries payload.
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        self.read_entries(start..end, Some(MAX_READ_BYTES)).await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let st = self.state.lock();
        let last = st
            .index
            .values()
            .next_back()
            .map(|s| s.log_id)
            .or(st.last_purged);
        Ok(LogState {
            last_purged_log_id: st.last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.state.lock().vote = Some(*vote);
        self.send_and_wait(vec![Record::Vote(*vote)]).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(self.state.lock().vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        self.state.lock().committed = committed;
        self.send(vec![Record::Committed(committed)], None).await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(self.state.lock().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut records = Vec::new();
        {
            let mut st = self.state.lock();
            for e in entries {
                st.apply(Record::Entry(e.clone()), None);
                records.push(Record::Entry(e));
            }
        }
        // Returns only once the entries are on disk (and openraft told through `callback`):
        // openraft 0.9 counts an append as done when this returns, not when the callback
        // fires — a follower answers AppendEntries, and a leader counts its own copy towards
        // the commit quorum. Returning earlier let a leader acknowledge a write that was on
        // one disk only, and a power cut of the whole cluster lose it
        // (`tests/power_cut.rs`).
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(records, Some(Done::FlushedThenNotify(callback, tx)))
            .await?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(io_err(ErrorSubject::Logs, ErrorVerb::Write, e)),
            Err(_) => Err(writer_gone()),
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.state
            .lock()
            .apply(Record::Truncate(log_id.index), None);
        self.send(vec![Record::Truncate(log_id.index)], None).await
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.state.lock().apply(Record::Purge(log_id), None);
        if let Some(rx) = &mut self.durable_snapshot {
            loop {
                let covered = rx.wait_for(|s| s.is_some_and(|s| s.index >= log_id.index));
                match tokio::time::timeout(self.purge_wait, covered).await {
                    Ok(Ok(_)) => break,
                    // The snapshot waits for disk space (a received one is installed just
                    // before this purge): so does the purge, as long as it takes.
                    Err(_) if self.full.is_full() => {}
                    _ => {
                        return Err(io_err(
                            ErrorSubject::Log(log_id),
                            ErrorVerb::Delete,
                            io::Error::other("no durable snapshot covers the purge point"),
                        ));
                    }
                }
            }
        }
        self.send(vec![Record::Purge(log_id)], None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// openraft purges the log as soon as it hands a received snapshot to the state
    /// machine; while that snapshot waits for disk space, the purge waits too instead of
    /// failing the log (which would stop Raft for good).
    #[tokio::test(flavor = "multi_thread")]
    async fn a_purge_waits_for_its_snapshot_as_long_as_the_disk_is_full() {
        let (durable, rx) = tokio::sync::watch::channel(None);
        let opts = LogOptions {
            disk: Arc::new(crate::SimDisk::new()),
            durable_snapshot: Some(rx),
            ..LogOptions::default()
        };
        let (mut log, _) = LogStore::open_with(Path::new("/sim/raft-log"), &opts).unwrap();
        log.purge_wait = std::time::Duration::from_millis(50);
        let id = |index| LogId::new(openraft::CommittedLeaderId::new(1, 1), index);
        // No snapshot covers it and the disk is not full: the purge fails after its wait.
        assert!(log.clone().purge(id(10)).await.is_err());

        let full = log.disk_full().clone();
        let e = io::Error::from(io::ErrorKind::StorageFull);
        let waiting = full.waiting(crate::disk_full::Writer::Install, &e);
        let purge = tokio::spawn({
            let mut log = log.clone();
            async move { log.purge(id(20)).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(
            !purge.is_finished(),
            "the purge waits while the disk is full"
        );
        durable.send_replace(Some(id(20)));
        waiting.done();
        tokio::time::timeout(std::time::Duration::from_secs(5), purge)
            .await
            .expect("the purge ends once the snapshot is durable")
            .expect("join")
            .expect("purge");
    }

    fn group(records: &[Record]) -> Vec<u8> {
        let mut frames = Vec::new();
        for r in records {
            encode_frame(r, &mut frames).unwrap();
        }
        let mut out = Vec::new();
        encode_group(&frames, &mut out);
        out
    }

    #[test]
    fn replay_tells_torn_tails_from_damage() {
        let mut buf = group(&[Record::Truncate(5), Record::Truncate(6)]);
        let first = buf.len();
        buf.extend(group(&[Record::Truncate(7)]));
        let r = replay_segment(&buf);
        assert_eq!((r.records.len(), r.bad), (3, None));
        // Torn: the last group is cut short.
        let r = replay_segment(&buf[..buf.len() - 1]);
        assert_eq!(
            (r.records.len(), r.bad, r.valid_after_bad),
            (2, Some((first as u64, Fault::Incomplete)), false)
        );
        // Damage in the first group with a valid group after it: not a torn write.
        let mut damaged = buf.clone();
        damaged[20] ^= 0x40;
        let r = replay_segment(&damaged);
        assert_eq!(
            (r.records.len(), r.bad, r.valid_after_bad),
            (0, Some((0, Fault::Damaged("checksum mismatch"))), true)
        );
        // Damage in the last, complete group: damage, not a torn write.
        let mut tail = buf.clone();
        let last = tail.len() - 1;
        tail[last] ^= 0x40;
        let r = replay_segment(&tail);
        assert_eq!(
            (r.records.len(), r.bad, r.valid_after_bad),
            (
                2,
                Some((first as u64, Fault::Damaged("checksum mismatch"))),
                false
            )
        );
        // A zero-filled tail (size extended, data never written) is incomplete.
        let mut zeros = buf.clone();
        zeros.extend([0u8; 40]);
        let r = replay_segment(&zeros);
        assert_eq!(r.bad, Some((buf.len() as u64, Fault::Incomplete)));
    }

    /// A segment file of two groups, the second holding a vote; returns its path and the
    /// offset of the second group.
    fn two_groups(dir: &Path) -> (PathBuf, u64, Vec<u8>) {
        let first_vote = Vote::new(1, 1);
        let mut buf = group(&[Record::Vote(first_vote)]);
        let off = buf.len() as u64;
        buf.extend(group(&[Record::Vote(Vote::new(2, 1))]));
        std::fs::create_dir_all(dir).unwrap();
        let path = segment_path(dir, 0);
        std::fs::write(&path, &buf).unwrap();
        (path, off, buf)
    }

    fn open_vote(
        dir: &Path,
        opts: &LogOptions,
    ) -> Result<(Option<Vote<NodeId>>, RecoveryReport), Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let (mut log, report) = LogStore::open_with(dir, opts)?;
            Ok((log.read_vote().await.unwrap(), report))
        })
    }

    #[test]
    fn a_damaged_complete_last_group_is_refused_with_file_and_offset() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        let (path, off, mut buf) = two_groups(&dir);
        let last = buf.len() - 3;
        buf[last] ^= 0x01;
        std::fs::write(&path, &buf).unwrap();
        match open_vote(&dir, &LogOptions::default()) {
            Err(e @ Error::DamagedLog { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(&path.display().to_string()), "{msg}");
                assert!(msg.contains(&format!("offset {off}")), "{msg}");
                assert!(msg.contains("truncate-damaged-log"), "{msg}");
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("a damaged complete group was accepted"),
        }
        // Nothing was cut: the file is as it was.
        assert_eq!(std::fs::read(&path).unwrap(), buf);
        // With the explicit option, it is cut and reported.
        let opts = LogOptions {
            truncate_damaged: true,
            ..Default::default()
        };
        let (vote, report) = open_vote(&dir, &opts).unwrap();
        assert_eq!(vote, Some(Vote::new(1, 1)));
        assert_eq!(
            report.damaged_tail_cut,
            Some((path.clone(), off, buf.len() as u64 - off))
        );
        assert_eq!(report.truncated_tail, None);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), off);
    }

    #[test]
    fn a_short_last_group_is_cut_as_a_torn_write() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        let (path, off, buf) = two_groups(&dir);
        std::fs::write(&path, &buf[..buf.len() - 2]).unwrap();
        let (vote, report) = open_vote(&dir, &LogOptions::default()).unwrap();
        assert_eq!(vote, Some(Vote::new(1, 1)));
        assert_eq!(
            report.truncated_tail,
            Some((path.clone(), off, buf.len() as u64 - 2 - off))
        );
        assert_eq!(report.damaged_tail_cut, None);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), off);
    }
}
