//! What the store keeps: customers, their identities on each channel, and touchpoints (one per
//! conversation, with every turn).

use crate::message::{Channel, Lang};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A customer, whatever channel they use.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Customer {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loyalty_points: Option<u64>,
    #[serde(default)]
    pub orders: Vec<Order>,
    /// Any other attribute imported or learnt.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub created_at: Timestamp,
}

impl Customer {
    /// The first word of the name.
    pub fn first_name(&self) -> Option<&str> {
        self.name
            .as_deref()
            .and_then(|n| n.split_whitespace().next())
    }

    /// Takes what `old` has that this customer lacks (a merge: `old` goes, this one stays).
    pub fn absorb(&mut self, old: Customer) {
        self.name = self.name.take().or(old.name);
        self.email = self.email.take().or(old.email);
        self.phone = self.phone.take().or(old.phone);
        self.loyalty_points = self.loyalty_points.or(old.loyalty_points);
        for o in old.orders {
            if self.order(&o.id).is_none() {
                self.orders.push(o);
            }
        }
        for (k, v) in old.attributes {
            self.attributes.entry(k).or_insert(v);
        }
        self.created_at = self.created_at.min(old.created_at);
    }

    /// The customer's order with this number.
    pub fn order(&self, id: &str) -> Option<&Order> {
        self.orders.iter().find(|o| o.id == id)
    }
}

/// An order and where it stands.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Order {
    pub id: String,
    /// `processing`, `shipped`, `out_for_delivery`, `delivered`, `cancelled`, `returned`, or free text.
    pub status: String,
    /// Expected delivery, as given by the order system (`2026-11-25`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta: Option<String>,
    /// Where it is delivered, when the customer changed it with the bot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The status before the bot cancelled it: a cancellation not yet processed can be undone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<String>,
    /// The expected delivery before the bot cancelled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_eta: Option<String>,
}

/// A customer's id on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub struct Identity {
    pub channel: Channel,
    pub id: String,
}

/// Who said a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    Customer,
    Bot,
    /// A member of staff (named in `author`).
    Staff,
    /// A change of owner or a private note: staff see it, the customer never does.
    System,
}

/// One line of a transcript.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Turn {
    pub at: Timestamp,
    pub speaker: Speaker,
    pub text: String,
    /// The intent understood (customer turns), or answered (bot turns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// The speech recogniser's confidence, for spoken turns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asr_confidence: Option<f32>,
    /// What made this turn a moment of friction, if anything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub irritants: Vec<Irritant>,
    /// Who wrote a staff turn or a note, or made a change of owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

impl Turn {
    /// A line said, with nothing understood or noted about it.
    pub fn said(at: Timestamp, speaker: Speaker, text: String) -> Turn {
        Turn {
            at,
            speaker,
            text,
            intent: None,
            confidence: None,
            asr_confidence: None,
            irritants: Vec::new(),
            author: None,
        }
    }

    /// A line of the transcript that only staff see: a change of owner, a note.
    pub fn system(at: Timestamp, author: Option<&str>, text: String) -> Turn {
        Turn {
            author: author.map(str::to_string),
            ..Turn::said(at, Speaker::System, text)
        }
    }
}

/// Who answers the customer in a conversation. A closed conversation has `ended_at` set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Owner {
    /// The bot answers.
    #[default]
    Bot,
    /// Handed off: waiting for a person since `since`.
    Waiting {
        since: Timestamp,
        /// What started the handoff (`human_agent`, `fallbacks`, `staff`, `api`...).
        reason: String,
        /// The customer asked to be called back rather than wait.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        callback: bool,
        /// The customer was told nobody could take it now (out of hours, or not claimed in time):
        /// it stays in the queue as a ticket, answered later on the same channel.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        ticket: bool,
        /// The place in the queue the customer was last told, and when.
        #[serde(default)]
        told_position: usize,
        #[serde(default)]
        told_at: Timestamp,
    },
    /// A member of staff has it: the bot is silent.
    Staff { name: String, since: Timestamp },
}

impl Owner {
    /// A person has it or is awaited: the bot says nothing of its own.
    pub fn is_human(&self) -> bool {
        !matches!(self, Owner::Bot)
    }
}

/// A sign that the customer is frustrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Irritant {
    /// Negative words ("useless", "nul", "I'm fed up").
    NegativeSentiment,
    /// The bot did not understand, again.
    RepeatedFallback,
    /// The customer asked the same thing again.
    RepeatedQuestion,
    /// The business's systems (the fulfillment webhook) failed to answer the turn.
    BackendError,
}

impl Irritant {
    pub fn as_str(self) -> &'static str {
        match self {
            Irritant::NegativeSentiment => "negative_sentiment",
            Irritant::RepeatedFallback => "repeated_fallback",
            Irritant::RepeatedQuestion => "repeated_question",
            Irritant::BackendError => "backend_error",
        }
    }
}

/// How a conversation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The customer's request was answered.
    Resolved,
    /// The customer left (or went silent) without an answer.
    Abandoned,
    /// Passed to a person.
    HandedOff,
    /// The customer stayed to the end and said their problem was not solved.
    Unresolved,
}

/// One conversation on one channel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Touchpoint {
    pub id: String,
    pub customer_id: String,
    pub channel: Channel,
    /// The customer's id on that channel.
    pub user: String,
    /// The platform's conversation id (a call's `CallSid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub lang: Lang,
    pub started_at: Timestamp,
    pub last_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    pub turns: Vec<Turn>,
    /// The intents the bot served in this conversation, in order, without consecutive repeats.
    pub intents: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Survey answers (did we solve it, 0-10 rating, comment), when asked.
    #[serde(default)]
    pub survey: BTreeMap<String, String>,
    /// The dialogue state, so that a conversation survives a restart (opaque to the store).
    #[serde(default)]
    pub state: State,
    /// Who answers: the bot, a person awaited, or a named member of staff.
    #[serde(default, skip_serializing_if = "is_bot")]
    pub owner: Owner,
    /// Staff replies not yet said to a customer whose channel cannot be written to unasked (a call, a
    /// voice assistant): said at the start of their next turn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<String>,
    /// The last member of staff who answered in it: the survey's rating is theirs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled_by: Option<String>,
    /// When the customer was first put in the queue, and when a person first took it (for waiting
    /// times in reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<Timestamp>,
}

/// A conversation's dialogue state, opaque to the store: kept as its JSON text, so that a turn
/// serialises the engine's state once, straight to text, rather than into a tree of values first.
///
/// A state this process wrote ([`State::keeping`]) also keeps the value it was written from, so that the
/// next turn of a conversation kept in memory reads it back without parsing the text.
#[derive(Clone)]
pub struct State {
    /// Always a JSON value's text: made by serde_json, or by a writer held to it byte for byte.
    json: Box<str>,
    kept: Option<std::sync::Arc<dyn std::any::Any + Send + Sync>>,
}

impl State {
    /// The state of `value` (the engine's `Conversation`).
    pub fn of<T: Serialize>(value: &T) -> Result<State, serde_json::Error> {
        let json = serde_json::to_string(value)?.into_boxed_str();
        Ok(State { json, kept: None })
    }

    /// The state of `value`, written by `write` (the value's JSON as serde_json writes it: a
    /// writer of [`crate::json`], whose tests hold it to serde_json's), and kept beside its text for
    /// [`State::read_kept`]. Parsing the text must give `value` back (a type whose serialisation
    /// loses nothing), or the two readings would differ.
    pub fn keeping<T: Send + Sync + 'static>(
        value: T,
        write: fn(&mut Vec<u8>, &T) -> Result<(), serde_json::Error>,
    ) -> Result<State, serde_json::Error> {
        let mut json = Vec::with_capacity(256);
        write(&mut json, &value)?;
        // The writers write strings whole, as they were given: UTF-8 in, UTF-8 out.
        let json = String::from_utf8(json)
            .map_err(|e| <serde_json::Error as serde::ser::Error>::custom(e.to_string()))?;
        Ok(State {
            json: json.into_boxed_str(),
            kept: Some(std::sync::Arc::new(value)),
        })
    }

    /// Reads it back as `T`.
    pub fn read<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.json)
    }

    /// [`State::read`], from the value kept beside the text when there is one of type `T`; a state never
    /// written (JSON `null`) is `T`'s default, without a parse that fails.
    pub fn read_kept<T: serde::de::DeserializeOwned + Clone + Default + 'static>(
        &self,
    ) -> Result<T, serde_json::Error> {
        match self.kept.as_deref().and_then(|k| k.downcast_ref::<T>()) {
            Some(value) => Ok(value.clone()),
            None if &*self.json == "null" => Ok(T::default()),
            None => self.read(),
        }
    }

    /// [`State::read_kept`], taking the value kept rather than copying it when nothing else shares it
    /// (a turn's own conversation, taken from the store's warm ones); the text stays, and is read if
    /// the value is asked for again.
    pub fn take_kept<T: serde::de::DeserializeOwned + Clone + Default + Send + Sync + 'static>(
        &mut self,
    ) -> Result<T, serde_json::Error> {
        match self.kept.take().map(|k| k.downcast::<T>()) {
            Some(Ok(value)) => Ok(std::sync::Arc::unwrap_or_clone(value)),
            Some(Err(other)) => {
                self.kept = Some(other);
                self.read_kept()
            }
            None => self.read_kept(),
        }
    }

    /// Its JSON text.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// As a JSON value (null if it cannot be read).
    pub fn value(&self) -> serde_json::Value {
        self.read().unwrap_or_default()
    }
}

impl Default for State {
    fn default() -> Self {
        State {
            json: "null".into(),
            kept: None,
        }
    }
}

impl From<serde_json::Value> for State {
    fn from(value: serde_json::Value) -> Self {
        // A value always has a JSON text.
        State::of(&value).expect("a JSON value serialises")
    }
}

/// The same JSON, whatever its spacing (PostgreSQL gives it back its own way).
impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json || self.value() == other.value()
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.json)
    }
}

/// Its text as it is (through serde_json's raw value, which checks it is JSON).
impl Serialize for State {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw: &serde_json::value::RawValue =
            serde_json::from_str(&self.json).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

/// Read through a value, so that any deserializer can give it (a PostgreSQL row's JSON value too).
impl<'de> Deserialize<'de> for State {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(d).map(State::from)
    }
}

fn is_bot(owner: &Owner) -> bool {
    *owner == Owner::Bot
}

impl Touchpoint {
    /// A conversation that starts at `at`, with nothing said yet, the bot answering.
    pub fn new(
        id: String,
        customer_id: String,
        channel: Channel,
        user: String,
        at: Timestamp,
    ) -> Self {
        Touchpoint {
            id,
            customer_id,
            channel,
            user,
            session: None,
            lang: Lang::default(),
            started_at: at,
            last_at: at,
            ended_at: None,
            turns: Vec::new(),
            intents: Vec::new(),
            outcome: None,
            survey: BTreeMap::new(),
            state: State::default(),
            owner: Owner::Bot,
            outbox: Vec::new(),
            handled_by: None,
            queued_at: None,
            claimed_at: None,
        }
    }

    /// Whether the conversation is still going on.
    pub fn is_open(&self) -> bool {
        self.ended_at.is_none()
    }

    /// The survey's 0-10 rating, if given.
    pub fn rating(&self) -> Option<u8> {
        self.survey
            .get(crate::engine::survey::RATING)
            .and_then(|r| r.parse().ok())
    }

    /// Whether any turn was a moment of friction.
    pub fn has_irritant(&self) -> bool {
        self.turns.iter().any(|t| !t.irritants.is_empty())
    }
}
