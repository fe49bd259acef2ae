//! Natural-language understanding: from a customer's words to an intent, a confidence, a language and
//! entities. Trained at start-up from the intent pack's examples; knows nothing of channels or dialogue.
//!
//! The steps of [`Nlu::parse`]: normalise ([`normalize`]), correct typos ([`fuzzy`]), try the intents' regex
//! patterns, then the statistical [`classifier`]; detect the [`language`]; extract [`entities`].

pub mod classifier;
pub mod entities;
pub mod fuzzy;
pub mod language;
pub mod normalize;
pub mod numbers;
pub mod sentiment;

use crate::intents::IntentPack;
use crate::message::Lang;
use crate::time::Date;
use classifier::{Classifier, Scratch};
pub use entities::Entity;
use regex::RegexSet;
use std::cell::RefCell;

/// What the NLU made of a message.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Understanding {
    /// The intent, or `None` when nothing is confident enough (the fallback).
    pub intent: Option<String>,
    /// The best intent even when below the threshold (for logs and reports).
    pub best: Option<String>,
    /// 0 to 1.
    pub confidence: f32,
    /// The language detected, when the message says enough to tell.
    pub lang: Option<Lang>,
    pub entities: Vec<Entity>,
    /// The message is clearly negative (see [`sentiment`]).
    pub negative: bool,
}

/// Settings of the NLU.
#[derive(Debug, Clone, Copy)]
pub struct NluConfig {
    /// Confidence below which the answer is the fallback.
    pub threshold: f32,
    pub classifier: classifier::Config,
    /// Replace unknown words by a known word one typo away.
    pub spelling: bool,
}

impl Default for NluConfig {
    fn default() -> Self {
        NluConfig {
            threshold: 0.2,
            classifier: classifier::Config::default(),
            spelling: true,
        }
    }
}

/// Turns the classifier's decision value into a confidence with a logistic curve: a decision value of
/// [`DECISION_AT_HALF`] gives 0.5, and [`SLOPE`] sets how fast confidence rises above it. Both were chosen
/// on the CLINC150 *training* split's out-of-scope rows (see the README's evaluation section).
const SLOPE: f32 = 6.0;
const DECISION_AT_HALF: f32 = -0.25;

fn confidence(decision: f32) -> f32 {
    1.0 / (1.0 + (-SLOPE * (decision - DECISION_AT_HALF)).exp())
}

/// The label of out-of-scope training examples. A message classified as this has no intent.
pub const OUT_OF_SCOPE: &str = "__out_of_scope__";

/// A trained NLU.
pub struct Nlu {
    cfg: NluConfig,
    classifier: Classifier,
    speller: fuzzy::Speller,
    language: language::LanguageId,
    patterns: RegexSet,
    /// For each regex of `patterns`, its intent.
    pattern_intent: Vec<String>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Tokens as the classifier sees them: numbers become one placeholder, since a number's value says nothing
/// of the intent.
fn class_tokens(tokens: &[String], speller: &fuzzy::Speller, spelling: bool) -> Vec<String> {
    tokens
        .iter()
        .map(|t| {
            if t.bytes().all(|b| b.is_ascii_digit()) {
                "0".to_string()
            } else if spelling {
                speller.correct(t).map_or_else(|| t.clone(), str::to_string)
            } else {
                t.clone()
            }
        })
        .collect()
}

impl Nlu {
    /// Trains on the pack's examples, in every language, and compiles its patterns. The pack's negatives
    /// become one more label, [`OUT_OF_SCOPE`], which the NLU reports as no intent.
    pub fn from_pack(pack: &IntentPack, cfg: NluConfig) -> Self {
        let mut examples = Vec::new();
        let mut by_lang = Vec::new();
        for (lang, list) in &pack.negatives {
            for ex in list {
                by_lang.push((*lang, normalize::normalize(ex).tokens));
                examples.push((ex.clone(), OUT_OF_SCOPE.to_string()));
            }
        }
        for intent in &pack.intents {
            for (lang, list) in &intent.examples {
                for ex in list {
                    let tokens = normalize::normalize(ex).tokens;
                    by_lang.push((*lang, tokens.clone()));
                    examples.push((ex.clone(), intent.name.clone()));
                }
            }
        }
        let mut nlu = Nlu::train(&examples, cfg);
        nlu.language = language::LanguageId::train(by_lang.iter().map(|(l, t)| (*l, t.as_slice())));
        let mut pattern_intent = Vec::new();
        let mut patterns = Vec::new();
        for intent in &pack.intents {
            for p in &intent.patterns {
                patterns.push(p.clone());
                pattern_intent.push(intent.name.clone());
            }
        }
        // Every pattern compiled when the pack was loaded, so the set compiles too.
        nlu.patterns =
            RegexSet::new(&patterns).expect("patterns were validated when the pack was loaded");
        nlu.pattern_intent = pattern_intent;
        nlu
    }

    /// Trains on raw (text, label) pairs: no patterns, no language model.
    pub fn train(examples: &[(String, String)], cfg: NluConfig) -> Self {
        let raw_tokens: Vec<Vec<String>> = examples
            .iter()
            .map(|(t, _)| normalize::normalize(t).tokens)
            .collect();
        let speller = fuzzy::Speller::new(raw_tokens.iter().flatten());
        let data: Vec<(Vec<String>, String)> = raw_tokens
            .iter()
            .zip(examples)
            .map(|(t, (_, l))| (class_tokens(t, &speller, false), l.clone()))
            .collect();
        Nlu {
            cfg,
            classifier: Classifier::train(&data, cfg.classifier),
            speller,
            language: language::LanguageId::default(),
            patterns: RegexSet::empty(),
            pattern_intent: Vec::new(),
        }
    }

    /// The classifier, for reports.
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// Understands one message received on `today`, in a conversation held so far in `current`.
    pub fn parse(&self, text: &str, today: Date) -> Understanding {
        self.parse_in(text, today, None)
    }

    /// [`Nlu::parse`] within a conversation whose language is `current`: switching languages takes more
    /// evidence than starting in one.
    pub fn parse_in(&self, text: &str, today: Date, current: Option<Lang>) -> Understanding {
        let n = normalize::normalize(text);
        let entities = entities::extract(&n, today);
        let lang = self.language.follow(&n.tokens, current);
        let negative = sentiment::is_negative(&n.tokens);
        let spaced = n.tokens.join(" ");
        if let Some(i) = self.patterns.matches(&spaced).iter().next() {
            let intent = self.pattern_intent[i].clone();
            return Understanding {
                intent: Some(intent.clone()),
                best: Some(intent),
                confidence: 1.0,
                lang,
                entities,
                negative,
            };
        }
        let (best, conf) = self.classify(&n.tokens);
        Understanding {
            intent: best
                .clone()
                .filter(|b| conf >= self.cfg.threshold && b != OUT_OF_SCOPE),
            best,
            confidence: conf,
            lang,
            entities,
            negative,
        }
    }

    /// The best label and its confidence for normalised tokens.
    pub fn classify(&self, tokens: &[String]) -> (Option<String>, f32) {
        let tokens = class_tokens(tokens, &self.speller, self.cfg.spelling);
        if tokens.is_empty() {
            return (None, 0.0);
        }
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let scores = self.classifier.scores(&tokens, &mut s);
            let (best, top) = scores
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, s)| (i, *s))
                .unwrap_or((0, f32::NEG_INFINITY));
            let label = self.classifier.labels().get(best).cloned();
            (label, confidence(top))
        })
    }

    /// The classifier's label for a raw text, with the fallback threshold applied (for evaluation).
    pub fn predict(&self, text: &str) -> (Option<String>, f32) {
        let n = normalize::normalize(text);
        let spaced = n.tokens.join(" ");
        if let Some(i) = self.patterns.matches(&spaced).iter().next() {
            return (Some(self.pattern_intent[i].clone()), 1.0);
        }
        let (label, conf) = self.classify(&n.tokens);
        (
            label.filter(|l| conf >= self.cfg.threshold && l != OUT_OF_SCOPE),
            conf,
        )
    }
}
