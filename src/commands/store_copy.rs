//! `parcours store copy --from DIR_OR_URL --to DIR_OR_URL`: a whole store moved (sled to PostgreSQL and
//! back), in batches, with a progress bar, and the counts of both sides compared at the end.

use crate::store::{ConversationFilter, ImportBatch, ProfileStore, StoreCounts};
use crate::time::Timestamp;
use anyhow::{Context, bail};
use std::path::Path;
use std::sync::Arc;

/// Records per batch (one transaction, or one flush, each).
const BATCH: usize = 500;

/// Opens a store named by a data directory or a `postgres://` URL; a server store is migrated first
/// when it is the destination.
async fn open(location: &str, destination: bool) -> anyhow::Result<Arc<dyn ProfileStore>> {
    if crate::store::pg_store::is_url(location) {
        if destination {
            super::migrate(location).await?;
        }
        return Ok(Arc::new(super::open_postgres(location).await?));
    }
    let dir = Path::new(location);
    if !destination && !dir.exists() {
        bail!("{location}: no such data directory");
    }
    Ok(Arc::new(super::open_sled(
        dir,
        crate::store::sled_store::DEFAULT_CACHE_BYTES,
    )?))
}

/// Copies everything, then checks that the destination holds what the source does.
pub async fn run(from: &str, to: &str) -> anyhow::Result<()> {
    let source = open(from, false).await.context("the source")?;
    let target = open(to, true).await.context("the destination")?;
    let before = target.counts().await?;
    if before.customers + before.conversations > 0 {
        bail!(
            "the destination already holds {} customers and {} conversations: copy into an empty store",
            before.customers,
            before.conversations
        );
    }
    let want = source.counts().await?;
    let bar = indicatif::ProgressBar::new(want.customers + want.conversations);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} records, {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    // Erased ids first: nothing copied after them can be saved under one.
    target
        .import(&ImportBatch {
            erased: source.erased_ids().await?,
            ..ImportBatch::default()
        })
        .await?;
    let mut after: Option<String> = None;
    loop {
        let page = source.customers_page(after.as_deref(), BATCH).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        let mut batch = ImportBatch::default();
        for c in page {
            let identities = source.identities(&c.id).await?;
            batch.customers.push((c, identities));
        }
        target.import(&batch).await?;
        bar.inc(batch.customers.len() as u64);
    }
    let all = ConversationFilter::default();
    let mut cursor: Option<String> = None;
    loop {
        let page = source
            .touchpoints_between(
                Timestamp(0),
                Timestamp(u64::MAX),
                BATCH,
                cursor.as_deref(),
                &all,
                false,
            )
            .await?;
        let n = page.items.len() as u64;
        target
            .import(&ImportBatch {
                touchpoints: page.items,
                ..ImportBatch::default()
            })
            .await?;
        bar.inc(n);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    bar.finish_and_clear();
    target.flush_now().await?;
    let got = target.counts().await?;
    println!("{}", counts_line("source", &want));
    println!("{}", counts_line("copied", &got));
    if got != want {
        bail!(
            "the counts differ: the copy is incomplete (the source may have changed meanwhile: stop the server and copy again)"
        );
    }
    println!("the counts agree");
    Ok(())
}

fn counts_line(what: &str, c: &StoreCounts) -> String {
    format!(
        "{what}: {} customers, {} identities, {} conversations, {} turns, {} erased ids",
        c.customers, c.identities, c.conversations, c.turns, c.erased
    )
}
