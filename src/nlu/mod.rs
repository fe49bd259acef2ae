//! Natural-language understanding: from a customer's words to an intent, a confidence, a language and
//! entities. Trained at start-up from the intent pack's examples; knows nothing of channels or dialogue.
//!
//! The steps of [`Nlu::parse`]: normalise ([`normalize`]), correct typos ([`fuzzy`]), try the intents' regex
//! patterns, then the statistical [`classifier`]; detect the [`language`]; extract [`entities`].

pub mod classifier;
pub mod discourse;
pub mod entities;
pub mod fuzzy;
pub mod language;
pub mod memo;
pub mod normalize;
pub mod numbers;
pub mod sentiment;
pub mod stems;
pub mod vectors;

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
    /// What the message does in the dialogue: corrects, drops the question, closes, follows up.
    pub cues: discourse::Cues,
    /// Words in the message.
    pub words: usize,
    /// A clause of the message greets ("hey there, calling about a parcel").
    pub greeted: bool,
    /// Other requests found in the message's other clauses, in order (the intent is the main one).
    pub also: Vec<String>,
    /// The message's words, normalised (once per message: the engine and the link codes read these).
    #[serde(skip)]
    pub tokens: Vec<String>,
}

impl Understanding {
    /// The entity of `kind` the message gives: its first, or its last when the message corrects itself
    /// ("where is order 4576 sorry no 4567"). A value the message says it is not ("I meant 4567, not
    /// 4576", "4567 au lieu de 4576") is passed over while another is given.
    pub fn given(&self, kind: crate::intents::EntityKind) -> Option<&Entity> {
        let others = self
            .entities
            .iter()
            .any(|e| e.kind == kind && !self.denies(&e.value));
        let mut of_kind = self
            .entities
            .iter()
            .filter(|e| e.kind == kind && !(others && self.denies(&e.value)));
        if self.cues.correction {
            of_kind.next_back()
        } else {
            of_kind.next()
        }
    }

    /// The message says `value` is not the one ("not 4576", "pas la 4576", "instead of 4576").
    fn denies(&self, value: &str) -> bool {
        const BEFORE: &[&[&str]] = &[
            &["not"],
            &["pas"],
            &["non"],
            &["instead", "of"],
            &["rather", "than"],
            &["au", "lieu", "de"],
            &["au", "lieu", "du"],
            &["plutot", "que"],
            &["pas", "la"],
            &["pas", "le"],
            &["not", "order"],
            &["pas", "la", "commande"],
        ];
        self.tokens.iter().enumerate().any(|(i, t)| {
            t == value
                && BEFORE.iter().any(|words| {
                    i >= words.len()
                        && self.tokens[i - words.len()..i]
                            .iter()
                            .zip(words.iter())
                            .all(|(a, b)| a == b)
                })
        })
    }
}

/// Settings of the NLU.
#[derive(Debug, Clone, Copy)]
pub struct NluConfig {
    /// Confidence below which the answer is the fallback.
    pub threshold: f32,
    pub classifier: classifier::Config,
    /// Replace unknown words by a known word one typo away.
    pub spelling: bool,
    /// Add the distilled word vectors ([`vectors`]) to English messages' features.
    pub vectors: bool,
    /// With word vectors: a message whose cosine similarity to every example of its best intent is below
    /// this is out of scope, whatever its score.
    pub min_similarity: f32,
    /// Add French word stems to the features of a French training set ([`stems`]).
    pub stems: bool,
    /// With word vectors: leave alone unseen words the vectors know instead of "correcting" them.
    pub keep_known_words: bool,
    /// With word vectors: weight of the prototype term ([`Classifier::similarities`]) added to the SVM's
    /// decision values when ranking intents; 0 for the SVM alone.
    pub prototype_weight: f32,
    /// The classifier's verdicts kept per generation of [`memo::Classified`]; 0 (the default) keeps
    /// none. The bot's NLU keeps as many as its memo of messages (`nlu_memo`).
    pub class_memo: usize,
}

impl Default for NluConfig {
    fn default() -> Self {
        NluConfig {
            threshold: 0.2,
            classifier: classifier::Config::default(),
            spelling: true,
            vectors: true,
            stems: true,
            min_similarity: MIN_SIMILARITY,
            keep_known_words: true,
            prototype_weight: PROTOTYPE_WEIGHT,
            class_memo: 0,
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

/// Which messages get the classifier's dense block of word vectors (which are English).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Dense {
    Never,
    /// Every message: the training set was English.
    Always,
    /// The intent pack, in several languages: the main classifier is n-grams only, and a second one,
    /// trained on the English examples with word vectors, takes the messages that are clearly English.
    /// (One classifier for both languages with vectors for English only cost the French side accuracy.)
    English,
}

/// Share of a training set's words that must be whole English word pieces for the set to count as English.
const ENGLISH_SHARE: f32 = 0.8;

/// Default of [`NluConfig::prototype_weight`], chosen on held-out parts of the Banking77 and HWU64
/// training splits (10 examples per intent and all of them) and the pack's dev files.
const PROTOTYPE_WEIGHT: f32 = 1.0;

/// Default of [`NluConfig::min_similarity`], chosen on the pack's dev files and CLINC150's validation split.
const MIN_SIMILARITY: f32 = 0.4;

/// A trained NLU.
pub struct Nlu {
    cfg: NluConfig,
    classifier: Classifier,
    speller: fuzzy::Speller,
    language: language::LanguageId,
    patterns: RegexSet,
    /// For each regex of `patterns`, its intent.
    pattern_intent: Vec<String>,
    dense: Dense,
    /// With [`Dense::English`]: the English classifier with word vectors.
    english: Option<Classifier>,
    /// The dialogue role of the pack's intents that have one (greeting, thanks…): not requests.
    roles: std::collections::HashMap<String, crate::intents::Role>,
    /// The entity kinds each intent takes.
    takes: std::collections::HashMap<String, Vec<crate::intents::EntityKind>>,
    /// The classifier's verdicts on tokens it has read before.
    classified: memo::Classified,
}

/// A message this long is read clause by clause for its main request (an angry paragraph that tells the
/// whole story), not only as a whole.
const LONG_MESSAGE: usize = 25;

/// Confidence a clause's intent needs to count as a second request of the message.
const ALSO_CONFIDENCE: f32 = 0.5;

/// Confidence a clause's request for a person needs to be heard beside the message's other request:
/// a pattern's, or a classifier sure of it (a person is given at once, not offered).
const PERSON_CLAUSE: f32 = 0.9;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Tokens as the classifier sees them: numbers become one placeholder, since a number's value says nothing
/// of the intent. A word of `lexicon` (the word vectors' vocabulary, for English) is a real word, not a
/// typo, even if training never saw it: the vectors know it.
fn class_tokens(
    tokens: &[String],
    speller: &fuzzy::Speller,
    spelling: bool,
    lexicon: Option<&vectors::WordVectors>,
) -> Vec<String> {
    let mut joined: Vec<String> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        // "pait ment", "rim bursement", "pay meant": one word a speech recogniser split in two. Two
        // known words join only when both are longer than an article ("a dress" is no address).
        // Halves are longer than an article ("de pait ment" is "de paiement", not "départ ment"), and
        // a join is skipped when the next pair makes a closer word.
        // Only two halves the classifier never saw join ("pait ment", "rim bursement"), into a known
        // word at most two edits away: joining known words ("cancel ord", "check out") cost accuracy on
        // the public benchmarks.
        let known = |t: &str| speller.knows(t) || lexicon.is_some_and(|l| l.is_word(t));
        let join_at = |i: usize| -> Option<(&str, usize)> {
            let (a, b) = (tokens.get(i)?, tokens.get(i + 1)?);
            let long = a.chars().count() >= 3 && b.chars().count() >= 3;
            if !spelling || !long || known(a) || known(b) {
                return None;
            }
            let word = speller.join(a, b, 2)?;
            Some((word, strsim::damerau_levenshtein(word, &format!("{a}{b}"))))
        };
        if let Some((word, distance)) = join_at(i) {
            let closer_next = join_at(i + 1).is_some_and(|(_, d)| d < distance);
            if !closer_next {
                joined.push(word.to_string());
                i += 2;
                continue;
            }
        }
        joined.push(tokens[i].clone());
        i += 1;
    }
    joined
        .iter()
        .map(|t| {
            if t.bytes().all(|b| b.is_ascii_digit()) {
                "0".to_string()
            } else if spelling && !lexicon.is_some_and(|l| l.is_word(t)) {
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
        let english: Vec<bool> = by_lang.iter().map(|(l, _)| *l == Lang::En).collect();
        let mut nlu = Nlu::train_with(&examples, Some(&english), cfg);
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
        nlu.roles = pack
            .intents
            .iter()
            .filter_map(|i| i.role.map(|r| (i.name.clone(), r)))
            .collect();
        nlu.takes = pack
            .intents
            .iter()
            .map(|i| (i.name.clone(), i.entities.iter().map(|e| e.kind).collect()))
            .collect();
        nlu
    }

    /// Trains on raw (text, label) pairs: no patterns, no language model. Word vectors are used if the
    /// set is English (see [`vectors::WordVectors::english_share`]).
    pub fn train(examples: &[(String, String)], cfg: NluConfig) -> Self {
        Nlu::train_with(examples, None, cfg)
    }

    /// [`Nlu::train`], with each example's "is English" known (from the pack) or, if `None`, decided for
    /// the whole set.
    fn train_with(examples: &[(String, String)], english: Option<&[bool]>, cfg: NluConfig) -> Self {
        let raw_tokens: Vec<Vec<String>> = examples
            .iter()
            .map(|(t, _)| normalize::normalize(t).tokens)
            .collect();
        let speller = fuzzy::Speller::new(raw_tokens.iter().flatten());
        let data: Vec<(Vec<String>, String)> = raw_tokens
            .iter()
            .zip(examples)
            .map(|(t, (_, l))| (class_tokens(t, &speller, false, None), l.clone()))
            .collect();
        // A raw training set is English when the word vectors know most of its words; anything else is
        // read as French, the other language the bot speaks.
        let set_is_english = english.is_none()
            && vectors::WordVectors::embedded().english_share(raw_tokens.iter().flatten())
                >= ENGLISH_SHARE;
        let vectors = cfg.vectors.then(vectors::WordVectors::embedded);
        let (dense, flags) = match (vectors, english) {
            (None, _) => (Dense::Never, Vec::new()),
            (Some(_), Some(_)) => (Dense::English, Vec::new()),
            (Some(_), None) if set_is_english => (Dense::Always, vec![true; data.len()]),
            (Some(_), None) => (Dense::Never, Vec::new()),
        };
        let with_vectors = classifier::Config {
            vectors,
            ..cfg.classifier
        };
        // French stems for a French set; English has the vectors instead. Not for the pack's bilingual main
        // classifier: on 5-fold cross-validation over the pack's French examples and negatives they lost
        // 2 of 1,528 (and changed nothing on the French dev file).
        let stems = (cfg.stems && english.is_none() && !set_is_english).then_some(Lang::Fr);
        let main_cfg = if dense == Dense::Always {
            with_vectors
        } else {
            classifier::Config {
                vectors: None,
                stems,
                ..cfg.classifier
            }
        };
        let english = match (dense, english) {
            (Dense::English, Some(english)) => {
                let subset: Vec<(Vec<String>, String)> = data
                    .iter()
                    .zip(english)
                    .filter(|(_, en)| **en)
                    .map(|(d, _)| d.clone())
                    .collect();
                Some(Classifier::train(
                    &subset,
                    &vec![true; subset.len()],
                    with_vectors,
                ))
            }
            _ => None,
        };
        Nlu {
            cfg,
            classifier: Classifier::train(&data, &flags, main_cfg),
            speller,
            language: language::LanguageId::default(),
            patterns: RegexSet::empty(),
            pattern_intent: Vec::new(),
            dense,
            english,
            roles: Default::default(),
            takes: Default::default(),
            classified: memo::Classified::new(cfg.class_memo),
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
        // Markup a customer typed or a platform left around the words (`<speak>hi</speak>`) says nothing.
        let text = &*normalize::without_markup(text);
        let n = normalize::normalize(text);
        let mut entities = entities::extract(&n, today);
        // An address as written; a spoken one ("forty two high street") from the digits the words became.
        let written = entities::addresses(text);
        let has_digits = |e: &Vec<Entity>| {
            e.iter()
                .any(|a| a.value.bytes().any(|b| b.is_ascii_digit()))
        };
        let spoken = entities::addresses(&n.tokens.join(" "));
        entities.extend(if has_digits(&written) || !has_digits(&spoken) {
            written
        } else {
            spoken
        });
        let lang = self.language.follow(&n.tokens, current);
        let negative = sentiment::is_negative(&n.tokens);
        let tokens = discourse::without_fillers(&n.tokens);
        let (intent, best, confidence) = self.intent_of(&tokens, lang.or(current));
        let mut u = Understanding {
            intent,
            best,
            confidence,
            lang,
            entities,
            negative,
            cues: discourse::cues(&n.tokens),
            words: n.tokens.len(),
            greeted: false,
            also: Vec::new(),
            tokens: Vec::new(),
        };
        self.read_clauses(text, &tokens, lang.or(current), &mut u);
        // "Pourquoi ?", "why?", "et alors ??": words that ask without saying what about are no
        // request, however the classifier scored them (it read "pourquoi" as a payment problem).
        if u.confidence < 1.0
            && u.intent.as_ref().is_some_and(|i| self.is_request(i))
            && !discourse::says_something(&tokens)
        {
            u.intent = None;
        }
        u.tokens = n.tokens;
        u
    }

    /// The intent of normalised tokens: a pattern, else the classifier's guess if it is confident and close
    /// enough. Returns (intent, best guess, confidence).
    fn intent_of(
        &self,
        tokens: &[String],
        lang: Option<Lang>,
    ) -> (Option<String>, Option<String>, f32) {
        // "Bon ???", "euh", "well": a hesitation says nothing yet (the classifier read "bon" as a
        // goodbye, which ended conversations).
        const HESITATIONS: &[&str] = &[
            "bon", "ben", "bah", "alors", "euh", "heu", "hum", "well", "so", "um", "uh", "erm",
            "hmm",
        ];
        let hesitates = |t: &String| HESITATIONS.contains(&t.as_str());
        if !tokens.is_empty() && tokens.iter().all(hesitates) {
            return (None, None, 0.0);
        }
        // Nor do they weigh on what follows ("bon ben je fais comment alors" is no "bon ben alors
        // j'annule tout"): at the start (but "bon d'achat"), and at the end only the fillers ("c'est
        // bon", "I think so" keep their last word).
        const TRAILING: &[&str] = &["alors", "euh", "heu", "hum", "um", "uh", "erm", "hmm"];
        let start = tokens
            .iter()
            .enumerate()
            .take_while(|(i, t)| {
                hesitates(t)
                    && !(t.as_str() == "bon"
                        && tokens.get(i + 1).is_some_and(|w| {
                            ["d", "de", "du", "achat", "cadeau"].contains(&w.as_str())
                        }))
            })
            .count();
        let end = tokens.len()
            - tokens
                .iter()
                .rev()
                .take_while(|t| TRAILING.contains(&t.as_str()))
                .count();
        let tokens = if end >= start + 2 {
            &tokens[start..end]
        } else {
            tokens
        };
        let spaced = tokens.join(" ");
        if let Some(i) = self.patterns.matches(&spaced).iter().next() {
            let intent = self.pattern_intent[i].clone();
            return (Some(intent.clone()), Some(intent), 1.0);
        }
        // Word vectors only when the message is clearly English (or the conversation is and the message
        // does not say otherwise): a short French "ok ça me va" must not be read as English.
        let (best, conf, close) = self.classify_in(tokens, lang);
        let intent = best.clone().filter(|b| self.accept(b, conf, close));
        (intent, best, conf)
    }

    /// Whether an intent is a request (not a greeting, thanks, yes, no…).
    fn is_request(&self, intent: &str) -> bool {
        !self.roles.contains_key(intent)
    }

    /// Messages with more in them: a greeting and a request ("hey there, calling about a parcel"), two
    /// requests ("where is order 4567, and also I want a refund"), or a long story with the request in
    /// one clause. Each clause is classified; the whole message's intent stands when it is a request and
    /// the message is not long, otherwise the first request found (in a long message, the most
    /// confident) becomes the intent. Other requests go to `also`.
    fn read_clauses(
        &self,
        text: &str,
        tokens: &[String],
        lang: Option<Lang>,
        u: &mut Understanding,
    ) {
        let role = |i: &Option<String>| i.as_deref().and_then(|i| self.roles.get(i)).copied();
        let greeting = Some(crate::intents::Role::Greeting);
        u.greeted = role(&u.intent) == greeting;
        // Requests found in clauses: the intent, its confidence, and whether the clause says enough to be
        // a second request of its own (three words or more, confident).
        let mut found: Vec<(String, f32, bool)> = Vec::new();
        // A clause that asks for a person, surely ("…, I want to talk to someone NOW"): heard beside
        // whatever else the message asks.
        let mut person: Option<String> = None;
        let handoff = Some(crate::intents::Role::Handoff);
        // Requests a clause says it does not make ("I do NOT want to return it", "je ne veux pas
        // l'annuler"): none of the message's.
        let mut refused: Vec<String> = Vec::new();
        // What follows a greeting said in one breath ("yo wheres my ordr 5521") is the message's request
        // if the classifier reads one at all; another clause must be sure of itself.
        let parts = discourse::clauses(text);
        // In a message of several clauses, one that tells what the customer did ("j'ai annulé ma
        // commande par erreur, on peut la remettre ?") is the story, not a request.
        let split = parts.len() > 1;
        let mut consider = |toks: &[String], u: &mut Understanding, after_greeting: bool| {
            let (intent, _, conf) = self.intent_of(toks, lang);
            if role(&intent) == greeting {
                u.greeted = true;
            }
            if role(&intent) == handoff
                && conf >= PERSON_CLAUSE
                && discourse::says_something(toks)
                && !discourse::refuses_person(toks)
            {
                person = person.take().or(intent.clone());
            }
            if let Some(i) = intent.filter(|i| self.is_request(i)) {
                if discourse::negates_action(toks) {
                    refused.push(i);
                    return;
                }
                if split && discourse::tells_past_act(toks) {
                    return;
                }
                let sure = conf >= ALSO_CONFIDENCE || after_greeting;
                // After a greeting, two words say enough ("salut ma commande", "hi my refund").
                let long_enough = toks.len() >= 3 || (after_greeting && toks.len() >= 2);
                let enough = long_enough && sure && discourse::says_something(toks);
                found.push((i, conf, enough));
            }
        };
        if split {
            for part in &parts {
                let toks = discourse::without_fillers(&normalize::normalize(part).tokens);
                if toks.is_empty() {
                    continue;
                }
                match discourse::after_opener(&toks) {
                    Some(rest) => {
                        let opener = &toks[..toks.len() - rest.len()];
                        consider(opener, u, false);
                        let greeted = u.greeted;
                        consider(rest, u, greeted);
                    }
                    None => consider(&toks, u, false),
                }
            }
        } else if let Some(rest) = discourse::after_closer(tokens)
            .filter(|_| !u.intent.as_ref().is_some_and(|i| self.is_request(i)))
        {
            // "ok so bye but actually where is 5521?": the goodbye is taken back for the question.
            consider(rest, u, true);
        } else if let Some(rest) = discourse::after_opener(tokens) {
            // "hey there calling about a parcel", said in one breath.
            let opener = &tokens[..tokens.len() - rest.len()];
            consider(opener, u, false);
            if !u.intent.as_ref().is_some_and(|i| self.is_request(i)) {
                let greeted = u.greeted;
                consider(rest, u, greeted);
            } else if u.confidence < ALSO_CONFIDENCE {
                // A weak reading of the whole ("bonjour je n'arrive plus à me connecter" read as a
                // delivery problem): the greeting blurs it, and the request without it, read surer,
                // stands.
                let (intent, best, conf) = self.intent_of(rest, lang);
                if intent.as_ref().is_some_and(|i| self.is_request(i)) && conf > u.confidence {
                    u.intent = intent;
                    u.best = best;
                    u.confidence = conf;
                }
            }
        } else if let Some(head) = discourse::before_closer(tokens)
            .filter(|_| !u.intent.as_ref().is_some_and(|i| self.is_request(i)))
        {
            // "where is my order 4567 ok bye": the request is answered before the goodbye.
            consider(head, u, true);
        }
        // A message of one clause that refuses what it names asks nothing of it.
        if parts.len() <= 1 && discourse::negates_action(tokens) {
            refused.extend(u.intent.clone().filter(|i| self.is_request(i)));
        }
        let asked = |i: &String| found.iter().any(|f| f.2 && &f.0 == i);
        if u.intent
            .as_ref()
            .is_some_and(|i| refused.contains(i) && !asked(i))
        {
            u.intent = None;
        }
        let whole_is_request = u.intent.as_ref().is_some_and(|i| self.is_request(i));
        let long = u.words > LONG_MESSAGE;
        if !found.is_empty() {
            self.main_request(found, whole_is_request, long, text, u);
        }
        if let Some(p) = person.filter(|p| u.intent.as_ref() != Some(p) && !u.also.contains(p)) {
            u.also.push(p);
        }
    }

    /// The message's main request among those its clauses `found`, and the others in `also`.
    fn main_request(
        &self,
        mut found: Vec<(String, f32, bool)>,
        whole_is_request: bool,
        long: bool,
        text: &str,
        u: &mut Understanding,
    ) {
        // Two requests each said in a clause of its own ("where is order 4567? and also I want a refund")
        // are served in order: the first clause's comes first.
        let mut distinct: Vec<&String> = found.iter().filter(|f| f.2).map(|f| &f.0).collect();
        distinct.dedup();
        let several = distinct.len() > 1 && discourse::has_second_request(text);
        if several && !long {
            if let Some(first) = found.iter().find(|f| f.2) {
                u.intent = Some(first.0.clone());
                u.best = Some(first.0.clone());
                u.confidence = first.1;
            }
        } else if !whole_is_request || long {
            // A clause stands for the message only if it says enough ("bonjour à vous" is a greeting).
            found.retain(|f| f.2);
            // In a story, a request about what the customer named (an order number) comes before a
            // general one ("I've recorded your complaint"); then the most confident; on a tie, the later
            // one (a story ends on what is wanted).
            let named = |i: &str| {
                self.takes
                    .get(i)
                    .is_some_and(|kinds| u.entities.iter().any(|e| kinds.contains(&e.kind)))
            };
            let main = if long {
                found
                    .iter()
                    .enumerate()
                    .max_by(|a, b| {
                        named(&a.1.0)
                            .cmp(&named(&b.1.0))
                            .then(a.1.1.total_cmp(&b.1.1))
                            .then(a.0.cmp(&b.0))
                    })
                    .map(|(_, f)| (f.0.clone(), f.1))
            } else {
                found.first().map(|f| (f.0.clone(), f.1))
            };
            if let Some((intent, conf)) = main {
                let whole_named = u.intent.as_deref().is_some_and(named);
                if long
                    && whole_is_request
                    && u.confidence >= conf
                    && (whole_named || !named(&intent))
                {
                    // The whole message says it best.
                } else {
                    u.intent = Some(intent.clone());
                    u.best = Some(intent);
                    u.confidence = conf;
                }
            }
        }
        let main = u.intent.clone();
        for (i, _, enough) in found {
            if enough && Some(&i) != main.as_ref() && !u.also.contains(&i) {
                u.also.push(i);
            }
        }
    }

    /// The best label and its confidence for normalised tokens.
    pub fn classify(&self, tokens: &[String]) -> (Option<String>, f32) {
        let (label, confidence, _) = self.classify_in(tokens, self.clear_language(tokens));
        (label, confidence)
    }

    /// The message's language when it says clearly, outside a conversation; only the pack's English
    /// classifier needs it.
    fn clear_language(&self, tokens: &[String]) -> Option<Lang> {
        match self.dense {
            Dense::English => self.language.detect(tokens),
            Dense::Never | Dense::Always => None,
        }
    }

    /// [`Nlu::classify`] for a message in `lang` (which decides whether word vectors apply).
    /// Also says whether the message is close enough to its label's examples (see
    /// [`NluConfig::min_similarity`]).
    fn classify_in(&self, tokens: &[String], lang: Option<Lang>) -> memo::Verdict {
        let (classifier, dense, is_english) = match (&self.english, lang) {
            (Some(english), Some(Lang::En)) => (english, true, true),
            _ => (&self.classifier, self.dense == Dense::Always, false),
        };
        let lexicon = classifier
            .vectors()
            .filter(|_| dense && self.cfg.keep_known_words);
        let tokens = class_tokens(tokens, &self.speller, self.cfg.spelling, lexicon);
        if tokens.is_empty() {
            return (None, 0.0, false);
        }
        self.classified.verdict(&tokens, is_english, || {
            self.classify_tokens(classifier, &tokens, dense)
        })
    }

    /// The classifier's best label for tokens as it sees them ([`class_tokens`]), its confidence, and
    /// whether the message is close to that label's examples.
    fn classify_tokens(
        &self,
        classifier: &Classifier,
        tokens: &[String],
        dense: bool,
    ) -> memo::Verdict {
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            classifier.scores(tokens, dense, &mut s);
            let s = &*s;
            let scores = s.scores();
            // The SVM's decision plus the prototype term ranks the labels; the confidence stays the SVM's
            // own for the label chosen, as calibrated.
            let sims = classifier.similarities(s);
            let weight = self.cfg.prototype_weight;
            let ranked = |i: usize| scores[i] + sims.map_or(0.0, |sims| weight * sims[i]);
            let best = (0..scores.len())
                .max_by(|&a, &b| ranked(a).total_cmp(&ranked(b)))
                .unwrap_or(0);
            let top = scores.get(best).copied().unwrap_or(f32::NEG_INFINITY);
            let label = classifier.labels().get(best).cloned();
            let close = classifier
                .nearest(best, s)
                .is_none_or(|sim| sim >= self.cfg.min_similarity);
            (label, confidence(top), close)
        })
    }

    /// Whether a classified message has an intent: confident, close to the intent's examples, and not
    /// out of scope.
    fn accept(&self, label: &str, confidence: f32, close: bool) -> bool {
        confidence >= self.cfg.threshold && close && label != OUT_OF_SCOPE
    }

    /// The classifier's label for a raw text, with the fallback threshold applied (for evaluation).
    pub fn predict(&self, text: &str) -> (Option<String>, f32) {
        let n = normalize::normalize(text);
        let spaced = n.tokens.join(" ");
        if let Some(i) = self.patterns.matches(&spaced).iter().next() {
            return (Some(self.pattern_intent[i].clone()), 1.0);
        }
        let (label, conf, close) = self.classify_in(&n.tokens, self.clear_language(&n.tokens));
        (label.filter(|l| self.accept(l, conf, close)), conf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(rows: &[(&str, &str)]) -> Vec<(String, String)> {
        rows.iter()
            .map(|(t, l)| (t.to_string(), l.to_string()))
            .collect()
    }

    #[test]
    fn word_vectors_apply_to_english_sets_only() {
        let english = pairs(&[
            ("where is my parcel", "status"),
            ("has my order shipped yet", "status"),
            ("i want my money back", "refund"),
            ("please refund the payment", "refund"),
        ]);
        let french = pairs(&[
            ("ou est mon colis", "status"),
            ("ma commande est elle partie", "status"),
            ("je veux etre rembourse", "refund"),
            ("remboursez moi le paiement", "refund"),
        ]);
        assert_eq!(
            Nlu::train(&english, NluConfig::default()).dense,
            Dense::Always
        );
        assert_eq!(
            Nlu::train(&french, NluConfig::default()).dense,
            Dense::Never
        );
        let off = NluConfig {
            vectors: false,
            ..NluConfig::default()
        };
        let nlu = Nlu::train(&english, off);
        assert_eq!(nlu.dense, Dense::Never);
        assert!(!nlu.classifier().has_vectors());
    }

    #[test]
    fn french_sets_get_french_stems_and_english_sets_the_vectors_instead() {
        let english = pairs(&[
            ("where is my parcel", "status"),
            ("i want my money back", "refund"),
        ]);
        let french = pairs(&[
            ("ou est mon colis", "status"),
            ("je veux etre rembourse", "refund"),
        ]);
        assert_eq!(
            Nlu::train(&english, NluConfig::default())
                .classifier()
                .stems(),
            None
        );
        let off = NluConfig {
            vectors: false,
            ..NluConfig::default()
        };
        assert_eq!(Nlu::train(&english, off).classifier().stems(), None);
        assert_eq!(
            Nlu::train(&french, NluConfig::default())
                .classifier()
                .stems(),
            Some(Lang::Fr)
        );
        let no_stems = NluConfig {
            stems: false,
            ..NluConfig::default()
        };
        assert_eq!(Nlu::train(&french, no_stems).classifier().stems(), None);
    }

    #[test]
    fn a_real_english_word_is_not_corrected_into_a_training_word() {
        let seen = ["make".to_string(), "payment".to_string()];
        let speller = fuzzy::Speller::new(seen.iter());
        let words = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        let lexicon = Some(vectors::WordVectors::embedded());
        assert_eq!(class_tokens(&words("wake"), &speller, true, None), ["make"]);
        assert_eq!(
            class_tokens(&words("wake"), &speller, true, lexicon),
            ["wake"]
        );
        // A typo that is no English word is still corrected.
        assert_eq!(
            class_tokens(&words("paymnet"), &speller, true, lexicon),
            ["payment"]
        );
    }

    #[test]
    fn the_pack_reads_english_with_vectors_and_french_with_n_grams() {
        let pack = IntentPack::load(std::path::Path::new("intents")).unwrap();
        let nlu = Nlu::from_pack(&pack, NluConfig::default());
        assert_eq!(nlu.dense, Dense::English);
        assert!(nlu.english.as_ref().is_some_and(Classifier::has_vectors));
        assert!(!nlu.classifier().has_vectors());
        // Stems are for French sets, not for the pack's bilingual classifiers.
        assert_eq!(nlu.classifier().stems(), None);
        assert_eq!(nlu.english.as_ref().and_then(Classifier::stems), None);
        let today = crate::time::Date::new(2026, 11, 23).unwrap();
        let en = nlu.parse("where has my parcel got to", today);
        assert_eq!(en.intent.as_deref(), Some("order_status"), "{en:?}");
        let fr = nlu.parse("où en est mon colis", today);
        assert_eq!(fr.intent.as_deref(), Some("order_status"), "{fr:?}");
    }

    #[test]
    fn markup_around_a_greeting_and_a_request_is_read_as_the_words_alone() {
        let pack = IntentPack::load(std::path::Path::new("intents")).unwrap();
        let nlu = Nlu::from_pack(&pack, NluConfig::default());
        let today = crate::time::Date::new(2026, 12, 5).unwrap();
        for (marked, plain) in [
            (
                "<speak>hi</speak> & where is my order",
                "hi & where is my order",
            ),
            (
                "<p>bonjour</p> <b>où est ma commande</b>",
                "bonjour où est ma commande",
            ),
        ] {
            let (m, p) = (nlu.parse(marked, today), nlu.parse(plain, today));
            assert_eq!(m.intent.as_deref(), Some("order_status"), "{marked}: {m:?}");
            assert!(m.greeted, "{marked}: {m:?}");
            assert_eq!(
                (m.intent, m.greeted, m.lang),
                (p.intent, p.greeted, p.lang),
                "{marked}"
            );
        }
    }

    #[test]
    fn the_prototype_term_ranks_the_intents_and_the_svm_keeps_the_confidence() {
        let rows = pairs(&[
            ("my card was stolen", "lost_card"),
            ("i lost my card", "lost_card"),
            ("someone took my wallet", "lost_card"),
            ("what is the exchange rate", "exchange"),
            ("how much is a dollar in euros", "exchange"),
            ("convert pounds to yen", "exchange"),
            ("where is my parcel", "status"),
            ("has my order shipped", "status"),
            ("track my package", "status"),
        ]);
        let heavy = NluConfig {
            prototype_weight: 1000.0,
            ..NluConfig::default()
        };
        let nlu = Nlu::train(&rows, heavy);
        let c = nlu.classifier();
        for msg in [
            "pickpocket took my purse",
            "euro to dollar",
            "when does my delivery come",
        ] {
            let tokens = normalize::normalize(msg).tokens;
            let (label, conf) = nlu.classify(&tokens);
            let mut s = Scratch::default();
            c.scores(&tokens, true, &mut s);
            let sims = c.similarities(&s).expect("English gets the vectors");
            let closest = (0..sims.len())
                .max_by(|&a, &b| sims[a].total_cmp(&sims[b]))
                .unwrap();
            // With a heavy prototype weight the closest centroid wins...
            assert_eq!(
                label.as_deref(),
                Some(c.labels()[closest].as_str()),
                "{msg}"
            );
            // ...and the confidence is still the SVM's, for that label.
            assert!(
                (conf - confidence(s.scores()[closest])).abs() < 1e-6,
                "{msg}"
            );
        }
    }
}
