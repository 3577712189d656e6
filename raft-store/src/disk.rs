//! The files of a store node — Raft log segments, the snapshot, the directory lock — are
//! written through [`Disk`], so that tests can cut the power: [`StdDisk`] is the real file
//! system; [`SimDisk`] keeps every file in memory with what has been synced apart from what
//! has not, and [`SimDisk::power_cut`] drops or tears whatever was not synced (file bytes
//! past the last `sync_data`, names created, renamed or removed since the last `sync_dir`).
//! [`SimDisk::set_space`] makes it run out of space: writes, `sync_data` or file creation
//! then fail with `ENOSPC` (`StorageFull`) until space is given back.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

/// A held directory lock; released when dropped.
pub struct DirLock(#[allow(dead_code)] Box<dyn Any + Send + Sync>);

/// A file open for appending.
pub trait DiskFile: Send {
    /// Appends `data` (not durable before [`DiskFile::sync_data`]).
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable.
    fn sync_data(&mut self) -> io::Result<()>;
    /// The file's length.
    fn size(&self) -> io::Result<u64>;
}

/// The file operations the store uses.
pub trait Disk: Send + Sync + Debug + 'static {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Takes the exclusive lock of `dir`; `None` if another process holds it.
    fn lock(&self, dir: &Path) -> io::Result<Option<DirLock>>;
    /// Names of the files in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// The whole file (`NotFound` if it does not exist).
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Fills `buf` from `offset` of the file.
    fn read_at(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Opens a file for appending, creating it (empty) if needed.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn DiskFile>>;
    /// Creates (or empties) a file and opens it for appending.
    fn create(&self, path: &Path) -> io::Result<Box<dyn DiskFile>>;
    /// Cuts a file to `len` bytes, durably.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the names in `dir` (created, renamed, removed) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdDisk;

struct StdFile(File);

impl DiskFile for StdFile {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.write_all(data)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

impl Disk for StdDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn lock(&self, dir: &Path) -> io::Result<Option<DirLock>> {
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))?;
        match f.try_lock() {
            Ok(()) => Ok(Some(DirLock(Box::new(f)))),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        Ok(fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect())
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        File::open(path)?.read_to_end(&mut buf)?;
        Ok(buf)
    }

    fn read_at(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        File::open(path)?.read_exact_at(buf, offset)
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Box::new(StdFile(f)))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        Ok(Box::new(StdFile(File::create(path)?)))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(len)?;
        f.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// One file's bytes: what the OS has (`data`) and how much of it is on the platter.
#[derive(Debug, Default)]
struct Inode {
    data: Vec<u8>,
    durable_len: usize,
}

/// Where a simulated disk that has run out of space reports `ENOSPC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSpaceAt {
    /// On the `write` that needs the space (space is taken when written, as ext4 does
    /// without delayed allocation, or as any file system once it is really full). What
    /// fits is written first, as `write_all` leaves it.
    Write,
    /// On the `fdatasync` that writes the bytes back (delayed allocation: the write went to
    /// the page cache; the space is found — or not — at writeback). The pages that could
    /// not be written back are lost: the file's unsynced bytes read as zeros after the
    /// failure (a later `fdatasync` would "succeed" without them), so a writer must cut
    /// them off and write them again.
    Sync,
}

/// What every named file costs on top of its bytes (an inode and its first block): no file
/// can be created on a full disk.
pub const SIM_FILE_BYTES: u64 = 4096;

#[derive(Debug, Clone, Copy)]
struct Space {
    limit: u64,
    at: NoSpaceAt,
}

#[derive(Debug, Default)]
struct SimState {
    epoch: u64,
    /// `None`: unlimited.
    space: Option<Space>,
    next_ino: u64,
    inodes: HashMap<u64, Inode>,
    /// Names as the running process sees them.
    names: BTreeMap<PathBuf, u64>,
    /// Names as they would be found after a power cut (as of each directory's last sync).
    durable_names: BTreeMap<PathBuf, u64>,
    locks: BTreeSet<PathBuf>,
}

impl SimState {
    fn new_inode(&mut self) -> u64 {
        self.next_ino += 1;
        self.inodes.insert(self.next_ino, Inode::default());
        self.next_ino
    }

    /// Bytes the disk holds: [`SIM_FILE_BYTES`] per named file, plus its bytes — all of
    /// them, or (when space is found at writeback) those synced.
    fn used(&self, at: NoSpaceAt) -> u64 {
        let inos: BTreeSet<u64> = self.names.values().copied().collect();
        inos.iter()
            .filter_map(|i| self.inodes.get(i))
            .map(|n| {
                let bytes = match at {
                    NoSpaceAt::Write => n.data.len(),
                    NoSpaceAt::Sync => n.durable_len.min(n.data.len()),
                };
                SIM_FILE_BYTES + bytes as u64
            })
            .sum()
    }

    /// `ENOSPC` if `more` bytes do not fit when space is taken `at`.
    fn reserve(&self, at: NoSpaceAt, more: u64) -> io::Result<()> {
        match self.space {
            Some(s) if s.at == at && self.used(at) + more > s.limit => Err(no_space()),
            _ => Ok(()),
        }
    }

    /// `ENOSPC` if a new file does not fit (whenever space is taken).
    fn reserve_file(&self) -> io::Result<()> {
        match self.space {
            Some(s) if self.used(s.at) + SIM_FILE_BYTES > s.limit => Err(no_space()),
            _ => Ok(()),
        }
    }

    fn inode(&self, path: &Path) -> io::Result<&Inode> {
        self.names
            .get(path)
            .and_then(|i| self.inodes.get(i))
            .ok_or_else(|| not_found(path))
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, path.display().to_string())
}

fn no_space() -> io::Error {
    io::Error::new(io::ErrorKind::StorageFull, "simulated full disk")
}

fn power_lost() -> io::Error {
    io::Error::other("simulated power loss: this process is gone")
}

/// An in-memory disk for tests that cut the power. Each handle belongs to one "boot": after
/// [`SimDisk::power_cut`], every operation through an older handle (and the files it
/// opened) fails, as the process that held it is gone.
#[derive(Debug, Clone)]
pub struct SimDisk {
    state: Arc<Mutex<SimState>>,
    epoch: u64,
}

impl Default for SimDisk {
    fn default() -> Self {
        Self::new()
    }
}

/// How the unsynced tail of one file fares in a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tear {
    /// Nothing unsynced reaches the disk.
    Drop,
    /// All of it does (the OS had written it back).
    Keep,
    /// A prefix of it does.
    Prefix,
    /// The file's size was extended but none of the data written: the unsynced bytes read
    /// as zeros.
    ///
    /// Not modelled: a size extension with only some of the new pages written (garbage
    /// after a written prefix). Replay takes a complete group that fails its checksum as
    /// damage and refuses to start, so a file system that can leave that (unlike ext4's
    /// default `data=ordered`, which commits a size only after its data) would need the
    /// operator's `truncate_damaged_log` after such a crash.
    ZeroExtended,
}

/// A small deterministic generator (xorshift), so a seed replays the same cut.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

impl SimDisk {
    pub fn new() -> Self {
        Self {
            state: Arc::default(),
            epoch: 0,
        }
    }

    fn live(&self) -> io::Result<parking_lot::MutexGuard<'_, SimState>> {
        let st = self.state.lock();
        if st.epoch != self.epoch {
            return Err(power_lost());
        }
        Ok(st)
    }

    /// Cuts the power: every name not made durable by a directory sync is forgotten (or
    /// comes back, if removed), and every file's unsynced bytes are dropped, kept, or torn,
    /// as `seed` decides. Returns the handle of the next boot; the old one (and every file
    /// opened through it) fails from now on. Locks are released.
    pub fn power_cut(&self, seed: u64) -> SimDisk {
        let mut st = self.state.lock();
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        st.names = st.durable_names.clone();
        let live: BTreeSet<u64> = st.names.values().copied().collect();
        st.inodes.retain(|ino, _| live.contains(ino));
        let mut inos: Vec<u64> = st.inodes.keys().copied().collect();
        inos.sort_unstable();
        for ino in inos {
            let tear = match rng.below(4) {
                0 => Tear::Drop,
                1 => Tear::Keep,
                2 => Tear::Prefix,
                _ => Tear::ZeroExtended,
            };
            if let Some(inode) = st.inodes.get_mut(&ino) {
                tear_inode(inode, tear, &mut rng);
            }
        }
        st.locks.clear();
        st.epoch += 1;
        SimDisk {
            state: self.state.clone(),
            epoch: st.epoch,
        }
    }

    /// Limits what the disk holds to `limit` bytes (see [`SIM_FILE_BYTES`]), found short
    /// `at` a write or a sync; `None` lifts the limit. A limit below what is held already
    /// refuses every new byte and file; nothing held is lost.
    pub fn set_space(&self, limit: Option<u64>, at: NoSpaceAt) {
        self.state.lock().space = limit.map(|limit| Space { limit, at });
    }

    /// Fills the disk: not one more byte or file fits (found `at` a write or a sync) until
    /// [`SimDisk::free_space`].
    pub fn fill(&self, at: NoSpaceAt) {
        self.fill_but(0, at);
    }

    /// Leaves `headroom` bytes free and no more.
    pub fn fill_but(&self, headroom: u64, at: NoSpaceAt) {
        let mut st = self.state.lock();
        let limit = st.used(at) + headroom;
        st.space = Some(Space { limit, at });
    }

    /// Gives the space back: no limit.
    pub fn free_space(&self) {
        self.state.lock().space = None;
    }

    /// Bytes held now, as a limit set `at` would count them (see [`SimDisk::set_space`]).
    pub fn used(&self, at: NoSpaceAt) -> u64 {
        self.state.lock().used(at)
    }

    /// Bytes of every file (the running process's view), for tests.
    pub fn files(&self) -> BTreeMap<PathBuf, usize> {
        let st = self.state.lock();
        st.names
            .iter()
            .map(|(p, i)| (p.clone(), st.inodes.get(i).map_or(0, |n| n.data.len())))
            .collect()
    }
}

fn tear_inode(inode: &mut Inode, tear: Tear, rng: &mut Rng) {
    let durable = inode.durable_len.min(inode.data.len());
    let extra = inode.data.len() - durable;
    match tear {
        Tear::Drop => inode.data.truncate(durable),
        Tear::Keep => {}
        Tear::Prefix => inode
            .data
            .truncate(durable + rng.below(extra as u64 + 1) as usize),
        Tear::ZeroExtended => inode.data[durable..].fill(0),
    }
    inode.durable_len = inode.data.len();
}

struct SimFile {
    disk: SimDisk,
    ino: u64,
}

impl DiskFile for SimFile {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        let mut st = self.disk.live()?;
        // As `write_all` does on a real disk: what fits is written, then `ENOSPC`.
        let fits = match st.space {
            Some(s) if s.at == NoSpaceAt::Write => {
                let free = s.limit.saturating_sub(st.used(NoSpaceAt::Write));
                usize::try_from(free).unwrap_or(usize::MAX).min(data.len())
            }
            _ => data.len(),
        };
        let inode = st.inodes.get_mut(&self.ino).ok_or_else(power_lost)?;
        inode.data.extend_from_slice(&data[..fits]);
        if fits < data.len() {
            return Err(no_space());
        }
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut st = self.disk.live()?;
        let unsynced = {
            let inode = st.inodes.get(&self.ino).ok_or_else(power_lost)?;
            inode.data.len().saturating_sub(inode.durable_len)
        };
        let reserved = st.reserve(NoSpaceAt::Sync, unsynced as u64);
        let inode = st.inodes.get_mut(&self.ino).ok_or_else(power_lost)?;
        if let Err(e) = reserved {
            // Writeback failed: those pages are gone (marked clean, as Linux does).
            let durable = inode.durable_len.min(inode.data.len());
            inode.data[durable..].fill(0);
            return Err(e);
        }
        inode.durable_len = inode.data.len();
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        let st = self.disk.live()?;
        Ok(st.inodes.get(&self.ino).map_or(0, |i| i.data.len()) as u64)
    }
}

struct SimLock {
    disk: SimDisk,
    dir: PathBuf,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        if let Ok(mut st) = self.disk.live() {
            st.locks.remove(&self.dir);
        }
    }
}

impl Disk for SimDisk {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        self.live().map(|_| ())
    }

    fn lock(&self, dir: &Path) -> io::Result<Option<DirLock>> {
        let mut st = self.live()?;
        if !st.locks.insert(dir.to_path_buf()) {
            return Ok(None);
        }
        Ok(Some(DirLock(Box::new(SimLock {
            disk: self.clone(),
            dir: dir.to_path_buf(),
        }))))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let st = self.live()?;
        Ok(st
            .names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(String::from))
            .collect())
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        Ok(self.live()?.inode(path)?.data.clone())
    }

    fn read_at(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let st = self.live()?;
        let data = &st.inode(path)?.data;
        let src = usize::try_from(offset)
            .ok()
            .and_then(|o| data.get(o..o.checked_add(buf.len())?))
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let mut st = self.live()?;
        let ino = match st.names.get(path) {
            Some(i) => *i,
            None => {
                st.reserve_file()?;
                let i = st.new_inode();
                st.names.insert(path.to_path_buf(), i);
                i
            }
        };
        Ok(Box::new(SimFile {
            disk: self.clone(),
            ino,
        }))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let mut st = self.live()?;
        if !st.names.contains_key(path) {
            st.reserve_file()?;
        }
        let ino = st.new_inode();
        st.names.insert(path.to_path_buf(), ino);
        Ok(Box::new(SimFile {
            disk: self.clone(),
            ino,
        }))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut st = self.live()?;
        let ino = *st.names.get(path).ok_or_else(|| not_found(path))?;
        let inode = st.inodes.get_mut(&ino).ok_or_else(|| not_found(path))?;
        inode.data.truncate(len as usize);
        inode.durable_len = inode.data.len();
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.live()?;
        let ino = st.names.remove(from).ok_or_else(|| not_found(from))?;
        st.names.insert(to.to_path_buf(), ino);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut st = self.live()?;
        st.names.remove(path).ok_or_else(|| not_found(path))?;
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.live()?;
        let in_dir = |p: &PathBuf| p.parent() == Some(dir);
        st.durable_names.retain(|p, _| !in_dir(p));
        let now: Vec<(PathBuf, u64)> = st
            .names
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        st.durable_names.extend(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_power_cut_keeps_what_was_synced_and_at_most_tears_the_rest() {
        let dir = Path::new("/sim");
        for seed in 0..64 {
            let disk = SimDisk::new();
            let mut f = disk.open_append(&dir.join("a")).unwrap();
            f.append(b"synced").unwrap();
            f.sync_data().unwrap();
            disk.sync_dir(dir).unwrap();
            f.append(b"-not-synced").unwrap();
            let mut g = disk.create(&dir.join("b")).unwrap();
            g.append(b"unnamed").unwrap();
            g.sync_data().unwrap();
            let after = disk.power_cut(seed);
            // The old boot is gone.
            assert!(f.append(b"x").is_err());
            assert!(disk.read(&dir.join("a")).is_err());
            let a = after.read(&dir.join("a")).unwrap();
            assert!(a.starts_with(b"synced"), "{a:?}");
            let tail = &a[6..];
            let full = b"-not-synced";
            assert!(
                tail.iter().zip(full).all(|(x, y)| x == y || *x == 0) && tail.len() <= full.len(),
                "{a:?}"
            );
            // A file whose name was never synced is gone.
            assert!(after.read(&dir.join("b")).is_err());
        }
    }

    fn full(r: io::Result<impl Sized>) -> bool {
        r.err()
            .is_some_and(|e| e.kind() == io::ErrorKind::StorageFull)
    }

    #[test]
    fn a_full_disk_refuses_writes_and_new_files_until_space_is_freed() {
        let dir = Path::new("/sim");
        let disk = SimDisk::new();
        let mut f = disk.open_append(&dir.join("a")).unwrap();
        f.append(b"0123").unwrap();
        disk.fill_but(2, NoSpaceAt::Write);
        // What fits is written, then ENOSPC.
        assert!(full(f.append(b"456")));
        assert_eq!(disk.read(&dir.join("a")).unwrap(), b"012345");
        assert!(full(f.append(b"6")));
        f.sync_data().unwrap();
        assert!(full(disk.create(&dir.join("b"))));
        assert!(full(disk.open_append(&dir.join("b"))));
        // An existing file still opens; cutting it back gives space back.
        let mut again = disk.open_append(&dir.join("a")).unwrap();
        disk.truncate(&dir.join("a"), 3).unwrap();
        again.append(b"x").unwrap();
        assert_eq!(disk.read(&dir.join("a")).unwrap(), b"012x");
        disk.free_space();
        f.append(&[7; 100_000]).unwrap();
        disk.create(&dir.join("b")).unwrap();
        assert_eq!(disk.read(&dir.join("a")).unwrap().len(), 4 + 100_000);
    }

    #[test]
    fn a_full_disk_found_at_writeback_fails_the_sync_and_loses_the_unsynced_bytes() {
        let dir = Path::new("/sim");
        let disk = SimDisk::new();
        let mut f = disk.open_append(&dir.join("a")).unwrap();
        f.append(b"synced").unwrap();
        f.sync_data().unwrap();
        disk.sync_dir(dir).unwrap();
        disk.fill(NoSpaceAt::Sync);
        // The write goes to the page cache; its writeback finds no space.
        f.append(b"-more").unwrap();
        assert!(full(f.sync_data()));
        assert_eq!(disk.read(&dir.join("a")).unwrap(), b"synced\0\0\0\0\0");
        assert!(full(disk.create(&dir.join("b"))));
        // The writer cuts the lost bytes off and writes them again once there is space.
        disk.truncate(&dir.join("a"), 6).unwrap();
        disk.free_space();
        f.append(b"-more").unwrap();
        f.sync_data().unwrap();
        let after = disk.power_cut(3);
        assert_eq!(after.read(&dir.join("a")).unwrap(), b"synced-more");
    }

    #[test]
    fn an_unsynced_rename_is_undone_by_a_power_cut() {
        let dir = Path::new("/sim");
        let disk = SimDisk::new();
        let mut f = disk.create(&dir.join("snap")).unwrap();
        f.append(b"old").unwrap();
        f.sync_data().unwrap();
        disk.sync_dir(dir).unwrap();
        let mut t = disk.create(&dir.join("snap.tmp")).unwrap();
        t.append(b"new").unwrap();
        t.sync_data().unwrap();
        disk.rename(&dir.join("snap.tmp"), &dir.join("snap"))
            .unwrap();
        let after = disk.power_cut(1);
        assert_eq!(after.read(&dir.join("snap")).unwrap(), b"old");
        let mut t = after.create(&dir.join("snap.tmp")).unwrap();
        t.append(b"new").unwrap();
        t.sync_data().unwrap();
        after
            .rename(&dir.join("snap.tmp"), &dir.join("snap"))
            .unwrap();
        after.sync_dir(dir).unwrap();
        let again = after.power_cut(2);
        assert_eq!(again.read(&dir.join("snap")).unwrap(), b"new");
        assert!(again.lock(dir).unwrap().is_some());
    }
}
