//! The integration tests: one binary, one module per capability.

mod cli;
mod conversations;
mod helpers;
mod intents;
mod store;
mod webhook_voice;
