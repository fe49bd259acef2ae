//! The customer profile store: customers, identities on every channel, and touchpoints.
//!
//! [`ProfileStore`] is the interface the rest of parcours uses; [`sled_store::SledStore`] implements it on an
//! embedded sled database (the default, no server needed), [`pg_store::PgStore`] on PostgreSQL (several
//! replicas on one server database). The store does not interpret conversations: it keeps and indexes them.
//!
//! A customer's turn is one unit of work: [`ProfileStore::begin_turn`] takes the conversation's lock and
//! reads everything the turn needs ([`TurnLoad`]); [`ProfileStore::commit`] writes everything it changed
//! ([`TurnCommit`]), durably, and only then lets the lock go. Every other writer of a conversation (the
//! idle sweeper, staff, the survey) takes the same lock with [`ProfileStore::lock`].

mod journal;
pub mod model;
pub mod pg_store;
mod sched;
pub mod sled_store;

use crate::message::{Channel, Delivery};
use crate::time::Timestamp;
pub use model::{
    Customer, Identity, Irritant, Order, Outcome, Owner, Speaker, State, Touchpoint, Turn,
};
use std::future::Future;
use std::pin::Pin;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed (disk full, corruption, I/O, the server unreachable).
    #[error("database error: {0}")]
    Db(String),
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
    /// Another writer held the conversation for longer than the lock time-out, every retry.
    #[error("the conversation stayed locked by another writer: {0}")]
    Busy(String),
}

/// A boxed future, so that the trait stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A page of touchpoints and the cursor of the next page.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub items: Vec<Touchpoint>,
    pub next_cursor: Option<String>,
}

/// Which conversations a staff list or a report wants; each store applies it where its data is (SQL for
/// the server store).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationFilter {
    pub channel: Option<Channel>,
    /// Conversations in which this intent was served.
    pub intent: Option<String>,
    pub customer: Option<String>,
    /// Rated at most this (0-10); unrated conversations are left out.
    pub max_rating: Option<u8>,
    /// With (`true`) or without (`false`) an irritant in any turn.
    pub irritant: Option<bool>,
}

impl ConversationFilter {
    /// Whether a conversation passes.
    pub fn matches(&self, tp: &Touchpoint) -> bool {
        self.channel.is_none_or(|c| tp.channel == c)
            && self.intent.as_ref().is_none_or(|i| tp.intents.contains(i))
            && self.customer.as_ref().is_none_or(|c| &tp.customer_id == c)
            && self
                .max_rating
                .is_none_or(|m| tp.rating().is_some_and(|r| r <= m))
            && self.irritant.is_none_or(|want| want == tp.has_irritant())
    }
}

/// An open conversation as the idle sweeper needs it: whose it is, when its last turn was, whether a
/// person has it. A few bytes each, however long the transcript.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct OpenConversation {
    pub id: String,
    pub channel: Channel,
    pub user: String,
    pub last_at: Timestamp,
    /// A person has it or is awaited.
    #[serde(default, rename = "owner", deserialize_with = "owned_by_people")]
    pub human: bool,
}

/// Whether an owner read from a conversation's JSON is a person's (or a wait for one).
fn owned_by_people<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    <Owner as serde::Deserialize>::deserialize(d).map(|o| o.is_human())
}

impl OpenConversation {
    /// What the sweeper needs of `tp`.
    pub fn of(tp: &Touchpoint) -> Self {
        OpenConversation {
            id: tp.id.clone(),
            channel: tp.channel,
            user: tp.user.clone(),
            last_at: tp.last_at,
            human: tp.owner.is_human(),
        }
    }
}

/// One of a customer's conversations, as the index of their history keeps it: what the "you called us
/// yesterday" recall and the leftover staff replies need, without the transcript.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Contact {
    pub id: String,
    pub channel: Channel,
    pub user: String,
    pub started_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default)]
    pub intents: Vec<String>,
    /// Staff replies the customer has not heard yet.
    #[serde(default)]
    pub outbox: bool,
}

/// A customer's latest contacts, newest first: shared, as the embedded store keeps them in memory (a
/// conversation that starts reads them without a copy).
pub type Contacts = std::sync::Arc<Vec<Contact>>;

impl From<&Touchpoint> for Contact {
    fn from(tp: &Touchpoint) -> Self {
        Contact {
            id: tp.id.clone(),
            channel: tp.channel,
            user: tp.user.clone(),
            started_at: tp.started_at,
            ended_at: tp.ended_at,
            outcome: tp.outcome,
            intents: tp.intents.clone(),
            outbox: !tp.outbox.is_empty(),
        }
    }
}

/// How many of a customer's latest conversations a turn reads from the index.
pub const RECENT_CONTACTS: usize = 9;

/// What a turn reads, in one call.
#[derive(Debug, Clone)]
pub struct TurnLoad {
    /// The customer behind the identity, created (with no attributes) on first contact; shared with
    /// what the store keeps of it (a turn that changes it changes its own copy, `Arc::make_mut`).
    pub customer: std::sync::Arc<Customer>,
    /// Whether the customer was created by this turn.
    pub created: bool,
    /// The sender's open conversation on this channel, if any.
    pub open: Option<Touchpoint>,
    /// The customer's [`RECENT_CONTACTS`] latest conversations, newest first, from the index; read only
    /// when a conversation may start (none is open, or the open one has no turns yet), `None` otherwise
    /// ([`ProfileStore::recent_contacts`] reads them if the turn starts one after all).
    pub recent: Option<Contacts>,
    /// The delivery was handled before (a platform's retry, to this replica or another): the reply given
    /// then, as [`TurnCommit::delivery`] kept it (empty when none was kept).
    pub replay: Option<String>,
}

/// What a turn writes, in one call.
#[derive(Debug, Clone, Default)]
pub struct TurnCommit {
    /// Conversations written: the turn's own, and any it closed or took leftover replies from. Turns are
    /// appended (what the store holds of a conversation's turns is never rewritten).
    pub touchpoints: Vec<Touchpoint>,
    /// The customer, when the turn changed them.
    pub customer: Option<Customer>,
    /// The platform's delivery this turn answered, and the reply given (JSON), committed with the turn:
    /// a redelivery is answered with it, once the turn is durable; never before.
    pub delivery: Option<(Delivery, String)>,
}

/// A conversation's lock, held from [`ProfileStore::begin_turn`] or [`ProfileStore::lock`] to
/// [`ProfileStore::commit`]. Dropped without a commit, nothing it wrote is kept and the lock is let go.
pub struct TurnGuard {
    inner: Box<dyn std::any::Any + Send>,
}

impl TurnGuard {
    pub(crate) fn new(inner: impl std::any::Any + Send) -> Self {
        TurnGuard {
            inner: Box::new(inner),
        }
    }

    pub(crate) fn downcast_mut<T: 'static>(&mut self) -> Result<&mut T, StoreError> {
        self.inner
            .downcast_mut::<T>()
            .ok_or_else(|| StoreError::Db("a lock taken from another store".into()))
    }

    pub(crate) fn downcast<T: 'static>(self) -> Result<T, StoreError> {
        self.inner
            .downcast::<T>()
            .map(|b| *b)
            .map_err(|_| StoreError::Db("a lock taken from another store".into()))
    }
}

/// A batch of records for [`ProfileStore::import`] (`parcours store copy`).
#[derive(Debug, Clone, Default)]
pub struct ImportBatch {
    /// Erased customer ids: nothing is saved under them afterwards.
    pub erased: Vec<String>,
    /// Customers with their identities.
    pub customers: Vec<(Customer, Vec<Identity>)>,
    pub touchpoints: Vec<Touchpoint>,
}

/// What a store holds, counted (`store copy` checks both sides agree).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounts {
    pub customers: u64,
    pub identities: u64,
    pub conversations: u64,
    pub turns: u64,
    pub erased: u64,
}

/// The profile store. Every method is a future: the server store answers over the network.
pub trait ProfileStore: Send + Sync {
    /// Takes the lock of the conversation of `identity` (serialising its turns across replicas) and reads
    /// everything the turn needs. `also`: another identity the same person is known by (a caller id on the
    /// voice webhook is the same number Twilio gives), linked to the customer it names if `identity` is new.
    /// `delivery`: the platform's id of the message, looked up under the lock ([`TurnLoad::replay`]).
    fn begin_turn<'a>(
        &'a self,
        identity: &'a Identity,
        also: Option<&'a Identity>,
        delivery: Option<&'a Delivery>,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(TurnGuard, TurnLoad), StoreError>>;
    /// Takes the lock of the conversation of `(channel, user)` for a writer other than a turn (the idle
    /// sweeper, staff): released by [`ProfileStore::commit`] or by dropping the guard.
    fn lock<'a>(
        &'a self,
        channel: Channel,
        user: &'a str,
    ) -> BoxFuture<'a, Result<TurnGuard, StoreError>>;
    /// Writes what a turn changed, atomically and durably, then lets the lock go.
    fn commit(
        &self,
        guard: TurnGuard,
        changes: TurnCommit,
    ) -> BoxFuture<'_, Result<(), StoreError>>;
    /// The customer behind a channel identity, created (with no attributes) on first contact.
    fn resolve<'a>(
        &'a self,
        identity: &'a Identity,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Customer, StoreError>>;
    /// The customer behind a channel identity, if it is known.
    fn customer_of<'a>(
        &'a self,
        identity: &'a Identity,
    ) -> BoxFuture<'a, Result<Option<Customer>, StoreError>>;
    /// A customer by id.
    fn customer<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Customer>, StoreError>>;
    /// Creates or replaces a customer.
    fn put_customer<'a>(&'a self, customer: &'a Customer) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Links an identity to a customer (replacing any previous link of that identity).
    fn link<'a>(
        &'a self,
        identity: &'a Identity,
        customer_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// The identities of a customer.
    fn identities<'a>(
        &'a self,
        customer_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Identity>, StoreError>>;
    /// The open conversation of an identity on a channel, if any.
    fn open_touchpoint<'a>(
        &'a self,
        channel: Channel,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Option<Touchpoint>, StoreError>>;
    /// A customer's [`RECENT_CONTACTS`] latest conversations, newest first, from the index.
    fn recent_contacts<'a>(
        &'a self,
        customer_id: &'a str,
    ) -> BoxFuture<'a, Result<Contacts, StoreError>>;
    /// Every open conversation, without its transcript (for the idle sweeper, which reads in full only
    /// those it closes).
    fn open_conversations(&self) -> BoxFuture<'_, Result<Vec<OpenConversation>, StoreError>>;
    /// The open conversations a person has or is awaited in (from an index, not every open one).
    fn handoff_touchpoints(&self) -> BoxFuture<'_, Result<Vec<Touchpoint>, StoreError>>;
    /// A touchpoint by id.
    fn touchpoint<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Touchpoint>, StoreError>>;
    /// Touchpoints that started in `[since, until)` and pass `filter`, oldest first (`newest_first`: newest
    /// first, what a support console lists), through the time index; `cursor` continues a previous page.
    fn touchpoints_between<'a>(
        &'a self,
        since: Timestamp,
        until: Timestamp,
        limit: usize,
        cursor: Option<&'a str>,
        filter: &'a ConversationFilter,
        newest_first: bool,
    ) -> BoxFuture<'a, Result<Page, StoreError>>;
    /// A customer's touchpoints, oldest first.
    fn touchpoints_of<'a>(
        &'a self,
        customer_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Touchpoint>, StoreError>>;
    /// Keeps a one-time link code for a customer until `expires`.
    fn put_link_code<'a>(
        &'a self,
        code: &'a str,
        customer_id: &'a str,
        expires: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Uses up a link code: the customer it was made for, if it exists and has not expired. `held`: the
    /// lock of the turn that uses it; the code is then spent with that turn's commit (a turn that fails
    /// before it, or is dropped, leaves the code usable; another turn giving the same code at once waits
    /// for it, then finds it spent).
    fn take_link_code<'a>(
        &'a self,
        code: &'a str,
        now: Timestamp,
        held: Option<&'a mut TurnGuard>,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>>;
    /// Moves everything of customer `from` (identities, touchpoints, attributes it has that `into` lacks)
    /// to `into`, and deletes `from`; returns `into` as it is afterwards. It holds the lock of every sender
    /// of both customers while it runs, so that a turn under way on any of them finishes first and the
    /// next one sees the merge. `held`: the lock of one of them the caller already holds (a turn joining
    /// identities by a link code); the merge is then part of that turn's unit of work (on PostgreSQL,
    /// committed with it).
    fn merge<'a>(
        &'a self,
        from: &'a str,
        into: &'a str,
        held: Option<&'a mut TurnGuard>,
    ) -> BoxFuture<'a, Result<Option<Customer>, StoreError>>;
    /// Erases a customer: profile and identities are deleted; their conversations lose every word and every
    /// link to them (customer, channel id, session, survey comment) but keep intents, outcome and rating, so
    /// reports keep their anonymous counts. Returns how many conversations were anonymised.
    fn forget<'a>(&'a self, customer_id: &'a str) -> BoxFuture<'a, Result<usize, StoreError>>;
    /// Moves one identity, and the conversations held through it, from a customer to a new customer (undoing
    /// a wrong merge), under the lock of that identity's sender. Returns the new customer's id.
    fn split<'a>(
        &'a self,
        customer_id: &'a str,
        identity: &'a Identity,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<String, StoreError>>;
    /// Removes the words of conversations that started before `before` (retention); intents, outcomes and
    /// ratings stay. Returns how many conversations were purged.
    fn purge_transcripts(&self, before: Timestamp) -> BoxFuture<'_, Result<usize, StoreError>>;
    /// A new unique id with a prefix (`tp_…`, `cus_…`).
    fn new_id<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<String, StoreError>>;
    /// Whether an update a platform delivers (Telegram's `update_id`, a webhook's delivery id) is seen for
    /// the first time, remembering it: delivered twice, to any replica, it is answered once.
    fn first_delivery<'a>(
        &'a self,
        source: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Resolves once everything written so far is durable. Concurrent callers share one flush.
    fn durable(&self) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Whether erased data may still linger in old files, so that a compaction is due.
    fn needs_compaction(&self) -> bool {
        false
    }
    /// Rewrites the store's files with only live data (after erasures), at shutdown or from the CLI: no
    /// write may happen during or after it in this process.
    fn compact(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
    /// Flushes (for the CLI and shutdown).
    fn flush_now(&self) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Whether the last attempt to make writes durable succeeded (false while the disk is full, say).
    fn healthy(&self) -> bool {
        true
    }
    /// After a failed write: reopens what must be reopened and checks that a write goes through again;
    /// `healthy()` says whether it did.
    fn recover(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
    /// Up to `limit` customers whose id sorts after `after`, in id order (to copy a whole store).
    fn customers_page<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Customer>, StoreError>>;
    /// The ids of erased customers.
    fn erased_ids(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>>;
    /// Writes a batch of records as they are, durably (`parcours store copy`).
    fn import<'a>(&'a self, batch: &'a ImportBatch) -> BoxFuture<'a, Result<(), StoreError>>;
    /// How many records the store holds.
    fn counts(&self) -> BoxFuture<'_, Result<StoreCounts, StoreError>>;
    /// What kind of store this is, for logs and `/readyz` (`sled`, `postgres`).
    fn kind(&self) -> &'static str;
}
