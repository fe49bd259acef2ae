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
    /// Topic intents answered so far (to notice a question asked again).
    pub answered: Vec<String>,
}
