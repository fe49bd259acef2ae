//! Negative sentiment, from an English and French lexicon with negation and intensifiers: enough to notice
//! "this is useless", "c'est vraiment nul" or "I'm fed up", and not "not bad" or "pas mal".

/// Words and their polarity (negative below zero), matched on folded tokens (no accents).
const LEXICON: &[(&str, f32)] = &[
    // English
    ("useless", -2.0),
    ("terrible", -2.0),
    ("awful", -2.0),
    ("horrible", -2.0),
    ("worst", -2.0),
    ("ridiculous", -2.0),
    ("unacceptable", -2.0),
    ("disgusting", -2.0),
    ("pathetic", -2.0),
    ("scam", -2.0),
    ("angry", -2.0),
    ("furious", -2.0),
    ("annoyed", -1.5),
    ("frustrated", -1.5),
    ("frustrating", -1.5),
    ("disappointed", -1.5),
    ("disappointing", -1.5),
    ("stupid", -1.5),
    ("bad", -1.0),
    ("poor", -1.0),
    ("wrong", -0.5),
    ("hate", -2.0),
    ("sucks", -2.0),
    ("rubbish", -2.0),
    ("joke", -1.0),
    ("again", -0.5),
    ("good", 1.0),
    ("great", 1.5),
    ("thanks", 1.0),
    ("perfect", 1.5),
    ("happy", 1.0),
    ("helpful", 1.0),
    // French (accents removed)
    ("nul", -2.0),
    ("nulle", -2.0),
    ("inadmissible", -2.0),
    ("inacceptable", -2.0),
    ("scandaleux", -2.0),
    ("honteux", -2.0),
    ("lamentable", -2.0),
    ("arnaque", -2.0),
    ("enerve", -1.5),
    ("enervee", -1.5),
    ("furieux", -2.0),
    ("furieuse", -2.0),
    ("decu", -1.5),
    ("decue", -1.5),
    ("marre", -2.0),
    ("agace", -1.5),
    ("catastrophique", -2.0),
    ("n importe quoi", -2.0),
    ("inutile", -2.0),
    ("mauvais", -1.0),
    ("mauvaise", -1.0),
    ("pire", -2.0),
    ("bien", 1.0),
    ("super", 1.0),
    ("parfait", 1.5),
    ("merci", 1.0),
    ("genial", 1.5),
    ("content", 1.0),
    ("contente", 1.0),
];

/// Phrases (folded, spaced tokens) and their polarity.
const PHRASES: &[(&str, f32)] = &[
    ("fed up", -2.0),
    ("sick of", -2.0),
    ("waste of time", -2.0),
    ("ras le bol", -2.0),
    ("en a marre", -2.0),
    ("n importe quoi", -2.0),
    ("pas normal", -1.5),
    ("not normal", -1.5),
    // Waiting: what customers say of the service itself ("c'était trop long", "it took forever").
    ("too long", -1.5),
    ("too slow", -1.5),
    ("took forever", -1.5),
    ("takes forever", -1.5),
    ("taking forever", -1.5),
    ("trop long", -1.5),
    ("trop longue", -1.5),
    ("trop lent", -1.5),
    ("trop lente", -1.5),
    ("trop de temps", -1.5),
    ("une eternite", -1.5),
];

const NEGATIONS: &[&str] = &[
    "not", "no", "never", "dont", "isnt", "wasnt", "pas", "jamais", "plus", "aucun", "aucune",
];
const INTENSIFIERS: &[&str] = &[
    "very",
    "really",
    "so",
    "extremely",
    "totally",
    "absolutely",
    "tres",
    "vraiment",
    "trop",
    "completement",
    "totalement",
    "hyper",
];

/// Words before a sentiment word that a negation still reaches.
const NEGATION_REACH: usize = 3;

/// The polarity of a message: below zero is negative. `tokens` are normalised words.
pub fn score(tokens: &[String]) -> f32 {
    let mut total = 0.0;
    for (i, t) in tokens.iter().enumerate() {
        // "n't" splits as "n" "t": treat "don t" etc. as a negation through the "t".
        let Some(&polarity) = POLARITY.get(t.as_str()) else {
            continue;
        };
        let before = &tokens[i.saturating_sub(NEGATION_REACH)..i];
        let negated = before
            .iter()
            .any(|w| NEGATIONS.contains(&w.as_str()) || w == "t");
        let intensified = before.iter().any(|w| INTENSIFIERS.contains(&w.as_str()));
        let mut p = polarity;
        if intensified {
            p *= 1.5;
        }
        if negated {
            // "not bad" is mildly positive, "not good" mildly negative.
            p = -p * 0.5;
        }
        total += p;
    }
    let spaced = format!(" {} ", tokens.join(" "));
    for (phrase, polarity) in SPACED_PHRASES.iter() {
        if spaced.contains(phrase.as_str()) {
            total += polarity;
        }
    }
    total
}

/// [`LEXICON`] by word, made once (the first entry of a word listed twice, as a search of the list finds).
static POLARITY: std::sync::LazyLock<std::collections::HashMap<&'static str, f32>> =
    std::sync::LazyLock::new(|| {
        let mut by_word = std::collections::HashMap::new();
        for &(word, polarity) in LEXICON {
            by_word.entry(word).or_insert(polarity);
        }
        by_word
    });

/// [`PHRASES`] with a space on each side, made once: a phrase matches whole words only.
static SPACED_PHRASES: std::sync::LazyLock<Vec<(String, f32)>> = std::sync::LazyLock::new(|| {
    PHRASES
        .iter()
        .map(|(phrase, polarity)| (format!(" {phrase} "), *polarity))
        .collect()
});

/// Below this score a message counts as negative.
pub const NEGATIVE: f32 = -1.4;

/// Whether the message is clearly negative.
pub fn is_negative(tokens: &[String]) -> bool {
    score(tokens) <= NEGATIVE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::normalize::normalize;

    fn negative(s: &str) -> bool {
        is_negative(&normalize(s).tokens)
    }

    #[test]
    fn clear_complaints_are_negative_in_both_languages() {
        assert!(negative("this is useless"));
        assert!(negative("I'm fed up with you"));
        assert!(negative("c'est vraiment nul"));
        assert!(negative("j'en ai ras le bol"));
        assert!(negative("Service inadmissible !"));
        assert!(negative("c'était trop long"));
        assert!(negative("ça a pris une éternité"));
        assert!(negative("it took forever to get an answer"));
    }

    #[test]
    fn a_long_item_is_not_a_long_wait() {
        assert!(!negative(
            "les rideaux sont trop longs, je voudrais les renvoyer"
        ));
        assert!(!negative("how long does delivery take"));
    }

    #[test]
    fn negation_and_neutral_messages_are_not_negative() {
        assert!(!negative("not bad at all"));
        assert!(!negative("pas mal du tout"));
        assert!(!negative("where is my order"));
        assert!(!negative("it's not terrible"));
    }
}
