//! English and French number words to digits.
//!
//! Spoken order and phone numbers come as words ("four five six seven", "quarante-cinq soixante-sept",
//! "double two") or as digits separated by spaces ("4 5 6 7"); a run of two or more numbers is joined into
//! one digit string, since that is how people read out a number. Compounds are combined first ("forty five"
//! → 45, "quatre-vingt-dix-sept" → 97, "two hundred and five" → 205).
//! "one", "un" and "une" count only next to another number: alone they are usually an article or a pronoun.

/// What a number word is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Word {
    /// 0 to 19 (`value`); `ambiguous` for one/un/une.
    Small {
        value: u64,
        ambiguous: bool,
    },
    /// 20, 30, … 90.
    Tens(u64),
    Hundred,
    Thousand,
    /// "double" / "triple": the next digit is repeated.
    Repeat(usize),
    /// "and" / "et" inside a compound.
    Joiner,
}

fn word(w: &str) -> Option<Word> {
    let small = |value, ambiguous| Some(Word::Small { value, ambiguous });
    match w {
        "zero" | "oh" => small(0, w == "oh"),
        "one" | "un" | "une" => small(1, true),
        "two" | "deux" => small(2, false),
        "three" | "trois" => small(3, false),
        "four" | "quatre" => small(4, false),
        "five" | "cinq" => small(5, false),
        "six" => small(6, false),
        "seven" | "sept" => small(7, false),
        "eight" | "huit" => small(8, false),
        "nine" | "neuf" => small(9, false),
        "ten" | "dix" => small(10, false),
        "eleven" | "onze" => small(11, false),
        "twelve" | "douze" => small(12, false),
        "thirteen" | "treize" => small(13, false),
        "fourteen" | "quatorze" => small(14, false),
        "fifteen" | "quinze" => small(15, false),
        "sixteen" | "seize" => small(16, false),
        "seventeen" => small(17, false),
        "eighteen" => small(18, false),
        "nineteen" => small(19, false),
        "twenty" | "vingt" | "vingts" => Some(Word::Tens(20)),
        "thirty" | "trente" => Some(Word::Tens(30)),
        "forty" | "quarante" => Some(Word::Tens(40)),
        "fifty" | "cinquante" => Some(Word::Tens(50)),
        "sixty" | "soixante" => Some(Word::Tens(60)),
        "seventy" | "septante" => Some(Word::Tens(70)),
        "eighty" | "huitante" | "octante" => Some(Word::Tens(80)),
        "ninety" | "nonante" => Some(Word::Tens(90)),
        "hundred" | "cent" | "cents" => Some(Word::Hundred),
        "thousand" | "mille" => Some(Word::Thousand),
        "double" => Some(Word::Repeat(2)),
        "triple" => Some(Word::Repeat(3)),
        "and" | "et" => Some(Word::Joiner),
        _ => None,
    }
}

/// Words after which "one" stands for a thing, not a number: "the second one", "which one".
const ONE_AS_PRONOUN_AFTER: &[&str] = &[
    "the", "that", "this", "which", "other", "another", "first", "second", "third", "last", "new",
    "old", "same", "right", "wrong", "each", "every", "any", "no", "next", "previous", "big",
    "small", "red", "blue", "black", "white", "little",
];

/// Words that, just after a number, say it counts something: "2000 points", "89 euros", "3 weeks".
pub(super) const QUANTITY_UNITS: &[&str] = &[
    "points", "point", "pts", "euros", "euro", "eur", "dollars", "dollar", "usd", "pounds",
    "pound", "gbp", "quid", "items", "item", "pieces", "articles", "article", "days", "day",
    "weeks", "week", "months", "month", "years", "year", "hours", "hour", "minutes", "minute",
    "times", "km", "miles", "kg", "jours", "jour", "semaines", "semaine", "mois", "ans", "annees",
    "heures", "heure", "fois",
];

fn is_digits(t: &str) -> bool {
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
}

/// A number being built from words: the thousands already complete, and the part under a thousand.
#[derive(Debug, Clone, Copy, Default)]
struct Compound {
    thousands: u64,
    low: u64,
    /// How much may still be added to `low`: 10 after "forty", 20 after "soixante", 100 after "hundred",
    /// 1000 after "thousand", 0 once complete.
    room: u64,
}

impl Compound {
    fn value(self) -> u64 {
        self.thousands.saturating_add(self.low)
    }
}

/// Replaces number words by digits and joins runs of numbers (see the module docs).
pub fn words_to_digits(tokens: &[String]) -> Vec<String> {
    // A transcript's homophones inside a number read digit by digit are digits: "five five to one" is
    // 5521, "two for six seven" 2467 (a digit on one side, two on the other: "from one to five" and
    // "seven to eight" stay as they are).
    let spoken = |i: usize| {
        tokens
            .get(i)
            .is_some_and(|t| matches!(word(t), Some(Word::Small { .. })))
    };
    let homophone = |i: usize| -> Option<&'static str> {
        let digit = match tokens[i].as_str() {
            "to" | "too" => "two",
            "for" => "four",
            _ => return None,
        };
        let before = i >= 1 && spoken(i - 1);
        let two_before = i >= 2 && spoken(i - 2) && before;
        let three_before = i >= 3 && spoken(i - 3) && two_before;
        let after = spoken(i + 1);
        let two_after = after && spoken(i + 2);
        let three_after = two_after && spoken(i + 3);
        // "status of for five six seven", "order nine zero one to": at the start or the end of a
        // number, three spoken digits on the other side make it one.
        // Only where nothing else reads: "for" before digits is a preposition ("the status for five
        // five two one", "send it to one two three four") unless a word that takes no "for" comes
        // before it ("the status of for five six seven"); after digits, only at the message's end
        // ("exchange one two three four for a bigger size").
        let three_after = three_after
            && digit == "four"
            && (i == 0 || matches!(tokens[i - 1].as_str(), "of" | "is" | "number" | "de"));
        let three_before = three_before && i + 1 == tokens.len();
        ((two_before && after) || (before && two_after) || three_after || three_before)
            .then_some(digit)
    };
    let heard: Vec<String>;
    let tokens = if (0..tokens.len()).any(|i| homophone(i).is_some()) {
        heard = (0..tokens.len())
            .map(|i| homophone(i).map_or_else(|| tokens[i].clone(), str::to_string))
            .collect();
        &heard
    } else {
        tokens
    };
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let starts_run =
            is_digits(&tokens[i]) || matches!(word(&tokens[i]), Some(w) if w != Word::Joiner);
        // "the second one, 5521", "that one": "one" after an ordinal or a determiner is a pronoun.
        let pronoun =
            tokens[i] == "one" && i > 0 && ONE_AS_PRONOUN_AFTER.contains(&tokens[i - 1].as_str());
        if !starts_run || pronoun {
            out.push(tokens[i].clone());
            i += 1;
            continue;
        }
        let mut j = i;
        while j < tokens.len() && (is_digits(&tokens[j]) || word(&tokens[j]).is_some()) {
            // "the 4567 one", "la 88231 un truc comme ça": "one" after a number typed whole is a
            // pronoun or an article, not its last digit.
            let after_whole = j > i && is_digits(&tokens[j - 1]) && tokens[j - 1].len() >= 3;
            if after_whole && matches!(tokens[j].as_str(), "one" | "un" | "une") {
                break;
            }
            // "order 3321 two weeks ago", "cancel 5521 two of the items": a number typed whole is
            // not read on into the words after it, nor are words read on into one ("two 4567s").
            let whole = |t: &String| is_digits(t) && t.len() >= 3;
            let said = |t: &String| !is_digits(t) && word(t) != Some(Word::Joiner);
            if (after_whole && said(&tokens[j]))
                || (whole(&tokens[j]) && tokens[i..j].iter().any(said))
            {
                break;
            }
            j += 1;
        }
        // A trailing joiner ("… and") is not part of the number.
        while j > i && word(&tokens[j - 1]) == Some(Word::Joiner) {
            j -= 1;
        }
        // "order four five six seven two weeks ago": a digit read out after others, just before what
        // it counts, is the quantity, not the number's last digit ("twenty five euros" is 25).
        // (Only in a run of single digits, four at least left: "soixante-dix-sept euros" is 77, and
        // "five five two one items" keeps its four digits.)
        let digit = |t: &String| matches!(word(t), Some(Word::Small { value, .. }) if value <= 9);
        if j >= i + 5
            && tokens[i..j].iter().all(digit)
            && tokens
                .get(j)
                .is_some_and(|u| QUANTITY_UNITS.contains(&u.as_str()))
        {
            j -= 1;
        }
        match parse_run(&tokens[i..j]) {
            Some(numbers) => out.extend(numbers),
            None => out.extend(tokens[i..j].iter().cloned()),
        }
        i = j.max(i + 1);
    }
    out
}

/// Turns one run of number tokens into digit strings; `None` when it is not a number after all ("one", "oh").
fn parse_run(run: &[String]) -> Option<Vec<String>> {
    // Two numbers typed whole ("4567 and 5521", "4567, 5521") are two numbers, and so is a number
    // typed whole beside a shorter one ("5521, 89,90 euros"): a number read out in pieces comes in
    // groups shorter than that, or in words.
    let whole = run.iter().filter(|t| is_digits(t) && t.len() >= 4).count();
    let numbers = run.iter().filter(|t| is_digits(t)).count();
    if whole >= 1
        && numbers >= 2
        && run
            .iter()
            .all(|t| is_digits(t) || word(t) == Some(Word::Joiner))
    {
        return None;
    }
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<Compound> = None;
    let mut repeat = 1;
    let mut words_only_ambiguous = true;
    let flush = |cur: &mut Option<Compound>, parts: &mut Vec<String>| {
        if let Some(c) = cur.take() {
            parts.push(c.value().to_string());
        }
    };
    let start = |low, room| {
        Some(Compound {
            thousands: 0,
            low,
            room,
        })
    };
    for t in run {
        if is_digits(t) {
            flush(&mut cur, &mut parts);
            words_only_ambiguous = false;
            parts.push(t.repeat(repeat));
            repeat = 1;
            continue;
        }
        let Some(w) = word(t) else { continue };
        match w {
            Word::Joiner => {}
            Word::Repeat(n) => {
                flush(&mut cur, &mut parts);
                repeat = n;
            }
            Word::Small { value, ambiguous } => {
                if !ambiguous {
                    words_only_ambiguous = false;
                }
                if repeat > 1 {
                    flush(&mut cur, &mut parts);
                    parts.push(value.to_string().repeat(repeat));
                    repeat = 1;
                    continue;
                }
                match cur {
                    Some(c) if c.room > value && value > 0 => {
                        cur = Some(Compound {
                            low: c.low + value,
                            room: if c.room == 20 && value == 10 { 10 } else { 0 },
                            ..c
                        });
                    }
                    // "dix-sept", "dix-huit", "dix-neuf" (also after "cent" or "mille").
                    Some(c) if c.low % 100 == 10 && c.room == 0 && (7..=9).contains(&value) => {
                        cur = Some(Compound {
                            low: c.low + value,
                            ..c
                        });
                    }
                    _ => {
                        flush(&mut cur, &mut parts);
                        cur = start(value, 0);
                    }
                }
            }
            Word::Tens(t) => {
                words_only_ambiguous = false;
                let room = if t == 60 { 20 } else { 10 };
                match cur {
                    // "quatre-vingt(s)" is 80, and leaves room for up to 19 ("cent quatre-vingt" too).
                    Some(c) if c.low % 100 == 4 && c.room == 0 && t == 20 => {
                        cur = Some(Compound {
                            low: c.low + 76,
                            room: 20,
                            ..c
                        })
                    }
                    Some(c) if c.room >= 100 => {
                        cur = Some(Compound {
                            low: c.low + t,
                            room,
                            ..c
                        })
                    }
                    _ => {
                        flush(&mut cur, &mut parts);
                        cur = start(t, room);
                    }
                }
            }
            Word::Hundred => {
                words_only_ambiguous = false;
                cur = match cur {
                    // "two hundred", "one thousand two hundred", "twelve hundred", "mille cent".
                    Some(c) if c.low < 10 || (c.thousands == 0 && c.low < 100) => Some(Compound {
                        low: c.low.max(1) * 100,
                        room: 100,
                        ..c
                    }),
                    _ => {
                        flush(&mut cur, &mut parts);
                        start(100, 100)
                    }
                };
            }
            Word::Thousand => {
                words_only_ambiguous = false;
                let base = match cur {
                    Some(c) if c.thousands == 0 => c.low.max(1),
                    _ => {
                        flush(&mut cur, &mut parts);
                        1
                    }
                };
                cur = Some(Compound {
                    thousands: base.saturating_mul(1000),
                    low: 0,
                    room: 1000,
                });
            }
        }
    }
    flush(&mut cur, &mut parts);
    if parts.is_empty() || (words_only_ambiguous && parts.len() == 1) {
        return None;
    }
    if parts.len() == 1 {
        return Some(parts);
    }
    Some(vec![parts.concat()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(s: &str) -> String {
        let toks: Vec<String> = s.split_whitespace().map(str::to_string).collect();
        words_to_digits(&toks).join(" ")
    }

    #[test]
    fn digit_by_digit_numbers_are_joined() {
        assert_eq!(
            conv("order four five six seven please"),
            "order 4567 please"
        );
        assert_eq!(conv("commande quatre cinq six sept"), "commande 4567");
        assert_eq!(conv("4 5 6 7"), "4567");
        assert_eq!(conv("zero six double two"), "0622");
        assert_eq!(conv("cancel order five five to one"), "cancel order 5521");
        assert_eq!(conv("two for six seven"), "2467");
        assert_eq!(conv("i want to return it"), "i want to return it");
        assert!(!conv("from one to five").contains("125"));
        assert!(!conv("seven to eight").contains("728"));
        assert_eq!(conv("the 4567 one"), "the 4567 one");
        assert_eq!(
            conv("la 88231 un truc comme ca"),
            "la 88231 un truc comme ca"
        );
        // Two numbers typed whole stay two.
        assert_eq!(conv("where are 4567 and 5521"), "where are 4567 and 5521");
        assert_eq!(conv("4567 5521"), "4567 5521");
        assert_eq!(conv("06 12 34 56 78"), "0612345678");
        // A number typed whole is not read on into the words after it, nor they into it.
        assert_eq!(
            conv("i sent back order 3321 two weeks ago"),
            "i sent back order 3321 2 weeks ago"
        );
        assert_eq!(conv("cancel 5521 two of them"), "cancel 5521 2 of them");
        assert_eq!(conv("two 4567"), "2 4567");
        // A digit read out just before what it counts is the quantity.
        assert_eq!(
            conv("order four five six seven two weeks ago"),
            "order 4567 2 weeks ago"
        );
        assert_eq!(conv("twenty five euros"), "25 euros");
        assert_eq!(conv("five five two one"), "5521");
    }

    #[test]
    fn compounds_are_added_up() {
        assert_eq!(conv("forty five sixty seven"), "4567");
        assert_eq!(conv("two hundred and five"), "205");
        assert_eq!(conv("quatre vingt dix sept"), "97");
        assert_eq!(conv("soixante et onze"), "71");
        assert_eq!(conv("vingt et un"), "21");
        assert_eq!(conv("dix sept"), "17");
        assert_eq!(conv("three thousand"), "3000");
        assert_eq!(conv("one thousand two hundred thirty four"), "1234");
        assert_eq!(conv("four thousand five hundred and sixty seven"), "4567");
        assert_eq!(conv("twelve hundred thirty four"), "1234");
        assert_eq!(conv("forty five hundred"), "4500");
        assert_eq!(conv("two thousand and five"), "2005");
        assert_eq!(conv("quatre mille cinq cent soixante sept"), "4567");
        assert_eq!(conv("mille deux cent trente quatre"), "1234");
        assert_eq!(conv("cent quatre vingt dix sept"), "197");
        assert_eq!(conv("mille cent dix sept"), "1117");
        assert_eq!(conv("deux cent mille"), "200000");
        assert_eq!(conv("nine"), "9");
        assert_eq!(conv("neuf"), "9");
    }

    #[test]
    fn one_after_an_ordinal_is_a_pronoun() {
        assert_eq!(
            conv("what about my second one 5521"),
            "what about my second one 5521"
        );
        assert_eq!(conv("that one please"), "that one please");
        assert_eq!(conv("order one two three four"), "order 1234");
    }

    #[test]
    fn a_lone_article_stays_a_word() {
        assert_eq!(conv("j ai un probleme"), "j ai un probleme");
        assert_eq!(conv("this one and that"), "this one and that");
        assert_eq!(conv("oh no"), "oh no");
        assert_eq!(conv("un deux trois"), "123");
    }
}

#[cfg(test)]
mod robustness {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_tower_of_thousands_does_not_overflow() {
        let toks: Vec<String> = "thousand "
            .repeat(12)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let out = words_to_digits(&toks);
        assert_eq!(out.len(), 1);
    }

    proptest! {
        #[test]
        fn any_mix_of_number_words_is_handled(words in prop::collection::vec(
            prop::sample::select(vec!["one", "two", "twenty", "hundred", "thousand", "and", "double", "quatre",
                "vingt", "dix", "et", "mille", "cent", "oh", "999999999999", "7", "x"]), 0..40)) {
            let toks: Vec<String> = words.iter().map(|w| w.to_string()).collect();
            let _ = words_to_digits(&toks);
        }

        #[test]
        fn any_text_goes_through_the_nlu_pipeline(text in "\\PC{0,200}") {
            let n = crate::nlu::normalize::normalize(&text);
            let _ = crate::nlu::entities::extract(&n, crate::time::Date::new(2026, 11, 23).unwrap());
            let _ = crate::engine::survey::Rating::parse(&text);
            let _ = crate::engine::linking::LinkRequest::parse(&text);
            let _ = crate::redact::Redactor::default().redact(&text);
        }
    }
}
