//! The embedded store's journal: what makes a turn durable.
//!
//! sled copies a page of its tree for each insert and writes it whole to its log again and again; a
//! conversation's record, a kilobyte or more in a page of sixteen, cost a turn far more than the bytes
//! it changed. So every write is appended here, and a group of turns is made durable by one `write` and
//! one `fdatasync` of this file. The trees a turn writes every time (conversations and their indexes,
//! the `deferred` ones) are not written to sled at each turn: the latest write of each key waits in
//! memory (the overlay, which every read of those trees looks at first) and goes to sled at the next
//! checkpoint, once for any number of turns. The other trees are written to sled's memory at once.
//!
//! A checkpoint starts a new file, writes the overlay to sled, flushes and syncs sled, and only then
//! deletes the older files. At start, the files left are replayed into sled in order (a
//! write cut short at the end of the last one was never acknowledged, and is left out), sled is
//! synced, and they are deleted. An erasure checkpoints at once, so that no file keeps what was erased.
//!
//! A file starts with a header: [`MAGIC`], a salt (8 random bytes, new for each use of the file),
//! synced before any frame is written, and where the previous file's frames end (8 bytes, 0 when not
//! known; written when the journal switches to the file, synced with its first frame). Then come the frames: the payload's length and CRC-32 (4 bytes
//! each, little-endian; the CRC is of the salt, then the payload), then the payload, one write after
//! another: a tag (insert or remove), the tree's name (1 byte of length), the key and, for an insert,
//! the value (4 bytes of length each). Files written before the header existed (no [`MAGIC`]) have
//! frames from their first byte, with the CRC of the payload alone; they are replayed as they are.
//!
//! The files are recycled, as PostgreSQL recycles its WAL segments: a checkpoint keeps the last of the
//! files it lets go of as the spare, and the next file is the spare, renamed, written over from its
//! start. `fdatasync` of a write inside the file's size, over blocks already written, has only the data
//! to flush; a write that grows the file makes ext4 write its inode as well, one more synchronous
//! write for every group of turns. What the spare held before is never replayed: its frames' CRCs are
//! of another salt. A checkpoint that follows an erasure keeps no spare, and deletes the one kept
//! before, so that no file keeps what was erased.
//!
//! A file is also written ahead of its frames: before it becomes the journal file (off the turns'
//! way, in the checkpoint's thread), a new file, or a spare shorter than twice what the last file
//! held, is filled with zeros up to that length ([`AHEAD_MIN`] to [`AHEAD_MAX`]) and synced, so that
//! the turns write inside it while the load grows as well, not only once it is steady. Only a file
//! that outgrows this (the writes more than doubled between two checkpoints) is appended to. Zeros
//! are never replayed: a frame is never empty, and a frame of length 0 ends the file's frames.

use std::cmp::Ordering as Order;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::iter::Peekable;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::StoreError;

const PREFIX: &str = "journal-";
const INSERT: u8 = 1;
const REMOVE: u8 = 2;
/// sled's name for the default tree.
const DEFAULT_TREE: &[u8] = b"__sled__default";
/// Where a frame's payload starts (after its length and CRC).
const HEADER: usize = 8;
/// A frame's buffer larger than this (an erasure's, an import's) is let go of once written.
const SPARE_MAX: usize = 1 << 20;
/// What a journal file with a header starts with.
const MAGIC: &[u8; 8] = b"PJOURNL2";
/// The header: [`MAGIC`], the salt, then where the previous file's frames end.
const FILE_HEADER: usize = 24;
/// Where the previous file's end is in the header.
const PREVIOUS_END: u64 = 16;
/// The file a checkpoint keeps to be the next journal file.
const SPARE: &str = "journal-spare";

/// A checkpoint is due once the file holds this much,
const CHECKPOINT_BYTES: u64 = 64 << 20;
/// or this many writes wait for sled,
const CHECKPOINT_PENDING: usize = 50_000;
/// or this long after the last one.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(2);
/// A new journal file is written ahead (zeros) to twice what the last one held, at least this much,
const AHEAD_MIN: u64 = 1 << 20;
/// and at most this much.
const AHEAD_MAX: u64 = 2 * CHECKPOINT_BYTES;

pub(super) struct Journal {
    dir: PathBuf,
    db: sled::Db,
    /// The trees written at checkpoints only, with their names.
    deferred: Vec<(sled::IVec, sled::Tree)>,
    /// sled's log, synced by a checkpoint.
    log: Arc<File>,
    state: Mutex<State>,
    io: Mutex<Io>,
    /// One checkpoint at a time.
    checkpointing: Mutex<()>,
    /// A write to the file failed: nothing more is written to it (a frame after a torn one would
    /// never be replayed); the store must be opened again.
    broken: AtomicBool,
    /// How many frames were written (a group of turns made durable each).
    frames: std::sync::atomic::AtomicU64,
    /// The generation was replaced (compaction, recovery): a checkpoint does nothing.
    closed: AtomicBool,
}

/// What was written since the last sync, and the writes waiting for sled.
struct State {
    /// The frame being filled: its header's room, then the writes.
    buf: Vec<u8>,
    /// The buffer of the frame last written, emptied, to be the next one's: a frame is filled while
    /// the one before it is being written, and a new buffer would grow again by doubling (its
    /// reallocations were 1% of a turn's instructions).
    spare: Vec<u8>,
    /// For each deferred tree, key → its latest write not yet in sled.
    overlay: Vec<Overlay>,
    /// Numbers the writes, so that a checkpoint lets go only of those it wrote to sled.
    seq: u64,
}

impl State {
    fn waiting(&self) -> usize {
        self.overlay.iter().map(Overlay::len).sum()
    }
}

/// How a deferred tree is read, which decides how its waiting writes are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reads {
    /// By key, and rarely scanned whole: hashed (a scan sorts what it takes).
    ByKey,
    /// By ranges, often: in key order.
    ByRange,
}

/// One deferred tree's writes waiting for sled.
enum Overlay {
    Ordered(BTreeMap<Vec<u8>, Slot>),
    Hashed(crate::FastMap<Vec<u8>, Slot>),
}

impl Overlay {
    fn new(reads: Reads) -> Overlay {
        match reads {
            Reads::ByKey => Overlay::Hashed(crate::FastMap::default()),
            Reads::ByRange => Overlay::Ordered(BTreeMap::new()),
        }
    }

    fn empty_like(&self) -> Overlay {
        match self {
            Overlay::Ordered(_) => Overlay::Ordered(BTreeMap::new()),
            Overlay::Hashed(_) => Overlay::Hashed(crate::FastMap::default()),
        }
    }

    fn is_hashed(&self) -> bool {
        matches!(self, Overlay::Hashed(_))
    }

    fn len(&self) -> usize {
        match self {
            Overlay::Ordered(m) => m.len(),
            Overlay::Hashed(m) => m.len(),
        }
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, key: &[u8]) -> Option<&Slot> {
        match self {
            Overlay::Ordered(m) => m.get(key),
            Overlay::Hashed(m) => m.get(key),
        }
    }

    /// Puts `slot` under `key` (in a hashed overlay, the key is copied only when it is new).
    fn put(&mut self, key: &[u8], slot: Slot) {
        match self {
            // One descent of the tree: the key is copied even when it is there already (an
            // allocation costs less than a second search through a large overlay).
            Overlay::Ordered(m) => {
                m.insert(key.to_vec(), slot);
            }
            Overlay::Hashed(m) => match m.get_mut(key) {
                Some(old) => *old = slot,
                None => {
                    m.insert(key.to_vec(), slot);
                }
            },
        }
    }

    /// Lets go of `key`'s write if it is still write number `seq`.
    fn written(&mut self, key: &[u8], seq: u64) {
        let same = self.get(key).is_some_and(|w| w.seq == seq);
        if same {
            match self {
                Overlay::Ordered(m) => m.remove(key),
                Overlay::Hashed(m) => m.remove(key),
            };
        }
    }

    /// Every write waiting, in no particular order.
    fn unordered(&self) -> Box<dyn Iterator<Item = (&Vec<u8>, &Slot)> + '_> {
        match self {
            Overlay::Ordered(m) => Box::new(m.iter()),
            Overlay::Hashed(m) => Box::new(m.iter()),
        }
    }

    /// The writes whose keys `keep` accepts, in key order (a hashed overlay sorts them).
    fn sorted(&self, keep: impl Fn(&[u8]) -> bool) -> Vec<(&Vec<u8>, &Slot)> {
        let mut out: Vec<_> = self.unordered().filter(|(k, _)| keep(k)).collect();
        if let Overlay::Hashed(_) = self {
            out.sort_unstable_by(|a, b| a.0.cmp(b.0));
        }
        out
    }

    /// The writes between `lo` and `hi`, in key order.
    fn range(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Waiting {
        match self {
            Overlay::Ordered(m) => owned(m.range::<[u8], _>((lo, hi))),
            Overlay::Hashed(_) => owned(self.sorted(|k| {
                <(Bound<&[u8]>, Bound<&[u8]>) as std::ops::RangeBounds<[u8]>>::contains(
                    &(lo, hi),
                    k,
                )
            })),
        }
    }

    /// The writes whose keys start with `prefix`, in key order.
    fn prefixed(&self, prefix: &[u8]) -> Waiting {
        match self {
            Overlay::Ordered(m) => owned(
                m.range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
                    .take_while(|(k, _)| k.starts_with(prefix)),
            ),
            Overlay::Hashed(_) => owned(self.sorted(|k| k.starts_with(prefix))),
        }
    }
}

/// Writes taken out of an overlay, for a [`Scan`] that outlives its lock.
fn owned<'a>(writes: impl IntoIterator<Item = (&'a Vec<u8>, &'a Slot)>) -> Waiting {
    writes
        .into_iter()
        .map(|(k, s)| (k.clone(), s.value.clone()))
        .collect()
}

/// A write waiting for sled: a value, or `None` for a removal.
#[derive(Clone)]
struct Slot {
    seq: u64,
    value: Option<Arc<[u8]>>,
}

struct Io {
    file: File,
    number: u64,
    /// The current file's salt, in every frame's CRC.
    salt: [u8; 8],
    /// Bytes of frames in the current file (its header not counted).
    len: u64,
    last_checkpoint: Instant,
}

/// A key or value, from the overlay or from sled.
#[derive(Debug, Clone)]
pub(super) enum Bytes {
    Waiting(Arc<[u8]>),
    Stored(sled::IVec),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Waiting(r) => r,
            Bytes::Stored(r) => r,
        }
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// sled's entries of a range, in one order or the other.
type SledEntries = Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>> + Send>;

/// The overlay's writes in a range (a key, and its value or `None` for a removal).
type Waiting = Vec<(Vec<u8>, Option<Arc<[u8]>>)>;

/// A range of a tree as the reads see it: sled's entries, with the overlay's writes in the range
/// instead of sled's for the same keys (and its removals left out), in key order or reversed.
pub(super) struct Scan {
    sled: Peekable<SledEntries>,
    waiting: Peekable<<Waiting as IntoIterator>::IntoIter>,
    rev: bool,
}

impl Iterator for Scan {
    type Item = Result<(Bytes, Bytes), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let from_overlay = match (self.waiting.peek(), self.sled.peek()) {
                (None, None) => return None,
                (Some(_), None) => true,
                (None, Some(_)) | (Some(_), Some(Err(_))) => false,
                (Some((w, _)), Some(Ok((s, _)))) => {
                    let order = w.as_slice().cmp(s.as_ref());
                    match if self.rev { order.reverse() } else { order } {
                        Order::Less => true,
                        Order::Equal => {
                            self.sled.next(); // the overlay's write is the later one
                            true
                        }
                        Order::Greater => false,
                    }
                }
            };
            if !from_overlay {
                return self.sled.next().map(|r| {
                    r.map(|(k, v)| (Bytes::Stored(k), Bytes::Stored(v)))
                        .map_err(StoreError::from)
                });
            }
            if let Some((k, Some(v))) = self.waiting.next() {
                return Some(Ok((Bytes::Waiting(k.into()), Bytes::Waiting(v))));
            }
        }
    }
}

fn file_name(number: u64) -> String {
    format!("{PREFIX}{number:020}")
}

/// The journal files in `dir`, oldest first.
fn files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let name = entry.file_name();
        let number = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(n) = number {
            out.push((n, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Fills `file` with zeros from its end up to `len` bytes, if it is shorter (without moving its
/// offset): the journal's writes then land on blocks already written, whose `fdatasync` flushes the
/// data alone, without the inode an append changes (`scripts/fsync_bench.py`).
fn write_ahead(file: &File, len: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut at = file.metadata()?.len().max(FILE_HEADER as u64);
    let zeros = vec![0u8; (len.saturating_sub(at)).min(1 << 20) as usize];
    while at < len {
        let n = (len - at).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

fn io_error(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Open {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn flush_error(e: std::io::Error) -> StoreError {
    StoreError::Flush(e.to_string())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn encode(buf: &mut Vec<u8>, tree: &[u8], key: &[u8], value: Option<&[u8]>) {
    buf.push(if value.is_some() { INSERT } else { REMOVE });
    buf.push(tree.len() as u8);
    buf.extend_from_slice(tree);
    buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
    buf.extend_from_slice(key);
    if let Some(v) = value {
        buf.extend_from_slice(&(v.len() as u32).to_le_bytes());
        buf.extend_from_slice(v);
    }
}

fn empty_frame() -> Vec<u8> {
    vec![0; HEADER]
}

/// Writes made while the journal's state is held: each applied (to sled or to the overlay) and
/// appended in the same order.
pub(super) struct Writer<'a> {
    journal: &'a Journal,
    state: MutexGuard<'a, State>,
}

impl Writer<'_> {
    /// Writes `value` under `key`; the value it replaces, for a tree written through to sled (a
    /// deferred tree's is not read: `None`).
    pub fn insert(
        &mut self,
        tree: &sled::Tree,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<sled::IVec>, StoreError> {
        let name = tree.name();
        let old = match self.journal.deferred_index(&name) {
            Some(i) => {
                self.wait(i, key, Some(value.into()));
                None
            }
            None => tree.insert(key, value)?,
        };
        encode(&mut self.state.buf, &name, key, Some(value));
        Ok(old)
    }

    /// Removes `key`; what it held, for a tree written through to sled (as for [`Writer::insert`]).
    pub fn remove(
        &mut self,
        tree: &sled::Tree,
        key: &[u8],
    ) -> Result<Option<sled::IVec>, StoreError> {
        let name = tree.name();
        let old = match self.journal.deferred_index(&name) {
            Some(i) => {
                self.wait(i, key, None);
                None
            }
            None => match tree.remove(key)? {
                Some(old) => Some(old),
                None => return Ok(None),
            },
        };
        encode(&mut self.state.buf, &name, key, None);
        Ok(old)
    }

    fn wait(&mut self, tree: usize, key: &[u8], value: Option<Arc<[u8]>>) {
        self.state.seq += 1;
        let seq = self.state.seq;
        self.state.overlay[tree].put(key, Slot { seq, value });
    }

    /// A write already applied to `tree` (a compare-and-swap, an update; never a deferred tree):
    /// appended only.
    pub fn wrote(&mut self, tree: &sled::Tree, key: &[u8], value: Option<&[u8]>) {
        encode(&mut self.state.buf, &tree.name(), key, value);
    }
}

impl Journal {
    /// Starts a new file in `dir` (after any left there, which [`replay`] has applied); the trees
    /// named in `deferred` are written to sled at checkpoints only, their waiting writes kept as they
    /// are read.
    pub fn create(
        db: &sled::Db,
        dir: &Path,
        log: Arc<File>,
        deferred: &[(&str, Reads)],
    ) -> Result<Journal, StoreError> {
        let number = files(dir)?.last().map_or(1, |(n, _)| n + 1);
        let (file, salt) = Self::new_file(dir, number, true, AHEAD_MIN)?;
        let overlay = deferred.iter().map(|(_, r)| Overlay::new(*r)).collect();
        let deferred = deferred
            .iter()
            .map(|(name, _)| Ok((sled::IVec::from(name.as_bytes()), db.open_tree(name)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Journal {
            dir: dir.to_path_buf(),
            state: Mutex::new(State {
                buf: empty_frame(),
                spare: Vec::new(),
                overlay,
                seq: 0,
            }),
            deferred,
            db: db.clone(),
            log,
            io: Mutex::new(Io {
                file,
                number,
                salt,
                len: 0,
                last_checkpoint: Instant::now(),
            }),
            checkpointing: Mutex::new(()),
            broken: AtomicBool::new(false),
            frames: std::sync::atomic::AtomicU64::new(0),
            closed: AtomicBool::new(false),
        })
    }

    /// The journal file numbered `number`: the spare, renamed, when there is one and `recycle` allows
    /// it, or a new file. Its header, with a new salt, is written, and the file filled with zeros up
    /// to `ahead` bytes if it is shorter, and synced before it is returned.
    fn new_file(
        dir: &Path,
        number: u64,
        recycle: bool,
        ahead: u64,
    ) -> Result<(File, [u8; 8]), StoreError> {
        let path = dir.join(file_name(number));
        let spare = dir.join(SPARE);
        let recycled = recycle && spare.exists();
        let at = if recycled { &spare } else { &path };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(at)
            .map_err(|e| io_error(at, e))?;
        let salt = new_salt(number);
        let mut header = [0u8; FILE_HEADER];
        header[..8].copy_from_slice(MAGIC);
        header[8..16].copy_from_slice(&salt);
        // The new salt is on disk before the spare takes a journal file's name: were it not, a crash
        // could leave the spare's old salt under that name, and its old frames would be replayed.
        file.write_all(&header)
            .and_then(|()| write_ahead(&file, ahead))
            .and_then(|()| file.sync_data())
            .map_err(|e| io_error(at, e))?;
        if recycled {
            std::fs::rename(&spare, &path).map_err(|e| io_error(&path, e))?;
        }
        sync_dir(dir).map_err(|e| io_error(dir, e))?;
        Ok((file, salt))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn io(&self) -> MutexGuard<'_, Io> {
        self.io.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn deferred_index(&self, name: &[u8]) -> Option<usize> {
        self.deferred.iter().position(|(n, _)| n == name)
    }

    /// Writes to sled (or the overlay) and to the journal in one order (two writers of one key leave
    /// in the journal what they left in the tree).
    pub fn write<T>(
        &self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        f(&mut Writer {
            journal: self,
            state: self.state(),
        })
    }

    pub fn insert(&self, tree: &sled::Tree, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.write(|w| w.insert(tree, key, value).map(drop))
    }

    pub fn remove(&self, tree: &sled::Tree, key: &[u8]) -> Result<(), StoreError> {
        self.write(|w| w.remove(tree, key).map(drop))
    }

    /// What `tree` holds under `key`: the overlay's write if one waits, sled's otherwise.
    pub fn get(&self, tree: &sled::Tree, key: &[u8]) -> Result<Option<Bytes>, StoreError> {
        if let Some(i) = self.deferred_index(&tree.name()) {
            if let Some(slot) = self.state().overlay[i].get(key) {
                return Ok(slot.value.clone().map(Bytes::Waiting));
            }
        }
        Ok(tree.get(key)?.map(Bytes::Stored))
    }

    /// The entries of `tree` between `lo` and `hi`, as [`Scan`] says.
    pub fn range(&self, tree: &sled::Tree, lo: Bound<&[u8]>, hi: Bound<&[u8]>, rev: bool) -> Scan {
        let waiting = self.waiting_in(tree, |o| o.range(lo, hi));
        let owned = |b: Bound<&[u8]>| b.map(<[u8]>::to_vec);
        let sled = tree.range::<Vec<u8>, _>((owned(lo), owned(hi)));
        Self::scan(Box::new(sled), waiting, rev)
    }

    /// The entries of `tree` whose keys start with `prefix`, as [`Scan`] says.
    pub fn scan_prefix(&self, tree: &sled::Tree, prefix: &[u8], rev: bool) -> Scan {
        let waiting = self.waiting_in(tree, |o| o.prefixed(prefix));
        Self::scan(Box::new(tree.scan_prefix(prefix)), waiting, rev)
    }

    fn waiting_in(&self, tree: &sled::Tree, pick: impl FnOnce(&Overlay) -> Waiting) -> Waiting {
        match self.deferred_index(&tree.name()) {
            Some(i) => pick(&self.state().overlay[i]),
            None => Vec::new(),
        }
    }

    fn scan(
        sled: Box<dyn DoubleEndedIterator<Item = sled::Result<(sled::IVec, sled::IVec)>> + Send>,
        mut waiting: Waiting,
        rev: bool,
    ) -> Scan {
        let sled: SledEntries = if rev {
            waiting.reverse();
            Box::new(sled.rev())
        } else {
            sled
        };
        Scan {
            sled: sled.peekable(),
            waiting: waiting.into_iter().peekable(),
            rev,
        }
    }

    /// Makes everything written so far durable: one frame, written and synced (`fdatasync`, unless
    /// `sync` is off: written only), with `writes` (the count of conversation writes, as sled's `key`
    /// keeps it) as its last write.
    pub fn sync(&self, key: &[u8], writes: u64, sync: bool) -> Result<(), StoreError> {
        let mut io = self.io();
        if self.broken.load(Ordering::SeqCst) {
            return Err(StoreError::Flush(
                "an earlier write to the journal failed".into(),
            ));
        }
        if self.closed.load(Ordering::SeqCst) {
            // Its files are being replayed or deleted: what was not synced is not made durable here.
            return Err(StoreError::Flush(
                "the store was reopened; try again".into(),
            ));
        }
        let mut frame = {
            let mut s = self.state();
            encode(&mut s.buf, DEFAULT_TREE, key, Some(&writes.to_be_bytes()));
            let next = match std::mem::take(&mut s.spare) {
                spare if spare.len() == HEADER => spare,
                _ => empty_frame(),
            };
            std::mem::replace(&mut s.buf, next)
        };
        let payload = &frame[HEADER..];
        let len = (payload.len() as u32).to_le_bytes();
        let crc = frame_crc(Some(&io.salt), payload).to_le_bytes();
        frame[..4].copy_from_slice(&len);
        frame[4..HEADER].copy_from_slice(&crc);
        let written = io
            .file
            .write_all(&frame)
            .and_then(|()| if sync { io.file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            self.broken.store(true, Ordering::SeqCst);
            return Err(flush_error(e));
        }
        io.len += frame.len() as u64;
        self.frames.fetch_add(1, Ordering::Relaxed);
        drop(io);
        // The buffer is kept for the next frame (one no larger than a burst should leave).
        if frame.capacity() <= SPARE_MAX {
            frame.truncate(HEADER);
            let mut s = self.state();
            if s.buf.len() == HEADER && s.buf.capacity() < frame.capacity() {
                s.buf = frame; // nothing was written meanwhile
            } else {
                s.spare = frame;
            }
        }
        Ok(())
    }

    /// How many frames [`Journal::sync`] has written.
    #[cfg(test)]
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    /// Whether the writes waiting for sled are past what a checkpoint should let build up (four times
    /// what starts one): on a machine too busy for the checkpoint's thread, turns then wait for it.
    pub fn overloaded(&self) -> bool {
        self.state().waiting() >= 4 * CHECKPOINT_PENDING
    }

    /// Whether a checkpoint is due: the file or the records waiting have grown, or it has been a
    /// while.
    pub fn checkpoint_due(&self) -> bool {
        let (len, last) = {
            let io = self.io();
            (io.len, io.last_checkpoint)
        };
        len >= CHECKPOINT_BYTES
            || (len > 0 && last.elapsed() >= CHECKPOINT_EVERY)
            || self.state().waiting() >= CHECKPOINT_PENDING
    }

    /// Writes the overlay to sled, syncs sled (with `writes` under `key`), then lets go of every file
    /// but a new one: with `recycle`, the last of them is kept as the spare (unless one is kept
    /// already), the others deleted; without (after an erasure), all of them and the spare are deleted,
    /// and the new file is not the spare. `after_sync` runs once sled is synced (sled's blob files,
    /// `ACKED`). Returns how many waiting writes went to sled.
    pub fn checkpoint(
        &self,
        key: &[u8],
        writes: u64,
        recycle: bool,
        after_sync: impl FnOnce() -> std::io::Result<()>,
    ) -> Result<usize, StoreError> {
        let _one = self.checkpointing.lock().unwrap_or_else(|e| e.into_inner());
        if self.closed.load(Ordering::SeqCst) {
            return Ok(0);
        }
        // Nothing written since the last one (a store let go of right after its own checkpoint):
        // sled already holds everything, and no older file is left.
        let idle = self.io().len == 0 && {
            let s = self.state();
            s.buf.len() == HEADER && s.waiting() == 0
        };
        if idle && files(&self.dir)?.len() <= 1 && (recycle || !self.dir.join(SPARE).exists()) {
            return Ok(0);
        }
        // From here on, writes go to a new file (what is not synced yet goes there too); what the
        // older files hold is in sled's memory or in the snapshot.
        // The new file is made (and its directory synced) before the syncs are held up.
        let (next, ahead) = {
            let io = self.io();
            let ahead = (2 * (FILE_HEADER as u64 + io.len)).clamp(AHEAD_MIN, AHEAD_MAX);
            (io.number + 1, ahead)
        };
        let (file, salt) = Self::new_file(&self.dir, next, recycle, ahead)?;
        let (current, mut snapshot, hashed) = {
            let mut io = self.io();
            if self.broken.load(Ordering::SeqCst) {
                return Err(StoreError::Flush(
                    "an earlier write to the journal failed".into(),
                ));
            }
            // The new file says where this one ends: a replay that finds this one's frames end
            // sooner knows they were damaged, and stops there.
            let end = FILE_HEADER as u64 + io.len;
            std::os::unix::fs::FileExt::write_all_at(&file, &end.to_le_bytes(), PREVIOUS_END)
                .map_err(flush_error)?;
            io.file = file;
            io.number = next;
            io.salt = salt;
            io.len = 0;
            io.last_checkpoint = Instant::now();
            let s = self.state();
            let snapshot: Vec<(usize, Vec<u8>, Slot)> = s
                .overlay
                .iter()
                .enumerate()
                .flat_map(|(i, o)| {
                    o.unordered()
                        .map(move |(k, slot)| (i, k.clone(), slot.clone()))
                })
                .collect();
            let hashed: Vec<bool> = s.overlay.iter().map(Overlay::is_hashed).collect();
            (next, snapshot, hashed)
        };
        // In key order, as sled is best written; sorted once the turns can write again. The trees come
        // in order, and the keys of those kept in order already are: only the hashed ones are sorted.
        let mut start = 0;
        while start < snapshot.len() {
            let tree = snapshot[start].0;
            let end = start + snapshot[start..].partition_point(|w| w.0 == tree);
            if hashed[tree] {
                snapshot[start..end].sort_unstable_by(|a, b| a.1.cmp(&b.1));
            }
            start = end;
        }
        debug_assert!(snapshot.is_sorted_by(|a, b| (a.0, &a.1) <= (b.0, &b.1)));
        self.apply_overlay(snapshot.iter().map(|(i, k, s)| (*i, k, &s.value)))?;
        self.db.insert(key, &writes.to_be_bytes())?;
        self.db.flush()?;
        self.log.sync_data().map_err(flush_error)?;
        after_sync().map_err(flush_error)?;
        let applied = snapshot.len();
        {
            let mut s = self.state();
            for (i, key, slot) in snapshot {
                s.overlay[i].written(&key, slot.seq);
            }
        }
        // Oldest first, so that a crash in between leaves the newest files, in an unbroken run (an
        // older file replayed after a newer one was deleted would bring back its older values); the
        // newest of them is kept as the spare.
        let spare = self.dir.join(SPARE);
        let keep = recycle && !spare.exists();
        let older: Vec<PathBuf> = files(&self.dir)?
            .into_iter()
            .filter(|(n, _)| *n < current)
            .map(|(_, path)| path)
            .collect();
        for (i, path) in older.iter().enumerate() {
            if keep && i + 1 == older.len() {
                std::fs::rename(path, &spare).map_err(|e| io_error(path, e))?;
            } else {
                std::fs::remove_file(path).map_err(|e| io_error(path, e))?;
            }
        }
        if !recycle && spare.exists() {
            std::fs::remove_file(&spare).map_err(|e| io_error(&spare, e))?;
        }
        sync_dir(&self.dir).map_err(flush_error)?;
        Ok(applied)
    }

    /// This generation is being replaced: nothing is written to it any more (a checkpoint or a sync
    /// under way finishes first).
    pub fn close(&self) {
        let _one = self.checkpointing.lock().unwrap_or_else(|e| e.into_inner());
        let _io = self.io();
        self.closed.store(true, Ordering::SeqCst);
    }

    /// The writes waiting for sled, written to it (by a caller that holds the store alone and
    /// flushes after).
    pub fn settle_overlay(&self) -> Result<(), StoreError> {
        let overlay: Vec<_> = self
            .state()
            .overlay
            .iter_mut()
            .map(|o| std::mem::replace(o, o.empty_like()))
            .collect();
        self.apply_overlay(overlay.iter().enumerate().flat_map(|(i, o)| {
            o.sorted(|_| true)
                .into_iter()
                .map(move |(k, s)| (i, k, &s.value))
        }))
    }

    fn apply_overlay<'a>(
        &self,
        writes: impl Iterator<Item = (usize, &'a Vec<u8>, &'a Option<Arc<[u8]>>)>,
    ) -> Result<(), StoreError> {
        for (i, key, value) in writes {
            let tree = &self.deferred[i].1;
            match value {
                Some(v) => tree.insert(key.as_slice(), &**v)?,
                None => tree.remove(key.as_slice())?,
            };
        }
        Ok(())
    }
}

/// What [`replay`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    pub files: usize,
    pub frames: usize,
    pub writes: usize,
    /// Bytes at the end of the last file that were not a whole frame (a write cut short).
    pub torn_bytes: usize,
}

/// Applies the journal files in `dir` to `db`, in order, syncs sled (`log` is its log file) and
/// deletes them. Stops at the first frame that is cut short or damaged: it was the last write, never
/// acknowledged. The default tree's `counters` never go back: sled may have written a later value of
/// one (a block of ids reserved) before the crash, from its memory, where the journal has an earlier.
pub(super) fn replay(
    db: &sled::Db,
    dir: &Path,
    log: &File,
    counters: &[&[u8]],
) -> Result<Replayed, StoreError> {
    let found = files(dir)?;
    let mut out = Replayed {
        files: found.len(),
        ..Replayed::default()
    };
    if found.is_empty() {
        return Ok(out);
    }
    let mut trees: HashMap<Vec<u8>, sled::Tree> = HashMap::new();
    let last = found.len() - 1;
    let headers = found
        .iter()
        .map(|(_, path)| file_header(path))
        .collect::<Result<Vec<_>, _>>()?;
    'files: for (i, (number, path)) in found.iter().enumerate() {
        let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
        // A file with a header ends where its frames do: after them comes what it held before it
        // was recycled (or a write cut short). One without (written before headers) ends the journal.
        let salt = headers[i].map(|(salt, _)| salt);
        let mut at = if salt.is_some() { FILE_HEADER } else { 0 };
        // Where the next file says this one ends, when it is the next by number and says it.
        let end = match (salt, found.get(i + 1), headers.get(i + 1)) {
            (Some(_), Some((next, _)), Some(Some((_, end)))) if *next == number + 1 && *end > 0 => {
                Some(*end as usize)
            }
            _ => None,
        };
        while at < end.unwrap_or(bytes.len()).min(bytes.len()) {
            let Some(payload) = frame_at(&bytes, at, salt.as_ref()) else {
                if end.is_none() && salt.is_some() && i < last {
                    continue 'files;
                }
                if end.is_some() {
                    break;
                }
                out.torn_bytes = bytes.len() - at;
                if salt.is_some() {
                    // As after every checkpoint: what a recycled file held before.
                    tracing::debug!(
                        file = %path.display(),
                        bytes = out.torn_bytes,
                        "the journal's frames end here; what follows is a write cut short (never \
                         acknowledged) or what the file held before it was recycled: left out"
                    );
                } else {
                    tracing::warn!(
                        file = %path.display(),
                        bytes = out.torn_bytes,
                        "the journal ends with a write cut short (never acknowledged): left out"
                    );
                }
                break 'files;
            };
            out.writes += apply(db, &mut trees, payload, counters)?;
            out.frames += 1;
            at += HEADER + payload.len();
        }
        if let Some(end) = end.filter(|&end| at != end) {
            // Frames that were synced before the next file was started are not whole: the journal is
            // replayed up to here, not past the gap.
            out.torn_bytes = end.saturating_sub(at);
            tracing::warn!(
                file = %path.display(),
                at,
                end,
                "a journal file's frames end before where the next file says they do (damaged): \
                 the journal is replayed up to there"
            );
            break 'files;
        }
    }
    db.flush()?;
    log.sync_data().map_err(flush_error)?;
    for (_, path) in &found {
        std::fs::remove_file(path).map_err(|e| io_error(path, e))?;
    }
    sync_dir(dir).map_err(|e| io_error(dir, e))?;
    Ok(out)
}

/// A journal file's salt and where it says the previous file ends, when it has a header.
fn file_header(path: &Path) -> Result<Option<([u8; 8], u64)>, StoreError> {
    use std::io::Read;
    let mut header = [0u8; FILE_HEADER];
    let mut file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut read = 0;
    while read < FILE_HEADER {
        match file.read(&mut header[read..]) {
            Ok(0) => return Ok(None),
            Ok(n) => read += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(path, e)),
        }
    }
    if !header.starts_with(MAGIC) {
        return Ok(None);
    }
    let salt = header[8..16].try_into().unwrap_or_default();
    let end = u64::from_le_bytes(header[16..24].try_into().unwrap_or_default());
    Ok(Some((salt, end)))
}

/// The payload of the frame at `at`, if it is whole and its CRC (of `salt` and the payload, or of
/// the payload alone in a file without a header) matches.
fn frame_at<'a>(bytes: &'a [u8], at: usize, salt: Option<&[u8; 8]>) -> Option<&'a [u8]> {
    let header = bytes.get(at..at.checked_add(HEADER)?)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    if len == 0 {
        return None; // every frame holds a write: these are the zeros a file is written ahead with
    }
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    let payload = bytes.get(at + HEADER..(at + HEADER).checked_add(len)?)?;
    (frame_crc(salt, payload) == crc).then_some(payload)
}

/// A frame's CRC-32: of the file's salt, then the payload.
fn frame_crc(salt: Option<&[u8; 8]>, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    if let Some(salt) = salt {
        h.update(salt);
    }
    h.update(payload);
    h.finalize()
}

/// A salt for a new use of a journal file: from std's randomly keyed hasher, the clock and `number`.
fn new_salt(number: u64) -> [u8; 8] {
    use std::hash::BuildHasher;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::collections::hash_map::RandomState::new()
        .hash_one((nanos, number, std::process::id()))
        .to_le_bytes()
}

fn apply(
    db: &sled::Db,
    trees: &mut HashMap<Vec<u8>, sled::Tree>,
    mut payload: &[u8],
    counters: &[&[u8]],
) -> Result<usize, StoreError> {
    let damaged = || StoreError::Db("a journal frame whose CRC matches does not parse".into());
    fn take<'a>(p: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = p.split_at_checked(n)?;
        *p = rest;
        Some(head)
    }
    fn take_len(p: &mut &[u8]) -> Option<usize> {
        Some(u32::from_le_bytes(take(p, 4)?.try_into().ok()?) as usize)
    }
    let mut count = 0;
    while let Some((&tag, rest)) = payload.split_first() {
        payload = rest;
        let name_len = *take(&mut payload, 1)
            .ok_or_else(damaged)?
            .first()
            .ok_or_else(damaged)?;
        let name = take(&mut payload, name_len as usize).ok_or_else(damaged)?;
        let key_len = take_len(&mut payload).ok_or_else(damaged)?;
        let key = take(&mut payload, key_len).ok_or_else(damaged)?;
        let tree = match trees.get(name) {
            Some(t) => t.clone(),
            None => {
                let t = if name == DEFAULT_TREE {
                    (**db).clone()
                } else {
                    db.open_tree(name)?
                };
                trees.insert(name.to_vec(), t.clone());
                t
            }
        };
        match tag {
            INSERT => {
                let len = take_len(&mut payload).ok_or_else(damaged)?;
                let value = take(&mut payload, len).ok_or_else(damaged)?;
                if name == DEFAULT_TREE && counters.contains(&key) {
                    let higher = |old: Option<&[u8]>| {
                        let n = |b: Option<&[u8]>| {
                            b.and_then(|b| <[u8; 8]>::try_from(b).ok())
                                .map_or(0, u64::from_be_bytes)
                        };
                        Some(n(old).max(n(Some(value))).to_be_bytes().to_vec())
                    };
                    tree.update_and_fetch(key, higher)?;
                } else {
                    tree.insert(key, value)?;
                }
            }
            REMOVE => {
                tree.remove(key)?;
            }
            _ => return Err(damaged()),
        }
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> (sled::Db, Journal) {
        let db = sled::Config::new().path(dir).open().unwrap();
        let log = Arc::new(File::open(dir.join("db")).unwrap());
        let deferred = [("later", Reads::ByRange), ("keyed", Reads::ByKey)];
        let journal = Journal::create(&db, dir, log, &deferred).unwrap();
        (db, journal)
    }

    fn keys(scan: Scan) -> Vec<(String, String)> {
        scan.map(|r| {
            let (k, v) = r.unwrap();
            (
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_see_the_writes_waiting_over_sleds_in_order_both_ways() {
        // Whether the tree's waiting writes are kept in order or hashed.
        for name in ["later", "keyed"] {
            reads_see_the_writes_waiting_over_sleds(name);
        }
    }

    fn reads_see_the_writes_waiting_over_sleds(name: &str) {
        let dir = tempfile::tempdir().unwrap();
        let (db, journal) = open(dir.path());
        let tree = db.open_tree(name).unwrap();
        for k in ["a1", "a3", "a5", "b1"] {
            tree.insert(k, "sled").unwrap();
        }
        journal.insert(&tree, b"a2", b"new").unwrap();
        journal.insert(&tree, b"a3", b"newer").unwrap();
        journal.remove(&tree, b"a5").unwrap();
        journal.insert(&tree, b"a6", b"new").unwrap();
        // Not in sled until a checkpoint.
        assert_eq!(tree.get("a2").unwrap(), None);
        assert_eq!(&*journal.get(&tree, b"a3").unwrap().unwrap(), b"newer");
        assert!(journal.get(&tree, b"a5").unwrap().is_none());
        let want = pairs(&[
            ("a1", "sled"),
            ("a2", "new"),
            ("a3", "newer"),
            ("a6", "new"),
        ]);
        assert_eq!(keys(journal.scan_prefix(&tree, b"a", false)), want);
        let mut back = want.clone();
        back.reverse();
        assert_eq!(keys(journal.scan_prefix(&tree, b"a", true)), back);
        let between = journal.range(&tree, Bound::Excluded(b"a1"), Bound::Excluded(b"a6"), true);
        assert_eq!(keys(between), pairs(&[("a3", "newer"), ("a2", "new")]));
        // A tree written through: in sled at once.
        let now = db.open_tree("now").unwrap();
        journal.insert(&now, b"k", b"v").unwrap();
        assert_eq!(now.get("k").unwrap().as_deref(), Some(&b"v"[..]));
        // A checkpoint puts the waiting writes in sled, and reads are the same.
        journal.checkpoint(b"writes", 4, true, || Ok(())).unwrap();
        assert_eq!(tree.get("a2").unwrap().as_deref(), Some(&b"new"[..]));
        assert_eq!(tree.get("a5").unwrap(), None);
        assert!(journal.state().overlay.iter().all(Overlay::is_empty));
        assert_eq!(keys(journal.scan_prefix(&tree, b"a", false)), want);
        assert_eq!(
            files(dir.path()).unwrap().len(),
            1,
            "the older file is let go of (kept as the spare)"
        );
    }

    /// Replays the journal file at `path` alone, as `bytes`, into an empty sled (so that only the
    /// journal can bring anything back).
    fn replay_alone(path: &Path, bytes: &[u8]) -> (tempfile::TempDir, sled::Db, Replayed) {
        let name = path.file_name().unwrap().to_string_lossy();
        replay_files(&[(&name, bytes)])
    }

    fn get(db: &sled::Db, tree: &str, key: &str) -> Option<String> {
        db.open_tree(tree)
            .unwrap()
            .get(key)
            .unwrap()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    /// Replays journal files, given by name and bytes, into an empty sled.
    fn replay_files(list: &[(&str, &[u8])]) -> (tempfile::TempDir, sled::Db, Replayed) {
        let copy = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(copy.path()).open().unwrap();
        for (name, bytes) in list {
            std::fs::write(copy.path().join(name), bytes).unwrap();
        }
        let log = File::open(copy.path().join("db")).unwrap();
        let replayed = replay(&db, copy.path(), &log, &[]).unwrap();
        (copy, db, replayed)
    }

    #[test]
    fn a_damaged_frame_in_an_earlier_file_stops_the_replay_before_the_later_files() {
        let dir = tempfile::tempdir().unwrap();
        let (db, journal) = open(dir.path());
        let now = db.open_tree("now").unwrap();
        journal.insert(&now, b"a", b"1").unwrap();
        journal.sync(b"writes", 1, true).unwrap();
        journal.insert(&now, b"b", b"1").unwrap();
        journal.sync(b"writes", 2, true).unwrap();
        // A checkpoint that fails once sled is synced: the journal has moved to the next file, and
        // the older one stays.
        let failed = journal.checkpoint(b"writes", 2, true, || Err(std::io::Error::other("full")));
        assert!(failed.is_err());
        journal.insert(&now, b"b", b"2").unwrap();
        journal.insert(&now, b"c", b"2").unwrap();
        journal.sync(b"writes", 3, true).unwrap();
        let found = files(dir.path()).unwrap();
        assert_eq!(found.len(), 2);
        let first = std::fs::read(&found[0].1).unwrap();
        let second = std::fs::read(&found[1].1).unwrap();
        // The next checkpoint lets go of both: the older deleted, the newer kept as the spare.
        journal.checkpoint(b"writes", 3, true, || Ok(())).unwrap();
        assert!(!found[0].1.exists() && !found[1].1.exists());
        assert_eq!(std::fs::read(dir.path().join(SPARE)).unwrap(), second);
        drop(journal);
        drop(db);
        let names = [file_name(found[0].0), file_name(found[1].0)];
        let (_copy, db, replayed) = replay_files(&[(&names[0], &first), (&names[1], &second)]);
        assert_eq!(replayed.frames, 3);
        assert_eq!(get(&db, "now", "b").as_deref(), Some("2"));
        assert_eq!(get(&db, "now", "c").as_deref(), Some("2"));
        // The first file's last frame damaged: its writes were acknowledged, so the second file, whose
        // header says where the first ends, is not replayed past the gap.
        let end = PREVIOUS_END as usize;
        let end = u64::from_le_bytes(second[end..end + 8].try_into().unwrap()) as usize;
        assert!(
            end < first.len(),
            "the zeros it was written ahead with follow its frames"
        );
        let mut damaged = first.clone();
        damaged[end - 1] ^= 0xff;
        let (_copy, db, replayed) = replay_files(&[(&names[0], &damaged), (&names[1], &second)]);
        assert_eq!(replayed.frames, 1);
        assert!(replayed.torn_bytes > 0);
        assert_eq!(get(&db, "now", "a").as_deref(), Some("1"));
        assert_eq!(get(&db, "now", "b"), None);
        assert_eq!(get(&db, "now", "c"), None);
    }

    #[test]
    fn a_recycled_file_is_written_over_and_what_it_held_before_is_never_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let (db, journal) = open(dir.path());
        let now = db.open_tree("now").unwrap();
        let write_all = |value: &[u8], writes: u64| {
            for i in 0..200 {
                journal
                    .insert(&now, format!("k{i}").as_bytes(), value)
                    .unwrap();
            }
            journal.sync(b"writes", writes, true).unwrap();
        };
        write_all(b"old", 1);
        let first = files(dir.path()).unwrap()[0].1.clone();
        let first_len = std::fs::metadata(&first).unwrap().len();
        journal.checkpoint(b"writes", 1, true, || Ok(())).unwrap();
        assert!(!first.exists());
        assert_eq!(
            std::fs::metadata(dir.path().join(SPARE)).unwrap().len(),
            first_len,
            "the first file is kept as the spare"
        );
        write_all(b"mid", 2);
        journal.checkpoint(b"writes", 2, true, || Ok(())).unwrap();
        // The third file is the first, recycled: as long, its frames of "old" still in it.
        let (number, path) = files(dir.path()).unwrap().pop().unwrap();
        assert_eq!(number, 3);
        journal.insert(&now, b"x", b"new").unwrap();
        journal.sync(b"writes", 3, true).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            first_len,
            "written over from its start, not grown"
        );
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.windows(3).any(|w| w == b"old"));
        drop(journal);
        drop(db);
        let (_copy, db, replayed) = replay_alone(&path, &bytes);
        assert_eq!(replayed.frames, 1, "only the frame written in this use");
        assert_eq!(get(&db, "now", "x").as_deref(), Some("new"));
        assert_eq!(
            get(&db, "now", "k0"),
            None,
            "the old frames are not replayed"
        );
    }

    #[test]
    fn a_spare_whose_new_salt_is_synced_has_no_frame_to_replay() {
        // A crash right after the spare took a journal file's name: its header has the new salt.
        let dir = tempfile::tempdir().unwrap();
        let (db, journal) = open(dir.path());
        let now = db.open_tree("now").unwrap();
        journal.insert(&now, b"k", b"old").unwrap();
        journal.sync(b"writes", 1, true).unwrap();
        journal.checkpoint(b"writes", 1, true, || Ok(())).unwrap();
        journal.insert(&now, b"k2", b"mid").unwrap();
        journal.sync(b"writes", 2, true).unwrap();
        journal.checkpoint(b"writes", 2, true, || Ok(())).unwrap();
        let (_, path) = files(dir.path()).unwrap().pop().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(MAGIC));
        assert!(
            bytes.windows(3).any(|w| w == b"old"),
            "the file was recycled"
        );
        drop(journal);
        drop(db);
        let (_copy, db, replayed) = replay_alone(&path, &bytes);
        assert_eq!(replayed.frames, 0);
        assert_eq!(get(&db, "now", "k"), None);
        assert_eq!(get(&db, "now", "k2"), None);
    }

    #[test]
    fn a_checkpoint_after_an_erasure_keeps_no_file_that_held_what_was_erased() {
        let dir = tempfile::tempdir().unwrap();
        let (db, journal) = open(dir.path());
        let now = db.open_tree("now").unwrap();
        journal.insert(&now, b"a", b"secret-one").unwrap();
        journal.sync(b"writes", 1, true).unwrap();
        journal.checkpoint(b"writes", 1, true, || Ok(())).unwrap();
        assert!(dir.path().join(SPARE).exists());
        journal.insert(&now, b"b", b"secret-two").unwrap();
        journal.remove(&now, b"a").unwrap();
        journal.sync(b"writes", 2, true).unwrap();
        journal.checkpoint(b"writes", 2, false, || Ok(())).unwrap();
        assert!(!dir.path().join(SPARE).exists());
        let journal_files: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("journal-")
            })
            .collect();
        assert_eq!(journal_files.len(), 1);
        let bytes = std::fs::read(&journal_files[0]).unwrap();
        assert!(
            !bytes.windows(6).any(|w| w == b"secret"),
            "a new file, not the spare"
        );
        // Nothing is left to be the spare at the next checkpoint either.
        journal.checkpoint(b"writes", 2, true, || Ok(())).unwrap();
        journal.checkpoint(b"writes", 2, true, || Ok(())).unwrap();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("journal-")
            {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes.windows(6).any(|w| w == b"secret"),
                    "{}",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn a_file_written_before_headers_is_replayed_as_it_is() {
        let mut payload = Vec::new();
        encode(&mut payload, b"now", b"k", Some(b"v"));
        let mut bytes = (payload.len() as u32).to_le_bytes().to_vec();
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        let (_copy, db, replayed) = replay_alone(Path::new(&file_name(7)), &bytes);
        assert_eq!(replayed.frames, 1);
        assert_eq!(replayed.torn_bytes, 0);
        assert_eq!(get(&db, "now", "k").as_deref(), Some("v"));
    }

    #[test]
    fn every_whole_frame_is_replayed_in_order_and_a_torn_one_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let (db, journal) = open(dir.path());
        let later = db.open_tree("later").unwrap();
        let now = db.open_tree("now").unwrap();
        journal.insert(&later, b"k", b"1").unwrap();
        journal.insert(&now, b"n", b"1").unwrap();
        journal.sync(b"writes", 1, true).unwrap();
        journal.insert(&later, b"k", b"2").unwrap();
        journal.remove(&now, b"n").unwrap();
        journal.insert(&now, b"m", b"2").unwrap();
        journal.sync(b"writes", 2, true).unwrap();
        journal.insert(&later, b"k", b"3").unwrap();
        journal.sync(b"writes", 3, true).unwrap();
        let (_, path) = files(dir.path()).unwrap().pop().unwrap();
        let mut whole = std::fs::read(&path).unwrap();
        whole.truncate(FILE_HEADER + journal.io().len as usize); // its frames, not the zeros after
        drop(journal);
        drop(db);
        // The last frame cut short, as a crash in the middle of its write leaves it; replayed into
        // an empty sled, so that only the journal can bring anything back.
        let copy = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(copy.path()).open().unwrap();
        let cut = copy.path().join(path.file_name().unwrap());
        std::fs::write(&cut, &whole[..whole.len() - 3]).unwrap();
        let log = File::open(copy.path().join("db")).unwrap();
        let replayed = replay(&db, copy.path(), &log, &[]).unwrap();
        assert_eq!(replayed.frames, 2);
        assert!(replayed.torn_bytes > 0);
        let get = |tree: &str, k: &str| {
            db.open_tree(tree)
                .unwrap()
                .get(k)
                .unwrap()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
        };
        assert_eq!(get("later", "k").as_deref(), Some("2"));
        assert_eq!(get("now", "n"), None);
        assert_eq!(get("now", "m").as_deref(), Some("2"));
        assert_eq!(
            db.get(b"writes").unwrap().as_deref(),
            Some(&2u64.to_be_bytes()[..])
        );
        assert!(!cut.exists(), "a replayed file is deleted");
        // A damaged byte inside a frame stops the replay there too.
        let mut damaged = whole.clone();
        damaged[FILE_HEADER + HEADER + 2] ^= 0xff;
        std::fs::write(&cut, &damaged).unwrap();
        let replayed = replay(&db, copy.path(), &log, &[]).unwrap();
        assert_eq!(replayed.frames, 0);
    }

    #[test]
    fn writes_waiting_past_four_times_a_checkpoints_share_are_an_overload_until_one_runs() {
        let dir = tempfile::tempdir().unwrap();
        let (db, journal) = open(dir.path());
        let tree = db.open_tree("later").unwrap();
        for i in 0..4 * CHECKPOINT_PENDING {
            assert!(!journal.overloaded(), "at {i}");
            journal
                .insert(&tree, &(i as u64).to_be_bytes(), b"v")
                .unwrap();
        }
        assert!(journal.overloaded());
        assert!(journal.checkpoint_due());
        journal.checkpoint(b"writes", 0, true, || Ok(())).unwrap();
        assert!(!journal.overloaded());
        assert_eq!(tree.len(), 4 * CHECKPOINT_PENDING);
    }

    #[test]
    fn a_checkpoint_with_nothing_written_since_the_last_does_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (db, journal) = open(dir.path());
        let tree = db.open_tree("keyed").unwrap();
        journal.insert(&tree, b"k", b"v").unwrap();
        journal.sync(b"writes", 1, true).unwrap();
        assert_eq!(
            journal.checkpoint(b"writes", 1, true, || Ok(())).unwrap(),
            1
        );
        let after_first = files(dir.path()).unwrap();
        let mut called = false;
        let second = journal.checkpoint(b"writes", 1, true, || {
            called = true;
            Ok(())
        });
        assert_eq!(second.unwrap(), 0);
        assert!(!called, "nothing synced again");
        assert_eq!(files(dir.path()).unwrap(), after_first, "no new file");
        // A write since, even one not synced yet, makes the next one run.
        journal.insert(&tree, b"k", b"w").unwrap();
        assert_eq!(
            journal.checkpoint(b"writes", 2, true, || Ok(())).unwrap(),
            1
        );
        assert_ne!(files(dir.path()).unwrap(), after_first);
        assert_eq!(tree.get("k").unwrap().as_deref(), Some(&b"w"[..]));
    }

    #[test]
    fn a_counter_never_goes_back_at_replay() {
        let dir = tempfile::tempdir().unwrap();
        let (db, journal) = open(dir.path());
        let default: &sled::Tree = &db;
        journal
            .insert(default, b"next", &64u64.to_be_bytes())
            .unwrap();
        journal.sync(b"writes", 0, true).unwrap();
        drop(journal);
        // sled wrote a later reservation on its own; the journal's is older.
        db.insert(b"next", &128u64.to_be_bytes()).unwrap();
        let log = File::open(dir.path().join("db")).unwrap();
        replay(&db, dir.path(), &log, &[b"next"]).unwrap();
        assert_eq!(
            db.get(b"next").unwrap().as_deref(),
            Some(&128u64.to_be_bytes()[..])
        );
    }

    #[test]
    fn a_failed_write_stops_every_later_one() {
        let dir = tempfile::tempdir().unwrap();
        let (db, journal) = open(dir.path());
        let tree = db.open_tree("later").unwrap();
        journal.insert(&tree, b"k", b"v").unwrap();
        // A write refused (a full disk, here a file open for reading only).
        let (_, path) = files(dir.path()).unwrap().pop().unwrap();
        let writable = std::mem::replace(&mut journal.io().file, File::open(&path).unwrap());
        assert!(journal.sync(b"writes", 1, true).is_err());
        // Room again: nothing is appended after what may be a torn frame, until the store reopens.
        journal.io().file = writable;
        journal.insert(&tree, b"k", b"w").unwrap();
        assert!(journal.sync(b"writes", 2, true).is_err());
        assert!(journal.checkpoint(b"writes", 2, true, || Ok(())).is_err());
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            bytes[FILE_HEADER..].iter().all(|&b| b == 0),
            "only the file's header, and the zeros it was written ahead with"
        );
    }

    #[test]
    fn a_file_is_written_over_its_zeros_and_they_are_never_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let (db, journal) = open(dir.path());
        let (_, path) = files(dir.path()).unwrap().pop().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), AHEAD_MIN);
        let now = db.open_tree("now").unwrap();
        for i in 0..3u64 {
            journal
                .insert(&now, format!("k{i}").as_bytes(), b"v")
                .unwrap();
            journal.sync(b"writes", i + 1, true).unwrap();
        }
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            AHEAD_MIN,
            "written over, not grown"
        );
        let bytes = std::fs::read(&path).unwrap();
        drop(journal);
        drop(db);
        let (_copy, db, replayed) = replay_alone(&path, &bytes);
        assert_eq!(replayed.frames, 3);
        assert_eq!(replayed.writes, 6, "each frame: its write and the count");
        assert!(replayed.torn_bytes > 0 && replayed.torn_bytes < bytes.len());
        assert_eq!(get(&db, "now", "k2").as_deref(), Some("v"));
    }

    #[test]
    fn the_next_file_is_written_ahead_to_twice_what_the_last_one_held() {
        let dir = tempfile::tempdir().unwrap();
        let (db, journal) = open(dir.path());
        let now = db.open_tree("now").unwrap();
        // 1.5 MiB: past the first file's length, which it grows.
        let value = vec![b'x'; 4096];
        for i in 0..384 {
            journal
                .insert(&now, format!("k{i}").as_bytes(), &value)
                .unwrap();
        }
        journal.sync(b"writes", 1, true).unwrap();
        let held = std::fs::metadata(&files(dir.path()).unwrap()[0].1)
            .unwrap()
            .len();
        assert!(held > AHEAD_MIN + (512 << 10), "{held}");
        journal.checkpoint(b"writes", 1, true, || Ok(())).unwrap();
        let (number, next) = files(dir.path()).unwrap().pop().unwrap();
        assert_eq!(number, 2);
        assert_eq!(std::fs::metadata(&next).unwrap().len(), 2 * held);
        // A quiet spell: the spare taken next is not cut down to the little it held.
        journal.insert(&now, b"k", b"v").unwrap();
        journal.sync(b"writes", 2, true).unwrap();
        journal.checkpoint(b"writes", 2, true, || Ok(())).unwrap();
        let (number, recycled) = files(dir.path()).unwrap().pop().unwrap();
        assert_eq!(number, 3);
        assert_eq!(std::fs::metadata(&recycled).unwrap().len(), held);
        assert_eq!(
            std::fs::metadata(dir.path().join(SPARE)).unwrap().len(),
            2 * held
        );
    }
}
