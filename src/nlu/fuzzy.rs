//! Typo correction: a word the classifier has never seen is replaced by a known word one edit away
//! (Damerau-Levenshtein, checked with strsim), found through a deletion index (the SymSpell idea) so
//! that a look-up costs a few hash probes instead of a scan of the vocabulary.

use std::collections::HashMap;

/// Words shorter than this are not corrected: too many short words are one edit apart.
const MIN_LEN: usize = 4;

/// The known words and their one-deletion variants.
#[derive(Debug, Clone, Default)]
pub struct Speller {
    /// Known word → how often it occurs in training.
    words: HashMap<String, u32>,
    /// A word with one character deleted → the known words it comes from.
    deletes: HashMap<String, Vec<u32>>,
    by_id: Vec<String>,
}

fn deletions(word: &str) -> impl Iterator<Item = String> + '_ {
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    (0..chars.len()).map(move |i| {
        let (at, c) = chars[i];
        let mut s = String::with_capacity(word.len());
        s.push_str(&word[..at]);
        s.push_str(&word[at + c.len_utf8()..]);
        s
    })
}

impl Speller {
    /// Indexes every word of the training tokens.
    pub fn new<'a>(tokens: impl Iterator<Item = &'a String>) -> Self {
        let mut s = Speller::default();
        for t in tokens {
            if t.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            *s.words.entry(t.clone()).or_default() += 1;
        }
        let mut words: Vec<&String> = s.words.keys().collect();
        words.sort();
        for w in words {
            if w.chars().count() < MIN_LEN {
                continue;
            }
            let id = s.by_id.len() as u32;
            s.by_id.push(w.clone());
            for d in deletions(w) {
                s.deletes.entry(d).or_default().push(id);
            }
        }
        s
    }

    /// Whether the word was seen in training.
    pub fn knows(&self, word: &str) -> bool {
        self.words.contains_key(word)
    }

    /// The known word closest to `word`, when it is one edit away; the most frequent wins a tie.
    pub fn correct(&self, word: &str) -> Option<&str> {
        if word.chars().count() < MIN_LEN
            || self.knows(word)
            || word.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mut best: Option<(&str, u32)> = None;
        let mut consider = |id: u32| {
            let cand = self.by_id[id as usize].as_str();
            if strsim::damerau_levenshtein(cand, word) == 1 {
                let freq = self.words[cand];
                if best.is_none_or(|(b, f)| freq > f || (freq == f && cand < b)) {
                    best = Some((cand, freq));
                }
            }
        };
        // The typo deleted a letter: the word itself is a deletion of a known word.
        for &id in self.deletes.get(word).into_iter().flatten() {
            consider(id);
        }
        for d in deletions(word) {
            // The typo added a letter: a deletion of the word is known (`by_id` is sorted).
            if let Ok(id) = self.by_id.binary_search(&d) {
                consider(id as u32);
            }
            // A substituted or swapped letter: both share a deletion.
            for &id in self.deletes.get(&d).into_iter().flatten() {
                consider(id);
            }
        }
        best.map(|(w, _)| w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speller() -> Speller {
        let words: Vec<String> = ["delivery", "order", "refund", "address", "commande"]
            .map(String::from)
            .to_vec();
        Speller::new(words.iter())
    }

    #[test]
    fn one_typo_is_corrected() {
        let s = speller();
        assert_eq!(s.correct("delivry"), Some("delivery"));
        assert_eq!(s.correct("refnud"), Some("refund"));
        assert_eq!(s.correct("adddress"), Some("address"));
        assert_eq!(s.correct("commamde"), Some("commande"));
    }

    #[test]
    fn known_short_or_distant_words_are_left_alone() {
        let s = speller();
        assert_eq!(s.correct("order"), None);
        assert_eq!(s.correct("ordr"), Some("order"));
        assert_eq!(s.correct("pizza"), None);
        assert_eq!(s.correct("abc"), None);
    }
}
