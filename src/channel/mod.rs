//! Channels translate a platform's updates into [`crate::message::Inbound`] and render
//! [`crate::message::Reply`] back. They never decide anything: that is the engine's job.
//!
//! - [`terminal`]: `parcours chat`, a customer at a terminal.
//! - [`voice`]: the generic transcript webhook (`POST /webhook/voice`).
//! - [`twilio`]: phone calls through Twilio (`<Gather input="speech">` callbacks in, TwiML out).
//! - [`alexa`]: an Alexa skill (`POST /webhook/alexa`).
//! - [`ssml`]: escaping and SSML building shared by spoken channels.

pub mod alexa;
pub mod ssml;
pub mod twilio;
pub mod voice;
