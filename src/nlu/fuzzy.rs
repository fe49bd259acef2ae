//! Typo correction: a word the classifier has never seen is replaced by a known word one edit away
//! (Damerau-Levenshtein, checked with strsim), found through a deletion index (the SymSpell idea) so
//! that a look-up costs a few hash probes instead of a scan of the vocabulary. A word split in two by a
//! speech recogniser ("pait ment", "rim bursement") is joined when the two halves make a known word, or
//! one close to it: two edits away for a long one, looked for among the known long words with the same
//! first letter, a few dozen. (Two edits for single words cost out-of-scope recall on CLINC150.)

use std::collections::HashMap;

/// Words shorter than this are not corrected: too many short words are one edit apart.
const MIN_LEN: usize = 4;

/// Halves joined into a word at least this long may be two edits from the known word.
const TWO_EDITS_LEN: usize = 8;

/// Two halves are joined only into a word at least this long.
const JOINED_MIN_LEN: usize = 6;

/// The known words and their one-deletion variants.
#[derive(Debug, Clone, Default)]
pub struct Speller {
    /// Known word → how often it occurs in training.
    words: HashMap<String, u32>,
    /// A word with one character deleted → the known words it comes from.
    deletes: HashMap<String, Vec<u32>>,
    by_id: Vec<String>,
    /// The first letter of the known long words → those words.
    long_by_first: HashMap<char, Vec<u32>>,
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
            if w.chars().count() >= TWO_EDITS_LEN - 2 {
                if let Some(first) = w.chars().next() {
                    s.long_by_first.entry(first).or_default().push(id);
                }
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
        if self.knows(word) {
            return None;
        }
        self.nearest(word)
    }

    /// The known word other than `word` closest to it (see [`Speller::correct`]).
    fn nearest(&self, word: &str) -> Option<&str> {
        if word.chars().count() < MIN_LEN || word.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut best: Option<(&str, u32)> = None;
        let mut consider = |id: u32| {
            let cand = self.by_id[id as usize].as_str();
            if cand != word && strsim::damerau_levenshtein(cand, word) == 1 {
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

    /// [`Speller::correct`] without the two-edit look-up.
    fn one_edit(&self, word: &str) -> Option<&str> {
        let found = self.nearest(word)?;
        (strsim::damerau_levenshtein(found, word) <= 1).then_some(found)
    }

    /// The known long word with the same first letter two edits from `word`, if exactly one is.
    fn two_edits(&self, word: &str) -> Option<&str> {
        let len = word.chars().count();
        let first = word.chars().next()?;
        let mut found = None;
        for &id in self.long_by_first.get(&first).into_iter().flatten() {
            let cand = self.by_id[id as usize].as_str();
            if cand.chars().count().abs_diff(len) > 2 || strsim::damerau_levenshtein(cand, word) > 2
            {
                continue;
            }
            match found {
                // Two candidates as close: a guess, not a correction.
                Some(other) if other != cand => return None,
                _ => found = Some(cand),
            }
        }
        found
    }

    /// The known word two halves make once joined ("pait ment" → "paiement"), at most `max_edits` away
    /// (0: only a known word as it is), if they make one.
    pub fn join(&self, first: &str, second: &str, max_edits: usize) -> Option<&str> {
        let joined = format!("{first}{second}");
        if joined.chars().count() < JOINED_MIN_LEN || joined.bytes().any(|b| b.is_ascii_digit()) {
            return None;
        }
        if let Some((known, _)) = self.words.get_key_value(&joined) {
            return Some(known.as_str());
        }
        match max_edits {
            0 => None,
            1 => self.one_edit(&joined),
            _ => self.one_edit(&joined).or_else(|| {
                (joined.chars().count() >= TWO_EDITS_LEN)
                    .then(|| self.two_edits(&joined))
                    .flatten()
            }),
        }
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
    fn halves_split_by_a_recogniser_are_joined() {
        let words: Vec<String> = ["remboursement", "payment", "paiement"]
            .map(String::from)
            .to_vec();
        let s = Speller::new(words.iter());
        assert_eq!(s.join("pay", "meant", 1), Some("payment"));
        assert_eq!(s.join("pay", "meant", 0), None);
        assert_eq!(s.join("pait", "ment", 2), Some("paiement"));
        assert_eq!(s.join("rim", "bursement", 2), Some("remboursement"));
        assert_eq!(s.join("my", "order", 2), None);
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
