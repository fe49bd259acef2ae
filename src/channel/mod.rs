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
/// about somebody else, no two calls resetting each other). A number many people call from (a
/// switchboard, `shared_caller_ids` in the settings) is no one customer either, nor is a number the
/// carrier could not verify (STIR/SHAKEN failed: it may be spoofed, and must not open someone's
/// profile): each such call is its own.
pub fn caller_identity(caller: &str, call: &str, shared: &[String], unverified: bool) -> String {
    let c = caller.trim().to_ascii_lowercase();
    if c.is_empty() || WITHHELD.contains(&c.as_str()) || c.starts_with("sip:anonymous@") {
        format!("withheld:{call}")
    } else if shared
        .iter()
        .any(|s| s.trim().eq_ignore_ascii_case(caller.trim()))
    {
        format!("shared:{call}")
    } else if unverified {
        format!("unverified:{call}")
    } else {
        caller.to_string()
    }
}

/// Whether Twilio's `StirVerstat` says the caller id failed verification (absent: nothing is known).
pub fn stir_failed(verstat: Option<&str>) -> bool {
    verstat.is_some_and(|v| {
        let v = v.to_ascii_lowercase();
        v.contains("failed") || v == "no-tn-validation"
    })
}

#[cfg(test)]
mod tests {
    use super::caller_identity;

    #[test]
    fn a_withheld_caller_id_is_one_call_not_one_customer() {
        assert_eq!(
            caller_identity("anonymous", "CA1", &[], false),
            "withheld:CA1"
        );
        assert_eq!(
            caller_identity("+266696687", "CA2", &[], false),
            "withheld:CA2"
        );
        assert_eq!(
            caller_identity("Restricted", "CA3", &[], false),
            "withheld:CA3"
        );
        assert_eq!(
            caller_identity("+33612345678", "CA4", &[], false),
            "+33612345678"
        );
    }

    #[test]
    fn a_shared_or_unverified_caller_id_is_one_call_not_one_customer() {
        let shared = vec!["+33100000000".to_string()];
        assert_eq!(
            caller_identity("+33100000000", "CA5", &shared, false),
            "shared:CA5"
        );
        assert_eq!(
            caller_identity("+33612345678", "CA6", &shared, true),
            "unverified:CA6"
        );
        assert_eq!(
            caller_identity("+33612345678", "CA7", &shared, false),
            "+33612345678"
        );
        assert!(super::stir_failed(Some("TN-Validation-Failed-A")));
        assert!(super::stir_failed(Some("No-TN-Validation")));
        assert!(!super::stir_failed(Some("TN-Validation-Passed-A")));
        assert!(!super::stir_failed(None));
    }
}
