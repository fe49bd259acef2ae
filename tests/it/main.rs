//! The integration tests: one binary, one module per capability.

mod channels;
mod cli;
mod conversations;
mod dialogue_fixes;
mod faults;
mod fulfillment;
mod handoff;
mod helpers;
mod intents;
mod journeys;
mod replicas;
mod scenarios;
mod staff_api;
mod store;
mod store_suite;
mod survey;
mod telegram;
mod telegram_handlers;
mod webhook_alexa;
mod webhook_twilio;
mod webhook_voice;
mod xml_props;
