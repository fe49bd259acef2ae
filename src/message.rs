//! The channel-neutral inbound message and reply.
//!
//! Every channel translates its platform's update into an [`Inbound`] and renders the [`Reply`] back; the
//! engine never sees a platform type, so one conversation test covers every channel.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a message came from. The same customer can reach us on several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// `parcours chat`, the terminal.
    Chat,
    /// The generic voice webhook (any assistant or phone system that sends a transcript).
    Voice,
    /// Twilio phone calls.
    Twilio,
    /// Amazon Alexa.
    Alexa,
    /// Telegram.
    Telegram,
}

impl Channel {
    /// All channels, for reports.
    pub const ALL: [Channel; 5] = [
        Channel::Chat,
        Channel::Voice,
        Channel::Twilio,
        Channel::Alexa,
        Channel::Telegram,
    ];

    /// The channel's name as stored and shown (`telegram`).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Chat => "chat",
            Channel::Voice => "voice",
            Channel::Twilio => "twilio",
            Channel::Alexa => "alexa",
            Channel::Telegram => "telegram",
        }
    }

    /// Parses a channel name.
    pub fn parse(s: &str) -> Option<Self> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether the answer is spoken (short answers, SSML, confirmation of doubtful transcripts).
    pub fn is_spoken(self) -> bool {
        matches!(self, Channel::Voice | Channel::Twilio | Channel::Alexa)
    }

    /// Whether the platform says a reprompt of its own when the caller goes quiet (Alexa's
    /// `reprompt`); elsewhere silence comes back as a turn, answered then.
    pub fn takes_reprompt(self) -> bool {
        self == Channel::Alexa
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A language the bot speaks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, PartialOrd, Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    Fr,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Fr];

    /// `en` or `fr`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// The language of a locale such as `fr-FR`, `en_US` or `fr`; `None` for a language we do not speak.
    pub fn from_locale(locale: &str) -> Option<Self> {
        let lang = locale
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match lang.as_str() {
            "en" => Some(Lang::En),
            "fr" => Some(Lang::Fr),
            _ => None,
        }
    }

    /// A BCP 47 locale for speech platforms (`en-US`, `fr-FR`).
    pub fn locale(self) -> &'static str {
        match self {
            Lang::En => "en-US",
            Lang::Fr => "fr-FR",
        }
    }
}

/// What kind of turn a platform sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Event {
    /// The customer said or typed something (possibly nothing: a silence on a spoken channel).
    #[default]
    Message,
    /// The customer opened the conversation without saying anything yet (an Alexa launch, a /start).
    Start,
    /// The customer asked what the bot can do (a platform help intent).
    Help,
    /// The customer or the platform ended the conversation (hang up, "stop", session ended).
    End,
    /// The customer asked for a person with a command (Telegram's /human).
    Handoff,
    /// The platform heard the customer but has no words to pass on (Alexa's fallback intent): the
    /// fallback answer, not a silence.
    NotUnderstood,
}

/// One message from a customer, whatever the channel.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// What kind of turn this is.
    pub event: Event,
    pub channel: Channel,
    /// The customer's id on that channel (a Telegram user id, a phone number, a device id).
    pub user: String,
    /// The platform's conversation id (a call's `CallSid`, an Alexa session), when it has one.
    pub session: Option<String>,
    /// What the customer said or typed.
    pub text: String,
    /// The speech recogniser's confidence in the transcript, 0 to 1, for spoken channels.
    pub asr_confidence: Option<f32>,
    /// The language the platform says the customer speaks.
    pub locale: Option<Lang>,
    /// When the message arrived.
    pub at: Timestamp,
    /// The platform's id of this delivery, when it has one: delivered again (a retry, another replica),
    /// the message is answered once.
    pub delivery: Option<Delivery>,
}

/// A platform's id for one delivery of a message (Telegram's `update_id`, Twilio's
/// `I-Twilio-Idempotency-Token`, a webhook's `Idempotency-Key`), the same on every redelivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Who delivers: `telegram`, `twilio`, `voice`, `alexa`.
    pub source: &'static str,
    pub id: String,
}

impl Delivery {
    /// Longest delivery id kept, in bytes (a longer one is not taken as an id).
    pub const MAX_LEN: usize = 256;

    /// A delivery id from a header or field, if it is one: non-empty, at most [`Delivery::MAX_LEN`] bytes.
    pub fn new(source: &'static str, id: &str) -> Option<Delivery> {
        let id = id.trim();
        (!id.is_empty() && id.len() <= Self::MAX_LEN && !id.contains('\0')).then(|| Delivery {
            source,
            id: id.to_string(),
        })
    }
}

impl Inbound {
    /// A typed message arriving now.
    pub fn text(channel: Channel, user: impl Into<String>, text: impl Into<String>) -> Self {
        Inbound {
            event: Event::Message,
            channel,
            user: user.into(),
            session: None,
            text: text.into(),
            asr_confidence: None,
            locale: None,
            at: Timestamp::now(),
            delivery: None,
        }
    }
}

/// The bot's answer, rendered by the channel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reply {
    /// The conversation (touchpoint) this reply belongs to.
    pub conversation_id: String,
    /// What a screen shows.
    pub text: String,
    /// The same answer for a speaker: a well-formed `<speak>` document.
    pub ssml: String,
    /// Suggested answers (buttons on Telegram).
    pub quick_replies: Vec<String>,
    /// The conversation is over (hang up, end the session).
    pub end: bool,
    /// The intent understood, if any.
    pub intent: Option<String>,
    /// The language of the answer.
    pub lang: Lang,
    /// What a speaker says if the customer stays silent after this reply, as SSML: the pending question
    /// again, or a general reprompt; empty on channels that do not take one
    /// ([`Channel::takes_reprompt`]).
    pub reprompt_ssml: String,
    /// A person has the conversation or is awaited: the place in the queue, who has it.
    pub handoff: Option<crate::handoff::HandoffStatus>,
    /// This delivery was answered before (a platform's retry): the reply is the one given then, and
    /// nothing was done again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_map_to_languages() {
        assert_eq!(Lang::from_locale("fr-FR"), Some(Lang::Fr));
        assert_eq!(Lang::from_locale("en_GB"), Some(Lang::En));
        assert_eq!(Lang::from_locale("de-DE"), None);
    }
}
