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

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{
    Entry, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftLogId, RaftLogReader, StorageError,
    StorageIOError, Vote,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::{Error, NodeId, TypeConfig};

/// A segment is closed and a new one started past this size.
const SEGMENT_BYTES: u64 = 64 << 20;
/// Largest record; a longer one is refused when written (never acknowledged) and treated as
/// corruption on replay. The batcher keeps entries far below it.
const MAX_FRAME: u32 = 48 << 20;
/// A group (one write + fsync) is closed past this size; a larger write is split into
/// several groups, each fsynced before the next is written.
const MAX_GROUP_BYTES: usize = 56 << 20;
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
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Cut a complete last group that fails its checksum (damage, not a torn write) instead
    /// of refusing to start. The operator's explicit way out: what it held is lost on this
    /// node (a cluster node catches up from its peers).
    pub truncate_damaged: bool,
}

#[derive(Debug, Default)]
struct LogState2 {
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    last_purged: Option<LogId<NodeId>>,
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
}

impl LogState2 {
    fn apply(&mut self, rec: Record) {
        match rec {
            Record::Entry(e) => {
                self.entries.insert(e.log_id.index, e);
            }
            Record::Truncate(since) => {
                self.entries.split_off(&since);
            }
            Record::Purge(id) => {
                self.entries = self.entries.split_off(&(id.index + 1));
                self.last_purged = Some(id);
            }
            Record::Vote(v) => self.vote = Some(v),
            Record::Committed(c) => self.committed = c,
        }
    }
}

enum WriterMsg {
    Records(Vec<Record>, Option<Done>),
}

enum Done {
    Flushed(LogFlushed<TypeConfig>),
    Notify(tokio::sync::oneshot::Sender<io::Result<()>>),
}

/// The Raft log store. Cloning shares the same log (the clone is the log reader).
#[derive(Clone)]
pub struct LogStore {
    state: Arc<Mutex<LogState2>>,
    writer: tokio::sync::mpsc::Sender<WriterMsg>,
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

/// Decodes the record frames of a group body; `None` if any is damaged.
fn decode_frames(buf: &[u8]) -> Option<Vec<Record>> {
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
        out.push(postcard::from_bytes::<Record>(payload).ok()?);
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
fn group_at(buf: &[u8], off: usize) -> Result<(Vec<Record>, usize), Fault> {
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
    let records = decode_frames(body).ok_or(Fault::Damaged("undecodable records"))?;
    Ok((records, 16 + len))
}

/// What replay of one segment found.
struct Replayed {
    records: Vec<Record>,
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

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl LogStore {
    /// Opens (or creates) the log in `dir`, replaying every segment, with default options.
    pub fn open(dir: &Path) -> Result<(Self, RecoveryReport), Error> {
        Self::open_with(dir, &LogOptions::default())
    }

    /// Opens (or creates) the log in `dir`, replaying every segment.
    pub fn open_with(dir: &Path, opts: &LogOptions) -> Result<(Self, RecoveryReport), Error> {
        fs::create_dir_all(dir)?;
        let mut seqs: Vec<u64> = fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix("segment-")?
                    .strip_suffix(".wal")?
                    .parse()
                    .ok()
            })
            .collect();
        seqs.sort_unstable();
        let mut state = LogState2::default();
        let mut report = RecoveryReport {
            segments: seqs.len(),
            ..Default::default()
        };
        let mut segments = Vec::new();
        for (i, seq) in seqs.iter().enumerate() {
            let path = segment_path(dir, *seq);
            let mut buf = Vec::new();
            File::open(&path)?.read_to_end(&mut buf)?;
            let Replayed {
                records,
                bad,
                valid_after_bad,
            } = replay_segment(&buf);
            let mut max_index = None;
            for r in records {
                if let Record::Entry(e) = &r {
                    max_index = max_index.max(Some(e.log_id.index));
                }
                report.records += 1;
                state.apply(r);
            }
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
                let cut = buf.len() as u64 - off;
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
                let f = OpenOptions::new().write(true).open(&path)?;
                f.set_len(off)?;
                f.sync_all()?;
            }
            segments.push(Segment {
                seq: *seq,
                max_index,
            });
        }
        let (tx, rx) = tokio::sync::mpsc::channel(WRITER_QUEUE);
        let mut writer = Writer::open(dir.to_path_buf(), segments, &state)?;
        std::thread::Builder::new()
            .name("raft-log-writer".into())
            .spawn(move || writer.run(rx))?;
        Ok((
            Self {
                state: Arc::new(Mutex::new(state)),
                writer: tx,
            },
            report,
        ))
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
    dir: PathBuf,
    segments: Vec<Segment>,
    file: BufWriter<File>,
    size: u64,
    // Mirrors of the durable state, to write at the head of each new segment.
    vote: Option<Vote<NodeId>>,
    purged: Option<LogId<NodeId>>,
    committed: Option<LogId<NodeId>>,
    failed: Option<String>,
}

impl Writer {
    fn open(dir: PathBuf, mut segments: Vec<Segment>, state: &LogState2) -> io::Result<Self> {
        let seq = segments.last().map_or(0, |s| s.seq);
        if segments.is_empty() {
            segments.push(Segment {
                seq,
                max_index: None,
            });
        }
        let path = segment_path(&dir, seq);
        let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = f.seek(SeekFrom::End(0))?;
        sync_dir(&dir)?;
        Ok(Self {
            dir,
            segments,
            file: BufWriter::with_capacity(1 << 20, f),
            size,
            vote: state.vote,
            purged: state.last_purged,
            committed: state.committed,
            failed: None,
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
                    Some(Done::Flushed(cb)) => cb.log_io_completed(r),
                    Some(Done::Notify(tx)) => {
                        let _ = tx.send(r);
                    }
                    None => {}
                }
            }
        }
        let _ = self.file.flush();
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
        for WriterMsg::Records(records, _) in group {
            for r in records {
                let before = buf.len();
                encode_frame(r, &mut buf)?;
                if buf.len() > MAX_GROUP_BYTES && before > 0 {
                    // Close the group before this record: write and fsync it, then go on.
                    let rest = buf.split_off(before);
                    self.write_synced(&buf)?;
                    buf = rest;
                }
                match r {
                    Record::Entry(e) => {
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
            self.write_synced(&buf)?;
        }
        if self.size >= SEGMENT_BYTES {
            self.rotate()?;
        }
        if let Some(upto) = purge_upto {
            self.delete_purged(upto)?;
        }
        Ok(())
    }

    /// Writes record frames as one group and fsyncs it.
    fn write_synced(&mut self, frames: &[u8]) -> io::Result<()> {
        let mut out = Vec::with_capacity(frames.len() + 16);
        encode_group(frames, &mut out);
        self.file.write_all(&out)?;
        self.file.flush()?;
        self.file.get_ref().sync_data()?;
        self.size += out.len() as u64;
        Ok(())
    }

    /// Starts a new segment whose head restates vote, purge point and commit, so older
    /// segments can be deleted once purged.
    fn rotate(&mut self) -> io::Result<()> {
        let seq = self.segments.last().map_or(0, |s| s.seq) + 1;
        let path = segment_path(&self.dir, seq);
        let f = OpenOptions::new().create(true).append(true).open(&path)?;
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
        let mut w = BufWriter::with_capacity(1 << 20, f);
        w.write_all(&head)?;
        w.flush()?;
        w.get_ref().sync_data()?;
        sync_dir(&self.dir)?;
        self.file = w;
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
                fs::remove_file(segment_path(&self.dir, seg.seq))?;
                deleted = true;
            } else {
                keep.push(seg);
            }
        }
        self.segments = keep;
        if deleted {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        let st = self.state.lock();
        Ok(st.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let st = self.state.lock();
        let last = st
            .entries
            .values()
            .next_back()
            .map(|e| *e.get_log_id())
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
                st.entries.insert(e.log_id.index, e.clone());
                records.push(Record::Entry(e));
            }
        }
        self.send(records, Some(Done::Flushed(callback))).await
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.state.lock().apply(Record::Truncate(log_id.index));
        self.send(vec![Record::Truncate(log_id.index)], None).await
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.state.lock().apply(Record::Purge(log_id));
        self.send(vec![Record::Purge(log_id)], None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
