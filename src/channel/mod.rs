//! Channels translate a platform's updates into [`crate::message::Inbound`] and render
//! [`crate::message::Reply`] back. They never decide anything: that is the engine's job.
//!
//! - the terminal: `parcours chat` ([`crate::commands::chat`]).
//! - [`voice`]: the generic transcript webhook (`POST /webhook/voice`).
//! - [`twilio`]: phone calls through Twilio (`<Gather input="speech">` callbacks in, TwiML out).
//! - [`alexa`]: an Alexa skill (`POST /webhook/alexa`).
//! - [`telegram`]: Telegram through teloxide (long polling or webhook).
//! - [`ssml`]: escaping and SSML building shared by spoken channels.

pub mod alexa;
pub mod ssml;
pub mod telegram;
pub mod twilio;
pub mod voice;
