//! The intent pack: every `*.toml` file in the intents folder is one intent, and `messages.toml` holds the
//! engine's own sentences (fallback, human offer, …). Loading validates everything, so that a bad file stops
//! start-up with the file, the intent and what is wrong, instead of misbehaving in a conversation.

pub mod template;

use crate::message::Lang;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
pub use template::{Rendered, SayAs, Template, Value};

/// What an entity is, which decides how it is extracted and spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// 4 to 9 digits, typed or spoken ("four five six seven").
    OrderNumber,
    Email,
    Phone,
    /// A calendar date, resolved to `YYYY-MM-DD` ("tomorrow", "lundi", "12/03").
    Date,
    /// A postal address, free text as the customer gave it ("14 avenue Foch", "12 Baker Street, London").
    Address,
}

/// The special meaning an intent can have for the dialogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Greeting,
    Goodbye,
    Thanks,
    Affirm,
    Deny,
    /// The customer wants a person: the conversation is handed off.
    Handoff,
    /// The customer asks what the bot can do (not a request of its own).
    Help,
}

/// What an intent does to the customer's orders once it is confirmed (see `action` in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The order's status becomes `cancelled`.
    CancelOrder,
    /// The order's delivery address becomes the `address` entity, or its expected date the `date` entity.
    ChangeDelivery,
    /// A cancellation not yet processed is undone: the order gets back the status it had.
    ReinstateOrder,
    /// The customer's email becomes the intent's email entity.
    UpdateEmail,
}

/// An entity an intent needs.
#[derive(Debug, Clone)]
pub struct EntitySpec {
    pub name: String,
    pub kind: EntityKind,
    pub required: bool,
    /// Required unless this other entity was given (a new address, unless a new date was).
    pub required_unless: Option<String>,
    /// The question that asks for it, per language.
    pub ask: BTreeMap<Lang, Template>,
}

/// A confirmation asked before an intent that acts on something.
#[derive(Debug, Clone)]
pub struct Confirm {
    /// Per language, the first question whose placeholders can all be filled is asked.
    pub question: BTreeMap<Lang, Vec<Template>>,
    /// Confirm every time, not only when the transcript is doubtful.
    pub always: bool,
}

/// One intent, validated.
#[derive(Debug, Clone)]
pub struct Intent {
    pub name: String,
    pub description: String,
    pub resolves: bool,
    pub role: Option<Role>,
    pub patterns: Vec<String>,
    pub entities: Vec<EntitySpec>,
    pub confirm: Option<Confirm>,
    pub examples: BTreeMap<Lang, Vec<String>>,
    pub answers: BTreeMap<Lang, Vec<Template>>,
    /// Answers said instead of [`Intent::answers`] on spoken channels, where those speak of the screen
    /// ("tap Notify me", "our /stores page"); per language, none when the written ones do.
    pub voice_answers: BTreeMap<Lang, Vec<Template>>,
    pub quick_replies: BTreeMap<Lang, Vec<String>>,
    /// What the intent does to the order it names, once answered.
    pub action: Option<Action>,
    /// The order statuses the intent can act on or serve (cancel only before shipping, return only after
    /// delivery); empty: any.
    pub allowed_statuses: Vec<String>,
    /// What is said, per language, about an order whose status is not allowed: why, and what can be done.
    pub not_allowed: BTreeMap<Lang, Template>,
    /// Said when the customer follows the topic up ("how long?", "still nothing", the same question
    /// again): the next piece of information, taken in turn.
    pub followups: BTreeMap<Lang, Vec<Template>>,
    /// A message that is only this kind of entity, with no request pending ("5521"), is this intent.
    pub default_for: Option<EntityKind>,
    /// Intents a follow-up of this topic is often read as ("still nothing on my card" after a refund
    /// question reads like a payment problem): with a follow-up cue, such a reading continues this topic.
    pub related: Vec<String>,
    /// Its data comes from the business's fulfillment webhook (the default URL, or its own).
    pub fulfillment: Option<Fulfillment>,
}

/// Where an intent's live data and actions come from (`fulfillment` in its TOML).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fulfillment {
    /// `fulfillment = true`: the default URL (`fulfillment_url`, `PARCOURS_FULFILLMENT_URL`); with
    /// none configured, the imported profile answers, as without the key.
    Default,
    /// `fulfillment = "https://…"`: this intent's own URL.
    Url(String),
}

impl Intent {
    /// The URL the intent's data comes from, given the default one; `None`: the store answers.
    pub fn fulfillment_url<'a>(&'a self, default: Option<&'a str>) -> Option<&'a str> {
        match &self.fulfillment {
            None => None,
            Some(Fulfillment::Default) => default,
            Some(Fulfillment::Url(u)) => Some(u),
        }
    }
}

/// `fulfillment` as written: `true`, `false` or a URL.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawFulfillment {
    On(bool),
    Url(String),
}

/// The engine's own sentences in one language.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Messages {
    /// Said when nothing was understood; taken in turn.
    pub fallback: Vec<String>,
    /// Offered after repeated fallbacks.
    pub offer_human: String,
    /// Asked when the customer may want a person but the bot is not sure.
    pub offer_human_asked: String,
    /// Added to an answer when the customer seems frustrated.
    pub offer_human_irritated: String,
    /// Said when the customer accepts a person.
    pub handoff: String,
    /// Returned when a message greets and asks at once ("Hello!", "Hello {first_name}!").
    pub greet: String,
    pub greet_named: String,
    /// Offers the second request of a message once the first is served; `{topic}` names it.
    pub also_asked: String,
    /// Said when the customer drops the pending question ("forget it").
    pub flow_dropped: String,
    /// Said when the customer thanks or leaves while a change waits for a yes: nothing was done.
    pub nothing_changed: String,
    /// Said when the customer declines the offer of a person.
    pub human_declined: String,
    /// Said when the customer says no to a confirmation.
    pub confirm_declined: String,
    /// Said when an intent that acts on an order names one that is not the customer's; `{order_id}` is
    /// the number given.
    pub order_not_found: String,
    /// Said when an intent that acts on an order names one past changing (delivered, cancelled,
    /// returned); `{order_id}` and `{order.status}` as in answers.
    pub order_not_changeable: String,
    /// [`Messages::offer_human_irritated`] without its apology, after an answer that apologised
    /// (the other is said when empty).
    #[serde(default)]
    pub offer_human_after_apology: String,
    /// Said when the email a customer gives as her new one is the one on file (`{email}`); the change
    /// is confirmed as usual when empty.
    #[serde(default)]
    pub email_unchanged: String,
    /// Said when a message held a card number, deleted before it was read or stored.
    pub sensitive_removed: String,
    /// Said when the business's systems (the fulfillment webhook) did not answer: a person is offered.
    pub backend_unavailable: String,
    /// The same, for an action: nothing was changed.
    pub backend_unavailable_action: String,
    /// Said when the business refused an action without a sentence of its own.
    pub action_refused: String,
    /// Said on the phone while a lookup takes long ("One moment, I'm checking.").
    pub checking: String,
    /// Said when an entity was asked for and not understood; `{question}` is the original question.
    pub ask_again: String,
    /// Said when an entity was asked for too many times.
    pub entity_given_up: String,
    /// Said to a caller who said nothing.
    pub reprompt: String,
    /// Said to a silent caller while a question is pending; `{question}` is that question.
    pub reprompt_question: String,
    /// Said before hanging up on a silent caller.
    pub silent_goodbye: String,
    /// Quick replies for yes/no questions.
    pub yes_no: Vec<String>,
    /// What the bot can do, when the customer asks for help.
    pub help: String,
    /// Said when the customer ends the conversation without a goodbye of their own ("stop").
    pub goodbye: String,
    /// Satisfaction questions: did that solve it, 0-10 recommendation, what to do better; thanks.
    pub survey_solved: String,
    /// After a "no" to [`Messages::survey_solved`]: a person offered before the rating (none when
    /// empty: the rating is asked at once).
    #[serde(default)]
    pub survey_unsolved: String,
    /// The customer's orders, offered when the order number asked for does not come ("I don't know the
    /// number"): "{orders}" is the list ("4567 (on its way), 1234 (delivered)"); none when empty.
    #[serde(default)]
    pub orders_to_pick: String,
    pub survey_rating: String,
    pub survey_comment: String,
    pub survey_thanks: String,
    /// Answers that skip a survey question.
    pub survey_skip: Vec<String>,
    /// [`Messages::survey_skip`] as the engine compares them (normalised once, by the engine).
    #[serde(skip)]
    pub survey_skip_normalised: std::sync::OnceLock<Vec<String>>,
    /// "I see you {contact} {when} about {topic}. Is this about that?"
    pub recall: String,
    /// {contact} after a call, and after a written conversation.
    pub recall_called: String,
    pub recall_wrote: String,
    /// {when}: today, yesterday, "{n} days ago".
    pub today: String,
    pub yesterday: String,
    pub days_ago: String,
    /// How each topic intent is named in a sentence ("refund_status" → "your refund").
    pub topics: BTreeMap<String, String>,
    /// A link code was made: `{code}` is the six digits.
    pub link_code: String,
    /// Two identities were joined.
    pub linked: String,
    /// A link code that does not exist or has expired.
    pub link_invalid: String,
    /// Telegram: what the bot can do, after /start.
    pub welcome: String,
    /// A message the bot cannot read (a sticker, a photo, a location).
    pub unsupported: String,
    /// A voice note when no transcription service is configured.
    pub voice_unsupported: String,
    /// The button that shares the customer's phone number.
    pub share_phone: String,
    /// A shared phone number was linked.
    pub phone_linked: String,
    /// Someone else's contact was shared.
    pub contact_not_own: String,
    /// What /forget erases, and how to confirm.
    pub forget_info: String,
    /// Erasure done.
    pub forgotten: String,
    /// How each order status is said ("shipped" → "on its way").
    pub order_status: BTreeMap<String, String>,
    /// What the customer is told about the people side: the queue, a person joining or leaving.
    #[serde(default)]
    pub people: PeopleMessages,
    /// The greeting's first word, and the ones said back to a customer who greets by the time of day.
    #[serde(default)]
    pub salutations: Salutations,
}

/// `[en.salutations]`: a greeting that starts with `hello` starts instead with the customer's own
/// "good evening" (an empty one keeps `hello`: French mornings and afternoons are both "Bonjour").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Salutations {
    pub hello: String,
    pub morning: String,
    pub afternoon: String,
    pub evening: String,
}

/// The sentences of a handoff (`[en.people]` in `messages.toml`). `{position}`, `{minutes}`, `{name}`,
/// `{text}`, `{when}`, `{time}`, `{days}`, `{reference}` are filled in.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PeopleMessages {
    pub queued: String,
    pub queued_voice: String,
    pub position: String,
    pub out_of_hours: String,
    pub not_claimed: String,
    pub joined: String,
    pub left: String,
    pub staff_says: String,
    pub cancelled: String,
    /// Leaving the queue, or the person, with a request in the same message: said before its answer.
    pub back_with_request: String,
    pub callback: String,
    /// [`People::callback`] in writing, with the number that will be called (`{phone}`); the other is
    /// said when empty.
    #[serde(default)]
    pub callback_on: String,
    pub kept: String,
    pub still_waiting_voice: String,
    /// A request the assistant could answer, typed while waiting: the place and the way back.
    pub ask_me_instead: String,
    pub staff_writing_voice: String,
    pub alexa: String,
    pub closed: String,
    pub keep_waiting: String,
    pub call_back: String,
    pub back_to_bot: String,
    pub twilio_wait: String,
    pub twilio_whisper: String,
    pub twilio_callback: String,
    pub twilio_no_answer: String,
    pub today_at: String,
    pub tomorrow_at: String,
    pub in_days_at: String,
    pub soon: String,
}

impl Default for PeopleMessages {
    fn default() -> Self {
        let s = |t: &str| t.to_string();
        PeopleMessages {
            queued: s(
                "Connecting you to a person. You're number {position}, usually about {minutes} minutes. You can keep writing here.",
            ),
            queued_voice: s(
                "I'm connecting you to a person. You're number {position}, about {minutes} minutes.",
            ),
            position: s("You're now number {position} in the queue."),
            out_of_hours: s(
                "Our team isn't available right now; they're back {when}. Leave your message here and a person will reply on this channel, or choose a call back.",
            ),
            not_claimed: s(
                "Sorry, nobody from the team is free yet. Your request stays in the queue and a person will reply here, or you can ask for a call back.",
            ),
            joined: s("{name} from support joined."),
            left: s("{name} has left; I'm the assistant again."),
            staff_says: s("{name}: {text}"),
            cancelled: s("OK, I'm the assistant again. How can I help?"),
            back_with_request: s("OK, I'm the assistant again."),
            callback: s("Noted: someone from the team will call you back as soon as they can."),
            callback_on: s(
                "Noted: someone from the team will call you back on {phone} as soon as they can.",
            ),
            kept: s("Your request stays with our team; a person will reply here."),
            still_waiting_voice: s(
                "A person will be with you shortly. You're number {position}. To ask me instead, say: back to the assistant.",
            ),
            ask_me_instead: s(
                "You're number {position} in the queue; a person will reply here. To have me answer instead, choose \"Back to the assistant\".",
            ),
            staff_writing_voice: s(
                "{name} from our team has your request and will answer shortly.",
            ),
            alexa: s(
                "A person from our team will reply. Your reference is {reference}. Open the skill again to hear their answer.",
            ),
            closed: s("This conversation is closed. Write to us any time."),
            keep_waiting: s("Keep waiting"),
            call_back: s("Call me back"),
            back_to_bot: s("Back to the assistant"),
            twilio_wait: s(
                "You're number {position} in the queue. To be called back instead, press 1.",
            ),
            twilio_whisper: s("A customer is waiting. {summary}"),
            twilio_callback: s("Thank you. We'll call you back on this number. Goodbye."),
            twilio_no_answer: s(
                "Sorry, nobody could take your call. We'll call you back on this number. Goodbye.",
            ),
            today_at: s("today at {time}"),
            tomorrow_at: s("tomorrow at {time}"),
            in_days_at: s("in {days} days at {time}"),
            soon: s("soon"),
        }
    }
}

/// All intents and messages.
#[derive(Debug, Clone)]
pub struct IntentPack {
    pub intents: Vec<Intent>,
    pub messages: BTreeMap<Lang, Messages>,
    /// Out-of-scope sentences (`negatives.toml`): what the bot must answer with its fallback. They teach the
    /// classifier what "none of the intents" looks like.
    pub negatives: BTreeMap<Lang, Vec<String>>,
}

/// What is wrong with the intents folder.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("cannot read the intents folder {path}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {what}")]
    File { file: PathBuf, what: String },
    #[error("{file} (intent {intent}): {what}")]
    Intent {
        file: PathBuf,
        intent: String,
        what: String,
    },
}

/// Profile fields an answer template may use, besides the intent's entities.
pub const PROFILE_FIELDS: &[&str] = &[
    "name",
    "first_name",
    "email",
    "phone",
    "loyalty_points",
    "order.status",
    "order.eta",
    "order.eta_past",
    "order.eta_future",
    "order.eta_today",
    "order.open_status",
    "order.address",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntent {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    resolves: bool,
    role: Option<Role>,
    #[serde(default)]
    patterns: Vec<String>,
    #[serde(default)]
    entities: Vec<RawEntity>,
    confirm: Option<RawConfirm>,
    #[serde(default)]
    examples: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    answers: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    voice_answers: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    quick_replies: BTreeMap<String, Vec<String>>,
    action: Option<Action>,
    #[serde(default)]
    allowed_statuses: Vec<String>,
    #[serde(default)]
    not_allowed: BTreeMap<String, String>,
    #[serde(default)]
    followups: BTreeMap<String, Vec<String>>,
    default_for: Option<EntityKind>,
    #[serde(default)]
    related: Vec<String>,
    fulfillment: Option<RawFulfillment>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntity {
    name: String,
    kind: EntityKind,
    #[serde(default = "yes")]
    required: bool,
    required_unless: Option<String>,
    #[serde(default)]
    ask: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfirm {
    #[serde(default)]
    always: bool,
    en: Option<OneOrMany>,
    fr: Option<OneOrMany>,
}

/// A question or a list of them.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// The messages file's name inside the intents folder.
pub const MESSAGES_FILE: &str = "messages.toml";
/// The out-of-scope examples' file name inside the intents folder (optional).
pub const NEGATIVES_FILE: &str = "negatives.toml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNegatives {
    examples: BTreeMap<String, Vec<String>>,
}

impl IntentPack {
    /// Loads and validates every intent in `dir`.
    pub fn load(dir: &Path) -> Result<Self, PackError> {
        let folder_err = |source| PackError::Folder {
            path: dir.to_path_buf(),
            source,
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(folder_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        let mut intents = Vec::new();
        let mut messages = None;
        let mut negatives = BTreeMap::new();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| PackError::File {
                file: file.clone(),
                what: e.to_string(),
            })?;
            if file.file_name().is_some_and(|n| n == MESSAGES_FILE) {
                messages = Some(parse_messages(&file, &text)?);
            } else if file.file_name().is_some_and(|n| n == NEGATIVES_FILE) {
                negatives = parse_negatives(&file, &text)?;
            } else {
                intents.push(parse_intent(&file, &text)?);
            }
        }
        let messages = messages.ok_or_else(|| PackError::File {
            file: dir.join(MESSAGES_FILE),
            what: "missing: the engine's sentences (fallback, offer_human, …) live there".into(),
        })?;
        let mut pack = IntentPack::new(intents, messages).map_err(|what| PackError::File {
            file: dir.to_path_buf(),
            what,
        })?;
        pack.negatives = negatives;
        Ok(pack)
    }

    /// Checks what spans several intents.
    fn new(intents: Vec<Intent>, messages: BTreeMap<Lang, Messages>) -> Result<Self, String> {
        if intents.is_empty() {
            return Err("no intent files (*.toml)".into());
        }
        let mut seen = std::collections::HashSet::new();
        for i in &intents {
            if !seen.insert(i.name.as_str()) {
                return Err(format!("intent {} is defined twice", i.name));
            }
            for lang in i.examples.keys() {
                if !messages.contains_key(lang) {
                    return Err(format!(
                        "intent {} has {} examples but messages.toml has no [{}] section",
                        i.name,
                        lang.code(),
                        lang.code()
                    ));
                }
            }
        }
        for i in &intents {
            if let Some(r) = i.related.iter().find(|r| !seen.contains(r.as_str())) {
                return Err(format!(
                    "intent {}: related names {r}, which is not an intent of the pack",
                    i.name
                ));
            }
        }
        Ok(IntentPack {
            intents,
            messages,
            negatives: BTreeMap::new(),
        })
    }

    /// The intent called `name`.
    pub fn get(&self, name: &str) -> Option<&Intent> {
        self.intents.iter().find(|i| i.name == name)
    }

    /// The intent with a dialogue role, if the pack has one.
    pub fn with_role(&self, role: Role) -> Option<&Intent> {
        self.intents.iter().find(|i| i.role == Some(role))
    }

    /// The engine's sentences in `lang`, or in a language the pack has.
    pub fn messages(&self, lang: Lang) -> &Messages {
        self.messages
            .get(&lang)
            .or_else(|| self.messages.values().next())
            .expect("a loaded pack has messages")
    }

    /// Intents that are not requests (greeting, thanks, yes, no…): reports leave them out of "by intent".
    pub fn non_topic_intents(&self) -> crate::FastSet<String> {
        self.intents
            .iter()
            .filter(|i| i.role.is_some())
            .map(|i| i.name.clone())
            .collect()
    }

    /// Languages the pack speaks.
    pub fn languages(&self) -> Vec<Lang> {
        self.messages.keys().copied().collect()
    }
}

fn parse_lang(code: &str) -> Result<Lang, String> {
    match code {
        "en" => Ok(Lang::En),
        "fr" => Ok(Lang::Fr),
        other => Err(format!("unknown language {other:?} (expected en or fr)")),
    }
}

fn parse_messages(file: &Path, text: &str) -> Result<BTreeMap<Lang, Messages>, PackError> {
    let err = |what: String| PackError::File {
        file: file.to_path_buf(),
        what,
    };
    let raw: BTreeMap<String, Messages> = toml::from_str(text).map_err(|e| err(e.to_string()))?;
    let mut out = BTreeMap::new();
    for (code, m) in raw {
        let lang = parse_lang(&code).map_err(err)?;
        if m.fallback.is_empty() {
            return Err(err(format!(
                "[{code}] fallback needs at least one sentence"
            )));
        }
        out.insert(lang, m);
    }
    Ok(out)
}

fn parse_negatives(file: &Path, text: &str) -> Result<BTreeMap<Lang, Vec<String>>, PackError> {
    let err = |what: String| PackError::File {
        file: file.to_path_buf(),
        what,
    };
    let raw: RawNegatives = toml::from_str(text).map_err(|e| err(e.to_string()))?;
    let mut out = BTreeMap::new();
    for (code, list) in raw.examples {
        out.insert(parse_lang(&code).map_err(err)?, list);
    }
    Ok(out)
}

/// Parses and validates one intent file.
fn parse_intent(file: &Path, text: &str) -> Result<Intent, PackError> {
    let raw: RawIntent = toml::from_str(text).map_err(|e| PackError::File {
        file: file.to_path_buf(),
        what: e.to_string(),
    })?;
    let err = |what: String| PackError::Intent {
        file: file.to_path_buf(),
        intent: raw.name.clone(),
        what,
    };
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if raw.name != stem {
        return Err(err(format!("the name must match the file name ({stem})")));
    }
    if raw.name.is_empty() || !raw.name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return Err(err("names are lower-case letters and underscores".into()));
    }
    for p in &raw.patterns {
        regex::Regex::new(p).map_err(|e| err(format!("pattern {p:?} does not compile: {e}")))?;
    }
    let mut examples = BTreeMap::new();
    for (code, list) in &raw.examples {
        let lang = parse_lang(code).map_err(|e| err(format!("examples: {e}")))?;
        let list: Vec<String> = list
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if list.is_empty() {
            return Err(err(format!("examples.{code} is empty")));
        }
        examples.insert(lang, list);
    }
    if examples.is_empty() {
        return Err(err(
            "no examples: add [examples] en = [...] and/or fr = [...]".into(),
        ));
    }
    let langs: Vec<Lang> = examples.keys().copied().collect();
    let entity_names: Vec<&str> = raw.entities.iter().map(|e| e.name.as_str()).collect();
    let fulfillment = match &raw.fulfillment {
        None | Some(RawFulfillment::On(false)) => None,
        Some(RawFulfillment::On(true)) => Some(Fulfillment::Default),
        Some(RawFulfillment::Url(u)) => {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(err(format!(
                    "fulfillment = {u:?} is neither true, false nor an http(s) URL"
                )));
            }
            Some(Fulfillment::Url(u.clone()))
        }
    };
    // The business's backend may give any value (`order.carrier`, `refund.amount`…): a template that
    // names one it did not give is skipped for the next.
    let known = |name: &str| {
        fulfillment.is_some() || entity_names.contains(&name) || PROFILE_FIELDS.contains(&name)
    };
    let parse_templates = |what: &str,
                           lang: Lang,
                           list: &[String]|
     -> Result<Vec<Template>, PackError> {
        list.iter()
            .enumerate()
            .map(|(n, s)| {
                let t = Template::parse(s).map_err(|e| err(format!("{what}.{} #{}: {e}", lang.code(), n + 1)))?;
                if let Some(bad) = t.placeholders().find(|p| !known(p)) {
                    return Err(err(format!(
                        "{what}.{} #{} uses {{{bad}}}, which is neither an entity of this intent nor a profile field ({})",
                        lang.code(),
                        n + 1,
                        PROFILE_FIELDS.join(", ")
                    )));
                }
                Ok(t)
            })
            .collect()
    };
    let mut answers = BTreeMap::new();
    for (code, list) in &raw.answers {
        let lang = parse_lang(code).map_err(|e| err(format!("answers: {e}")))?;
        answers.insert(lang, parse_templates("answers", lang, list)?);
    }
    let mut voice_answers = BTreeMap::new();
    for (code, list) in &raw.voice_answers {
        let lang = parse_lang(code).map_err(|e| err(format!("voice_answers: {e}")))?;
        voice_answers.insert(lang, parse_templates("voice_answers", lang, list)?);
    }
    for lang in &langs {
        if answers
            .get(lang)
            .is_none_or(|a: &Vec<Template>| a.is_empty())
        {
            return Err(err(format!(
                "has {} examples but no answers.{}",
                lang.code(),
                lang.code()
            )));
        }
    }
    let mut entities = Vec::new();
    for e in &raw.entities {
        let mut ask = BTreeMap::new();
        for (code, q) in &e.ask {
            let lang = parse_lang(code).map_err(|x| err(format!("entity {}: {x}", e.name)))?;
            ask.insert(
                lang,
                parse_templates(
                    &format!("entity {} ask", e.name),
                    lang,
                    std::slice::from_ref(q),
                )?
                .remove(0),
            );
        }
        if let Some(other) = &e.required_unless {
            if !entity_names.contains(&other.as_str()) {
                return Err(err(format!(
                    "entity {}: required_unless names {other}, which is not an entity of this intent",
                    e.name
                )));
            }
        }
        if e.required || e.required_unless.is_some() {
            if let Some(lang) = langs.iter().find(|l| !ask.contains_key(l)) {
                return Err(err(format!(
                    "entity {} is required but has no question ask.{}",
                    e.name,
                    lang.code()
                )));
            }
        }
        entities.push(EntitySpec {
            name: e.name.clone(),
            kind: e.kind,
            // Required unless another entity was given: not required outright.
            required: e.required && e.required_unless.is_none(),
            required_unless: e.required_unless.clone(),
            ask,
        });
    }
    let acts_on_an_order = entities
        .iter()
        .any(|e| e.required && e.kind == EntityKind::OrderNumber);
    let always_confirmed = raw.confirm.as_ref().is_some_and(|c| c.always);
    let has_email = entities.iter().any(|e| e.kind == EntityKind::Email);
    match raw.action {
        Some(Action::UpdateEmail) if !always_confirmed || !has_email => {
            return Err(err(
                "update_email needs [confirm] with always = true and an email entity".into(),
            ));
        }
        Some(Action::UpdateEmail) | None => {}
        Some(_) if !always_confirmed || !acts_on_an_order => {
            return Err(err(
                "an action needs [confirm] with always = true and a required order_number entity"
                    .into(),
            ));
        }
        Some(_) => {}
    }
    let confirm = match &raw.confirm {
        None => None,
        Some(c) => {
            let mut question = BTreeMap::new();
            for (lang, q) in [(Lang::En, &c.en), (Lang::Fr, &c.fr)] {
                if let Some(q) = q {
                    question.insert(lang, parse_templates("confirm", lang, &q.to_vec())?);
                }
            }
            if let Some(lang) = langs.iter().find(|l| !question.contains_key(l)) {
                return Err(err(format!("confirm has no question in {}", lang.code())));
            }
            Some(Confirm {
                question,
                always: c.always,
            })
        }
    };
    let mut not_allowed = BTreeMap::new();
    for (code, t) in &raw.not_allowed {
        let lang = parse_lang(code).map_err(|e| err(format!("not_allowed: {e}")))?;
        let t = parse_templates("not_allowed", lang, std::slice::from_ref(t))?.remove(0);
        not_allowed.insert(lang, t);
    }
    let mut followups = BTreeMap::new();
    for (code, list) in &raw.followups {
        let lang = parse_lang(code).map_err(|e| err(format!("followups: {e}")))?;
        followups.insert(lang, parse_templates("followups", lang, list)?);
    }
    let mut quick_replies = BTreeMap::new();
    for (code, list) in &raw.quick_replies {
        let lang = parse_lang(code).map_err(|e| err(format!("quick_replies: {e}")))?;
        quick_replies.insert(lang, list.clone());
    }
    Ok(Intent {
        name: raw.name.clone(),
        description: raw.description.clone(),
        resolves: raw.resolves,
        role: raw.role,
        patterns: raw.patterns.clone(),
        entities,
        confirm,
        examples,
        answers,
        voice_answers,
        quick_replies,
        action: raw.action,
        allowed_statuses: raw.allowed_statuses.clone(),
        not_allowed,
        followups,
        default_for: raw.default_for,
        related: raw.related.clone(),
        fulfillment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    const MESSAGES: &str = r#"
[en]
fallback = ["Sorry?"]
offer_human = "A person?"
offer_human_asked = "Do you want a person?"
offer_human_irritated = "Sorry. A person?"
handoff = "Passing you on."
human_declined = "OK."
confirm_declined = "OK, nothing done."
order_not_found = "No order {order_id}."
order_not_changeable = "Order {order_id} is {order.status}."
sensitive_removed = "Number deleted."
ask_again = "Sorry: {question}"
entity_given_up = "Let's leave that."
reprompt = "Are you there?"
silent_goodbye = "Bye."
reprompt_question = "Still there? {question}"
yes_no = ["Yes", "No"]
help = "I help."
goodbye = "Bye."
survey_solved = "Solved?"
survey_rating = "0-10?"
survey_comment = "Better?"
survey_thanks = "Thanks."
survey_skip = ["skip"]
recall = "Back about {topic}?"
recall_called = "called"
recall_wrote = "wrote"
today = "today"
yesterday = "yesterday"
days_ago = "{n} days ago"
topics = { refund_status = "your refund" }
link_code = "Code {code}."
linked = "Linked."
link_invalid = "Bad code."
welcome = "Hi."
unsupported = "Text only."
voice_unsupported = "Type please."
share_phone = "Share phone"
phone_linked = "Phone linked."
contact_not_own = "Your own contact please."
forget_info = "Forget?"
forgotten = "Forgotten."
order_status = { shipped = "on its way" }
"#;

    #[test]
    fn an_unknown_placeholder_names_the_file_and_intent() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "messages.toml", MESSAGES);
        write(
            dir.path(),
            "hello.toml",
            "name = \"hello\"\n[examples]\nen = [\"hi\"]\n[answers]\nen = [\"Hi {nmae}\"]\n",
        );
        let e = IntentPack::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("hello.toml (intent hello)"), "{e}");
        assert!(e.contains("{nmae}"), "{e}");
    }

    #[test]
    fn a_missing_answer_language_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "messages.toml", MESSAGES);
        write(
            dir.path(),
            "hello.toml",
            "name = \"hello\"\n[examples]\nen = [\"hi\"]\nfr = [\"salut\"]\n[answers]\nen = [\"Hi\"]\n",
        );
        let e = IntentPack::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("no answers.fr"), "{e}");
    }

    #[test]
    fn a_bad_regex_and_a_typo_in_a_key_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "messages.toml", MESSAGES);
        write(
            dir.path(),
            "hello.toml",
            "name = \"hello\"\npatterns = ['(']\n[examples]\nen = [\"hi\"]\n[answers]\nen = [\"Hi\"]\n",
        );
        assert!(
            IntentPack::load(dir.path())
                .unwrap_err()
                .to_string()
                .contains("does not compile")
        );
        write(
            dir.path(),
            "hello.toml",
            "name = \"hello\"\nexemples = 1\n[examples]\nen = [\"hi\"]\n[answers]\nen = [\"Hi\"]\n",
        );
        assert!(
            IntentPack::load(dir.path())
                .unwrap_err()
                .to_string()
                .contains("exemples")
        );
    }
}
