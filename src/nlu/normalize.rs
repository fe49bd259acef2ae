//! Text normalisation shared by training and prediction, so that both see the same words.
//!
//! `"Où est ma Commande n°4567 ?"` → folded `"ou est ma commande n°4567 ?"` → tokens
//! `["ou", "est", "ma", "commande", "n", "4567"]`. Number words become digits (see [`super::numbers`]).

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use super::numbers;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// A message after normalisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// NFKC, lower case, accents removed, punctuation kept (for emails, dates and phone numbers).
    pub folded: String,
    /// Words and numbers: letters and digits only, number words turned into digits, spoken digit runs joined.
    pub tokens: Vec<String>,
}

/// Longest message the NLU looks at, in characters; the rest is ignored. Customers do not write essays to a
/// bot, and this bounds the work a hostile message can cause.
pub const MAX_CHARS: usize = 2_000;

/// NFKC, lower case, accents and other combining marks removed, typographic apostrophes made plain.
pub fn fold(text: &str) -> String {
    // Plain ASCII (most messages): every normal form is the text itself, and nothing is a mark.
    if text.is_ascii() {
        let mut out = text[..text.len().min(MAX_CHARS)].to_ascii_lowercase();
        if out.contains('`') {
            out = out.replace('`', "'");
        }
        return out;
    }
    fold_unicode(text)
}

/// [`fold`] through the Unicode normal forms, whatever the text.
fn fold_unicode(text: &str) -> String {
    // A thumbs up is a yes, a thumbs down a no: the only pictures that answer a question.
    let mut said = String::with_capacity(text.len());
    for c in text.chars().take(MAX_CHARS) {
        match c {
            '\u{1f44d}' | '\u{1f44c}' | '\u{2705}' | '\u{2714}' => said.push_str(" ok "),
            '\u{1f44e}' | '\u{274c}' => said.push_str(" no "),
            c => said.push(c),
        }
    }
    let nfkc: String = said.chars().nfkc().collect();
    nfkc.to_lowercase()
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            '\u{2019}' | '\u{2018}' | '`' | '\u{b4}' => '\'',
            c => c,
        })
        .collect::<String>()
        .nfc()
        .collect()
}

/// A markup tag: `<speak>`, `</b>`, `<br/>`, `<a href="…">`. Not `< 50`, not `<jo@example.com>`.
static TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"</?[A-Za-z][A-Za-z0-9:_-]*(?:\s[^<>]*)?/?>").expect("tag pattern compiles")
});

/// The text without the markup tags a customer pasted or a platform left in (`<speak>hi</speak>`),
/// each replaced by a space: the words between them are what was said.
pub fn without_markup(text: &str) -> Cow<'_, str> {
    if !text.contains('<') {
        return Cow::Borrowed(text);
    }
    TAG.replace_all(text, " ")
}

/// Splits folded text into words of letters and digits.
pub fn words(folded: &str) -> Vec<String> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Folds and tokenises a message.
pub fn normalize(text: &str) -> Normalized {
    let folded = fold(text);
    let tokens = numbers::words_to_digits(&expand_shorthand(words(&folded)));
    Normalized { folded, tokens }
}

/// What a chat shorthand stands for ("slt c où ma cmd", "thx u", "jsp"), in the words the intents'
/// examples and patterns use; only those that mean one thing in a customer's message.
fn shorthand(word: &str) -> Option<&'static [&'static str]> {
    Some(match word {
        // French
        "slt" => &["salut"],
        "bjr" => &["bonjour"],
        "bsr" => &["bonsoir"],
        "cmd" | "cmde" | "cde" => &["commande"],
        "bcp" => &["beaucoup"],
        "tjs" | "tjrs" => &["toujours"],
        "pb" | "pbm" | "pblm" => &["probleme"],
        "jsp" => &["je", "sais", "pas"],
        "jai" => &["j", "ai"],
        "qd" => &["quand"],
        "pcq" => &["parce", "que"],
        "stp" => &["s", "il", "te", "plait"],
        "svp" => &["s", "il", "vous", "plait"],
        "dsl" => &["desole"],
        "mrc" | "mci" => &["merci"],
        "mdp" => &["mot", "de", "passe"],
        "rdv" => &["rendez", "vous"],
        "auj" | "ajd" => &["aujourd", "hui"],
        // English
        "pls" | "plz" | "pleeze" => &["please"],
        "thx" | "thnx" | "tnx" | "thks" | "thanx" => &["thanks"],
        "u" => &["you"],
        "ur" => &["your"],
        "idk" => &["i", "don", "t", "know"],
        "pwd" => &["password"],
        "acct" => &["account"],
        "abt" => &["about"],
        "msg" => &["message"],
        "pkg" => &["package"],
        "addr" => &["address"],
        "tmrw" | "tmr" => &["tomorrow"],
        "yday" => &["yesterday"],
        "rn" => &["right", "now"],
        "wen" => &["when"],
        "whr" | "wher" => &["where"],
        "wat" | "wot" => &["what"],
        "wil" => &["will"],
        _ => return None,
    })
}

/// The words with each chat shorthand written out ([`shorthand`]). "u" beside another single letter
/// is part of a spelled-out abbreviation ("u s d", "u k"), and stays, but for "r" ("r u there", "u r
/// late"), which is "are" only there ("r and b" stays).
fn expand_shorthand(words: Vec<String>) -> Vec<String> {
    if !words.iter().any(|w| shorthand(w).is_some()) {
        return words;
    }
    let at = |i: Option<usize>| i.and_then(|i| words.get(i)).map(String::as_str);
    let mut out = Vec::with_capacity(words.len() + 4);
    for (i, w) in words.iter().enumerate() {
        let beside = [at(i.checked_sub(1)), at(Some(i + 1))];
        let spelled = beside
            .iter()
            .any(|b| b.is_some_and(|b| b.len() == 1 && b != "r"));
        match shorthand(w) {
            Some(full) if w.len() > 1 || !spelled => out.extend(full.iter().map(|s| s.to_string())),
            None if w == "r" && beside.contains(&Some("u")) => out.push("are".into()),
            _ => out.push(w.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_folds_as_the_unicode_path_does() {
        let all: String = (0u8..128).map(char::from).collect();
        for t in [
            all.as_str(),
            "Where IS my `order` #4567?",
            "",
            &"A".repeat(MAX_CHARS + 5),
        ] {
            assert_eq!(fold(t), fold_unicode(t), "{t:?}");
        }
    }

    #[test]
    fn accents_case_and_width_are_folded() {
        assert_eq!(fold("Où EST ma Ｃommande ?"), "ou est ma commande ?");
        assert_eq!(fold("l’adresse"), "l'adresse");
    }

    #[test]
    fn chat_shorthand_is_written_out() {
        assert_eq!(
            normalize("slt c'est où ma cmd 88231 ? tjs rien, thx u").tokens,
            [
                "salut", "c", "est", "ou", "ma", "commande", "88231", "toujours", "rien", "thanks",
                "you"
            ]
        );
        assert_eq!(normalize("jsp").tokens, ["je", "sais", "pas"]);
        // Only whole words: "cmdr", "pbx" stay as they are; a letter of a spelled abbreviation too.
        assert_eq!(normalize("cmdr pbx").tokens, ["cmdr", "pbx"]);
        assert_eq!(
            normalize("ten u. s. d. to cad").tokens,
            ["10", "u", "s", "d", "to", "cad"]
        );
        assert_eq!(normalize("can u help").tokens, ["can", "you", "help"]);
        assert_eq!(normalize("r u there").tokens, ["are", "you", "there"]);
        assert_eq!(normalize("play r and b").tokens, ["play", "r", "and", "b"]);
    }

    #[test]
    fn spoken_numbers_become_one_token() {
        assert_eq!(
            normalize("order four five six seven").tokens,
            ["order", "4567"]
        );
        assert_eq!(
            normalize("Commande quatre cinq six sept").tokens,
            ["commande", "4567"]
        );
    }

    #[test]
    fn markup_tags_are_taken_out_and_what_is_between_them_kept() {
        assert_eq!(
            without_markup("<speak>hi</speak> & where is my order")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["hi", "&", "where", "is", "my", "order"]
        );
        assert_eq!(
            without_markup("<b>where</b><br/>is <a href=\"x\">it</a>")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["where", "is", "it"]
        );
        // Not tags: a comparison, an address in angle brackets.
        assert_eq!(
            without_markup("less than < 50 euros"),
            "less than < 50 euros"
        );
        assert_eq!(
            without_markup("write to <jo@example.com>"),
            "write to <jo@example.com>"
        );
        assert!(matches!(without_markup("no tags"), Cow::Borrowed(_)));
    }

    #[test]
    fn strange_unicode_does_not_break_tokenising() {
        let n = normalize("\u{202e}é\u{0301}\u{0}🙂 ok");
        assert!(n.tokens.contains(&"ok".to_string()));
        assert!(normalize("").tokens.is_empty());
    }
}
