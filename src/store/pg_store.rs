//! The server store on PostgreSQL, for several replicas behind a load balancer.
//!
//! Schema: the SQL files in `migrations/`, embedded in the binary and applied in order by
//! [`PgStore::migrate`] (`parcours migrate`); each is additive. Customers and conversations are JSON
//! records, with what lists and filters need in indexed columns; a conversation's turns are rows of
//! their own, appended with a sequence number, never rewritten by a turn.
//!
//! A turn is one transaction: [`ProfileStore::begin_turn`] opens it, locks the sender's row (an upsert,
//! which takes the row lock; no advisory locks, which CockroachDB and YugabyteDB lack) with a
//! `lock_timeout`, and reads what the turn needs; [`ProfileStore::commit`] writes and commits, and only
//! then is the connection (and so the lock) given back. A serialisation failure, a deadlock or a lock
//! time-out (SQLSTATE 40001, 40P01, 55P03) is retried, never dropped. Every other writer of a
//! conversation (idle sweeper, staff, survey) takes the same row lock with [`ProfileStore::lock`].
//!
//! Durability is PostgreSQL's: a commit returns once its WAL record is flushed (with the server's
//! default `synchronous_commit = on`).

use super::{
    BoxFuture, Contact, Contacts, ConversationFilter, Customer, Identity, ImportBatch,
    OpenConversation, Page, ProfileStore, StoreCounts, StoreError, Touchpoint, Turn, TurnCommit,
    TurnGuard, TurnLoad,
};
use crate::message::{Channel, Delivery};
use crate::store::model::Outcome;
use crate::store::sled_store::{ERASED, parse_cursor};
use crate::time::Timestamp;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::{NoTls, Row};

/// The migrations, in order: version, name, SQL.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "initial", include_str!("migrations/0001_initial.sql")),
    (
        2,
        "delivery replies",
        include_str!("migrations/0002_delivery_replies.sql"),
    ),
];

/// How long a writer waits for a conversation another writer holds, before the attempt is retried.
const LOCK_TIMEOUT_MS: u64 = 2_000;

/// How many times a transaction that failed to serialise is tried again.
const RETRIES: u32 = 8;

/// Connections in the pool of one process.
const POOL_SIZE: usize = 32;

/// How long delivery ids are remembered (a platform redelivers within minutes).
const DELIVERY_TTL_MS: u64 = 7 * 86_400_000;

/// The PostgreSQL-backed [`ProfileStore`].
pub struct PgStore {
    pool: Pool,
    /// The last call reached the server.
    healthy: AtomicBool,
    /// Deliveries remembered since the last sweep of old ones.
    deliveries: AtomicU64,
}

/// A failure inside the store: kept as PostgreSQL's error until it is known whether to retry.
#[derive(Debug)]
enum Fail {
    Pg(tokio_postgres::Error),
    Other(StoreError),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<serde_json::Error> for Fail {
    fn from(e: serde_json::Error) -> Self {
        Fail::Other(StoreError::Encoding(e))
    }
}

impl From<deadpool_postgres::PoolError> for Fail {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Fail::Other(StoreError::Db(format!(
            "no connection to the database: {e}"
        )))
    }
}

impl Fail {
    /// A conflict between concurrent transactions: trying again will go through.
    fn retryable(&self) -> bool {
        let Fail::Pg(e) = self else { return false };
        matches!(
            e.code(),
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::LOCK_NOT_AVAILABLE
        )
    }
}

impl From<Fail> for StoreError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Pg(e) => match e.as_db_error() {
                Some(db) => StoreError::Db(format!("{} ({})", db.message(), db.code().code())),
                None => StoreError::Db(e.to_string()),
            },
            Fail::Other(e) => e,
        }
    }
}

type R<T> = Result<T, Fail>;

/// A `postgres://` URL without its password, for messages and logs.
pub fn display_url(url: &str) -> String {
    match url.parse::<tokio_postgres::Config>() {
        Ok(c) => {
            let host = c
                .get_hosts()
                .first()
                .map(|h| match h {
                    tokio_postgres::config::Host::Tcp(h) => h.clone(),
                    tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                })
                .unwrap_or_default();
            let port = c.get_ports().first().copied().unwrap_or(5432);
            let options = c
                .get_options()
                .map(|o| format!(" (options {o})"))
                .unwrap_or_default();
            format!(
                "postgres://{}@{host}:{port}/{}{options}",
                c.get_user().unwrap_or(""),
                c.get_dbname().unwrap_or("")
            )
        }
        Err(_) => "postgres://(unreadable URL)".into(),
    }
}

/// Whether a store location names the server store.
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// What a [`TurnGuard`] of this store holds: a connection inside an open transaction that holds the
/// sender's row lock. Dropped without a commit, the transaction is rolled back before the connection
/// goes back to the pool.
struct PgGuard {
    client: Option<Object>,
    /// The turn already wrote in its transaction (a link code spent, a merge): a retried commit goes back
    /// to a savepoint after those writes, not to the one set with the lock.
    wrote: bool,
}

impl Drop for PgGuard {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        // A connection whose state is unknown is not given to anyone else.
                        drop(Object::take(client));
                    }
                });
            }
            Err(_) => drop(Object::take(client)),
        }
    }
}

/// The columns a conversation is read from.
const TP_COLUMNS: &str = "c.header, COALESCE((SELECT jsonb_agg(t.turn ORDER BY t.seq) FROM turns t WHERE t.conversation_id = c.id), '[]'::jsonb)";

impl PgStore {
    /// Connects to the server named by `url` (`postgres://user@host:port/db`; `?options=-c search_path=…`
    /// picks a schema). The schema is not checked: see [`PgStore::check_schema`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Db(format!("not a PostgreSQL URL: {e}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A connection given back in a transaction (a request dropped half-way) is rolled back
                // before anyone else gets it.
                recycling_method: RecyclingMethod::Custom("ROLLBACK".into()),
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(std::time::Duration::from_secs(5)))
            .create_timeout(Some(std::time::Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Db(e.to_string()))?;
        let store = PgStore {
            pool,
            healthy: AtomicBool::new(true),
            deliveries: AtomicU64::new(0),
        };
        // Fail now, with the server's reason, rather than at the first turn.
        drop(
            store
                .pool
                .get()
                .await
                .map_err(|e| StoreError::Db(format!("cannot connect: {e}")))?,
        );
        Ok(store)
    }

    /// Applies the migrations the database does not have yet, in one transaction (two replicas starting
    /// together wait for each other). Returns the names of those applied.
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let client = self.pool.get().await.map_err(Fail::from)?;
        let run = async {
            client
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS parcours_migrations (
                        version INTEGER PRIMARY KEY,
                        name TEXT NOT NULL,
                        applied_at BIGINT NOT NULL
                    )",
                )
                .await?;
            client
                .batch_execute("BEGIN; LOCK TABLE parcours_migrations IN EXCLUSIVE MODE")
                .await?;
            let applied: Vec<i32> = client
                .query("SELECT version FROM parcours_migrations", &[])
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let mut done = Vec::new();
            for (version, name, sql) in MIGRATIONS {
                if applied.contains(version) {
                    continue;
                }
                client.batch_execute(sql).await?;
                client
                    .execute(
                        "INSERT INTO parcours_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                        &[version, name, &(Timestamp::now().0 as i64)],
                    )
                    .await?;
                done.push(format!("{version:04}_{name}"));
            }
            client.batch_execute("COMMIT").await?;
            R::Ok(done)
        };
        match run.await {
            Ok(done) => Ok(done),
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                Err(e.into())
            }
        }
    }

    /// An error saying what to run when the database lacks migrations this binary has.
    pub async fn check_schema(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(Fail::from)?;
        let latest = MIGRATIONS.last().map_or(0, |m| m.0);
        let have: Option<i32> = match client
            .query_one("SELECT max(version) FROM parcours_migrations", &[])
            .await
        {
            Ok(row) => row.get(0),
            Err(_) => None,
        };
        match have {
            Some(v) if v >= latest => Ok(()),
            _ => Err(StoreError::Db(format!(
                "the database schema is at version {} and this parcours needs {latest}: run `parcours migrate --store URL` (or `parcours serve --migrate`)",
                have.unwrap_or(0)
            ))),
        }
    }

    /// Runs `f` on a connection of the pool, again while it fails to serialise.
    async fn with_retry<'a, T, F>(&'a self, mut f: F) -> Result<T, StoreError>
    where
        F: FnMut(Object) -> BoxFuture<'a, R<T>>,
    {
        let mut attempt = 0;
        loop {
            let client = match self.pool.get().await {
                Ok(c) => c,
                Err(e) => {
                    self.healthy.store(false, Ordering::Relaxed);
                    return Err(Fail::from(e).into());
                }
            };
            match f(client).await {
                Ok(v) => {
                    self.healthy.store(true, Ordering::Relaxed);
                    return Ok(v);
                }
                Err(e) if e.retryable() && attempt < RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) if e.retryable() => {
                    return Err(StoreError::Busy(StoreError::from(e).to_string()));
                }
                Err(e) => {
                    if matches!(&e, Fail::Pg(p) if p.is_closed() || p.as_db_error().is_none()) {
                        self.healthy.store(false, Ordering::Relaxed);
                    }
                    return Err(e.into());
                }
            }
        }
    }

    /// A transaction on a connection of the pool holding the sender's row lock.
    async fn locked(&self, channel: Channel, user: &str) -> Result<PgGuard, StoreError> {
        let mut attempt = 0;
        loop {
            let client = self.pool.get().await.map_err(|e| {
                self.healthy.store(false, Ordering::Relaxed);
                StoreError::from(Fail::from(e))
            })?;
            let guard = PgGuard {
                client: Some(client),
                wrote: false,
            };
            let c = guard.client.as_ref().expect("just set");
            match lock_sender(c, channel, user).await {
                Ok(()) => {
                    self.healthy.store(true, Ordering::Relaxed);
                    return Ok(guard);
                }
                Err(e) if e.retryable() && attempt < RETRIES => {
                    attempt += 1;
                    drop(guard); // rolled back before the connection is used again
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) if e.retryable() => {
                    return Err(StoreError::Busy(StoreError::from(e).to_string()));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Takes (in the current transaction) the row lock of one sender, creating the row if need be.
const LOCK_SENDER: &str = "INSERT INTO senders (channel, user_id) VALUES ($1, $2)
     ON CONFLICT (channel, user_id) DO UPDATE SET channel = EXCLUDED.channel";

/// Takes one more sender's row lock in the current transaction (a split's, a turn's `also` identity).
async fn lock_sender_row(c: &Object, identity: &Identity) -> R<()> {
    c.execute(
        &c.prepare_cached(LOCK_SENDER).await?,
        &[&identity.channel.as_str(), &identity.id],
    )
    .await?;
    Ok(())
}

/// Opens the transaction, takes the sender's row lock and sets the savepoint a failed write goes back
/// to (keeping the lock): three messages sent together, one round trip.
async fn lock_sender(c: &Object, channel: Channel, user: &str) -> R<()> {
    let begin = begin_locked();
    let channel = channel.as_str();
    let params: [&(dyn ToSql + Sync); 2] = [&channel, &user];
    let upsert = c.prepare_cached(LOCK_SENDER).await?;
    tokio::try_join!(
        c.batch_execute(&begin),
        c.execute(&upsert, &params),
        c.batch_execute("SAVEPOINT turn"),
    )?;
    Ok(())
}

/// Runs `run` between `begin` and a commit; a failure rolls back, so the connection goes back to the
/// pool outside any transaction.
async fn in_transaction<T>(
    c: &Object,
    begin: &str,
    run: impl std::future::Future<Output = R<T>>,
) -> R<T> {
    c.batch_execute(begin).await?;
    match run.await {
        Ok(v) => {
            c.batch_execute("COMMIT").await?;
            Ok(v)
        }
        Err(e) => {
            let _ = c.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// A transaction that waits at most [`LOCK_TIMEOUT_MS`] for a row another writer holds.
fn begin_locked() -> String {
    format!("BEGIN; SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'")
}

/// A little longer each time, and never in step with another replica.
fn backoff(attempt: u32) -> std::time::Duration {
    let jitter = (Timestamp::now().0 % 7) + 1;
    std::time::Duration::from_millis((5u64 << attempt.min(6)) + jitter)
}

fn ms(t: Timestamp) -> i64 {
    t.0.min(i64::MAX as u64) as i64
}

fn outcome_name(o: Option<Outcome>) -> Option<String> {
    o.and_then(|o| serde_json::to_value(o).ok())
        .and_then(|v| v.as_str().map(str::to_string))
}

/// A conversation from its `TP_COLUMNS`.
fn touchpoint_of(row: &Row) -> R<Touchpoint> {
    let Json(mut header): Json<serde_json::Value> = row.try_get(0)?;
    let Json(turns): Json<serde_json::Value> = row.try_get(1)?;
    if let Some(obj) = header.as_object_mut() {
        obj.insert("turns".into(), turns);
    }
    Ok(serde_json::from_value(header)?)
}

fn contact_of(row: &Row) -> R<Contact> {
    let channel: String = row.try_get(1)?;
    let outcome: Option<String> = row.try_get(5)?;
    Ok(Contact {
        id: row.try_get(0)?,
        channel: Channel::parse(&channel).unwrap_or(Channel::Chat),
        user: row.try_get(2)?,
        started_at: Timestamp(row.try_get::<_, i64>(3)? as u64),
        ended_at: row
            .try_get::<_, Option<i64>>(4)?
            .map(|t| Timestamp(t as u64)),
        outcome: outcome.and_then(|o| serde_json::from_value(serde_json::Value::String(o)).ok()),
        intents: row.try_get(6)?,
        outbox: row.try_get(7)?,
    })
}

async fn customer_by_identity(c: &Object, identity: &Identity) -> R<Option<Customer>> {
    let row = c
        .query_opt(
            &c.prepare_cached(
                "SELECT c.record FROM identities i JOIN customers c ON c.id = i.customer_id
             WHERE i.channel = $1 AND i.user_id = $2",
            )
            .await?,
            &[&identity.channel.as_str(), &identity.id],
        )
        .await?;
    match row {
        Some(r) => {
            let Json(c): Json<Customer> = r.try_get(0)?;
            Ok(Some(c))
        }
        None => Ok(None),
    }
}

async fn customer_by_id(c: &Object, id: &str) -> R<Option<Customer>> {
    match c
        .query_opt(
            &c.prepare_cached("SELECT record FROM customers WHERE id = $1")
                .await?,
            &[&id],
        )
        .await?
    {
        Some(r) => {
            let Json(c): Json<Customer> = r.try_get(0)?;
            Ok(Some(c))
        }
        None => Ok(None),
    }
}

/// A new id: the time in ms, a per-process counter and 32 random bits (std's OS-seeded hasher keys),
/// so that replicas never hand out the same one and no round trip is needed; longer than the embedded
/// store's sequential ids, so a copied store's ids are never met again.
fn local_id(prefix: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut h = KEYS.get_or_init(Default::default).build_hasher();
    h.write_u64(n);
    format!(
        "{prefix}_{:011x}{:04x}{:08x}",
        Timestamp::now().0,
        n & 0xffff,
        h.finish() as u32
    )
}

/// Writes a customer unless the id was erased.
async fn put_customer(c: &Object, customer: &Customer) -> R<()> {
    c.execute(
        &c.prepare_cached(
            "INSERT INTO customers (id, record, created_at)
         SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM erased_ids WHERE customer_id = $1)
         ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
        )
        .await?,
        &[&customer.id, &Json(customer), &ms(customer.created_at)],
    )
    .await?;
    Ok(())
}

/// Links an identity unless the customer was erased.
async fn link(c: &Object, identity: &Identity, customer_id: &str) -> R<()> {
    c.execute(
        &c.prepare_cached(
            "INSERT INTO identities (channel, user_id, customer_id)
         SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM erased_ids WHERE customer_id = $3)
         ON CONFLICT (channel, user_id) DO UPDATE SET customer_id = EXCLUDED.customer_id",
        )
        .await?,
        &[&identity.channel.as_str(), &identity.id, &customer_id],
    )
    .await?;
    Ok(())
}

/// The customer behind an identity, created on first contact.
async fn resolve(c: &Object, identity: &Identity, now: Timestamp) -> R<(Customer, bool)> {
    if let Some(found) = customer_by_identity(c, identity).await? {
        return Ok((found, false));
    }
    let customer = Customer {
        id: local_id("cus"),
        created_at: now,
        ..Customer::default()
    };
    put_customer(c, &customer).await?;
    let linked = c
        .execute(
            &c.prepare_cached(
                "INSERT INTO identities (channel, user_id, customer_id) VALUES ($1, $2, $3)
             ON CONFLICT (channel, user_id) DO NOTHING",
            )
            .await?,
            &[&identity.channel.as_str(), &identity.id, &customer.id],
        )
        .await?;
    if linked == 0 {
        // Another writer created this identity's customer first: theirs is the one.
        c.execute(
            &c.prepare_cached("DELETE FROM customers WHERE id = $1")
                .await?,
            &[&customer.id],
        )
        .await?;
        if let Some(found) = customer_by_identity(c, identity).await? {
            return Ok((found, false));
        }
    }
    Ok((customer, true))
}

/// Writes a conversation: its row, and the turns the store does not hold yet (appended). A
/// conversation of an erased customer is not written.
async fn save_touchpoint(c: &Object, tp: &Touchpoint) -> R<()> {
    let mut header = serde_json::to_value(Touchpoint {
        turns: Vec::new(),
        ..tp.clone()
    })?;
    if let Some(obj) = header.as_object_mut() {
        obj.remove("turns");
    }
    let human = tp.is_open() && tp.owner.is_human();
    let rating = tp.rating().map(i16::from);
    let count = tp.turns.len() as i32;
    let row = c
        .query_opt(
            &c.prepare_cached("WITH old AS (SELECT turn_count FROM conversations WHERE id = $1)
             INSERT INTO conversations (id, customer_id, channel, user_id, started_at, last_at, ended_at,
                 outcome, intents, rating, irritant, human, outbox, turn_count, header)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15
             WHERE $2 = $16 OR NOT EXISTS (SELECT 1 FROM erased_ids WHERE customer_id = $2)
             ON CONFLICT (id) DO UPDATE SET customer_id = EXCLUDED.customer_id,
                 user_id = EXCLUDED.user_id, last_at = EXCLUDED.last_at, ended_at = EXCLUDED.ended_at,
                 outcome = EXCLUDED.outcome, intents = EXCLUDED.intents, rating = EXCLUDED.rating,
                 irritant = EXCLUDED.irritant, human = EXCLUDED.human, outbox = EXCLUDED.outbox,
                 turn_count = EXCLUDED.turn_count, header = EXCLUDED.header
             RETURNING (SELECT turn_count FROM old)").await?,
            &[
                &tp.id,
                &tp.customer_id,
                &tp.channel.as_str(),
                &tp.user,
                &ms(tp.started_at),
                &ms(tp.last_at),
                &tp.ended_at.map(ms),
                &outcome_name(tp.outcome),
                &tp.intents,
                &rating,
                &tp.has_irritant(),
                &human,
                &!tp.outbox.is_empty(),
                &count,
                &Json(&header),
                &ERASED,
            ],
        )
        .await?;
    let Some(row) = row else {
        tracing::debug!("a conversation of an erased customer was not saved");
        return Ok(());
    };
    let held: Option<i32> = row.try_get(0)?;
    let mut from = held.unwrap_or(0);
    if from > count {
        // Fewer turns than stored: only the store's own erasure and retention do that, not a turn.
        c.execute(
            &c.prepare_cached("DELETE FROM turns WHERE conversation_id = $1")
                .await?,
            &[&tp.id],
        )
        .await?;
        from = 0;
    }
    insert_turns(c, &tp.id, from as usize, &tp.turns).await
}

async fn insert_turns(c: &Object, id: &str, from: usize, turns: &[Turn]) -> R<()> {
    if from >= turns.len() {
        return Ok(());
    }
    let seqs: Vec<i32> = (from..turns.len()).map(|i| i as i32).collect();
    let rows: Vec<Json<&Turn>> = turns[from..].iter().map(Json).collect();
    c.execute(
        &c.prepare_cached(
            "INSERT INTO turns (conversation_id, seq, turn)
         SELECT $1, s, t FROM unnest($2::int4[], $3::jsonb[]) AS u(s, t)
         ON CONFLICT (conversation_id, seq) DO UPDATE SET turn = EXCLUDED.turn",
        )
        .await?,
        &[&id, &seqs, &rows],
    )
    .await?;
    Ok(())
}

async fn touchpoint_by_id(c: &Object, id: &str) -> R<Option<Touchpoint>> {
    let row = c
        .query_opt(
            &c.prepare_cached(&format!(
                "SELECT {TP_COLUMNS} FROM conversations c WHERE c.id = $1"
            ))
            .await?,
            &[&id],
        )
        .await?;
    row.as_ref().map(touchpoint_of).transpose()
}

async fn open_of(c: &Object, channel: Channel, user: &str) -> R<Option<Touchpoint>> {
    let row = c
        .query_opt(
            &c.prepare_cached(&format!(
                "SELECT {TP_COLUMNS} FROM conversations c
                 WHERE c.channel = $1 AND c.user_id = $2 AND c.ended_at IS NULL
                 ORDER BY c.started_at DESC LIMIT 1"
            ))
            .await?,
            &[&channel.as_str(), &user],
        )
        .await?;
    row.as_ref().map(touchpoint_of).transpose()
}

async fn recent_contacts(c: &Object, customer_id: &str) -> R<Vec<Contact>> {
    c.query(
        &c.prepare_cached(
            "SELECT id, channel, user_id, started_at, ended_at, outcome, intents, outbox
         FROM conversations WHERE customer_id = $1
         ORDER BY started_at DESC, id DESC LIMIT $2",
        )
        .await?,
        &[&customer_id, &(super::RECENT_CONTACTS as i64)],
    )
    .await?
    .iter()
    .map(contact_of)
    .collect()
}

async fn identities_of(c: &Object, customer_id: &str) -> R<Vec<Identity>> {
    Ok(c.query(
        &c.prepare_cached("SELECT channel, user_id FROM identities WHERE customer_id = $1 ORDER BY channel, user_id").await?,
        &[&customer_id],
    )
    .await?
    .iter()
    .filter_map(|r| {
        let channel: String = r.get(0);
        Some(Identity {
            channel: Channel::parse(&channel)?,
            id: r.get(1),
        })
    })
    .collect())
}

/// Every open conversation, from its columns (no transcript read).
async fn open_conversations(c: &Object) -> R<Vec<OpenConversation>> {
    c.query(
        &c.prepare_cached(
            "SELECT id, channel, user_id, last_at, human FROM conversations WHERE ended_at IS NULL
             ORDER BY started_at, id",
        )
        .await?,
        &[],
    )
    .await?
    .iter()
    .map(|row| {
        let channel: String = row.try_get(1)?;
        Ok(OpenConversation {
            id: row.try_get(0)?,
            channel: Channel::parse(&channel).unwrap_or(Channel::Chat),
            user: row.try_get(2)?,
            last_at: Timestamp(row.try_get::<_, i64>(3)? as u64),
            human: row.try_get(4)?,
        })
    })
    .collect()
}

async fn touchpoints_where(
    c: &Object,
    condition: &str,
    params: &[&(dyn ToSql + Sync)],
) -> R<Vec<Touchpoint>> {
    c.query(
        &c.prepare_cached(&format!(
            "SELECT {TP_COLUMNS} FROM conversations c WHERE {condition} ORDER BY c.started_at, c.id"
        ))
        .await?,
        params,
    )
    .await?
    .iter()
    .map(touchpoint_of)
    .collect()
}

async fn write_changes(c: &Object, changes: &TurnCommit) -> R<()> {
    for tp in &changes.touchpoints {
        save_touchpoint(c, tp).await?;
    }
    if let Some(customer) = &changes.customer {
        put_customer(c, customer).await?;
    }
    if let Some((d, reply)) = &changes.delivery {
        c.execute(
            &c.prepare_cached(
                "INSERT INTO deliveries (source, id, at, reply) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (source, id) DO NOTHING",
            )
            .await?,
            &[&d.source, &d.id, &ms(Timestamp::now()), reply],
        )
        .await?;
    }
    Ok(())
}

/// The reply kept with a delivery already answered, if it was (empty when none was kept).
async fn replay_of(c: &Object, delivery: Option<&Delivery>) -> R<Option<String>> {
    let Some(d) = delivery else {
        return Ok(None);
    };
    let row = c
        .query_opt(
            &c.prepare_cached("SELECT reply FROM deliveries WHERE source = $1 AND id = $2")
                .await?,
            &[&d.source, &d.id],
        )
        .await?;
    Ok(row.map(|r| r.get::<_, Option<String>>(0).unwrap_or_default()))
}

impl PgStore {
    /// Every thousandth delivery remembered, forgets those older than [`DELIVERY_TTL_MS`].
    async fn prune_deliveries(&self, now: Timestamp) -> Result<(), StoreError> {
        if self.deliveries.fetch_add(1, Ordering::Relaxed) % 1000 != 999 {
            return Ok(());
        }
        let old = ms(Timestamp(now.0.saturating_sub(DELIVERY_TTL_MS)));
        self.with_retry(move |c| {
            Box::pin(async move {
                c.execute("DELETE FROM deliveries WHERE at < $1", &[&old])
                    .await?;
                Ok(())
            })
        })
        .await
    }
}

/// The statements of a merge, in the caller's transaction: the senders of both customers locked first
/// (their identities and open conversations, in key order, so that two merges never wait on each other
/// in a circle), then identities, conversations and the profile moved.
async fn merge_rows(c: &Object, from: &str, into: &str) -> R<Option<Customer>> {
    let both = [from, into];
    c.execute(
        "INSERT INTO senders (channel, user_id)
         SELECT channel, user_id FROM identities WHERE customer_id = ANY($1)
         UNION SELECT channel, user_id FROM conversations
             WHERE customer_id = ANY($1) AND ended_at IS NULL
         ORDER BY 1, 2
         ON CONFLICT (channel, user_id) DO UPDATE SET channel = EXCLUDED.channel",
        &[&&both[..]],
    )
    .await?;
    c.execute(
        "UPDATE identities SET customer_id = $2 WHERE customer_id = $1",
        &[&from, &into],
    )
    .await?;
    c.execute(
        "UPDATE conversations SET customer_id = $2,
             header = jsonb_set(header, '{customer_id}', to_jsonb($2::text))
         WHERE customer_id = $1",
        &[&from, &into],
    )
    .await?;
    let old = customer_by_id(c, from).await?;
    let mut new = customer_by_id(c, into).await?;
    if let (Some(old), Some(new)) = (old, new.as_mut()) {
        new.absorb(old);
        put_customer(c, new).await?;
    }
    c.execute("DELETE FROM customers WHERE id = $1", &[&from])
        .await?;
    Ok(new)
}

/// Deletes a link code; whom it was for, if it is there and has not expired.
async fn take_code(c: &Object, code: &str, now: Timestamp) -> R<Option<String>> {
    let row = c
        .query_opt(
            &c.prepare_cached(
                "DELETE FROM link_codes WHERE code = $1 RETURNING customer_id, expires",
            )
            .await?,
            &[&code],
        )
        .await?;
    Ok(row.and_then(|r| {
        let expires: i64 = r.get(1);
        (expires > ms(now)).then(|| r.get(0))
    }))
}

/// The connection of a held turn's transaction, for a write that is part of the turn.
fn held_client(held: &mut TurnGuard) -> Result<&Object, StoreError> {
    let guard = held.downcast_mut::<PgGuard>()?;
    guard.wrote = true;
    Ok(guard
        .client
        .as_ref()
        .expect("a held lock has its connection"))
}

/// Runs `run` inside the held transaction behind a savepoint: a failure to serialise goes back to
/// before it (the transaction keeps its lock) and is tried again; any other failure is returned.
async fn in_savepoint<'c, T, F, Fut>(c: &'c Object, name: &str, mut run: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = R<T>> + 'c,
{
    let mut attempt = 0;
    loop {
        c.batch_execute(&format!("SAVEPOINT {name}"))
            .await
            .map_err(Fail::from)?;
        match run().await {
            Ok(v) => {
                c.batch_execute(&format!("RELEASE SAVEPOINT {name}"))
                    .await
                    .map_err(Fail::from)?;
                return Ok(v);
            }
            Err(e) if e.retryable() && attempt < RETRIES => {
                attempt += 1;
                c.batch_execute(&format!("ROLLBACK TO SAVEPOINT {name}"))
                    .await
                    .map_err(Fail::from)?;
                tokio::time::sleep(backoff(attempt)).await;
            }
            Err(e) if e.retryable() => {
                return Err(StoreError::Busy(StoreError::from(e).to_string()));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

impl ProfileStore for PgStore {
    fn begin_turn<'a>(
        &'a self,
        identity: &'a Identity,
        also: Option<&'a Identity>,
        delivery: Option<&'a Delivery>,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(TurnGuard, TurnLoad), StoreError>> {
        Box::pin(async move {
            let mut attempt = 0;
            loop {
                let guard = self.locked(identity.channel, &identity.id).await?;
                let c = guard
                    .client
                    .as_ref()
                    .expect("a held lock has its connection");
                let load = async {
                    // Answered before, on any replica: the turn is not run again.
                    if let Some(replay) = replay_of(c, delivery).await? {
                        let customer = customer_by_identity(c, identity).await?.unwrap_or_default();
                        return R::Ok(TurnLoad {
                            customer: Arc::new(customer),
                            created: false,
                            open: None,
                            recent: None,
                            replay: Some(replay),
                        });
                    }
                    let (customer, created) = match customer_by_identity(c, identity).await? {
                        Some(found) => (found, false),
                        None => {
                            // A known `also` identity's lock too (a lock row names a channel id, so
                            // none is made for an unknown one): an erasure of its customer either ran
                            // before (it names nobody now) or waits for this link and takes the new
                            // identity with the others.
                            let known = match also {
                                Some(a) if customer_by_identity(c, a).await?.is_some() => {
                                    lock_sender_row(c, a).await?;
                                    let still = customer_by_identity(c, a).await?;
                                    if still.is_none() {
                                        // Erased while we waited: its lock row goes as the erasure's did.
                                        c.execute(
                                            "DELETE FROM senders WHERE channel = $1 AND user_id = $2",
                                            &[&a.channel.as_str(), &a.id],
                                        )
                                        .await?;
                                    }
                                    still
                                }
                                _ => None,
                            };
                            let (found, created) = match known {
                                Some(found) => {
                                    link(c, identity, &found.id).await?;
                                    (found, false)
                                }
                                None => resolve(c, identity, now).await?,
                            };
                            // First contact: the customer and the identity are committed now, so that
                            // what the turn asks on other connections (a merge for a link code, the
                            // identities a backend is sent) sees them; then the lock is taken again.
                            c.batch_execute("COMMIT").await?;
                            lock_sender(c, identity.channel, &identity.id).await?;
                            (found, created)
                        }
                    };
                    let open = open_of(c, identity.channel, &identity.id).await?;
                    let recent = match &open {
                        Some(tp) if !tp.turns.is_empty() => None,
                        _ => Some(Arc::new(recent_contacts(c, &customer.id).await?)),
                    };
                    R::Ok(TurnLoad {
                        customer: Arc::new(customer),
                        created,
                        open,
                        recent,
                        replay: None,
                    })
                };
                match load.await {
                    Ok(load) => return Ok((TurnGuard::new(guard), load)),
                    Err(e) if e.retryable() && attempt < RETRIES => {
                        attempt += 1;
                        drop(guard);
                        tokio::time::sleep(backoff(attempt)).await;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        })
    }

    fn lock<'a>(
        &'a self,
        channel: Channel,
        user: &'a str,
    ) -> BoxFuture<'a, Result<TurnGuard, StoreError>> {
        Box::pin(async move { Ok(TurnGuard::new(self.locked(channel, user).await?)) })
    }

    /// Writes and commits. A write that failed to serialise goes back to the savepoint set after the
    /// lock (which it keeps, so nobody wrote in between), or, when the turn already wrote in its
    /// transaction (a link code, a merge), to one set after those writes, and is tried again; a commit
    /// that fails is the turn's failure (503): the transaction is gone with its lock, and what the turn
    /// read may be stale.
    fn commit(
        &self,
        guard: TurnGuard,
        changes: TurnCommit,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut guard = guard.downcast::<PgGuard>()?;
            let delivered = changes.delivery.is_some();
            let savepoint = if guard.wrote {
                let c = guard
                    .client
                    .as_ref()
                    .expect("a held lock has its connection");
                c.batch_execute("SAVEPOINT write")
                    .await
                    .map_err(Fail::from)?;
                "ROLLBACK TO SAVEPOINT write"
            } else {
                "ROLLBACK TO SAVEPOINT turn"
            };
            let mut attempt = 0;
            loop {
                let c = guard
                    .client
                    .as_ref()
                    .expect("a held lock has its connection");
                match write_changes(c, &changes).await {
                    Ok(()) => break,
                    Err(e) if e.retryable() && attempt < RETRIES => {
                        attempt += 1;
                        c.batch_execute(savepoint).await.map_err(Fail::from)?;
                        tokio::time::sleep(backoff(attempt)).await;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let c = guard
                .client
                .as_ref()
                .expect("a held lock has its connection");
            c.batch_execute("COMMIT").await.map_err(|e| {
                let e = Fail::from(e);
                if e.retryable() {
                    StoreError::Busy(StoreError::from(e).to_string())
                } else {
                    StoreError::from(e)
                }
            })?;
            // Committed: the connection goes back to the pool as it is.
            drop(guard.client.take());
            if delivered {
                self.prune_deliveries(Timestamp::now()).await?;
            }
            Ok(())
        })
    }

    fn resolve<'a>(
        &'a self,
        identity: &'a Identity,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Customer, StoreError>> {
        Box::pin(
            self.with_retry(move |c| {
                Box::pin(async move { Ok(resolve(&c, identity, now).await?.0) })
            }),
        )
    }

    fn customer_of<'a>(
        &'a self,
        identity: &'a Identity,
    ) -> BoxFuture<'a, Result<Option<Customer>, StoreError>> {
        Box::pin(
            self.with_retry(move |c| {
                Box::pin(async move { customer_by_identity(&c, identity).await })
            }),
        )
    }

    fn customer<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Customer>, StoreError>> {
        Box::pin(self.with_retry(move |c| Box::pin(async move { customer_by_id(&c, id).await })))
    }

    fn put_customer<'a>(&'a self, customer: &'a Customer) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(
            self.with_retry(move |c| Box::pin(async move { put_customer(&c, customer).await })),
        )
    }

    fn link<'a>(
        &'a self,
        identity: &'a Identity,
        customer_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(
            self.with_retry(move |c| {
                Box::pin(async move { link(&c, identity, customer_id).await })
            }),
        )
    }

    fn identities<'a>(
        &'a self,
        customer_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Identity>, StoreError>> {
        Box::pin(
            self.with_retry(move |c| Box::pin(async move { identities_of(&c, customer_id).await })),
        )
    }

    fn open_touchpoint<'a>(
        &'a self,
        channel: Channel,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Option<Touchpoint>, StoreError>> {
        Box::pin(
            self.with_retry(move |c| Box::pin(async move { open_of(&c, channel, user).await })),
        )
    }

    fn recent_contacts<'a>(
        &'a self,
        customer_id: &'a str,
    ) -> BoxFuture<'a, Result<Contacts, StoreError>> {
        Box::pin(self.with_retry(move |c| {
            Box::pin(async move { Ok(Arc::new(recent_contacts(&c, customer_id).await?)) })
        }))
    }

    fn open_conversations(&self) -> BoxFuture<'_, Result<Vec<OpenConversation>, StoreError>> {
        Box::pin(self.with_retry(|c| Box::pin(async move { open_conversations(&c).await })))
    }

    fn handoff_touchpoints(&self) -> BoxFuture<'_, Result<Vec<Touchpoint>, StoreError>> {
        Box::pin(self.with_retry(|c| {
            Box::pin(
                async move { touchpoints_where(&c, "c.human AND c.ended_at IS NULL", &[]).await },
            )
        }))
    }

    fn touchpoint<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Touchpoint>, StoreError>> {
        Box::pin(self.with_retry(move |c| Box::pin(async move { touchpoint_by_id(&c, id).await })))
    }

    /// Keyset pages in SQL: every filter is a condition on an indexed column, the cursor a
    /// `(started_at, id)` comparison.
    fn touchpoints_between<'a>(
        &'a self,
        since: Timestamp,
        until: Timestamp,
        limit: usize,
        cursor: Option<&'a str>,
        filter: &'a ConversationFilter,
        newest_first: bool,
    ) -> BoxFuture<'a, Result<Page, StoreError>> {
        Box::pin(self.with_retry(move |c| {
            Box::pin(async move {
                if limit == 0 {
                    return Ok(Page::default());
                }
                let mut sql = format!(
                    "SELECT {TP_COLUMNS} FROM conversations c WHERE c.started_at >= $1 AND c.started_at < $2"
                );
                let since = ms(since);
                let until = ms(until);
                let channel = filter.channel.map(|ch| ch.as_str().to_string());
                let max_rating = filter.max_rating.map(i16::from);
                let intent = filter.intent.clone().map(|i| vec![i]);
                let after = cursor.and_then(parse_cursor);
                let after_at = after.as_ref().map(|(t, _)| ms(*t));
                let after_id = after.as_ref().map(|(_, id)| id.clone());
                let fetch = (limit.min(i64::MAX as usize - 1) + 1) as i64;
                let mut params: Vec<&(dyn ToSql + Sync)> = vec![&since, &until];
                let cond = |sql: &mut String, params: &Vec<&(dyn ToSql + Sync)>, text: &str| {
                    sql.push_str(&text.replace('?', &format!("${}", params.len())));
                };
                if let Some(ch) = &channel {
                    params.push(ch);
                    cond(&mut sql, &params, " AND c.channel = ?");
                }
                if let Some(i) = &intent {
                    params.push(i);
                    cond(&mut sql, &params, " AND c.intents @> ?");
                }
                if let Some(cu) = &filter.customer {
                    params.push(cu);
                    cond(&mut sql, &params, " AND c.customer_id = ?");
                }
                if let Some(r) = &max_rating {
                    params.push(r);
                    cond(&mut sql, &params, " AND c.rating <= ?");
                }
                if let Some(w) = &filter.irritant {
                    params.push(w);
                    cond(&mut sql, &params, " AND c.irritant = ?");
                }
                if let (Some(at), Some(id)) = (&after_at, &after_id) {
                    let op = if newest_first { "<" } else { ">" };
                    params.push(at);
                    cond(&mut sql, &params, &format!(" AND (c.started_at, c.id) {op} (?"));
                    params.push(id);
                    cond(&mut sql, &params, ", ?)");
                }
                let order = if newest_first { "DESC" } else { "ASC" };
                sql.push_str(&format!(" ORDER BY c.started_at {order}, c.id {order}"));
                params.push(&fetch);
                cond(&mut sql, &params, " LIMIT ?");
                let rows = c.query(&sql, &params).await?;
                let mut page = Page::default();
                for row in rows.iter().take(limit) {
                    page.items.push(touchpoint_of(row)?);
                }
                if rows.len() > limit {
                    page.next_cursor = page
                        .items
                        .last()
                        .map(|t| format!("{}.{}", t.started_at.0, t.id));
                }
                Ok(page)
            })
        }))
    }

    fn touchpoints_of<'a>(
        &'a self,
        customer_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Touchpoint>, StoreError>> {
        Box::pin(self.with_retry(move |c| {
            Box::pin(
                async move { touchpoints_where(&c, "c.customer_id = $1", &[&customer_id]).await },
            )
        }))
    }

    fn put_link_code<'a>(
        &'a self,
        code: &'a str,
        customer_id: &'a str,
        expires: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.with_retry(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO link_codes (code, customer_id, expires) VALUES ($1, $2, $3)
                     ON CONFLICT (code) DO UPDATE SET customer_id = EXCLUDED.customer_id, expires = EXCLUDED.expires",
                    &[&code, &customer_id, &ms(expires)],
                )
                .await?;
                Ok(())
            })
        }))
    }

    /// One statement deletes the code and says whom it was for: used once, whichever replica asks. With a
    /// turn's lock, in that turn's transaction: the row stays locked until it commits (another turn
    /// giving the same code waits, then finds it spent), and a turn that rolls back leaves it.
    fn take_link_code<'a>(
        &'a self,
        code: &'a str,
        now: Timestamp,
        held: Option<&'a mut TurnGuard>,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        Box::pin(async move {
            match held {
                None => {
                    self.with_retry(move |c| {
                        Box::pin(async move { take_code(&c, code, now).await })
                    })
                    .await
                }
                Some(held) => {
                    let c = held_client(held)?;
                    in_savepoint(c, "link_code", || take_code(c, code, now)).await
                }
            }
        })
    }

    /// In one transaction (the held turn's, or its own), under the row lock of every sender of both
    /// customers, taken in one statement in key order.
    fn merge<'a>(
        &'a self,
        from: &'a str,
        into: &'a str,
        held: Option<&'a mut TurnGuard>,
    ) -> BoxFuture<'a, Result<Option<Customer>, StoreError>> {
        Box::pin(async move {
            if from == into {
                return self
                    .with_retry(move |c| Box::pin(async move { customer_by_id(&c, into).await }))
                    .await;
            }
            let Some(held) = held else {
                return self
                    .with_retry(move |c| {
                        Box::pin(async move {
                            in_transaction(&c, &begin_locked(), merge_rows(&c, from, into)).await
                        })
                    })
                    .await;
            };
            // Inside the turn's transaction: a failure to serialise goes back to before the merge
            // (the turn keeps its own lock) and is tried again.
            let c = held_client(held)?;
            in_savepoint(c, "merge", || merge_rows(c, from, into)).await
        })
    }

    /// In one transaction, under the row lock of every sender the customer has: identities, profile
    /// and link codes deleted, conversations anonymised (their words emptied), the id kept as erased.
    /// Then `VACUUM` on the tables touched, so that the old row versions are reclaimed now rather than
    /// at the next autovacuum.
    fn forget<'a>(&'a self, customer_id: &'a str) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(async move {
            let n = self
                .with_retry(move |c| {
                    Box::pin(async move {
                        in_transaction(&c, &begin_locked(), async {
                            c.execute(
                                "INSERT INTO senders (channel, user_id)
                                 SELECT channel, user_id FROM identities WHERE customer_id = $1
                                 UNION SELECT channel, user_id FROM conversations WHERE customer_id = $1
                                 ON CONFLICT (channel, user_id) DO UPDATE SET channel = EXCLUDED.channel",
                                &[&customer_id],
                            )
                            .await?;
                            // The lock rows name the customer's ids on each channel (a phone number):
                            // they go too, now that every writer of hers waits behind this transaction.
                            c.execute(
                                "DELETE FROM senders WHERE (channel, user_id) IN (
                                     SELECT channel, user_id FROM identities WHERE customer_id = $1
                                     UNION SELECT channel, user_id FROM conversations WHERE customer_id = $1)",
                                &[&customer_id],
                            )
                            .await?;
                            c.execute("DELETE FROM identities WHERE customer_id = $1", &[&customer_id])
                                .await?;
                            c.execute(
                                "UPDATE turns SET turn = jsonb_set(turn, '{text}', '\"\"')
                                 WHERE conversation_id IN (SELECT id FROM conversations WHERE customer_id = $1)",
                                &[&customer_id],
                            )
                            .await?;
                            let n = c
                                .execute(
                                    "UPDATE conversations SET customer_id = $2, user_id = '',
                                         header = jsonb_set(
                                             jsonb_set(header - 'session', '{survey}',
                                                 COALESCE(header->'survey', '{}'::jsonb) - $3),
                                             '{customer_id}', to_jsonb($2::text))
                                             || jsonb_build_object('user', '', 'state', NULL)
                                     WHERE customer_id = $1",
                                    &[&customer_id, &ERASED, &crate::engine::survey::COMMENT],
                                )
                                .await?;
                            c.execute("DELETE FROM link_codes WHERE customer_id = $1", &[&customer_id])
                                .await?;
                            c.execute("DELETE FROM customers WHERE id = $1", &[&customer_id])
                                .await?;
                            c.execute(
                                "INSERT INTO erased_ids (customer_id) VALUES ($1) ON CONFLICT DO NOTHING",
                                &[&customer_id],
                            )
                            .await?;
                            R::Ok(n as usize)
                        })
                        .await
                    })
                })
                .await?;
            let client = self.pool.get().await.map_err(Fail::from)?;
            if let Err(e) = client
                .batch_execute(
                    "VACUUM customers, identities, senders, conversations, turns, link_codes",
                )
                .await
            {
                tracing::warn!(error = %e, "VACUUM after an erasure failed: autovacuum will reclaim the old rows");
            }
            Ok(n)
        })
    }

    fn split<'a>(
        &'a self,
        customer_id: &'a str,
        identity: &'a Identity,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<String, StoreError>> {
        Box::pin(self.with_retry(move |c| {
            Box::pin(async move {
                in_transaction(&c, &begin_locked(), async {
                    // The sender's lock: a turn under way on it finishes first, the next one sees
                    // the new customer.
                    lock_sender_row(&c, identity).await?;
                    let new = Customer {
                        id: local_id("cus"),
                        created_at: now,
                        ..Customer::default()
                    };
                    put_customer(&c, &new).await?;
                    link(&c, identity, &new.id).await?;
                    c.execute(
                        "UPDATE conversations SET customer_id = $4,
                             header = jsonb_set(header, '{customer_id}', to_jsonb($4::text))
                         WHERE customer_id = $1 AND channel = $2 AND user_id = $3",
                        &[
                            &customer_id,
                            &identity.channel.as_str(),
                            &identity.id,
                            &new.id,
                        ],
                    )
                    .await?;
                    R::Ok(new.id)
                })
                .await
            })
        }))
    }

    /// Retention as SQL: the words of closed conversations started before `before` are emptied.
    fn purge_transcripts(&self, before: Timestamp) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(self.with_retry(move |c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "WITH target AS (
                             SELECT DISTINCT t.conversation_id AS id FROM turns t
                             JOIN conversations c ON c.id = t.conversation_id
                             WHERE c.started_at < $1 AND c.ended_at IS NOT NULL AND t.turn->>'text' <> ''
                         ), emptied AS (
                             UPDATE turns SET turn = jsonb_set(turn, '{text}', '\"\"')
                             WHERE conversation_id IN (SELECT id FROM target) AND turn->>'text' <> ''
                         )
                         UPDATE conversations SET header = jsonb_set(header, '{survey}',
                             COALESCE(header->'survey', '{}'::jsonb) - $2)
                         WHERE id IN (SELECT id FROM target)",
                        &[&ms(before), &crate::engine::survey::COMMENT],
                    )
                    .await?;
                Ok(n as usize)
            })
        }))
    }

    fn new_id<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<String, StoreError>> {
        Box::pin(async move { Ok(local_id(prefix)) })
    }

    /// A unique key, not memory: the insert that finds the id already there is the redelivery.
    fn first_delivery<'a>(
        &'a self,
        source: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let now = Timestamp::now();
            let fresh = self
                .with_retry(move |c| {
                    Box::pin(async move {
                        let n = c
                            .execute(
                                "INSERT INTO deliveries (source, id, at) VALUES ($1, $2, $3)
                                 ON CONFLICT (source, id) DO NOTHING",
                                &[&source, &id, &ms(now)],
                            )
                            .await?;
                        Ok(n == 1)
                    })
                })
                .await?;
            self.prune_deliveries(now).await?;
            Ok(fresh)
        })
    }

    /// Every write is a committed transaction, flushed by the server before the commit returns.
    fn durable(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    fn flush_now(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Checks that the server answers again.
    fn recover(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.with_retry(|c| {
            Box::pin(async move {
                c.query_one("SELECT 1", &[]).await?;
                Ok(())
            })
        }))
    }

    fn customers_page<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Customer>, StoreError>> {
        Box::pin(self.with_retry(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT record FROM customers WHERE $1::text IS NULL OR id > $1
                         ORDER BY id LIMIT $2",
                        &[&after, &(limit.min(i64::MAX as usize) as i64)],
                    )
                    .await?;
                rows.iter()
                    .map(|r| {
                        let Json(c): Json<Customer> = r.try_get(0)?;
                        Ok(c)
                    })
                    .collect()
            })
        }))
    }

    fn erased_ids(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(self.with_retry(|c| {
            Box::pin(async move {
                Ok(c.query(
                    "SELECT customer_id FROM erased_ids ORDER BY customer_id",
                    &[],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect())
            })
        }))
    }

    /// One transaction per batch.
    fn import<'a>(&'a self, batch: &'a ImportBatch) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.with_retry(move |c| {
            Box::pin(async move {
                in_transaction(&c, "BEGIN", async {
                    for id in &batch.erased {
                        c.execute(
                            "INSERT INTO erased_ids (customer_id) VALUES ($1) ON CONFLICT DO NOTHING",
                            &[id],
                        )
                        .await?;
                    }
                    for (customer, identities) in &batch.customers {
                        put_customer(&c, customer).await?;
                        for i in identities {
                            link(&c, i, &customer.id).await?;
                        }
                    }
                    for tp in &batch.touchpoints {
                        save_touchpoint(&c, tp).await?;
                    }
                    R::Ok(())
                })
                .await
            })
        }))
    }

    fn counts(&self) -> BoxFuture<'_, Result<StoreCounts, StoreError>> {
        Box::pin(self.with_retry(|c| {
            Box::pin(async move {
                let row = c
                    .query_one(
                        "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM identities),
                                (SELECT count(*) FROM conversations), (SELECT count(*) FROM turns),
                                (SELECT count(*) FROM erased_ids)",
                        &[],
                    )
                    .await?;
                let n = |i: usize| row.get::<_, i64>(i).max(0) as u64;
                Ok(StoreCounts {
                    customers: n(0),
                    identities: n(1),
                    conversations: n(2),
                    turns: n(3),
                    erased: n(4),
                })
            })
        }))
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }
}
