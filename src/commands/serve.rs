//! `parcours serve`: every channel on one HTTP server, an idle-conversation sweeper, and one shutdown
//! signal that stops them all and flushes the store last.

use crate::bot::Bot;
use crate::http::{self, AppState};
use crate::time::Timestamp;
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How often idle conversations are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Serves until Ctrl-C or SIGTERM.
pub async fn run(bot: Bot, listen: SocketAddr) -> anyhow::Result<()> {
    let bot = Arc::new(bot);
    let state = AppState::from_env(bot.clone());
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
            }
        })
    };
    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(http::shutdown_signal())
        .await
        .context("serving HTTP")?;
    sweeper.abort();
    bot.store().flush_now().context("flushing the store")?;
    tracing::info!("store flushed; bye");
    Ok(())
}
