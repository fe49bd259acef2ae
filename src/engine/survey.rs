//! The satisfaction questions asked when a customer is done after a resolving answer: (1) did that solve
//! your problem, (2) from 0 to 10 how likely are you to recommend us (NPS), (3) for detractors only, what
//! should we do better. Every step can be skipped; an unclear answer is asked again once, then dropped.
//! This module holds the answers' types ([`Rating`]) and the survey's part of the dialogue.

use super::{Conversation, Decision, DialogueState, Engine, NEW_REQUEST, TurnContext, plain};
use crate::intents::Role;
use crate::nlu::{Understanding, normalize, numbers};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// A 0-10 likelihood-to-recommend answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rating(u8);

/// Why an answer is not a rating.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatingError {
    #[error("no number from 0 to 10 in the answer")]
    NoNumber,
    #[error("{0} is not between 0 and 10")]
    OutOfRange(u64),
    #[error("more than one number in the answer")]
    Ambiguous,
    #[error("a negative number is not a rating")]
    Negative,
}

/// "9/10", "9 sur 10", "9 out of 10", "9 on 10".
static OUT_OF_TEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[^\d])(\d{1,2})\s*(?:/|sur|out of|on)\s*10\b").unwrap());

/// The number a message settles on after giving others ("2 weeks late, so 0", "on a dit 3 jours,
/// donc je mets 4").
static SETTLED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\b(?:so|then|donc|alors|i d say|id say|i would say|i ll say|i d give|i give|i ll give|",
        r"je dirais|je mets|je donne|je mettrais|je donnerais)\s+(?:it\s+)?(?:a\s+|an\s+|un\s+)?(\d{1,2})\b"
    ))
    .unwrap()
});

/// A minus before a number: "-1", "minus one", "moins deux" are not ratings ("au moins 8" is removed first:
/// it is an 8).
static NEGATIVE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|\s)[-\x{2212}]\s*\d|\b(?:minus|moins)\s+\d").unwrap());

/// Where a rating's reason starts: "three because the delivery is always late", "6 - the shoes were
/// too small", "huit, parce que…".
static REASON: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\s+[-\x{2013}\x{2014}]\s+|[,;:(]\s*|\s+\b(?:because|cause|coz|cuz|cos|as|since|but|",
        r"parce que|parce qu|car|mais|vu que)\b\s*"
    ))
    .unwrap()
});

/// A rating said first and its reason after it ("6 - the shoes were nice but too small", "hmm I'd
/// say maybe a three because the delivery is always late"): the rating, read from the words before
/// the reason (eight at most), and the reason when it says something (three words or more).
pub fn rating_with_reason(text: &str) -> Option<(Rating, Option<String>)> {
    rating_before_reason(text, 8)
}

/// [`rating_with_reason`] with at most `words` before the reason.
fn rating_before_reason(text: &str, words: usize) -> Option<(Rating, Option<String>)> {
    let (head, reason) = match REASON.find(text) {
        Some(m) => (&text[..m.start()], text[m.end()..].trim()),
        None => (text, ""),
    };
    if normalize::words(&normalize::fold(head)).len() > words {
        return None;
    }
    let rating = Rating::parse(head).ok()?;
    // ("Huit, parce que c'était rapide": the reason without its "parce que".)
    let reason = reason
        .split_once(' ')
        .filter(|(first, _)| {
            ["because", "cause", "car", "since", "as", "parce"]
                .contains(&first.to_lowercase().as_str())
        })
        .map_or(reason, |(first, rest)| {
            let rest = rest.trim_start();
            match first.eq_ignore_ascii_case("parce") {
                true => rest
                    .strip_prefix("que ")
                    .or_else(|| rest.strip_prefix("qu'"))
                    .unwrap_or(rest),
                false => rest,
            }
        });
    let reason = (reason.split_whitespace().count() >= 3).then(|| reason.to_string());
    Some((rating, reason))
}

/// A number alone (or "8/10") before its reason: "6 - the shoes were too small", never "2 items are
/// still missing, what do I do?".
fn bare_rating_before_reason(text: &str) -> Option<(Rating, Option<String>)> {
    rating_before_reason(text, 2)
}

/// NPS category of a rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// 9-10.
    Promoter,
    /// 7-8.
    Passive,
    /// 0-6.
    Detractor,
}

impl Rating {
    /// A rating from typed or spoken text in English or French: "9", "nine", "neuf", "9/10",
    /// "dix sur dix", "a solid eight".
    pub fn parse(text: &str) -> Result<Rating, RatingError> {
        let folded = normalize::fold(text).replace("au moins", " ");
        let words = normalize::words(&folded);
        let is_one = |w: &String| matches!(w.as_str(), "one" | "un" | "une");
        let spaced = |words: Vec<String>| numbers::words_to_digits(&words).join(" ");
        // Asked for a number, "one" ("un", "une") is 1 when it is the only number ("one", "one out of ten");
        // beside another number it is the article it usually is ("I'd give this one a 9", "c'est un 10").
        let as_one = spaced(
            words
                .iter()
                .map(|w| if is_one(w) { "1".into() } else { w.clone() })
                .collect(),
        );
        let without_one = spaced(words.iter().filter(|w| !is_one(w)).cloned().collect());
        // "N out of ten" settles it, whatever else is said.
        if let Some(c) = OUT_OF_TEN
            .captures(&folded)
            .or_else(|| OUT_OF_TEN.captures(&as_one))
        {
            let value = c[1].parse::<u64>().map_err(|_| RatingError::NoNumber)?;
            return Rating::in_range(value);
        }
        if NEGATIVE.is_match(&folded) || NEGATIVE.is_match(&as_one) {
            return Err(RatingError::Negative);
        }
        let numbers = |spaced: &str| -> Vec<u64> {
            spaced
                .split(' ')
                .filter_map(|t| t.parse::<u64>().ok())
                .collect()
        };
        let mut found = numbers(&without_one);
        if found.is_empty() {
            found = numbers(&as_one);
        }
        let value = match found.as_slice() {
            [] => return Err(RatingError::NoNumber),
            [n] => *n,
            _ => match SETTLED.captures_iter(&without_one).last() {
                Some(c) => c[1].parse::<u64>().map_err(|_| RatingError::NoNumber)?,
                None => return Err(RatingError::Ambiguous),
            },
        };
        Rating::in_range(value)
    }

    fn in_range(value: u64) -> Result<Rating, RatingError> {
        u8::try_from(value)
            .ok()
            .filter(|v| *v <= 10)
            .map(Rating)
            .ok_or(RatingError::OutOfRange(value))
    }

    /// A rating from a number.
    pub fn new(value: u8) -> Option<Rating> {
        (value <= 10).then_some(Rating(value))
    }

    pub fn value(self) -> u8 {
        self.0
    }

    /// Promoter (9-10), passive (7-8) or detractor (0-6).
    pub fn category(self) -> Category {
        match self.0 {
            9..=10 => Category::Promoter,
            7..=8 => Category::Passive,
            _ => Category::Detractor,
        }
    }
}

/// Which question is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Solved,
    /// Not solved: would they like a person?
    Person,
    Rating,
    Comment,
}

/// Survey answer keys in the touchpoint.
pub const SOLVED: &str = "solved";
pub const RATING: &str = "rating";
pub const COMMENT: &str = "comment";

/// The survey's dialogue: asking, understanding the answers, thanking.
impl Engine<'_> {
    pub(super) fn start_survey(&self, conv: &mut Conversation, ctx: &TurnContext) -> Decision {
        conv.surveyed = true;
        conv.state = DialogueState::Survey {
            step: Step::Solved,
            retried: false,
        };
        let m = self.messages(ctx);
        let mut d = Decision::say(plain(&m.survey_solved)).with_replies(&m.yes_no);
        d.survey_started = true;
        d
    }

    /// Asks a survey question, or asks it again.
    fn survey_question(
        &self,
        conv: &mut Conversation,
        ctx: &TurnContext,
        step: Step,
        again: bool,
    ) -> Decision {
        let (q, replies) = self.survey_prompt(ctx, step);
        conv.state = DialogueState::Survey {
            step,
            retried: again,
        };
        let said = if again { self.ask_again(ctx, &q) } else { q };
        Decision::say(said).with_replies(&replies)
    }

    /// A survey question and its quick replies.
    pub(super) fn survey_prompt(
        &self,
        ctx: &TurnContext,
        step: Step,
    ) -> (crate::intents::Rendered, Vec<String>) {
        let m = self.messages(ctx);
        match step {
            Step::Solved => (plain(&m.survey_solved), m.yes_no.clone()),
            Step::Person => (plain(&m.survey_unsolved), m.yes_no.clone()),
            Step::Rating => (
                plain(&m.survey_rating),
                (0..=10).map(|n| n.to_string()).collect(),
            ),
            Step::Comment => (plain(&m.survey_comment), Vec::new()),
        }
    }

    /// Thanks the customer and ends the conversation.
    pub(super) fn finish_survey(
        &self,
        conv: &mut Conversation,
        ctx: &TurnContext,
        answers: Vec<(String, String)>,
    ) -> Decision {
        let outcome = self.outcome(conv);
        let mut d = Decision::say(plain(&self.messages(ctx).survey_thanks)).ending(outcome);
        d.survey = answers;
        d
    }

    /// Handles an answer to a survey question; `None` when the customer moved on to a new request.
    pub(super) fn survey_answer(
        &self,
        conv: &mut Conversation,
        u: &Understanding,
        ctx: &TurnContext,
        step: Step,
        retried: bool,
        role: Option<Role>,
    ) -> Option<Decision> {
        let normalised =
            |t: &str| crate::nlu::normalize::words(&crate::nlu::normalize::fold(t)).join(" ");
        let words = normalised(ctx.text);
        let messages = self.messages(ctx);
        let skip = messages
            .survey_skip_normalised
            .get_or_init(|| messages.survey_skip.iter().map(|p| normalised(p)).collect())
            .contains(&words);
        // A survey answer is short and often not a sentence ("purple" to "from 0 to 10?"): only a confident
        // intent counts as the customer moving on to a new request.
        let new_request = role.is_none() && u.intent.is_some() && u.confidence >= NEW_REQUEST;
        let answered = |key: &str, value: String| vec![(key.to_string(), value)];
        // "No, where is 9012 though?": an order named with (or instead of) the yes or no is a question
        // about it, the conversation's topic or where it is; the yes or no is kept.
        if step == Step::Solved && !new_request {
            let named = u.given(crate::intents::EntityKind::OrderNumber);
            let takes_order = |d: &&crate::intents::Intent| {
                d.entities
                    .iter()
                    .any(|e| e.kind == crate::intents::EntityKind::OrderNumber)
            };
            let def =
                conv.topic
                    .as_deref()
                    .and_then(|t| self.pack.get(t))
                    .filter(takes_order)
                    .or_else(|| {
                        self.pack.intents.iter().find(|i| {
                            i.default_for == Some(crate::intents::EntityKind::OrderNumber)
                        })
                    });
            if let (Some(order), Some(def)) = (named, def) {
                let said = match (role, super::repair::leading_yes_or_no(&u.tokens)) {
                    (Some(Role::Affirm), _) | (_, Some(true)) => Some("yes"),
                    (Some(Role::Deny), _) | (_, Some(false)) => Some("no"),
                    _ => None,
                };
                if said == Some("no") {
                    conv.resolved = false;
                    conv.unsolved = true;
                }
                conv.state = DialogueState::Listening;
                let mut d = self.serve_with_order(conv, def, &order.value, ctx, false);
                if let Some(said) = said {
                    d.survey = answered(SOLVED, said.into());
                }
                return Some(d);
            }
        }
        let unclear = |conv: &mut Conversation| {
            if retried && step == Step::Solved {
                // Nothing was answered: no thanks for answers, a goodbye.
                let outcome = self.outcome(conv);
                Decision::say(plain(&messages.goodbye)).ending(outcome)
            } else if retried {
                self.finish_survey(conv, ctx, Vec::new())
            } else {
                self.survey_question(conv, ctx, step, true)
            }
        };
        // A rating given when another question was asked ("trois" to the offer of a person) is the rating:
        // a short message with one number from 0 to 10 and no request in it cannot mean anything else.
        // So is one said first, its reason after ("6 - the shoes were too small", "maybe a three
        // because…"), even when the reason reads as a request: the reason is the comment.
        // "Yes thanks", "y": the yes or no they open with, whatever the classifier made of the rest.
        let role = if step == Step::Solved
            && !new_request
            && !matches!(role, Some(Role::Affirm | Role::Deny))
        {
            match super::repair::leading_yes_or_no(&u.tokens) {
                Some(true) => Some(Role::Affirm),
                Some(false) => Some(Role::Deny),
                None => role,
            }
        } else {
            role
        };
        let with_reason = rating_with_reason(ctx.text);
        let starts_with_number = u
            .tokens
            .first()
            .is_some_and(|t| t.parse::<u8>().is_ok_and(|n| n <= 10));
        let (rating_given, reason) = if !matches!(step, Step::Person | Step::Solved) {
            (None, None)
        } else if !new_request && u.tokens.len() <= 8 {
            (Rating::parse(ctx.text).ok(), None)
        } else if !new_request {
            with_reason
                .clone()
                .map_or((None, None), |(r, why)| (Some(r), why))
        } else if starts_with_number {
            bare_rating_before_reason(ctx.text).map_or((None, None), |(r, why)| (Some(r), why))
        } else {
            (None, None)
        };
        // (At the rating's own question, the reason only when the words before it give the same
        // rating as the whole: "they said 3 days, it took 10, so 4" gives no reason.)
        let reason = reason.or_else(|| {
            let whole = Rating::parse(ctx.text).ok()?;
            let (r, why) = with_reason.filter(|_| step == Step::Rating)?;
            (r == whole).then_some(why).flatten()
        });
        let rate = |conv: &mut Conversation, r: Rating| {
            if let Some(why) = &reason {
                // The reason was given with the rating: it is not asked for.
                let mut a = answered(RATING, r.value().to_string());
                a.push((COMMENT.to_string(), why.clone()));
                return self.finish_survey(conv, ctx, a);
            }
            if r.category() == Category::Detractor {
                let mut d = self.survey_question(conv, ctx, Step::Comment, false);
                d.survey = answered(RATING, r.value().to_string());
                d
            } else {
                self.finish_survey(conv, ctx, answered(RATING, r.value().to_string()))
            }
        };
        Some(match step {
            Step::Solved => {
                let next = |conv: &mut Conversation, a: Vec<(String, String)>| {
                    let mut d = self.survey_question(conv, ctx, Step::Rating, false);
                    d.survey = a;
                    d
                };
                match (role, rating_given) {
                    _ if skip => next(conv, Vec::new()),
                    // "Yes, 10/10": both answers.
                    (Some(Role::Affirm), Some(r)) => {
                        let mut d = rate(conv, r);
                        d.survey.insert(0, (SOLVED.to_string(), "yes".into()));
                        d
                    }
                    (Some(Role::Affirm), _) => next(conv, answered(SOLVED, "yes".into())),
                    // "idk like a 7?": the rating, given before it was asked.
                    (None, Some(r)) => rate(conv, r),
                    (Some(Role::Deny), _) => {
                        // The customer's word beats ours: the conversation did not settle their request,
                        // and a person is offered before the rating (where the pack has the sentence).
                        conv.resolved = false;
                        conv.unsolved = true;
                        let mut d = if messages.survey_unsolved.is_empty() {
                            self.survey_question(conv, ctx, Step::Rating, false)
                        } else {
                            self.survey_question(conv, ctx, Step::Person, false)
                        };
                        d.survey = answered(SOLVED, "no".into());
                        d
                    }
                    _ if new_request => return None,
                    _ => unclear(conv),
                }
            }
            // Yes: the person the problem needs (the rating is not asked on top of it); no: the rating.
            Step::Person => match (
                role,
                super::repair::leading_yes_or_no(&u.tokens),
                rating_given,
            ) {
                _ if skip => self.survey_question(conv, ctx, Step::Rating, false),
                (Some(Role::Affirm | Role::Handoff), _, _) if !u.cues.declines => {
                    self.handoff(conv, ctx)
                }
                (_, Some(true), _) => self.handoff(conv, ctx),
                (Some(Role::Deny), _, _) | (_, Some(false), _) => {
                    self.survey_question(conv, ctx, Step::Rating, false)
                }
                (_, _, Some(r)) => rate(conv, r),
                _ if new_request => return None,
                _ if retried => self.survey_question(conv, ctx, Step::Rating, false),
                _ => self.survey_question(conv, ctx, step, true),
            },
            Step::Rating => match Rating::parse(ctx.text)
                .or_else(|e| bare_rating_before_reason(ctx.text).map(|(r, _)| r).ok_or(e))
            {
                _ if skip => self.finish_survey(conv, ctx, Vec::new()),
                // "No" declines the question, but a number is an answer whatever the classifier made of
                // the sentence ("une note de 8").
                Err(_) if role == Some(Role::Deny) => self.finish_survey(conv, ctx, Vec::new()),
                Ok(r) => rate(conv, r),
                Err(_) if new_request => return None,
                Err(_) => unclear(conv),
            },
            Step::Comment => {
                if skip || role == Some(Role::Deny) || ctx.text.trim().is_empty() {
                    self.finish_survey(conv, ctx, Vec::new())
                } else {
                    self.finish_survey(conv, ctx, answered(COMMENT, ctx.text.trim().to_string()))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_are_understood_typed_or_spoken_in_both_languages() {
        for (text, want) in [
            ("9", 9),
            ("nine", 9),
            ("neuf", 9),
            ("9/10", 9),
            ("dix sur dix", 10),
            ("a solid eight", 8),
            ("I'd say seven out of ten", 7),
            ("zéro", 0),
            ("je mets 3", 3),
            ("trois", 3),
            ("one", 1),
            ("un", 1),
            ("one out of ten", 1),
            ("une sur dix", 1),
            ("two out of ten", 2),
            ("ten", 10),
            ("I'd give this one a 9", 9),
            ("2 weeks late, so 0", 0),
            ("they said 3 days, it took 10, so I'd say 4", 4),
            ("9, one of the best", 9),
            ("no one helped, 3", 3),
            ("une note de 8", 8),
            ("c'est un 10", 10),
            ("je mets un huit", 8),
        ] {
            assert_eq!(Rating::parse(text).map(Rating::value), Ok(want), "{text}");
        }
    }

    #[test]
    fn a_rating_said_first_keeps_its_reason() {
        let got = |t: &str| rating_with_reason(t).map(|(r, why)| (r.value(), why));
        assert_eq!(
            got("6 - the shoes were nice but too small"),
            Some((6, Some("the shoes were nice but too small".into())))
        );
        assert_eq!(
            got("hmm I'd say maybe a three because the delivery is always late"),
            Some((3, Some("the delivery is always late".into())))
        );
        assert_eq!(
            got("huit, parce que c'était très rapide"),
            Some((8, Some("c'était très rapide".into())))
        );
        assert_eq!(got("9, great"), Some((9, None)));
        // Too many words before the reason: no rating from them.
        assert_eq!(
            got("the delivery was late again for the third time this month, 3"),
            None
        );
    }

    /// A lone word, of letters or digits or both ("8sur10": "out of ten" without spaces).
    #[test]
    fn a_lone_word_is_a_rating_when_it_says_one() {
        for (text, want) in [
            ("nine", Ok(9)),
            (" Neuf ", Ok(9)),
            ("9", Ok(9)),
            ("10", Ok(10)),
            ("one", Ok(1)),
            ("une", Ok(1)),
            ("zero", Ok(0)),
            ("11", Err(RatingError::OutOfRange(11))),
            ("good", Err(RatingError::NoNumber)),
            ("8sur10", Ok(8)),
            ("7/10", Ok(7)),
        ] {
            assert_eq!(Rating::parse(text).map(Rating::value), want, "{text}");
        }
    }

    #[test]
    fn a_rating_of_eleven_is_rejected() {
        assert_eq!(Rating::parse("eleven"), Err(RatingError::OutOfRange(11)));
        assert_eq!(Rating::parse("12/10"), Err(RatingError::OutOfRange(12)));
    }

    #[test]
    fn a_negative_rating_is_rejected_not_read_as_positive() {
        assert_eq!(Rating::parse("-1"), Err(RatingError::Negative));
        assert_eq!(Rating::parse("minus one"), Err(RatingError::Negative));
        assert_eq!(Rating::parse("moins deux"), Err(RatingError::Negative));
        assert!(Rating::parse("7-8").is_err());
        assert_eq!(
            Rating::parse("definitely a minus one"),
            Err(RatingError::Negative)
        );
        assert_eq!(Rating::parse("au moins 8").map(Rating::value), Ok(8));
        assert_eq!(Rating::parse("8 - very good").map(Rating::value), Ok(8));
    }

    #[test]
    fn an_answer_without_one_clear_number_is_not_a_rating() {
        assert_eq!(Rating::parse("pretty good"), Err(RatingError::NoNumber));
        assert!(Rating::parse("7 or 8 maybe").is_err());
    }

    #[test]
    fn categories_follow_nps() {
        assert_eq!(Rating::new(9).unwrap().category(), Category::Promoter);
        assert_eq!(Rating::new(8).unwrap().category(), Category::Passive);
        assert_eq!(Rating::new(6).unwrap().category(), Category::Detractor);
        assert_eq!(Rating::new(11), None);
    }
}
