//! What the staff API shows: touchpoints and customers with readable times (RFC 3339).

use crate::message::Channel;
use crate::store::{Customer, Identity, Irritant, Outcome, Speaker, Touchpoint, Turn};
use serde::Serialize;
use std::collections::BTreeMap;

/// A conversation in a list.
#[derive(Debug, Serialize)]
pub struct ConversationSummary {
    pub id: String,
    pub customer_id: String,
    pub channel: Channel,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub outcome: Option<Outcome>,
    pub intents: Vec<String>,
    pub rating: Option<u8>,
    /// How many turns; left out of a [`Transcript`], whose `turns` are the turns themselves (one key, one
    /// meaning: strict JSON readers reject a repeated key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turns: Option<usize>,
    pub irritants: usize,
}

impl From<&Touchpoint> for ConversationSummary {
    fn from(tp: &Touchpoint) -> Self {
        ConversationSummary {
            id: tp.id.clone(),
            customer_id: tp.customer_id.clone(),
            channel: tp.channel,
            started_at: tp.started_at.to_string(),
            ended_at: tp.ended_at.map(|t| t.to_string()),
            outcome: tp.outcome,
            intents: tp.intents.clone(),
            rating: rating(tp),
            turns: Some(tp.turns.len()),
            irritants: tp.turns.iter().map(|t| t.irritants.len()).sum(),
        }
    }
}

/// The 0-10 rating of a conversation, if the customer gave one.
pub fn rating(tp: &Touchpoint) -> Option<u8> {
    tp.rating()
}

/// One line of a transcript.
#[derive(Debug, Serialize)]
pub struct TurnView {
    pub at: String,
    pub speaker: Speaker,
    pub text: String,
    pub intent: Option<String>,
    pub confidence: Option<f32>,
    pub asr_confidence: Option<f32>,
    pub irritants: Vec<Irritant>,
    /// The member of staff, for their replies, notes and changes of owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

impl From<&Turn> for TurnView {
    fn from(t: &Turn) -> Self {
        TurnView {
            at: t.at.to_string(),
            speaker: t.speaker,
            text: t.text.clone(),
            intent: t.intent.clone(),
            confidence: t.confidence,
            asr_confidence: t.asr_confidence,
            irritants: t.irritants.clone(),
            author: t.author.clone(),
        }
    }
}

/// A whole conversation.
#[derive(Debug, Serialize)]
pub struct Transcript {
    #[serde(flatten)]
    pub summary: ConversationSummary,
    pub lang: crate::message::Lang,
    pub session: Option<String>,
    pub survey: BTreeMap<String, String>,
    pub turns: Vec<TurnView>,
    /// Who answers: the bot, a person awaited (`waiting`), or a named member of staff.
    pub owner: crate::store::Owner,
    /// The last member of staff who answered (the survey's rating is theirs).
    pub handled_by: Option<String>,
}

impl From<&Touchpoint> for Transcript {
    fn from(tp: &Touchpoint) -> Self {
        Transcript {
            summary: ConversationSummary {
                turns: None,
                ..tp.into()
            },
            lang: tp.lang,
            session: tp.session.clone(),
            survey: tp.survey.clone(),
            turns: tp.turns.iter().map(TurnView::from).collect(),
            owner: tp.owner.clone(),
            handled_by: tp.handled_by.clone(),
        }
    }
}

/// A customer's profile with identities and touchpoints.
#[derive(Debug, Serialize)]
pub struct Profile {
    #[serde(flatten)]
    pub customer: Customer,
    pub identities: BTreeMap<String, Vec<String>>,
    pub touchpoints: Vec<ConversationSummary>,
}

impl Profile {
    pub fn new(customer: Customer, identities: &[Identity], touchpoints: &[Touchpoint]) -> Self {
        let mut by_channel: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for i in identities {
            by_channel
                .entry(i.channel.to_string())
                .or_default()
                .push(i.id.clone());
        }
        Profile {
            customer,
            identities: by_channel,
            touchpoints: touchpoints.iter().map(ConversationSummary::from).collect(),
        }
    }
}
