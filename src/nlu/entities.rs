//! Entity extraction: order numbers, emails, phone numbers and dates, typed or spoken.
//!
//! Works on the normalised message, so "order four five six seven", "commande 4567" and "#4567" all give
//! the order number `4567`, and "john dot smith at example dot com" gives `john.smith@example.com`.

use super::normalize::Normalized;
use crate::intents::EntityKind;
use crate::time::Date;
use regex::Regex;
use std::sync::LazyLock;

/// A value found in a message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entity {
    pub kind: EntityKind,
    /// The canonical value: digits for order numbers, `+`/digits for phones, `YYYY-MM-DD` for dates.
    pub value: String,
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}").unwrap()
});
static SPOKEN_EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b([a-z0-9]+(?: (?:dot|point|underscore|tiret) [a-z0-9]+)*) (?:at|arobase) ([a-z0-9-]+(?: (?:dot|point) [a-z0-9-]+)+)\b").unwrap()
});
static PHONE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\+?\d[\d .-]{7,18}\d").unwrap());
static DMY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{2,4}))?\b").unwrap());
static ISO: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(\d{4})-(\d{2})-(\d{2})\b").unwrap());

/// Words that, just before a number, say it is an order number.
const ORDER_CUES: &[&str] = &[
    "order",
    "commande",
    "number",
    "numero",
    "no",
    "n",
    "ref",
    "reference",
];

/// Shortest and longest order number, in digits. Shorter numbers are quantities or days; longer ones are
/// phone or card numbers.
const ORDER_DIGITS: std::ops::RangeInclusive<usize> = 4..=9;

/// Words that name an order outright: after one of them, a number of [`NAMED_ORDER_DIGITS`] is an order
/// number even if short or long ("order 555", "commande 123456789012"), as shops number orders their way.
const ORDER_NAMES: &[&str] = &["order", "commande", "ref", "reference"];
const NAMED_ORDER_DIGITS: std::ops::RangeInclusive<usize> = 3..=12;

/// Finds every entity in a message received on `today`.
pub fn extract(n: &Normalized, today: Date) -> Vec<Entity> {
    let mut out = Vec::new();
    let mut emails = Vec::new();
    for m in EMAIL.find_iter(&n.folded) {
        emails.push(m.as_str().trim_end_matches('.').to_string());
    }
    let spaced = n.tokens.join(" ");
    if emails.is_empty() {
        for c in SPOKEN_EMAIL.captures_iter(&spaced) {
            let local = spoken_symbols(&c[1]);
            let domain = c[2].replace(" dot ", ".").replace(" point ", ".");
            emails.push(format!("{local}@{domain}"));
        }
    }
    out.extend(emails.iter().map(|e| Entity {
        kind: EntityKind::Email,
        value: e.clone(),
    }));
    // Phones: a long run of digits, with separators in the typed text or joined from spoken words.
    let mut phones: Vec<String> = Vec::new();
    // The phones as typed ("+44 7700 900999"): their pieces are no order numbers.
    let mut typed_phones: Vec<String> = Vec::new();
    let without_emails = EMAIL.replace_all(&n.folded, " ");
    for m in PHONE.find_iter(&without_emails) {
        if let Some(p) = phone(m.as_str()) {
            phones.push(p);
            typed_phones.push(m.as_str().to_string());
        }
    }
    for t in &n.tokens {
        if let Some(p) = phone(t) {
            if !phones.iter().any(|q| q.trim_start_matches('+') == p) {
                phones.push(p);
            }
        }
    }
    // Dates before order numbers, so that 12/03/2026 is not read as an order.
    let dates = dates(n, today);
    // Order numbers: a token of 4 to 9 digits; one that follows a cue word wins.
    let mut orders: Vec<(bool, String)> = Vec::new();
    for (i, t) in n.tokens.iter().enumerate() {
        let named = i > 0 && ORDER_NAMES.contains(&n.tokens[i - 1].as_str());
        let digits = if named {
            &NAMED_ORDER_DIGITS
        } else {
            &ORDER_DIGITS
        };
        if t.bytes().all(|b| b.is_ascii_digit()) && digits.contains(&t.len()) {
            let in_date = dates.iter().any(|(_, raw)| raw.contains(t.as_str()));
            // ("commande 123456789012" is named an order, however long.)
            let in_phone = !named
                && typed_phones.iter().any(|p| {
                    p.split(|c: char| !c.is_ascii_digit())
                        .any(|piece| piece == t.as_str())
                });
            // ("I've got over 2000 points", "89 euros": a quantity, unless named an order.)
            let cued = i > 0 && ORDER_CUES.contains(&n.tokens[i - 1].as_str());
            let counted = !named
                && !cued
                && n.tokens
                    .get(i + 1)
                    .is_some_and(|u| super::numbers::QUANTITY_UNITS.contains(&u.as_str()));
            if in_date || in_phone || counted || emails.iter().any(|e| e.contains(t.as_str())) {
                continue;
            }
            orders.push((cued, t.clone()));
        }
    }
    orders.sort_by_key(|(cued, _)| !cued);
    out.extend(orders.into_iter().map(|(_, value)| Entity {
        kind: EntityKind::OrderNumber,
        value,
    }));
    out.extend(phones.into_iter().map(|value| Entity {
        kind: EntityKind::Phone,
        value,
    }));
    out.extend(dates.into_iter().map(|(d, _)| Entity {
        kind: EntityKind::Date,
        value: d.to_string(),
    }));
    out
}

fn spoken_symbols(s: &str) -> String {
    s.replace(" dot ", ".")
        .replace(" point ", ".")
        .replace(" underscore ", "_")
        .replace(" tiret ", "-")
}

/// A phone number: 10 digits starting with 0 (a French or British national number) or 11 to 15 digits
/// (international), normalised to digits with a leading `+` kept.
fn phone(raw: &str) -> Option<String> {
    let plus = raw.starts_with('+');
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    let ok = match digits.len() {
        10 => digits.starts_with('0') || plus,
        11..=15 => true,
        _ => false,
    };
    ok.then(|| if plus { format!("+{digits}") } else { digits })
}

const MONTHS: &[(&str, u32)] = &[
    ("january", 1),
    ("janvier", 1),
    ("jan", 1),
    ("february", 2),
    ("fevrier", 2),
    ("feb", 2),
    ("march", 3),
    ("mars", 3),
    ("april", 4),
    ("avril", 4),
    ("apr", 4),
    ("may", 5),
    ("mai", 5),
    ("june", 6),
    ("juin", 6),
    ("july", 7),
    ("juillet", 7),
    ("august", 8),
    ("aout", 8),
    ("aug", 8),
    ("september", 9),
    ("septembre", 9),
    ("sept", 9),
    ("october", 10),
    ("octobre", 10),
    ("oct", 10),
    ("november", 11),
    ("novembre", 11),
    ("nov", 11),
    ("december", 12),
    ("decembre", 12),
    ("dec", 12),
];

const WEEKDAYS: &[(&str, u32)] = &[
    ("monday", 0),
    ("lundi", 0),
    ("tuesday", 1),
    ("mardi", 1),
    ("wednesday", 2),
    ("mercredi", 2),
    ("thursday", 3),
    ("jeudi", 3),
    ("friday", 4),
    ("vendredi", 4),
    ("saturday", 5),
    ("samedi", 5),
    ("sunday", 6),
    ("dimanche", 6),
];

fn month(w: &str) -> Option<u32> {
    MONTHS.iter().find(|(n, _)| *n == w).map(|(_, m)| *m)
}

/// Dates with the text they were read from. Day-first (`12/03` is 12 March), as in France and Britain.
fn dates(n: &Normalized, today: Date) -> Vec<(Date, String)> {
    let mut out = Vec::new();
    for c in ISO.captures_iter(&n.folded) {
        if let Some(d) = Date::new(
            c[1].parse().unwrap_or(0),
            c[2].parse().unwrap_or(0),
            c[3].parse().unwrap_or(0),
        ) {
            out.push((d, c[0].replace('-', "")));
        }
    }
    if out.is_empty() {
        for c in DMY.captures_iter(&n.folded) {
            let day: u32 = c[1].parse().unwrap_or(0);
            let mon: u32 = c[2].parse().unwrap_or(0);
            let year = match c.get(3).map(|y| y.as_str()) {
                Some(y) if y.len() == 2 => 2000 + y.parse::<i32>().unwrap_or(0),
                Some(y) => y.parse().unwrap_or(0),
                None => next_year_for(today, mon, day),
            };
            if let Some(d) = Date::new(year, mon, day) {
                out.push((d, c[0].chars().filter(char::is_ascii_digit).collect()));
            }
        }
    }
    let toks = &n.tokens;
    for (i, t) in toks.iter().enumerate() {
        let next = toks.get(i + 1).map(String::as_str);
        let prev = i.checked_sub(1).map(|p| toks[p].as_str());
        let rel = match t.as_str() {
            "today" => Some(0),
            "aujourd" if next == Some("hui") => Some(0),
            "tomorrow" => Some(1),
            "demain" if prev == Some("apres") => Some(2),
            "demain" => Some(1),
            _ => None,
        };
        if let Some(days) = rel {
            out.push((today.add_days(days), String::new()));
            continue;
        }
        if let Some((_, wd)) = WEEKDAYS.iter().find(|(n, _)| n == t) {
            let ahead = (i64::from(*wd) - i64::from(today.weekday())).rem_euclid(7);
            out.push((
                today.add_days(if ahead == 0 { 7 } else { ahead }),
                String::new(),
            ));
            continue;
        }
        // "12 march", "le 12 mars", "march 12", "march 12th".
        if let Some(m) = month(t) {
            let day_before = prev.and_then(day_number);
            let day_after = next.and_then(day_number);
            if let Some(day) = day_before.or(day_after) {
                if let Some(d) = Date::new(next_year_for(today, m, day), m, day) {
                    out.push((d, day.to_string()));
                }
            }
        }
    }
    out
}

/// "12", "12th", "1st", "1er".
fn day_number(t: &str) -> Option<u32> {
    let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let d: u32 = digits.parse().ok()?;
    (1..=31).contains(&d).then_some(d)
}

/// A day and month without a year mean the next such day.
fn next_year_for(today: Date, month: u32, day: u32) -> i32 {
    if (month, day) < (today.month, today.day) {
        today.year + 1
    } else {
        today.year
    }
}

/// Street words, after the number in French ("14 avenue Foch") and after the name in English ("12 Baker
/// Street").
const STREET_WORDS: &str = concat!(
    "street|st|road|rd|avenue|ave|lane|ln|close|drive|dr|way|place|square|court|crescent|terrace|",
    "boulevard|blvd|gardens|grove|hill|park|row|walk|mews|parade|",
    "rue|boulevard|bd|allee|allée|chemin|impasse|quai|route|cours|square|passage|place|avenue"
);

/// A number, up to four words with a street word among them, then up to five more words (the town, a
/// postcode): "14 avenue Foch", "12 Baker Street, London", "3 place Bellecour".
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)\b\d{{1,4}}(?:\s?(?:bis|ter|[a-z]))?,?\s+(?:[\p{{L}}'’.-]+\s+){{0,3}}?(?:{STREET_WORDS})\b(?:[ ,]+[\p{{L}}\d'’-]+){{0,5}}"
    ))
    .expect("address pattern compiles")
});

/// "the new address is …", "nouvelle adresse : …": what follows, to the end of the sentence.
static ADDRESS_IS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:new address is|address is now|new address:|nouvelle adresse(?: est)?\s*:?|c'est au|c’est au|send it to|deliver it to|livrez(?:-la|-le)? au|envoyez(?:-la|-le)? au)\s+([^.!?\n]{5,80})")
        .expect("address cue compiles")
});

/// Words that end what the customer said of an address ("… instead please").
static ADDRESS_TAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[\s,]+(?:instead|please|pls|thanks|thank you|thx|rather|a la place|à la place|plutot|plutôt|svp|s'il vous plait|s'il vous plaît|merci|stp|then|now|for order|pour la commande|de la commande|for my order|not|and not|pas|et pas|non pas)\b.*$")
        .expect("address tail compiles")
});

/// Postal addresses in a message, as the customer wrote them (free text: shops' order systems check them).
pub fn addresses(text: &str) -> Vec<Entity> {
    let text: String = text.chars().take(super::normalize::MAX_CHARS).collect();
    // `ADDRESS` starts with a decimal digit (`\d`, any script's): text without a numeric character
    // cannot match it, and most messages have none.
    let found = (text.chars().any(char::is_numeric))
        .then(|| ADDRESS.find(&text))
        .flatten()
        .map(|m| m.as_str().to_string())
        .or_else(|| ADDRESS_IS.captures(&text).map(|c| c[1].to_string()));
    let Some(raw) = found else {
        return Vec::new();
    };
    let value = ADDRESS_TAIL.replace(&raw, "");
    let value = value.trim().trim_end_matches([',', ' ']).to_string();
    if value.chars().filter(|c| c.is_alphabetic()).count() < 3 {
        return Vec::new();
    }
    vec![Entity {
        kind: EntityKind::Address,
        value,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_taken_as_written() {
        let a = |t: &str| addresses(t).first().map(|e| e.value.clone());
        assert_eq!(
            a("yes, send it to 14 avenue Foch instead").as_deref(),
            Some("14 avenue Foch")
        );
        assert_eq!(
            a("the new address is 12 Baker Street, London").as_deref(),
            Some("12 Baker Street, London")
        );
        // What the customer says it is not is no part of it.
        assert_eq!(
            a("no wait, its 41 avenue Foch not 14").as_deref(),
            Some("41 avenue Foch")
        );
        assert_eq!(
            a("c'est au 3 place Bellecour").as_deref(),
            Some("3 place Bellecour")
        );
        assert_eq!(a("where is order 4567"), None);
    }
    use crate::nlu::normalize::normalize;

    fn today() -> Date {
        Date::new(2026, 11, 23).unwrap() // a Monday
    }

    fn find(text: &str, kind: EntityKind) -> Vec<String> {
        extract(&normalize(text), today())
            .into_iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.value)
            .collect()
    }

    #[test]
    fn order_numbers_are_found_typed_or_spoken() {
        assert_eq!(
            find("where is order #4567?", EntityKind::OrderNumber),
            ["4567"]
        );
        assert_eq!(
            find("order four five six seven", EntityKind::OrderNumber),
            ["4567"]
        );
        assert_eq!(
            find(
                "ma commande numéro quatre-vingt-dix-sept mille",
                EntityKind::OrderNumber
            ),
            ["97000"]
        );
        assert!(find("I bought 2 shirts", EntityKind::OrderNumber).is_empty());
    }

    #[test]
    fn after_the_word_order_a_short_or_long_number_is_an_order_number() {
        for (text, want) in [
            ("where is order 555", "555"),
            ("commande 123456789012", "123456789012"),
        ] {
            assert_eq!(
                find(text, EntityKind::OrderNumber),
                [want.to_string()],
                "{text}"
            );
        }
        // Without the word, a short number is a quantity and a long one a phone number.
        assert!(find("i want 555 of them", EntityKind::OrderNumber).is_empty());
        assert!(find("call me on 0612345678", EntityKind::OrderNumber).is_empty());
    }

    #[test]
    fn a_cue_word_picks_the_order_number() {
        assert_eq!(
            find("in 2025 I placed order 88231", EntityKind::OrderNumber)[0],
            "88231"
        );
    }

    #[test]
    fn emails_are_found_typed_or_spoken() {
        assert_eq!(
            find("my email is Jane.Doe@Example.com.", EntityKind::Email),
            ["jane.doe@example.com"]
        );
        assert_eq!(
            find("john dot smith at gmail dot com", EntityKind::Email),
            ["john.smith@gmail.com"]
        );
    }

    #[test]
    fn phone_numbers_are_not_order_numbers() {
        assert_eq!(
            find("call me on 06 12 34 56 78", EntityKind::Phone),
            ["0612345678"]
        );
        assert!(find("call me on 06 12 34 56 78", EntityKind::OrderNumber).is_empty());
        assert_eq!(
            find("+44 20 7946 0958", EntityKind::Phone),
            ["+442079460958"]
        );
    }

    #[test]
    fn a_number_of_points_or_euros_is_no_order_number() {
        assert!(
            find(
                "i've got over 2000 points with you",
                EntityKind::OrderNumber
            )
            .is_empty()
        );
        assert!(find("j'ai payé 1500 euros", EntityKind::OrderNumber).is_empty());
        assert_eq!(
            find("order 3321 two weeks ago", EntityKind::OrderNumber),
            ["3321"]
        );
        assert_eq!(find("order 2000 points", EntityKind::OrderNumber), ["2000"]);
    }

    #[test]
    fn relative_and_written_dates_resolve() {
        assert_eq!(
            find("deliver it tomorrow", EntityKind::Date),
            ["2026-11-24"]
        );
        assert_eq!(find("après-demain", EntityKind::Date), ["2026-11-25"]);
        assert_eq!(find("next friday", EntityKind::Date), ["2026-11-27"]);
        assert_eq!(find("le 3 janvier", EntityKind::Date), ["2027-01-03"]);
        assert_eq!(find("on 12/12", EntityKind::Date), ["2026-12-12"]);
        assert!(find("on 31/02", EntityKind::Date).is_empty());
    }
}
