//! The bot: one message's whole path, channel → nlu → engine → store → channel, in `Bot::turn`, which
//! [`Bot::handle`] runs.

use crate::channel::ssml;
use crate::config::Settings;
use crate::engine::linking::{self, LinkRequest};
use crate::engine::{
    Conversation, Decision, Engine, Fetch, OrderChange, PreviousContact, TurnContext,
};
use crate::fulfillment::{CustomerRef, FulfillError, Fulfiller, Live, Request};
use crate::handoff::{Desk, HandoffStatus, WaitingChoice};
use crate::intents::IntentPack;
use crate::intents::Rendered;
use crate::message::{Delivery, Event, Inbound, Lang, Reply};
use crate::metrics::{Metrics, TurnMetrics};
use crate::nlu::memo::Memo;
use crate::nlu::{Nlu, NluConfig, Understanding};
use crate::redact::Redactor;
use crate::store::{
    Contact, Customer, Identity, Outcome, Owner, ProfileStore, Speaker, State, StoreError,
    Touchpoint, Turn, TurnCommit, TurnGuard,
};
use crate::time::Timestamp;
use std::sync::Arc;

/// Customer attribute: when the satisfaction questions were last asked (ms since the epoch).
pub const LAST_SURVEY: &str = "last_survey_at";

/// Why a message could not be handled. The customer never sees this text.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The turn's task stopped before it finished (a panic caught by the runtime).
    #[error("the turn stopped before it finished: {0}")]
    Aborted(String),
}

/// The bot, shared by every channel.
pub struct Bot {
    pack: IntentPack,
    nlu: Arc<Nlu>,
    /// Short messages already understood by `nlu`.
    memo: Arc<Memo>,
    settings: Settings,
    store: Arc<dyn ProfileStore>,
    redactor: Redactor,
    metrics: Metrics,
    /// Intents that are not requests (greeting, thanks…), computed once.
    non_topics: crate::FastSet<String>,
    /// The people side: events, channels that write unasked, waiting times.
    desk: Desk,
    /// The business's fulfillment webhook client, when one is configured.
    fulfiller: Option<Arc<Fulfiller>>,
    /// Some intent's data comes from a backend (computed once from the settings and the pack).
    uses_fulfillment: bool,
}

impl Bot {
    /// Trains the NLU on the pack and wires the store in.
    pub fn new(pack: IntentPack, settings: Settings, store: Arc<dyn ProfileStore>) -> Self {
        let nlu = Nlu::from_pack(
            &pack,
            NluConfig {
                threshold: settings.fallback_threshold,
                class_memo: settings.nlu_memo,
                ..NluConfig::default()
            },
        );
        // The patterns were checked when the settings were loaded.
        let redactor = Redactor::new(&settings.redact_patterns).unwrap_or_else(|e| {
            tracing::error!(error = %e, "redaction pattern ignored");
            Redactor::default()
        });
        Bot {
            non_topics: pack.non_topic_intents(),
            pack,
            nlu: Arc::new(nlu),
            memo: Arc::new(Memo::new(settings.nlu_memo)),
            settings,
            store,
            redactor,
            metrics: Metrics::default(),
            desk: Desk::default(),
            fulfiller: None,
            uses_fulfillment: false,
        }
        .with_fulfillment_known()
    }

    /// Works out once whether some intent's data comes from a backend.
    fn with_fulfillment_known(mut self) -> Self {
        self.uses_fulfillment = self.settings.fulfillment_url.is_some()
            || self
                .pack
                .intents
                .iter()
                .any(|i| matches!(i.fulfillment, Some(crate::intents::Fulfillment::Url(_))));
        self
    }

    /// Asks the business's fulfillment webhook for the intents that name one (or `fulfillment = true`
    /// with a default URL), signing every call with `secret`.
    pub fn with_fulfillment(mut self, secret: String) -> Self {
        self.fulfiller = Some(Arc::new(Fulfiller::new(
            self.settings.fulfillment.clone(),
            secret,
        )));
        self
    }

    /// The fulfillment client, for `/metrics`.
    pub fn fulfiller(&self) -> Option<&Fulfiller> {
        self.fulfiller.as_deref()
    }

    /// Whether some intent's data comes from a backend with these settings.
    pub fn needs_fulfillment(&self) -> bool {
        self.uses_fulfillment
    }

    /// The same bot (intents, trained NLU, settings) on another store: `parcours test` replays each
    /// conversation on a fresh one without training again.
    pub fn with_store(&self, store: Arc<dyn ProfileStore>) -> Bot {
        Bot {
            pack: self.pack.clone(),
            nlu: self.nlu.clone(),
            memo: self.memo.clone(),
            settings: self.settings.clone(),
            store,
            redactor: self.redactor.clone(),
            metrics: Metrics::default(),
            non_topics: self.non_topics.clone(),
            desk: Desk::default(),
            fulfiller: self.fulfiller.clone(),
            uses_fulfillment: self.uses_fulfillment,
        }
    }

    /// The people side of conversations (events, outlets).
    pub fn desk(&self) -> &Desk {
        &self.desk
    }

    /// `text` with card numbers and the configured patterns removed (what staff type too).
    pub(crate) fn redact(&self, text: &str) -> String {
        self.redactor.redact(text)
    }

    /// The same bot on another store with other settings (a conversation file's `[handoff]`); the
    /// NLU is not trained again.
    pub fn with_store_and_settings(&self, store: Arc<dyn ProfileStore>, settings: Settings) -> Bot {
        let mut bot = self.with_store(store);
        bot.settings = settings;
        bot.with_fulfillment_known()
    }

    /// The metrics, for `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The store, for staff commands.
    pub fn store(&self) -> &Arc<dyn ProfileStore> {
        &self.store
    }

    /// Intents that are not requests (greeting, thanks, yes, no…): reports leave them out of "by intent".
    pub fn non_topic_intents(&self) -> &crate::FastSet<String> {
        &self.non_topics
    }

    /// The NLU, for evaluation and tools.
    pub fn nlu(&self) -> &Nlu {
        &self.nlu
    }

    /// Another identity the same person is known by: a caller id from a phone system (a `+` and 8 to 15
    /// digits on the voice webhook) is the same number Twilio gives, so a customer known by it on the
    /// phone is recognised.
    fn phone_alias(identity: &Identity) -> Option<Identity> {
        let id = &identity.id;
        let is_phone = id.starts_with('+')
            && (9..=16).contains(&id.len())
            && id[1..].bytes().all(|b| b.is_ascii_digit());
        (identity.channel == crate::message::Channel::Voice && is_phone).then(|| Identity {
            channel: crate::message::Channel::Twilio,
            id: id.clone(),
        })
    }

    /// A phone number the channel has verified (a contact shared on Telegram) links this identity to the
    /// customer known by that number on the phone, or becomes the customer's phone. Returns the customer.
    pub async fn link_verified_phone(
        &self,
        identity: &Identity,
        phone: &str,
        now: Timestamp,
    ) -> Result<Customer, BotError> {
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        let phone = format!("+{digits}");
        let me = self.store.resolve(identity, now).await?;
        let by_phone = Identity {
            channel: crate::message::Channel::Twilio,
            id: phone.clone(),
        };
        // Under the sender's lock, as a turn: the merge and the new phone are one unit of work.
        let mut guard = self.store.lock(identity.channel, &identity.id).await?;
        let mut customer = match self.store.customer_of(&by_phone).await? {
            Some(known) if known.id != me.id => {
                let (from, into) = if known.created_at <= me.created_at {
                    (me.id, known.id)
                } else {
                    (known.id, me.id)
                };
                let survivor = self.store.merge(&from, &into, Some(&mut guard)).await?;
                survivor.unwrap_or(Customer {
                    id: into,
                    created_at: now,
                    ..Customer::default()
                })
            }
            _ => {
                self.store.link(&by_phone, &me.id).await?;
                self.store.customer(&me.id).await?.unwrap_or(me)
            }
        };
        customer.phone.get_or_insert(phone);
        let changes = TurnCommit {
            customer: Some(customer.clone()),
            ..TurnCommit::default()
        };
        self.store.commit(guard, changes).await?;
        Ok(customer)
    }

    /// Erases everything held on the customer behind `identity` (see [`ProfileStore::forget`]).
    pub async fn forget(&self, identity: &Identity) -> Result<usize, BotError> {
        let Some(c) = self.store.customer_of(identity).await? else {
            return Ok(0);
        };
        let n = self.store.forget(&c.id).await?;
        self.store.durable().await?;
        Ok(n)
    }

    /// The engine's sentences in a language (for channel-specific answers).
    pub fn messages(&self, lang: Lang) -> &crate::intents::Messages {
        self.pack.messages(lang)
    }

    /// Whether the customer may be asked the satisfaction questions: not within `survey_every_days` of the
    /// last time they were asked (answered or not: customers who do not answer are not chased).
    fn survey_allowed(&self, customer: &Customer, now: Timestamp) -> bool {
        let last = customer
            .attributes
            .get(LAST_SURVEY)
            .and_then(|t| t.parse::<u64>().ok());
        last.is_none_or(|last| {
            now.0.saturating_sub(last) >= self.settings.survey_every_days.saturating_mul(86_400_000)
        })
    }

    /// Handles one customer message and returns the reply, once the turn is durable on disk: the
    /// message's whole path, in [`Bot::turn`].
    ///
    /// The turn's future is boxed here: it holds the state of every step (kilobytes), and each layer of
    /// the HTTP stack around a channel's handler moved it whole (those layers' copies were about 1% of
    /// the samples under `perf`).
    pub fn handle(&self, msg: Inbound) -> crate::store::BoxFuture<'_, Result<Reply, BotError>> {
        Box::pin(self.turn(msg))
    }

    /// One message's path: channel → nlu → engine → store → channel.
    #[tracing::instrument(level = "debug", skip_all, fields(channel = %msg.channel, conversation))]
    async fn turn(&self, mut msg: Inbound) -> Result<Reply, BotError> {
        let started = std::time::Instant::now();
        // Card numbers and configured patterns never go further than this.
        // A NUL a caller or platform sends means nothing, and no database text type can hold it.
        for field in [&mut msg.text, &mut msg.user] {
            field.retain(|c| c != '\0');
        }
        if let Some(s) = &mut msg.session {
            s.retain(|c| c != '\0');
        }
        let (redacted, sensitive) = self.redactor.redact_reporting(&msg.text);
        msg.text = redacted;
        // Channel: who is writing, and in which conversation. Store: one read, under the conversation's
        // lock, of everything the turn needs.
        let identity = Identity {
            channel: msg.channel,
            id: msg.user.clone(),
        };
        let also = Self::phone_alias(&identity);
        // A platform closing a conversation that is already over: nothing to record, nobody created.
        let ended = msg.event == Event::End;
        if ended
            && self
                .store
                .open_touchpoint(msg.channel, &msg.user)
                .await?
                .is_none()
        {
            return Ok(nothing_to_end(msg.locale));
        }
        // A delivery id counts within its sender: one a platform reused for someone else never gives
        // them another customer's reply.
        if let Some(d) = &mut msg.delivery {
            d.id = format!("{}\u{1f}{}", msg.user, d.id);
        }
        let (mut guard, load) = self
            .store
            .begin_turn(&identity, also.as_ref(), msg.delivery.as_ref(), msg.at)
            .await?;
        if let Some(replay) = load.replay {
            // A platform's retry of a message already answered: the same reply, nothing done again.
            drop(guard);
            return Ok(replayed(&replay, msg.locale));
        }
        if ended && load.open.is_none() {
            return Ok(nothing_to_end(msg.locale));
        }
        let mut customer = load.customer;
        // What the turn writes besides its own conversation: one it closed, leftover replies.
        let mut written: Vec<Touchpoint> = Vec::new();
        // A caller who rings again while still in the queue from an earlier call (the voice webhook's
        // calls: Alexa's sessions end at every handoff, Twilio holds its callers in its own queue).
        let called_again = msg.channel == crate::message::Channel::Voice
            && msg.session.is_some()
            && load.open.as_ref().is_some_and(|o| {
                matches!(o.owner, Owner::Waiting { .. }) && o.session != msg.session
            });
        let mut tp = self
            .conversation(&msg, &customer, load.open, &mut written)
            .await?;
        tracing::Span::current().record("conversation", tp.id.as_str());
        let mut conv: Conversation = tp.state.take_kept().unwrap_or_default();

        // NLU: what they said.
        let silent = msg.event == Event::Message && msg.text.trim().is_empty();
        let mut understanding = if msg.event != Event::Message || silent || sensitive {
            Arc::default()
        } else {
            self.memo
                .understand(&self.nlu, &msg.text, msg.at.date(), conv.lang)
        };
        // A message nothing was understood in says little about its language ("blorp fizzle"): the
        // conversation's language, or the platform's locale, stays.
        // Nor does a one-word answer ("yes", "ok", "merci", "bye"), said in any language.
        let one_word_answer = understanding.words <= 1
            && understanding
                .intent
                .as_deref()
                .and_then(|i| self.pack.get(i))
                .and_then(|i| i.role)
                .is_some_and(|r| {
                    use crate::intents::Role;
                    matches!(r, Role::Affirm | Role::Deny | Role::Thanks | Role::Goodbye)
                });
        // Nor does the answer to "what's the new address?" ("12 rue de la Paix" in an English chat): a
        // message that gives what was asked for.
        let answering = match &conv.state {
            crate::engine::DialogueState::AwaitingEntity { intent, entity, .. } => self
                .pack
                .get(intent)
                .and_then(|d| d.entities.iter().find(|e| &e.name == entity))
                .is_some_and(|spec| understanding.entities.iter().any(|e| e.kind == spec.kind)),
            _ => false,
        };
        let detected = understanding.lang.filter(|_| {
            (understanding.intent.is_some()
                && !((one_word_answer || answering) && conv.lang.is_some()))
                || (conv.lang.is_none() && msg.locale.is_none())
        });
        let lang = detected.or(conv.lang).or(msg.locale).unwrap_or_default();
        conv.lang = Some(lang);

        // "Forget it, where is my order 4567": the customer leaves the queue, or the person, and the
        // request is served in the same breath; "forget it" alone is answered by `with_people`.
        let mut left_people = false;
        if tp.owner.is_human()
            && msg.event == Event::Message
            && self.waiting_choice(&msg.text, lang) == Some(WaitingChoice::BackToBot)
        {
            // The request alone is understood: "forget it" would read as dropping it.
            if let Some(rest) = crate::handoff::said_after_leaving(&msg.text) {
                let asked = self
                    .memo
                    .understand(&self.nlu, &rest, msg.at.date(), conv.lang);
                if self.is_request(&asked) {
                    understanding = asked;
                    left_people = true;
                }
            }
        }
        // On the phone, a new call that asks something is served: the earlier call's place in the
        // queue is given up rather than the caller told to wait again, call after call.
        if called_again
            && !left_people
            && self.is_request(&understanding)
            && !crate::nlu::discourse::asks_about_callback(&understanding.tokens)
        {
            left_people = true;
        }
        if left_people {
            // Back with the assistant on this call: its session is the conversation's.
            if msg.session.is_some() {
                tp.session = msg.session.clone();
            }
            let left = match &tp.owner {
                Owner::Staff { name, .. } => format!("the customer left {name} for the assistant"),
                _ => "the customer went back to the assistant".into(),
            };
            tp.owner = Owner::Bot;
            tp.turns.push(Turn::system(msg.at, None, left));
            // No survey on top of a handoff the customer gave up on.
            conv.surveyed = true;
            tp.outbox
                .push(self.messages(lang).people.back_with_request.clone());
        }
        // People: while a person has the conversation or is awaited, the bot says nothing of its own.
        if tp.owner.is_human() {
            return self
                .with_people(
                    guard,
                    msg,
                    tp,
                    conv,
                    &understanding,
                    lang,
                    silent,
                    customer.phone.as_deref(),
                )
                .await;
        }

        // Linking channels ("/link", "my code is 123456") joins identities before anything else.
        let link = match LinkRequest::parse_normalised(&msg.text, &understanding.tokens)
            .filter(|_| msg.event == Event::Message)
        {
            Some(req) => {
                let before = tp.customer_id.clone();
                let linked = self
                    .link(
                        &mut guard,
                        req,
                        Arc::make_mut(&mut customer),
                        &mut tp,
                        msg.at,
                        lang,
                    )
                    .await?;
                // A merge moved the customer's conversations: one this turn closed goes with them.
                for w in written.iter_mut().filter(|w| w.customer_id == before) {
                    w.customer_id = tp.customer_id.clone();
                }
                Some(linked)
            }
            None => None,
        };

        // Engine: what to answer.
        let engine = Engine::new(&self.pack, &self.settings);
        let previous = if tp.turns.is_empty() {
            // A conversation starts: what the customer's last ones left (read with the turn, unless
            // an open one was just closed).
            let recent = match load.recent {
                Some(recent) => recent,
                None => self.store.recent_contacts(&customer.id).await?,
            };
            self.take_leftover(&recent, &mut tp, &mut written).await?;
            self.previous_contact(&recent, &tp.id, msg.at)
        } else {
            None
        };
        let ctx = TurnContext {
            customer: &customer,
            lang,
            asr_confidence: msg.asr_confidence,
            spoken: msg.channel.is_spoken(),
            text: &msg.text,
            tokens: &understanding.tokens,
            survey_allowed: self.survey_allowed(&customer, msg.at),
            today: msg.at.date(),
            previous: previous
                .as_ref()
                .map(|(intent, channel, days_ago)| PreviousContact {
                    intent,
                    channel: *channel,
                    days_ago: *days_ago,
                }),
            live: None,
        };
        // The engine is pure: a turn that needs the business's data is decided again, from the same
        // state, once the fulfillment webhook answered.
        let before = self.needs_fulfillment().then(|| conv.clone());
        let mut decision = match (msg.event, link) {
            (_, Some(linked)) => linked,
            (Event::Start, _) => engine.welcome(&mut conv, &ctx),
            (Event::Help, _) => engine.help(&mut conv, &ctx),
            (Event::End, _) => engine.end(&mut conv, &ctx),
            (Event::Handoff, _) => engine.handoff(&mut conv, &ctx),
            (Event::NotUnderstood, _) => engine.not_understood(&mut conv, &ctx),
            (Event::Message, _) if silent => engine.silence(&mut conv, &ctx),
            // "Sorry, can you repeat that?": the last answer again, the question it asked still open.
            (Event::Message, _) if crate::nlu::discourse::asks_to_repeat(&understanding.tokens) => {
                match tp.turns.iter().rev().find(|t| t.speaker == Speaker::Bot) {
                    Some(last) => engine.repeat(&conv, &ctx, &last.text),
                    None => engine.step(&mut conv, &understanding, &ctx),
                }
            }
            (Event::Message, _) if sensitive => engine.sensitive_removed(&mut conv, &ctx),
            (Event::Message, _) => engine.step(&mut conv, &understanding, &ctx),
        };
        let mut backend_notes = Vec::new();
        if let Some(fetch) = decision.fetch.take() {
            conv = before.unwrap_or_default();
            let deadline = std::time::Instant::now()
                + std::time::Duration::from_millis(self.settings.fulfillment.deadline_ms);
            let request = self
                .fulfillment_request(&fetch, &customer, &tp, lang)
                .await?;
            let read = match &self.fulfiller {
                Some(f) => f.read(&fetch.url, &request, deadline).await,
                None => Err(FulfillError::Unreachable(
                    "no fulfillment secret configured".into(),
                )),
            };
            if let Err(e) = &read {
                backend_notes.push(backend_note(&fetch, "read", e));
            }
            let live = Live::from_result(&read, lang.code());
            let seen = crate::fulfillment::overlay(&customer, fetch.order_id.as_deref(), &live);
            let ctx = TurnContext {
                customer: &seen,
                live: Some(&live),
                ..ctx
            };
            decision = engine.step(&mut conv, &understanding, &ctx);
            decision.fetch = None;
            if let Some(change) = decision.act.clone() {
                let done = self
                    .fulfil_action(&fetch, request, &change, lang, deadline)
                    .await;
                match done {
                    Ok(say) => {
                        if let Some(say) = say {
                            decision.answer = Rendered::plain(&say);
                        }
                        // The business holds its orders: only the customer's own details are kept here.
                        if !matches!(change, OrderChange::Email { .. }) {
                            decision.act = None;
                        }
                    }
                    Err(ActionOutcome::Refused(why)) => {
                        let def = self.pack.get(&fetch.intent).expect("the intent fetched");
                        decision = engine.action_refused(&mut conv, def, &ctx, why.as_deref());
                    }
                    Err(ActionOutcome::Failed(e)) => {
                        backend_notes.push(backend_note(&fetch, "action", &e));
                        let def = self.pack.get(&fetch.intent).expect("the intent fetched");
                        decision = engine.backend_failed(&mut conv, def, &ctx, true);
                    }
                }
            }
        }
        if lang == Lang::Fr {
            decision.answer.text = crate::intents::template::contract_fr(&decision.answer.text);
            decision.answer.ssml = crate::intents::template::contract_fr(&decision.answer.ssml);
        }
        tracing::debug!(intent = ?understanding.intent, confidence = understanding.confidence, "turn");
        let reprompt_ssml = if msg.channel.takes_reprompt() {
            ssml::speak(&engine.reprompt(&conv, &ctx).ssml)
        } else {
            String::new()
        };
        // A handoff keeps the conversation open, in the queue, with its place said.
        let handed_off = decision.outcome == Some(Outcome::HandedOff);
        let mut handoff = None;
        let mut owner_change = None;
        if handed_off {
            // A person asked for beside another request is asked for, whatever the answer was about.
            let reason = match decision.handoff_after {
                true => self
                    .pack
                    .with_role(crate::intents::Role::Handoff)
                    .map(|d| d.name.clone()),
                false => decision.intent.clone(),
            };
            let reason = reason.unwrap_or_else(|| "handoff".into());
            let (sentence, status) = self.hand_off(&mut tp, &reason, msg.at, lang).await?;
            owner_change = tp.turns.pop();
            let queued = crate::intents::Rendered::plain(&sentence);
            if decision.handoff_after {
                decision.answer.push(&queued);
            } else {
                decision.answer = queued;
            }
            decision.end = false;
            decision.outcome = None;
            if !msg.channel.is_spoken() {
                decision.quick_replies = self.waiting_buttons(lang);
            }
            handoff = Some(status);
        }
        // What people said while the customer was away (a person left, say) comes first.
        if !tp.outbox.is_empty() {
            let before: Vec<String> = std::mem::take(&mut tp.outbox);
            let ssml: Vec<String> = before.iter().map(|t| ssml::escape(t)).collect();
            decision.answer.text = format!("{}\n{}", before.join("\n"), decision.answer.text);
            decision.answer.ssml = format!("{} {}", ssml.join(" "), decision.answer.ssml);
        }

        // Store: the turn is durable before the reply leaves.
        record(&mut tp, &msg, &understanding, &decision, conv, lang)?;
        // Staff see in the transcript what the business's systems failed to answer.
        for note in backend_notes {
            tp.turns
                .push(crate::store::Turn::system(msg.at, None, note));
        }
        tp.turns.extend(owner_change);
        let mut changes = TurnCommit {
            touchpoints: written,
            ..TurnCommit::default()
        };
        if decision.survey_started || decision.act.is_some() {
            let mut customer = crate::store::Customer::clone(&customer);
            if decision.survey_started {
                customer
                    .attributes
                    .insert(LAST_SURVEY.into(), msg.at.0.to_string());
            }
            if let Some(change) = &decision.act {
                apply(change, &mut customer);
            }
            changes.customer = Some(customer);
        }
        let reply = Reply {
            conversation_id: tp.id.clone(),
            text: decision.answer.text,
            ssml: ssml::speak(&decision.answer.ssml),
            quick_replies: decision.quick_replies,
            // Alexa cannot hold a customer: the session ends, the conversation waits.
            end: decision.end || (handed_off && msg.channel == crate::message::Channel::Alexa),
            intent: understanding.intent.clone(),
            lang,
            reprompt_ssml,
            handoff,
            replayed: false,
        };
        changes.delivery = delivered(&msg, &reply)?;
        let left_people = left_people.then(|| tp.clone());
        changes.touchpoints.push(tp);
        self.store.commit(guard, changes).await?;
        if let Some(tp) = left_people {
            self.desk
                .publish(&tp, "cancelled", None, Some(msg.text.as_str()));
        }
        if matches!(msg.event, Event::Message | Event::NotUnderstood) && !silent {
            let irritants: Vec<&str> = decision.irritants.iter().map(|i| i.as_str()).collect();
            self.metrics.record(&TurnMetrics {
                channel: msg.channel.as_str(),
                intent: understanding
                    .intent
                    .as_deref()
                    .or(decision.intent.as_deref()),
                fallback: decision.fallback,
                handoff: handed_off,
                survey_answers: &decision.survey,
                irritants: &irritants,
                latency: started.elapsed(),
            });
        }

        // Back to the channel.
        Ok(reply)
    }

    /// The request the business is sent about a turn.
    async fn fulfillment_request(
        &self,
        fetch: &Fetch,
        customer: &Customer,
        tp: &Touchpoint,
        lang: Lang,
    ) -> Result<Request, BotError> {
        let identities = self.store.identities(&customer.id).await?;
        Ok(Request {
            intent: fetch.intent.clone(),
            entities: fetch.entities.clone(),
            customer: CustomerRef::new(customer, &identities),
            conversation_id: tp.id.clone(),
            lang: lang.code().to_string(),
            channel: tp.channel.to_string(),
            action: None,
            idempotency_key: None,
        })
    }

    /// Asks the business to do what the customer confirmed: `Ok(say)` once done (with the business's
    /// sentence, if it gave one), else why not.
    async fn fulfil_action(
        &self,
        fetch: &Fetch,
        read: Request,
        change: &OrderChange,
        lang: Lang,
        deadline: std::time::Instant,
    ) -> Result<Option<String>, ActionOutcome> {
        let Some(f) = &self.fulfiller else {
            return Err(ActionOutcome::Failed(FulfillError::Unreachable(
                "no fulfillment secret configured".into(),
            )));
        };
        let request = read.into_action(change.action_name());
        match f.act(&fetch.url, &request, deadline).await {
            Ok(r) => match r.done {
                Some(true) => Ok(r.say.get(lang.code()).cloned()),
                Some(false) => Err(ActionOutcome::Refused(r.say.get(lang.code()).cloned())),
                None => Err(ActionOutcome::Failed(FulfillError::BadAnswer(
                    "an action's answer has no `done`".into(),
                ))),
            },
            Err(e) => Err(ActionOutcome::Failed(e)),
        }
    }

    /// Puts the conversation in the queue; what the customer is told, and the status for the channel.
    async fn hand_off(
        &self,
        tp: &mut Touchpoint,
        reason: &str,
        now: Timestamp,
        lang: Lang,
    ) -> Result<(String, HandoffStatus), BotError> {
        let ahead = self
            .queue(now)
            .await?
            .iter()
            .filter(|q| q.position.is_some() && q.id != tp.id)
            .count();
        tp.lang = lang;
        crate::handoff::queue_up(tp, reason, now);
        let position = ahead + 1;
        let open = self.people_open(now);
        if let Owner::Waiting {
            ticket,
            told_position,
            ..
        } = &mut tp.owner
        {
            *ticket = !open;
            *told_position = position;
        }
        self.desk.publish(tp, "handoff", None, Some(reason));
        let sentence = self.queued_sentence(tp, position, now);
        let status = HandoffStatus {
            state: "waiting".into(),
            position: Some(position),
            staff: None,
            reference: tp.id.clone(),
            started: true,
        };
        Ok((sentence, status))
    }

    /// A turn while a person has the conversation or is awaited: the customer's words go to them
    /// (and the events staff listen to); the bot only says what people sent, the place in the queue,
    /// or what the customer chose (back to the assistant, a call back).
    #[allow(clippy::too_many_arguments)]
    async fn with_people(
        &self,
        guard: TurnGuard,
        msg: Inbound,
        mut tp: Touchpoint,
        mut conv: Conversation,
        u: &Understanding,
        lang: Lang,
        silent: bool,
        // The phone number on the customer's profile: a call back can go there from any channel.
        profile_phone: Option<&str>,
    ) -> Result<Reply, BotError> {
        let now = msg.at;
        let m = &self.messages(lang).people;
        let spoken = msg.channel.is_spoken();
        let says = msg.event == Event::Message && !silent;
        let choice = says
            .then(|| self.waiting_choice(&msg.text, lang))
            .flatten()
            .or_else(|| {
                (msg.channel == crate::message::Channel::Twilio && msg.text.trim() == "1")
                    .then_some(WaitingChoice::CallBack)
            });
        let role = u
            .intent
            .as_deref()
            .and_then(|i| self.pack.get(i))
            .and_then(|i| i.role);
        let goodbye = says && role == Some(crate::intents::Role::Goodbye);
        // "No thanks", "nah I'm good", "non c'est bon" while nobody has taken the conversation yet:
        // the person is declined, and the customer is back with the assistant.
        // (Out of hours the request is kept for the team: a "no" there may decline the call back.)
        let declines = says
            && matches!(tp.owner, Owner::Waiting { ticket: false, .. })
            && role == Some(crate::intents::Role::Deny)
            && u.tokens.len() <= 4
            && u.entities.is_empty();
        let choice = choice.or(declines.then_some(WaitingChoice::BackToBot));
        if says {
            tp.turns.push(Turn {
                at: now,
                speaker: Speaker::Customer,
                text: msg.text.clone(),
                intent: u.intent.clone(),
                confidence: Some(u.confidence),
                asr_confidence: msg.asr_confidence,
                irritants: Vec::new(),
                author: None,
            });
        }
        let mut said: Vec<String> = std::mem::take(&mut tp.outbox);
        let mut end = false;
        let mut quick = Vec::new();
        let waiting = matches!(tp.owner, Owner::Waiting { .. });
        // A call back needs a number to call.
        let phone_like = |u: &str| {
            u.starts_with('+') && u.len() > 8 && u[1..].bytes().all(|b| b.is_ascii_digit())
        };
        // A caller can be called back on their number; a customer writing from a chat, on the
        // number of their profile.
        let caller = msg.channel != crate::message::Channel::Alexa && phone_like(&msg.user);
        let call_on = if caller {
            Some(msg.user.as_str())
        } else {
            profile_phone.filter(|p| phone_like(p))
        };
        let can_call = call_on.is_some();
        let alexa = msg.channel == crate::message::Channel::Alexa;
        let kind: &'static str = match (msg.event, choice) {
            (Event::End, _) => {
                end = true;
                if let Owner::Waiting { callback, .. } = &mut tp.owner {
                    if caller {
                        *callback = true;
                        tp.turns.push(Turn::system(
                            now,
                            None,
                            "the caller hung up while waiting: call back".into(),
                        ));
                    }
                }
                said.push(self.pack.messages(lang).goodbye.clone());
                if caller && waiting {
                    "callback"
                } else {
                    "customer_left"
                }
            }
            (_, Some(WaitingChoice::BackToBot)) => {
                // Never trapped: the customer may leave the queue, or the person, for the assistant.
                let left = match &tp.owner {
                    Owner::Staff { name, .. } => {
                        format!("the customer left {name} for the assistant")
                    }
                    _ => "the customer went back to the assistant".into(),
                };
                tp.owner = Owner::Bot;
                tp.turns.push(Turn::system(now, None, left));
                if msg.session.is_some() {
                    tp.session = msg.session.clone();
                }
                // No survey on top of a handoff the customer gave up on.
                conv.surveyed = true;
                if crate::handoff::comes_back_later(&msg.text) {
                    // "Bon laissez tomber, je rappellerai": a goodbye, not "how can I help?".
                    said.push(self.pack.messages(lang).goodbye.clone());
                    end = true;
                } else {
                    said.push(m.cancelled.clone());
                }
                "cancelled"
            }
            (_, Some(WaitingChoice::CallBack)) if waiting && can_call => {
                if let Owner::Waiting { callback, .. } = &mut tp.owner {
                    *callback = true;
                }
                let on = call_on.unwrap_or_default();
                tp.turns.push(Turn::system(
                    now,
                    None,
                    format!("the customer asked to be called back on {on}"),
                ));
                if msg.channel == crate::message::Channel::Twilio {
                    said.push(m.twilio_callback.clone());
                } else if !spoken && !m.callback_on.is_empty() {
                    // In writing, the number is said: the customer can correct it.
                    said.push(crate::handoff::fill(&m.callback_on, &[("phone", on)]));
                } else {
                    said.push(m.callback.clone());
                }
                end = spoken;
                "callback"
            }
            (_, Some(WaitingChoice::CallBack)) if waiting => {
                // No number to call: the request stays, answered on this channel.
                said.push(m.kept.clone());
                "customer_message"
            }
            // A caller who says goodbye while waiting hangs up: called back, as when the call ends.
            _ if goodbye && waiting && spoken && caller => {
                if let Owner::Waiting { callback, .. } = &mut tp.owner {
                    *callback = true;
                }
                tp.turns.push(Turn::system(
                    now,
                    None,
                    "the caller said goodbye while waiting: call back".into(),
                ));
                said.push(m.callback.clone());
                said.push(self.pack.messages(lang).goodbye.clone());
                end = true;
                "callback"
            }
            _ if goodbye => {
                said.push(m.kept.clone());
                end = spoken;
                "customer_left"
            }
            // "J'attends qu'on me rappelle, c'est toujours prévu ?": the call back stands, and the
            // customer hears so.
            _ if says
                && matches!(tp.owner, Owner::Waiting { callback: true, .. })
                && crate::nlu::discourse::asks_about_callback(&u.tokens) =>
            {
                said.push(m.callback.clone());
                end = spoken;
                "customer_message"
            }
            _ => {
                let position = if waiting {
                    self.queue(now)
                        .await?
                        .iter()
                        .find(|q| q.id == tp.id)
                        .and_then(|q| q.position)
                } else {
                    None
                };
                // A request the assistant could answer, from a customer who comes back ("hi, where is
                // 5521?", or after five minutes) gets the place in the queue and the way back to the
                // assistant: nobody is left wondering whether anyone heard. What the customer adds
                // while waiting ("it's about order 4567") is for the person, and gets no reply.
                let back = u.greeted || now.0.saturating_sub(tp.last_at.0) >= 5 * 60_000;
                let request = waiting && back && self.is_request(u);
                let asked_status = !says || choice == Some(WaitingChoice::KeepWaiting) || request;
                if said.is_empty() && (spoken || asked_status) {
                    match (&tp.owner, position) {
                        (Owner::Staff { name, .. }, _) if spoken => {
                            said.push(crate::handoff::fill(
                                &m.staff_writing_voice,
                                &[("name", name)],
                            ));
                        }
                        (Owner::Waiting { .. }, Some(p)) => {
                            let t = if spoken {
                                &m.still_waiting_voice
                            } else if request {
                                &m.ask_me_instead
                            } else {
                                &m.position
                            };
                            said.push(crate::handoff::fill(t, &[("position", &p.to_string())]));
                            if !spoken {
                                quick = self.waiting_buttons(lang);
                            }
                        }
                        _ => {}
                    }
                }
                "customer_message"
            }
        };
        if alexa {
            // Alexa cannot hold a customer: the session ends; replies are read at the next launch.
            end = true;
            if said.is_empty() {
                said.push(crate::handoff::fill(&m.alexa, &[("reference", &tp.id)]));
            }
        }
        let text = said.join("\n");
        if !text.is_empty() {
            tp.turns.push(Turn {
                at: now,
                speaker: Speaker::Bot,
                text: text.clone(),
                intent: None,
                confidence: None,
                asr_confidence: None,
                irritants: Vec::new(),
                author: None,
            });
        }
        if says || !text.is_empty() {
            tp.last_at = now;
        }
        tp.lang = lang;
        tp.state = State::of(&conv).map_err(StoreError::from)?;
        let handoff = match &tp.owner {
            Owner::Bot => None,
            Owner::Waiting { .. } => Some(HandoffStatus {
                state: "waiting".into(),
                position: self
                    .queue(now)
                    .await?
                    .iter()
                    .find(|q| q.id == tp.id)
                    .and_then(|q| q.position),
                staff: None,
                reference: tp.id.clone(),
                started: false,
            }),
            Owner::Staff { name, .. } => Some(HandoffStatus {
                state: "staff".into(),
                position: None,
                staff: Some(name.clone()),
                reference: tp.id.clone(),
                started: false,
            }),
        };
        let ssml_body = said
            .iter()
            .map(|s| ssml::escape(s))
            .collect::<Vec<_>>()
            .join(" ");
        let reply = Reply {
            conversation_id: tp.id.clone(),
            text,
            ssml: ssml::speak(&ssml_body),
            quick_replies: quick,
            end,
            intent: u.intent.clone(),
            lang,
            reprompt_ssml: ssml::speak(&ssml::escape(&self.pack.messages(lang).reprompt)),
            handoff,
            replayed: false,
        };
        let changes = TurnCommit {
            touchpoints: vec![tp.clone()],
            delivery: delivered(&msg, &reply)?,
            ..TurnCommit::default()
        };
        self.store.commit(guard, changes).await?;
        let shown = if kind == "customer_message" && !says {
            None
        } else {
            Some(msg.text.as_str()).filter(|t| !t.is_empty())
        };
        self.desk.publish(&tp, kind, None, shown);
        Ok(reply)
    }

    /// Whether a message asks for something the bot serves: a confident request, or an order number.
    fn is_request(&self, u: &Understanding) -> bool {
        let request = Engine::new(&self.pack, &self.settings).is_new_request(u);
        let order = u
            .entities
            .iter()
            .any(|e| e.kind == crate::intents::EntityKind::OrderNumber);
        request || order
    }

    /// What a message to the queue chooses, by the buttons' labels in `lang` or in words.
    fn waiting_choice(&self, text: &str, lang: Lang) -> Option<WaitingChoice> {
        let m = &self.messages(lang).people;
        let labels = [
            (WaitingChoice::KeepWaiting, m.keep_waiting.as_str()),
            (WaitingChoice::CallBack, m.call_back.as_str()),
            (WaitingChoice::BackToBot, m.back_to_bot.as_str()),
        ];
        crate::handoff::waiting_choice(text, &labels)
    }

    /// Makes a link code, or joins this customer to the one who made the code they give.
    async fn link(
        &self,
        guard: &mut TurnGuard,
        req: LinkRequest,
        customer: &mut Customer,
        tp: &mut Touchpoint,
        now: Timestamp,
        lang: Lang,
    ) -> Result<Decision, BotError> {
        let m = self.pack.messages(lang);
        let said = match req {
            LinkRequest::NewCode => {
                let code = linking::new_code();
                self.store
                    .put_link_code(&code, &customer.id, now.plus_ms(linking::CODE_TTL_MS))
                    .await?;
                let (before, after) = m
                    .link_code
                    .split_once("{code}")
                    .unwrap_or((&m.link_code, ""));
                Rendered {
                    text: format!("{before}{code}{after}"),
                    ssml: format!(
                        "{}{}{}",
                        ssml::escape(before),
                        ssml::say_digits(&code),
                        ssml::escape(after)
                    ),
                }
            }
            LinkRequest::Code(code) => match self
                .store
                .take_link_code(&code, now, Some(&mut *guard))
                .await?
            {
                Some(owner) => {
                    if owner != customer.id {
                        // The older profile survives: it is the one staff and other channels know.
                        let other = self.store.customer(&owner).await?;
                        let (from, into) = match &other {
                            Some(o) if o.created_at <= customer.created_at => {
                                (customer.id.clone(), owner)
                            }
                            _ => (owner, customer.id.clone()),
                        };
                        let survivor = self.store.merge(&from, &into, Some(guard)).await?;
                        tp.customer_id = into.clone();
                        if let Some(c) = survivor {
                            *customer = c;
                        }
                    }
                    Rendered::plain(&m.linked)
                }
                None => Rendered::plain(&m.link_invalid),
            },
        };
        Ok(Decision::say(said))
    }

    /// What people said in this sender's last conversation that they never heard (it was closed before
    /// their next turn): moved into the new one, to be said first. The index says which conversation has
    /// any; only those are read.
    async fn take_leftover(
        &self,
        recent: &[Contact],
        tp: &mut Touchpoint,
        written: &mut Vec<Touchpoint>,
    ) -> Result<(), BotError> {
        for c in recent.iter().take(3) {
            if c.id == tp.id || c.channel != tp.channel || c.user != tp.user || !c.outbox {
                continue;
            }
            if let Some(mut old) = self.store.touchpoint(&c.id).await? {
                let mut left = std::mem::take(&mut old.outbox);
                left.append(&mut tp.outbox);
                tp.outbox = left;
                written.push(old);
            }
        }
        Ok(())
    }

    /// The customer's last conversation, if it ended unsettled (abandoned, handed off or not solved) within the last
    /// seven days: its topic intent, channel and age in days. Read from the index of the customer's latest
    /// conversations, whatever the length of their history.
    fn previous_contact(
        &self,
        recent: &[Contact],
        current: &str,
        now: Timestamp,
    ) -> Option<(String, crate::message::Channel, u64)> {
        const RECALL_DAYS: u64 = 7;
        let non_topics = &self.non_topics;
        let topic_of = |t: &Contact| t.intents.iter().find(|i| !non_topics.contains(*i)).cloned();
        // The last conversation that was about something (a bare "/link" call is not).
        let last = recent
            .iter()
            .filter(|t| t.id != current && t.ended_at.is_some() && topic_of(t).is_some())
            .max_by_key(|t| t.ended_at)?;
        let ended = last.ended_at.unwrap_or(last.started_at);
        let unsettled = matches!(
            last.outcome,
            Some(Outcome::Abandoned | Outcome::HandedOff | Outcome::Unresolved)
        );
        let days = (now.date().days() - ended.date().days()).max(0) as u64;
        match topic_of(last) {
            Some(t) if unsettled && days <= RECALL_DAYS => Some((t, last.channel, days)),
            _ => None,
        }
    }

    /// The open conversation of this sender, or a new one. A conversation idle for longer than the timeout,
    /// or from another platform session, is closed first (and put in `written`).
    async fn conversation(
        &self,
        msg: &Inbound,
        customer: &Customer,
        open: Option<Touchpoint>,
        written: &mut Vec<Touchpoint>,
    ) -> Result<Touchpoint, BotError> {
        if let Some(open) = open {
            let idle = msg.at.0.saturating_sub(open.last_at.0) >= self.settings.idle_timeout_ms();
            let other_session = msg.session.is_some() && open.session != msg.session;
            if open.owner.is_human() && open.customer_id == customer.id {
                // Waiting for a person, or with one: a new call or session continues it.
                // A voice caller waiting keeps the session of the call that queued, so that every
                // turn of a later call is known to be one (see `called_again`).
                let mut open = open;
                let queued_call = msg.channel == crate::message::Channel::Voice
                    && matches!(open.owner, Owner::Waiting { .. });
                if msg.session.is_some() && !queued_call {
                    open.session = msg.session.clone();
                }
                return Ok(open);
            }
            if !idle && !other_session && open.customer_id == customer.id {
                return Ok(open);
            }
            written.push(self.closed(open));
        }
        Ok(Touchpoint {
            session: msg.session.clone(),
            lang: msg.locale.unwrap_or_default(),
            ..Touchpoint::new(
                self.store.new_id("tp").await?,
                customer.id.clone(),
                msg.channel,
                msg.user.clone(),
                msg.at,
            )
        })
    }

    /// A conversation that went quiet, ended: resolved if an answer settled it, abandoned otherwise.
    fn closed(&self, mut tp: Touchpoint) -> Touchpoint {
        let conv: Conversation = tp.state.read().unwrap_or_default();
        tp.ended_at = Some(tp.last_at);
        tp.outcome = Some(Engine::new(&self.pack, &self.settings).outcome(&conv));
        tp
    }

    /// Purges the words of conversations older than `retention_days` (when set); returns how many.
    pub async fn apply_retention(&self, now: Timestamp) -> Result<usize, BotError> {
        let Some(days) = self.settings.retention_days else {
            return Ok(0);
        };
        let before = Timestamp(now.0.saturating_sub(days.saturating_mul(86_400_000)));
        let n = self.store.purge_transcripts(before).await?;
        if n > 0 {
            self.store.durable().await?;
        }
        Ok(n)
    }

    /// Closes every conversation idle for longer than the timeout; returns how many. Run periodically.
    pub async fn close_idle(&self, now: Timestamp) -> Result<usize, BotError> {
        let mut n = 0;
        // A customer waiting for a person, or with one, is not timed out.
        let idle = |human: bool, last_at: Timestamp| {
            !human && now.0.saturating_sub(last_at.0) >= self.settings.idle_timeout_ms()
        };
        for seen in self.store.open_conversations().await? {
            if !idle(seen.human, seen.last_at) {
                continue;
            }
            // Under the conversation's lock, read again: a turn may have come in meanwhile.
            let guard = self.store.lock(seen.channel, &seen.user).await?;
            match self.store.touchpoint(&seen.id).await? {
                Some(tp) if tp.is_open() && idle(tp.owner.is_human(), tp.last_at) => {
                    let changes = TurnCommit {
                        touchpoints: vec![self.closed(tp)],
                        ..TurnCommit::default()
                    };
                    self.store.commit(guard, changes).await?;
                    n += 1;
                }
                _ => drop(guard),
            }
        }
        Ok(n)
    }
}

/// The reply to a platform ending a conversation that is already over.
fn nothing_to_end(locale: Option<Lang>) -> Reply {
    Reply {
        conversation_id: String::new(),
        text: String::new(),
        ssml: ssml::speak(""),
        quick_replies: Vec::new(),
        end: true,
        intent: None,
        lang: locale.unwrap_or_default(),
        reprompt_ssml: ssml::speak(""),
        handoff: None,
        replayed: false,
    }
}

/// The reply given before to a delivery, for its redelivery. A delivery kept without its reply (by an
/// older version) is answered with nothing.
fn replayed(kept: &str, locale: Option<Lang>) -> Reply {
    let earlier = serde_json::from_str::<Reply>(kept).unwrap_or_else(|_| Reply {
        end: false,
        ..nothing_to_end(locale)
    });
    Reply {
        replayed: true,
        ..earlier
    }
}

/// The delivery a turn answered, with its reply, to commit with the turn.
fn delivered(msg: &Inbound, reply: &Reply) -> Result<Option<(Delivery, String)>, StoreError> {
    msg.delivery
        .clone()
        .map(|d| Ok((d, serde_json::to_string(reply)?)))
        .transpose()
}

/// Appends the customer's turn and the bot's answer to the touchpoint, and ends it if the dialogue did.
fn record(
    tp: &mut Touchpoint,
    msg: &Inbound,
    u: &Understanding,
    decision: &Decision,
    conv: Conversation,
    lang: Lang,
) -> Result<(), BotError> {
    // A platform's "heard something, no words" is a customer turn too, with no text.
    if matches!(msg.event, Event::Message | Event::NotUnderstood) {
        tp.turns.push(Turn {
            at: msg.at,
            speaker: Speaker::Customer,
            text: msg.text.clone(),
            // A bare answer ("4567", "yes") takes its meaning from the question it answers.
            intent: u.intent.clone().or_else(|| decision.intent.clone()),
            confidence: Some(u.confidence),
            asr_confidence: msg.asr_confidence,
            irritants: decision.irritants.clone(),
            author: None,
        });
    }
    tp.turns.push(Turn {
        at: msg.at,
        speaker: Speaker::Bot,
        text: decision.answer.text.clone(),
        intent: decision.intent.clone(),
        confidence: None,
        asr_confidence: None,
        irritants: Vec::new(),
        author: None,
    });
    if let Some(i) = &decision.intent {
        if tp.intents.last() != Some(i) {
            tp.intents.push(i.clone());
        }
    }
    tp.lang = lang;
    tp.last_at = msg.at;
    // Kept beside its text: the conversation's next turn reads it back without parsing it.
    tp.state = State::keeping(conv, crate::json::conversation).map_err(StoreError::from)?;
    for (k, v) in &decision.survey {
        tp.survey.insert(k.clone(), v.clone());
    }
    if decision.end {
        tp.ended_at = Some(msg.at);
        tp.outcome = decision.outcome;
    }
    Ok(())
}

/// Why an action the customer confirmed was not done.
enum ActionOutcome {
    /// The business said no, maybe with its sentence.
    Refused(Option<String>),
    /// The business could not be asked, or did not answer.
    Failed(FulfillError),
}

/// The transcript's line about a failed call: what, why, where (never the URL's credentials).
fn backend_note(fetch: &Fetch, what: &str, e: &FulfillError) -> String {
    format!(
        "fulfillment {what} for {} failed: {e} ({})",
        fetch.intent,
        crate::fulfillment::display_url(&fetch.url)
    )
}

/// Applies a change the engine decided to the customer's profile (the answer already says it is done).
fn apply(change: &OrderChange, customer: &mut Customer) {
    let id = match change {
        OrderChange::Email { email } => {
            customer.email = Some(email.clone());
            return;
        }
        OrderChange::Cancel { order_id }
        | OrderChange::Reschedule { order_id, .. }
        | OrderChange::Readdress { order_id, .. }
        | OrderChange::Reinstate { order_id } => order_id,
    };
    let Some(order) = customer.orders.iter_mut().find(|o| &o.id == id) else {
        return;
    };
    match change {
        OrderChange::Cancel { .. } => {
            // Kept so that a cancellation not yet processed can be undone.
            order.previous_status = Some(std::mem::replace(&mut order.status, "cancelled".into()));
            order.previous_eta = order.eta.take();
        }
        OrderChange::Reinstate { .. } => {
            if let Some(status) = order.previous_status.take() {
                order.status = status;
                order.eta = order.previous_eta.take();
            }
        }
        OrderChange::Reschedule { date, .. } => order.eta = Some(date.clone()),
        OrderChange::Readdress { address, .. } => order.address = Some(address.clone()),
        OrderChange::Email { .. } => {}
    }
}
