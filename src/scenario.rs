//! Conversation tests as data, as Rasa's test stories and Dialogflow CX test cases: each `*.toml` file of
//! a folder is one scripted conversation on one channel, with what the bot must do at each turn and at
//! the end. [`run_dir`] replays them against an intent pack, each on a fresh temporary store holding the
//! folder's customers, and [`Report`] says what was said, what was expected and what came back.
//! `parcours test [DIR]` and `cargo test` run the same files.
//!
//! The file format (every key but `say` optional):
//!
//! ```toml
//! description = "A follow-up without a keyword keeps the topic"
//! channel = "voice"            # chat (default), voice, twilio, alexa or telegram
//! customer = "cus_alice"       # an id of the folder's customers.json; none: an unknown caller
//! locale = "fr-FR"             # what the platform says the customer speaks
//! start = "2026-12-01T10:00:00Z"
//!
//! [[turns]]
//! say = "where is my order"    # "" on a spoken channel is a silence
//! confidence = 0.4             # the speech recogniser's confidence
//! after = "1d"                 # time since the previous turn: 30s, 10m, 2h, 1d ("the next day")
//! intent = "order_status"      # the intent the NLU read ("none": no intent)
//! reply = ["order number"]     # regexes the reply must match (case-insensitive)
//! not_reply = ["sorry"]        # regexes it must not match
//! lang = "en"                  # the reply's language
//! ends = false                 # the conversation ends with this reply
//! survey = false               # this reply asks the first satisfaction question
//! handoff = false              # this reply hands the conversation to a person
//! call = "2"                   # the platform's session id from this turn on (a new call); none before
//! staff = { name = "Camille", claim = true, say = "It left today.", note = "vip", release = "done", close = false }
//!                              # what a member of staff does before this turn (each key optional)
//!
//! [handoff]                    # the people side's settings for this file ([handoff] of parcours.toml)
//! hours = { days = [], open = "09:00", close = "18:00" }
//!
//! [expect]
//! orders = { "4567" = "cancelled" }   # order statuses at the end
//! outcome = "resolved"         # of the last conversation, once over (an open one is closed as idle)
//! rating = 9                   # its 0-10 answer
//! email = "new@example.com"    # the customer's email at the end
//! ```

use crate::bot::Bot;
use crate::message::{Channel, Event, Inbound, Lang, Reply};
use crate::store::sled_store::SledStore;
use crate::store::{Outcome, ProfileStore};
use crate::time::Timestamp;
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The customers file a folder of conversations uses, beside them.
pub const CUSTOMERS_FILE: &str = "customers.json";

/// When a conversation starts unless its file says otherwise: a fixed day, so that dates in the sample
/// customers are past or future the same way on every run.
const DEFAULT_START: &str = "2026-12-01T10:00:00Z";

/// Time between two turns that do not say `after`: a customer reading and typing.
const TURN_GAP_MS: u64 = 20_000;

/// What is wrong with a conversation file.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    Invalid { path: PathBuf, what: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    description: String,
    #[serde(default)]
    channel: Option<String>,
    customer: Option<String>,
    locale: Option<String>,
    start: Option<String>,
    turns: Vec<RawTurn>,
    expect: Option<RawFinal>,
    handoff: Option<crate::handoff::HandoffSettings>,
}

/// What a member of staff does before a customer's turn.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffStep {
    #[serde(default = "default_staff")]
    pub name: String,
    #[serde(default)]
    pub claim: bool,
    pub say: Option<String>,
    pub note: Option<String>,
    /// Hands back to the bot, with this note ("" for none).
    pub release: Option<String>,
    #[serde(default)]
    pub close: bool,
}

fn default_staff() -> String {
    "Camille".into()
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTurn {
    say: String,
    confidence: Option<f32>,
    after: Option<String>,
    intent: Option<String>,
    reply: Option<OneOrMany>,
    not_reply: Option<OneOrMany>,
    lang: Option<String>,
    ends: Option<bool>,
    survey: Option<bool>,
    handoff: Option<bool>,
    staff: Option<StaffStep>,
    call: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFinal {
    #[serde(default)]
    orders: BTreeMap<String, String>,
    outcome: Option<String>,
    rating: Option<u8>,
    email: Option<String>,
}

/// One scripted conversation, validated.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub file: PathBuf,
    pub description: String,
    pub channel: Channel,
    pub customer: Option<String>,
    pub locale: Option<Lang>,
    pub start: Timestamp,
    pub turns: Vec<TurnSpec>,
    pub expect: Final,
    /// The people side's settings, when the file sets them.
    pub handoff: Option<crate::handoff::HandoffSettings>,
}

/// One customer turn and what the bot must do.
#[derive(Debug, Clone)]
pub struct TurnSpec {
    pub say: String,
    pub confidence: Option<f32>,
    pub after_ms: u64,
    /// `Some(None)`: no intent.
    pub intent: Option<Option<String>>,
    pub reply: Vec<Regex>,
    pub not_reply: Vec<Regex>,
    pub lang: Option<Lang>,
    pub ends: Option<bool>,
    pub survey: Option<bool>,
    pub handoff: Option<bool>,
    pub staff: Option<StaffStep>,
    /// The platform's session from this turn on (a new call, a new chat session).
    pub call: Option<String>,
}

/// What must hold once the conversation is over.
#[derive(Debug, Clone, Default)]
pub struct Final {
    pub orders: BTreeMap<String, String>,
    pub outcome: Option<Outcome>,
    pub rating: Option<u8>,
    pub email: Option<String>,
}

/// A duration as written in a file: `30s`, `10m`, `2h`, `1d`.
fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = n.parse().ok()?;
    let ms = match unit.trim() {
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(ms)
}

fn regexes(path: &Path, list: Option<OneOrMany>) -> Result<Vec<Regex>, ScenarioError> {
    list.map(OneOrMany::into_vec)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            RegexBuilder::new(p)
                .case_insensitive(true)
                .build()
                .map_err(|e| ScenarioError::Invalid {
                    path: path.to_path_buf(),
                    what: format!("bad regex {p:?}: {e}"),
                })
        })
        .collect()
}

impl Scenario {
    /// Reads and validates one conversation file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |what: String| ScenarioError::Invalid {
            path: path.to_path_buf(),
            what,
        };
        let raw: RawScenario = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let channel = match raw.channel.as_deref() {
            None => Channel::Chat,
            Some(c) => {
                Channel::parse(c).ok_or_else(|| invalid(format!("unknown channel {c:?}")))?
            }
        };
        let locale = match raw.locale.as_deref() {
            None => None,
            Some(l) => {
                Some(Lang::from_locale(l).ok_or_else(|| invalid(format!("unknown locale {l:?}")))?)
            }
        };
        let start = raw.start.as_deref().unwrap_or(DEFAULT_START);
        let start =
            Timestamp::parse(start).ok_or_else(|| invalid(format!("bad start time {start:?}")))?;
        if raw.turns.is_empty() {
            return Err(invalid("a conversation needs at least one turn".into()));
        }
        let mut turns = Vec::new();
        for (i, t) in raw.turns.into_iter().enumerate() {
            let after_ms = match t.after.as_deref() {
                None => TURN_GAP_MS,
                Some(a) => parse_duration(a).ok_or_else(|| {
                    invalid(format!(
                        "turn {}: bad duration {a:?} (30s, 10m, 2h, 1d)",
                        i + 1
                    ))
                })?,
            };
            let lang =
                match t.lang.as_deref() {
                    None => None,
                    Some(l) => Some(Lang::from_locale(l).ok_or_else(|| {
                        invalid(format!("turn {}: unknown language {l:?}", i + 1))
                    })?),
                };
            if let Some(c) = t.confidence {
                if !(0.0..=1.0).contains(&c) {
                    return Err(invalid(format!(
                        "turn {}: confidence must be between 0 and 1",
                        i + 1
                    )));
                }
            }
            turns.push(TurnSpec {
                say: t.say,
                confidence: t.confidence,
                after_ms,
                intent: t.intent.map(|i| if i == "none" { None } else { Some(i) }),
                reply: regexes(path, t.reply)?,
                not_reply: regexes(path, t.not_reply)?,
                lang,
                ends: t.ends,
                survey: t.survey,
                handoff: t.handoff,
                staff: t.staff,
                call: t.call,
            });
        }
        let raw_final = raw.expect.unwrap_or_default();
        let outcome = match raw_final.outcome.as_deref() {
            None => None,
            Some(o) => Some(
                serde_json::from_value::<Outcome>(serde_json::Value::String(o.to_string()))
                    .map_err(|_| {
                        invalid(format!(
                            "unknown outcome {o:?} (resolved, unresolved, abandoned, handed_off)"
                        ))
                    })?,
            ),
        };
        Ok(Scenario {
            file: path.to_path_buf(),
            description: raw.description,
            channel,
            customer: raw.customer,
            locale,
            start,
            turns,
            expect: Final {
                orders: raw_final.orders,
                outcome,
                rating: raw_final.rating,
                email: raw_final.email,
            },
            handoff: raw.handoff,
        })
    }
}

/// What happened at one turn.
#[derive(Debug, Clone, Serialize)]
pub struct TurnResult {
    pub said: String,
    pub reply: String,
    pub intent: Option<String>,
    pub lang: Lang,
    pub ended: bool,
    /// Each expectation that did not hold, as a sentence.
    pub failures: Vec<String>,
}

/// What happened in one conversation.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub file: String,
    pub description: String,
    pub channel: Channel,
    pub turns: Vec<TurnResult>,
    /// Final expectations that did not hold (and errors that stopped the replay).
    pub failures: Vec<String>,
}

impl ScenarioResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.turns.iter().all(|t| t.failures.is_empty())
    }
}

/// Every conversation of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub passed: usize,
    pub failed: usize,
    pub results: Vec<ScenarioResult>,
}

impl Report {
    /// The report as people read it: one line per conversation, and for each failure the whole exchange
    /// with what was expected under the turn that went wrong.
    pub fn human(&self, verbose: bool) -> String {
        let mut out = String::new();
        for r in &self.results {
            let ok = r.passed();
            out.push_str(&format!(
                "{} {} ({}): {}\n",
                if ok { "PASS" } else { "FAIL" },
                r.file,
                r.channel,
                r.description
            ));
            if ok && !verbose {
                continue;
            }
            for t in &r.turns {
                out.push_str(&format!("    you: {}\n", shown(&t.said)));
                out.push_str(&format!(
                    "    bot: {}   [intent {}, {}{}]\n",
                    t.reply,
                    t.intent.as_deref().unwrap_or("none"),
                    t.lang.code(),
                    if t.ended { ", ended" } else { "" }
                ));
                for f in &t.failures {
                    out.push_str(&format!("      ✗ {f}\n"));
                }
            }
            for f in &r.failures {
                out.push_str(&format!("    ✗ {f}\n"));
            }
        }
        let total = self.passed + self.failed;
        let rate = if total == 0 {
            0.0
        } else {
            100.0 * self.passed as f64 / total as f64
        };
        out.push_str(&format!(
            "\n{} of {total} conversations passed ({rate:.1}%)\n",
            self.passed
        ));
        out
    }
}

/// A silence shown as such.
fn shown(said: &str) -> String {
    if said.trim().is_empty() {
        "(silence)".into()
    } else {
        said.to_string()
    }
}

/// The conversation files of a folder, sorted by name (every `*.toml`; `customers.json` is not one).
pub fn files(dir: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    let read = std::fs::read_dir(dir).map_err(|source| ScenarioError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = read
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Replays every conversation of `dir` with `bot`'s intents and settings, each on a fresh temporary store
/// holding the customers of `customers` (default: `dir/customers.json`, if there is one).
pub async fn run_dir(bot: &Bot, dir: &Path, customers: Option<&Path>) -> anyhow::Result<Report> {
    use anyhow::Context;
    let default_customers = dir.join(CUSTOMERS_FILE);
    let customers = customers
        .map(Path::to_path_buf)
        .or_else(|| default_customers.exists().then_some(default_customers));
    let records = match &customers {
        Some(path) => crate::commands::customers::read(path)
            .with_context(|| format!("reading the customers of {}", path.display()))?,
        None => Vec::new(),
    };
    let mut scenarios = Vec::new();
    for f in files(dir)? {
        scenarios.push(Scenario::load(&f)?);
    }
    let mut results = Vec::new();
    for s in &scenarios {
        let tmp = tempdir()?;
        let store: Arc<dyn ProfileStore> =
            Arc::new(SledStore::open(tmp.path()).context("opening a temporary store")?);
        crate::commands::customers::import(&*store, records.clone()).await?;
        let bot = match &s.handoff {
            Some(h) => {
                let mut settings = bot.settings().clone();
                settings.handoff = h.clone();
                bot.with_store_and_settings(store.clone(), settings)
            }
            None => bot.with_store(store.clone()),
        };
        let result = replay(&bot, &*store, s).await;
        // The store is closed before its directory goes (TempDir's drop).
        drop(bot);
        drop(store);
        drop(tmp);
        results.push(result);
    }
    let passed = results.iter().filter(|r| r.passed()).count();
    Ok(Report {
        passed,
        failed: results.len() - passed,
        results,
    })
}

/// A temporary directory, removed by [`run_dir`] after each conversation.
struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> std::io::Result<TempDir> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "parcours-test-{}-{}-{}",
        std::process::id(),
        Timestamp::now().0,
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(TempDir(dir))
}

/// The id the customer has on the scenario's channel: their phone number on spoken channels, their
/// identity on the channel otherwise; a made-up id for an unknown customer.
async fn user_of(store: &dyn ProfileStore, s: &Scenario) -> Result<String, String> {
    let Some(id) = &s.customer else {
        return Ok(match s.channel {
            c if c.is_spoken() => "+15550000000".into(),
            _ => "stranger".into(),
        });
    };
    let customer = store
        .customer(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("customer {id} is not in the customers file"))?;
    if s.channel.is_spoken() && s.channel != Channel::Alexa {
        if let Some(phone) = &customer.phone {
            return Ok(phone.clone());
        }
    }
    let identities = store.identities(id).await.map_err(|e| e.to_string())?;
    identities
        .iter()
        .find(|i| i.channel == s.channel)
        .map(|i| i.id.clone())
        .ok_or_else(|| format!("customer {id} has no identity on the {} channel", s.channel))
}

async fn replay(bot: &Bot, store: &dyn ProfileStore, s: &Scenario) -> ScenarioResult {
    let mut result = ScenarioResult {
        file: s
            .file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        description: s.description.clone(),
        channel: s.channel,
        turns: Vec::new(),
        failures: Vec::new(),
    };
    let user = match user_of(store, s).await {
        Ok(u) => u,
        Err(e) => {
            result.failures.push(e);
            return result;
        }
    };
    let mut at = s.start;
    let mut last_conversation: Option<String> = None;
    let mut session: Option<String> = None;
    for (i, spec) in s.turns.iter().enumerate() {
        if spec.call.is_some() {
            session = spec.call.clone();
        }
        if i > 0 {
            at = at.plus_ms(spec.after_ms);
        }
        if let (Some(step), Some(id)) = (&spec.staff, &last_conversation) {
            if let Err(e) = staff_acts(bot, id, step, at).await {
                result
                    .failures
                    .push(format!("turn {}: the staff action failed: {e}", i + 1));
                return result;
            }
        }
        let msg = Inbound {
            event: Event::Message,
            channel: s.channel,
            user: user.clone(),
            session: session.clone(),
            text: spec.say.clone(),
            asr_confidence: spec
                .confidence
                .or_else(|| s.channel.is_spoken().then_some(0.9)),
            locale: s.locale,
            at,
            delivery: None,
        };
        let reply = match bot.handle(msg).await {
            Ok(r) => r,
            Err(e) => {
                result
                    .failures
                    .push(format!("turn {}: the bot failed: {e}", i + 1));
                return result;
            }
        };
        let outcome = store
            .touchpoint(&reply.conversation_id)
            .await
            .ok()
            .flatten()
            .and_then(|tp| tp.outcome);
        last_conversation = Some(reply.conversation_id.clone());
        let failures = check_turn(bot, spec, &reply, outcome);
        result.turns.push(TurnResult {
            said: spec.say.clone(),
            reply: reply.text.clone(),
            intent: reply.intent.clone(),
            lang: reply.lang,
            ended: reply.end,
            failures,
        });
    }
    // A conversation still open is over once it has been idle: close it as the idle sweep would.
    let _ = bot.close_idle(at.plus_ms(2 * 86_400_000)).await;
    check_final(store, s, last_conversation.as_deref(), &mut result.failures).await;
    result
}

/// Runs a member of staff's actions on the conversation, in the order claim, note, say, release, close.
async fn staff_acts(
    bot: &Bot,
    id: &str,
    step: &StaffStep,
    at: Timestamp,
) -> Result<(), crate::handoff::DeskError> {
    let name = step.name.as_str();
    if step.claim {
        bot.claim(id, name, at).await?;
    }
    if let Some(note) = &step.note {
        bot.staff_reply(id, name, note, true, at).await?;
    }
    if let Some(text) = &step.say {
        bot.staff_reply(id, name, text, false, at).await?;
    }
    if let Some(note) = &step.release {
        bot.release(id, name, Some(note.as_str()), at).await?;
    }
    if step.close {
        bot.close_by_staff(id, name, at).await?;
    }
    Ok(())
}

fn check_turn(bot: &Bot, spec: &TurnSpec, reply: &Reply, outcome: Option<Outcome>) -> Vec<String> {
    let mut failures = Vec::new();
    if let Some(want) = &spec.intent {
        if &reply.intent != want {
            failures.push(format!(
                "expected intent {}, got {}",
                want.as_deref().unwrap_or("none"),
                reply.intent.as_deref().unwrap_or("none")
            ));
        }
    }
    for re in &spec.reply {
        if !re.is_match(&reply.text) {
            failures.push(format!("expected the reply to match /{}/", re.as_str()));
        }
    }
    for re in &spec.not_reply {
        if re.is_match(&reply.text) {
            failures.push(format!("expected the reply not to match /{}/", re.as_str()));
        }
    }
    if let Some(lang) = spec.lang {
        if reply.lang != lang {
            failures.push(format!(
                "expected a reply in {}, got {}",
                lang.code(),
                reply.lang.code()
            ));
        }
    }
    if let Some(ends) = spec.ends {
        if reply.end != ends {
            failures.push(if ends {
                "expected the conversation to end".into()
            } else {
                "expected the conversation to go on, it ended".into()
            });
        }
    }
    if let Some(survey) = spec.survey {
        let question = &bot.messages(reply.lang).survey_solved;
        if reply.text.contains(question.as_str()) != survey {
            failures.push(if survey {
                "expected the satisfaction question".into()
            } else {
                "expected no satisfaction question".into()
            });
        }
    }
    if let Some(handoff) = spec.handoff {
        // A handoff keeps the conversation open in the queue; one that ended was handed off too.
        let handed = reply.handoff.as_ref().is_some_and(|h| h.started)
            || outcome == Some(Outcome::HandedOff);
        if handed != handoff {
            failures.push(if handoff {
                "expected a handoff to a person".into()
            } else {
                "expected no handoff".into()
            });
        }
    }
    failures
}

async fn check_final(
    store: &dyn ProfileStore,
    s: &Scenario,
    conversation: Option<&str>,
    failures: &mut Vec<String>,
) {
    let customer = match &s.customer {
        Some(id) => store.customer(id).await.ok().flatten(),
        None => None,
    };
    for (order, want) in &s.expect.orders {
        let got = customer
            .as_ref()
            .and_then(|c| c.order(order))
            .map(|o| o.status.clone());
        if got.as_deref() != Some(want.as_str()) {
            failures.push(format!(
                "expected order {order} to be {want}, it is {}",
                got.as_deref().unwrap_or("missing")
            ));
        }
    }
    if let Some(want) = &s.expect.email {
        let got = customer.as_ref().and_then(|c| c.email.clone());
        if got.as_deref() != Some(want.as_str()) {
            failures.push(format!(
                "expected the customer's email to be {want}, it is {}",
                got.as_deref().unwrap_or("none")
            ));
        }
    }
    if s.expect.outcome.is_none() && s.expect.rating.is_none() {
        return;
    }
    let tp = match conversation {
        Some(id) => store.touchpoint(id).await.ok().flatten(),
        None => None,
    };
    let Some(tp) = tp else {
        failures.push("the conversation was not stored".into());
        return;
    };
    if let Some(want) = s.expect.outcome {
        if tp.outcome != Some(want) {
            failures.push(format!(
                "expected the outcome {}, got {}",
                outcome_name(Some(want)),
                outcome_name(tp.outcome)
            ));
        }
    }
    if let Some(want) = s.expect.rating {
        let got = tp.survey.get(crate::engine::survey::RATING);
        if got.map(String::as_str) != Some(want.to_string().as_str()) {
            failures.push(format!(
                "expected the rating {want}, got {}",
                got.map(String::as_str).unwrap_or("none")
            ));
        }
    }
}

fn outcome_name(o: Option<Outcome>) -> String {
    o.and_then(|o| serde_json::to_value(o).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "none (still open)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_with_their_unit() {
        assert_eq!(parse_duration("30s"), Some(30_000));
        assert_eq!(parse_duration("1d"), Some(86_400_000));
        assert_eq!(parse_duration("2h"), Some(7_200_000));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("5y"), None);
    }
}
