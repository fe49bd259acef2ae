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
        let feats = features(tokens);
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
                    feats.iter().map(|f| *logp.get(f).unwrap_or(unseen)).sum(),
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
