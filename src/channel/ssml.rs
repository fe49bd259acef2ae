//! SSML for spoken channels. Everything that reaches SSML goes through [`escape`], so a customer typing
//! `<speak>` or `&` can never break the document.

/// Escapes text for XML content and attribute values, and drops characters XML 1.0 forbids (control
/// characters other than tab, newline and carriage return, and the non-characters U+FFFE/U+FFFF).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    escape_into(&mut out, text);
    out
}

/// [`escape`], appended to `out`: the runs of characters that need nothing are copied whole.
pub fn escape_into(out: &mut String, text: &str) {
    let mut run = 0;
    for (i, c) in text.char_indices() {
        let replaced = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&apos;",
            c if is_xml_char(c) => continue,
            _ => "",
        };
        out.push_str(&text[run..i]);
        out.push_str(replaced);
        run = i + c.len_utf8();
    }
    out.push_str(&text[run..]);
}

/// Whether XML 1.0 allows this character in a document.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// A value read digit by digit: `<say-as interpret-as="digits">4567</say-as>`.
pub fn say_digits(value: &str) -> String {
    format!("<say-as interpret-as=\"digits\">{}</say-as>", escape(value))
}

/// A `YYYY-MM-DD` date read as a date: `<say-as interpret-as="date" format="ymd">2026-11-26</say-as>`
/// (Alexa, Polly through Twilio and Google all read this form).
pub fn say_date(value: &str) -> String {
    format!(
        "<say-as interpret-as=\"date\" format=\"ymd\">{}</say-as>",
        escape(value)
    )
}

/// Wraps an already-escaped body in `<speak>`.
pub fn speak(body: &str) -> String {
    // Put together by hand: `format!` took more instructions than the copy.
    let mut out = String::with_capacity(body.len() + 15);
    out.push_str("<speak>");
    out.push_str(body);
    out.push_str("</speak>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_typed_by_a_customer_is_escaped() {
        assert_eq!(
            escape("<speak>Tom & \"Jerry\"</speak>"),
            "&lt;speak&gt;Tom &amp; &quot;Jerry&quot;&lt;/speak&gt;"
        );
    }

    #[test]
    fn control_characters_are_dropped() {
        assert_eq!(escape("a\u{0}b\u{1b}c\u{FFFF}"), "abc");
    }

    /// Character by character, as the escaping was written before it copied runs whole.
    fn escaped_char_by_char(text: &str) -> String {
        let mut out = String::new();
        for c in text.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&apos;"),
                c if is_xml_char(c) => out.push(c),
                _ => {}
            }
        }
        out
    }

    #[test]
    fn runs_copied_whole_escape_as_each_character_would() {
        for text in [
            "",
            "plain",
            "é€ <x> 😀'",
            "&&",
            "a\u{1}",
            "\u{1}",
            "<",
            "ends with &",
        ] {
            assert_eq!(escape(text), escaped_char_by_char(text), "{text:?}");
        }
        let mut out = String::from("kept ");
        escape_into(&mut out, "a<b");
        assert_eq!(out, "kept a&lt;b");
    }

    proptest::proptest! {
        #[test]
        fn any_text_escapes_as_each_character_would(text in "\\PC*|[<>&'\"a\\x00-\\x1f\\u{FFFE}\\u{FFFF}é]*") {
            proptest::prop_assert_eq!(escape(&text), escaped_char_by_char(&text));
        }
    }
}
