//! `parcours test [DIR]`: replays the conversation files of a folder against the intents (see
//! [`crate::scenario`]) and prints what was said, what was expected and what came back.

use crate::bot::Bot;
use crate::config::Settings;
use crate::intents::IntentPack;
use crate::scenario;
use crate::store::sled_store::SledStore;
use anyhow::Context;
use std::path::Path;
use std::sync::Arc;

/// Runs the conversations of `dir`; returns whether all passed.
pub async fn run(
    dir: &Path,
    paths: &super::Paths,
    customers: Option<&Path>,
    json: bool,
    verbose: bool,
) -> anyhow::Result<bool> {
    let settings =
        Settings::load(&paths.config, paths.config_required).context("loading the settings")?;
    let pack = IntentPack::load(&paths.intents).context("loading the intents")?;
    // The bot is trained once; each conversation gets its own temporary store.
    let base = std::env::temp_dir().join(format!("parcours-test-base-{}", std::process::id()));
    let store = SledStore::open(&base).context("opening a temporary store")?;
    let bot = Bot::new(pack, settings, Arc::new(store));
    let report = scenario::run_dir(&bot, dir, customers).await;
    drop(bot);
    let _ = std::fs::remove_dir_all(&base);
    let report = report?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.human(verbose));
    }
    Ok(report.failed == 0)
}
