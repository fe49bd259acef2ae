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
    /// `order`: the order the message that asked it named for it ("where is 55012, and can I change
    /// the address of 88231?"), when it named another for the first request.
    AwaitingRecall {
        intent: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        order: Option<String>,
    },
    /// A satisfaction question is pending; `retried` once it was asked again.
    Survey { step: Step, retried: bool },
}

/// Everything the engine remembers about a conversation. Saved without the fields at their defaults
/// (read back as the defaults): most are, on most turns, and the state is written at every turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Conversation {
    #[serde(skip_serializing_if = "DialogueState::is_listening")]
    pub state: DialogueState,
    /// Fallbacks in a row; reset by any understood message.
    #[serde(skip_serializing_if = "is_zero")]
    pub fallbacks_in_row: u32,
    /// Silent turns in a row (spoken channels).
    #[serde(skip_serializing_if = "is_zero")]
    pub silences_in_row: u32,
    /// A resolving answer was given.
    #[serde(skip_serializing_if = "is_false")]
    pub resolved: bool,
    /// Which fallback sentence comes next.
    #[serde(skip_serializing_if = "is_zero")]
    pub fallback_turn: u32,
    /// The language of the conversation so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<Lang>,
    /// The satisfaction questions were asked in this conversation.
    #[serde(skip_serializing_if = "is_false")]
    pub surveyed: bool,
    /// Topic intents answered so far, each with the entity values it was asked about (see
    /// [`answered_key`]), to notice the same question asked again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub answered: Vec<String>,
    /// Customer messages so far.
    #[serde(skip_serializing_if = "is_zero")]
    pub turns: u32,
    /// The customer said the conversation did not solve their problem.
    #[serde(skip_serializing_if = "is_false")]
    pub unsolved: bool,
    /// The current topic: the last request served or being served, and the order it is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_order: Option<String>,
    /// Every answer served, as [`answered_key`]s, to answer a repeated question differently.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub served: Vec<String>,
    /// The next answer is a follow-up ("how long?", "still nothing"): the topic's next piece of
    /// information rather than its first answer.
    #[serde(skip_serializing_if = "is_false")]
    pub followup_next: bool,
    /// The customer took the answer (thanks, goodbye, ok, "that's it", yes to "did that solve it").
    #[serde(skip_serializing_if = "is_false")]
    pub acknowledged: bool,
    /// The same question came a third time: the answers did not settle it.
    #[serde(skip_serializing_if = "is_false")]
    pub repeated: bool,
    /// A person was offered because a question was repeated (said once per conversation).
    #[serde(skip_serializing_if = "is_false")]
    pub offered_for_repeat: bool,
    /// Other requests the customer made in a message, to take up next.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl DialogueState {
    fn is_listening(&self) -> bool {
        *self == DialogueState::Listening
    }
}

/// How an answered question is remembered: the intent, then the entity values it was about, so that
/// "and order 1234?" after order 4567 is a new question, not the same one again.
pub fn answered_key(intent: &str, values: &[&str]) -> String {
    let len = intent.len() + values.iter().map(|v| v.len() + 1).sum::<usize>();
    let mut key = String::with_capacity(len);
    key.push_str(intent);
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
                order: None,
            },
            DialogueState::AwaitingRecall {
                intent: "change_delivery_address".into(),
                order: Some("88231".into()),
            },
            DialogueState::Survey {
                step: Step::Rating,
                retried: true,
            },
            DialogueState::Survey {
                step: Step::Person,
                retried: false,
            },
        ];
        // A state saved with every field (before the defaults were left out) reads the same.
        let every_field = r#"{"state":{"kind":"listening"},"fallbacks_in_row":0,"silences_in_row":0,"resolved":false,"fallback_turn":0,"lang":null,"surveyed":false,"answered":[],"turns":3,"unsolved":false,"topic":null,"topic_order":null,"served":[],"followup_next":false,"acknowledged":false,"repeated":false,"offered_for_repeat":false,"also":[]}"#;
        assert_eq!(
            serde_json::from_str::<Conversation>(every_field).unwrap(),
            Conversation {
                turns: 3,
                ..Conversation::default()
            }
        );
        // A state with some fields at their defaults (left out, the first of them too) is written by
        // hand as serde_json writes it.
        for sparse in [
            Conversation::default(),
            Conversation {
                turns: 3,
                ..Conversation::default()
            },
            Conversation {
                lang: Some(Lang::En),
                also: vec!["refund_status".into()],
                ..Conversation::default()
            },
            Conversation {
                state: DialogueState::OfferedHuman,
                offered_for_repeat: true,
                ..Conversation::default()
            },
        ] {
            let state =
                crate::store::State::keeping(sparse.clone(), crate::json::conversation).unwrap();
            assert_eq!(state.json(), serde_json::to_string(&sparse).unwrap());
            assert_eq!(state.read::<Conversation>().unwrap(), sparse);
        }
        let fresh = crate::store::State::of(&Conversation::default()).unwrap();
        assert_eq!(
            format!("{fresh:?}"),
            "{}",
            "a fresh conversation is saved as nothing"
        );
        assert_eq!(
            fresh.read::<Conversation>().unwrap(),
            Conversation::default()
        );
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
            let state =
                crate::store::State::keeping(conv.clone(), crate::json::conversation).unwrap();
            assert_eq!(
                state.json(),
                serde_json::to_string(&conv).unwrap(),
                "written by hand as serde_json writes it"
            );
            assert_eq!(state.read::<Conversation>().unwrap(), conv);
            assert_eq!(state.read_kept::<Conversation>().unwrap(), conv);
            // Taken from a state that shares it: the other keeps it; the taken one reads its text.
            let mut taken = state.clone();
            assert_eq!(taken.take_kept::<Conversation>().unwrap(), conv);
            assert_eq!(taken.read_kept::<Conversation>().unwrap(), conv);
            assert_eq!(taken, state);
            assert_eq!(state.read_kept::<Conversation>().unwrap(), conv);
            let mut alone =
                crate::store::State::keeping(conv.clone(), crate::json::conversation).unwrap();
            assert_eq!(alone.take_kept::<Conversation>().unwrap(), conv);
        }
    }
}
