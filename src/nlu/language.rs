//! Which language a message is in, learnt at start-up from the intent examples of each language.
//!
//! A naive Bayes model over words and character trigrams: cheap, and good enough to tell English from
//! French on a few words. Very short messages ("ok", "4567") say little, so the caller keeps the
//! conversation's language unless the evidence is clear.

use crate::message::Lang;
use std::collections::HashMap;

/// Language model per language: log-probabilities of features.
#[derive(Debug, Clone, Default)]
pub struct LanguageId {
    models: Vec<(Lang, HashMap<String, f32>, f32)>,
}

fn features(tokens: &[String]) -> Vec<String> {
    let mut text = String::new();
    let mut spans = Vec::new();
    feature_spans(tokens, &mut text, &mut spans);
    spans.iter().map(|&(a, b)| text[a..b].to_string()).collect()
}

/// [`features`] without a string each: all of them written one after the other in `text`, and where
/// each is in `spans`, in the same order.
fn feature_spans(tokens: &[String], text: &mut String, spans: &mut Vec<(usize, usize)>) {
    text.clear();
    spans.clear();
    for t in tokens {
        if t.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let start = text.len();
        text.push_str("w:");
        text.push_str(t);
        spans.push((start, text.len()));
        // The character trigrams of " t ": each starts where a character does.
        let padded = text.len();
        text.push(' ');
        text.push_str(t);
        text.push(' ');
        let mut starts = text[padded..].char_indices().map(|(i, _)| padded + i);
        let mut window = [0usize; 3];
        for w in &mut window {
            *w = starts.next().unwrap_or(text.len());
        }
        for end in starts.chain(std::iter::once(text.len())) {
            spans.push((window[0], end));
            window = [window[1], window[2], end];
        }
    }
}

/// Minimum log-likelihood difference to name a language.
const CLEAR_EVIDENCE: f32 = 2.0;
/// Minimum difference to switch a conversation to the other language (several clear words).
const SWITCH_EVIDENCE: f32 = 8.0;

impl LanguageId {
    /// Learns from (language, tokenised example) pairs.
    pub fn train<'a>(examples: impl Iterator<Item = (Lang, &'a [String])>) -> Self {
        let mut counts: HashMap<Lang, HashMap<String, f32>> = HashMap::new();
        for (lang, tokens) in examples {
            let c = counts.entry(lang).or_default();
            for f in features(tokens) {
                *c.entry(f).or_default() += 1.0;
            }
        }
        let mut models: Vec<_> = counts
            .into_iter()
            .map(|(lang, c)| {
                let total: f32 = c.values().sum::<f32>() + c.len() as f32 + 1.0;
                let unseen = (1.0 / total).ln();
                let logp = c
                    .into_iter()
                    .map(|(k, v)| (k, ((v + 1.0) / total).ln()))
                    .collect();
                (lang, logp, unseen)
            })
            .collect();
        models.sort_by_key(|(l, _, _)| *l);
        LanguageId { models }
    }

    /// The language of `tokens`, or `None` when the evidence is too weak to tell.
    pub fn detect(&self, tokens: &[String]) -> Option<Lang> {
        self.detect_with_margin(tokens)
            .filter(|(_, m)| *m >= CLEAR_EVIDENCE)
            .map(|(l, _)| l)
    }

    /// The most likely language and by how much (log-likelihood) it beats the other.
    pub fn detect_with_margin(&self, tokens: &[String]) -> Option<(Lang, f32)> {
        let mut text = String::new();
        let mut feats = Vec::new();
        feature_spans(tokens, &mut text, &mut feats);
        if feats.is_empty() || self.models.len() < 2 {
            return self
                .models
                .first()
                .map(|m| (m.0, f32::INFINITY))
                .filter(|_| self.models.len() == 1 && !feats.is_empty());
        }
        let mut scores: Vec<(Lang, f32)> = self
            .models
            .iter()
            .map(|(lang, logp, unseen)| {
                (
                    *lang,
                    feats
                        .iter()
                        .map(|&(a, b)| *logp.get(&text[a..b]).unwrap_or(unseen))
                        .sum(),
                )
            })
            .collect();
        scores.sort_by(|a, b| b.1.total_cmp(&a.1));
        Some((scores[0].0, scores[0].1 - scores[1].1))
    }

    /// The language to answer in, given the conversation's so far: switching needs much stronger evidence
    /// than starting, so that a code, a name or a stray word does not flip the conversation.
    pub fn follow(&self, tokens: &[String], current: Option<Lang>) -> Option<Lang> {
        let (lang, margin) = self.detect_with_margin(tokens)?;
        match current {
            Some(c) if c != lang => (margin >= SWITCH_EVIDENCE).then_some(lang),
            _ => (margin >= CLEAR_EVIDENCE).then_some(lang),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_features_are_the_words_and_the_trigrams_of_each_spaced_word() {
        // What the features were when each was its own string (words, then the trigrams of " word ").
        fn each_its_own(tokens: &[String]) -> Vec<String> {
            let mut out = Vec::new();
            for t in tokens {
                if t.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                out.push(format!("w:{t}"));
                let padded: Vec<char> = format!(" {t} ").chars().collect();
                for w in padded.windows(3) {
                    out.push(w.iter().collect());
                }
            }
            out
        }
        for text in [
            "",
            "a",
            "où est ma commande",
            "4567 et l'autre",
            "naïve café 🙂 x",
            "ok",
            "日本語 テキスト",
        ] {
            let tokens: Vec<String> = text.split(' ').map(str::to_string).collect();
            assert_eq!(features(&tokens), each_its_own(&tokens), "{text:?}");
        }
        assert_eq!(features(&["où".to_string()]), ["w:où", " où", "où "]);
    }
}
