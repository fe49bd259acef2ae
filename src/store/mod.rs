//! The customer profile store: customers, identities on every channel, and touchpoints.
//!
//! [`ProfileStore`] is the interface the rest of parcours uses; [`sled_store::SledStore`] implements it on an
//! embedded sled database (the default, no server needed). A server database for several replicas can
//! implement the same trait. The store does not interpret conversations: it keeps and indexes them.

pub mod model;
pub mod sled_store;

use crate::message::Channel;
use crate::time::Timestamp;
pub use model::{Customer, Identity, Irritant, Order, Outcome, Owner, Speaker, Touchpoint, Turn};
use std::future::Future;
use std::pin::Pin;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed (disk full, corruption, I/O).
    #[error("database error: {0}")]
    Db(#[from] sled::Error),
    /// A record could not be encoded or decoded.
    #[error("record encoding error: {0}")]
    Encoding(#[from] serde_json::Error),
    /// The flush task is gone (the store is shutting down).
    #[error("the store is shutting down")]
    Closed,
    /// Writing to disk failed.
    #[error("flush failed: {0}")]
    Flush(String),
    /// The data directory could not be opened.
    #[error("cannot open the data directory {path}: {reason}")]
    Open { path: String, reason: String },
}

/// A boxed future, so that the trait stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A page of touchpoints and the cursor of the next page.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub items: Vec<Touchpoint>,
    pub next_cursor: Option<String>,
}

/// The profile store.
pub trait ProfileStore: Send + Sync {
    /// The customer behind a channel identity, created (with no attributes) on first contact.
    fn resolve(&self, identity: &Identity, now: Timestamp) -> Result<Customer, StoreError>;
    /// The customer behind a channel identity, if it is known.
    fn customer_of(&self, identity: &Identity) -> Result<Option<Customer>, StoreError>;
    /// A customer by id.
    fn customer(&self, id: &str) -> Result<Option<Customer>, StoreError>;
    /// Creates or replaces a customer.
    fn put_customer(&self, customer: &Customer) -> Result<(), StoreError>;
    /// Links an identity to a customer (replacing any previous link of that identity).
    fn link(&self, identity: &Identity, customer_id: &str) -> Result<(), StoreError>;
    /// The identities of a customer.
    fn identities(&self, customer_id: &str) -> Result<Vec<Identity>, StoreError>;
    /// The open conversation of an identity on a channel, if any.
    fn open_touchpoint(
        &self,
        channel: Channel,
        user: &str,
    ) -> Result<Option<Touchpoint>, StoreError>;
    /// Every open conversation (for the idle sweeper).
    fn open_touchpoints(&self) -> Result<Vec<Touchpoint>, StoreError>;
    /// Writes a touchpoint and its indexes; an ended one leaves the open index.
    fn save_touchpoint(&self, tp: &Touchpoint) -> Result<(), StoreError>;
    /// The open conversations a person has or is awaited in (from an index, not every open one).
    fn handoff_touchpoints(&self) -> Result<Vec<Touchpoint>, StoreError> {
        Ok(self
            .open_touchpoints()?
            .into_iter()
            .filter(|t| t.owner.is_human())
            .collect())
    }
    /// A touchpoint by id.
    fn touchpoint(&self, id: &str) -> Result<Option<Touchpoint>, StoreError>;
    /// Touchpoints that started in `[since, until)` and pass `keep`, oldest first, through the time index;
    /// `cursor` continues a previous page.
    fn touchpoints_between(
        &self,
        since: Timestamp,
        until: Timestamp,
        limit: usize,
        cursor: Option<&str>,
        keep: &dyn Fn(&Touchpoint) -> bool,
    ) -> Result<Page, StoreError>;
    /// The same as [`ProfileStore::touchpoints_between`], newest first (what a support console lists).
    fn touchpoints_newest_first(
        &self,
        since: Timestamp,
        until: Timestamp,
        limit: usize,
        cursor: Option<&str>,
        keep: &dyn Fn(&Touchpoint) -> bool,
    ) -> Result<Page, StoreError>;
    /// A customer's touchpoints, oldest first.
    fn touchpoints_of(&self, customer_id: &str) -> Result<Vec<Touchpoint>, StoreError>;
    /// A customer's `limit` most recent conversations, newest first, from the index (not the whole
    /// history).
    fn latest_touchpoints(
        &self,
        customer_id: &str,
        limit: usize,
    ) -> Result<Vec<Touchpoint>, StoreError> {
        let mut all = self.touchpoints_of(customer_id)?;
        all.sort_by_key(|t| std::cmp::Reverse(t.started_at));
        all.truncate(limit);
        Ok(all)
    }
    /// Keeps a one-time link code for a customer until `expires`.
    fn put_link_code(
        &self,
        code: &str,
        customer_id: &str,
        expires: Timestamp,
    ) -> Result<(), StoreError>;
    /// Uses up a link code: the customer it was made for, if it exists and has not expired.
    fn take_link_code(&self, code: &str, now: Timestamp) -> Result<Option<String>, StoreError>;
    /// Moves everything of customer `from` (identities, touchpoints, attributes it has that `into` lacks)
    /// to `into`, and deletes `from`.
    fn merge(&self, from: &str, into: &str) -> Result<(), StoreError>;
    /// Erases a customer: profile and identities are deleted; their conversations lose every word and every
    /// link to them (customer, channel id, session, survey comment) but keep intents, outcome and rating, so
    /// reports keep their anonymous counts. Returns how many conversations were anonymised.
    fn forget(&self, customer_id: &str) -> Result<usize, StoreError>;
    /// Moves one identity, and the conversations held through it, from a customer to a new customer (undoing
    /// a wrong merge). Returns the new customer's id.
    fn split(
        &self,
        customer_id: &str,
        identity: &Identity,
        now: Timestamp,
    ) -> Result<String, StoreError>;
    /// Removes the words of conversations that started before `before` (retention); intents, outcomes and
    /// ratings stay. Returns how many conversations were purged.
    fn purge_transcripts(&self, before: Timestamp) -> Result<usize, StoreError>;
    /// A new unique id with a prefix (`tp_…`, `cus_…`).
    fn new_id(&self, prefix: &str) -> Result<String, StoreError>;
    /// Resolves once everything written so far is on disk. Concurrent callers share one flush.
    fn durable(&self) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Whether erased data may still linger in old files, so that a compaction is due.
    fn needs_compaction(&self) -> bool {
        false
    }
    /// Rewrites the store's files with only live data (after erasures), at shutdown or from the CLI: no
    /// write may happen during or after it in this process.
    fn compact(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Flushes synchronously (for the CLI and shutdown).
    fn flush_now(&self) -> Result<(), StoreError>;
    /// Whether the last attempt to make writes durable succeeded (false while the disk is full, say).
    fn healthy(&self) -> bool {
        true
    }
    /// After a failed write: reopens what must be reopened and checks that a write goes through again;
    /// `healthy()` says whether it did.
    fn recover(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
