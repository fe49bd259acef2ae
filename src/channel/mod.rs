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

/// Caller ids that name nobody: a withheld, private or unknown number, as phone systems report them
/// (Twilio's placeholders included: +266696687 anonymous, +86282452253 unavailable, +7378742833
/// restricted, +2562533 blocked).
const WITHHELD: &[&str] = &[
    "anonymous",
    "restricted",
    "private",
    "unknown",
    "unavailable",
    "withheld",
    "blocked",
    "+266696687",
    "+86282452253",
    "+7378742833",
    "+2562533",
];

/// The identity a spoken call is kept under: the caller id, unless it names nobody, in which case the
/// call itself (each withheld call is a customer of its own: no shared history, no "you called earlier"
/// about somebody else, no two calls resetting each other).
pub fn caller_identity(caller: &str, call: &str) -> String {
    let c = caller.trim().to_ascii_lowercase();
    if c.is_empty() || WITHHELD.contains(&c.as_str()) || c.starts_with("sip:anonymous@") {
        format!("withheld:{call}")
    } else {
        caller.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::caller_identity;

    #[test]
    fn a_withheld_caller_id_is_one_call_not_one_customer() {
        assert_eq!(caller_identity("anonymous", "CA1"), "withheld:CA1");
        assert_eq!(caller_identity("+266696687", "CA2"), "withheld:CA2");
        assert_eq!(caller_identity("Restricted", "CA3"), "withheld:CA3");
        assert_eq!(caller_identity("+33612345678", "CA4"), "+33612345678");
    }
}
