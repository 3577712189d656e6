//! The Raft state machine: applies committed commands to the [`Mvcc`] store, builds,
//! installs and persists snapshots, and wakes watchers after every applied batch.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftSnapshotBuilder, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::disk::{Disk, StdDisk};
use crate::mvcc::{Mvcc, MvccSnapshot, Outcome};
use crate::{Error, Node, NodeId, TypeConfig};

/// State shared between the state machine (writer) and readers (the API server).
pub struct Shared {
    inner: RwLock<SmState>,
    applied: tokio::sync::watch::Sender<u64>,
}

pub(crate) struct SmState {
    pub mvcc: Mvcc,
    pub last_applied: Option<LogId<NodeId>>,
    pub membership: StoredMembership<NodeId, Node>,
}

impl Shared {
    /// Runs `f` with read access to the store.
    pub fn read<T>(&self, f: impl FnOnce(&Mvcc) -> T) -> T {
        f(&self.inner.read().mvcc)
    }

    /// A receiver that changes whenever a batch has been applied; its value is the revision.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// Index of the last applied log entry.
    pub fn last_applied_index(&self) -> Option<u64> {
        self.inner.read().last_applied.map(|l| l.index)
    }

    /// Number of watch streams currently subscribed.
    pub fn watcher_count(&self) -> usize {
        self.applied.receiver_count()
    }
}

#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta<NodeId, Node>,
    data: Vec<u8>,
}

/// The state machine handed to openraft.
pub struct StateMachine {
    shared: Arc<Shared>,
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    snapshot_seq: u64,
    written: Written,
    /// Set while a snapshot waits for disk space.
    full: Arc<crate::DiskFull>,
    /// Dropped with the state machine: a snapshot being built that waits for space then
    /// gives up.
    alive: Arc<()>,
    /// The store's liveness: a received snapshot waiting for space gives up once it is gone
    /// (openraft's shutdown does not wait for its state machine task).
    store: Weak<()>,
}

/// The last log id of the snapshot file on disk. Held while a snapshot file is written, so
/// a build and an install (which openraft may run at once) never interleave, and an older
/// snapshot never replaces a newer one: the log may already be purged behind the newer.
/// Published (see [`StateMachine::durable_snapshot`]) once durable: the log waits for it
/// before it makes a purge durable.
#[derive(Clone, Default)]
struct Written {
    lock: Arc<parking_lot::Mutex<Option<LogId<NodeId>>>>,
    durable: Arc<tokio::sync::watch::Sender<Option<LogId<NodeId>>>>,
}

impl Written {
    fn new(at: Option<LogId<NodeId>>) -> Self {
        Self {
            lock: Arc::new(parking_lot::Mutex::new(at)),
            durable: Arc::new(tokio::sync::watch::channel(at).0),
        }
    }
}

fn sm_err(verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageError::IO {
        source: StorageIOError::new(
            ErrorSubject::StateMachine,
            verb,
            openraft::AnyError::new(&e),
        ),
    }
}

fn snap_err(verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageError::IO {
        source: StorageIOError::new(
            ErrorSubject::Snapshot(None),
            verb,
            openraft::AnyError::new(&e),
        ),
    }
}

const SNAPSHOT_FILE: &str = "snapshot.bin";

impl StateMachine {
    /// Opens the state machine in `dir`, restoring the last snapshot if there is one.
    pub fn open(dir: &Path, max_events: usize) -> Result<Self, Error> {
        Self::open_on(Arc::new(StdDisk), dir, max_events)
    }

    /// Opens the state machine in `dir` of `disk`.
    pub fn open_on(disk: Arc<dyn Disk>, dir: &Path, max_events: usize) -> Result<Self, Error> {
        disk.create_dir_all(dir)?;
        let mut mvcc = Mvcc::new(max_events);
        let mut last_applied = None;
        let mut membership = StoredMembership::default();
        let mut written = None;
        if let Some(file) = read_snapshot_file(&*disk, dir)? {
            written = file.meta.last_log_id;
            let snap: MvccSnapshot = postcard::from_bytes(&file.data)
                .map_err(|e| Error::Corrupt(format!("snapshot body: {e}")))?;
            mvcc.restore(snap);
            last_applied = file.meta.last_log_id;
            membership = file.meta.last_membership.clone();
            tracing::info!(
                revision = mvcc.revision(),
                keys = mvcc.len(),
                "restored snapshot"
            );
        }
        let (applied, _) = tokio::sync::watch::channel(mvcc.revision());
        Ok(Self {
            shared: Arc::new(Shared {
                inner: RwLock::new(SmState {
                    mvcc,
                    last_applied,
                    membership,
                }),
                applied,
            }),
            disk,
            dir: dir.to_path_buf(),
            snapshot_seq: 0,
            written: Written::new(written),
            full: Arc::default(),
            alive: Arc::new(()),
            store: Weak::new(),
        })
    }

    /// Shares the node's disk-full flag (the log's), set while a snapshot waits for space;
    /// a received snapshot waiting for space gives up once `store` (the log's liveness,
    /// see [`crate::LogStore::alive`]) is gone.
    pub fn with_disk_full(mut self, full: Arc<crate::DiskFull>, store: Weak<()>) -> Self {
        self.full = full;
        self.store = store;
        self
    }

    /// Where snapshot files go; a write waiting for space gives up once the store is gone.
    fn target(&self) -> SnapshotTarget {
        SnapshotTarget {
            disk: self.disk.clone(),
            dir: self.dir.clone(),
            written: self.written.clone(),
            full: self.full.clone(),
            alive: self.store.clone(),
        }
    }

    /// The last log id of the durable snapshot file, as it changes.
    pub fn durable_snapshot(&self) -> tokio::sync::watch::Receiver<Option<LogId<NodeId>>> {
        self.written.durable.subscribe()
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }
}

/// Reads and verifies the snapshot file: `[crc32c u32 LE][postcard(SnapshotFile)]`.
fn read_snapshot_file(disk: &dyn Disk, dir: &Path) -> Result<Option<SnapshotFile>, Error> {
    let path = dir.join(SNAPSHOT_FILE);
    let buf = match disk.read(&path) {
        Ok(buf) => buf,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if buf.len() < 4 {
        return Err(Error::Corrupt(format!("{}: too short", path.display())));
    }
    let crc = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if crc32c::crc32c(&buf[4..]) != crc {
        return Err(Error::Corrupt(format!(
            "{}: checksum mismatch",
            path.display()
        )));
    }
    postcard::from_bytes(&buf[4..])
        .map(Some)
        .map_err(|e| Error::Corrupt(format!("{}: {e}", path.display())))
}

/// Writes the snapshot file atomically: temp file, fsync, rename, fsync the directory.
/// Does nothing if the file on disk is as new or newer.
fn write_snapshot_file(
    disk: &dyn Disk,
    dir: &Path,
    file: &SnapshotFile,
    written: &Written,
) -> std::io::Result<()> {
    let mut on_disk = written.lock.lock();
    if on_disk.is_some() && *on_disk >= file.meta.last_log_id {
        tracing::info!(snapshot = %file.meta.snapshot_id, "a newer snapshot is on disk already");
        return Ok(());
    }
    let body = postcard::to_allocvec(file).map_err(std::io::Error::other)?;
    let tmp = dir.join("snapshot.tmp");
    let synced = disk.create(&tmp).and_then(|mut f| {
        f.append(&crc32c::crc32c(&body).to_le_bytes())?;
        f.append(&body)?;
        f.sync_data()
    });
    if let Err(e) = synced {
        // Give back the space a partial snapshot holds (a full disk is retried).
        let _ = disk.remove(&tmp);
        return Err(e);
    }
    disk.rename(&tmp, &dir.join(SNAPSHOT_FILE))?;
    disk.sync_dir(dir)?;
    *on_disk = file.meta.last_log_id;
    written.durable.send_replace(file.meta.last_log_id);
    Ok(())
}

/// Where a snapshot file goes, and what a write of it waiting for space shares.
#[derive(Clone)]
struct SnapshotTarget {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    written: Written,
    full: Arc<crate::DiskFull>,
    /// The wait for space gives up (an error) once this is gone.
    alive: Weak<()>,
}

/// Writes a snapshot file, waiting out a full disk (see [`crate::disk_full`]) instead of
/// failing: a failure of `build_snapshot` or `install_snapshot` would stop Raft for good.
/// Gives up (an error) once `target.alive` is gone.
async fn write_snapshot_waiting(
    target: &SnapshotTarget,
    file: SnapshotFile,
    writer: crate::disk_full::Writer,
) -> std::io::Result<SnapshotFile> {
    let mut file = file;
    let mut waiting = None;
    loop {
        let t = target.clone();
        let (f, r) = tokio::task::spawn_blocking(move || {
            let r = write_snapshot_file(&*t.disk, &t.dir, &file, &t.written);
            (file, r)
        })
        .await
        .map_err(std::io::Error::other)?;
        file = f;
        match r {
            Ok(()) => break,
            Err(e) if crate::disk_full::is_full(&e) && target.alive.strong_count() > 0 => {
                let w = waiting.get_or_insert_with(|| target.full.waiting(writer, &e));
                tokio::time::sleep(w.next_delay(&e)).await;
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(w) = waiting {
        w.done();
    }
    Ok(file)
}

/// Builds snapshots from a consistent copy of the state.
pub struct SnapshotBuilder {
    shared: Arc<Shared>,
    /// Gives up waiting for space once the state machine is dropped.
    target: SnapshotTarget,
    seq: u64,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let (snap, last_applied, membership) = {
            let st = self.shared.inner.read();
            (
                st.mvcc.to_snapshot(),
                st.last_applied,
                st.membership.clone(),
            )
        };
        let revision = snap.revision;
        // Encoding a large store is CPU work: keep it off the async workers.
        let data = tokio::task::spawn_blocking(move || postcard::to_allocvec(&snap))
            .await
            .map_err(|e| snap_err(ErrorVerb::Write, e))?
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        let snapshot_id = match last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, self.seq),
            None => format!("0-0-{}", self.seq),
        };
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id,
        };
        let file = SnapshotFile {
            meta: meta.clone(),
            data,
        };
        // openraft builds snapshots in a task of their own, so Raft goes on meanwhile.
        let file = write_snapshot_waiting(&self.target, file, crate::disk_full::Writer::Snapshot)
            .await
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        tracing::info!(snapshot = %meta.snapshot_id, revision, "built snapshot");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(file.data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, Node>), StorageError<NodeId>> {
        let st = self.shared.inner.read();
        Ok((st.last_applied, st.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Outcome>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = openraft::Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        let revision = {
            let mut st = self.shared.inner.write();
            for entry in entries {
                st.last_applied = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => out.push(Outcome::Empty),
                    EntryPayload::Normal(cmd) => out.push(st.mvcc.apply(cmd)),
                    EntryPayload::Membership(m) => {
                        st.membership = StoredMembership::new(Some(entry.log_id), m);
                        out.push(Outcome::Empty);
                    }
                }
            }
            st.mvcc.revision()
        };
        self.shared.applied.send_replace(revision);
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.snapshot_seq += 1;
        SnapshotBuilder {
            shared: self.shared.clone(),
            target: SnapshotTarget {
                alive: Arc::downgrade(&self.alive),
                ..self.target()
            },
            seq: self.snapshot_seq,
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, Node>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let data = snapshot.into_inner();
        let snap: MvccSnapshot =
            postcard::from_bytes(&data).map_err(|e| snap_err(ErrorVerb::Read, e))?;
        let file = SnapshotFile {
            meta: meta.clone(),
            data,
        };
        // openraft has already taken the snapshot's log id as committed and purges the log
        // behind it at once (the purge waits for this file to be durable): an error here
        // would stop Raft for good. A full disk is waited out instead; this node's state
        // machine (and its Raft core, in the purge) wait meanwhile, its writes are refused,
        // and the leader goes on with the others.
        write_snapshot_waiting(&self.target(), file, crate::disk_full::Writer::Install)
            .await
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        let revision = {
            let mut st = self.shared.inner.write();
            st.mvcc.restore(snap);
            st.last_applied = meta.last_log_id;
            st.membership = meta.last_membership.clone();
            st.mvcc.revision()
        };
        self.shared.applied.send_replace(revision);
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let dir = self.dir.clone();
        let disk = self.disk.clone();
        let file = tokio::task::spawn_blocking(move || read_snapshot_file(&*disk, &dir))
            .await
            .map_err(|e| sm_err(ErrorVerb::Read, e))?
            .map_err(|e| sm_err(ErrorVerb::Read, e))?;
        Ok(file.map(|f| Snapshot {
            meta: f.meta,
            snapshot: Box::new(Cursor::new(f.data)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimDisk;

    fn file(index: u64) -> SnapshotFile {
        SnapshotFile {
            meta: SnapshotMeta {
                last_log_id: Some(LogId::new(openraft::CommittedLeaderId::new(1, 1), index)),
                last_membership: StoredMembership::default(),
                snapshot_id: format!("s{index}"),
            },
            data: vec![index as u8],
        }
    }

    /// A build that finishes after an install of a newer snapshot must not put the older
    /// one back: the log may already be purged behind the newer one.
    #[test]
    fn an_older_snapshot_never_replaces_a_newer_one() {
        let disk = SimDisk::new();
        let dir = Path::new("/sim/state");
        let written = Written::default();
        write_snapshot_file(&disk, dir, &file(20), &written).unwrap();
        write_snapshot_file(&disk, dir, &file(10), &written).unwrap();
        let on_disk = read_snapshot_file(&disk, dir).unwrap().unwrap();
        assert_eq!(on_disk.meta.snapshot_id, "s20");
        write_snapshot_file(&disk, dir, &file(30), &written).unwrap();
        let on_disk = read_snapshot_file(&disk, dir).unwrap().unwrap();
        assert_eq!(on_disk.meta.snapshot_id, "s30");
    }
}
