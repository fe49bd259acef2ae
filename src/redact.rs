//! Redaction of what must never be stored: card numbers (a Luhn-valid run of 13 to 19 digits, spaces or
//! dashes allowed between them) and the patterns configured in `redact_patterns`. Applied to every message
//! before the NLU, the store or a log sees it.

use regex::Regex;
use std::sync::LazyLock;

/// A run that may be a card number: 13 to 19 digits, optionally grouped by spaces or dashes.
static CARD_LIKE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d(?:[ -]?\d){12,18}\b").unwrap());

/// What replaces a card number.
pub const CARD: &str = "[card number]";
/// What replaces a configured pattern.
pub const REDACTED: &str = "[redacted]";

/// Removes card numbers and configured patterns from text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    patterns: Vec<Regex>,
}

/// A configured pattern that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("redact_patterns: {pattern:?} does not compile")]
pub struct PatternError {
    pattern: String,
    source: regex::Error,
}

/// The Luhn checksum that every payment card number satisfies.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0;
    for (i, c) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

impl Redactor {
    /// A redactor for card numbers and these patterns.
    pub fn new(patterns: &[String]) -> Result<Self, PatternError> {
        let patterns = patterns
            .iter()
            .map(|p| {
                Regex::new(p).map_err(|source| PatternError {
                    pattern: p.clone(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Redactor { patterns })
    }

    /// The text with every card number and configured pattern replaced.
    pub fn redact(&self, text: &str) -> String {
        self.redact_reporting(text).0
    }

    /// [`Redactor::redact`], and whether a card number was among what it replaced (worth telling the
    /// customer; a configured pattern is replaced quietly).
    pub fn redact_reporting(&self, text: &str) -> (String, bool) {
        // A card number needs 13 digits (what `\d` takes is numeric): most messages have fewer.
        let digits = text.chars().filter(|c| c.is_numeric()).take(13).count();
        let (mut out, card) = if digits < 13 {
            (text.to_string(), false)
        } else {
            cards(text)
        };
        for p in &self.patterns {
            out = p.replace_all(&out, REDACTED).into_owned();
        }
        (out, card)
    }
}

/// The text with its card numbers replaced, and whether there was one.
fn cards(text: &str) -> (String, bool) {
    let mut card = false;
    let out = CARD_LIKE
        .replace_all(text, |c: &regex::Captures| {
            let digits: String = c[0].chars().filter(char::is_ascii_digit).collect();
            if luhn_valid(&digits) {
                card = true;
                CARD.to_string()
            } else {
                c[0].to_string()
            }
        })
        .into_owned();
    (out, card)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_luhn_valid_card_number_is_redacted_in_any_grouping() {
        let r = Redactor::default();
        assert_eq!(
            r.redact("my card is 4111 1111 1111 1111 ok"),
            "my card is [card number] ok"
        );
        assert_eq!(r.redact("4111-1111-1111-1111"), CARD);
        assert_eq!(r.redact("5500005555555559"), CARD);
    }

    #[test]
    fn skipping_the_search_below_thirteen_digits_changes_nothing() {
        let r = Redactor::default();
        let arabic_indic: String = "4111 1111 1111 1111"
            .chars()
            .map(|c| {
                c.to_digit(10)
                    .map_or(c, |d| char::from_u32(0x660 + d).unwrap())
            })
            .collect();
        for text in [
            "order 4567",
            "4111 1111 1111 111",
            "4111 1111 1111 1111",
            "call 0612345678 or 0698765432",
            arabic_indic.as_str(),
            "",
        ] {
            assert_eq!(r.redact_reporting(text), cards(text), "{text:?}");
        }
    }

    #[test]
    fn other_long_numbers_are_kept() {
        let r = Redactor::default();
        assert_eq!(r.redact("order 4567"), "order 4567");
        assert_eq!(r.redact("4111 1111 1111 1112"), "4111 1111 1111 1112");
        assert_eq!(r.redact("call 0612345678"), "call 0612345678");
    }

    #[test]
    fn configured_patterns_are_redacted_and_bad_ones_refused() {
        let r = Redactor::new(&[r"\b[A-Z]{2}\d{2}(?: ?[0-9A-Z]{1,4}){3,8}\b".into()]).unwrap();
        assert_eq!(
            r.redact("IBAN FR76 3000 6000 0112 3456 7890 189"),
            "IBAN [redacted]"
        );
        assert!(Redactor::new(&["(".into()]).is_err());
    }
}
