//! Word stems (the Snowball stemmers, through `rust-stemmers`), so that "jouer", "joué", "jouez" and
//! "jouait" share one feature. French customers typing in a hurry mix up exactly these endings (-er, -é,
//! -ez, -ait), and a French bot has no word vectors to tell that they mean the same (see
//! [`super::classifier::Config::stems`]).
//!
//! Stems are taken from folded words (no accents, see [`super::normalize`]), as the classifier sees them.
//! Snowball's French rules expect accents, but those it misses on folded text ("jouee" gives "joue") still
//! share their character n-grams with the rest of the family.

use crate::message::Lang;
use rust_stemmers::{Algorithm, Stemmer};
use std::borrow::Cow;
use std::sync::OnceLock;

/// The stem of a folded word in `lang`; numbers are left as they are.
pub fn stem(lang: Lang, word: &str) -> Cow<'_, str> {
    if word.bytes().all(|b| b.is_ascii_digit()) {
        return Cow::Borrowed(word);
    }
    stemmer(lang).stem(word)
}

/// One stemmer per language, built on first use (they hold only tables; building one per word would not
/// be free).
fn stemmer(lang: Lang) -> &'static Stemmer {
    static EN: OnceLock<Stemmer> = OnceLock::new();
    static FR: OnceLock<Stemmer> = OnceLock::new();
    match lang {
        Lang::En => EN.get_or_init(|| Stemmer::create(Algorithm::English)),
        Lang::Fr => FR.get_or_init(|| Stemmer::create(Algorithm::French)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_french_verb_and_its_misspelt_endings_share_a_stem() {
        for w in ["jouer", "joue", "joues", "jouez", "jouait"] {
            assert_eq!(stem(Lang::Fr, w), "jou", "{w}");
        }
        assert_eq!(stem(Lang::Fr, "reserver"), stem(Lang::Fr, "reservez"));
        assert_eq!(stem(Lang::Fr, "besoins"), stem(Lang::Fr, "besoin"));
    }

    #[test]
    fn english_words_get_english_stems() {
        assert_eq!(stem(Lang::En, "cancelled"), "cancel");
        assert_eq!(stem(Lang::En, "cancelling"), "cancel");
    }

    #[test]
    fn numbers_are_not_stemmed() {
        assert_eq!(stem(Lang::Fr, "4567"), "4567");
        assert_eq!(stem(Lang::Fr, "0"), "0");
    }
}
