//! The people side of a conversation: who owns it (the bot, the queue, a named member of staff), the
//! queue staff see, the events they listen to, opening hours, and the delivery of staff replies to the
//! customer's own channel.
//!
//! The owner is kept with the conversation in the store ([`Owner`]) and enforced in [`Bot::handle`]:
//! while a person has it or is awaited, the bot says nothing of its own. Staff actions
//! ([`Bot::claim`], [`Bot::staff_reply`], [`Bot::release`]...) take the same per-sender lock as a
//! customer's turn, so the two never overwrite each other.
//!
//! [`Bot::handle`]: crate::bot::Bot::handle

use crate::bot::{Bot, BotError};
use crate::message::{Channel, Lang};
use crate::store::{Outcome, Owner, Speaker, StoreError, Touchpoint, Turn};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};

/// A member of staff: the name customers see on replies, and the token they sign in with.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffMember {
    pub name: String,
    pub token: String,
}

impl std::fmt::Debug for StaffMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: never in a log or a debug print.
        f.debug_struct("StaffMember")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// `[handoff]` in `parcours.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HandoffSettings {
    /// When people answer; unset, always.
    pub hours: Option<Hours>,
    /// A conversation nobody claims within this many minutes becomes a ticket: the customer is told
    /// so, and offered a callback.
    pub claim_timeout_minutes: u64,
    /// The wait announced per conversation ahead, until real waiting times are known.
    pub minutes_per_conversation: u64,
    /// Twilio: the staff phone number or SIP address callers are bridged to; unset, staff answer from
    /// the console and their replies are spoken to the caller.
    pub staff_phone: Option<String>,
    /// Who answers the staff phone (the name the conversation is credited to); unset, `staff_name`.
    pub staff_phone_name: Option<String>,
    /// An URL told of every handoff and change of owner (JSON, signed like the fulfillment webhook).
    pub webhook_url: Option<String>,
}

impl Default for HandoffSettings {
    fn default() -> Self {
        HandoffSettings {
            hours: None,
            claim_timeout_minutes: 10,
            minutes_per_conversation: 4,
            staff_phone: None,
            staff_phone_name: None,
            webhook_url: None,
        }
    }
}

impl HandoffSettings {
    /// What is wrong with the settings, in words.
    pub fn check(&self) -> Result<(), String> {
        if let Some(h) = &self.hours {
            h.parsed()?;
        }
        Ok(())
    }
}

/// Opening hours of the people side: `days` (mon..sun) from `open` to `close` (`09:00`), in the IANA
/// `time_zone` (`Europe/Paris`, daylight saving included; the zone database is built in) or else at a
/// fixed `utc_offset` (`+01:00`), except `holidays` (`2026-12-25`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default = "utc")]
    pub utc_offset: String,
    #[serde(default = "weekdays")]
    pub days: Vec<String>,
    pub open: String,
    pub close: String,
    #[serde(default)]
    pub holidays: Vec<String>,
}

fn utc() -> String {
    "+00:00".into()
}

fn weekdays() -> Vec<String> {
    ["mon", "tue", "wed", "thu", "fri"]
        .map(String::from)
        .to_vec()
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

struct ParsedHours {
    zone: Zone,
    days: [bool; 7],
    open_min: i64,
    close_min: i64,
    holidays: Vec<i64>,
}

enum Zone {
    Offset(i64),
    Named(jiff::tz::TimeZone),
}

impl Zone {
    /// The local day (days since 1970-01-01) and minute of the day at `at`.
    fn local(&self, at: Timestamp) -> (i64, i64) {
        let minutes = (at.0 / 60_000) as i64;
        let offset = match self {
            Zone::Offset(o) => *o,
            Zone::Named(tz) => jiff::Timestamp::from_millisecond(at.0 as i64)
                .map(|t| i64::from(tz.to_offset(t).seconds()) / 60)
                .unwrap_or(0),
        };
        let local = minutes + offset;
        (local.div_euclid(1440), local.rem_euclid(1440))
    }
}

fn minutes_of(s: &str) -> Option<i64> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..=24).contains(&h) && (0..60).contains(&m)).then_some(h * 60 + m)
}

/// 1970-01-01 was a Thursday: the weekday (0 = Monday) of a day number.
fn weekday(day: i64) -> usize {
    (day + 3).rem_euclid(7) as usize
}

impl Hours {
    fn parsed(&self) -> Result<ParsedHours, String> {
        let zone = match self
            .time_zone
            .as_deref()
            .map(str::trim)
            .filter(|z| !z.is_empty())
        {
            Some(name) => Zone::Named(jiff::tz::TimeZone::get(name).map_err(|_| {
                format!(
                    "hours.time_zone = {name:?} is not a time zone (Europe/Paris, America/New_York)"
                )
            })?),
            None => {
                let o = self.utc_offset.trim();
                let (sign, rest) = match o.as_bytes().first() {
                    Some(b'-') => (-1, &o[1..]),
                    Some(b'+') => (1, &o[1..]),
                    _ => (1, o),
                };
                Zone::Offset(
                    sign * minutes_of(rest).ok_or_else(|| {
                        format!("hours.utc_offset = {o:?}: expected +01:00 or -05:00")
                    })?,
                )
            }
        };
        let mut days = [false; 7];
        for d in &self.days {
            let i = DAYS
                .iter()
                .position(|x| d.trim().to_ascii_lowercase().starts_with(x))
                .ok_or_else(|| format!("hours.days: {d:?} is not a day (mon..sun)"))?;
            days[i] = true;
        }
        let open_min = minutes_of(&self.open)
            .ok_or_else(|| format!("hours.open = {:?}: expected 09:00", self.open))?;
        let close_min = minutes_of(&self.close)
            .ok_or_else(|| format!("hours.close = {:?}: expected 18:00", self.close))?;
        let holidays = self
            .holidays
            .iter()
            .map(|h| {
                crate::time::Date::parse_iso(h)
                    .map(|d| d.days())
                    .ok_or_else(|| format!("hours.holidays: {h:?} is not a date (2026-12-25)"))
            })
            .collect::<Result<_, _>>()?;
        Ok(ParsedHours {
            zone,
            days,
            open_min,
            close_min,
            holidays,
        })
    }

    /// Whether people answer at `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        let Ok(p) = self.parsed() else { return true };
        let (day, minute) = p.zone.local(at);
        p.days[weekday(day)]
            && !p.holidays.contains(&day)
            && minute >= p.open_min
            && minute < p.close_min
    }

    /// When people answer next, in their local time: (days from the local today, `09:00`).
    pub fn next_open(&self, at: Timestamp) -> Option<(i64, String)> {
        let p = self.parsed().ok()?;
        let (today, minute) = p.zone.local(at);
        for ahead in 0..15 {
            let day = today + ahead;
            if !p.days[weekday(day)] || p.holidays.contains(&day) {
                continue;
            }
            if ahead == 0 && minute >= p.open_min {
                continue;
            }
            return Some((ahead, self.open.trim().to_string()));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_said_besides_leaving_the_queue_is_the_request() {
        let rest = |t: &str| said_after_leaving(t);
        assert_eq!(
            rest("forget it, where is my order 4567").as_deref(),
            Some("where is my order 4567")
        );
        assert_eq!(
            rest("cancel my order 5521").as_deref(),
            Some("cancel my order 5521")
        );
        assert_eq!(rest("back to the assistant"), None);
        assert_eq!(rest("cancel"), None);
        // Only where the customer goes, however it is said.
        assert_eq!(rest("actually never mind, I'll wait for the bot"), None);
        assert_eq!(
            rest("actually forget it, back to the bot"),
            Some("actually".into())
        );
        assert_eq!(rest("laissez tomber, je reviens a l'assistant"), None);
        assert_eq!(rest("where is my order"), None);
    }

    #[test]
    fn a_short_question_about_the_wait_asks_for_the_place_in_the_queue() {
        let choice = |t: &str| waiting_choice(t, &[]);
        assert_eq!(choice("how long??"), Some(WaitingChoice::KeepWaiting));
        assert_eq!(choice("y a quelqu'un ?"), Some(WaitingChoice::KeepWaiting));
        assert_eq!(
            choice("how long does a refund take once you get the item back from me"),
            None
        );
        assert_eq!(choice("never mind"), Some(WaitingChoice::BackToBot));
    }

    fn hours(zone: Option<&str>, offset: &str) -> Hours {
        Hours {
            time_zone: zone.map(str::to_string),
            utc_offset: offset.into(),
            days: weekdays(),
            open: "09:00".into(),
            close: "18:00".into(),
            holidays: vec!["2026-12-25".into()],
        }
    }

    #[test]
    fn the_summary_names_the_detail_the_bot_was_asking_for() {
        use crate::engine::Conversation;
        use crate::engine::state::DialogueState;
        let mut tp = Touchpoint::new(
            "tp_1".into(),
            "cus_1".into(),
            crate::message::Channel::Voice,
            "+33600000000".into(),
            Timestamp(1_000),
        );
        tp.intents = vec!["order_status".into()];
        let none = crate::FastSet::default();
        assert_eq!(summary(&tp, &none)[2], "Missing: a person (asked for one)");
        let asking = Conversation {
            state: DialogueState::AwaitingEntity {
                intent: "order_status".into(),
                entity: "order_number".into(),
                collected: Default::default(),
                attempts: 1,
            },
            ..Conversation::default()
        };
        tp.state = crate::store::State::of(&asking).unwrap();
        assert_eq!(summary(&tp, &none)[2], "Missing: the order number");
    }

    #[test]
    fn hours_follow_the_time_zone_with_daylight_saving() {
        let paris = hours(Some("Europe/Paris"), "+00:00");
        // Monday 2026-07-06 07:30 UTC is 09:30 in Paris (summer time, +2): open.
        assert!(paris.is_open(Timestamp::parse("2026-07-06T07:30:00Z").unwrap()));
        // Monday 2026-12-07 07:30 UTC is 08:30 in Paris (winter time, +1): not yet.
        assert!(!paris.is_open(Timestamp::parse("2026-12-07T07:30:00Z").unwrap()));
        assert!(paris.is_open(Timestamp::parse("2026-12-07T08:30:00Z").unwrap()));
        // Christmas, a Friday: closed; Saturday too; back Monday (3 days later).
        let xmas = Timestamp::parse("2026-12-25T10:00:00Z").unwrap();
        assert!(!paris.is_open(xmas));
        assert_eq!(paris.next_open(xmas), Some((3, "09:00".into())));
        let fixed = hours(None, "-05:00");
        assert!(fixed.is_open(Timestamp::parse("2026-12-07T14:30:00Z").unwrap()));
        assert!(!fixed.is_open(Timestamp::parse("2026-12-07T13:30:00Z").unwrap()));
        assert!(hours(Some("Mars/Olympus"), "").parsed().is_err());
    }
}

/// Something that happened in the queue: what `GET /api/events` streams and the webhook posts.
#[derive(Debug, Clone, Serialize)]
pub struct DeskEvent {
    /// `handoff`, `claimed`, `transferred`, `released`, `closed`, `customer_message`, `staff_message`,
    /// `note`, `callback`, `cancelled`, `ticket`.
    pub kind: &'static str,
    pub conversation: String,
    pub channel: Channel,
    pub customer: String,
    pub owner: Owner,
    pub at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// What a channel needs to say about a conversation with people in it (the voice webhook's
/// `handoff`, Twilio's queue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoffStatus {
    /// `waiting` or `staff`.
    pub state: String,
    /// Place in the queue (1 = next), while waiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    /// The member of staff who has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff: Option<String>,
    /// The reference to give the customer (the conversation id).
    pub reference: String,
    /// The conversation was just handed off in this turn.
    #[serde(default)]
    pub started: bool,
}

/// A channel that can write to a customer unasked (Telegram): staff replies and queue news go
/// through it at once. Channels without one (calls, voice assistants) get them on the next turn.
pub trait Outlet: Send + Sync {
    fn deliver<'a>(
        &'a self,
        user: &'a str,
        text: &'a str,
        buttons: &'a [String],
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
    /// Shows that someone is writing (Telegram's typing indicator).
    fn typing<'a>(&'a self, user: &'a str) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

/// A line of the queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueueItem {
    pub id: String,
    pub channel: Channel,
    pub customer: String,
    pub lang: Lang,
    /// When the customer was put in the queue.
    pub waiting_since: Timestamp,
    pub waiting_seconds: u64,
    pub owner: Owner,
    /// Place among those waiting (1 = next); none once someone has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    /// What the customer wants, what the bot did, what is still missing.
    pub summary: [String; 3],
}

/// The queue's shared parts: events, the channels that can write unasked, recent waiting times.
pub struct Desk {
    events: tokio::sync::broadcast::Sender<DeskEvent>,
    outlets: RwLock<BTreeMap<Channel, Arc<dyn Outlet>>>,
    /// The last waits (ms) between queueing and a claim, for the wait announced.
    waits: Mutex<VecDeque<u64>>,
    /// True once the server stops: event streams end, so that a graceful shutdown does not wait on them.
    closing: tokio::sync::watch::Sender<bool>,
}

impl Default for Desk {
    fn default() -> Self {
        Desk {
            events: tokio::sync::broadcast::channel(1024).0,
            outlets: RwLock::default(),
            waits: Mutex::default(),
            closing: tokio::sync::watch::channel(false).0,
        }
    }
}

impl Desk {
    /// Events from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<DeskEvent> {
        self.events.subscribe()
    }

    /// Whether the server is stopping, to watch.
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Ends every event stream (the server is stopping).
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    /// Registers the channel that writes to `channel`'s customers unasked.
    pub fn set_outlet(&self, channel: Channel, outlet: Arc<dyn Outlet>) {
        self.outlets
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(channel, outlet);
    }

    pub(crate) fn outlet(&self, channel: Channel) -> Option<Arc<dyn Outlet>> {
        self.outlets
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&channel)
            .cloned()
    }

    pub(crate) fn publish(
        &self,
        tp: &Touchpoint,
        kind: &'static str,
        author: Option<&str>,
        text: Option<&str>,
    ) {
        if matches!(kind, "unchanged" | "outbox" | "position") {
            return;
        }
        let _ = self.events.send(DeskEvent {
            kind,
            conversation: tp.id.clone(),
            channel: tp.channel,
            customer: tp.customer_id.clone(),
            owner: tp.owner.clone(),
            at: Timestamp::now(),
            author: author.map(str::to_string),
            text: text.map(str::to_string),
        });
    }

    pub(crate) fn record_wait(&self, ms: u64) {
        let mut w = self
            .waits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        w.push_back(ms);
        if w.len() > 50 {
            w.pop_front();
        }
    }

    /// Minutes a customer at `position` can expect to wait.
    pub(crate) fn expected_minutes(&self, position: usize, per_conversation: u64) -> u64 {
        let w = self
            .waits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let per = if w.is_empty() {
            per_conversation
        } else {
            let mut v: Vec<u64> = w.iter().copied().collect();
            v.sort_unstable();
            (v[v.len() / 2] / 60_000).max(1)
        };
        per.saturating_mul(position as u64).max(1)
    }
}

/// Why a staff action was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("no conversation {0}")]
    NotFound(String),
    #[error("conversation {0} is closed")]
    Closed(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Bot(#[from] BotError),
}

impl From<StoreError> for DeskError {
    fn from(e: StoreError) -> Self {
        DeskError::Bot(BotError::Store(e))
    }
}

/// Refuses a staff action on a conversation another member of staff has.
fn must_own(tp: &Touchpoint, name: &str) -> Result<(), DeskError> {
    match &tp.owner {
        Owner::Staff { name: other, .. } if other != name => Err(DeskError::Conflict(format!(
            "{other} has conversation {}: only they can do that (or transfer it)",
            tp.id
        ))),
        _ => Ok(()),
    }
}

/// `{name}` and friends in a sentence.
pub fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut s = template.to_string();
    for (k, v) in vars {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

/// The three lines staff read first: what the customer wants, what the bot did, what is missing.
pub fn summary(tp: &Touchpoint, non_topics: &crate::FastSet<String>) -> [String; 3] {
    let topics: Vec<&str> = tp
        .intents
        .iter()
        .filter(|i| !non_topics.contains(*i) && i.as_str() != "human_agent")
        .map(String::as_str)
        .collect();
    let said: Vec<&Turn> = tp
        .turns
        .iter()
        .filter(|t| t.speaker == Speaker::Customer && !t.text.trim().is_empty())
        .collect();
    // What the request was: the first message about a topic, else the first that was not only the
    // request for a person (what they write while waiting is often "hello?").
    let is_topic = |t: &&Turn| {
        t.intent
            .as_deref()
            .is_some_and(|i| !non_topics.contains(i) && i != "human_agent")
    };
    let first = said
        .iter()
        .find(|t| is_topic(t))
        .or_else(|| {
            said.iter()
                .find(|t| t.intent.as_deref() != Some("human_agent"))
        })
        .or(said.first())
        .map(|t| clip(&t.text, 100))
        .unwrap_or_default();
    let topics: Vec<String> = topics.iter().map(|t| t.replace('_', " ")).collect();
    let wants = if topics.is_empty() {
        format!("Wants: not clear yet; said \u{201c}{first}\u{201d}")
    } else {
        format!("Wants: {}; said \u{201c}{first}\u{201d}", topics.join(", "))
    };
    let bot_answers = tp
        .turns
        .iter()
        .filter(|t| t.speaker == Speaker::Bot)
        .count();
    let not_understood = tp
        .turns
        .iter()
        .filter(|t| t.speaker == Speaker::Customer && t.intent.is_none())
        .count();
    let irritated = tp.turns.iter().any(|t| {
        t.irritants
            .contains(&crate::store::Irritant::NegativeSentiment)
    });
    let plural = |n: usize, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    let did = format!(
        "Bot: {}, {} not understood{}",
        plural(bot_answers, "answer"),
        plural(not_understood, "message"),
        if irritated {
            "; the customer sounds annoyed"
        } else {
            ""
        }
    );
    // The detail the bot was asking for when the customer was handed over, if any.
    let pending = match tp.state.read::<crate::engine::Conversation>() {
        Ok(crate::engine::Conversation {
            state: crate::engine::state::DialogueState::AwaitingEntity { entity, .. },
            ..
        }) => Some(entity.replace('_', " ")),
        _ => None,
    };
    let missing = match (pending, topics.is_empty()) {
        (Some(e), _) => format!("Missing: the {e}"),
        (None, true) => "Missing: what the request is".to_string(),
        (None, false) => format!(
            "Missing: a person ({})",
            match &tp.owner {
                Owner::Waiting { reason, .. } if reason == "human_agent" => "asked for one",
                Owner::Waiting { reason, .. } => reason.as_str(),
                _ => "asked for one",
            }
        ),
    };
    [wants, did, missing]
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n).collect();
    out.push('\u{2026}');
    out
}

/// The customer's answer to the buttons offered while waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitingChoice {
    KeepWaiting,
    CallBack,
    BackToBot,
}

/// Words that leave the queue, or the person, for the assistant.
const BACK: &[&str] = &[
    "back to the bot",
    "back to the assistant",
    "cancel",
    "never mind",
    "nevermind",
    "forget it",
    "retour a l assistant",
    "retour au bot",
    "annuler",
    "laisse tomber",
    "laissez tomber",
    "tant pis",
    "revenir a l assistant",
    "retourner a l assistant",
    "revenir au robot",
    "revenir au bot",
    "prefere le robot",
    "prefere l assistant",
    "talk to the bot",
    "talk to the assistant",
    "bot again",
    "assistant again",
    "stop waiting",
    "don t want to wait",
    "do not want to wait",
    "dont want to wait",
    "not waiting any longer",
    "marre d attendre",
    "veux plus attendre",
    "veux pas attendre",
    "arreter d attendre",
    "non finalement",
    "finalement non",
    "plus besoin",
    "no need anymore",
    "don t need anyone",
];

/// Words of a customer who will come back later ("je rappellerai", "I'll call back later"): leaving
/// the queue with them ends the call.
pub fn comes_back_later(text: &str) -> bool {
    const LATER: &[&str] = &[
        "rappellerai",
        "rappelerai",
        "rappelle plus tard",
        "reviendrai",
        "call back later",
        "ll call back",
        "will call back",
        "ll try again later",
        "ll come back later",
    ];
    let t = plain(text);
    LATER.iter().any(|p| t.contains(p))
}
/// Words that ask for a call back.
const CALL: &[&str] = &[
    "call me back",
    "callback",
    "call me",
    "ring me back",
    "rappelez moi",
    "rappelez-moi",
    "rappel",
    "me rappeler",
];

/// Words that ask how the wait is going ("how long??", "anyone there?"): answered with the place in the
/// queue. Only in a short message: a longer one is a question for the person.
const WAIT: &[&str] = &[
    "how long",
    "how much longer",
    "still waiting",
    "still in the queue",
    "anyone there",
    "anybody there",
    "someone there",
    "somebody there",
    "are you there",
    "any news",
    "where am i in the queue",
    "combien de temps",
    "encore longtemps",
    "toujours en attente",
    "j attends toujours",
    "quelqu un",
    "vous etes la",
    "ou j en suis",
];
const WAIT_WORDS: usize = 6;

/// A message as the queue's words are compared with it: folded, lower case, one space between words.
fn plain(s: &str) -> String {
    crate::nlu::normalize::words(&crate::nlu::normalize::fold(s)).join(" ")
}

/// Reads a waiting customer's message as one of the choices offered, in any language the pack has.
pub fn waiting_choice(text: &str, pack_labels: &[(WaitingChoice, &str)]) -> Option<WaitingChoice> {
    let t = plain(text);
    let t = t.as_str();
    if t.is_empty() {
        return None;
    }
    for (choice, label) in pack_labels {
        if plain(label) == t {
            return Some(*choice);
        }
    }
    let has = |list: &[&str]| {
        list.iter().any(|p| {
            let p = plain(p);
            t == p
                || t.starts_with(&format!("{p} "))
                || t.ends_with(&format!(" {p}"))
                || t.contains(&format!(" {p} "))
        })
    };
    if has(BACK) {
        Some(WaitingChoice::BackToBot)
    } else if has(CALL) {
        Some(WaitingChoice::CallBack)
    } else if has(WAIT) && t.split(' ').count() <= WAIT_WORDS {
        Some(WaitingChoice::KeepWaiting)
    } else {
        None
    }
}

/// What a message that leaves the queue says besides leaving ("forget it, where is my order 4567":
/// "where is my order 4567"), normalised; `None` when it does not leave in words, or says nothing else
/// ("back to the assistant", the button, "never mind, I'll wait for the bot"). "Cancel" and "annuler"
/// stay in what is said: in "cancel my order 5521" the word is the request itself.
pub fn said_after_leaving(text: &str) -> Option<String> {
    let t = plain(text);
    let mut words: Vec<&str> = t.split(' ').collect();
    let mut left = false;
    for p in BACK.iter().filter(|p| !matches!(**p, "cancel" | "annuler")) {
        let p = plain(p);
        let phrase: Vec<&str> = p.split(' ').collect();
        while let Some(at) = words
            .windows(phrase.len())
            .position(|w| w == phrase.as_slice())
        {
            words.drain(at..at + phrase.len());
            left = true;
        }
    }
    let cancels = words.iter().any(|w| matches!(*w, "cancel" | "annuler"));
    // "Cancel that", "annule ça": the waiting is what is cancelled.
    const THAT: &[&str] = &[
        "cancel", "annuler", "annule", "that", "it", "this", "ca", "cela",
    ];
    if words.iter().all(|w| THAT.contains(w)) {
        return None;
    }
    // What is left still speaks of the assistant ("I'll wait for the bot", "je reviens à l'assistant"):
    // it only says where the customer goes.
    const ABOUT_LEAVING: &[&str] = &["bot", "assistant", "robot", "chatbot"];
    let about_leaving = words.iter().any(|w| ABOUT_LEAVING.contains(w));
    ((left || (cancels && words.len() > 1)) && !about_leaving && !words.is_empty())
        .then(|| words.join(" "))
}

impl Bot {
    /// The conversations waiting for a person or owned by one, oldest first.
    pub async fn queue(&self, now: Timestamp) -> Result<Vec<QueueItem>, BotError> {
        let mut tps: Vec<Touchpoint> = self
            .store()
            .handoff_touchpoints()
            .await?
            .into_iter()
            .filter(|t| t.is_open() && t.owner.is_human())
            .collect();
        tps.sort_by_key(|t| (t.queued_at.unwrap_or(t.started_at), t.id.clone()));
        let mut position = 0;
        Ok(tps
            .iter()
            .map(|t| {
                let since = t.queued_at.unwrap_or(t.started_at);
                let waiting = matches!(t.owner, Owner::Waiting { .. });
                if waiting {
                    position += 1;
                }
                QueueItem {
                    id: t.id.clone(),
                    channel: t.channel,
                    customer: t.customer_id.clone(),
                    lang: t.lang,
                    waiting_since: since,
                    waiting_seconds: now.0.saturating_sub(since.0) / 1000,
                    owner: t.owner.clone(),
                    position: waiting.then_some(position),
                    summary: summary(t, self.non_topic_intents()),
                }
            })
            .collect())
    }

    /// The place of `id` among the conversations waiting (1 = next).
    pub(crate) async fn position_of(&self, id: &str, now: Timestamp) -> Result<usize, BotError> {
        Ok(self
            .queue(now)
            .await?
            .iter()
            .find(|q| q.id == id)
            .and_then(|q| q.position)
            .unwrap_or(1))
    }

    /// Whether people answer now.
    pub(crate) fn people_open(&self, now: Timestamp) -> bool {
        self.settings()
            .handoff
            .hours
            .as_ref()
            .is_none_or(|h| h.is_open(now))
    }

    /// When people are back, in words ("tomorrow at 09:00").
    pub(crate) fn back_when(&self, now: Timestamp, lang: Lang) -> String {
        let m = &self.messages(lang).people;
        match self
            .settings()
            .handoff
            .hours
            .as_ref()
            .and_then(|h| h.next_open(now))
        {
            Some((0, at)) => fill(&m.today_at, &[("time", &at)]),
            Some((1, at)) => fill(&m.tomorrow_at, &[("time", &at)]),
            Some((n, at)) => fill(&m.in_days_at, &[("time", &at), ("days", &n.to_string())]),
            None => m.soon.clone(),
        }
    }

    /// What the customer is told when their conversation joins the queue.
    pub(crate) fn queued_sentence(
        &self,
        tp: &Touchpoint,
        position: usize,
        now: Timestamp,
    ) -> String {
        let m = &self.messages(tp.lang).people;
        if !self.people_open(now) {
            return fill(&m.out_of_hours, &[("when", &self.back_when(now, tp.lang))]);
        }
        if tp.channel == Channel::Alexa {
            return fill(&m.alexa, &[("reference", &tp.id)]);
        }
        let minutes = self
            .desk()
            .expected_minutes(position, self.settings().handoff.minutes_per_conversation);
        let template = if tp.channel.is_spoken() {
            &m.queued_voice
        } else {
            &m.queued
        };
        fill(
            template,
            &[
                ("position", &position.to_string()),
                ("minutes", &minutes.to_string()),
            ],
        )
    }

    /// The buttons offered while waiting.
    pub(crate) fn waiting_buttons(&self, lang: Lang) -> Vec<String> {
        let m = &self.messages(lang).people;
        vec![
            m.keep_waiting.clone(),
            m.call_back.clone(),
            m.back_to_bot.clone(),
        ]
    }

    /// Runs `change` on conversation `id` under its sender's lock, saves it durably, and publishes
    /// `kind`.
    async fn change<T>(
        &self,
        id: &str,
        change: impl FnOnce(&Bot, &mut Touchpoint) -> Result<(T, &'static str), DeskError>,
        author: Option<&str>,
        text: Option<&str>,
    ) -> Result<(T, Touchpoint), DeskError> {
        let first = self
            .store()
            .touchpoint(id)
            .await?
            .ok_or_else(|| DeskError::NotFound(id.to_string()))?;
        let guard = self.store().lock(first.channel, &first.user).await?;
        let mut tp = self
            .store()
            .touchpoint(id)
            .await?
            .ok_or_else(|| DeskError::NotFound(id.to_string()))?;
        if !tp.is_open() {
            return Err(DeskError::Closed(id.to_string()));
        }
        let (out, kind) = change(self, &mut tp)?;
        let changes = crate::store::TurnCommit {
            touchpoints: vec![tp.clone()],
            customer: None,
            delivery: None,
        };
        self.store()
            .commit(guard, changes)
            .await
            .map_err(BotError::from)?;
        self.desk().publish(&tp, kind, author, text);
        Ok((out, tp))
    }

    /// Tells the customer `text` now if their channel can be written to unasked, else on their next
    /// turn. Returns whether it went out now.
    async fn tell(&self, tp: &Touchpoint, text: &str, buttons: &[String]) -> bool {
        let Some(outlet) = self.desk().outlet(tp.channel) else {
            return false;
        };
        match outlet.deliver(&tp.user, text, buttons).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(conversation = %tp.id, error = %e, "could not deliver to the customer");
                false
            }
        }
    }

    /// Tells the customer `text` now where the channel can, else keeps it for their next turn.
    async fn tell_or_keep(
        &self,
        tp: &Touchpoint,
        text: String,
        buttons: &[String],
    ) -> Result<(), DeskError> {
        if !self.tell(tp, &text, buttons).await {
            self.outbox(&tp.id, text).await?;
        }
        Ok(())
    }

    /// Puts a conversation in the queue (a staff member or an integration asks for it).
    pub async fn request_handoff(
        &self,
        id: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Touchpoint, DeskError> {
        let ((), tp) = self
            .change(
                id,
                |_, tp| {
                    if tp.owner.is_human() {
                        return Err(DeskError::Conflict(format!(
                            "conversation {} is already with people",
                            tp.id
                        )));
                    }
                    queue_up(tp, reason, now);
                    Ok(((), "handoff"))
                },
                None,
                Some(reason),
            )
            .await?;
        let position = self.position_of(&tp.id, now).await?;
        let sentence = self.queued_sentence(&tp, position, now);
        let buttons = self.waiting_buttons(tp.lang);
        self.tell_or_keep(&tp, sentence, &buttons).await?;
        Ok(tp)
    }

    /// `name` takes the conversation: the bot goes silent in it.
    pub async fn claim(
        &self,
        id: &str,
        name: &str,
        now: Timestamp,
    ) -> Result<Touchpoint, DeskError> {
        let (announce, tp) = self
            .change(
                id,
                |bot, tp| {
                    if let Owner::Staff { name: other, .. } = &tp.owner {
                        if other != name {
                            return Err(DeskError::Conflict(format!(
                                "{other} already has conversation {}",
                                tp.id
                            )));
                        }
                        return Ok((false, "unchanged"));
                    }
                    // Queue news not said yet is out of date once someone has it.
                    let m = &bot.messages(tp.lang).people;
                    tp.outbox.retain(|t| *t != m.not_claimed && *t != m.kept);
                    if let Some(q) = tp.queued_at {
                        bot.desk().record_wait(now.0.saturating_sub(q.0));
                    } else {
                        tp.queued_at = Some(now);
                    }
                    tp.claimed_at.get_or_insert(now);
                    tp.owner = Owner::Staff {
                        name: name.to_string(),
                        since: now,
                    };
                    tp.handled_by = Some(name.to_string());
                    tp.turns.push(Turn::system(
                        now,
                        Some(name),
                        format!("{name} took the conversation"),
                    ));
                    Ok((true, "claimed"))
                },
                Some(name),
                None,
            )
            .await?;
        if announce {
            let m = &self.messages(tp.lang).people;
            let text = fill(&m.joined, &[("name", name)]);
            self.tell_or_keep(&tp, text, &[]).await?;
        }
        Ok(tp)
    }

    /// A staff reply (claiming the conversation if nobody has it), delivered on the customer's
    /// channel with the staff member's name; or a private note, which the customer never sees.
    pub async fn staff_reply(
        &self,
        id: &str,
        name: &str,
        text: &str,
        private: bool,
        now: Timestamp,
    ) -> Result<Touchpoint, DeskError> {
        let mut text = self.redact(text);
        text.retain(|c| c != '\0');
        if !private {
            let current = self
                .store()
                .touchpoint(id)
                .await?
                .ok_or_else(|| DeskError::NotFound(id.to_string()))?;
            if !matches!(&current.owner, Owner::Staff { name: n, .. } if n == name) {
                self.claim(id, name, now).await?;
            }
        }
        let line = text.clone();
        let (delivered_later, tp) = self
            .change(
                id,
                |bot, tp| {
                    if private {
                        tp.turns
                            .push(Turn::system(now, Some(name), format!("note: {line}")));
                        return Ok((false, "note"));
                    }
                    tp.turns.push(Turn {
                        at: now,
                        speaker: Speaker::Staff,
                        text: line.clone(),
                        intent: None,
                        confidence: None,
                        asr_confidence: None,
                        irritants: Vec::new(),
                        author: Some(name.to_string()),
                    });
                    tp.last_at = now;
                    let later = bot.desk().outlet(tp.channel).is_none();
                    if later {
                        tp.outbox.push(fill(
                            &bot.messages(tp.lang).people.staff_says,
                            &[("name", name), ("text", &line)],
                        ));
                    }
                    Ok((later, "staff_message"))
                },
                Some(name),
                Some(&text),
            )
            .await?;
        if !private && !delivered_later {
            let said = fill(
                &self.messages(tp.lang).people.staff_says,
                &[("name", name), ("text", &text)],
            );
            self.tell_or_keep(&tp, said, &[]).await?;
        }
        Ok(tp)
    }

    /// Shows the customer that `name` is writing, where the channel can.
    pub async fn staff_typing(&self, id: &str) -> Result<(), DeskError> {
        let tp = self
            .store()
            .touchpoint(id)
            .await?
            .ok_or_else(|| DeskError::NotFound(id.to_string()))?;
        if let Some(outlet) = self.desk().outlet(tp.channel) {
            outlet.typing(&tp.user).await;
        }
        Ok(())
    }

    /// Hands the conversation to another member of staff.
    pub async fn transfer(
        &self,
        id: &str,
        from: &str,
        to: &str,
        now: Timestamp,
    ) -> Result<Touchpoint, DeskError> {
        let ((), tp) = self
            .change(
                id,
                |_, tp| {
                    must_own(tp, from)?;
                    if matches!(&tp.owner, Owner::Staff { name, .. } if name == to) {
                        return Err(DeskError::Conflict(format!(
                            "{to} already has conversation {}",
                            tp.id
                        )));
                    }
                    tp.claimed_at.get_or_insert(now);
                    tp.queued_at.get_or_insert(now);
                    tp.owner = Owner::Staff {
                        name: to.to_string(),
                        since: now,
                    };
                    tp.handled_by = Some(to.to_string());
                    tp.turns.push(Turn::system(
                        now,
                        Some(from),
                        format!("{from} passed the conversation to {to}"),
                    ));
                    Ok(((), "transferred"))
                },
                Some(from),
                Some(to),
            )
            .await?;
        let text = fill(&self.messages(tp.lang).people.joined, &[("name", to)]);
        self.tell_or_keep(&tp, text, &[]).await?;
        Ok(tp)
    }

    /// Gives the conversation back to the bot, with an optional note for the transcript. The bot may
    /// then ask the satisfaction questions once, credited to the person.
    pub async fn release(
        &self,
        id: &str,
        name: &str,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<Touchpoint, DeskError> {
        let note = note
            .map(|n| self.redact(n))
            .filter(|n| !n.trim().is_empty());
        let (who, tp) = self
            .change(
                id,
                |_, tp| {
                    if !tp.owner.is_human() {
                        return Err(DeskError::Conflict(format!(
                            "the bot already has conversation {}",
                            tp.id
                        )));
                    }
                    must_own(tp, name)?;
                    let who = match &tp.owner {
                        Owner::Staff { name, .. } => Some(name.clone()),
                        _ => None,
                    };
                    tp.owner = Owner::Bot;
                    let mut line = format!("{name} gave the conversation back to the bot");
                    if let Some(n) = &note {
                        line.push_str(": ");
                        line.push_str(n);
                    }
                    tp.turns.push(Turn::system(now, Some(name), line));
                    tp.last_at = now;
                    // The person's answer settles the request as far as the bot can tell: a goodbye
                    // now brings the survey, credited to them.
                    let mut conv: crate::engine::Conversation = tp.state.read().unwrap_or_default();
                    conv.resolved = true;
                    conv.fallbacks_in_row = 0;
                    conv.state = Default::default();
                    tp.state = crate::store::State::of(&conv).map_err(StoreError::from)?;
                    Ok((who, "released"))
                },
                Some(name),
                note.as_deref(),
            )
            .await?;
        let m = &self.messages(tp.lang).people;
        let text = fill(&m.left, &[("name", who.as_deref().unwrap_or(name))]);
        self.tell_or_keep(&tp, text, &[]).await?;
        Ok(tp)
    }

    /// Ends the conversation for good (handled by a person).
    pub async fn close_by_staff(
        &self,
        id: &str,
        name: &str,
        now: Timestamp,
    ) -> Result<Touchpoint, DeskError> {
        let ((), tp) = self
            .change(
                id,
                |bot, tp| {
                    must_own(tp, name)?;
                    tp.turns.push(Turn::system(
                        now,
                        Some(name),
                        format!("{name} closed the conversation"),
                    ));
                    // A customer who cannot be written to unasked hears what is left, and that it is
                    // closed, on their next turn (see `Bot::handle`).
                    if bot.desk().outlet(tp.channel).is_none() {
                        tp.outbox.push(bot.messages(tp.lang).people.closed.clone());
                    }
                    tp.owner = Owner::Bot;
                    tp.ended_at = Some(now);
                    tp.outcome = Some(Outcome::HandedOff);
                    Ok(((), "closed"))
                },
                Some(name),
                None,
            )
            .await?;
        if self.desk().outlet(tp.channel).is_some() {
            let text = self.messages(tp.lang).people.closed.clone();
            self.tell(&tp, &text, &[]).await;
        }
        Ok(tp)
    }

    /// Keeps `text` for the customer's next turn.
    async fn outbox(&self, id: &str, text: String) -> Result<(), DeskError> {
        self.change(
            id,
            |_, tp| {
                tp.outbox.push(text);
                Ok(((), "outbox"))
            },
            None,
            None,
        )
        .await
        .map(|_| ())
    }

    /// Tends the queue (run every few seconds): tells waiting customers whose place changed (at most
    /// once a minute), and turns conversations nobody claimed in time, or queued out of hours, into
    /// tickets the customer is told about honestly.
    pub async fn tend_queue(&self, now: Timestamp) -> Result<(), BotError> {
        let timeout = self
            .settings()
            .handoff
            .claim_timeout_minutes
            .saturating_mul(60_000);
        for item in self.queue(now).await? {
            let Owner::Waiting { since, ticket, .. } = item.owner else {
                continue;
            };
            let Some(position) = item.position else {
                continue;
            };
            let overdue = !ticket && timeout > 0 && now.0.saturating_sub(since.0) >= timeout;
            let result = self
                .change(
                    &item.id,
                    |bot, tp| {
                        let Owner::Waiting {
                            ticket,
                            told_position,
                            told_at,
                            ..
                        } = &mut tp.owner
                        else {
                            return Ok((None, "unchanged"));
                        };
                        let m = &bot.messages(tp.lang).people;
                        if overdue && !*ticket {
                            *ticket = true;
                            *told_at = now;
                            tp.turns.push(Turn::system(
                                now,
                                None,
                                "nobody claimed it in time: kept as a ticket".into(),
                            ));
                            return Ok((Some(m.not_claimed.clone()), "ticket"));
                        }
                        let changed = *told_position != position;
                        if !*ticket && changed && now.0.saturating_sub(told_at.0) >= 60_000 {
                            *told_position = position;
                            *told_at = now;
                            return Ok((
                                Some(fill(&m.position, &[("position", &position.to_string())])),
                                "position",
                            ));
                        }
                        Ok((None, "unchanged"))
                    },
                    None,
                    None,
                )
                .await;
            match result {
                Ok((Some(text), tp)) => {
                    let buttons = self.waiting_buttons(tp.lang);
                    // A caller hears their place on their next turn anyway; a ticket they must hear.
                    if !self.tell(&tp, &text, &buttons).await && overdue {
                        let _ = self.outbox(&tp.id, text).await;
                    }
                }
                Ok((None, _)) => {}
                Err(DeskError::Bot(e)) => return Err(e),
                Err(_) => {}
            }
        }
        Ok(())
    }
}

/// Puts `tp` in the queue now, for `reason`.
pub(crate) fn queue_up(tp: &mut Touchpoint, reason: &str, now: Timestamp) {
    tp.owner = Owner::Waiting {
        since: now,
        reason: reason.to_string(),
        callback: false,
        ticket: false,
        told_position: 0,
        told_at: now,
    };
    tp.queued_at.get_or_insert(now);
    tp.turns.push(Turn::system(
        now,
        None,
        format!("handed off ({reason}): waiting for a person"),
    ));
}

/// `PARCOURS_HANDOFF_WEBHOOK_SECRET`: the key of the outgoing webhook's signature.
pub const WEBHOOK_SECRET_ENV: &str = "PARCOURS_HANDOFF_WEBHOOK_SECRET";

/// The signature headers of a webhook body, as the fulfillment webhook signs (CONTRACT.md):
/// `X-Parcours-Timestamp` and `X-Parcours-Signature: sha256=<hex HMAC-SHA256 of timestamp "." body>`.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Posts every event of the queue to `[handoff] webhook_url`, signed when the secret is set, so a team
/// can be paged (Slack, an e-mail relay, their helpdesk). Failures are logged (without the secret),
/// retried twice, and never hold a conversation up.
pub fn spawn_webhook(bot: &Arc<Bot>, secret: Option<String>) {
    let Some(url) = bot.settings().handoff.webhook_url.clone() else {
        return;
    };
    if secret.is_none() {
        tracing::warn!(
            "[handoff] webhook_url is set without {WEBHOOK_SECRET_ENV}: events are sent unsigned"
        );
    }
    let mut rx = bot.desk().subscribe();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    tokio::spawn(async move {
        loop {
            let event = match rx.recv().await {
                Ok(e) => e,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "the handoff webhook fell behind");
                    continue;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            let body = serde_json::to_vec(&event).unwrap_or_default();
            for attempt in 0..3 {
                let ts = Timestamp::now().0 / 1000;
                let mut req = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("X-Parcours-Timestamp", ts.to_string())
                    .body(body.clone());
                if let Some(secret) = &secret {
                    req = req.header("X-Parcours-Signature", signature(secret, ts, &body));
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() => break,
                    Ok(r) => {
                        tracing::warn!(status = %r.status(), attempt, "the handoff webhook refused an event")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e.without_url(), attempt, "the handoff webhook is unreachable")
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(500 << attempt)).await;
            }
        }
    });
}

impl Bot {
    /// The customer asked to be called back, or hung up while waiting: kept in the queue as a
    /// call-back request.
    pub async fn request_callback(
        &self,
        id: &str,
        why: &str,
        now: Timestamp,
    ) -> Result<Touchpoint, DeskError> {
        let why = why.to_string();
        self.change(
            id,
            |_, tp| {
                let Owner::Waiting { callback, .. } = &mut tp.owner else {
                    return Ok(((), "unchanged"));
                };
                *callback = true;
                tp.turns.push(Turn::system(now, None, why.clone()));
                Ok(((), "callback"))
            },
            None,
            None,
        )
        .await
        .map(|((), tp)| tp)
    }

    /// The queue line of one conversation, if it is in the queue.
    pub async fn queue_item(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<QueueItem>, BotError> {
        Ok(self.queue(now).await?.into_iter().find(|q| q.id == id))
    }
}

/// `/metrics` lines for the queue: how many wait (by channel) and the longest wait, now.
pub async fn queue_metrics(bot: &Bot, now: Timestamp) -> String {
    use std::fmt::Write;
    let Ok(queue) = bot.queue(now).await else {
        return String::new();
    };
    let mut by_channel: BTreeMap<&str, usize> = BTreeMap::new();
    let mut owned = 0;
    let mut oldest = 0;
    for q in &queue {
        match q.owner {
            Owner::Waiting { .. } => {
                *by_channel.entry(q.channel.as_str()).or_default() += 1;
                oldest = oldest.max(q.waiting_seconds);
            }
            _ => owned += 1,
        }
    }
    let mut s = String::new();
    s.push_str("# HELP parcours_queue_waiting Conversations waiting for a person, by channel.\n");
    s.push_str("# TYPE parcours_queue_waiting gauge\n");
    for c in Channel::ALL {
        let _ = writeln!(
            s,
            "parcours_queue_waiting{{channel=\"{c}\"}} {}",
            by_channel.get(c.as_str()).copied().unwrap_or(0)
        );
    }
    s.push_str("# HELP parcours_queue_owned Conversations a member of staff has.\n");
    s.push_str("# TYPE parcours_queue_owned gauge\n");
    let _ = writeln!(s, "parcours_queue_owned {owned}");
    s.push_str("# HELP parcours_queue_oldest_wait_seconds How long the longest-waiting customer has waited.\n");
    s.push_str("# TYPE parcours_queue_oldest_wait_seconds gauge\n");
    let _ = writeln!(s, "parcours_queue_oldest_wait_seconds {oldest}");
    s
}
