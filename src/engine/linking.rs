//! Joining one customer's identities across channels with a one-time code: "/link" on one channel gives six
//! digits valid ten minutes; saying or typing "my code is 123456" on another joins both. Nothing is merged on
//! unverified data: only a code the customer received on a channel they control.

use crate::nlu::normalize;
use regex::Regex;
use std::hash::{BuildHasher, Hasher};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// How long a link code stays valid, in milliseconds.
pub const CODE_TTL_MS: u64 = 10 * 60_000;

/// What a message asks about linking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkRequest {
    /// "/link": make a code for this customer.
    NewCode,
    /// "my code is 123456": join the customer who made this code.
    Code(String),
}

static COMMAND: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*/link(@\w+)?\s*$").unwrap());
/// A six-digit number after "code" (typed or spoken: the normaliser has turned number words to digits).
static CODE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bcode\b(?:\s+\w+){0,3}?\s+(\d{6})\b").unwrap());

impl LinkRequest {
    pub fn parse(text: &str) -> Option<Self> {
        Self::parse_normalised(text, &normalize::normalize(text).tokens)
    }

    /// [`LinkRequest::parse`] of a message whose words the NLU has normalised already.
    pub fn parse_normalised(text: &str, tokens: &[String]) -> Option<Self> {
        if COMMAND.is_match(text) {
            return Some(LinkRequest::NewCode);
        }
        // Most messages give no code: the regex only runs where the word is.
        if !tokens.iter().any(|t| t.contains("code")) {
            return None;
        }
        CODE.captures(&tokens.join(" "))
            .map(|c| LinkRequest::Code(c[1].to_string()))
    }
}

/// A fresh six-digit code, unpredictable to anyone else: SipHash keyed from the OS's randomness
/// (std's `RandomState`) over a process-wide counter.
pub fn new_code() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static KEYS: LazyLock<std::collections::hash_map::RandomState> =
        LazyLock::new(Default::default);
    let mut h = KEYS.build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{:06}", h.finish() % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_commands_and_codes_are_recognised_typed_or_spoken() {
        assert_eq!(LinkRequest::parse("/link"), Some(LinkRequest::NewCode));
        assert_eq!(
            LinkRequest::parse("/link@parcours_bot"),
            Some(LinkRequest::NewCode)
        );
        assert_eq!(
            LinkRequest::parse("my code is 123456"),
            Some(LinkRequest::Code("123456".into()))
        );
        assert_eq!(
            LinkRequest::parse("my code is one two three four five six"),
            Some(LinkRequest::Code("123456".into()))
        );
        assert_eq!(
            LinkRequest::parse("mon code est le 654321"),
            Some(LinkRequest::Code("654321".into()))
        );
        assert_eq!(LinkRequest::parse("where is order 123456"), None);
        assert_eq!(LinkRequest::parse("code 12345"), None);
    }

    #[test]
    fn codes_have_six_digits_and_differ() {
        let a = new_code();
        let b = new_code();
        assert_eq!(a.len(), 6);
        assert!(a.bytes().all(|c| c.is_ascii_digit()));
        assert_ne!(a, b);
    }
}
