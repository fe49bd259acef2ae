//! `parcours serve`: every channel on one HTTP server, an idle-conversation sweeper, and one shutdown
//! signal that stops them all and flushes the store last.

use crate::bot::Bot;
use crate::channel::telegram::{self, Telegram};
use crate::http::{self, AppState};
use crate::time::Timestamp;
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How often idle conversations are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// How often the queue is tended (position news, conversations nobody claimed in time).
const TEND_EVERY: Duration = Duration::from_secs(15);

/// How often the store is checked for an erasure to compact away.
const COMPACT_EVERY: Duration = Duration::from_secs(30);

/// How often a store that failed to write is reopened.
const HEAL_EVERY: Duration = Duration::from_secs(3);

/// Serves until Ctrl-C or SIGTERM.
pub async fn run(bot: Bot, listen: SocketAddr, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let bot = Arc::new(bot);
    let mut state = AppState::from_env(bot.clone());
    // One shutdown signal for every part: the HTTP server, Telegram polling, the sweeper.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    {
        let bot = bot.clone();
        tokio::spawn(async move {
            http::shutdown_signal().await;
            // Event streams never finish on their own: end them so the graceful shutdown need not wait.
            bot.desk().close_streams();
            let _ = stop.send(true);
        });
    }
    let mut polling = None;
    if let Some(telegram) = Telegram::from_env(bot.clone()).map(Arc::new) {
        telegram.register_commands();
        // Staff replies and queue news reach Telegram customers at once.
        bot.desk()
            .set_outlet(crate::message::Channel::Telegram, telegram.clone());
        match &state.public_url {
            Some(base) => {
                let token = std::env::var("TELOXIDE_TOKEN").unwrap_or_default();
                let secret = telegram::webhook_secret(&token);
                let url = format!("{base}/webhook/telegram");
                if let Err(e) = telegram.set_webhook(&url, &secret).await {
                    tracing::error!(error = %e, "setWebhook failed; Telegram updates will not arrive until it succeeds");
                }
                tracing::info!("Telegram in webhook mode");
                state.telegram = Some((telegram, secret.into()));
            }
            None => {
                tracing::info!("Telegram in long-polling mode");
                if bot.store().kind() != "sled" {
                    // Telegram hands each update to one getUpdates caller: two polling replicas
                    // steal each other's updates (409 Conflict). Webhook mode spreads them instead.
                    tracing::warn!(
                        "Telegram long-polling on a shared store: run one polling replica, or set PARCOURS_PUBLIC_URL for webhook mode on several"
                    );
                }
                polling = Some(tokio::spawn(telegram.poll(stopped.clone())));
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "parcours listening");
    println!("parcours listening on http://{addr}");

    let sweeper = {
        let bot = bot.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            loop {
                tick.tick().await;
                match bot.close_idle(Timestamp::now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(closed = n, "idle conversations closed"),
                    Err(e) => tracing::error!(error = %e, "idle sweep failed"),
                }
                match bot.apply_retention(Timestamp::now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "transcripts past retention purged"),
                    Err(e) => tracing::error!(error = %e, "retention sweep failed"),
                }
            }
        })
    };
    let tender = {
        let bot = bot.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TEND_EVERY);
            loop {
                tick.tick().await;
                if let Err(e) = bot.tend_queue(Timestamp::now()).await {
                    tracing::error!(error = %e, "tending the queue failed");
                }
            }
        })
    };
    crate::handoff::spawn_webhook(
        &bot,
        std::env::var(crate::handoff::WEBHOOK_SECRET_ENV)
            .ok()
            .filter(|s| !s.is_empty()),
    );
    // Erased bytes leave the files within a minute or so: the store is rewritten without them.
    let compactor = {
        let bot = bot.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(COMPACT_EVERY);
            loop {
                tick.tick().await;
                if !bot.store().needs_compaction() {
                    continue;
                }
                let store = bot.store().clone();
                let rt = tokio::runtime::Handle::current();
                // sled compacts synchronously, holding the store: off the runtime's workers.
                match tokio::task::spawn_blocking(move || rt.block_on(store.compact())).await {
                    Ok(Ok(())) => tracing::info!("store compacted after an erasure"),
                    Ok(Err(e)) => tracing::error!(error = %e, "compaction after an erasure failed"),
                    Err(e) => tracing::error!(error = %e, "compaction task failed"),
                }
            }
        })
    };
    // After a failed write (a full disk), the store is reopened every few seconds until a write goes
    // through again; meanwhile /healthz and every turn say 503.
    let healer = {
        let bot = bot.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEAL_EVERY);
            let mut attempts = 0u64;
            loop {
                tick.tick().await;
                if bot.store().healthy() {
                    attempts = 0;
                    continue;
                }
                attempts += 1;
                let store = bot.store().clone();
                let rt = tokio::runtime::Handle::current();
                match tokio::task::spawn_blocking(move || rt.block_on(store.recover())).await {
                    Ok(Ok(())) => tracing::warn!("the store can write again"),
                    Ok(Err(e)) if attempts.is_power_of_two() => {
                        tracing::error!(error = %e, attempts, "the store still cannot write")
                    }
                    _ => {}
                }
            }
        })
    };
    let limits = http::server::Limits {
        max_connections: http::server::connection_cap(bot.settings().max_connections),
        ..http::server::Limits::default()
    };
    http::server::serve(listener, http::router(state), stopped.clone(), limits)
        .await
        .context("serving HTTP")?;
    sweeper.abort();
    let _ = sweeper.await;
    tender.abort();
    let _ = tender.await;
    compactor.abort();
    let _ = compactor.await;
    healer.abort();
    let _ = healer.await;
    if let Some(p) = polling {
        let _ = p.await;
    }
    bot.store()
        .flush_now()
        .await
        .context("flushing the store")?;
    tracing::info!("store flushed");
    // Erased customers must leave no trace in the files: rewrite the store now that nothing writes any more.
    if bot.store().needs_compaction() {
        match bot.store().compact().await {
            Ok(()) => tracing::info!(dir = %data_dir.display(), "store compacted after erasures"),
            Err(e) => {
                tracing::error!(error = %e, "compaction failed; `parcours customers forget` compacts too")
            }
        }
    }
    Ok(())
}
