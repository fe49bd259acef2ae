//! Channels translate a platform's updates into [`crate::message::Inbound`] and render
//! [`crate::message::Reply`] back. They never decide anything: that is the engine's job.
//!
//! - [`terminal`]: `parcours chat`, a customer at a terminal.
//! - [`voice`]: the generic transcript webhook (`POST /webhook/voice`).
//! - [`ssml`]: escaping and SSML building shared by spoken channels.

pub mod ssml;
pub mod terminal;
pub mod voice;
