//! The CLI commands. `main.rs` parses arguments and calls these; they print for people and return
//! `anyhow` errors with context.
//!
//! - [`serve`]: every channel and the staff tools on one server; [`chat`]: the terminal channel;
//! - [`test`]: `parcours test`, conversation files replayed;
//! - [`customers`]: `customers import`; [`staff`]: `conversations …` and the other `customers …` commands.

pub mod chat;
pub mod customers;
pub mod fulfillment_bench;
pub mod serve;
pub mod staff;
pub mod store_copy;
pub mod test;

use crate::bot::Bot;
use crate::config::Settings;
use crate::intents::IntentPack;
use crate::store::ProfileStore;
use crate::store::pg_store::PgStore;
use crate::store::sled_store::SledStore;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the bot's files are.
#[derive(Debug, Clone)]
pub struct Paths {
    pub data_dir: PathBuf,
    pub intents: PathBuf,
    pub config: PathBuf,
    /// The config file was named on the command line, so it must exist.
    pub config_required: bool,
    /// `postgres://…` (`--store`, `PARCOURS_DATABASE_URL`): the server store instead of `data_dir`.
    pub store_url: Option<String>,
    /// Apply the server store's migrations when opening it (`serve --migrate`).
    pub migrate: bool,
}

/// Opens the store: the PostgreSQL one when a URL is given, else the embedded one in the data directory.
pub async fn open_store(paths: &Paths) -> anyhow::Result<Arc<dyn ProfileStore>> {
    open_store_with_cache(paths, Settings::default().store_cache_mb).await
}

/// Opens the store, the embedded one with a page cache of `cache_mb` MiB.
async fn open_store_with_cache(
    paths: &Paths,
    cache_mb: u64,
) -> anyhow::Result<Arc<dyn ProfileStore>> {
    if let Some(url) = &paths.store_url {
        if paths.migrate {
            migrate(url).await?;
        }
        let store = open_postgres(url).await?;
        return Ok(Arc::new(store));
    }
    let store = open_sled(&paths.data_dir, cache_mb.saturating_mul(1024 * 1024))?;
    Ok(Arc::new(store))
}

/// `parcours migrate`: applies the migrations the server store lacks, and says which.
pub async fn migrate(url: &str) -> anyhow::Result<()> {
    let shown = crate::store::pg_store::display_url(url);
    let store = PgStore::connect(url)
        .await
        .with_context(|| format!("connecting to {shown}"))?;
    let applied = store
        .migrate()
        .await
        .with_context(|| format!("migrating {shown}"))?;
    if applied.is_empty() {
        tracing::info!(store = %shown, "the schema is up to date");
    } else {
        tracing::info!(store = %shown, applied = %applied.join(", "), "migrations applied");
    }
    Ok(())
}

/// Connects to the PostgreSQL store, whose schema must be up to date (`parcours migrate`).
pub async fn open_postgres(url: &str) -> anyhow::Result<PgStore> {
    let shown = crate::store::pg_store::display_url(url);
    let store = PgStore::connect(url)
        .await
        .with_context(|| format!("connecting to the store at {shown}"))?;
    store
        .check_schema()
        .await
        .with_context(|| format!("the store at {shown}"))?;
    Ok(store)
}

/// Opens the sled store; a damaged one (sled panics on some damaged pages) is a clear error that says
/// what to do, not a crash.
pub fn open_sled(data_dir: &Path, cache_bytes: u64) -> anyhow::Result<SledStore> {
    let opened = std::panic::catch_unwind(|| SledStore::open_with_cache(data_dir, cache_bytes));
    match opened {
        Ok(store) => store.with_context(|| format!("opening the store in {}", data_dir.display())),
        Err(panic) => anyhow::bail!(
            "the store in {} is damaged ({}): run `parcours store check --data-dir {}` to see what, and restore the data directory from a backup",
            data_dir.display(),
            panic_message(&panic),
            data_dir.display()
        ),
    }
}

/// The text of a caught panic.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "the database stopped".into())
}

/// `parcours store check`: opens the store and reads everything in it; the report, and an error when
/// something is damaged.
pub fn store_check(data_dir: &Path, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let store = open_sled(data_dir, Settings::default().store_cache_mb * 1024 * 1024)?;
    let report = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.check()))
        .map_err(|p| {
            anyhow::anyhow!(
                "reading the store stopped on damaged data: {}",
                panic_message(&p)
            )
        })??;
    writeln!(
        out,
        "{}: {} customers, {} conversations, {} turns",
        store.generation_dir().display(),
        report.customers,
        report.conversations,
        report.turns
    )?;
    for d in &report.damaged {
        writeln!(out, "damaged: {d}")?;
    }
    if report.damaged.is_empty() {
        writeln!(out, "no damage found")?;
        Ok(())
    } else {
        anyhow::bail!(
            "{} damaged entries: restore the data directory from a backup, or export what is readable with `parcours customers export`",
            report.damaged.len()
        )
    }
}

/// Loads the settings, the intents and the store, and trains the bot.
pub async fn load_bot(paths: &Paths) -> anyhow::Result<Bot> {
    let settings =
        Settings::load(&paths.config, paths.config_required).context("loading the settings")?;
    let pack = IntentPack::load(&paths.intents).context("loading the intents")?;
    let mut settings = settings;
    if let Some(url) = std::env::var(crate::fulfillment::URL_ENV)
        .ok()
        .filter(|u| !u.is_empty())
    {
        settings.fulfillment_url = Some(url);
    }
    let store = open_store_with_cache(paths, settings.store_cache_mb).await?;
    let bot = Bot::new(pack, settings, store);
    if !bot.needs_fulfillment() {
        return Ok(bot);
    }
    // Every call is signed: a backend that cannot tell parcours from anyone else would act for anyone.
    let secret = std::env::var(crate::fulfillment::SECRET_ENV)
        .ok()
        .filter(|s| !s.is_empty())
        .with_context(|| {
            format!(
                "a fulfillment URL is configured but {} is not set: every call to the business is signed with it (set the same secret on the backend)",
                crate::fulfillment::SECRET_ENV
            )
        })?;
    Ok(bot.with_fulfillment(secret))
}

/// `parcours store bench`: durable turns per second on a fresh store in the temporary directory, with
/// the `fdatasync` of the journal after each group commit and without it (the journal written, not synced:
/// the baseline),
/// in the same run, for one writer and for `concurrency` writers sharing commits.
pub async fn store_bench(
    turns: usize,
    concurrency: usize,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    use crate::store::{Touchpoint, Turn};
    let base = std::env::temp_dir().join(format!("parcours-bench-{}", std::process::id()));
    writeln!(
        out,
        "{turns} durable turns (a conversation saved, then durable()), store in {}",
        base.display()
    )?;
    writeln!(out, "{:<34} {:>10} {:>12}", "", "turns/s", "µs per turn")?;
    for writers in [1, concurrency.max(1)] {
        for synced in [true, false] {
            let dir = base.join(format!("w{writers}-{synced}"));
            let store = Arc::new(SledStore::open(&dir)?);
            store.set_fdatasync(synced);
            let started = std::time::Instant::now();
            let mut tasks = Vec::new();
            for w in 0..writers {
                let store = store.clone();
                let n = turns / writers;
                tasks.push(tokio::spawn(async move {
                    for i in 0..n {
                        let at = crate::time::Timestamp::now();
                        let tp = Touchpoint {
                            turns: vec![Turn {
                                at,
                                speaker: crate::store::Speaker::Customer,
                                text: "where is my order 4567".into(),
                                intent: Some("order_status".into()),
                                confidence: Some(0.9),
                                asr_confidence: None,
                                irritants: Vec::new(),
                                author: None,
                            }],
                            intents: vec!["order_status".into()],
                            ..Touchpoint::new(
                                format!("tp_{w}_{i}"),
                                format!("cus_{w}"),
                                crate::message::Channel::Chat,
                                format!("u{w}"),
                                at,
                            )
                        };
                        store.save_touchpoint(&tp)?;
                        store.durable().await?;
                    }
                    Ok::<(), crate::store::StoreError>(())
                }));
            }
            for t in tasks {
                t.await??;
            }
            let secs = started.elapsed().as_secs_f64();
            let done = (turns / writers) * writers;
            let label = format!(
                "{writers} writer{}, {}",
                if writers == 1 { "" } else { "s" },
                if synced {
                    "fdatasync (parcours)"
                } else {
                    "written, no fdatasync"
                }
            );
            writeln!(
                out,
                "{label:<34} {:>10.0} {:>12.1}",
                done as f64 / secs,
                secs * 1e6 / done as f64
            )?;
            drop(store);
        }
    }
    let _ = std::fs::remove_dir_all(&base);
    Ok(())
}

/// `parcours demo-backend`: the reference fulfillment backend on `listen`, until stopped.
pub async fn demo_backend(listen: std::net::SocketAddr, customers: &Path) -> anyhow::Result<()> {
    let secret = std::env::var(crate::fulfillment::SECRET_ENV)
        .ok()
        .filter(|s| !s.is_empty())
        .with_context(|| {
            format!(
                "set {}: the backend refuses every request not signed with it",
                crate::fulfillment::SECRET_ENV
            )
        })?;
    let backend = crate::fulfillment::demo::DemoBackend::from_file(customers, &secret)
        .map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    println!(
        "demo backend on http://{}/ (the orders of {})",
        listener.local_addr()?,
        customers.display()
    );
    tokio::select! {
        r = backend.serve(listener) => r?,
        _ = crate::http::shutdown_signal() => {}
    }
    Ok(())
}
