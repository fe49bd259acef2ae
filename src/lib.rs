//! parcours: one customer-service agent for every channel, with a memory of each customer.
//!
//! # Layout
//!
//! A customer's message travels **channel → nlu → engine → store → channel**; [`bot::Bot::handle`] runs
//! that path, one function (`Bot::turn`).
//!
//! - [`message`]: the channel-neutral inbound message and reply every channel translates to and from.
//! - [`channel`]: the channels (voice webhook, Twilio, Alexa, Telegram) and the SSML they speak; the terminal
//!   channel is [`commands::chat`].
//! - [`intents`]: the intent pack loaded from `intents/` (examples, patterns, entities, answer templates).
//! - [`nlu`]: normalisation, language, entities and the intent classifier.
//! - [`engine`]: the dialogue: per-conversation state, slot filling, confirmation, fallback, handoff, the
//!   satisfaction survey, channel linking codes.
//! - [`store`]: the customer profile store (customers, identities, touchpoints) behind a trait; sled by default.
//! - [`bot`]: ties the above together for one message.
//! - [`fulfillment`]: the business's webhook for live data and actions (signed, bounded, cached), and
//!   the reference backend.
//! - [`handoff`]: the people side: who owns a conversation, the queue, staff actions, opening hours.
//! - [`metrics`]: Prometheus counters and the reply latency histogram.
//! - [`redact`]: card numbers and configured patterns removed before anything is stored.
//! - [`scenario`]: conversation tests as data (`tests/conversations/`), replayed by `parcours test`.
//! - [`report`]: the satisfaction report (NPS, resolution, irritants) by channel, intent and period; journeys.
//! - [`http`]: the HTTP server (routes, body limit, JSON errors, OpenAPI, shutdown signal).
//! - [`staff`]: the staff API and console: conversations, transcripts, customers, data rights, reports.
//! - [`commands`]: the CLI commands (`serve`, `chat`, `conversations`, `customers`; `eval` is [`eval`]).
//! - [`json`]: the JSON a turn writes every time (its transcript lines, the conversation's record, the
//!   voice reply), written by hand as serde_json writes it.
//! - [`config`]: settings and their defaults; [`time`]: timestamps and calendar dates.

// The OpenAPI document is one `json!` literal, deeper than the macro's default limit.
#![recursion_limit = "256"]

/// A hash map on a turn's path (conversation keys, customer ids, short messages): foldhash, seeded at
/// random for each map, rather than std's SipHash, whose hashing was 3% of a turn's instructions under
/// callgrind.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// A hash set on a turn's path, as [`FastMap`].
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

pub mod bot;
pub mod channel;
pub mod commands;
pub mod config;
pub mod engine;
pub mod eval;
pub mod fulfillment;
pub mod handoff;
pub mod http;
pub mod intents;
pub mod json;
pub mod message;
pub mod metrics;
pub mod nlu;
pub mod redact;
pub mod report;
pub mod scenario;
pub mod staff;
pub mod store;
pub mod time;
