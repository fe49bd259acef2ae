//! The CLI commands. `main.rs` parses arguments and calls these; they print for people and return
//! `anyhow` errors with context.
//!
//! - [`serve`]: every channel and the staff tools on one server; [`chat`]: the terminal channel;
//! - [`test`]: `parcours test`, conversation files replayed;
//! - [`customers`]: `customers import`; [`staff`]: `conversations …` and the other `customers …` commands.

pub mod chat;
pub mod customers;
pub mod serve;
pub mod staff;
pub mod test;

use crate::bot::Bot;
use crate::config::Settings;
use crate::intents::IntentPack;
use crate::store::ProfileStore;
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
}

/// Opens the store in the data directory.
pub fn open_store(data_dir: &Path) -> anyhow::Result<Arc<dyn ProfileStore>> {
    open_store_with_cache(data_dir, Settings::default().store_cache_mb)
}

/// Opens the store in the data directory, with a page cache of `cache_mb` MiB.
fn open_store_with_cache(data_dir: &Path, cache_mb: u64) -> anyhow::Result<Arc<dyn ProfileStore>> {
    let store = SledStore::open_with_cache(data_dir, cache_mb.saturating_mul(1024 * 1024))
        .with_context(|| format!("opening the store in {}", data_dir.display()))?;
    Ok(Arc::new(store))
}

/// Loads the settings, the intents and the store, and trains the bot.
pub fn load_bot(paths: &Paths) -> anyhow::Result<Bot> {
    let settings =
        Settings::load(&paths.config, paths.config_required).context("loading the settings")?;
    let pack = IntentPack::load(&paths.intents).context("loading the intents")?;
    let store = open_store_with_cache(&paths.data_dir, settings.store_cache_mb)?;
    Ok(Bot::new(pack, settings, store))
}
