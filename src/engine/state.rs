//! The dialogue state of one conversation: an enum that carries what it has collected, saved with the
//! touchpoint after every turn so that a conversation survives a restart.

use super::survey::Step;
use crate::message::Lang;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Entity values collected so far, by entity name.
pub type Collected = BTreeMap<String, String>;

/// Where the dialogue stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DialogueState {
    /// Waiting for the customer's request.
    #[default]
    Listening,
    /// An intent needs `entity`; we asked for it `attempts` times.
    AwaitingEntity {
        intent: String,
        entity: String,
        collected: Collected,
        attempts: u32,
    },
    /// An intent that acts on something waits for a yes or no.
    AwaitingConfirmation {
        intent: String,
        collected: Collected,
    },
    /// We offered a person and wait for a yes or no.
    OfferedHuman,
    /// We asked whether the customer comes back about `intent`, left unsettled recently.
    AwaitingRecall { intent: String },
    /// A satisfaction question is pending; `retried` once it was asked again.
    Survey { step: Step, retried: bool },
}

/// Everything the engine remembers about a conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Conversation {
    pub state: DialogueState,
    /// Fallbacks in a row; reset by any understood message.
    pub fallbacks_in_row: u32,
    /// Silent turns in a row (spoken channels).
    pub silences_in_row: u32,
    /// A resolving answer was given.
    pub resolved: bool,
    /// Which fallback sentence comes next.
    pub fallback_turn: u32,
    /// The language of the conversation so far.
    pub lang: Option<Lang>,
    /// The satisfaction questions were asked in this conversation.
    pub surveyed: bool,
    /// Topic intents answered so far, each with the entity values it was asked about (see
    /// [`answered_key`]), to notice the same question asked again.
    pub answered: Vec<String>,
    /// Customer messages so far.
    pub turns: u32,
    /// The customer said the conversation did not solve their problem.
    pub unsolved: bool,
    /// The current topic: the last request served or being served, and the order it is about.
    pub topic: Option<String>,
    pub topic_order: Option<String>,
    /// Every answer served, as [`answered_key`]s, to answer a repeated question differently.
    pub served: Vec<String>,
    /// The next answer is a follow-up ("how long?", "still nothing"): the topic's next piece of
    /// information rather than its first answer.
    pub followup_next: bool,
    /// The customer took the answer (thanks, goodbye, ok, "that's it", yes to "did that solve it").
    pub acknowledged: bool,
    /// The same question came a third time: the answers did not settle it.
    pub repeated: bool,
    /// A person was offered because a question was repeated (said once per conversation).
    pub offered_for_repeat: bool,
    /// Other requests the customer made in a message, to take up next.
    pub also: Vec<String>,
}

/// How an answered question is remembered: the intent, then the entity values it was about, so that
/// "and order 1234?" after order 4567 is a new question, not the same one again.
pub fn answered_key(intent: &str, values: &[&str]) -> String {
    let mut key = intent.to_string();
    for v in values {
        key.push('\u{1f}');
        key.push_str(v);
    }
    key
}

/// The intent of an [`answered_key`].
pub fn answered_intent(key: &str) -> &str {
    key.split('\u{1f}').next().unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A turn kept in memory reads its state back as it was written (`State::read_kept`), a turn after
    /// a restart by parsing the text: the two must be the same conversation, whatever it holds.
    #[test]
    fn a_conversation_read_back_from_its_json_is_the_one_written() {
        let collected: Collected = [("order_number".to_string(), "4567 \"x\" \u{1f}é".to_string())]
            .into_iter()
            .collect();
        let states = [
            DialogueState::Listening,
            DialogueState::AwaitingEntity {
                intent: "order_status".into(),
                entity: "order_number".into(),
                collected: collected.clone(),
                attempts: 2,
            },
            DialogueState::AwaitingConfirmation {
                intent: "cancel_order".into(),
                collected,
            },
            DialogueState::OfferedHuman,
            DialogueState::AwaitingRecall {
                intent: "refund_status".into(),
            },
            DialogueState::Survey {
                step: Step::Rating,
                retried: true,
            },
        ];
        for state in states {
            let conv = Conversation {
                state,
                fallbacks_in_row: 1,
                silences_in_row: 2,
                resolved: true,
                fallback_turn: 3,
                lang: Some(Lang::Fr),
                surveyed: true,
                answered: vec![answered_key("order_status", &["4567"])],
                turns: 7,
                unsolved: true,
                topic: Some("order_status".into()),
                topic_order: Some("4567".into()),
                served: vec!["order_status".into(), "<b>&".into()],
                followup_next: true,
                acknowledged: true,
                repeated: true,
                offered_for_repeat: true,
                also: vec!["refund_status".into()],
            };
            let state = crate::store::State::keeping(conv.clone()).unwrap();
            assert_eq!(state.read::<Conversation>().unwrap(), conv);
            assert_eq!(state.read_kept::<Conversation>().unwrap(), conv);
        }
    }
}
