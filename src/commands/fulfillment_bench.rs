//! `parcours fulfillment bench`: what a live lookup adds to a turn, and what a dead backend costs the
//! turns that do not need it, side by side in one run on temporary stores.
//!
//! Five runs of `turns` turns each, every turn a new conversation of a customer with orders, through
//! `Bot::handle` (NLU, engine, a durable store commit; no HTTP in front):
//! - `store`: "where is order 4567?" answered from the imported profile (no URL; the baseline);
//! - `live`: the same question answered by the reference backend on a local port (cache off, so every
//!   turn makes a signed HTTP call);
//! - `no lookup, no URL` and `no lookup, dead URL`: "what are your opening hours?", without a URL and with
//!   the default URL on a port nobody listens on;
//! - `lookup, dead URL`: the order question against that dead port: after the first failures the
//!   circuit breaker answers at once, with the honest sentence.

use crate::bot::Bot;
use crate::config::Settings;
use crate::fulfillment::demo::DemoBackend;
use crate::intents::IntentPack;
use crate::message::{Channel, Inbound};
use crate::store::sled_store::SledStore;
use crate::store::{Customer, Identity, Order, ProfileStore};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "bench-secret";

/// Turns before the measured ones, so connections and caches are warm as in a running server.
const WARM_UP: usize = 20;

/// Runs the five measurements and prints the table.
pub async fn run(intents: &Path, turns: usize, out: &mut dyn Write) -> anyhow::Result<()> {
    let pack = IntentPack::load(intents)?;
    // One customer per turn, known to the backend as to the store, so every request is the size of a
    // real one (a customer with a couple of identities, not one with thousands).
    let customers = (0..turns + WARM_UP)
        .map(|n| {
            serde_json::json!({"id": format!("cus_{n}"), "orders": [
                {"id": "4567", "status": "shipped", "eta": "2099-11-26", "carrier": "DHL"}]})
        })
        .collect();
    let backend = DemoBackend::new(customers, SECRET);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let live_url = format!("http://{}/f", listener.local_addr()?);
    tokio::spawn(backend.serve(listener));
    let dead_url = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        format!("http://{}/f", l.local_addr()?)
    };
    let base = std::env::temp_dir().join(format!("parcours-fbench-{}", std::process::id()));
    writeln!(
        out,
        "{turns} turns per run, each a new conversation (NLU, engine, durable commit), release build advised"
    )?;
    writeln!(
        out,
        "{:<24} {:>9} {:>9} {:>9} {:>9}",
        "run", "p50 µs", "p90 µs", "p99 µs", "mean µs"
    )?;
    let runs: [(&str, Option<&str>, &str); 5] = [
        ("store (baseline)", None, "where is order 4567?"),
        ("live lookup", Some(&live_url), "where is order 4567?"),
        ("no lookup, no URL", None, "what are your opening hours?"),
        (
            "no lookup, dead URL",
            Some(&dead_url),
            "what are your opening hours?",
        ),
        ("lookup, dead URL", Some(&dead_url), "where is order 4567?"),
    ];
    for (i, (name, url, text)) in runs.into_iter().enumerate() {
        let settings = Settings {
            fulfillment_url: url.map(str::to_string),
            fulfillment: crate::fulfillment::FulfillmentSettings {
                cache_ms: 0,
                ..Default::default()
            },
            ..Settings::default()
        };
        let dir = base.join(format!("run{i}"));
        let store: Arc<dyn ProfileStore> = Arc::new(SledStore::open(&dir)?);
        let mut bot = Bot::new(pack.clone(), settings, store.clone());
        if url.is_some() {
            bot = bot.with_fulfillment(SECRET.into());
        }
        let mut took = Vec::with_capacity(turns);
        for n in 0..(turns + WARM_UP) {
            let user = format!("u{n}");
            let id = format!("cus_{n}");
            store
                .put_customer(&Customer {
                    id: id.clone(),
                    orders: vec![Order {
                        id: "4567".into(),
                        status: "shipped".into(),
                        eta: Some("2099-11-26".into()),
                        ..Order::default()
                    }],
                    ..Customer::default()
                })
                .await?;
            let identity = Identity {
                channel: Channel::Chat,
                id: user.clone(),
            };
            store.link(&identity, &id).await?;
            let started = Instant::now();
            let reply = bot
                .handle(Inbound::text(Channel::Chat, &user, text))
                .await?;
            if n >= WARM_UP {
                took.push(started.elapsed());
            }
            if n == WARM_UP {
                writeln!(out, "  {name}: {}", reply.text)?;
            }
        }
        took.sort();
        let pct = |p: f64| took[((took.len() as f64 - 1.0) * p) as usize].as_micros();
        let mean = took.iter().sum::<Duration>().as_micros() / took.len().max(1) as u128;
        writeln!(
            out,
            "{:<24} {:>9} {:>9} {:>9} {:>9}",
            name,
            pct(0.5),
            pct(0.9),
            pct(0.99),
            mean
        )?;
    }
    let _ = std::fs::remove_dir_all(&base);
    Ok(())
}
