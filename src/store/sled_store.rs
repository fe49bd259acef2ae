//! The embedded store on sled.
//!
//! Layout, one sled tree each: `customers` (id → JSON), `identities` (`channel\0id` → customer id),
//! `customer_identities` (`customer\0channel\0id`, to list them), `touchpoints` (id → JSON), `tp_time`
//! (start time big-endian ++ id: the time index, so "conversations since X" is a range scan), `tp_customer`
//! (`customer\0` ++ start ++ id), `open` (`channel\0user` → the open conversation) and `erased_ids` (the ids
//! of erased customers, so that nothing is saved under them again).
//!
//! On disk: the data directory holds `CURRENT`, which names the generation in use (`gen-000001`, a
//! sled directory beside it, which also holds the journal's files). A compaction writes the next
//! generation, syncs its files and directory, and switches `CURRENT` with one atomic rename; only then
//! is the old generation deleted. At start-up whatever is not the current generation is a leftover of an
//! interrupted compaction and is removed.
//! A data directory written before generations (sled's files directly in it) is opened as it is, and
//! moves to a generation at its first compaction.
//!
//! Durability: every write is appended to the journal (`journal.rs`) as well; [`ProfileStore::durable`]
//! resolves once the journal has been written and `fdatasync`ed past the caller's writes. sled itself is
//! flushed and synced only at the journal's checkpoints, after which the journal's older files are
//! deleted; at start the files left are replayed into sled. The customers, the conversations and their
//! indexes (`DEFERRED`) wait in the journal's memory between checkpoints rather than being written to
//! sled at each turn. One sync runs at a time, and a caller who queued behind it is served by the next,
//! which covers every caller waiting by then (group commit): concurrent conversations share syncs
//! instead of each paying for their own.
//!
//! Erasure: [`ProfileStore::forget`] runs alone (every other call holds the store shared), keeps the id in
//! `erased_ids`, checkpoints the journal (so that none of its files keeps what was erased), and leaves a
//! "compaction due" mark in the store itself, so that a crash before the compaction is followed by one
//! at the next start-up.

use super::journal::{self, Journal, Reads};
use super::sched;
use super::{
    BoxFuture, Contact, Contacts, ConversationFilter, Customer, Identity, ImportBatch,
    OpenConversation, Page, ProfileStore, StoreCounts, StoreError, Touchpoint, Turn, TurnCommit,
    TurnGuard, TurnLoad,
};
use crate::message::{Channel, Delivery};
use crate::time::Timestamp;
use std::collections::HashSet;
use std::ffi::OsString;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

/// The customer id of an erased customer's anonymous conversations.
pub const ERASED: &str = "erased";

/// Key, in sled's default tree, of the next number [`ProfileStore::new_id`] hands out. Kept as data (not
/// sled's own id generator, which a compaction's export and import would start again from zero), so that
/// an id is never given twice, whatever restarts and compactions happen.
const NEXT_ID: &[u8] = b"next_id";

/// How many ids [`Trees::new_id`] reserves at once (one write of `NEXT_ID` per block, not per id).
const ID_BLOCK: u64 = 64;

/// Key, in sled's default tree, present while erased bytes may still be in the files.
const COMPACTION_DUE: &[u8] = b"compaction_due";

/// Key, in sled's default tree, of the number of conversation writes the store has taken: the count
/// `ACKED` is checked against at start-up.
const WRITES: &[u8] = b"writes";

/// File, in a generation's directory, holding the number of writes a checkpoint made durable in
/// sled (written by each checkpoint, so every 2 s at most while turns are taken, and at shutdown):
/// more than the store holds after a restart means recovery dropped acknowledged data.
const ACKED: &str = "ACKED";

/// Key, in sled's default tree, of the last [`RecoveryLoss`] found: kept (through compactions) so that
/// `parcours store check` reports it after the restart that found it.
const LOSS: &[u8] = b"recovery_loss";

/// How many times (50 ms apart) to retry a database whose lock is still held.
const LOCK_RETRIES: u32 = 40;

/// How many delivery ids are remembered; past it, the oldest half is forgotten.
const MAX_DELIVERIES: usize = 100_000;

/// The file naming the generation in use.
const CURRENT: &str = "CURRENT";

/// Generations are directories `gen-NNNNNN` of the data directory.
const GEN_PREFIX: &str = "gen-";

/// sled's own files, as it lays them out in a directory.
const SLED_FILES: &[&str] = &["conf", "db", "blobs", ACKED];

/// The page cache sled keeps in memory unless told otherwise: its own default is 1 GiB, which a small
/// VM does not have. sled counts a page by its encoded size, well under what it takes in memory: over
/// 20 minutes of load a server's memory rose by 65 MiB at 64 MiB, by 30 MiB at 16 (the soaks in the
/// README). A turn reads its customer and conversation from
/// parcours's own caches, not sled's.
pub const DEFAULT_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// Environment variable naming a step at which a compaction aborts the process, for the crash tests:
/// `before-switch` (the new generation written, `CURRENT` not switched) or `after-switch`.
pub const FAULT_ENV: &str = "PARCOURS_FAULT_COMPACTION";

/// How many times the turn that syncs a group lets the others run first ([`SledStore::durable`]): a
/// yield lets the runtime read the requests that have come in and run the turns that are ready, which
/// then join the group. Two, by measurement (`perf stat` of the server in the closed loop of
/// `scripts/serve_bench.py`, its `writev`s against its syncs): 24.7 turns a sync, against 16.2 to 16.4
/// with none or one; four was not clearly better. No timer: a turn alone waits only for the two yields.
const GATHER_YIELDS: usize = 2;

/// The sled-backed [`ProfileStore`].
pub struct SledStore {
    /// The data directory.
    root: PathBuf,
    cache_bytes: u64,
    /// The open generation: shared by every call, held alone by compaction and erasure.
    trees: RwLock<Trees>,
    /// Group commit: one flush at a time; callers queue on this lock.
    flush_lock: tokio::sync::Mutex<()>,
    /// Numbers the calls to `durable()`; a call is covered by any flush that started after it.
    requested: AtomicU64,
    /// The highest request number a completed flush covers.
    flushed: AtomicU64,
    /// `fdatasync` the log after each flush (off only to measure what it costs).
    sync_data: std::sync::atomic::AtomicBool,
    /// The last flush succeeded.
    healthy: std::sync::atomic::AtomicBool,
    /// A stand-in holds the place of the generation while it cannot be opened again: nothing is
    /// durable.
    standing_in: std::sync::atomic::AtomicBool,
    /// The lock of each sender (`channel\0user`) whose turn is under way: one process holds a sled
    /// store, so its locks are in memory. Entries nobody holds are dropped as the map grows.
    senders: Mutex<Senders>,
    /// Delivery ids remembered since start (the old ones are trimmed now and then).
    deliveries_seen: AtomicU64,
    /// A checkpoint of the journal is under way in the background.
    checkpointing: Arc<std::sync::atomic::AtomicBool>,
}

/// What a [`TurnGuard`] of the embedded store holds: the sender's lock.
struct SledGuard {
    /// Whose lock it is (`channel\0user`).
    key: String,
    _lock: tokio::sync::OwnedMutexGuard<()>,
    /// A link code the turn used up: put back if the guard is dropped before the turn's writes (or a
    /// merge the code made, which is not undone), before the lock is let go.
    spent: Option<SpentCode>,
}

/// A link code taken by a turn that has not written yet.
struct SpentCode {
    journal: Arc<Journal>,
    link_codes: sled::Tree,
    erased_ids: sled::Tree,
    code: sled::IVec,
    /// What the code held: expiry (8 bytes) ++ customer id.
    held: sled::IVec,
}

impl Drop for SledGuard {
    fn drop(&mut self) {
        let Some(spent) = self.spent.take() else {
            return;
        };
        // Not over a code made again meanwhile, nor for a customer erased meanwhile.
        let owner = spent.held.get(8..).unwrap_or_default();
        let put_back = match spent.erased_ids.contains_key(owner) {
            Ok(false) => spent.journal.write(|w| {
                let swapped = spent.link_codes.compare_and_swap(
                    &spent.code,
                    None as Option<&[u8]>,
                    Some(&spent.held),
                )?;
                if swapped.is_ok() {
                    w.wrote(&spent.link_codes, &spent.code, Some(&spent.held));
                }
                Ok(())
            }),
            Ok(true) => Ok(()),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = put_back {
            tracing::warn!(error = %e, "a link code of a failed turn could not be put back");
        }
    }
}

/// How long a merge or a split waits for a sender's lock (a turn of theirs under way) before it gives
/// up with [`StoreError::Busy`]: two turns joining each other's customers at once would otherwise wait
/// for each other for ever.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// How long a turn waits, at most, for checkpoints that fell behind (see [`Journal::overloaded`]).
const OVERLOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

/// Acknowledged writes a recovery did not find again: sled replayed its log only up to a damaged or
/// truncated part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecoveryLoss {
    /// When the open that found it happened.
    pub at: Timestamp,
    /// Conversation writes a flush had made durable.
    pub acknowledged: u64,
    /// Those the store holds now.
    pub found: u64,
}

impl std::fmt::Display for RecoveryLoss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "recovery dropped data (found {}): {} conversation writes were acknowledged, the store holds {} ({} lost); \
             restore the data directory from a backup if you have one, or run `parcours store check`",
            self.at,
            self.acknowledged,
            self.found,
            self.acknowledged - self.found
        )
    }
}

/// Writes `ACKED` in `dir`: aside, synced, renamed over, directory synced.
fn write_acked(dir: &Path, writes: u64) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join("ACKED.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    writeln!(f, "{writes}")?;
    f.sync_data()?;
    std::fs::rename(&tmp, dir.join(ACKED))?;
    std::fs::File::open(dir)?.sync_all()
}

/// The count `ACKED` holds in `dir`, if it is there and readable.
fn read_acked(dir: &Path) -> Option<u64> {
    std::fs::read_to_string(dir.join(ACKED))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn now_ms() -> u64 {
    Timestamp::now().0
}

/// One open generation of the store.
struct Trees {
    db: sled::Db,
    /// Its directory (the data directory itself for a store written before generations).
    dir: PathBuf,
    /// 0 for a store written before generations.
    generation: u64,
    /// sled's log file, opened once to be `fdatasync`ed after each flush.
    log: Arc<std::fs::File>,
    /// Blob files already synced.
    synced_blobs: Arc<Mutex<HashSet<OsString>>>,
    customers: sled::Tree,
    identities: sled::Tree,
    customer_identities: sled::Tree,
    /// Conversations, with their latest turns inline (at most [`INLINE_TURNS`] after a write; a record
    /// written before the `turns` tree has them all, and is read as it is).
    touchpoints: sled::Tree,
    /// Each conversation's older turns, moved out of its record in segments, never rewritten by a turn:
    /// `id\0` ++ the first turn's number (4 bytes, big-endian) → the segment's turns (JSON array).
    turns: sled::Tree,
    tp_time: sled::Tree,
    tp_customer: sled::Tree,
    open: sled::Tree,
    /// One-time link codes: code → expiry (8 bytes, big-endian) ++ customer id.
    link_codes: sled::Tree,
    erased_ids: sled::Tree,
    /// What `erased_ids` holds, in memory: every conversation write asks it.
    erased: Mutex<crate::FastSet<String>>,
    /// Ids handed out from the block last reserved under `NEXT_ID`: the next one, and the block's end.
    ids: Mutex<(u64, u64)>,
    /// Ids handed out to callers (a new conversation's) and not written yet: a conversation whose id
    /// is here is known to be new without looking for it in sled (a read of a missing key walks sled's
    /// pages, the most expensive thing a turn did in the store). Bounded by [`HANDED_OUT`]; an id let
    /// go of is looked for as before.
    handed_out: Mutex<crate::FastSet<String>>,
    /// Open conversations with people in them (waiting or owned): id → nothing.
    people: sled::Tree,
    /// Platform delivery ids already answered (`source\0id` → when (ms, 8 bytes) ++ the reply given): a
    /// redelivery is answered once.
    deliveries: sled::Tree,
    /// The open conversations, warm: by `channel\0user`, as last written (written through by
    /// [`Trees::save_touchpoint`], emptied by an erasure). A turn reads its conversation from here rather
    /// than parsing it again, and knows what the indexes already say.
    warm: Mutex<crate::FastMap<Vec<u8>, Warm>>,
    /// The latest contacts of customers whose history was read lately, written through by every write
    /// of the `tp_customer` index: a conversation that starts takes them from here rather than by a
    /// reverse scan of the index and a parse of each entry.
    recent: Mutex<Recent>,
    /// Customers read lately, as their records hold them, written through by every write of a record:
    /// a turn does not parse its customer again, nor copy it (a turn shares the value kept).
    kept_customers: Mutex<Kept<Arc<Customer>>>,
    /// The customer ids of identities read lately (`channel\0id` → id), written through by every
    /// write of the `identities` tree: a turn does not look its sender up in the tree again.
    kept_identities: Mutex<Kept<String>>,
    /// Conversation writes, counted since the generation began (kept under `WRITES` by each sync of
    /// the journal and each checkpoint).
    writes: AtomicU64,
    /// Every write, appended and synced there; the writes of the [`DEFERRED`] trees wait there for
    /// sled.
    journal: Arc<Journal>,
}

/// An open conversation kept warm: what the indexes say of it, and the conversation itself unless a
/// turn has taken it (the turn holds the sender's lock; anyone else reads it from the database).
struct Warm {
    indexed: Indexed,
    /// How many of its turns the `turns` tree holds: the next write keeps the others inline, or moves
    /// them there.
    segmented: usize,
    tp: Option<Touchpoint>,
    /// Its inline turns as its record holds them, with their JSON.
    inline: Inline,
}

/// A warm conversation's inline turns as last written, and their JSON (the array's elements, without
/// the brackets): the next write serialises only the turns after them, if they are still the same.
#[derive(Default)]
struct Inline {
    turns: Vec<Turn>,
    json: Vec<u8>,
}

impl Inline {
    /// Makes this the JSON of `turns`: appended to, when it starts with the turns already written,
    /// made again otherwise.
    fn update(&mut self, turns: &[Turn]) -> Result<(), StoreError> {
        let known = self.turns.len();
        if known > turns.len() || self.turns[..] != turns[..known] {
            self.turns.clear();
            self.json.clear();
        }
        // Room for the new turns at once (a turn's JSON is a few hundred bytes): the buffer of a
        // conversation's first turns would otherwise grow by doubling from nothing, several times.
        self.json.reserve(512 * (turns.len() - self.turns.len()));
        for turn in &turns[self.turns.len()..] {
            if !self.json.is_empty() {
                self.json.push(b',');
            }
            crate::json::turn(&mut self.json, turn)?;
            self.turns.push(turn.clone());
        }
        Ok(())
    }
}

/// Values read from a tree, by customer id, kept in memory and written through. `epoch` counts the
/// writes, so that a value read while one was under way is not kept. What is kept is bounded by the
/// values' [`Weight`]s, not by their number: a customer's list of contacts grows with her history.
struct Kept<T> {
    epoch: u64,
    map: crate::FastMap<String, T>,
    /// The sum of the kept values' weights.
    total: usize,
}

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Kept {
            epoch: 0,
            map: crate::FastMap::default(),
            total: 0,
        }
    }
}

/// What a kept value counts for against its cache's [`Weight::BOUND`].
trait Weight {
    /// The most the values kept may weigh together.
    const BOUND: usize;
    fn weight(&self) -> usize {
        1
    }
}

/// How many customers' values are kept; beyond it one is let go for each new one.
const KEPT_CUSTOMERS: usize = 10_000;

/// How many contacts the customers' lists kept hold together (each list at most
/// [`super::RECENT_CONTACTS`]): bounded by customers, the cache would keep growing for as long as
/// their histories do (9 × 10,000 contacts of a few hundred bytes each).
const KEPT_CONTACTS: usize = 20_000;

impl Weight for Arc<Customer> {
    const BOUND: usize = KEPT_CUSTOMERS;
}

impl Weight for String {
    const BOUND: usize = KEPT_CUSTOMERS;
}

impl Weight for Contacts {
    const BOUND: usize = KEPT_CONTACTS;
    fn weight(&self) -> usize {
        self.len().max(1)
    }
}

/// Puts `value` under `key`, letting one other entry go first if the map already holds `bound`.
fn insert_bounded<K: Eq + std::hash::Hash + Clone, V>(
    map: &mut crate::FastMap<K, V>,
    key: K,
    value: V,
    bound: usize,
) {
    if map.len() >= bound && !map.contains_key(&key) {
        if let Some(any) = map.keys().next().cloned() {
            map.remove(&any);
        }
    }
    map.insert(key, value);
}

impl<T: Weight> Kept<T> {
    /// What was read, if no write came since `epoch`.
    fn keep(&mut self, epoch: u64, customer_id: &str, value: T) {
        if epoch == self.epoch {
            self.put(customer_id, value);
        }
    }

    /// A write of this customer's value: what is kept is now `value` (`None`: let go).
    fn wrote(&mut self, customer_id: &str, value: Option<T>) {
        self.epoch += 1;
        match value {
            Some(v) if self.map.contains_key(customer_id) => self.put(customer_id, v),
            _ => self.remove(customer_id),
        }
    }

    fn put(&mut self, customer_id: &str, value: T) {
        self.total += value.weight();
        if let Some(old) = self.map.insert(customer_id.to_string(), value) {
            self.total -= old.weight();
        }
        self.fit(customer_id);
    }

    fn remove(&mut self, customer_id: &str) {
        if let Some(old) = self.map.remove(customer_id) {
            self.total -= old.weight();
        }
    }

    /// Lets others than `customer_id` go until what is kept is within the bound.
    fn fit(&mut self, customer_id: &str) {
        while self.total > T::BOUND {
            let Some(other) = self.map.keys().find(|k| *k != customer_id).cloned() else {
                break;
            };
            self.remove(&other);
        }
    }

    /// Writes that may touch any customer (a merge, a split, an erasure): nothing kept is trusted.
    fn forget_all(&mut self) {
        self.epoch += 1;
        self.map.clear();
        self.total = 0;
    }
}

/// Customers' [`super::RECENT_CONTACTS`] latest contacts, newest first (by start, then id, as the index
/// orders them). A list shorter than that holds every contact the customer has.
type Recent = Kept<Contacts>;

impl Recent {
    /// The index now says `contact` of this customer.
    fn wrote_contact(&mut self, customer_id: &str, contact: &Contact) {
        self.epoch += 1;
        let Some(list) = self.map.get_mut(customer_id) else {
            return;
        };
        let before = list.weight();
        {
            // A copy only if a turn still holds the list it read.
            let list = Arc::make_mut(list);
            list.retain(|c| c.id != contact.id);
            let newer =
                |c: &Contact| (c.started_at, c.id.as_str()) > (contact.started_at, &contact.id);
            let at = list.iter().take_while(|c| newer(c)).count();
            if at < super::RECENT_CONTACTS {
                list.insert(at, contact.clone());
                list.truncate(super::RECENT_CONTACTS);
            }
        }
        self.total = self.total + list.weight() - before;
        self.fit(customer_id);
    }
}

/// The senders' locks, by `channel\0user` (held or not).
struct Senders {
    map: crate::FastMap<String, std::sync::Weak<tokio::sync::Mutex<()>>>,
    /// The map's size at which the entries nobody holds are dropped.
    sweep_at: usize,
}

/// Below this many entries, the senders' locks are not swept.
const SENDERS_SWEPT_FROM: usize = 1024;

impl Default for Senders {
    fn default() -> Self {
        Senders {
            map: crate::FastMap::default(),
            sweep_at: SENDERS_SWEPT_FROM,
        }
    }
}

/// What the indexes hold of a conversation: its customer's history entry and whether people have it.
#[derive(PartialEq)]
struct Indexed {
    id: String,
    customer_id: String,
    contact: Contact,
    human: bool,
}

impl Indexed {
    fn of(tp: &Touchpoint) -> Indexed {
        Indexed {
            id: tp.id.clone(),
            customer_id: tp.customer_id.clone(),
            contact: Contact::from(tp),
            human: tp.is_open() && tp.owner.is_human(),
        }
    }
}

/// The trees every turn writes (a conversation, its indexes) and the customers (a survey asked, an
/// address changed), written to sled only at the journal's checkpoints; the latest writes of their
/// keys wait in the journal's memory, where reads look first. The customers, the conversations and
/// the lists of the open ones and of those people have are read by key (the customers by pages and
/// the lists whole, now and then); the customers' histories and the time index by ranges.
const DEFERRED: &[(&str, Reads)] = &[
    ("customers", Reads::ByKey),
    ("touchpoints", Reads::ByKey),
    ("tp_customer", Reads::ByRange),
    ("tp_time", Reads::ByRange),
    ("open", Reads::ByKey),
    ("people", Reads::ByKey),
];

/// How many turns a conversation's record keeps inline, at most, after a write; older ones are in the
/// `turns` tree.
const INLINE_TURNS: usize = 16;

/// How many ids handed out and not written yet are remembered (more: forgotten, and looked for).
const HANDED_OUT: usize = 10_000;

/// How many open conversations are kept warm; beyond it one is let go for each new one.
const WARM_CONVERSATIONS: usize = 10_000;

/// The key of a sender's lock.
fn sender_key(channel: Channel, user: &str) -> String {
    String::from_utf8_lossy(&key2(channel.as_str(), user)).into_owned()
}

fn key2(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + b.len() + 1);
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

fn time_key(prefix: &[u8], at: Timestamp, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8 + id.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(&at.0.to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

/// Writes and syncs a small file in `dir`, then removes it: fails (`ENOSPC`) when the disk has no
/// block left to give.
fn probe_space(dir: &Path) -> Result<(), StoreError> {
    use std::io::Write;
    let path = dir.join("space_probe");
    let written = std::fs::File::create(&path).and_then(|mut f| {
        f.write_all(&[0u8; 64 * 1024])?;
        f.sync_all()
    });
    let _ = std::fs::remove_file(&path);
    written.map_err(|e| io_error(&path, e))
}

fn io_error(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Open {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn gen_name(generation: u64) -> String {
    format!("{GEN_PREFIX}{generation:06}")
}

/// The generation number of a directory name `gen-NNNNNN`.
fn gen_number(name: &str) -> Option<u64> {
    name.strip_prefix(GEN_PREFIX)?.parse().ok()
}

/// The generations present in the data directory.
fn generations(root: &Path) -> Result<Vec<u64>, StoreError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).map_err(|e| io_error(root, e))? {
        let entry = entry.map_err(|e| io_error(root, e))?;
        if let Some(n) = entry.file_name().to_str().and_then(gen_number) {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// sled's files lie directly in the directory (a store written before generations).
fn has_legacy_files(root: &Path) -> bool {
    root.join("db").exists() || root.join("conf").exists()
}

/// Removes sled's own files from a directory, and the journal's, leaving anything else. The journal's
/// and the snapshots go first: a crash in between leaves sled's, by which the next start knows to
/// finish.
fn remove_legacy_files(root: &Path) -> Result<(), StoreError> {
    for entry in std::fs::read_dir(root).map_err(|e| io_error(root, e))? {
        let entry = entry.map_err(|e| io_error(root, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") || name.starts_with("journal-") {
            std::fs::remove_file(entry.path()).map_err(|e| io_error(&entry.path(), e))?;
        }
    }
    for name in SLED_FILES {
        let path = root.join(name);
        if path.is_dir() {
            std::fs::remove_dir_all(&path).map_err(|e| io_error(&path, e))?;
        } else if path.exists() {
            std::fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
        }
    }
    Ok(())
}

/// Syncs a directory entry (a file's name, a rename) to disk.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))
}

/// Syncs every file under `dir`, and the directories themselves.
fn sync_tree(dir: &Path) -> Result<(), StoreError> {
    for entry in std::fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let path = entry.map_err(|e| io_error(dir, e))?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| io_error(&path, e))?;
        }
    }
    sync_dir(dir)
}

/// Points `CURRENT` at a generation: written aside, synced, renamed over (atomic), directory synced.
fn write_current(root: &Path, generation: u64) -> Result<(), StoreError> {
    let tmp = root.join("CURRENT.tmp");
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{}", gen_name(generation))?;
        f.sync_all()?;
        std::fs::rename(&tmp, root.join(CURRENT))
    };
    write().map_err(|e| io_error(root, e))?;
    sync_dir(root)
}

/// The generation `CURRENT` names, if the file exists.
fn read_current(root: &Path) -> Result<Option<u64>, StoreError> {
    let path = root.join(CURRENT);
    match std::fs::read_to_string(&path) {
        Ok(text) => gen_number(text.trim()).map(Some).ok_or_else(|| StoreError::Open {
            path: path.display().to_string(),
            reason: format!(
                "it should name a generation (gen-000001), it holds {:?}; restore the data directory from a backup",
                text.trim()
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(&path, e)),
    }
}

/// The fault hook of the crash tests.
fn fault(step: &str) {
    if std::env::var(FAULT_ENV).is_ok_and(|v| v == step) {
        eprintln!("{FAULT_ENV}={step}: aborting as asked");
        std::process::abort();
    }
}

/// Opens sled in `dir`, retrying while a previous handle's file lock is being released.
fn open_sled(dir: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    // No periodic background flush: durability comes from `durable()` after each turn.
    let config = sled::Config::new()
        .path(dir)
        .cache_capacity(cache_bytes)
        .flush_every_ms(None);
    // sled releases its file lock asynchronously after a close (its IO threads hold the file until
    // their last write is done), so a quick reopen (a restart, a test) may find it still held for a
    // moment: retry briefly before giving up. sled reports a held lock as an `Other` error whose text
    // says so (the `WouldBlock` of the `flock` is lost in it), so the text is what tells.
    let mut attempts = 0;
    loop {
        match config.open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e)) if lock_held(&e) && attempts < LOCK_RETRIES => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => {
                return Err(StoreError::Open {
                    path: dir.display().to_string(),
                    reason: e.to_string(),
                });
            }
        }
    }
}

/// Whether sled's open failed because another handle still holds the lock on its `db` file.
fn lock_held(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("could not acquire lock")
}

impl SledStore {
    /// Opens (or creates) the store in `dir`, with sled's default cache for parcours
    /// ([`DEFAULT_CACHE_BYTES`]).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the store in `dir`, keeping at most about `cache_bytes` of it in memory.
    /// Finishes what a crash interrupted: a compaction (its leftover is removed, or the erasure it was
    /// for is compacted now), and never starts an empty store where one existed.
    #[tracing::instrument]
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        let root = dir.to_path_buf();
        restore_interrupted_swap(&root)?;
        std::fs::create_dir_all(&root).map_err(|e| io_error(&root, e))?;
        let (generation, fresh) = match read_current(&root)? {
            Some(g) => {
                if !root.join(gen_name(g)).is_dir() {
                    return Err(StoreError::Open {
                        path: root.display().to_string(),
                        reason: format!(
                            "CURRENT names {}, which is missing; restore the data directory from a backup",
                            gen_name(g)
                        ),
                    });
                }
                (g, false)
            }
            None if has_legacy_files(&root) => (0, false),
            None => match generations(&root)?.last() {
                // Created, then stopped before CURRENT was written: adopt it.
                Some(&g) => (g, true),
                None => (1, true),
            },
        };
        let gen_dir = if generation == 0 {
            root.clone()
        } else {
            root.join(gen_name(generation))
        };
        // Whatever is not the generation in use was never switched to, or was replaced.
        for g in generations(&root)? {
            if g != generation {
                let stale = root.join(gen_name(g));
                tracing::warn!(dir = %stale.display(), "removing the leftover of an interrupted compaction");
                std::fs::remove_dir_all(&stale).map_err(|e| io_error(&stale, e))?;
            }
        }
        if generation != 0 && has_legacy_files(&root) {
            tracing::warn!("removing the files of the store a finished compaction replaced");
            remove_legacy_files(&root)?;
        }
        let db = open_sled(&gen_dir, cache_bytes)?;
        let trees = Trees::new(db, gen_dir, generation)?;
        trees.seed_ids()?;
        trees.recovery_loss()?;
        if fresh {
            trees.db.flush()?;
            sync_tree(&trees.dir)?;
            write_current(&root, generation)?;
        }
        let store = SledStore {
            root,
            cache_bytes,
            trees: RwLock::new(trees),
            flush_lock: tokio::sync::Mutex::new(()),
            requested: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
            sync_data: std::sync::atomic::AtomicBool::new(true),
            healthy: std::sync::atomic::AtomicBool::new(true),
            standing_in: std::sync::atomic::AtomicBool::new(false),
            senders: Mutex::default(),
            deliveries_seen: AtomicU64::new(0),
            checkpointing: Arc::default(),
        };
        if store.needs_compaction() {
            tracing::warn!("an erasure was not compacted before the last stop: compacting now");
            store.compact()?;
        }
        Ok(store)
    }

    fn read(&self) -> RwLockReadGuard<'_, Trees> {
        self.trees
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The acknowledged writes the last recovery that dropped some did not find, if any ever did.
    pub fn recovery_loss(&self) -> Option<RecoveryLoss> {
        let bytes = self.read().db.get(LOSS).ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    /// Whether an erasure left bytes in the files that a compaction must remove.
    pub fn erased_something(&self) -> bool {
        self.read().db.contains_key(COMPACTION_DUE).unwrap_or(true)
    }

    /// Turns the `fdatasync` after each flush off or on: off, a durable write is only as safe as
    /// sled's `sync_file_range` (gone with the disk's cache on a power cut). For `parcours store bench`,
    /// which measures what the guarantee costs.
    pub fn set_fdatasync(&self, on: bool) {
        self.sync_data.store(on, Ordering::SeqCst);
    }

    /// The directory of the generation in use.
    pub fn generation_dir(&self) -> PathBuf {
        self.read().dir.clone()
    }

    /// Reads every record and index entry, and says what is damaged: a record that does not decode, an
    /// index entry that points at nothing. sled itself may panic on a damaged page; the caller runs this
    /// where a panic is caught (`parcours store check`).
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        // Records waiting in the journal are read from sled below.
        self.flush_now()?;
        let t = self.read();
        let mut report = CheckReport::default();
        if let Some(loss) = self.recovery_loss() {
            report.damaged.push(loss.to_string());
        }
        for item in t.customers.iter() {
            let (k, v) = item?;
            report.customers += 1;
            if serde_json::from_slice::<Customer>(&v).is_err() {
                report.damaged.push(format!(
                    "customer {} does not decode",
                    String::from_utf8_lossy(&k)
                ));
            }
        }
        for item in t.touchpoints.iter() {
            let (k, v) = item?;
            let id = String::from_utf8_lossy(&k);
            report.conversations += 1;
            let Ok((tp, segmented)) = decode_record(&v) else {
                report
                    .damaged
                    .push(format!("conversation {id} does not decode"));
                continue;
            };
            report.turns += tp.turns.len();
            match t.turns_of(&id, segmented) {
                Ok(turns) if turns.len() == segmented => report.turns += segmented,
                Ok(turns) => report.damaged.push(format!(
                    "conversation {id} has {} of its first {segmented} turns",
                    turns.len()
                )),
                Err(_) => report
                    .damaged
                    .push(format!("turns of conversation {id} do not decode")),
            }
        }
        for item in t.turns.iter() {
            let (k, _) = item?;
            let id = k.split(|b| *b == 0).next().unwrap_or_default();
            if !t.touchpoints.contains_key(id)? {
                report.damaged.push(format!(
                    "turns of conversation {} are kept, the conversation is missing",
                    String::from_utf8_lossy(id)
                ));
            }
        }
        for item in t.tp_time.iter() {
            let (k, _) = item?;
            let id = k.get(8..).unwrap_or_default();
            if !t.touchpoints.contains_key(id)? {
                report.damaged.push(format!(
                    "the time index names conversation {}, which is missing",
                    String::from_utf8_lossy(id)
                ));
            }
        }
        for item in t.identities.iter() {
            let (k, v) = item?;
            if !t.customers.contains_key(&v)? {
                report.damaged.push(format!(
                    "identity {} names customer {}, who is missing",
                    String::from_utf8_lossy(&k).replace('\0', ":"),
                    String::from_utf8_lossy(&v)
                ));
            }
        }
        Ok(report)
    }
}

/// What [`SledStore::check`] found.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CheckReport {
    pub customers: usize,
    pub conversations: usize,
    pub turns: usize,
    /// One line per damaged record or index entry.
    pub damaged: Vec<String>,
}

/// An earlier version compacted by renaming the data directory to `<dir>.before-compaction` and the new
/// one in: a crash between the two left no data directory. The old copy is put back, never deleted.
fn restore_interrupted_swap(root: &Path) -> Result<(), StoreError> {
    let previous = root.with_extension("before-compaction");
    let empty = !root.exists()
        || std::fs::read_dir(root)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
    if previous.is_dir() && empty {
        tracing::warn!(from = %previous.display(), "restoring the store an interrupted compaction had set aside");
        if root.exists() {
            std::fs::remove_dir(root).map_err(|e| io_error(root, e))?;
        }
        std::fs::rename(&previous, root).map_err(|e| io_error(root, e))?;
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    } else if previous.is_dir() {
        tracing::warn!(dir = %previous.display(), "an earlier compaction left this copy of the store; it may hold erased data: delete it once the store is checked");
    }
    Ok(())
}

/// The first byte of a conversation's record that says how many of its turns are in the `turns` tree
/// (4 bytes, big-endian, then the JSON); a record written before that tree is the JSON alone (`{`).
const SEGMENTED_RECORD: u8 = 1;

/// The first byte of a record whose inline turns come apart from the rest: how many turns the `turns`
/// tree holds (4 bytes, big-endian), the length of the inline turns' JSON array (4 bytes), that array,
/// then the conversation's JSON with `turns` empty. A write appends a turn's JSON to the array it wrote
/// last time instead of serialising every inline turn again.
const SPLIT_RECORD: u8 = 2;

/// A conversation's record: how many turns are in the `turns` tree, the inline turns (their JSON
/// array, given), then the conversation without them (`tp.turns` must be empty).
fn encode_record(tp: &Touchpoint, segmented: usize, inline: &[u8]) -> Result<Vec<u8>, StoreError> {
    debug_assert!(tp.turns.is_empty());
    let mut out = Vec::with_capacity(inline.len() + 4096);
    out.push(SPLIT_RECORD);
    out.extend_from_slice(&(segmented as u32).to_be_bytes());
    out.extend_from_slice(&(inline.len() as u32 + 2).to_be_bytes());
    out.push(b'[');
    out.extend_from_slice(inline);
    out.push(b']');
    crate::json::touchpoint(&mut out, tp)?;
    Ok(out)
}

/// A record's parts, in any of its layouts.
struct RecordParts<'a> {
    /// How many turns the `turns` tree holds.
    segmented: usize,
    /// The inline turns' JSON array, when the record keeps it apart (`None`: they are inside `json`).
    turns: Option<&'a [u8]>,
    /// The conversation's JSON.
    json: &'a [u8],
}

fn record_parts(record: &[u8]) -> Result<RecordParts<'_>, StoreError> {
    let count = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap_or_default()) as usize;
    match record.split_first() {
        Some((&SPLIT_RECORD, rest)) if rest.len() >= 8 => {
            let (segmented, rest) = rest.split_at(4);
            let (len, rest) = rest.split_at(4);
            let len = count(len);
            if rest.len() < len {
                return Err(StoreError::Db(
                    "a conversation record shorter than its turns".into(),
                ));
            }
            let (turns, json) = rest.split_at(len);
            Ok(RecordParts {
                segmented: count(segmented),
                turns: Some(turns),
                json,
            })
        }
        Some((&SEGMENTED_RECORD, rest)) if rest.len() >= 4 => {
            let (segmented, json) = rest.split_at(4);
            Ok(RecordParts {
                segmented: count(segmented),
                turns: None,
                json,
            })
        }
        _ => Ok(RecordParts {
            segmented: 0,
            turns: None,
            json: record,
        }),
    }
}

/// The conversation a record holds (its inline turns only) and how many turns the `turns` tree holds.
fn decode_record(record: &[u8]) -> Result<(Touchpoint, usize), StoreError> {
    let parts = record_parts(record)?;
    let mut tp: Touchpoint = serde_json::from_slice(parts.json)?;
    if let Some(turns) = parts.turns {
        tp.turns = serde_json::from_slice(turns)?;
    }
    Ok((tp, parts.segmented))
}

/// What the idle sweeper needs of a conversation's record, from its header alone where the record has
/// one apart from its turns (the turns of an older record are skipped by the parser, not kept).
fn decode_open(record: &[u8]) -> Result<OpenConversation, StoreError> {
    Ok(serde_json::from_slice(record_parts(record)?.json)?)
}

impl Trees {
    fn new(db: sled::Db, dir: PathBuf, generation: u64) -> Result<Self, StoreError> {
        let log_path = dir.join("db");
        let log = Arc::new(std::fs::File::open(&log_path).map_err(|e| io_error(&log_path, e))?);
        // What the journal holds goes to sled before anything is read from it.
        let replayed = journal::replay(&db, &dir, &log, &[NEXT_ID])?;
        if replayed.files > 0 {
            tracing::info!(
                files = replayed.files,
                frames = replayed.frames,
                writes = replayed.writes,
                "the journal was replayed into the store"
            );
        }
        let journal = Arc::new(Journal::create(&db, &dir, log.clone(), DEFERRED)?);
        let tree = |name: &str| db.open_tree(name);
        let erased_ids = tree("erased_ids")?;
        let erased = erased_ids
            .iter()
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k?).into_owned()))
            .collect::<Result<_, sled::Error>>()?;
        Ok(Trees {
            customers: tree("customers")?,
            identities: tree("identities")?,
            customer_identities: tree("customer_identities")?,
            touchpoints: tree("touchpoints")?,
            turns: tree("turns")?,
            tp_time: tree("tp_time")?,
            tp_customer: tree("tp_customer")?,
            open: tree("open")?,
            link_codes: tree("link_codes")?,
            erased: Mutex::new(erased),
            handed_out: Mutex::default(),
            ids: Mutex::new((0, 0)),
            erased_ids,
            people: tree("people")?,
            deliveries: tree("deliveries")?,
            warm: Mutex::default(),
            recent: Mutex::default(),
            kept_customers: Mutex::default(),
            kept_identities: Mutex::default(),
            writes: AtomicU64::new(Self::stored_writes(&db)?),
            journal,
            log,
            synced_blobs: Arc::default(),
            dir,
            generation,
            db,
        })
    }

    /// How many conversation writes this generation holds, as the database keeps it.
    fn stored_writes(db: &sled::Db) -> Result<u64, StoreError> {
        Ok(db
            .get(WRITES)?
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// How many conversation writes this generation holds (counted in memory; the journal's syncs and
    /// checkpoints keep it under `WRITES`).
    fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Compares the writes held with those `ACKED` says were made durable; when some are missing,
    /// logs it and keeps it in the store, where `parcours store check` reports it.
    fn recovery_loss(&self) -> Result<(), StoreError> {
        let found = self.writes();
        let Some(acknowledged) = read_acked(&self.dir).filter(|&a| a > found) else {
            return Ok(());
        };
        let loss = RecoveryLoss {
            at: Timestamp::now(),
            acknowledged,
            found,
        };
        tracing::error!(dir = %self.dir.display(), "{loss}");
        self.db.insert(LOSS, serde_json::to_vec(&loss)?)?;
        self.db.flush()?;
        write_acked(&self.dir, found).map_err(|e| io_error(&self.dir, e))
    }

    fn is_erased(&self, customer_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .erased
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(customer_id))
    }

    /// Keeps an erased customer's id, in the tree and in memory.
    fn mark_erased(&self, customer_id: &str) -> Result<(), StoreError> {
        let mut erased = self
            .erased
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.journal
            .insert(&self.erased_ids, customer_id.as_bytes(), &[])?;
        erased.insert(customer_id.to_owned());
        Ok(())
    }

    /// Starts the id counter above every id already in the store, if it has none yet (a new store, or
    /// one written before the counter existed, whose ids came from sled's generator).
    fn seed_ids(&self) -> Result<(), StoreError> {
        if self.db.contains_key(NEXT_ID)? {
            return Ok(());
        }
        let mut next = self.db.generate_id()?;
        for tree in [&self.customers, &self.touchpoints] {
            for key in tree.iter().keys() {
                let key = key?;
                let number = std::str::from_utf8(&key)
                    .ok()
                    .and_then(|k| k.split_once('_'))
                    .and_then(|(_, hex)| u64::from_str_radix(hex, 16).ok());
                if let Some(n) = number {
                    next = next.max(n.saturating_add(1));
                }
            }
        }
        self.journal
            .insert(&self.db, NEXT_ID, &next.to_be_bytes())?;
        Ok(())
    }

    /// Walks the time index between `since` and `until`, from the cursor on, in either direction.
    fn scan_time(
        &self,
        since: Timestamp,
        until: Timestamp,
        limit: usize,
        cursor: Option<&str>,
        keep: &dyn Fn(&Touchpoint) -> bool,
        newest_first: bool,
    ) -> Result<Page, StoreError> {
        let mut start = since.0.to_be_bytes().to_vec();
        let mut end = until.0.to_be_bytes().to_vec();
        if let Some((at, id)) = cursor.and_then(parse_cursor) {
            let key = time_key(&[], at, &id);
            if newest_first {
                end = key; // strictly before the cursor
            } else {
                start = key;
                start.push(0); // strictly after the cursor
            }
        }
        let mut page = Page::default();
        if start >= end || limit == 0 {
            return Ok(page);
        }
        let keys = self.journal.range(
            &self.tp_time,
            Bound::Included(&start),
            Bound::Excluded(&end),
            newest_first,
        );
        for item in keys {
            let (k, _) = item?;
            if page.items.len() == limit {
                page.next_cursor = page
                    .items
                    .last()
                    .map(|t| format!("{}.{}", t.started_at.0, t.id));
                break;
            }
            let id = String::from_utf8_lossy(&k[8..]).into_owned();
            if let Some(tp) = self.touchpoint(&id)? {
                if keep(&tp) {
                    page.items.push(tp);
                }
            }
        }
        Ok(page)
    }

    #[tracing::instrument(level = "debug", skip(self, identity), fields(channel = %identity.channel))]
    fn resolve(&self, identity: &Identity, now: Timestamp) -> Result<Customer, StoreError> {
        if let Some(c) = self.customer_of(identity)? {
            return Ok(c);
        }
        let customer = Customer {
            id: self.new_id("cus")?,
            created_at: now,
            ..Customer::default()
        };
        self.put_customer(&customer)?;
        self.link(identity, &customer.id)?;
        Ok(customer)
    }

    fn customer_of(&self, identity: &Identity) -> Result<Option<Customer>, StoreError> {
        Ok(self.shared_customer_of(identity)?.map(Arc::unwrap_or_clone))
    }

    /// [`Trees::customer_of`], shared with the customers kept rather than copied.
    fn shared_customer_of(&self, identity: &Identity) -> Result<Option<Arc<Customer>>, StoreError> {
        let key = key2(identity.channel.as_str(), &identity.id);
        let name = String::from_utf8_lossy(&key);
        let epoch = {
            let kept = self.kept_identities();
            if let Some(id) = kept.map.get(name.as_ref()) {
                let id = id.clone();
                drop(kept);
                return self.shared_customer(&id);
            }
            kept.epoch
        };
        match self.identities.get(&key)? {
            Some(id) => {
                let id = String::from_utf8_lossy(&id).into_owned();
                self.kept_identities().keep(epoch, &name, id.clone());
                self.shared_customer(&id)
            }
            None => Ok(None),
        }
    }

    fn kept_identities(&self) -> std::sync::MutexGuard<'_, Kept<String>> {
        self.kept_identities
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn customer(&self, id: &str) -> Result<Option<Customer>, StoreError> {
        Ok(self.shared_customer(id)?.map(Arc::unwrap_or_clone))
    }

    /// [`Trees::customer`], shared with the customers kept rather than copied.
    fn shared_customer(&self, id: &str) -> Result<Option<Arc<Customer>>, StoreError> {
        let epoch = {
            let kept = self.kept_customers();
            if let Some(c) = kept.map.get(id) {
                return Ok(Some(c.clone()));
            }
            kept.epoch
        };
        let customer: Option<Arc<Customer>> = self
            .journal
            .get(&self.customers, id.as_bytes())?
            .map(|v| serde_json::from_slice(&v).map(Arc::new))
            .transpose()?;
        if let Some(c) = &customer {
            self.kept_customers().keep(epoch, id, c.clone());
        }
        Ok(customer)
    }

    fn put_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        self.put_shared_customer(Arc::new(customer.clone()))
    }

    /// [`Trees::put_customer`] of a value the caller is done with: kept as it is.
    #[tracing::instrument(level = "debug", skip_all, fields(customer = %customer.id))]
    fn put_shared_customer(&self, customer: Arc<Customer>) -> Result<(), StoreError> {
        if self.is_erased(&customer.id)? {
            tracing::debug!("a write for an erased customer was dropped");
            return Ok(());
        }
        let mut record = Vec::with_capacity(1024);
        crate::json::customer(&mut record, &customer)?;
        // Held across the write, so that two writers of one customer (two senders) leave in memory
        // what the last of them left in the tree.
        let mut kept = self.kept_customers();
        self.journal
            .insert(&self.customers, customer.id.as_bytes(), &record)?;
        let id = customer.id.clone();
        kept.wrote(&id, Some(customer));
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip(self, identity), fields(channel = %identity.channel))]
    fn link(&self, identity: &Identity, customer_id: &str) -> Result<(), StoreError> {
        if self.is_erased(customer_id)? {
            return Ok(());
        }
        let key = key2(identity.channel.as_str(), &identity.id);
        // Held across the write, as for a customer.
        let mut kept = self.kept_identities();
        let old = self
            .journal
            .write(|w| w.insert(&self.identities, &key, customer_id.as_bytes()))?;
        kept.wrote(
            &String::from_utf8_lossy(&key),
            Some(customer_id.to_string()),
        );
        drop(kept);
        if let Some(old) = old {
            let old = String::from_utf8_lossy(&old);
            self.journal.remove(
                &self.customer_identities,
                &key2(&old, &String::from_utf8_lossy(&key)),
            )?;
        }
        self.journal.insert(
            &self.customer_identities,
            &key2(customer_id, &String::from_utf8_lossy(&key)),
            &[],
        )?;
        Ok(())
    }

    fn identities(&self, customer_id: &str) -> Result<Vec<Identity>, StoreError> {
        let prefix = key2(customer_id, "");
        let mut out = Vec::new();
        for item in self.customer_identities.scan_prefix(&prefix) {
            let (k, _) = item?;
            let rest = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            if let Some((channel, id)) = rest.split_once('\0') {
                if let Some(channel) = Channel::parse(channel) {
                    out.push(Identity {
                        channel,
                        id: id.to_string(),
                    });
                }
            }
        }
        Ok(out)
    }

    fn open_touchpoint(
        &self,
        channel: Channel,
        user: &str,
    ) -> Result<Option<Touchpoint>, StoreError> {
        let key = key2(channel.as_str(), user);
        if let Some(tp) = self.warm().get(&key).and_then(|w| w.tp.clone()) {
            return Ok(Some(tp));
        }
        // Read without the sender's lock: not kept warm, where it could land after a turn's own write
        // and hand the next turn this older copy.
        let Some(id) = self.journal.get(&self.open, &key)? else {
            return Ok(None);
        };
        self.touchpoint(&String::from_utf8_lossy(&id))
    }

    /// The open conversation of the sender whose lock the caller holds, for a turn: taken from the warm
    /// ones (not copied), given back by the turn's commit.
    fn take_open(&self, channel: Channel, user: &str) -> Result<Option<Touchpoint>, StoreError> {
        let key = key2(channel.as_str(), user);
        if let Some(tp) = self.warm().get_mut(&key).and_then(|w| w.tp.take()) {
            return Ok(Some(tp));
        }
        self.open_from_disk(&key)
    }

    fn open_from_disk(&self, key: &[u8]) -> Result<Option<Touchpoint>, StoreError> {
        let Some(id) = self.journal.get(&self.open, key)? else {
            return Ok(None);
        };
        let Some((tp, segmented)) = self.read_touchpoint(&String::from_utf8_lossy(&id))? else {
            return Ok(None);
        };
        let warm = Warm {
            indexed: Indexed::of(&tp),
            segmented,
            tp: Some(tp.clone()),
            inline: Inline::default(),
        };
        self.keep_warm(key.to_vec(), warm);
        Ok(Some(tp))
    }

    /// Every open conversation, from the index: a warm one as it is in memory, another from its
    /// record's header (its turns are neither read nor parsed).
    fn open_conversations(&self) -> Result<Vec<OpenConversation>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .journal
            .range(&self.open, Bound::Unbounded, Bound::Unbounded, false)
        {
            let (key, id) = item?;
            let warm = self.warm().get(key.as_ref()).and_then(|w| {
                w.tp.as_ref()
                    .filter(|tp| tp.id.as_bytes() == id.as_ref())
                    .map(OpenConversation::of)
            });
            let seen = match warm {
                Some(seen) => Some(seen),
                None => match self.journal.get(&self.touchpoints, &id)? {
                    Some(record) => Some(decode_open(&record)?),
                    None => None,
                },
            };
            out.extend(seen);
        }
        Ok(out)
    }

    fn warm(&self) -> std::sync::MutexGuard<'_, crate::FastMap<Vec<u8>, Warm>> {
        self.warm.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn kept_customers(&self) -> std::sync::MutexGuard<'_, Kept<Arc<Customer>>> {
        self.kept_customers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn keep_warm(&self, key: Vec<u8>, entry: Warm) {
        insert_bounded(&mut self.warm(), key, entry, WARM_CONVERSATIONS);
    }

    fn save_touchpoint(&self, tp: &Touchpoint) -> Result<(), StoreError> {
        self.save_touchpoint_owned(tp.clone())
    }

    /// [`Trees::save_touchpoint`] of a conversation the caller is done with: kept warm as it is.
    fn save_touchpoint_owned(&self, mut tp: Touchpoint) -> Result<(), StoreError> {
        if let Some((key, mut warm)) = self.write_touchpoint(&mut tp)? {
            warm.tp = Some(tp);
            self.keep_warm(key, warm);
        }
        Ok(())
    }

    /// Writes a conversation's record, with the turns after the first `segmented` inline (`None`: the
    /// `turns` tree's segments of it are deleted first, every turn is written again), and nothing else:
    /// no index. Past [`INLINE_TURNS`] inline, they move to the `turns` tree as one segment, so that a
    /// long conversation's turn writes only its latest turns. `inline` is what the last write left of
    /// the inline turns (empty when not known), and is left as this write's. Returns how many turns the
    /// tree holds.
    fn put_record(
        &self,
        tp: &mut Touchpoint,
        segmented: Option<usize>,
        inline: &mut Inline,
    ) -> Result<usize, StoreError> {
        let rewrite = segmented.is_none();
        let mut segmented = segmented.unwrap_or(0);
        if rewrite {
            *inline = Inline::default();
        }
        // The segment first, then the record that counts it: a crash in between leaves a segment no
        // record counts, which no read takes (and the next write of that key replaces).
        if tp.turns.len() - segmented > INLINE_TURNS {
            self.journal.insert(
                &self.turns,
                &Self::turn_key(&tp.id, segmented),
                &serde_json::to_vec(&tp.turns[segmented..])?,
            )?;
            segmented = tp.turns.len();
        }
        inline.update(&tp.turns[segmented..])?;
        // The record holds the rest (moved out and back, not copied).
        let turns = std::mem::take(&mut tp.turns);
        let record = encode_record(tp, segmented, &inline.json);
        tp.turns = turns;
        self.journal
            .insert(&self.touchpoints, tp.id.as_bytes(), &record?)?;
        self.writes.fetch_add(1, Ordering::SeqCst);
        if rewrite {
            // Segments the record no longer counts (the one at 0 was just written, if it counts any).
            let first = (segmented > 0).then(|| Self::turn_key(&tp.id, 0));
            for key in self.turns.scan_prefix(key2(&tp.id, "")).keys() {
                let key = key?;
                if first.as_deref() != Some(key.as_ref()) {
                    self.journal.remove(&self.turns, &key)?;
                }
            }
        }
        Ok(segmented)
    }

    /// The key of a conversation's segment of turns that starts with turn `seq`.
    fn turn_key(id: &str, seq: usize) -> Vec<u8> {
        let mut k = key2(id, "");
        k.extend_from_slice(&(seq as u32).to_be_bytes());
        k
    }

    /// Writes a conversation and what the indexes say of it; if it is open, the key it is to be kept
    /// warm under, with what the indexes now say, how many turns the `turns` tree holds and the inline
    /// turns written (the conversation itself left for the caller to put in).
    #[tracing::instrument(level = "debug", skip_all, fields(conversation = %tp.id))]
    fn write_touchpoint(&self, tp: &mut Touchpoint) -> Result<Option<(Vec<u8>, Warm)>, StoreError> {
        // A turn that raced the erasure of its customer is not saved under her id again.
        if tp.customer_id != ERASED && self.is_erased(&tp.customer_id)? {
            tracing::debug!("a conversation of an erased customer was not saved");
            return Ok(None);
        }
        let open_key = key2(tp.channel.as_str(), &tp.user);
        let indexed = Indexed::of(tp);
        // What the indexes already say of it, when it is warm: only what changed is written.
        let (known, same_history, same_people, segmented, mut inline) =
            match self.warm().get_mut(&open_key) {
                Some(w) if w.indexed.id == tp.id => (
                    true,
                    w.indexed.customer_id == indexed.customer_id
                        && w.indexed.contact == indexed.contact,
                    w.indexed.human == indexed.human,
                    w.segmented,
                    std::mem::take(&mut w.inline),
                ),
                _ => (false, false, false, 0, Inline::default()),
            };
        let handed_out = self
            .handed_out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&tp.id);
        let is_new = handed_out
            || !known
                && self
                    .journal
                    .get(&self.touchpoints, tp.id.as_bytes())?
                    .is_none();
        // The turns already moved to the `turns` tree are not written again; a conversation that is not
        // warm (how many it has there is not known) has them all written again.
        let segmented = match segmented {
            _ if is_new => Some(0),
            n if known && n <= tp.turns.len() => Some(n),
            _ => None,
        };
        let segmented = self.put_record(tp, segmented, &mut inline)?;
        if is_new {
            self.journal
                .insert(&self.tp_time, &time_key(&[], tp.started_at, &tp.id), &[])?;
        }
        if !same_history {
            let mut entry = Vec::with_capacity(256);
            crate::json::contact(&mut entry, &indexed.contact)?;
            // Held across the write, as for a customer.
            let mut recent = self.recent();
            self.journal.insert(
                &self.tp_customer,
                &time_key(&key2(&tp.customer_id, ""), tp.started_at, &tp.id),
                &entry,
            )?;
            recent.wrote_contact(&tp.customer_id, &indexed.contact);
        }
        // A new conversation has no entry among the people's to remove.
        if !same_people && (indexed.human || !is_new) {
            if indexed.human {
                self.journal.insert(&self.people, tp.id.as_bytes(), &[])?;
            } else {
                self.journal.remove(&self.people, tp.id.as_bytes())?;
            }
        }
        if tp.is_open() {
            // Warm means the index already names it.
            if !known {
                self.journal
                    .insert(&self.open, &open_key, tp.id.as_bytes())?;
            }
            let warm = Warm {
                indexed,
                segmented,
                tp: None,
                inline,
            };
            return Ok(Some((open_key, warm)));
        } else {
            // Warm, the index names it; otherwise it is looked at.
            if known
                || self
                    .journal
                    .get(&self.open, &open_key)?
                    .is_some_and(|id| &*id == tp.id.as_bytes())
            {
                self.journal.remove(&self.open, &open_key)?;
            }
            let mut warm = self.warm();
            if warm.get(&open_key).is_some_and(|w| w.indexed.id == tp.id) {
                warm.remove(&open_key);
            }
        }
        Ok(None)
    }

    fn touchpoint(&self, id: &str) -> Result<Option<Touchpoint>, StoreError> {
        Ok(self.read_touchpoint(id)?.map(|(tp, _)| tp))
    }

    /// A conversation with all its turns, and how many of them came from the `turns` tree.
    fn read_touchpoint(&self, id: &str) -> Result<Option<(Touchpoint, usize)>, StoreError> {
        let Some(record) = self.journal.get(&self.touchpoints, id.as_bytes())? else {
            return Ok(None);
        };
        let (mut tp, segmented) = decode_record(&record)?;
        let mut turns = self.turns_of(id, segmented)?;
        turns.append(&mut tp.turns);
        tp.turns = turns;
        Ok(Some((tp, segmented)))
    }

    /// The first `segmented` turns of a conversation, from the `turns` tree: the segment at 0, then the
    /// one where it ends, and so on. Fewer if one is missing (`store check` says so).
    fn turns_of(&self, id: &str, segmented: usize) -> Result<Vec<Turn>, StoreError> {
        let mut turns = Vec::new();
        while turns.len() < segmented {
            let Some(segment) = self.turns.get(Self::turn_key(id, turns.len()))? else {
                break;
            };
            let mut segment: Vec<Turn> = serde_json::from_slice(&segment)?;
            if segment.is_empty() {
                break;
            }
            segment.truncate(segmented - turns.len());
            turns.append(&mut segment);
        }
        Ok(turns)
    }

    fn touchpoints_between(
        &self,
        since: Timestamp,
        until: Timestamp,
        limit: usize,
        cursor: Option<&str>,
        keep: &dyn Fn(&Touchpoint) -> bool,
    ) -> Result<Page, StoreError> {
        self.scan_time(since, until, limit, cursor, keep, false)
    }

    fn touchpoints_newest_first(
        &self,
        since: Timestamp,
        until: Timestamp,
        limit: usize,
        cursor: Option<&str>,
        keep: &dyn Fn(&Touchpoint) -> bool,
    ) -> Result<Page, StoreError> {
        self.scan_time(since, until, limit, cursor, keep, true)
    }

    fn touchpoints_of(&self, customer_id: &str) -> Result<Vec<Touchpoint>, StoreError> {
        self.customer_touchpoints(customer_id, usize::MAX, false)
    }

    /// A customer's `limit` latest conversations, newest first, from the index alone (a record written
    /// before the index kept them is read whole).
    fn recent_contacts(&self, customer_id: &str, limit: usize) -> Result<Contacts, StoreError> {
        let epoch = {
            let recent = self.recent();
            if limit <= super::RECENT_CONTACTS {
                if let Some(list) = recent.map.get(customer_id) {
                    if list.len() <= limit {
                        return Ok(list.clone());
                    }
                    return Ok(Arc::new(list.iter().take(limit).cloned().collect()));
                }
            }
            recent.epoch
        };
        let out = Arc::new(self.read_contacts(customer_id, limit)?);
        if limit == super::RECENT_CONTACTS {
            self.recent().keep(epoch, customer_id, out.clone());
        }
        Ok(out)
    }

    /// [`Trees::recent_contacts`] read from the index.
    fn read_contacts(&self, customer_id: &str, limit: usize) -> Result<Vec<Contact>, StoreError> {
        let prefix = key2(customer_id, "");
        let mut out = Vec::new();
        for item in self.journal.scan_prefix(&self.tp_customer, &prefix, true) {
            if out.len() == limit {
                break;
            }
            let (k, v) = item?;
            match serde_json::from_slice::<Contact>(&v) {
                Ok(c) => out.push(c),
                Err(_) => {
                    let id = String::from_utf8_lossy(&k[prefix.len() + 8..]).into_owned();
                    if let Some(tp) = self.touchpoint(&id)? {
                        if tp.customer_id == customer_id {
                            out.push(Contact::from(&tp));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Up to `limit` of a customer's conversations from the `tp_customer` index, oldest or newest first.
    fn customer_touchpoints(
        &self,
        customer_id: &str,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<Touchpoint>, StoreError> {
        let prefix = key2(customer_id, "");
        let keys = self
            .journal
            .scan_prefix(&self.tp_customer, &prefix, newest_first);
        let mut out = Vec::new();
        for item in keys {
            if out.len() == limit {
                break;
            }
            let (k, _) = item?;
            let id = String::from_utf8_lossy(&k[prefix.len() + 8..]).into_owned();
            if let Some(tp) = self.touchpoint(&id)? {
                if tp.customer_id == customer_id {
                    out.push(tp);
                }
            }
        }
        Ok(out)
    }

    fn put_link_code(
        &self,
        code: &str,
        customer_id: &str,
        expires: Timestamp,
    ) -> Result<(), StoreError> {
        let mut v = expires.0.to_be_bytes().to_vec();
        v.extend_from_slice(customer_id.as_bytes());
        self.journal.insert(&self.link_codes, code.as_bytes(), &v)
    }

    #[tracing::instrument(skip(self))]
    fn merge(&self, from: &str, into: &str) -> Result<(), StoreError> {
        if from == into {
            return Ok(());
        }
        for ident in self.identities(from)? {
            self.link(&ident, into)?;
        }
        for mut tp in self.touchpoints_of(from)? {
            self.journal.remove(
                &self.tp_customer,
                &time_key(&key2(from, ""), tp.started_at, &tp.id),
            )?;
            self.recent().forget_all();
            tp.customer_id = into.to_string();
            self.save_touchpoint(&tp)?;
        }
        if let (Some(old), Some(mut new)) = (self.customer(from)?, self.customer(into)?) {
            new.absorb(old);
            self.put_customer(&new)?;
        }
        let mut kept = self.kept_customers();
        self.journal.remove(&self.customers, from.as_bytes())?;
        kept.wrote(from, None);
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    fn forget(&self, customer_id: &str) -> Result<usize, StoreError> {
        for ident in self.identities(customer_id)? {
            let key = key2(ident.channel.as_str(), &ident.id);
            let mut kept = self.kept_identities();
            self.journal.remove(&self.identities, &key)?;
            kept.wrote(&String::from_utf8_lossy(&key), None);
            drop(kept);
            self.journal.remove(&self.open, &key)?;
            self.journal.remove(
                &self.customer_identities,
                &key2(customer_id, &String::from_utf8_lossy(&key)),
            )?;
        }
        let tps = self.touchpoints_of(customer_id)?;
        for mut tp in tps.iter().cloned() {
            self.journal.remove(
                &self.tp_customer,
                &time_key(&key2(customer_id, ""), tp.started_at, &tp.id),
            )?;
            self.recent().forget_all();
            self.journal
                .remove(&self.open, &key2(tp.channel.as_str(), &tp.user))?;
            tp.customer_id = ERASED.to_string();
            tp.user = String::new();
            tp.session = None;
            tp.state = Default::default();
            tp.survey.remove(crate::engine::survey::COMMENT);
            for turn in &mut tp.turns {
                turn.text = String::new();
            }
            self.put_record(&mut tp, None, &mut Inline::default())?;
        }
        for item in self.link_codes.iter() {
            let (code, v) = item?;
            if v.len() >= 8 && &v[8..] == customer_id.as_bytes() {
                self.journal.remove(&self.link_codes, &code)?;
            }
        }
        let mut kept = self.kept_customers();
        self.journal
            .remove(&self.customers, customer_id.as_bytes())?;
        kept.wrote(customer_id, None);
        drop(kept);
        self.warm().clear();
        // The id stays, so that nothing is saved under it again; the mark says the files still hold
        // the erased bytes until the next compaction, and survives a crash.
        self.mark_erased(customer_id)?;
        self.journal
            .insert(&self.db, COMPACTION_DUE, &Timestamp::now().0.to_be_bytes())?;
        Ok(tps.len())
    }

    #[tracing::instrument(skip(self, identity))]
    fn split(
        &self,
        customer_id: &str,
        identity: &Identity,
        now: Timestamp,
    ) -> Result<String, StoreError> {
        let new = Customer {
            id: self.new_id("cus")?,
            created_at: now,
            ..Customer::default()
        };
        self.put_customer(&new)?;
        self.link(identity, &new.id)?;
        for mut tp in self.touchpoints_of(customer_id)? {
            if tp.channel == identity.channel && tp.user == identity.id {
                self.journal.remove(
                    &self.tp_customer,
                    &time_key(&key2(customer_id, ""), tp.started_at, &tp.id),
                )?;
                self.recent().forget_all();
                tp.customer_id = new.id.clone();
                self.save_touchpoint(&tp)?;
            }
        }
        Ok(new.id)
    }

    fn purge_transcripts(&self, before: Timestamp) -> Result<usize, StoreError> {
        let mut n = 0;
        let before = before.0.to_be_bytes();
        for item in self.journal.range(
            &self.tp_time,
            Bound::Unbounded,
            Bound::Excluded(&before),
            false,
        ) {
            let (k, _) = item?;
            let id = String::from_utf8_lossy(&k[8..]).into_owned();
            let Some(mut tp) = self.touchpoint(&id)? else {
                continue;
            };
            if tp.is_open() || tp.turns.iter().all(|t| t.text.is_empty()) {
                continue;
            }
            for t in &mut tp.turns {
                t.text.clear();
            }
            tp.survey.remove(crate::engine::survey::COMMENT);
            self.put_record(&mut tp, None, &mut Inline::default())?;
            n += 1;
        }
        Ok(n)
    }

    /// A number never handed out before, whatever restarts and compactions happen: `NEXT_ID` holds the
    /// end of the last block of [`ID_BLOCK`] numbers reserved, and the block is handed out from memory
    /// (after a restart the rest of it is skipped, never given again). The reservation is in sled's log
    /// before any write that uses a number from it, so recovery never keeps one without the other.
    fn new_id(&self, prefix: &str) -> Result<String, StoreError> {
        let number = |bytes: Option<&[u8]>| {
            bytes
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(1, u64::from_be_bytes)
        };
        let mut ids = self
            .ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if ids.0 >= ids.1 {
            let start = self.journal.write(|w| {
                let previous = self.db.fetch_and_update(NEXT_ID, |old| {
                    Some(number(old).saturating_add(ID_BLOCK).to_be_bytes().to_vec())
                })?;
                let start = number(previous.as_deref());
                w.wrote(
                    &self.db,
                    NEXT_ID,
                    Some(&start.saturating_add(ID_BLOCK).to_be_bytes()),
                );
                Ok(start)
            })?;
            *ids = (start, start.saturating_add(ID_BLOCK));
        }
        let n = ids.0;
        ids.0 += 1;
        Ok(format!("{prefix}_{n:x}"))
    }
}

/// What a checkpoint does once sled is synced: the blob files sled wrote synced too, and `ACKED`
/// written with the count of writes the checkpoint made durable in sled (`writes`, taken before it).
fn synced_and_acked(
    dir: &Path,
    synced: &Mutex<HashSet<OsString>>,
    writes: u64,
) -> std::io::Result<()> {
    sync_new_blobs(dir, synced)?;
    write_acked(dir, writes)
}

/// Syncs blob files sled wrote since the last call (sled writes them without any sync), and their
/// directory when there were any.
fn sync_new_blobs(dir: &Path, synced: &Mutex<HashSet<OsString>>) -> std::io::Result<()> {
    let blobs = dir.join("blobs");
    let Ok(entries) = std::fs::read_dir(&blobs) else {
        return Ok(());
    };
    let mut synced = synced
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut present = HashSet::new();
    let mut new = false;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        if !synced.contains(&name) {
            std::fs::File::open(entry.path())?.sync_data()?;
            new = true;
        }
        present.insert(name);
    }
    if new {
        std::fs::File::open(&blobs)?.sync_all()?;
    }
    *synced = present;
    Ok(())
}

/// The store's own calls, synchronous: sled answers from memory. [`ProfileStore`] wraps them.
impl SledStore {
    pub fn resolve(&self, identity: &Identity, now: Timestamp) -> Result<Customer, StoreError> {
        self.read().resolve(identity, now)
    }

    pub fn customer_of(&self, identity: &Identity) -> Result<Option<Customer>, StoreError> {
        self.read().customer_of(identity)
    }

    pub fn customer(&self, id: &str) -> Result<Option<Customer>, StoreError> {
        self.read().customer(id)
    }

    pub fn put_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        self.read().put_customer(customer)
    }

    pub fn link(&self, identity: &Identity, customer_id: &str) -> Result<(), StoreError> {
        self.read().link(identity, customer_id)
    }

    pub fn identities(&self, customer_id: &str) -> Result<Vec<Identity>, StoreError> {
        self.read().identities(customer_id)
    }

    pub fn open_touchpoint(
        &self,
        channel: Channel,
        user: &str,
    ) -> Result<Option<Touchpoint>, StoreError> {
        self.read().open_touchpoint(channel, user)
    }

    pub fn open_conversations(&self) -> Result<Vec<OpenConversation>, StoreError> {
        self.read().open_conversations()
    }

    pub fn handoff_touchpoints(&self) -> Result<Vec<Touchpoint>, StoreError> {
        let t = self.read();
        let mut out = Vec::new();
        for item in t
            .journal
            .range(&t.people, Bound::Unbounded, Bound::Unbounded, false)
        {
            let (id, _) = item?;
            if let Some(tp) = t.touchpoint(&String::from_utf8_lossy(&id))? {
                if tp.is_open() && tp.owner.is_human() {
                    out.push(tp);
                }
            }
        }
        Ok(out)
    }

    pub fn save_touchpoint(&self, tp: &Touchpoint) -> Result<(), StoreError> {
        self.read().save_touchpoint(tp)
    }

    pub fn touchpoint(&self, id: &str) -> Result<Option<Touchpoint>, StoreError> {
        self.read().touchpoint(id)
    }

    pub fn touchpoints_between(
        &self,
        since: Timestamp,
        until: Timestamp,
        limit: usize,
        cursor: Option<&str>,
        filter: &ConversationFilter,
        newest_first: bool,
    ) -> Result<Page, StoreError> {
        let keep = |tp: &Touchpoint| filter.matches(tp);
        let t = self.read();
        if newest_first {
            t.touchpoints_newest_first(since, until, limit, cursor, &keep)
        } else {
            t.touchpoints_between(since, until, limit, cursor, &keep)
        }
    }

    pub fn touchpoints_of(&self, customer_id: &str) -> Result<Vec<Touchpoint>, StoreError> {
        self.read().touchpoints_of(customer_id)
    }

    pub fn recent_contacts(&self, customer_id: &str, limit: usize) -> Result<Contacts, StoreError> {
        self.read().recent_contacts(customer_id, limit)
    }

    /// The lock of one sender, shared by whoever asks for it while it is held.
    fn sender(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut senders = self
            .senders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(lock) = senders.map.get(key).and_then(std::sync::Weak::upgrade) {
            return lock;
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        let weak = Arc::downgrade(&lock);
        match senders.map.get_mut(key) {
            Some(dead) => *dead = weak,
            None => {
                // Swept when the map has doubled since the last sweep: a turn does not walk every
                // sender, and the entries left are at most twice the locks held.
                if senders.map.len() >= senders.sweep_at {
                    senders.map.retain(|_, w| w.strong_count() > 0);
                    senders.sweep_at = (2 * senders.map.len()).max(SENDERS_SWEPT_FROM);
                }
                senders.map.insert(key.to_string(), weak);
            }
        }
        lock
    }

    /// Takes the lock of every sender of these customers (their identities, and where their open
    /// conversations are) but `held`, in key order, waiting at most [`LOCK_WAIT`] for each; again for
    /// any sender that appeared meanwhile.
    async fn lock_senders_of(
        &self,
        customers: &[&str],
        held: Option<&str>,
    ) -> Result<Vec<tokio::sync::OwnedMutexGuard<()>>, StoreError> {
        let mut locked = std::collections::BTreeMap::new();
        loop {
            let mut wanted = std::collections::BTreeSet::new();
            for customer in customers {
                for ident in SledStore::identities(self, customer)? {
                    wanted.insert(sender_key(ident.channel, &ident.id));
                }
                for tp in SledStore::touchpoints_of(self, customer)? {
                    if tp.is_open() {
                        wanted.insert(sender_key(tp.channel, &tp.user));
                    }
                }
            }
            wanted.retain(|k| Some(k.as_str()) != held && !locked.contains_key(k));
            if wanted.is_empty() {
                return Ok(locked.into_values().collect());
            }
            for key in wanted {
                let guard = self.lock_within(&key).await?;
                locked.insert(key, guard);
            }
        }
    }

    /// One sender's lock, waiting at most [`LOCK_WAIT`] for a turn of theirs to finish.
    async fn lock_within(&self, key: &str) -> Result<tokio::sync::OwnedMutexGuard<()>, StoreError> {
        tokio::time::timeout(LOCK_WAIT, self.sender(key).lock_owned())
            .await
            .map_err(|_| StoreError::Busy("a turn under way did not finish".into()))
    }

    /// What a turn reads (see [`ProfileStore::begin_turn`]), once its lock is held.
    pub fn load_turn(
        &self,
        identity: &Identity,
        also: Option<&Identity>,
        delivery: Option<&Delivery>,
        now: Timestamp,
    ) -> Result<TurnLoad, StoreError> {
        let t = self.read();
        if let Some(d) = delivery {
            if let Some(seen) = t.deliveries.get(key2(d.source, &d.id))? {
                let reply = seen.get(8..).unwrap_or_default();
                let replay = String::from_utf8_lossy(reply).into_owned();
                // Nothing else is read: the turn is not run again.
                let customer = t.shared_customer_of(identity)?.unwrap_or_default();
                return Ok(TurnLoad {
                    customer,
                    created: false,
                    open: None,
                    recent: None,
                    replay: Some(replay),
                });
            }
        }
        let (customer, created) = match t.shared_customer_of(identity)? {
            Some(c) => (c, false),
            None => match also.map(|a| t.shared_customer_of(a)).transpose()?.flatten() {
                Some(c) => {
                    t.link(identity, &c.id)?;
                    (c, false)
                }
                None => (Arc::new(t.resolve(identity, now)?), true),
            },
        };
        let open = t.take_open(identity.channel, &identity.id)?;
        let recent = match &open {
            Some(tp) if !tp.turns.is_empty() => None,
            _ => Some(t.recent_contacts(&customer.id, super::RECENT_CONTACTS)?),
        };
        Ok(TurnLoad {
            customer,
            created,
            open,
            recent,
            replay: None,
        })
    }

    /// Writes what a turn changed (see [`ProfileStore::commit`]); durable once [`SledStore::durable`]
    /// resolves.
    pub fn write_turn(&self, changes: TurnCommit) -> Result<(), StoreError> {
        let t = self.read();
        for tp in changes.touchpoints {
            t.save_touchpoint_owned(tp)?;
        }
        if let Some(c) = changes.customer {
            t.put_shared_customer(Arc::new(c))?;
        }
        if let Some((d, reply)) = &changes.delivery {
            let mut value = now_ms().to_be_bytes().to_vec();
            value.extend_from_slice(reply.as_bytes());
            t.journal
                .insert(&t.deliveries, &key2(d.source, &d.id), &value)?;
            self.prune_deliveries(&t)?;
        }
        Ok(())
    }

    /// Up to `limit` customers after `after`, in id order.
    pub fn customers_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Customer>, StoreError> {
        let t = self.read();
        let lo = match after {
            Some(a) => Bound::Excluded(a.as_bytes()),
            None => Bound::Unbounded,
        };
        let range = t.journal.range(&t.customers, lo, Bound::Unbounded, false);
        let mut out = Vec::new();
        for item in range.take(limit) {
            let (_, v) = item?;
            out.push(serde_json::from_slice(&v)?);
        }
        Ok(out)
    }

    /// The ids of erased customers.
    pub fn erased_ids(&self) -> Result<Vec<String>, StoreError> {
        let t = self.read();
        let mut out = Vec::new();
        for item in t.erased_ids.iter() {
            let (k, _) = item?;
            out.push(String::from_utf8_lossy(&k).into_owned());
        }
        Ok(out)
    }

    /// Writes a batch as it is (durable once [`SledStore::durable`] resolves).
    pub fn import(&self, batch: &ImportBatch) -> Result<(), StoreError> {
        let t = self.read();
        for id in &batch.erased {
            t.mark_erased(id)?;
        }
        for (c, identities) in &batch.customers {
            t.put_customer(c)?;
            for i in identities {
                t.link(i, &c.id)?;
            }
        }
        for tp in &batch.touchpoints {
            t.save_touchpoint(tp)?;
        }
        // Ids handed out from now on come after every imported one.
        let highest = batch
            .customers
            .iter()
            .map(|(c, _)| c.id.as_str())
            .chain(batch.touchpoints.iter().map(|tp| tp.id.as_str()))
            .filter_map(|id| id.split_once('_'))
            .filter_map(|(_, hex)| u64::from_str_radix(hex, 16).ok())
            .max();
        if let Some(h) = highest {
            let mut ids = t
                .ids
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *ids = (0, 0); // the block in memory may be below the imported ids: the next id reserves anew
            t.journal.write(|w| {
                let next = t.db.update_and_fetch(NEXT_ID, |old| {
                    let n = old
                        .and_then(|b| <[u8; 8]>::try_from(b).ok())
                        .map_or(1, u64::from_be_bytes);
                    Some(n.max(h.saturating_add(1)).to_be_bytes().to_vec())
                })?;
                w.wrote(&t.db, NEXT_ID, next.as_deref());
                Ok(())
            })?;
        }
        Ok(())
    }

    /// How many records the store holds (reads every conversation to count turns).
    pub fn counts(&self) -> Result<StoreCounts, StoreError> {
        // Records waiting in the journal are counted from sled below.
        self.flush_now()?;
        let t = self.read();
        // Turns inline in the records, and those each record counts in the `turns` tree.
        let mut turns = 0u64;
        for item in t.touchpoints.iter() {
            let (_, v) = item?;
            let (tp, segmented) = decode_record(&v)?;
            turns += (tp.turns.len() + segmented) as u64;
        }
        Ok(StoreCounts {
            customers: t.customers.len() as u64,
            identities: t.identities.len() as u64,
            conversations: t.touchpoints.len() as u64,
            turns,
            erased: t.erased_ids.len() as u64,
        })
    }

    /// Remembers a delivery id; false if it was seen before.
    pub fn first_delivery(&self, source: &str, id: &str) -> Result<bool, StoreError> {
        let t = self.read();
        let key = key2(source, id);
        let fresh = t.journal.write(|w| {
            let at = now_ms().to_be_bytes();
            let fresh = t
                .deliveries
                .compare_and_swap(&key, None as Option<&[u8]>, Some(&at[..]))?
                .is_ok();
            if fresh {
                w.wrote(&t.deliveries, &key, Some(&at));
            }
            Ok(fresh)
        })?;
        if fresh {
            self.prune_deliveries(&t)?;
        }
        Ok(fresh)
    }

    /// Forgets the oldest delivery ids when there are too many.
    fn prune_deliveries(&self, t: &Trees) -> Result<(), StoreError> {
        // Counting walks the tree: only every thousandth new id looks.
        let every = self.deliveries_seen.fetch_add(1, Ordering::Relaxed) % 1000 == 999;
        if every && t.deliveries.len() > MAX_DELIVERIES {
            // The oldest ids go: a platform redelivers within minutes, not after thousands of updates.
            let mut by_age: Vec<(u64, sled::IVec)> = t
                .deliveries
                .iter()
                .filter_map(Result::ok)
                .map(|(k, v)| {
                    let at = v
                        .get(..8)
                        .and_then(|b| <[u8; 8]>::try_from(b).ok())
                        .map_or(0, u64::from_be_bytes);
                    (at, k)
                })
                .collect();
            by_age.sort();
            for (_, k) in by_age
                .iter()
                .take(by_age.len().saturating_sub(MAX_DELIVERIES / 2))
            {
                t.journal.remove(&t.deliveries, k)?;
            }
        }
        Ok(())
    }

    pub fn put_link_code(
        &self,
        code: &str,
        customer_id: &str,
        expires: Timestamp,
    ) -> Result<(), StoreError> {
        self.read().put_link_code(code, customer_id, expires)
    }

    /// Uses up a link code (see [`ProfileStore::take_link_code`]): with a turn's guard, put back if
    /// that turn is not committed.
    fn take_link_code_held(
        &self,
        code: &str,
        now: Timestamp,
        held: Option<&mut TurnGuard>,
    ) -> Result<Option<String>, StoreError> {
        let t = self.read();
        let Some(v) = t
            .journal
            .write(|w| w.remove(&t.link_codes, code.as_bytes()))?
        else {
            return Ok(None);
        };
        if let Some(guard) = held {
            let guard = guard.downcast_mut::<SledGuard>()?;
            guard.spent = Some(SpentCode {
                journal: t.journal.clone(),
                link_codes: t.link_codes.clone(),
                erased_ids: t.erased_ids.clone(),
                code: code.as_bytes().into(),
                held: v.clone(),
            });
        }
        let expires = u64::from_be_bytes(v[..8].try_into().unwrap_or([0; 8]));
        Ok((now.0 < expires).then(|| String::from_utf8_lossy(&v[8..]).into_owned()))
    }

    pub fn take_link_code(&self, code: &str, now: Timestamp) -> Result<Option<String>, StoreError> {
        self.take_link_code_held(code, now, None)
    }

    pub fn merge(&self, from: &str, into: &str) -> Result<(), StoreError> {
        self.read().merge(from, into)
    }

    /// Runs alone: no turn of the customer is half-way through a save while her records go.
    pub fn forget(&self, customer_id: &str) -> Result<usize, StoreError> {
        let trees = self
            .trees
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = trees.forget(customer_id)?;
        Self::settle(&trees)?;
        Ok(n)
    }

    pub fn split(
        &self,
        customer_id: &str,
        identity: &Identity,
        now: Timestamp,
    ) -> Result<String, StoreError> {
        self.read().split(customer_id, identity, now)
    }

    pub fn purge_transcripts(&self, before: Timestamp) -> Result<usize, StoreError> {
        let t = self.read();
        let n = t.purge_transcripts(before)?;
        if n > 0 {
            Self::settle(&t)?;
        }
        Ok(n)
    }

    /// A new id for a caller to write a record under (a new conversation's).
    pub fn new_id(&self, prefix: &str) -> Result<String, StoreError> {
        let t = self.read();
        let id = t.new_id(prefix)?;
        let mut handed = t
            .handed_out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if handed.len() >= HANDED_OUT {
            handed.clear(); // ids never written (turns that failed): looked for again
        }
        handed.insert(id.clone());
        Ok(id)
    }

    pub fn durable(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            // Everything this caller wrote is in sled's memory before this number is taken.
            let mine = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
            let _turn = self.flush_lock.lock().await;
            if self.standing_in.load(Ordering::SeqCst) {
                self.healthy.store(false, Ordering::SeqCst);
                return Err(StoreError::Flush(
                    "the store is being reopened after a failed write".into(),
                ));
            }
            if self.flushed.load(Ordering::SeqCst) >= mine {
                return Ok(()); // a flush that started after our writes has finished while we queued
            }
            // The group is gathered before it is synced: the turns already under way get to write
            // first, and the one sync covers them too.
            for _ in 0..GATHER_YIELDS {
                tokio::task::yield_now().await;
            }
            let covers = self.requested.load(Ordering::SeqCst);
            let (journal, writes) = {
                let t = self.read();
                (t.journal.clone(), t.writes()) // taken before the sync, which covers them
            };
            let sync = self.sync_data.load(Ordering::SeqCst);
            // `ACKED` is not written here but by the checkpoints, off the turns' way: its own
            // `fdatasync`s and the directory's, once a second here, held up every turn of the group.
            let flushed = tokio::task::spawn_blocking(move || {
                sched::prompt_wakeups();
                journal.sync(WRITES, writes, sync)
            })
            .await
            .map_err(|e| StoreError::Flush(e.to_string()))
            .and_then(|r| r);
            self.healthy.store(flushed.is_ok(), Ordering::SeqCst);
            flushed?;
            self.flushed.fetch_max(covers, Ordering::SeqCst);
            drop(_turn);
            self.checkpoint_if_due();
            // Memory stays bounded when the checkpoints fall behind: the turn waits (a second at most,
            // in case they keep failing) for the writes waiting to come down.
            let started = std::time::Instant::now();
            while self.read().journal.overloaded() && started.elapsed() < OVERLOAD_WAIT {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                self.checkpoint_if_due();
            }
            Ok(())
        })
    }

    /// Starts a checkpoint of the journal in the background when one is due (and none is under way).
    fn checkpoint_if_due(&self) {
        let t = self.read();
        if !t.journal.checkpoint_due() || self.checkpointing.swap(true, Ordering::SeqCst) {
            return;
        }
        let (journal, dir, synced, writes) = (
            t.journal.clone(),
            t.dir.clone(),
            t.synced_blobs.clone(),
            t.writes(),
        );
        let running = self.checkpointing.clone();
        // Its own thread, at the lowest priority: the turns under way keep the core (the checkpoint's
        // writes to sled take tens of milliseconds of CPU).
        let spawned = std::thread::Builder::new()
            .name("parcours-checkpoint".into())
            .spawn(move || {
                sched::lower_priority();
                let cpu = sched::thread_cpu();
                let done = journal.checkpoint(WRITES, writes, true, || {
                    synced_and_acked(&dir, &synced, writes)
                });
                match done {
                    Ok(applied) => tracing::debug!(
                        target: "parcours::checkpoint",
                        applied,
                        cpu_ms = sched::thread_cpu().saturating_sub(cpu).as_secs_f64() * 1e3,
                        "a checkpoint of the journal"
                    ),
                    Err(e) => tracing::error!(
                        error = %e,
                        "a checkpoint of the journal failed (tried again later)"
                    ),
                }
                running.store(false, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "no thread for a checkpoint of the journal (tried again later)");
            self.checkpointing.store(false, Ordering::SeqCst);
        }
    }

    /// Makes every write so far durable in sled itself and empties the journal: for an erasure or a
    /// purge, whose erased text the journal's files must not keep. The caller holds the store (alone,
    /// or shared when no turn could write the text again).
    fn settle(t: &Trees) -> Result<(), StoreError> {
        let writes = t.writes();
        t.journal.sync(WRITES, writes, true)?;
        // No file is recycled: none keeps what was erased.
        t.journal
            .checkpoint(WRITES, writes, false, || {
                synced_and_acked(&t.dir, &t.synced_blobs, writes)
            })
            .map(drop)
    }

    pub fn needs_compaction(&self) -> bool {
        self.erased_something()
    }

    /// Writes the live data into the next generation, syncs it, switches `CURRENT` to it (one atomic
    /// rename), and only then deletes the old generation, with whatever erased records its log still
    /// held. Every other call waits meanwhile, so nothing written during the copy is lost.
    pub fn compact(&self) -> Result<(), StoreError> {
        let mut trees = self
            .trees
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The records waiting in the journal go to sled, and the count of writes with the data into the
        // next generation.
        trees.journal.close();
        trees.journal.settle_overlay()?;
        let writes = trees.writes();
        trees.db.insert(WRITES, &writes.to_be_bytes())?;
        trees.db.flush()?;
        let next = trees.generation + 1;
        let dir = self.root.join(gen_name(next));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        }
        let db = open_sled(&dir, self.cache_bytes)?;
        db.import(trees.db.export());
        db.remove(COMPACTION_DUE)?;
        db.flush()?;
        write_acked(&dir, writes).map_err(|e| io_error(&dir, e))?;
        sync_tree(&dir)?;
        fault("before-switch");
        write_current(&self.root, next)?;
        fault("after-switch");
        let old = std::mem::replace(&mut *trees, Trees::new(db, dir, next)?);
        let (old_dir, old_generation) = (old.dir.clone(), old.generation);
        drop(old);
        if old_generation == 0 {
            remove_legacy_files(&old_dir)?;
        } else {
            std::fs::remove_dir_all(&old_dir).map_err(|e| io_error(&old_dir, e))?;
        }
        sync_dir(&self.root)?;
        Ok(())
    }

    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    /// sled refuses every call once a write has failed (a full disk): the generation is closed and
    /// opened again, which replays its log up to the last write that reached the disk, and a probe
    /// write must go through before the store is healthy again. Turns lost meanwhile were never
    /// acknowledged.
    pub fn recover(&self) -> Result<(), StoreError> {
        let mut trees = self
            .trees
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A checkpoint under way finishes first; none starts on this generation again.
        trees.journal.close();
        let generation = trees.generation;
        let dir = if generation == 0 {
            self.root.clone()
        } else {
            self.root.join(gen_name(generation))
        };
        // A stand-in while the generation is closed: sled's lock is released only once its last
        // handle is gone.
        let spare = std::env::temp_dir().join(format!(
            "parcours-recover-{}-{}",
            std::process::id(),
            self.requested.load(Ordering::SeqCst)
        ));
        if !self.standing_in.load(Ordering::SeqCst) {
            let stand_in = sled::Config::new().temporary(true).path(&spare).open()?;
            stand_in.flush()?;
            self.standing_in.store(true, Ordering::SeqCst);
            drop(std::mem::replace(
                &mut *trees,
                Trees::new(stand_in, spare, generation)?,
            ));
        }
        // Still failing (the disk still full): the stand-in stays, every turn is refused, and the
        // next attempt tries again.
        let db = open_sled(&dir, self.cache_bytes)?;
        let probe = db.insert(b"health_probe", &Timestamp::now().0.to_be_bytes());
        let reopened = Trees::new(db, dir, generation)?;
        reopened.recovery_loss()?;
        *trees = reopened;
        self.standing_in.store(false, Ordering::SeqCst);
        probe?;
        trees.db.flush()?;
        trees
            .log
            .sync_data()
            .map_err(|e| StoreError::Flush(e.to_string()))?;
        // sled and the journal write into room they took ahead: their probes go through on a disk
        // still full. A file of its own must find new blocks before the store says it can write.
        probe_space(&trees.dir)?;
        self.healthy.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Checkpoints the journal: everything written so far is durable in sled, the journal is empty.
    pub fn flush_now(&self) -> Result<(), StoreError> {
        let t = self.read();
        let writes = t.writes();
        t.journal
            .checkpoint(WRITES, writes, true, || {
                synced_and_acked(&t.dir, &t.synced_blobs, writes)
            })
            .map(drop)
    }
}

/// A store let go of (a shutdown, the end of a command) checkpoints: what it holds is in sled, the
/// journal empty, as sled alone left it before the journal.
impl Drop for SledStore {
    fn drop(&mut self) {
        if self.standing_in.load(Ordering::SeqCst) {
            return;
        }
        if let Err(e) = self.flush_now() {
            tracing::warn!(error = %e, "the store's last checkpoint failed: its journal is replayed at the next start");
        }
    }
}

impl ProfileStore for SledStore {
    fn begin_turn<'a>(
        &'a self,
        identity: &'a Identity,
        also: Option<&'a Identity>,
        delivery: Option<&'a Delivery>,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(TurnGuard, TurnLoad), StoreError>> {
        Box::pin(async move {
            let guard = self.lock(identity.channel, &identity.id).await?;
            let load = self.load_turn(identity, also, delivery, now)?;
            Ok((guard, load))
        })
    }

    fn lock<'a>(
        &'a self,
        channel: Channel,
        user: &'a str,
    ) -> BoxFuture<'a, Result<TurnGuard, StoreError>> {
        Box::pin(async move {
            let key = sender_key(channel, user);
            let lock = self.sender(&key).lock_owned().await;
            Ok(TurnGuard::new(SledGuard {
                key,
                _lock: lock,
                spent: None,
            }))
        })
    }

    fn commit(
        &self,
        guard: TurnGuard,
        changes: TurnCommit,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut guard = guard.downcast::<SledGuard>()?;
            self.write_turn(changes)?;
            // Written (durable or not, what sled holds is what later turns read): a code it used up
            // stays spent.
            guard.spent = None;
            SledStore::durable(self).await?;
            drop(guard);
            Ok(())
        })
    }

    fn resolve<'a>(
        &'a self,
        identity: &'a Identity,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Customer, StoreError>> {
        Box::pin(async move { SledStore::resolve(self, identity, now) })
    }

    fn customer_of<'a>(
        &'a self,
        identity: &'a Identity,
    ) -> BoxFuture<'a, Result<Option<Customer>, StoreError>> {
        Box::pin(async move { SledStore::customer_of(self, identity) })
    }

    fn customer<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Customer>, StoreError>> {
        Box::pin(async move { SledStore::customer(self, id) })
    }

    fn put_customer<'a>(&'a self, customer: &'a Customer) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { SledStore::put_customer(self, customer) })
    }

    fn link<'a>(
        &'a self,
        identity: &'a Identity,
        customer_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { SledStore::link(self, identity, customer_id) })
    }

    fn identities<'a>(
        &'a self,
        customer_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Identity>, StoreError>> {
        Box::pin(async move { SledStore::identities(self, customer_id) })
    }

    fn open_touchpoint<'a>(
        &'a self,
        channel: Channel,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Option<Touchpoint>, StoreError>> {
        Box::pin(async move { SledStore::open_touchpoint(self, channel, user) })
    }

    fn recent_contacts<'a>(
        &'a self,
        customer_id: &'a str,
    ) -> BoxFuture<'a, Result<Contacts, StoreError>> {
        Box::pin(
            async move { SledStore::recent_contacts(self, customer_id, super::RECENT_CONTACTS) },
        )
    }

    fn open_conversations(&self) -> BoxFuture<'_, Result<Vec<OpenConversation>, StoreError>> {
        Box::pin(async move { SledStore::open_conversations(self) })
    }

    fn handoff_touchpoints(&self) -> BoxFuture<'_, Result<Vec<Touchpoint>, StoreError>> {
        Box::pin(async move { SledStore::handoff_touchpoints(self) })
    }

    fn touchpoint<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Touchpoint>, StoreError>> {
        Box::pin(async move { SledStore::touchpoint(self, id) })
    }

    fn touchpoints_between<'a>(
        &'a self,
        since: Timestamp,
        until: Timestamp,
        limit: usize,
        cursor: Option<&'a str>,
        filter: &'a ConversationFilter,
        newest_first: bool,
    ) -> BoxFuture<'a, Result<Page, StoreError>> {
        Box::pin(async move {
            SledStore::touchpoints_between(self, since, until, limit, cursor, filter, newest_first)
        })
    }

    fn touchpoints_of<'a>(
        &'a self,
        customer_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Touchpoint>, StoreError>> {
        Box::pin(async move { SledStore::touchpoints_of(self, customer_id) })
    }

    fn put_link_code<'a>(
        &'a self,
        code: &'a str,
        customer_id: &'a str,
        expires: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { SledStore::put_link_code(self, code, customer_id, expires) })
    }

    fn take_link_code<'a>(
        &'a self,
        code: &'a str,
        now: Timestamp,
        held: Option<&'a mut TurnGuard>,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        Box::pin(async move { self.take_link_code_held(code, now, held) })
    }

    fn merge<'a>(
        &'a self,
        from: &'a str,
        into: &'a str,
        held: Option<&'a mut TurnGuard>,
    ) -> BoxFuture<'a, Result<Option<Customer>, StoreError>> {
        Box::pin(async move {
            let held = held.map(|g| g.downcast_mut::<SledGuard>()).transpose()?;
            let key = held.as_ref().map(|g| g.key.clone());
            let _locks = self.lock_senders_of(&[from, into], key.as_deref()).await?;
            SledStore::merge(self, from, into)?;
            if let Some(guard) = held {
                // Done at once on sled, never undone: a link code the turn used for it stays spent.
                guard.spent = None;
            }
            SledStore::customer(self, into)
        })
    }

    fn forget<'a>(&'a self, customer_id: &'a str) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(async move { SledStore::forget(self, customer_id) })
    }

    fn split<'a>(
        &'a self,
        customer_id: &'a str,
        identity: &'a Identity,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<String, StoreError>> {
        Box::pin(async move {
            let _lock = self
                .lock_within(&sender_key(identity.channel, &identity.id))
                .await?;
            SledStore::split(self, customer_id, identity, now)
        })
    }

    fn purge_transcripts(&self, before: Timestamp) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(async move { SledStore::purge_transcripts(self, before) })
    }

    fn new_id<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<String, StoreError>> {
        Box::pin(async move { SledStore::new_id(self, prefix) })
    }

    fn first_delivery<'a>(
        &'a self,
        source: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { SledStore::first_delivery(self, source, id) })
    }

    fn durable(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        SledStore::durable(self)
    }

    fn needs_compaction(&self) -> bool {
        SledStore::needs_compaction(self)
    }

    fn compact(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { SledStore::compact(self) })
    }

    fn flush_now(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { SledStore::flush_now(self) })
    }

    fn healthy(&self) -> bool {
        SledStore::healthy(self)
    }

    fn recover(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { SledStore::recover(self) })
    }

    fn customers_page<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Customer>, StoreError>> {
        Box::pin(async move { SledStore::customers_page(self, after, limit) })
    }

    fn erased_ids(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(async move { SledStore::erased_ids(self) })
    }

    fn import<'a>(&'a self, batch: &'a ImportBatch) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            SledStore::import(self, batch)?;
            SledStore::durable(self).await
        })
    }

    fn counts(&self) -> BoxFuture<'_, Result<StoreCounts, StoreError>> {
        Box::pin(async move { SledStore::counts(self) })
    }

    fn kind(&self) -> &'static str {
        "sled"
    }
}

/// `1732356000000.tp_1f` → (time, id).
pub fn parse_cursor(cursor: &str) -> Option<(Timestamp, String)> {
    let (at, id) = cursor.split_once('.')?;
    Some((Timestamp(at.parse().ok()?), id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Owner, Speaker};

    fn turn(at: u64, text: &str) -> Turn {
        Turn::said(Timestamp(at), Speaker::Customer, text.into())
    }

    fn conversation(id: &str, texts: &[&str]) -> Touchpoint {
        Touchpoint {
            turns: texts
                .iter()
                .enumerate()
                .map(|(i, t)| turn(i as u64, t))
                .collect(),
            ..Touchpoint::new(
                id.into(),
                "cus_1".into(),
                Channel::Chat,
                "u".into(),
                Timestamp(1),
            )
        }
    }

    #[test]
    fn a_reopen_waits_for_a_lock_still_held_and_gives_up_on_one_never_let_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = open_sled(dir.path(), DEFAULT_CACHE_BYTES).unwrap();
        // sled's own error for a held lock is recognised as one (it is an `Other` with a message).
        let held = sled::Config::new().path(dir.path()).open().map(drop);
        match held {
            Err(sled::Error::Io(e)) => assert!(lock_held(&e), "not seen as a held lock: {e}"),
            other => panic!("the second open should fail on the lock: {other:?}"),
        }
        // Let go of while the reopen is retrying: the reopen succeeds.
        let letting_go = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(first);
        });
        let started = std::time::Instant::now();
        let second = open_sled(dir.path(), DEFAULT_CACHE_BYTES).unwrap();
        letting_go.join().unwrap();
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(250),
            "opened while the first handle still held the lock"
        );
        // Never let go of: an error naming the path, after the retries.
        let err = open_sled(dir.path(), DEFAULT_CACHE_BYTES).unwrap_err();
        assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
        drop(second);
    }

    #[test]
    fn an_id_handed_out_is_new_at_its_first_write_then_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let handed = |store: &SledStore, id: &str| {
            let t = store.read();
            let set = t.handed_out.lock().unwrap();
            set.contains(id)
        };
        let id = store.new_id("tp").unwrap();
        assert!(handed(&store, &id));
        let mut tp = conversation(&id, &["hello"]);
        tp.ended_at = Some(Timestamp(2)); // closed: not kept warm, so each write is on its own
        store.save_touchpoint(&tp).unwrap();
        assert!(!handed(&store, &id), "written: no longer new");
        // Written as new: the time index and the customer's history name it, once.
        let page = store
            .touchpoints_between(
                Timestamp(0),
                Timestamp(10),
                10,
                None,
                &ConversationFilter::default(),
                false,
            )
            .unwrap();
        assert_eq!(page.items.len(), 1);
        // A second write, the id no longer handed out, finds it in the store: one time entry still.
        tp.turns.push(turn(1, "again"));
        store.save_touchpoint(&tp).unwrap();
        let t = store.read();
        let times = t
            .journal
            .range(&t.tp_time, Bound::Unbounded, Bound::Unbounded, false)
            .count();
        assert_eq!(times, 1);
        assert_eq!(held(&store, &id).1, ["hello", "again"]);
        drop(t);
        // Past the bound, the ids remembered are let go of (and looked for at their write).
        for _ in 0..=HANDED_OUT {
            store.new_id("tp").unwrap();
        }
        assert!(store.read().handed_out.lock().unwrap().len() <= HANDED_OUT);
    }

    /// What the `turns` tree holds of a conversation, and the turns inline in its record.
    fn held(store: &SledStore, id: &str) -> (Vec<String>, Vec<String>) {
        let t = store.read();
        let record = t.journal.get(&t.touchpoints, id.as_bytes()).unwrap();
        let (record, segmented) = decode_record(&record.unwrap()).unwrap();
        let tree = t
            .turns_of(id, segmented)
            .unwrap()
            .into_iter()
            .map(|t| t.text)
            .collect();
        (tree, record.turns.into_iter().map(|t| t.text).collect())
    }

    fn texts(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("t{i}")).collect()
    }

    #[test]
    fn a_long_conversation_writes_only_its_latest_turns() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let mut tp = conversation("tp_1", &[]);
        for i in 0..20 {
            tp.turns.push(turn(i, &format!("t{i}")));
            store.save_touchpoint(&tp).unwrap();
            let (tree, inline) = held(&store, "tp_1");
            assert!(inline.len() <= INLINE_TURNS, "{} inline", inline.len());
            assert_eq!([tree, inline].concat(), texts(i as usize + 1));
        }
        // Past 16 inline, the 17 turns moved to a segment; what is there is never written again.
        assert_eq!(held(&store, "tp_1"), (texts(17), texts(20)[17..].to_vec()));
        tp.turns[0].text = "changed in memory".into();
        tp.turns.push(turn(20, "t20"));
        store.save_touchpoint(&tp).unwrap();
        assert_eq!(held(&store, "tp_1").0[0], "t0");
        let read = store.touchpoint("tp_1").unwrap().unwrap();
        assert_eq!(read.turns.len(), 21);
        assert_eq!(read.turns[20].text, "t20");
    }

    #[test]
    fn a_conversation_not_warm_has_its_turns_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let many: Vec<String> = texts(30);
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        {
            let store = SledStore::open(dir.path()).unwrap();
            store.save_touchpoint(&conversation("tp_1", &many)).unwrap();
            store.flush_now().unwrap();
        }
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(held(&store, "tp_1"), (texts(30), vec![]));
        store
            .save_touchpoint(&conversation("tp_1", &["x", "y", "z"]))
            .unwrap();
        assert_eq!(
            held(&store, "tp_1"),
            (vec![], vec!["x".into(), "y".into(), "z".into()])
        );
    }

    #[test]
    fn a_record_with_every_turn_inline_is_read_and_segmented_at_its_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let many: Vec<String> = texts(18);
        let old = conversation("tp_9", &many.iter().map(String::as_str).collect::<Vec<_>>());
        {
            // As a store written before the `turns` tree holds it.
            let t = store.read();
            t.touchpoints
                .insert("tp_9", serde_json::to_vec(&old).unwrap())
                .unwrap();
            t.open.insert(key2("chat", "u"), "tp_9").unwrap();
        }
        let open = store.open_touchpoint(Channel::Chat, "u").unwrap().unwrap();
        assert_eq!(open.turns, old.turns);
        let mut next = open;
        next.turns.push(turn(18, "t18"));
        store.save_touchpoint(&next).unwrap();
        assert_eq!(held(&store, "tp_9"), (texts(19), vec![]));
        let report = store.check().unwrap();
        assert_eq!((report.conversations, report.turns), (1, 19));
        assert!(report.damaged.is_empty(), "{:?}", report.damaged);
        assert_eq!(store.counts().unwrap().turns, 19);
    }

    #[test]
    fn a_write_appends_to_the_inline_turns_it_wrote_and_writes_them_all_when_they_changed() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let all = |store: &SledStore| {
            let (tree, inline) = held(store, "tp_1");
            [tree, inline].concat()
        };
        let mut tp = conversation("tp_1", &["a", "b", "c"]);
        store.save_touchpoint(&tp).unwrap();
        tp.turns.push(turn(3, "d"));
        store.save_touchpoint(&tp).unwrap();
        assert_eq!(all(&store), ["a", "b", "c", "d"]);
        // A turn taken off the end and put back after new ones (a handoff's change of owner), and an
        // earlier inline turn changed: what was written before no longer matches, all of it is written.
        let last = tp.turns.pop().unwrap();
        tp.turns.push(turn(4, "e"));
        tp.turns.push(last);
        tp.turns[1].text = "B".into();
        store.save_touchpoint(&tp).unwrap();
        assert_eq!(all(&store), ["a", "B", "c", "e", "d"]);
        // Read back after a restart, the same.
        drop(store);
        let store = SledStore::open(dir.path()).unwrap();
        let read = store.touchpoint("tp_1").unwrap().unwrap();
        assert_eq!(read.turns, tp.turns);
    }

    #[test]
    fn a_record_with_its_turns_in_its_json_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let old = conversation("tp_8", &["x", "y"]);
        {
            // As the build before split records wrote it: 1, how many turns are segmented, the JSON.
            let mut record = vec![SEGMENTED_RECORD, 0, 0, 0, 0];
            record.extend(serde_json::to_vec(&old).unwrap());
            store.read().touchpoints.insert("tp_8", record).unwrap();
        }
        assert_eq!(store.touchpoint("tp_8").unwrap().unwrap(), old);
        let mut next = old.clone();
        next.turns.push(turn(2, "z"));
        store.save_touchpoint(&next).unwrap();
        let t = store.read();
        let raw = t.journal.get(&t.touchpoints, b"tp_8").unwrap().unwrap();
        assert_eq!(raw[0], SPLIT_RECORD);
        drop(t);
        assert_eq!(store.touchpoint("tp_8").unwrap().unwrap(), next);
    }

    #[test]
    fn the_sweepers_view_of_a_conversation_is_read_from_every_kind_of_record() {
        let mut tp = conversation(
            "tp_7",
            &texts(20).iter().map(String::as_str).collect::<Vec<_>>(),
        );
        tp.last_at = Timestamp(77);
        tp.owner = Owner::Waiting {
            since: Timestamp(70),
            reason: "agent".into(),
            callback: false,
            ticket: false,
            told_position: 1,
            told_at: Timestamp(70),
        };
        let want = OpenConversation::of(&tp);
        assert!(want.human);
        let json = serde_json::to_vec(&tp).unwrap();
        let mut segmented = vec![SEGMENTED_RECORD, 0, 0, 0, 3];
        segmented.extend(&json);
        let inline = serde_json::to_vec(&tp.turns[4..]).unwrap();
        let inline = &inline[1..inline.len() - 1]; // the turns without their brackets, as `Inline` keeps them
        let header = Touchpoint {
            turns: Vec::new(),
            ..tp.clone()
        };
        let split = encode_record(&header, 4, inline).unwrap();
        for record in [json.clone(), segmented, split.clone()] {
            assert_eq!(decode_open(&record).unwrap(), want);
        }
        tp.owner = Owner::Bot;
        let bot = decode_open(&serde_json::to_vec(&tp).unwrap()).unwrap();
        assert!(!bot.human);
        // A record cut short is an error, not a wrong answer.
        assert!(decode_open(&split[..12]).is_err());
    }

    #[test]
    fn the_open_conversations_are_listed_after_a_restart_without_their_turns_being_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let mut open = conversation(
            "tp_1",
            &texts(40).iter().map(String::as_str).collect::<Vec<_>>(),
        );
        open.last_at = Timestamp(50);
        let mut closed = Touchpoint {
            user: "v".into(),
            ..conversation("tp_2", &["a"])
        };
        closed.ended_at = Some(Timestamp(60));
        store.save_touchpoint(&open).unwrap();
        store.save_touchpoint(&closed).unwrap();
        let want = vec![OpenConversation::of(&open)];
        assert_eq!(store.open_conversations().unwrap(), want, "warm");
        drop(store);
        let store = SledStore::open(dir.path()).unwrap();
        // Its turns' segments unreadable: reading them would fail the list, which does not need them.
        for key in store.read().turns.iter().keys() {
            store.read().turns.insert(key.unwrap(), "not JSON").unwrap();
        }
        assert!(store.touchpoint("tp_1").is_err(), "the segments are read");
        assert_eq!(store.open_conversations().unwrap(), want, "from disk");
    }

    #[test]
    fn the_contacts_kept_are_bounded_by_their_number_not_by_the_customers() {
        let contact = |i: usize| Contact {
            id: format!("tp_{i}"),
            channel: Channel::Voice,
            user: "+33600000000".into(),
            started_at: Timestamp(i as u64),
            ended_at: None,
            outcome: None,
            intents: vec!["order_status".into()],
            outbox: false,
        };
        let n = super::super::RECENT_CONTACTS;
        let mut recent = Recent::default();
        let weighed = |r: &Recent| r.map.values().map(|l| l.len().max(1)).sum::<usize>();
        // Every customer with a whole list: fewer of them are kept than customers would allow.
        for c in 0..KEPT_CUSTOMERS {
            let list: Contacts = Arc::new((0..n).map(|i| contact(c * n + i)).collect());
            recent.keep(recent.epoch, &format!("cus_{c}"), list);
            assert!(
                recent.map.contains_key(&format!("cus_{c}")),
                "the one just read is kept"
            );
        }
        assert!(
            recent.total <= KEPT_CONTACTS,
            "{} contacts kept",
            recent.total
        );
        assert!(
            recent.total > KEPT_CONTACTS - n,
            "{} contacts kept",
            recent.total
        );
        assert_eq!(recent.total, weighed(&recent));
        assert!(recent.map.len() < KEPT_CUSTOMERS);
        // Lists that grow as their customers' histories do stay within the bound too.
        let mut recent = Recent::default();
        for c in 0..KEPT_CONTACTS {
            recent.keep(
                recent.epoch,
                &format!("cus_{c}"),
                Arc::new(vec![contact(c)]),
            );
        }
        assert_eq!(recent.total, KEPT_CONTACTS);
        for c in 0..100 {
            let id = format!("cus_{c}");
            if recent.map.contains_key(&id) {
                recent.wrote_contact(&id, &contact(1_000_000 + c));
                assert_eq!(recent.map[&id].len(), 2, "{id}");
            }
            assert!(recent.total <= KEPT_CONTACTS);
            assert_eq!(recent.total, weighed(&recent));
        }
        recent.wrote("cus_0", None);
        assert_eq!(recent.total, weighed(&recent));
        recent.forget_all();
        assert_eq!((recent.total, recent.map.len()), (0, 0));
    }

    #[test]
    fn the_latest_contacts_kept_in_memory_are_what_the_index_says() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let n = super::super::RECENT_CONTACTS;
        let agree = |store: &SledStore, customer: &str| {
            let t = store.read();
            let kept = t.recent_contacts(customer, n).unwrap();
            assert!(t.recent().map.contains_key(customer), "kept for {customer}");
            assert_eq!(*kept, t.read_contacts(customer, n).unwrap(), "{customer}");
            kept
        };
        let at = |i: u64| Touchpoint {
            started_at: Timestamp(1_000 + i),
            user: format!("u{i}"),
            ..conversation(&format!("tp_{i:02}"), &["hi"])
        };
        store.save_touchpoint(&at(5)).unwrap();
        assert_eq!(agree(&store, "cus_1").len(), 1);
        // New conversations, older and newer than those kept, past the number kept.
        for i in [7, 1, 9, 3, 12, 0, 11, 2, 8, 4, 10, 6] {
            store.save_touchpoint(&at(i)).unwrap();
            agree(&store, "cus_1");
        }
        let kept = agree(&store, "cus_1");
        assert_eq!(kept.len(), n);
        assert_eq!(kept[0].id, "tp_12");
        // One kept changes (a topic, an end), and one too old to be kept.
        let mut changed = at(10);
        changed.intents.push("order_status".into());
        changed.ended_at = Some(Timestamp(5_000));
        store.save_touchpoint(&changed).unwrap();
        let mut old = at(0);
        old.intents.push("greeting".into());
        store.save_touchpoint(&old).unwrap();
        assert_eq!(agree(&store, "cus_1")[2].intents, ["order_status"]);
        // A merge moves them all to another customer.
        let c2 = Customer {
            id: "cus_2".into(),
            ..Customer::default()
        };
        store.put_customer(&c2).unwrap();
        agree(&store, "cus_2");
        store.merge("cus_1", "cus_2").unwrap();
        assert!(agree(&store, "cus_1").is_empty());
        assert_eq!(agree(&store, "cus_2").len(), n);
    }

    #[test]
    fn a_customer_kept_in_memory_is_what_the_store_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let mut alice = Customer {
            id: "cus_1".into(),
            name: Some("Alice".into()),
            ..Customer::default()
        };
        store.put_customer(&alice).unwrap();
        store
            .put_customer(&Customer {
                id: "cus_2".into(),
                ..Customer::default()
            })
            .unwrap();
        assert_eq!(store.customer("cus_1").unwrap().unwrap(), alice);
        assert!(store.read().kept_customers().map.contains_key("cus_1"));
        alice.email = Some("alice@example.com".into());
        store.put_customer(&alice).unwrap();
        assert_eq!(store.customer("cus_1").unwrap().unwrap(), alice);
        // A read that raced a write is not kept.
        {
            let t = store.read();
            let epoch = t.kept_customers().epoch;
            t.kept_customers().wrote("cus_9", None);
            t.kept_customers()
                .keep(epoch, "cus_9", Arc::new(Customer::default()));
            assert!(!t.kept_customers().map.contains_key("cus_9"));
        }
        // Merged away, then erased: gone from memory as from the store.
        store.customer("cus_2").unwrap();
        store.merge("cus_2", "cus_1").unwrap();
        assert_eq!(store.customer("cus_2").unwrap(), None);
        store.forget("cus_1").unwrap();
        assert_eq!(store.customer("cus_1").unwrap(), None);
    }

    /// A turn shares the customer kept instead of copying it; a write puts a new value in its place,
    /// which the next turn gets, the one before keeping what it read.
    #[test]
    fn turns_share_the_customer_kept_until_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let who = Identity {
            channel: Channel::Voice,
            id: "+15550001".into(),
        };
        let load = |store: &SledStore| store.load_turn(&who, None, None, Timestamp(1)).unwrap();
        let first = load(&store);
        assert!(first.created);
        let (a, b) = (load(&store).customer, load(&store).customer);
        assert!(Arc::ptr_eq(&a, &b), "two turns got copies of the customer");
        let mut changed = Customer::clone(&a);
        changed.name = Some("Zoé".into());
        store
            .write_turn(TurnCommit {
                customer: Some(changed.clone()),
                ..TurnCommit::default()
            })
            .unwrap();
        let c = load(&store).customer;
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(*c, changed);
        assert_eq!(a.name, None, "what a turn read is not changed under it");
    }

    #[test]
    fn an_identity_kept_in_memory_names_the_customer_the_tree_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let phone = Identity {
            channel: Channel::Voice,
            id: "+33600000000".into(),
        };
        let chat = Identity {
            channel: Channel::Telegram,
            id: "42".into(),
        };
        let now = Timestamp(1_000);
        let first = store.resolve(&phone, now).unwrap();
        let second = store.resolve(&chat, now).unwrap();
        let name =
            |i: &Identity| String::from_utf8_lossy(&key2(i.channel.as_str(), &i.id)).into_owned();
        let of = |i: &Identity| store.customer_of(i).unwrap().map(|c| c.id);
        let tree = |i: &Identity| {
            let t = store.read();
            t.identities
                .get(key2(i.channel.as_str(), &i.id))
                .unwrap()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
        };
        assert_eq!(of(&phone), Some(first.id.clone()));
        assert!(
            store
                .read()
                .kept_identities()
                .map
                .contains_key(&name(&phone))
        );
        // Linked to the other customer (as a merge does): memory follows the tree.
        store.link(&phone, &second.id).unwrap();
        assert_eq!(of(&phone), Some(second.id.clone()));
        assert_eq!(of(&phone), tree(&phone));
        store.merge(&first.id, &second.id).unwrap();
        assert_eq!(of(&chat), Some(second.id.clone()));
        // Erased: neither the tree nor memory names anyone.
        store.forget(&second.id).unwrap();
        assert_eq!(tree(&phone), None);
        assert_eq!(of(&phone), None);
        assert_eq!(of(&chat), None);
        assert!(
            !store
                .read()
                .kept_identities()
                .map
                .contains_key(&name(&phone))
        );
    }

    #[test]
    fn a_segment_its_record_does_not_count_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let many = texts(20);
        let tp = conversation("tp_1", &many.iter().map(String::as_str).collect::<Vec<_>>());
        store.save_touchpoint(&tp).unwrap();
        {
            // As a crash between a segment's write and its record's leaves it.
            let t = store.read();
            let stray = vec![turn(99, "never acknowledged")];
            t.turns
                .insert(
                    Trees::turn_key("tp_1", 20),
                    serde_json::to_vec(&stray).unwrap(),
                )
                .unwrap();
        }
        let read = store.touchpoint("tp_1").unwrap().unwrap();
        assert_eq!(
            read.turns
                .iter()
                .map(|t| t.text.clone())
                .collect::<Vec<_>>(),
            many
        );
        assert!(store.check().unwrap().damaged.is_empty());
        assert_eq!(store.counts().unwrap().turns, 20);
        // A whole rewrite (not warm: a reopened store) leaves no segment it does not count.
        drop(store);
        let store = SledStore::open(dir.path()).unwrap();
        store
            .save_touchpoint(&conversation("tp_1", &["x"]))
            .unwrap();
        assert_eq!(held(&store, "tp_1"), (vec![], vec!["x".into()]));
        assert_eq!(store.read().turns.len(), 0);
    }

    /// The merge a code made is not undone on sled: the code stays spent even if the turn is dropped.
    #[tokio::test]
    async fn a_code_that_merged_stays_spent_when_its_turn_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let (a, b) = (
            Identity {
                channel: Channel::Chat,
                id: "a".into(),
            },
            Identity {
                channel: Channel::Telegram,
                id: "b".into(),
            },
        );
        let owner = store.resolve(&a, Timestamp(1)).unwrap();
        let newcomer = store.resolve(&b, Timestamp(2)).unwrap();
        store
            .put_link_code("555555", &owner.id, Timestamp(u64::MAX / 2))
            .unwrap();
        let (mut guard, _) = store
            .begin_turn(&b, None, None, Timestamp(10))
            .await
            .unwrap();
        let taken = ProfileStore::take_link_code(&store, "555555", Timestamp(10), Some(&mut guard))
            .await
            .unwrap();
        assert_eq!(taken.as_deref(), Some(owner.id.as_str()));
        ProfileStore::merge(&store, &newcomer.id, &owner.id, Some(&mut guard))
            .await
            .unwrap();
        drop(guard);
        assert_eq!(store.take_link_code("555555", Timestamp(11)).unwrap(), None);
        assert_eq!(store.customer_of(&b).unwrap().unwrap().id, owner.id);
    }

    /// Every file of `from` copied into `to`, as a power cut would leave them: what sled wrote on its own
    /// and the journal as last synced.
    fn copy_files(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_files(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }

    #[tokio::test]
    async fn turns_ready_while_a_group_gathers_are_made_durable_by_its_one_sync() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStore::open(dir.path()).unwrap());
        let frames = || store.read().journal.frames();
        let before = frames();
        // Eight turns under way at once on the test's one thread: each writes, lets the next one
        // start, then asks for durability.
        let mut turns = tokio::task::JoinSet::new();
        for i in 0..8 {
            let store = store.clone();
            turns.spawn(async move {
                let tp = conversation(&format!("tp_{i}"), &["where is my order"]);
                store.save_touchpoint(&tp).unwrap();
                tokio::task::yield_now().await;
                store.durable().await.unwrap();
            });
        }
        while let Some(done) = turns.join_next().await {
            done.unwrap();
        }
        // Without the gathering, the first would be synced alone (its writes and those already made),
        // and the seven others by a second sync.
        assert_eq!(frames() - before, 1, "one sync for the eight");
        // A turn alone is synced on its own.
        store
            .save_touchpoint(&conversation("tp_9", &["hello"]))
            .unwrap();
        store.durable().await.unwrap();
        assert_eq!(frames() - before, 2);
    }

    /// Acknowledged writes are in the journal, not yet in sled: a copy of the files taken then (no
    /// checkpoint, no flush of sled) opens with all of them, the conversation's indexes included.
    #[tokio::test]
    async fn what_durable_acknowledged_survives_a_crash_before_any_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let who = Identity {
            channel: Channel::Chat,
            id: "u".into(),
        };
        let customer = store.resolve(&who, Timestamp(1)).unwrap();
        let mut tp = Touchpoint {
            customer_id: customer.id.clone(),
            ..conversation("tp_1", &["where is my order", "it is on its way"])
        };
        store.save_touchpoint(&tp).unwrap();
        store.durable().await.unwrap();
        tp.turns.push(turn(2, "thanks"));
        tp.intents.push("order_status".into());
        store.save_touchpoint(&tp).unwrap();
        store.durable().await.unwrap();
        assert!(
            store.read().touchpoints.get("tp_1").unwrap().is_none(),
            "the record waits for a checkpoint"
        );
        let copy = tempfile::tempdir().unwrap();
        copy_files(dir.path(), copy.path());
        let reopened = SledStore::open(copy.path()).unwrap();
        assert_eq!(reopened.customer_of(&who).unwrap().unwrap().id, customer.id);
        assert_eq!(reopened.touchpoint("tp_1").unwrap().unwrap(), tp);
        assert_eq!(
            reopened
                .open_touchpoint(Channel::Chat, "u")
                .unwrap()
                .unwrap()
                .id,
            "tp_1"
        );
        let contacts = reopened.recent_contacts(&customer.id, 9).unwrap();
        assert_eq!(contacts.len(), 1);
        assert_eq!(contacts[0].intents, ["order_status"]);
        assert_eq!(reopened.recovery_loss(), None);
        let report = reopened.check().unwrap();
        assert!(report.damaged.is_empty(), "{:?}", report.damaged);
    }

    /// A customer's record waits in the journal's memory for the next checkpoint, as a conversation's
    /// does: a read by id, a page of customers and a replay after a crash all find the latest write.
    #[tokio::test]
    async fn a_customer_written_waits_for_the_checkpoint_and_is_found_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let customer = |id: &str, name: &str| Customer {
            id: id.into(),
            name: Some(name.into()),
            ..Customer::default()
        };
        let name_in_sled = |store: &SledStore, id: &str| {
            let record = store.read().customers.get(id).unwrap()?;
            serde_json::from_slice::<Customer>(&record).unwrap().name
        };
        store.put_customer(&customer("cus_2", "in sled")).unwrap();
        store.flush_now().unwrap();
        store.put_customer(&customer("cus_1", "waiting")).unwrap();
        store.put_customer(&customer("cus_3", "waiting")).unwrap();
        store.put_customer(&customer("cus_2", "changed")).unwrap();
        store.durable().await.unwrap();
        assert_eq!(
            name_in_sled(&store, "cus_1"),
            None,
            "it waits for a checkpoint"
        );
        assert_eq!(name_in_sled(&store, "cus_2").as_deref(), Some("in sled"));
        // Read again from the store, not from the customers kept in memory.
        store.read().kept_customers().forget_all();
        let name = |c: Option<Customer>| c.and_then(|c| c.name);
        assert_eq!(
            name(store.customer("cus_2").unwrap()).as_deref(),
            Some("changed")
        );
        let page = |after, limit| -> Vec<(String, Option<String>)> {
            SledStore::customers_page(&store, after, limit)
                .unwrap()
                .into_iter()
                .map(|c| (c.id, c.name))
                .collect()
        };
        let pair = |id: &str, name: &str| (id.to_string(), Some(name.to_string()));
        assert_eq!(
            page(None, 10),
            [
                pair("cus_1", "waiting"),
                pair("cus_2", "changed"),
                pair("cus_3", "waiting")
            ]
        );
        assert_eq!(page(Some("cus_1"), 1), [pair("cus_2", "changed")]);
        let copy = tempfile::tempdir().unwrap();
        copy_files(dir.path(), copy.path());
        let reopened = SledStore::open(copy.path()).unwrap();
        assert_eq!(
            name(reopened.customer("cus_1").unwrap()).as_deref(),
            Some("waiting")
        );
        assert_eq!(
            name(reopened.customer("cus_2").unwrap()).as_deref(),
            Some("changed")
        );
        store.flush_now().unwrap();
        assert_eq!(name_in_sled(&store, "cus_2").as_deref(), Some("changed"));
    }

    /// `ACKED` is written by the checkpoints, with the count they made durable in sled, and not by
    /// a turn's own sync (whose group of turns its `fdatasync`s would hold up).
    #[tokio::test]
    async fn acked_is_written_by_a_checkpoint_not_by_a_turns_sync() {
        let dir = tempfile::tempdir().unwrap();
        let opened = std::time::Instant::now();
        let store = SledStore::open(dir.path()).unwrap();
        let gen_dir = store.read().dir.clone();
        let customer = store
            .resolve(
                &Identity {
                    channel: Channel::Chat,
                    id: "u".into(),
                },
                Timestamp(1),
            )
            .unwrap();
        for n in 1..=3 {
            let tp = Touchpoint {
                customer_id: customer.id.clone(),
                ..conversation(&format!("tp_{n}"), &["where is my order"])
            };
            store.save_touchpoint(&tp).unwrap();
            store.durable().await.unwrap();
        }
        // No checkpoint is due before 2 s (unless this machine is that slow): nothing wrote it.
        if opened.elapsed() < std::time::Duration::from_millis(1500) {
            assert_eq!(read_acked(&gen_dir).unwrap_or(0), 0, "a sync wrote ACKED");
        }
        store.flush_now().unwrap();
        assert_eq!(read_acked(&gen_dir), Some(store.read().writes()));
        assert_eq!(read_acked(&gen_dir), Some(3));
    }

    /// The old layout's files, once a compaction replaced them: sled's, the snapshots and the
    /// journal's (the spare too, which holds other customers' turns) go; anything else stays.
    #[test]
    fn the_files_of_a_store_written_before_generations_go_with_its_journal() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "conf",
            "db",
            ACKED,
            "snap.0000001",
            "journal-00000000000000000003",
            "journal-spare",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        remove_legacy_files(dir.path()).unwrap();
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["notes.txt"]);
    }

    /// What an erasure took away is in no file of the journal afterwards.
    #[tokio::test]
    async fn an_erasure_leaves_nothing_of_the_customer_in_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let journal_bytes = |store: &SledStore| -> Vec<u8> {
            let mut all = Vec::new();
            for entry in std::fs::read_dir(store.generation_dir()).unwrap() {
                let entry = entry.unwrap();
                if entry.file_name().to_string_lossy().starts_with("journal-") {
                    all.extend(std::fs::read(entry.path()).unwrap());
                }
            }
            all
        };
        let secret = b"my card is lost, my address is 12 Secret Lane";
        let tp = conversation("tp_1", &[std::str::from_utf8(secret).unwrap()]);
        store.save_touchpoint(&tp).unwrap();
        store.durable().await.unwrap();
        let contains = |hay: &[u8]| hay.windows(secret.len()).any(|w| w == secret);
        assert!(
            contains(&journal_bytes(&store)),
            "the journal holds the turn"
        );
        // A checkpoint keeps the file that holds it as the spare, to be written over later.
        store.flush_now().unwrap();
        assert!(store.generation_dir().join("journal-spare").exists());
        assert!(contains(&journal_bytes(&store)), "the spare holds the turn");
        store.forget("cus_1").unwrap();
        assert!(!store.generation_dir().join("journal-spare").exists());
        assert!(!contains(&journal_bytes(&store)));
        // Nor does the next sync write it again.
        store.durable().await.unwrap();
        assert!(!contains(&journal_bytes(&store)));
        let erased = store.touchpoint("tp_1").unwrap().unwrap();
        assert_eq!(erased.customer_id, ERASED);
        assert!(erased.turns.iter().all(|t| t.text.is_empty()));
    }
}
