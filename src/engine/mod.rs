//! The dialogue engine: given what the NLU understood, the conversation's state and the customer's
//! profile, decide the answer and the next state. Pure and synchronous: no I/O, no channel types, so one
//! conversation test covers every channel.
//!
//! Policy, in order: a pending question (entity, confirmation, offer of a person) is answered first;
//! otherwise the intent is served: missing required entities are asked for, acting intents are confirmed
//! (always, or when the transcript is doubtful), then the first answer template that can be filled is said.
//! Repeated fallbacks bring the offer of a person.

pub mod linking;
mod repair;
pub mod state;
pub mod survey;

use crate::config::Settings;
use crate::fulfillment::Live;
use crate::intents::{
    Action, EntityKind, Intent, IntentPack, Rendered, Role, SayAs, Value, template,
};
use crate::message::Lang;
use crate::nlu::Understanding;
use crate::store::{Customer, Irritant, Outcome};
use state::answered_key;
pub use state::{Collected, Conversation, DialogueState};

/// What the engine knows about the turn besides the words.
#[derive(Debug, Clone, Copy)]
pub struct TurnContext<'a> {
    pub customer: &'a Customer,
    pub lang: Lang,
    /// The speech recogniser's confidence, on spoken channels.
    pub asr_confidence: Option<f32>,
    /// The answer is spoken (voice, Twilio, Alexa): an intent's `voice_answers` are said, if it has some.
    pub spoken: bool,
    /// What the customer said, verbatim (kept as a survey comment).
    pub text: &'a str,
    /// Its words, normalised once by the NLU ([`Understanding::tokens`]).
    pub tokens: &'a [String],
    /// The customer may be asked the satisfaction questions (not surveyed recently).
    pub survey_allowed: bool,
    /// A recent conversation that did not settle the customer's request, on any channel (first turn only).
    pub previous: Option<PreviousContact<'a>>,
    /// The day the message arrived: dates are said as past or to come from it.
    pub today: crate::time::Date,
    /// The business's answer for this turn, once asked ([`Decision::fetch`]); `customer` then
    /// already carries its values.
    pub live: Option<&'a Live>,
}

/// A recent conversation left unresolved or handed off, to pick up where the customer left off.
#[derive(Debug, Clone, Copy)]
pub struct PreviousContact<'a> {
    /// Its topic intent.
    pub intent: &'a str,
    pub channel: crate::message::Channel,
    /// Whole days between it and now (0 = today).
    pub days_ago: u64,
}

/// The engine's answer for one turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub answer: Rendered,
    pub quick_replies: Vec<String>,
    /// The intent the answer serves, if any.
    pub intent: Option<String>,
    /// The conversation is over.
    pub end: bool,
    /// How it ended, when it did.
    pub outcome: Option<Outcome>,
    /// Survey answers given in this turn (`solved`, `rating`, `comment`).
    pub survey: Vec<(String, String)>,
    /// The satisfaction questions started in this turn.
    pub survey_started: bool,
    /// What made the customer's turn a moment of friction.
    pub irritants: Vec<Irritant>,
    /// The answer is the fallback: the message was not understood.
    pub fallback: bool,
    /// What to change in the customer's orders, said done in the answer.
    pub act: Option<OrderChange>,
    /// The engine needs the business's data to decide: the bot asks the fulfillment webhook and runs
    /// the turn again, from the same state, with [`TurnContext::live`] set. Nothing else of this
    /// decision counts.
    pub fetch: Option<Fetch>,
    /// The answer is said before the handoff's place in the queue, not replaced by it: another clause
    /// of the message asked for a person ("order 4567 is late, I want to talk to someone NOW").
    pub handoff_after: bool,
}

/// What the business is asked for a turn: the intent and the entities collected so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetch {
    pub intent: String,
    pub entities: Collected,
    /// The URL of the intent's backend.
    pub url: String,
    /// The entity that names an order, if any (the backend's values describe that order).
    pub order_id: Option<String>,
}

/// A change to one of the customer's orders, decided by the engine and applied by the bot to the store.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderChange {
    Cancel { order_id: String },
    Reschedule { order_id: String, date: String },
    Readdress { order_id: String, address: String },
    Reinstate { order_id: String },
    Email { email: String },
}

impl OrderChange {
    /// The action's name in a fulfillment request.
    pub fn action_name(&self) -> &'static str {
        match self {
            OrderChange::Cancel { .. } => "cancel_order",
            OrderChange::Reschedule { .. } | OrderChange::Readdress { .. } => "change_delivery",
            OrderChange::Reinstate { .. } => "reinstate_order",
            OrderChange::Email { .. } => "update_email",
        }
    }
}

/// Confidence an intent needs to interrupt a pending question as a new request: an answer is short and
/// often not a sentence ("4567 please"), so a weak guess at another intent must not hijack it.
const NEW_REQUEST: f32 = 0.5;

/// Confidence below which a request for a person is asked about before the conversation is handed off
/// (which ends it for the bot). Clear requests, even one word ("agent", "human", "conseiller"), score
/// above 0.95 with the shipped pack; the bare verb "speak" scores 0.83.
const HANDOFF_SURE: f32 = 0.9;

/// Words from which a message is a complaint, whatever its words: customers who write a hundred words
/// to a bot are telling what went wrong.
const LONG_COMPLAINT: usize = 60;

/// Order statuses past changing: an acting intent refuses them before confirming anything.
const FINAL_STATUSES: &[&str] = &["delivered", "cancelled", "returned"];

impl Decision {
    pub fn say(answer: Rendered) -> Self {
        Decision {
            answer,
            quick_replies: Vec::new(),
            intent: None,
            end: false,
            outcome: None,
            survey: Vec::new(),
            survey_started: false,
            irritants: Vec::new(),
            fallback: false,
            act: None,
            fetch: None,
            handoff_after: false,
        }
    }

    fn about(mut self, intent: &str) -> Self {
        self.intent = Some(intent.to_string());
        self
    }

    fn with_replies(mut self, replies: &[String]) -> Self {
        self.quick_replies = replies.to_vec();
        self
    }

    fn ending(mut self, outcome: Outcome) -> Self {
        self.end = true;
        self.outcome = Some(outcome);
        self
    }
}

/// The dialogue engine for one intent pack.
pub struct Engine<'p> {
    pack: &'p IntentPack,
    settings: &'p Settings,
}

/// A fixed sentence rendered as text and SSML.
fn plain(text: &str) -> Rendered {
    Rendered::plain(text)
}

/// An answer that says sorry already ("I'm sorry to hear that", "Je suis désolé").
fn apologises(text: &str) -> bool {
    let t = text.to_lowercase();
    ["sorry", "apolog", "désolé", "desole", "excuse"]
        .iter()
        .any(|w| t.contains(w))
}

impl<'p> Engine<'p> {
    pub fn new(pack: &'p IntentPack, settings: &'p Settings) -> Self {
        Engine { pack, settings }
    }

    /// Decides the answer to one message and moves the conversation on. Repair comes first (a
    /// correction, "forget it", "that's it", a follow-up of the topic: see [`repair`]), then the pending
    /// question, then the request. A turn that shows frustration (negative words, a second fallback in a
    /// row) is marked, and negative words bring the offer of a person when nothing else is pending.
    #[tracing::instrument(level = "debug", skip_all, fields(intent = ?u.intent, state = ?conv.state))]
    pub fn step(&self, conv: &mut Conversation, u: &Understanding, ctx: &TurnContext) -> Decision {
        conv.turns += 1;
        let role = self.role_of(u);
        let listening = conv.state == DialogueState::Listening;
        if conv.resolved
            && (u.cues.done
                || matches!(role, Some(Role::Thanks | Role::Goodbye))
                || (listening && role == Some(Role::Affirm)))
        {
            conv.acknowledged = true;
        }
        // "I don't want to cancel it" and nothing else: understood, and nothing is done (a pending
        // question hears it as its own no).
        // So is "no no, I want to keep it" after a cancellation was discussed, read as no request, a
        // yes or a no (a message read as a cancellation is one: the NLU left out the clauses that
        // refuse it).
        let after_cancel = role.is_none_or(|r| matches!(r, Role::Affirm | Role::Deny))
            && !self.is_new_request(u)
            && conv
                .topic
                .as_deref()
                .and_then(|i| self.pack.get(i))
                .is_some_and(|d| d.action == Some(Action::CancelOrder));
        let refused = listening
            && ((u.intent.is_none() && crate::nlu::discourse::negates_action(&u.tokens))
                || (after_cancel
                    && (crate::nlu::discourse::wants_to_keep(&u.tokens)
                        || crate::nlu::discourse::takes_back(&u.tokens, &u.cues))));
        let mut d = if refused {
            conv.fallbacks_in_row = 0;
            self.undo_offered(conv, u, ctx)
                .unwrap_or_else(|| Decision::say(plain(&self.messages(ctx).confirm_declined)))
        } else {
            match self.repair(conv, u, ctx) {
                Some(d) => d,
                None => self.decide(conv, u, ctx),
            }
        };
        self.list_orders_asked_about(conv, u, ctx, &mut d);
        if u.negative {
            d.irritants.push(Irritant::NegativeSentiment);
        }
        if u.intent.is_none() && conv.fallbacks_in_row >= 2 {
            d.irritants.push(Irritant::RepeatedFallback);
        }
        let topic = d.intent.clone().filter(|i| self.is_topic(i));
        if let Some(i) = &topic {
            let values: Vec<&str> = u.entities.iter().map(|e| e.value.as_str()).collect();
            let key = answered_key(i, &values);
            if !conv.answered.contains(&key) && conv.state == DialogueState::Listening {
                conv.answered.push(key);
            }
            // "Hey there, calling about a parcel": the request is served, and the greeting returned,
            // once: "morning?" in the middle of a conversation is no hello, and an answer that already
            // names the customer is not preceded by "Hello Alice!".
            let named = ctx
                .customer
                .first_name()
                .is_some_and(|n| d.answer.text.contains(n));
            if u.greeted && !d.end && conv.turns <= 1 && !named {
                let m = self.messages(ctx);
                let hello = ctx
                    .customer
                    .first_name()
                    .map(|n| m.greet_named.replace("{first_name}", n))
                    .unwrap_or_else(|| m.greet.clone());
                let mut said = plain(&hello);
                said.push(&d.answer);
                d.answer = said;
            }
        }
        if (u.greeted || role == Some(Role::Greeting)) && conv.turns <= 1 {
            self.say_salutation_back(&mut d.answer, u, ctx);
        }
        // Two changes in one message need two orders to be two requests: "I changed my mind, can I
        // undo that?" is one (keep the order), not a cancellation to offer once it is kept.
        let acts = |i: Option<&String>| {
            i.and_then(|i| self.pack.get(i)).is_some_and(|def| {
                def.action.is_some()
                    && def
                        .entities
                        .iter()
                        .any(|e| e.kind == EntityKind::OrderNumber)
            })
        };
        let orders = u
            .entities
            .iter()
            .filter(|e| e.kind == EntityKind::OrderNumber)
            .count();
        // A second request served on its own meanwhile ("what about the closing time?") is not
        // offered again.
        conv.also.retain(|a| Some(a) != d.intent.as_ref());
        // "I'm calling about my order 4567, it hasn't arrived": the status of a late order (said late,
        // flagged) is the delivery problem's answer too; a request related to the where-is-it intent,
        // about that one late order, is not offered after it.
        let late = u
            .given(EntityKind::OrderNumber)
            .and_then(|e| ctx.customer.order(&e.value))
            .is_some_and(|o| overdue(o, ctx.today));
        let related = |a: &String| {
            let main = d.intent.as_deref().and_then(|i| self.pack.get(i));
            let other = self.pack.get(a);
            match (main, other) {
                (Some(m), Some(o)) => {
                    late && m.default_for == Some(EntityKind::OrderNumber)
                        && o.related.contains(&m.name)
                }
                _ => false,
            }
        };
        for a in &u.also {
            let same_order_twice = orders < 2
                && ((acts(Some(a)) && acts(d.intent.as_ref())) || (orders == 1 && related(a)));
            if Some(a) != d.intent.as_ref() && !conv.also.contains(a) && !same_order_twice {
                conv.also.push(a.clone());
            }
        }
        // A long story told to a bot is a complaint: it is acknowledged with the offer of a person.
        if u.words >= LONG_COMPLAINT && !u.negative {
            d.irritants.push(Irritant::NegativeSentiment);
        }
        // "… it hasn't moved in two weeks, I want to talk to someone NOW": the person asked for is not
        // offered but given, after the answer to the rest when it asks nothing back.
        if !d.end && d.fetch.is_none() && self.asks_for_person_too(u) {
            let handoff = self.handoff(conv, ctx);
            // An answer that asks something ("what's your order number?") gives way to the person.
            if d.fallback || conv.state != DialogueState::Listening {
                conv.state = DialogueState::Listening;
                return handoff;
            }
            conv.state = DialogueState::Listening;
            conv.also.clear();
            d.end = true;
            d.outcome = handoff.outcome;
            d.quick_replies.clear();
            d.handoff_after = true;
            return d;
        }
        let offer = d.irritants.contains(&Irritant::NegativeSentiment);
        if offer && !d.end && conv.state == DialogueState::Listening {
            let m = self.messages(ctx);
            // An answer that already apologised ("I'm sorry to hear that…") is not sorry twice.
            let offer = if apologises(&d.answer.text) && !m.offer_human_after_apology.is_empty() {
                &m.offer_human_after_apology
            } else {
                &m.offer_human_irritated
            };
            d.answer.push(&plain(offer));
            d.quick_replies = m.yes_no.clone();
            conv.state = DialogueState::OfferedHuman;
        }
        conv.followup_next = false;
        // A second request of the same message is taken up once the first is settled.
        if !d.end && conv.state == DialogueState::Listening && topic.is_some() {
            if let Some(next) = conv.also.first().cloned() {
                conv.also.remove(0);
                let m = self.messages(ctx);
                if let Some(name) = m.topics.get(&next) {
                    d.answer
                        .push(&plain(&m.also_asked.replace("{topic}", name)));
                    d.quick_replies = m.yes_no.clone();
                    // The other order the message named is the second request's ("where is
                    // 55012, and can I change the address of 88231?").
                    let order = u.also.contains(&next).then(|| {
                        u.entities
                            .iter()
                            .filter(|e| e.kind == EntityKind::OrderNumber)
                            .map(|e| e.value.clone())
                            .find(|v| Some(v) != conv.topic_order.as_ref())
                    });
                    conv.state = DialogueState::AwaitingRecall {
                        intent: next,
                        order: order.flatten(),
                    };
                }
            }
        }
        d
    }

    /// Another clause of the message than the one answered asks for a person.
    fn asks_for_person_too(&self, u: &Understanding) -> bool {
        self.role_of(u) != Some(Role::Handoff)
            && u.also.iter().any(|a| {
                self.pack
                    .get(a)
                    .is_some_and(|i| i.role == Some(Role::Handoff))
            })
    }

    /// The dialogue role of the message's intent, if it has one.
    fn role_of(&self, u: &Understanding) -> Option<Role> {
        u.intent
            .as_deref()
            .and_then(|i| self.pack.get(i))
            .and_then(|i| i.role)
    }

    /// The message is a confident request of its own, not an answer to the pending question.
    pub(crate) fn is_new_request(&self, u: &Understanding) -> bool {
        u.intent.as_deref().is_some_and(|i| self.is_topic(i)) && u.confidence >= NEW_REQUEST
    }

    /// Whether an intent is a request (not greeting, thanks, yes, no…).
    fn is_topic(&self, intent: &str) -> bool {
        self.pack.get(intent).is_some_and(|i| i.role.is_none())
    }

    fn decide(&self, conv: &mut Conversation, u: &Understanding, ctx: &TurnContext) -> Decision {
        conv.silences_in_row = 0;
        let role = u
            .intent
            .as_deref()
            .and_then(|i| self.pack.get(i))
            .and_then(|i| i.role);
        match std::mem::take(&mut conv.state) {
            // Every answer ends on "anything else?" (or is one): a plain "no" (a deny pattern, not a
            // correction such as "no, the other order") once the conversation is under way means the
            // customer is done; so does a short "no" ("not really no") once a request was answered,
            // unless it corrects or names something ("no, that's not what I asked" says more).
            DialogueState::Listening
                if (role == Some(Role::Deny)
                    && (u.confidence >= 1.0
                        || conv.resolved
                            && u.tokens.len() <= 4
                            && !u.cues.correction
                            && u.entities.is_empty())
                    || u.cues.done)
                    && conv.turns > 1 =>
            {
                // "Non" to "it can't be cancelled any more" objects; it is not a goodbye: the
                // customer is offered a person (once: a second no is one).
                // "That's it? That's all you have?": asked, it is no goodbye but a complaint about
                // the answer; a person is offered.
                let says_bye = u.tokens.iter().any(|t| {
                    ["bye", "goodbye", "byebye", "cya", "revoir", "ciao", "adieu"]
                        .contains(&t.as_str())
                });
                let joined = u.tokens.join(" ");
                let that_is_all = [
                    "that s it",
                    "thats it",
                    "that s all",
                    "thats all",
                    "is that it",
                    "is that all",
                    "c est tout",
                    "c est tout ce que",
                ]
                .iter()
                .any(|p| joined.contains(p));
                if that_is_all && ctx.text.contains('?') && !says_bye && !u.cues.declines {
                    conv.fallbacks_in_row = 0;
                    let m = self.messages(ctx);
                    return self.offer_person(conv, ctx, &m.offer_human_irritated);
                }
                if conv.served.last().is_some_and(|k| k.contains("!refused"))
                    && role == Some(Role::Deny)
                    && !u.cues.done
                {
                    conv.served.push("!objected".into());
                    conv.fallbacks_in_row = 0;
                    let m = self.messages(ctx);
                    return self.offer_person(conv, ctx, &m.offer_human_asked);
                }
                if let Some(goodbye) = self.pack.with_role(Role::Goodbye) {
                    conv.fallbacks_in_row = 0;
                    conv.acknowledged |= conv.resolved;
                    return self.goodbye(conv, goodbye, ctx);
                }
            }
            DialogueState::Listening => {}
            DialogueState::OfferedHuman => match role {
                Some(Role::Affirm) | Some(Role::Handoff) if !u.cues.declines => {
                    return self.handoff(conv, ctx);
                }
                // "No, I'll wait a few more days": a no, whatever follows it.
                _ if role == Some(Role::Deny) || (u.cues.declines && !self.is_new_request(u)) => {
                    conv.fallbacks_in_row = 0;
                    return Decision::say(plain(&self.messages(ctx).human_declined));
                }
                _ => {}
            },
            DialogueState::AwaitingEntity {
                intent,
                entity,
                mut collected,
                attempts,
            } => {
                let Some(def) = self.pack.get(&intent) else {
                    return self.serve(conv, u, ctx);
                };
                let spec = def.entities.iter().find(|e| e.name == entity);
                let found = spec.and_then(|s| u.given(s.kind));
                // "Cancel order 4567" while asked for an order number to track is a new request, not
                // the answer; "my order 4567" (which reads like tracking) is the answer. So only a
                // pattern match or a confident intent that acts takes over.
                let other = u
                    .intent
                    .as_deref()
                    .filter(|i| *i != intent)
                    .and_then(|i| self.pack.get(i));
                // "Actually no, where is my order 9012?" opens with a no: whatever it asks is new.
                let other_request = role.is_none()
                    && other.is_some_and(|o| {
                        u.confidence >= 1.0
                            || ((o.action.is_some() || u.cues.declines)
                                && u.confidence >= NEW_REQUEST)
                    });
                if let (Some(found), false) = (found, other_request) {
                    collected.insert(entity, found.value.clone());
                    conv.fallbacks_in_row = 0;
                    return self.advance(conv, def, collected, ctx, false);
                }
                // "No" or "I don't know" to "What's your order number?": leave it, and say a person can
                // help, rather than a bare "anything else?".
                // The first time an order number does not come ("I don't know it", "can you look it
                // up?", "it's the lamp"), the customer's orders are offered to pick from.
                let to_pick = (spec.is_some_and(|s| s.kind == EntityKind::OrderNumber)
                    && attempts == 0
                    && found.is_none()
                    && !matches!(role, Some(Role::Goodbye | Role::Handoff))
                    && !u.cues.drop_flow)
                    .then(|| self.orders_to_pick(ctx))
                    .flatten();
                let can_list = to_pick.is_some();
                // A bare "no" gives the question up; "no idea" is not knowing it.
                if role == Some(Role::Deny) && !(can_list && u.cues.dont_know) {
                    conv.fallbacks_in_row = 0;
                    return Decision::say(plain(&self.messages(ctx).entity_given_up))
                        .about(&intent);
                }
                // A question in the middle ("what time do you close?") is answered, and the pending
                // question comes back.
                if let Some(o) = other.filter(|o| {
                    self.is_digression(o)
                        && u.confidence >= NEW_REQUEST
                        && found.is_none()
                        && !u.cues.dont_know
                }) {
                    let pending = DialogueState::AwaitingEntity {
                        intent: intent.clone(),
                        entity: entity.clone(),
                        collected: collected.clone(),
                        attempts,
                    };
                    return self.digress(conv, o, pending, ctx);
                }
                let new_subject = u.intent.as_ref().is_some_and(|i| *i != intent)
                    && role.is_none()
                    && u.confidence >= NEW_REQUEST
                    && !u.cues.followup
                    && !u.cues.dont_know;
                if !new_subject {
                    if let Some((list, ids)) = to_pick {
                        conv.fallbacks_in_row = 0;
                        conv.state = DialogueState::AwaitingEntity {
                            intent: intent.clone(),
                            entity,
                            collected,
                            attempts: attempts + 1,
                        };
                        return Decision::say(list).about(&intent).with_replies(&ids);
                    }
                }
                // A guess at "bye" that leans on the question ("the one that's late") is no goodbye.
                let changes_subject = !u.cues.dont_know
                    && match role {
                        Some(Role::Goodbye) => {
                            u.confidence >= 1.0 || !repair::leans_on_topic(u, role)
                        }
                        Some(Role::Handoff) => true,
                        Some(_) => false,
                        None => u.intent.as_ref().is_some_and(|i| *i != intent),
                    };
                if !changes_subject {
                    let question =
                        spec.and_then(|s| s.ask.get(&ctx.lang).or_else(|| s.ask.values().next()));
                    if attempts + 1 >= self.settings.entity_attempts || question.is_none() {
                        return Decision::say(plain(&self.messages(ctx).entity_given_up))
                            .about(&intent);
                    }
                    let asked = question
                        .and_then(|q| q.render(&self.lookup(ctx, &collected)))
                        .unwrap_or_default();
                    conv.state = DialogueState::AwaitingEntity {
                        intent: intent.clone(),
                        entity,
                        collected,
                        attempts: attempts + 1,
                    };
                    return Decision::say(self.ask_again(ctx, &asked)).about(&intent);
                }
            }
            DialogueState::AwaitingRecall { intent, order } => match (role, self.pack.get(&intent))
            {
                (Some(Role::Affirm), Some(def)) => {
                    let mut collected = Collected::new();
                    for spec in &def.entities {
                        if let Some(e) = u.given(spec.kind) {
                            collected.insert(spec.name.clone(), e.value.clone());
                        } else if let Some(o) = order
                            .as_ref()
                            .filter(|_| spec.kind == EntityKind::OrderNumber)
                        {
                            collected.insert(spec.name.clone(), o.clone());
                        }
                    }
                    // "Where's 88231, and I also want to return something": a yes to the second request
                    // names no order, and the one discussed cannot be what it acts on (one being
                    // prepared is not returned): which order is asked, not taken from the topic.
                    let unfit = conv.topic_order.as_deref().is_some_and(|id| {
                        !def.allowed_statuses.is_empty()
                            && ctx
                                .customer
                                .order(id)
                                .is_some_and(|o| !def.allowed_statuses.contains(&o.status))
                    });
                    let no_order = !u.entities.iter().any(|e| e.kind == EntityKind::OrderNumber);
                    if unfit && no_order {
                        conv.topic_order = None;
                    }
                    return self.advance(conv, def, collected, ctx, false);
                }
                _ if role == Some(Role::Deny) || (u.cues.declines && !self.is_new_request(u)) => {
                    return Decision::say(plain(&self.messages(ctx).human_declined));
                }
                _ => {}
            },
            DialogueState::Survey { step, retried } => {
                if let Some(d) = self.survey_answer(conv, u, ctx, step, retried, role) {
                    return d;
                }
            }
            DialogueState::AwaitingConfirmation { intent, collected } => {
                if let Some(def) = self.pack.get(&intent) {
                    // "Oui annulez-la", "yes cancel it": a yes that says the change again is a yes.
                    // (A question that names it, "can I cancel just one item?", is no yes.)
                    const ASKS: &[&str] = &[
                        "can", "could", "how", "what", "why", "est", "comment", "puis", "peut",
                        "pourquoi", "quoi",
                    ];
                    let short_order = u.tokens.len() <= 5
                        && !ctx.text.contains('?')
                        && !u.tokens.iter().any(|t| ASKS.contains(&t.as_str()));
                    let same_again = u.intent.as_deref() == Some(intent.as_str())
                        && (repair::leading_yes_or_no(&u.tokens) == Some(true) || short_order)
                        && !u.cues.refuses
                        && !crate::nlu::discourse::negates_action(&u.tokens);
                    // A yes the phone barely heard does not change an order: asked again.
                    let doubtful = ctx
                        .asr_confidence
                        .is_some_and(|c| c < self.settings.asr_confidence_threshold);
                    let role = if same_again { Some(Role::Affirm) } else { role };
                    match role {
                        Some(Role::Affirm) if doubtful && conv.fallbacks_in_row == 0 => {
                            return self.confirm_again(conv, def, collected, ctx);
                        }
                        Some(Role::Affirm) => {
                            conv.fallbacks_in_row = 0;
                            return self.advance(conv, def, collected, ctx, true);
                        }
                        Some(Role::Deny) => {
                            conv.fallbacks_in_row = 0;
                            return Decision::say(plain(&self.messages(ctx).confirm_declined))
                                .about(&intent);
                        }
                        None if u
                            .intent
                            .as_deref()
                            .and_then(|i| self.pack.get(i))
                            .is_some_and(|o| {
                                self.is_digression(o) && u.confidence >= NEW_REQUEST
                            }) =>
                        {
                            let o = u.intent.as_deref().and_then(|i| self.pack.get(i));
                            let pending = DialogueState::AwaitingConfirmation {
                                intent: intent.clone(),
                                collected,
                            };
                            if let Some(o) = o {
                                return self.digress(conv, o, pending, ctx);
                            }
                        }
                        None => return self.confirm_again(conv, def, collected, ctx),
                        Some(_) => {}
                    }
                }
            }
        }
        self.serve(conv, u, ctx)
    }

    /// The confirmation asked again, after an answer that was not a clear yes or no.
    fn confirm_again(
        &self,
        conv: &mut Conversation,
        def: &Intent,
        collected: Collected,
        ctx: &TurnContext,
    ) -> Decision {
        conv.fallbacks_in_row += 1;
        let question = self.confirm_question(def, &collected, ctx);
        conv.state = DialogueState::AwaitingConfirmation {
            intent: def.name.clone(),
            collected,
        };
        Decision::say(self.ask_again(ctx, &question))
            .about(&def.name)
            .with_replies(&self.messages(ctx).yes_no)
    }

    /// The customer asked to hear the last answer again: it is said again, and the question it asked
    /// (with its quick replies) is still the one pending.
    pub fn repeat(&self, conv: &Conversation, ctx: &TurnContext, last: &str) -> Decision {
        let replies = self
            .pending_question(conv, ctx)
            .map(|(_, replies)| replies)
            .unwrap_or_default();
        Decision::say(plain(last)).with_replies(&replies)
    }

    /// The customer said nothing (an empty transcript): reprompt, then say goodbye.
    pub fn silence(&self, conv: &mut Conversation, ctx: &TurnContext) -> Decision {
        conv.silences_in_row += 1;
        let m = self.messages(ctx);
        if conv.silences_in_row >= 2 {
            let outcome = self.outcome(conv);
            return Decision::say(plain(&m.silent_goodbye)).ending(outcome);
        }
        let replies = self
            .pending_question(conv, ctx)
            .map(|(_, replies)| replies)
            .unwrap_or_default();
        Decision::say(self.reprompt(conv, ctx)).with_replies(&replies)
    }

    /// What to say to a customer who stays quiet: the pending question again ("Are you still there? What's
    /// your order number?"), or a general reprompt.
    pub fn reprompt(&self, conv: &Conversation, ctx: &TurnContext) -> Rendered {
        let m = self.messages(ctx);
        match self.pending_question(conv, ctx) {
            Some((question, _)) => self.around(&m.reprompt_question, &question),
            None => plain(&m.reprompt),
        }
    }

    /// The message held a card number, deleted before anything
    /// read it: the customer is told, and the pending question, if any, is asked again. The message is not
    /// understood further ("my card is …" is no question about loyalty cards).
    pub fn sensitive_removed(&self, conv: &mut Conversation, ctx: &TurnContext) -> Decision {
        let m = self.messages(ctx);
        let mut said = plain(&m.sensitive_removed);
        let replies = match self.pending_question(conv, ctx) {
            Some((question, replies)) => {
                said.push(&question);
                replies
            }
            None => Vec::new(),
        };
        Decision::say(said).with_replies(&replies)
    }

    /// The platform heard something it could not pass on as words: the fallback answer.
    pub fn not_understood(&self, conv: &mut Conversation, ctx: &TurnContext) -> Decision {
        self.fallback(conv, ctx)
    }

    /// The question the conversation waits on, with its quick replies: the caller who went quiet after
    /// "What's your order number?" is asked that again, not "How can I help?".
    pub(super) fn pending_question(
        &self,
        conv: &Conversation,
        ctx: &TurnContext,
    ) -> Option<(Rendered, Vec<String>)> {
        let m = self.messages(ctx);
        match &conv.state {
            DialogueState::AwaitingEntity {
                intent,
                entity,
                collected,
                ..
            } => {
                let spec = self
                    .pack
                    .get(intent)?
                    .entities
                    .iter()
                    .find(|s| &s.name == entity)?;
                let ask = spec
                    .ask
                    .get(&ctx.lang)
                    .or_else(|| spec.ask.values().next())?;
                // Asked again (after silence, a digression): without its "Sure.".
                let ask = ask.render(&self.lookup(ctx, collected))?;
                Some((asked_again(&ask), Vec::new()))
            }
            DialogueState::AwaitingConfirmation { intent, collected } => {
                let question = self.confirm_question(self.pack.get(intent)?, collected, ctx);
                Some((question, m.yes_no.clone()))
            }
            DialogueState::OfferedHuman => Some((plain(&m.offer_human), m.yes_no.clone())),
            DialogueState::Survey { step, .. } => Some(self.survey_prompt(ctx, *step)),
            DialogueState::Listening | DialogueState::AwaitingRecall { .. } => None,
        }
    }

    /// "Good evening" answered with "Good evening", not "Hello": a greeting that opens with the
    /// pack's `hello` takes the customer's time of day instead, where the pack has a word for it.
    fn say_salutation_back(&self, answer: &mut Rendered, u: &Understanding, ctx: &TurnContext) {
        let Some(time) = crate::nlu::discourse::salutation(&u.tokens) else {
            return;
        };
        let s = &self.messages(ctx).salutations;
        let word = match time {
            crate::nlu::discourse::TimeOfDay::Morning => &s.morning,
            crate::nlu::discourse::TimeOfDay::Afternoon => &s.afternoon,
            crate::nlu::discourse::TimeOfDay::Evening => &s.evening,
        };
        let hello_ssml = crate::channel::ssml::escape(&s.hello);
        if s.hello.is_empty()
            || word.is_empty()
            || !answer.text.starts_with(s.hello.as_str())
            || !answer.ssml.starts_with(hello_ssml.as_str())
        {
            return;
        }
        answer.text.replace_range(..s.hello.len(), word);
        answer
            .ssml
            .replace_range(..hello_ssml.len(), &crate::channel::ssml::escape(word));
    }

    /// "Non finalement je ne veux pas l'annuler" once the conversation's order was cancelled by the
    /// bot: the cancellation is offered to be undone (the reinstatement's own confirmation), not
    /// "nothing was changed". Another order named in the message is not the one undone.
    fn undo_offered(
        &self,
        conv: &mut Conversation,
        u: &Understanding,
        ctx: &TurnContext,
    ) -> Option<Decision> {
        if u.given(EntityKind::OrderNumber)
            .is_some_and(|o| Some(&o.value) != conv.topic_order.as_ref())
        {
            return None;
        }
        let cancel = self.pack.get(conv.topic.as_deref()?)?;
        if cancel.action != Some(Action::CancelOrder) {
            return None;
        }
        let order = conv.topic_order.clone()?;
        // Cancelled by the bot (its status before is kept to undo it), not one that was already.
        let cancelled = ctx
            .customer
            .orders
            .iter()
            .any(|o| o.id == order && o.status == "cancelled" && o.previous_status.is_some());
        let reinstate = self
            .pack
            .intents
            .iter()
            .find(|i| i.action == Some(Action::ReinstateOrder))?;
        cancelled.then(|| self.serve_with_order(conv, reinstate, &order, ctx, false))
    }

    /// "Where are my orders?", "j'ai plusieurs commandes en cours, elles en sont où ?": asked about
    /// several orders, a customer who has several hears them listed with their status at once, and
    /// picks one, rather than "What's your order number?".
    fn list_orders_asked_about(
        &self,
        conv: &mut Conversation,
        u: &Understanding,
        ctx: &TurnContext,
        d: &mut Decision,
    ) {
        const SEVERAL: &[&str] = &[
            "orders",
            "commandes",
            "plusieurs",
            "toutes",
            "parcels",
            "packages",
        ];
        let DialogueState::AwaitingEntity {
            intent,
            entity,
            collected,
            attempts: 0,
        } = &conv.state
        else {
            return;
        };
        let asks_order = self
            .pack
            .get(intent)
            .and_then(|def| def.entities.iter().find(|e| &e.name == entity))
            .is_some_and(|e| e.kind == EntityKind::OrderNumber);
        if !asks_order
            || d.end
            || d.intent.as_ref() != Some(intent)
            || !u.tokens.iter().any(|t| SEVERAL.contains(&t.as_str()))
        {
            return;
        }
        let Some((list, ids)) = self.orders_to_pick(ctx) else {
            return;
        };
        conv.state = DialogueState::AwaitingEntity {
            intent: intent.clone(),
            entity: entity.clone(),
            collected: collected.clone(),
            attempts: 1,
        };
        d.answer = list;
        d.quick_replies = ids;
    }

    /// The customer opened the conversation without a word: greet them.
    pub fn welcome(&self, conv: &mut Conversation, ctx: &TurnContext) -> Decision {
        let d = match self.pack.with_role(Role::Greeting) {
            Some(def) => self.answer(conv, def, &Collected::new(), ctx),
            None => Decision::say(plain(&self.messages(ctx).help)),
        };
        self.with_recall(conv, ctx, d)
    }

    /// Adds "I see you called us yesterday about your refund: is this about that?" to a greeting when the
    /// customer left a request unsettled recently.
    fn with_recall(&self, conv: &mut Conversation, ctx: &TurnContext, mut d: Decision) -> Decision {
        let Some(prev) = ctx.previous else { return d };
        let m = self.messages(ctx);
        let Some(topic) = m.topics.get(prev.intent) else {
            return d;
        };
        let contact = if prev.channel.is_spoken() {
            &m.recall_called
        } else {
            &m.recall_wrote
        };
        let when = match prev.days_ago {
            0 => m.today.clone(),
            1 => m.yesterday.clone(),
            n => m.days_ago.replace("{n}", &n.to_string()),
        };
        let question = m
            .recall
            .replace("{contact}", contact)
            .replace("{when}", &when)
            .replace("{topic}", topic);
        d.answer.push(&plain(&question));
        d.quick_replies = m.yes_no.clone();
        conv.state = DialogueState::AwaitingRecall {
            intent: prev.intent.to_string(),
            order: None,
        };
        d
    }

    /// The customer asked what the bot can do.
    pub fn help(&self, conv: &mut Conversation, ctx: &TurnContext) -> Decision {
        conv.state = DialogueState::Listening;
        Decision::say(plain(&self.messages(ctx).help))
    }

    /// The customer or the platform ended the conversation.
    pub fn end(&self, conv: &mut Conversation, ctx: &TurnContext) -> Decision {
        let outcome = self.outcome(conv);
        Decision::say(plain(&self.messages(ctx).goodbye)).ending(outcome)
    }

    /// How the conversation ends if it ends now.
    /// A request answered counts as resolved only once the customer took the answer (thanks, goodbye,
    /// "ok", "that's it", yes to "did that solve it"): a call that ends in silence after it, or a chat left
    /// without a word, is abandoned, and a question asked three times is unresolved.
    pub fn outcome(&self, conv: &Conversation) -> Outcome {
        if conv.unsolved || (conv.resolved && conv.repeated && !conv.acknowledged) {
            Outcome::Unresolved
        } else if conv.resolved && conv.acknowledged {
            Outcome::Resolved
        } else {
            Outcome::Abandoned
        }
    }

    /// A request that can be answered in the middle of another without losing it: no entity to collect,
    /// nothing to confirm (opening hours, where the stores are).
    fn is_digression(&self, def: &Intent) -> bool {
        def.role.is_none()
            && def.confirm.is_none()
            && !def
                .entities
                .iter()
                .any(|e| e.required || e.required_unless.is_some())
    }

    /// Answers a digression, then asks the pending question again.
    fn digress(
        &self,
        conv: &mut Conversation,
        def: &Intent,
        pending: DialogueState,
        ctx: &TurnContext,
    ) -> Decision {
        let mut d = self.answer(conv, def, &Collected::new(), ctx);
        conv.state = pending;
        if let Some((question, replies)) = self.pending_question(conv, ctx) {
            d.answer.push(&question);
            d.quick_replies = replies;
        }
        d
    }

    /// Serves a fresh request (no question pending).
    fn serve(&self, conv: &mut Conversation, u: &Understanding, ctx: &TurnContext) -> Decision {
        let Some(def) = u.intent.as_deref().and_then(|i| self.pack.get(i)) else {
            return self.fallback(conv, ctx);
        };
        conv.fallbacks_in_row = 0;
        match def.role {
            // Handing off ends the conversation: a guess short of sure ("speak") asks first.
            Some(Role::Handoff) if u.confidence < HANDOFF_SURE => {
                let asked = &self.messages(ctx).offer_human_asked;
                return self.offer_person(conv, ctx, asked).about(&def.name);
            }
            Some(Role::Handoff) => return self.handoff(conv, ctx),
            Some(Role::Thanks) if survey_due(conv, ctx) => return self.start_survey(conv, ctx),
            Some(Role::Goodbye) => return self.goodbye(conv, def, ctx),
            Some(Role::Greeting) if ctx.previous.is_some() => {
                let d = self.answer(conv, def, &Collected::new(), ctx);
                return self.with_recall(conv, ctx, d);
            }
            _ => {}
        }
        let mut collected = Collected::new();
        let described = self.pointed_order(&u.tokens, ctx);
        for spec in &def.entities {
            if let Some(e) = u.given(spec.kind) {
                collected.insert(spec.name.clone(), e.value.clone());
                continue;
            }
            // "And the late one?": the one order that fits, whatever the topic was.
            if spec.kind == EntityKind::OrderNumber {
                if let repair::Described::One(id) = &described {
                    collected.insert(spec.name.clone(), id.clone());
                    continue;
                }
            }
            // An order the request may name ("it never came, can I get a refund?" after order 9012,
            // "a refund please, my order never arrived" from a customer with one order): the one it
            // leans on.
            if spec.kind == EntityKind::OrderNumber && !spec.required {
                const ORDER_WORDS: &[&str] = &[
                    "order", "parcel", "package", "commande", "colis", "it", "elle", "la",
                ];
                let says_order = u.tokens.iter().any(|t| ORDER_WORDS.contains(&t.as_str()));
                let leaned = conv.topic_order.clone().filter(|_| {
                    u.cues.followup && !matches!(described, repair::Described::Several)
                });
                let only = from_profile(spec.kind, ctx.customer).filter(|_| says_order);
                if let Some(order) = leaned.or(only) {
                    collected.insert(spec.name.clone(), order);
                }
            }
        }
        self.advance(conv, def, collected, ctx, false)
    }

    /// The customer is done: the satisfaction questions if they are due, else `goodbye`'s answer, ending
    /// the conversation.
    fn goodbye(&self, conv: &mut Conversation, goodbye: &Intent, ctx: &TurnContext) -> Decision {
        if survey_due(conv, ctx) {
            return self.start_survey(conv, ctx);
        }
        let outcome = self.outcome(conv);
        self.answer(conv, goodbye, &Collected::new(), ctx)
            .ending(outcome)
    }

    /// Offers a person with `question`, waiting for a yes or no.
    fn offer_person(&self, conv: &mut Conversation, ctx: &TurnContext, question: &str) -> Decision {
        conv.state = DialogueState::OfferedHuman;
        Decision::say(plain(question)).with_replies(&self.messages(ctx).yes_no)
    }

    /// Asks for the next missing entity, confirms, or answers.
    fn advance(
        &self,
        conv: &mut Conversation,
        def: &Intent,
        mut collected: Collected,
        ctx: &TurnContext,
        confirmed: bool,
    ) -> Decision {
        if def.role.is_none() {
            conv.topic = Some(def.name.clone());
        }
        let needed = |s: &&crate::intents::EntitySpec, collected: &Collected| {
            s.required
                || s.required_unless
                    .as_ref()
                    .is_some_and(|other| !collected.contains_key(other))
        };
        let specs: Vec<&crate::intents::EntitySpec> = def.entities.iter().collect();
        for spec in specs {
            if !needed(&spec, &collected) || collected.contains_key(&spec.name) {
                continue;
            }
            // "Cancel it", "and the refund for that?": the order of the topic; not "can I cancel an
            // order?", which may be any.
            if spec.kind == EntityKind::OrderNumber && !repair::names_any_order(ctx.tokens) {
                // "And the late one?": the order described, if one is; none if several are.
                match self.pointed_order(ctx.tokens, ctx) {
                    repair::Described::One(id) => {
                        collected.insert(spec.name.clone(), id);
                        continue;
                    }
                    repair::Described::Several => {}
                    repair::Described::Nothing => {
                        if let Some(order) = &conv.topic_order {
                            collected.insert(spec.name.clone(), order.clone());
                            continue;
                        }
                    }
                }
            }
            if spec.required {
                if let Some(v) = from_profile(spec.kind, ctx.customer) {
                    collected.insert(spec.name.clone(), v);
                    continue;
                }
            }
            let question = spec
                .ask
                .get(&ctx.lang)
                .or_else(|| spec.ask.values().next())
                .and_then(|q| q.render(&self.lookup(ctx, &collected)))
                .unwrap_or_default();
            conv.state = DialogueState::AwaitingEntity {
                intent: def.name.clone(),
                entity: spec.name.clone(),
                collected,
                attempts: 0,
            };
            return Decision::say(question).about(&def.name);
        }
        if let Some((_, order)) = named_order(def, &collected) {
            conv.topic_order = Some(order.clone());
        }
        // The business's own systems answer this intent: ask them before checking or answering.
        if let Some(url) = def.fulfillment_url(self.settings.fulfillment_url.as_deref()) {
            match ctx.live {
                None => {
                    let mut d = Decision::say(Rendered::default()).about(&def.name);
                    d.fetch = Some(Fetch {
                        intent: def.name.clone(),
                        order_id: named_order(def, &collected).map(|(_, id)| id.clone()),
                        entities: collected,
                        url: url.to_string(),
                    });
                    return d;
                }
                Some(Live::Failed) => return self.backend_failed(conv, def, ctx, false),
                Some(Live::Answer { .. }) => {}
            }
        }
        if let Some(not_found) = self.order_not_on_account(conv, def, &mut collected, ctx) {
            return not_found;
        }
        // "My email is alice.martin@example.com" from Alice: nothing to change, and no confirmation
        // of a change that is none.
        if def.action == Some(Action::UpdateEmail) {
            let given = def
                .entities
                .iter()
                .filter(|e| e.kind == EntityKind::Email)
                .find_map(|e| collected.get(&e.name));
            let on_file = ctx.customer.email.as_deref();
            let m = self.messages(ctx);
            if let (Some(given), Some(on_file)) = (given, on_file) {
                if given.eq_ignore_ascii_case(on_file) && !m.email_unchanged.is_empty() {
                    conv.resolved = true;
                    return Decision::say(plain(&m.email_unchanged.replace("{email}", on_file)))
                        .about(&def.name);
                }
            }
        }
        if let Some(mut refused) = self.status_not_allowed(def, &collected, ctx) {
            // Asked again and refused again: the third time, the offer of a person.
            let values: Vec<&str> = collected.values().map(String::as_str).collect();
            let key = answered_key(&format!("{}!refused", def.name), &values);
            let times = conv.served.iter().filter(|k| **k == key).count();
            conv.served.push(key);
            self.offer_when_repeated(conv, &mut refused, times, ctx);
            return refused;
        }
        if let Some(confirm) = &def.confirm {
            let doubtful = ctx
                .asr_confidence
                .is_some_and(|c| c < self.settings.asr_confidence_threshold);
            // An intent that acts confirms when it will act ("my new email is …"), not when it only
            // explains ("how do I change my email?").
            let acts = match def.action {
                Some(Action::UpdateEmail) => def
                    .entities
                    .iter()
                    .any(|e| e.kind == EntityKind::Email && collected.contains_key(&e.name)),
                _ => true,
            };
            if !confirmed && acts && (confirm.always || doubtful) {
                let question = self.confirm_question(def, &collected, ctx);
                conv.state = DialogueState::AwaitingConfirmation {
                    intent: def.name.clone(),
                    collected,
                };
                return Decision::say(question)
                    .about(&def.name)
                    .with_replies(&self.messages(ctx).yes_no);
            }
        }
        self.answer(conv, def, &collected, ctx)
    }

    /// An intent that acts (one with a confirmation) acts only on the customer's own orders, and one about
    /// an order (it needs its number) speaks only of theirs: an order number that is not on their account
    /// is refused before anything is confirmed or said to be done, and asked for again.
    fn order_not_on_account(
        &self,
        conv: &mut Conversation,
        def: &Intent,
        collected: &mut Collected,
        ctx: &TurnContext,
    ) -> Option<Decision> {
        let about_an_order = def
            .entities
            .iter()
            .any(|e| e.kind == EntityKind::OrderNumber && e.required);
        if def.confirm.is_none() && def.action.is_none() && !about_an_order {
            return None;
        }
        let (entity, given) = named_order(def, collected)?;
        let (entity, given) = (entity.to_string(), given.clone());
        if let Some(order) = ctx.customer.order(&given) {
            let acts = def.confirm.is_some() || def.action.is_some();
            if !acts
                || !def.allowed_statuses.is_empty()
                || !FINAL_STATUSES.contains(&order.status.as_str())
            {
                return None;
            }
            let m = &self.messages(ctx).order_not_changeable;
            let said = template::Template::parse(m)
                .ok()
                .and_then(|t| t.render(&self.lookup(ctx, collected)))
                .unwrap_or_else(|| plain(m));
            return Some(Decision::say(said).about(&def.name));
        }
        let value = Value {
            text: given,
            say_as: SayAs::Digits,
        };
        let m = &self.messages(ctx).order_not_found;
        let said = template::Template::parse(m)
            .ok()
            .and_then(|t| t.render(&|name: &str| (name == "order_id").then(|| value.clone())))
            .unwrap_or_else(|| plain(m));
        collected.remove(&entity);
        conv.state = DialogueState::AwaitingEntity {
            intent: def.name.clone(),
            entity,
            collected: std::mem::take(collected),
            attempts: 0,
        };
        let mut d = Decision::say(said).about(&def.name);
        // The same unknown number again and again: the third time, the offer of a person.
        let key = answered_key(&format!("{}!unknown", def.name), &[value.text.as_str()]);
        let times = conv.served.iter().filter(|k| **k == key).count();
        conv.served.push(key);
        self.offer_when_repeated(conv, &mut d, times, ctx);
        Some(d)
    }

    fn confirm_question(&self, def: &Intent, collected: &Collected, ctx: &TurnContext) -> Rendered {
        def.confirm
            .as_ref()
            .and_then(|c| {
                c.question
                    .get(&ctx.lang)
                    .or_else(|| c.question.values().next())
            })
            .and_then(|q| template::render_first(q, &self.lookup(ctx, collected)))
            .unwrap_or_default()
    }

    /// What an order's status allows is data (`allowed_statuses`): cancel only before shipping, return
    /// only after delivery. An order of the customer's in another status gets the intent's `not_allowed`
    /// sentence (why, and what can be done) before anything is confirmed. A cancellation can be undone
    /// only while it has not been processed (the bot made it, and kept the status it had).
    fn status_not_allowed(
        &self,
        def: &Intent,
        collected: &Collected,
        ctx: &TurnContext,
    ) -> Option<Decision> {
        if def.allowed_statuses.is_empty() {
            return None;
        }
        let (_, id) = named_order(def, collected)?;
        let order = ctx.customer.order(id)?;
        // Only a cancellation the bot made can be undone from the imported profile; with the business's
        // own data, its system decides when the action is asked.
        let allowed = def.allowed_statuses.contains(&order.status)
            && (def.action != Some(Action::ReinstateOrder)
                || order.previous_status.is_some()
                || ctx.live.is_some());
        if allowed {
            return None;
        }
        let lookup = self.lookup(ctx, collected);
        let said = def
            .not_allowed
            .get(&ctx.lang)
            .and_then(|t| t.render(&lookup))
            .or_else(|| {
                template::Template::parse(&self.messages(ctx).order_not_changeable)
                    .ok()
                    .and_then(|t| t.render(&lookup))
            })
            .unwrap_or_else(|| plain(&self.messages(ctx).order_not_changeable));
        Some(Decision::say(said).about(&def.name))
    }

    /// Says the intent's answer.
    fn answer(
        &self,
        conv: &mut Conversation,
        def: &Intent,
        collected: &Collected,
        ctx: &TurnContext,
    ) -> Decision {
        let written = || {
            def.answers
                .get(&ctx.lang)
                .or_else(|| def.answers.values().next())
        };
        let templates = ctx
            .spoken
            .then(|| def.voice_answers.get(&ctx.lang))
            .flatten()
            .or_else(written)
            .map(Vec::as_slice)
            .unwrap_or_default();
        // The same question again (or a follow-up: "how long?", "still nothing") gets the topic's next
        // piece of information, not the same paragraph; a third time, the offer of a person, once.
        let values: Vec<&str> = collected.values().map(String::as_str).collect();
        let key = answered_key(&def.name, &values);
        let times = conv.served.iter().filter(|k| **k == key).count();
        let followup = std::mem::take(&mut conv.followup_next);
        if def.role.is_none() {
            conv.served.push(key.clone());
        }
        let more = def.role.is_none() && (times >= 1 || followup);
        let followups = def
            .followups
            .get(&ctx.lang)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let lookup = self.lookup(ctx, collected);
        // The first follow-up not said yet about this that can be filled; once all are said, the first
        // that can be.
        let next = if more {
            let said = |i: usize| format!("{key}#{i}");
            let fresh = followups.iter().enumerate().find_map(|(i, t)| {
                (!conv.served.contains(&said(i)))
                    .then(|| t.render(&lookup))
                    .flatten()
                    .map(|r| (i, r))
            });
            let next = fresh.or_else(|| {
                followups
                    .iter()
                    .enumerate()
                    .find_map(|(i, t)| t.render(&lookup).map(|r| (i, r)))
            });
            next.map(|(i, r)| {
                conv.served.push(said(i));
                r
            })
        } else {
            None
        };
        // A read's ready sentence from the business replaces the template (an action's comes with
        // its result).
        let ready = match ctx.live {
            Some(Live::Answer { say: Some(say), .. }) if def.action.is_none() => Some(plain(say)),
            _ => None,
        };
        let Some(answer) = ready
            .or(next)
            .or_else(|| template::render_first(templates, &lookup))
        else {
            tracing::warn!(intent = %def.name, "no answer template could be filled");
            return self.fallback(conv, ctx);
        };
        // "I can't find order 1234" answers the question but settles nothing.
        let unknown_order =
            named_order(def, collected).is_some_and(|(_, id)| ctx.customer.order(id).is_none());
        if def.resolves && !unknown_order {
            conv.resolved = true;
            conv.unsolved = false;
        }
        let replies = def
            .quick_replies
            .get(&ctx.lang)
            .cloned()
            .unwrap_or_default();
        let mut d = Decision::say(answer)
            .about(&def.name)
            .with_replies(&replies);
        d.act = self.order_change(def, collected, ctx);
        if def.role.is_none() {
            self.offer_when_repeated(conv, &mut d, times, ctx);
        }
        d
    }

    /// The third time the same thing is asked (`times` before this one): a repeated question, and the
    /// offer of a person, said once in the conversation.
    fn offer_when_repeated(
        &self,
        conv: &mut Conversation,
        d: &mut Decision,
        times: usize,
        ctx: &TurnContext,
    ) {
        if times < 2 {
            return;
        }
        d.irritants.push(Irritant::RepeatedQuestion);
        conv.repeated = true;
        if !conv.offered_for_repeat {
            conv.offered_for_repeat = true;
            d.answer.push(&plain(&self.messages(ctx).offer_human_asked));
            conv.state = DialogueState::OfferedHuman;
            d.quick_replies = self.messages(ctx).yes_no.clone();
        }
    }

    /// What an acting intent changes, once answered: only ever one of the customer's own orders.
    fn order_change(
        &self,
        def: &Intent,
        collected: &Collected,
        ctx: &TurnContext,
    ) -> Option<OrderChange> {
        let action = def.action?;
        let of_kind = |kind: EntityKind| {
            def.entities
                .iter()
                .filter(|s| s.kind == kind)
                .find_map(|s| collected.get(&s.name))
                .cloned()
        };
        if action == Action::UpdateEmail {
            return of_kind(EntityKind::Email).map(|email| OrderChange::Email { email });
        }
        let (_, order_id) = named_order(def, collected)?;
        ctx.customer.order(order_id)?;
        let order_id = order_id.clone();
        match action {
            Action::CancelOrder => Some(OrderChange::Cancel { order_id }),
            Action::ReinstateOrder => Some(OrderChange::Reinstate { order_id }),
            Action::ChangeDelivery => match of_kind(EntityKind::Address) {
                Some(address) => Some(OrderChange::Readdress { order_id, address }),
                None => {
                    of_kind(EntityKind::Date).map(|date| OrderChange::Reschedule { order_id, date })
                }
            },
            Action::UpdateEmail => None,
        }
    }

    /// The business's systems did not answer: said honestly, nothing claimed, a person offered. The
    /// request stays unsettled (the survey does not start on it).
    pub fn backend_failed(
        &self,
        conv: &mut Conversation,
        def: &Intent,
        ctx: &TurnContext,
        acting: bool,
    ) -> Decision {
        let m = self.messages(ctx);
        conv.resolved = false;
        conv.unsolved = true;
        let said = if acting {
            &m.backend_unavailable_action
        } else {
            &m.backend_unavailable
        };
        let mut d = self.offer_person(conv, ctx, said).about(&def.name);
        d.irritants.push(Irritant::BackendError);
        d
    }

    /// The business refused an action: its sentence, or ours, and the offer of a person; nothing is
    /// said to be done.
    pub fn action_refused(
        &self,
        conv: &mut Conversation,
        def: &Intent,
        ctx: &TurnContext,
        why: Option<&str>,
    ) -> Decision {
        conv.resolved = false;
        let m = self.messages(ctx);
        let mut d = match why {
            Some(why) => {
                let mut said = plain(why);
                said.push(&plain(&m.offer_human_asked));
                conv.state = DialogueState::OfferedHuman;
                Decision::say(said).with_replies(&m.yes_no)
            }
            None => self.offer_person(conv, ctx, &m.action_refused),
        };
        d.intent = Some(def.name.clone());
        d
    }

    fn fallback(&self, conv: &mut Conversation, ctx: &TurnContext) -> Decision {
        let m = self.messages(ctx);
        conv.fallbacks_in_row += 1;
        let mut d = if conv.fallbacks_in_row >= self.settings.fallbacks_before_human {
            self.offer_person(conv, ctx, &m.offer_human)
        } else {
            let n = conv.fallback_turn as usize % m.fallback.len();
            conv.fallback_turn += 1;
            Decision::say(plain(&m.fallback[n]))
        };
        d.fallback = true;
        d
    }

    /// Passes the conversation to a person.
    pub fn handoff(&self, conv: &mut Conversation, ctx: &TurnContext) -> Decision {
        conv.fallbacks_in_row = 0;
        let def = self.pack.with_role(Role::Handoff);
        let answer = def
            .and_then(|d| d.answers.get(&ctx.lang))
            .and_then(|t| template::render_first(t, &self.lookup(ctx, &Collected::new())))
            .unwrap_or_else(|| plain(&self.messages(ctx).handoff));
        let d = Decision::say(answer).ending(Outcome::HandedOff);
        match def {
            Some(def) => d.about(&def.name),
            None => d,
        }
    }

    /// The order a message points at by what it is, with "one" or "celle" ("the late one", "the one
    /// being prepared", "celle qui est livrée"): only those words point; "my parcel is late" or
    /// "delivered to another address" describe no order of the customer's.
    fn pointed_order(&self, tokens: &[String], ctx: &TurnContext) -> repair::Described {
        const POINTING: &[&str] = &["one", "ones", "celle", "celui", "celles", "ceux"];
        if tokens.iter().any(|t| POINTING.contains(&t.as_str())) {
            self.order_described(tokens, ctx, false)
        } else {
            repair::Described::Nothing
        }
    }

    /// "Your orders are 4567 (on its way), 1234 (delivered). Which one is it?": the customer's orders
    /// (at most four), when an order number is asked for and does not come ("I don't know the number",
    /// "can you look it up?"); with the numbers as quick replies. `None` for a customer with fewer than
    /// two orders (one is taken without asking), or a pack without the sentence.
    fn orders_to_pick(&self, ctx: &TurnContext) -> Option<(Rendered, Vec<String>)> {
        let m = self.messages(ctx);
        let orders = &ctx.customer.orders;
        if orders.len() < 2 {
            return None;
        }
        let (before, after) = m.orders_to_pick.split_once("{orders}")?;
        let mut out = plain(before);
        let shown = &orders[..orders.len().min(4)];
        for (i, o) in shown.iter().enumerate() {
            if i > 0 {
                out.text.push_str(", ");
                out.ssml.push_str(", ");
            }
            out.text.push_str(&o.id);
            out.ssml.push_str(&crate::channel::ssml::say_digits(&o.id));
            let status = if overdue(o, ctx.today) && m.order_status.contains_key("late") {
                "late"
            } else {
                o.status.as_str()
            };
            let label = format!(" ({})", status_label(&m.order_status, status));
            out.text.push_str(&label);
            crate::channel::ssml::escape_into(&mut out.ssml, &label);
        }
        out.text.push_str(after);
        crate::channel::ssml::escape_into(&mut out.ssml, after);
        Some((out, shown.iter().map(|o| o.id.clone()).collect()))
    }

    /// "Sorry, I didn't catch that." followed by the question, already rendered.
    /// What comes before the question itself ("Sure.", "Bien sûr.", "I'm sorry to hear that.") is said
    /// the first time only.
    fn ask_again(&self, ctx: &TurnContext, question: &Rendered) -> Rendered {
        self.around(&self.messages(ctx).ask_again, &asked_again(question))
    }

    /// A message with `{question}` in it, the question already rendered.
    fn around(&self, m: &str, question: &Rendered) -> Rendered {
        let (before, after) = m.split_once("{question}").unwrap_or((m, ""));
        let mut out = plain(before.trim_end());
        out.push(question);
        out.push(&plain(after.trim_start()));
        out
    }

    fn messages(&self, ctx: &TurnContext) -> &crate::intents::Messages {
        self.pack.messages(ctx.lang)
    }

    /// Values for answer placeholders: collected entities, then the customer's profile.
    fn lookup<'a>(
        &'a self,
        ctx: &'a TurnContext,
        collected: &'a Collected,
    ) -> impl Fn(&str) -> Option<Value> + 'a {
        move |name: &str| {
            if let Some(v) = collected.get(name) {
                if name.contains("order") {
                    return Some(Value {
                        text: v.clone(),
                        say_as: SayAs::Digits,
                    });
                }
                return Some(self.said_value(ctx, v));
            }
            let c = ctx.customer;
            let order = || {
                collected
                    .iter()
                    .find(|(k, _)| k.contains("order"))
                    .and_then(|(_, id)| c.order(id))
            };
            let text = match name {
                "name" => c.name.clone(),
                "first_name" => c.first_name().map(str::to_string),
                "email" => c.email.clone(),
                "phone" => c.phone.clone(),
                "loyalty_points" => c.loyalty_points.map(|p| p.to_string()),
                "order.status" => {
                    order().map(|o| status_label(&self.messages(ctx).order_status, &o.status))
                }
                "order.eta" => order().and_then(|o| o.eta.clone()),
                "order.address" => order().and_then(|o| o.address.clone()),
                // The status of an order still on its way (none once delivered, cancelled, returned).
                "order.open_status" => order()
                    .filter(|o| !FINAL_STATUSES.contains(&o.status.as_str()))
                    .map(|o| status_label(&self.messages(ctx).order_status, &o.status)),
                // A date gone by is said as late, one to come as expected: never "should arrive" on a
                // day already past. Orders past delivering have neither.
                "order.eta_past" | "order.eta_future" => order().and_then(|o| {
                    if FINAL_STATUSES.contains(&o.status.as_str()) {
                        return None;
                    }
                    let eta = o.eta.as_deref()?;
                    let past = crate::time::Date::parse_iso(eta)?.days() < ctx.today.days();
                    (past == (name == "order.eta_past")).then(|| eta.to_string())
                }),
                // "It should arrive today, Monday 7 December": the date said as today's.
                "order.eta_today" => order().and_then(|o| {
                    if FINAL_STATUSES.contains(&o.status.as_str()) {
                        return None;
                    }
                    let eta = o.eta.as_deref()?;
                    (crate::time::Date::parse_iso(eta)?.days() == ctx.today.days())
                        .then(|| eta.to_string())
                }),
                // Anything else the business's backend gave (`order.carrier`, `refund.amount`…).
                _ => ctx.live.and_then(|l| l.value(name)).map(str::to_string),
            }?;
            Some(self.said_value(ctx, &text))
        }
    }
}

impl Engine<'_> {
    /// A value as the customer should read or hear it: a `YYYY-MM-DD` date as people say it ("Thursday 3
    /// December", "jeudi 3 décembre"), anything else as it is.
    fn said_value(&self, ctx: &TurnContext, text: &str) -> Value {
        match crate::time::Date::parse_iso(text) {
            Some(d) => Value::plain(d.spoken(ctx.lang, ctx.today.year)),
            None => Value::plain(text),
        }
    }
}

/// The satisfaction questions may start now: the request was settled and the customer is due one.
fn survey_due(conv: &Conversation, ctx: &TurnContext) -> bool {
    conv.resolved && ctx.survey_allowed && !conv.surveyed
}

/// What the customer is told of an order status: the pack's words for it, else the status itself.
fn status_label(labels: &std::collections::BTreeMap<String, String>, status: &str) -> String {
    labels
        .get(status)
        .cloned()
        .unwrap_or_else(|| status.replace('_', " "))
}

/// An order past its expected date that has not arrived (nor been cancelled or returned).
pub(super) fn overdue(o: &crate::store::model::Order, today: crate::time::Date) -> bool {
    !FINAL_STATUSES.contains(&o.status.as_str())
        && o.eta
            .as_deref()
            .and_then(crate::time::Date::parse_iso)
            .is_some_and(|eta| eta.days() < today.days())
}

/// The order number an intent is about, if one was collected: its entity's name and the number.
fn named_order<'c>(def: &'c Intent, collected: &'c Collected) -> Option<(&'c str, &'c String)> {
    def.entities
        .iter()
        .filter(|s| s.kind == EntityKind::OrderNumber)
        .find_map(|s| collected.get(&s.name).map(|id| (s.name.as_str(), id)))
}

/// An entity the profile can supply: the only order of a customer who has one, their email or phone.
fn from_profile(kind: EntityKind, c: &Customer) -> Option<String> {
    match kind {
        EntityKind::OrderNumber if c.orders.len() == 1 => Some(c.orders[0].id.clone()),
        EntityKind::Email => c.email.clone(),
        EntityKind::Phone => c.phone.clone(),
        _ => None,
    }
}

/// A question as it is asked again: see [`just_the_question`].
fn asked_again(question: &Rendered) -> Rendered {
    Rendered {
        text: just_the_question(&question.text).to_string(),
        ssml: just_the_question(&question.ssml).to_string(),
    }
}

/// A question without the sentences before it: "Sure. What's your order number?" is "What's your order
/// number?". A text with no question, or that starts with one, is as it is.
fn just_the_question(s: &str) -> &str {
    let Some(q) = s.find('?') else {
        return s;
    };
    let head = &s[..q];
    match head.rfind(['.', '!']) {
        // Never through markup: SSML stays well-formed.
        Some(end) if head[end + 1..].starts_with(char::is_whitespace) && !head.contains('<') => {
            s[end + 1..].trim_start()
        }
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::just_the_question;

    #[test]
    fn a_question_asked_again_loses_what_came_before_it() {
        assert_eq!(
            just_the_question("Sure. What's your order number?"),
            "What's your order number?"
        );
        assert_eq!(
            just_the_question("Bien sûr. Quel est votre numéro de commande ?"),
            "Quel est votre numéro de commande ?"
        );
        assert_eq!(
            just_the_question("I'm sorry to hear that. Oh! What's your order number?"),
            "What's your order number?"
        );
        // A question first, or no question: as it is.
        let first = "Which order do you want to keep? Please give me the order number.";
        assert_eq!(just_the_question(first), first);
        assert_eq!(just_the_question("Say the number."), "Say the number.");
        let marked = "<prosody rate=\"slow\">Sure. What is it?</prosody>";
        assert_eq!(just_the_question(marked), marked);
    }
}
