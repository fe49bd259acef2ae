//! The embedded store on sled.
//!
//! Layout, one sled tree each: `customers` (id → JSON), `identities` (`channel\0id` → customer id),
//! `customer_identities` (`customer\0channel\0id`, to list them), `touchpoints` (id → JSON), `tp_time`
//! (start time big-endian ++ id: the time index, so "conversations since X" is a range scan), `tp_customer`
//! (`customer\0` ++ start ++ id) and `open` (`channel\0user` → the open conversation).
//!
//! Durability: writes go to sled's log in memory; [`ProfileStore::durable`] resolves once they are flushed
//! to disk. One flush runs at a time, and a caller who queued behind it is served by the next flush, which
//! covers every caller waiting by then (group commit): concurrent conversations share flushes instead of
//! each paying for their own.

use super::{BoxFuture, Customer, Identity, Page, ProfileStore, StoreError, Touchpoint};
use crate::message::Channel;
use crate::time::Timestamp;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The customer id of an erased customer's anonymous conversations.
pub const ERASED: &str = "erased";

/// Key, in sled's default tree, of the next number [`ProfileStore::new_id`] hands out. Kept as data (not
/// sled's own id generator, which a compaction's export and import would start again from zero), so that
/// an id is never given twice, whatever restarts and compactions happen.
const NEXT_ID: &[u8] = b"next_id";

/// How many times (50 ms apart) to retry a database whose lock is still held.
const LOCK_RETRIES: u32 = 40;

/// The sled-backed [`ProfileStore`].
pub struct SledStore {
    db: sled::Db,
    /// The data directory (for compaction).
    path: std::path::PathBuf,
    customers: sled::Tree,
    identities: sled::Tree,
    customer_identities: sled::Tree,
    touchpoints: sled::Tree,
    tp_time: sled::Tree,
    tp_customer: sled::Tree,
    open: sled::Tree,
    /// One-time link codes: code → expiry (8 bytes, big-endian) ++ customer id.
    link_codes: sled::Tree,
    /// Group commit: one flush at a time; callers queue on this lock.
    flush_lock: tokio::sync::Mutex<()>,
    /// Numbers the calls to `durable()`; a call is covered by any flush that started after it.
    requested: AtomicU64,
    /// The highest request number a completed flush covers.
    flushed: AtomicU64,
    /// A customer was erased since opening.
    erased: std::sync::atomic::AtomicBool,
}

fn key2(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + b.len() + 1);
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

fn time_key(prefix: &[u8], at: Timestamp, id: &str) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(&at.0.to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

impl SledStore {
    /// Opens (or creates) the store in `dir`.
    #[tracing::instrument]
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        // No periodic background flush: durability comes from `durable()` after each turn.
        let config = sled::Config::new().path(dir).flush_every_ms(None);
        // sled releases its file lock asynchronously after a close, so a quick reopen (a restart, a test)
        // may find it still held for a moment: retry briefly before giving up.
        let mut attempts = 0;
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock && attempts < LOCK_RETRIES =>
                {
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
        };
        let tree = |name: &str| db.open_tree(name);
        let store = SledStore {
            customers: tree("customers")?,
            identities: tree("identities")?,
            customer_identities: tree("customer_identities")?,
            touchpoints: tree("touchpoints")?,
            tp_time: tree("tp_time")?,
            tp_customer: tree("tp_customer")?,
            open: tree("open")?,
            link_codes: tree("link_codes")?,
            flush_lock: tokio::sync::Mutex::new(()),
            requested: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
            erased: std::sync::atomic::AtomicBool::new(false),
            path: dir.to_path_buf(),
            db,
        };
        store.seed_ids()?;
        Ok(store)
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
        self.db.insert(NEXT_ID, &next.to_be_bytes())?;
        Ok(())
    }

    /// Whether a customer was erased since the store was opened (then [`SledStore::compact`] is due).
    pub fn erased_something(&self) -> bool {
        self.erased.load(Ordering::SeqCst)
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
        let range = self.tp_time.range(start..end);
        let keys: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = if newest_first
        {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
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

    fn get_json<T: serde::de::DeserializeOwned>(
        tree: &sled::Tree,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match tree.get(key)? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }
}

impl ProfileStore for SledStore {
    #[tracing::instrument(skip(self, identity), fields(channel = %identity.channel))]
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
        match self
            .identities
            .get(key2(identity.channel.as_str(), &identity.id))?
        {
            Some(id) => self.customer(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    fn customer(&self, id: &str) -> Result<Option<Customer>, StoreError> {
        Self::get_json(&self.customers, id.as_bytes())
    }

    #[tracing::instrument(skip_all, fields(customer = %customer.id))]
    fn put_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        self.customers
            .insert(customer.id.as_bytes(), serde_json::to_vec(customer)?)?;
        Ok(())
    }

    #[tracing::instrument(skip(self, identity), fields(channel = %identity.channel))]
    fn link(&self, identity: &Identity, customer_id: &str) -> Result<(), StoreError> {
        let key = key2(identity.channel.as_str(), &identity.id);
        if let Some(old) = self.identities.insert(&key, customer_id.as_bytes())? {
            let old = String::from_utf8_lossy(&old);
            self.customer_identities
                .remove(key2(&old, &String::from_utf8_lossy(&key)))?;
        }
        self.customer_identities
            .insert(key2(customer_id, &String::from_utf8_lossy(&key)), &[])?;
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
        match self.open.get(key2(channel.as_str(), user))? {
            Some(id) => self.touchpoint(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    fn open_touchpoints(&self) -> Result<Vec<Touchpoint>, StoreError> {
        let mut out = Vec::new();
        for item in self.open.iter() {
            let (_, id) = item?;
            if let Some(tp) = self.touchpoint(&String::from_utf8_lossy(&id))? {
                out.push(tp);
            }
        }
        Ok(out)
    }

    #[tracing::instrument(skip_all, fields(conversation = %tp.id))]
    fn save_touchpoint(&self, tp: &Touchpoint) -> Result<(), StoreError> {
        let is_new = !self.touchpoints.contains_key(tp.id.as_bytes())?;
        self.touchpoints
            .insert(tp.id.as_bytes(), serde_json::to_vec(tp)?)?;
        if is_new {
            self.tp_time
                .insert(time_key(&[], tp.started_at, &tp.id), &[])?;
        }
        self.tp_customer.insert(
            time_key(&key2(&tp.customer_id, ""), tp.started_at, &tp.id),
            &[],
        )?;
        let open_key = key2(tp.channel.as_str(), &tp.user);
        if tp.is_open() {
            self.open.insert(open_key, tp.id.as_bytes())?;
        } else if self
            .open
            .get(&open_key)?
            .is_some_and(|id| id == tp.id.as_bytes())
        {
            self.open.remove(open_key)?;
        }
        Ok(())
    }

    fn touchpoint(&self, id: &str) -> Result<Option<Touchpoint>, StoreError> {
        Self::get_json(&self.touchpoints, id.as_bytes())
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
        let prefix = key2(customer_id, "");
        let mut out = Vec::new();
        for item in self.tp_customer.scan_prefix(&prefix) {
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
        self.link_codes.insert(code.as_bytes(), v)?;
        Ok(())
    }

    fn take_link_code(&self, code: &str, now: Timestamp) -> Result<Option<String>, StoreError> {
        let Some(v) = self.link_codes.remove(code.as_bytes())? else {
            return Ok(None);
        };
        let expires = u64::from_be_bytes(v[..8].try_into().unwrap_or([0; 8]));
        Ok((now.0 < expires).then(|| String::from_utf8_lossy(&v[8..]).into_owned()))
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
            self.tp_customer
                .remove(time_key(&key2(from, ""), tp.started_at, &tp.id))?;
            tp.customer_id = into.to_string();
            self.save_touchpoint(&tp)?;
        }
        if let (Some(old), Some(mut new)) = (self.customer(from)?, self.customer(into)?) {
            new.name = new.name.or(old.name);
            new.email = new.email.or(old.email);
            new.phone = new.phone.or(old.phone);
            new.loyalty_points = new.loyalty_points.or(old.loyalty_points);
            for o in old.orders {
                if new.order(&o.id).is_none() {
                    new.orders.push(o);
                }
            }
            for (k, v) in old.attributes {
                new.attributes.entry(k).or_insert(v);
            }
            new.created_at = new.created_at.min(old.created_at);
            self.put_customer(&new)?;
        }
        self.customers.remove(from.as_bytes())?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    fn forget(&self, customer_id: &str) -> Result<usize, StoreError> {
        for ident in self.identities(customer_id)? {
            let key = key2(ident.channel.as_str(), &ident.id);
            self.identities.remove(&key)?;
            self.open.remove(&key)?;
            self.customer_identities
                .remove(key2(customer_id, &String::from_utf8_lossy(&key)))?;
        }
        let tps = self.touchpoints_of(customer_id)?;
        for mut tp in tps.iter().cloned() {
            self.tp_customer
                .remove(time_key(&key2(customer_id, ""), tp.started_at, &tp.id))?;
            self.open.remove(key2(tp.channel.as_str(), &tp.user))?;
            tp.customer_id = ERASED.to_string();
            tp.user = String::new();
            tp.session = None;
            tp.state = serde_json::Value::Null;
            tp.survey.remove(crate::engine::survey::COMMENT);
            for turn in &mut tp.turns {
                turn.text = String::new();
            }
            self.touchpoints
                .insert(tp.id.as_bytes(), serde_json::to_vec(&tp)?)?;
        }
        for item in self.link_codes.iter() {
            let (code, v) = item?;
            if v.len() >= 8 && &v[8..] == customer_id.as_bytes() {
                self.link_codes.remove(code)?;
            }
        }
        self.customers.remove(customer_id.as_bytes())?;
        self.erased.store(true, Ordering::SeqCst);
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
                self.tp_customer
                    .remove(time_key(&key2(customer_id, ""), tp.started_at, &tp.id))?;
                tp.customer_id = new.id.clone();
                self.save_touchpoint(&tp)?;
            }
        }
        Ok(new.id)
    }

    fn purge_transcripts(&self, before: Timestamp) -> Result<usize, StoreError> {
        let mut n = 0;
        for item in self.tp_time.range(..before.0.to_be_bytes().to_vec()) {
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
            self.touchpoints
                .insert(tp.id.as_bytes(), serde_json::to_vec(&tp)?)?;
            n += 1;
        }
        Ok(n)
    }

    fn new_id(&self, prefix: &str) -> Result<String, StoreError> {
        let number = |bytes: Option<&[u8]>| {
            bytes
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(1, u64::from_be_bytes)
        };
        let previous = self.db.fetch_and_update(NEXT_ID, |old| {
            Some(number(old).saturating_add(1).to_be_bytes().to_vec())
        })?;
        Ok(format!("{prefix}_{:x}", number(previous.as_deref())))
    }

    fn durable(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            // Everything this caller wrote is in sled's memory before this number is taken.
            let mine = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
            let _turn = self.flush_lock.lock().await;
            if self.flushed.load(Ordering::SeqCst) >= mine {
                return Ok(()); // a flush that started after our writes has finished while we queued
            }
            let covers = self.requested.load(Ordering::SeqCst);
            let db = self.db.clone();
            tokio::task::spawn_blocking(move || db.flush())
                .await
                .map_err(|e| StoreError::Flush(e.to_string()))??;
            self.flushed.fetch_max(covers, Ordering::SeqCst);
            Ok(())
        })
    }

    fn needs_compaction(&self) -> bool {
        self.erased_something()
    }

    /// Exports the live data into a fresh directory and swaps it in place of the data directory; the old
    /// files, with whatever erased records their log segments still held, are deleted.
    fn compact(&self) -> Result<(), StoreError> {
        let dir = &self.path;
        let io_err = |e: std::io::Error| StoreError::Open {
            path: dir.display().to_string(),
            reason: e.to_string(),
        };
        self.db.flush()?;
        let fresh = dir.with_extension("compacting");
        let _ = std::fs::remove_dir_all(&fresh);
        {
            let new = sled::Config::new()
                .path(&fresh)
                .flush_every_ms(None)
                .open()?;
            new.import(self.db.export());
            new.flush()?;
        }
        let previous = dir.with_extension("before-compaction");
        let _ = std::fs::remove_dir_all(&previous);
        std::fs::rename(dir, &previous).map_err(io_err)?;
        std::fs::rename(&fresh, dir).map_err(io_err)?;
        std::fs::remove_dir_all(&previous).map_err(io_err)?;
        self.erased.store(false, Ordering::SeqCst);
        Ok(())
    }

    fn flush_now(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

/// `1732356000000.tp_1f` → (time, id).
pub fn parse_cursor(cursor: &str) -> Option<(Timestamp, String)> {
    let (at, id) = cursor.split_once('.')?;
    Some((Timestamp(at.parse().ok()?), id.to_string()))
}
