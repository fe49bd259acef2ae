//! Repair: what a customer does to a conversation besides asking, in the patterns Rasa's CALM names.
//! Correction ("no, I meant 1234" replaces the order and serves the topic again), cancellation ("forget
//! it" drops the pending question and says so), closing while a question is pending ("that's it",
//! "thanks", "bye": never "didn't catch that"), and the topic kept across turns ("and the other one?",
//! "how long?", a bare order number while talking about a refund).
//!
//! How the context is weighed against the classifier: a pattern match or a confident request (not a
//! greeting, thanks, yes or no) is a new request and wins, except that a short message that mostly gives an
//! order number, read as another intent short of certain, answers the topic ("it's 5521" while talking
//! about a refund). Without a request, a message with an order number or a follow-up cue (a pronoun, "the
//! other one", "when", "still") continues the topic.

use super::survey::Step;
use super::{Collected, Conversation, Decision, DialogueState, Engine, TurnContext, plain};
use crate::intents::{EntityKind, EntitySpec, Intent, Role};
use crate::nlu::Understanding;

/// Words at most in a message that "mostly gives an order number" ("it's order 5521", "c'est la 5521").
const SHORT_ANSWER_WORDS: usize = 6;

/// Words that say nothing of a request beside an order number: "it's for order 5521", "c'est la
/// commande 5521", "the number is 5521", "it's about order 5521", "c'est sur la commande 5521".
const EMPTY_WORDS: &[&str] = &[
    "about",
    "on",
    "regarding",
    "sur",
    "concernant",
    "it",
    "s",
    "its",
    "is",
    "for",
    "the",
    "order",
    "number",
    "no",
    "ref",
    "reference",
    "my",
    "ok",
    "okay",
    "yes",
    "so",
    "um",
    "uh",
    "and",
    "that",
    "one",
    "this",
    "oh",
    "sorry",
    "here",
    "commande",
    "c",
    "est",
    "la",
    "le",
    "numero",
    "ma",
    "mon",
    "de",
    "du",
    "pour",
    "oui",
    "euh",
    "alors",
    "ben",
    "bah",
    "voici",
    "voila",
    "celle",
    "ci",
    "n",
    "do",
    "have",
    "got",
    "a",
    "an",
    "i",
    "m",
    "writing",
    "calling",
    "ringing",
    "re",
    "concerning",
    "je",
    "j",
    "vous",
    "appelle",
    "ecris",
    "au",
    "sujet",
    // "and 9012?", "what about 9012?", "et la 9012 ?": a follow-up that gives only an order.
    "et",
    "what",
    "quid",
    // "can you check 4567 for me", "vous pouvez vérifier la 88231 svp": a look at the order asked.
    "can",
    "could",
    "you",
    "check",
    "look",
    "up",
    "at",
    "me",
    "please",
    "pls",
    "plz",
    "pouvez",
    "pourriez",
    "verifier",
    "regarder",
    "svp",
    "stp",
];

/// The message mostly gives an order number: its other words say nothing of a request.
/// A greeting before it counts for nothing ("hi, I'm writing about order 4567").
fn only_an_order(u: &Understanding) -> bool {
    let tokens = crate::nlu::discourse::after_opener(&u.tokens).unwrap_or(&u.tokens);
    tokens.len() <= SHORT_ANSWER_WORDS
        && tokens
            .iter()
            .all(|t| t.bytes().all(|b| b.is_ascii_digit()) || EMPTY_WORDS.contains(&t.as_str()))
}

/// The customer's one order besides those `discussed`, when there is exactly one.
fn the_other_order(ctx: &TurnContext, discussed: &[Option<&str>]) -> Option<String> {
    let mut others = ctx
        .customer
        .orders
        .iter()
        .filter(|o| !discussed.contains(&Some(o.id.as_str())));
    match (others.next(), others.next()) {
        (Some(other), None) => Some(other.id.clone()),
        _ => None,
    }
}

/// The yes or no a message opens with ("yes thanks", "no bye", "oui merci", "nope, goodbye").
pub(super) fn leading_yes_or_no(tokens: &[String]) -> Option<bool> {
    const YES: &[&str] = &[
        "yes",
        "yeah",
        "yep",
        "yup",
        "oui",
        "ouais",
        "absolutely",
        "definitely",
    ];
    const NO: &[&str] = &["no", "nope", "nah", "non"];
    // "y" and "n" alone, as typed to a yes-or-no question.
    match tokens {
        [t] if t == "y" => return Some(true),
        [t] if t == "n" => return Some(false),
        _ => {}
    }
    let first = tokens.first()?.as_str();
    if YES.contains(&first) {
        Some(true)
    } else if NO.contains(&first) {
        Some(false)
    } else {
        None
    }
}

/// Which of the customer's orders a message describes ("the one that's late", "the delivered one").
pub(super) enum Described {
    Nothing,
    One(String),
    /// More than one fits: the message points at none of them in particular.
    Several,
}

/// The message speaks of an order without saying which ("can I cancel an order?", "I want to return
/// something", "une commande"): not necessarily the one discussed.
pub(super) fn names_any_order(tokens: &[String]) -> bool {
    const ANY: &[[&str; 2]] = &[
        ["an", "order"],
        ["a", "parcel"],
        ["a", "package"],
        ["an", "item"],
        ["a", "product"],
        ["une", "commande"],
        ["un", "colis"],
        ["un", "article"],
        ["un", "produit"],
        ["quelque", "chose"],
    ];
    tokens.iter().any(|t| t == "something")
        || tokens
            .windows(2)
            .any(|w| ANY.iter().any(|a| w[0] == a[0] && w[1] == a[1]))
}

/// Whether a message leans on the topic: a follow-up cue ("when will that be done", "and the other
/// one?"). A short thanks does not: "thanks for that", "great, thanks for that" close, where "thanks,
/// but what do I do if it doesn't come?" leans.
pub(super) fn leans_on_topic(u: &Understanding, role: Option<Role>) -> bool {
    let cues = u.cues;
    let short_thanks = role == Some(Role::Thanks) && u.tokens.len() <= 4;
    cues.timing || cues.other_one || (cues.followup && !short_thanks)
}

impl Engine<'_> {
    /// The repair a message makes, if it makes one; `None` lets the dialogue go on as usual.
    pub(super) fn repair(
        &self,
        conv: &mut Conversation,
        u: &Understanding,
        ctx: &TurnContext,
    ) -> Option<Decision> {
        let role = self.role_of(u);
        let named = u.given(EntityKind::OrderNumber).map(|e| e.value.clone());
        // "And the late one?" names the one late order as surely as its number would.
        let order = named
            .clone()
            .or_else(|| match self.pointed_order(&u.tokens, ctx) {
                Described::One(id) => Some(id),
                _ => None,
            });
        // "Et celle en retard ?" when two of the customer's orders are late: which one is asked, from
        // the list of her orders, rather than the topic's order taken again.
        if named.is_none()
            && conv.state == DialogueState::Listening
            && matches!(self.pointed_order(&u.tokens, ctx), Described::Several)
        {
            let topic = conv.topic.as_deref().and_then(|t| self.pack.get(t));
            let entity = topic.and_then(|t| {
                t.entities
                    .iter()
                    .find(|e| e.kind == EntityKind::OrderNumber)
            });
            if let (Some(topic), Some(entity), Some((list, ids))) =
                (topic, entity, self.orders_to_pick(ctx))
            {
                conv.fallbacks_in_row = 0;
                conv.state = DialogueState::AwaitingEntity {
                    intent: topic.name.clone(),
                    entity: entity.name.clone(),
                    collected: Collected::new(),
                    attempts: 1,
                };
                return Some(Decision::say(list).about(&topic.name).with_replies(&ids));
            }
        }
        let cues = u.cues;
        // "Bye" and "thanks" close; a guess at them short of certain that leans on the topic ("when will
        // that be done") does not.
        let leans = leans_on_topic(u, role);
        let closing = cues.done
            || (matches!(role, Some(Role::Goodbye | Role::Thanks))
                && (u.confidence >= 1.0 || !leans));
        match conv.state.clone() {
            // "ok that's it", "rien d'autre", "thanks", "bye" to a survey question: it ends, politely.
            DialogueState::Survey { step, .. } => {
                let answer = match step {
                    Step::Rating => super::survey::Rating::parse(ctx.text).is_ok(),
                    // "Yes thanks", "oui merci", "y": a yes, and the survey goes on; only a goodbye
                    // or "that's all" with it ends it ("yes bye").
                    Step::Solved => {
                        role == Some(Role::Affirm)
                            || (role == Some(Role::Deny) && !cues.done)
                            || (leading_yes_or_no(&u.tokens).is_some()
                                && !cues.done
                                && role != Some(Role::Goodbye))
                    }
                    // "No thanks" to the offer of a person declines it: the rating follows; "yes
                    // thanks" takes it.
                    Step::Person => {
                        matches!(role, Some(Role::Affirm | Role::Deny))
                            || leading_yes_or_no(&u.tokens).is_some()
                    }
                    Step::Comment => !closing && !cues.drop_flow,
                };
                // "I don't want to do a survey", "non merci pas de sondage": none is done (a "no" that
                // names the survey is about the survey, not the problem), and the customer is let go.
                let survey_words = [
                    "survey",
                    "surveys",
                    "questionnaire",
                    "questionnaires",
                    "sondage",
                    "sondages",
                ];
                let declined = (!answer || role == Some(Role::Deny))
                    && u.tokens.iter().any(|t| survey_words.contains(&t.as_str()));
                // "Yes thanks", "no bye", "oui merci": the answer, then the goodbye. It is kept and the
                // survey ends there, as the customer is leaving.
                if step == Step::Solved
                    && (closing || role == Some(Role::Goodbye))
                    && !answer
                    && !declined
                {
                    if let Some(yes) = leading_yes_or_no(&u.tokens) {
                        if !yes {
                            conv.resolved = false;
                            conv.unsolved = true;
                        }
                        let said = if yes { "yes" } else { "no" };
                        let answers = vec![(super::survey::SOLVED.to_string(), said.to_string())];
                        return Some(self.finish_survey(conv, ctx, answers));
                    }
                }
                if declined || ((closing || cues.drop_flow) && !answer) {
                    // Nothing answered yet: a goodbye, not thanks "for your answers".
                    if step == Step::Solved || declined {
                        let outcome = self.outcome(conv);
                        conv.state = Default::default();
                        return Some(
                            Decision::say(plain(&self.messages(ctx).goodbye)).ending(outcome),
                        );
                    }
                    return Some(self.finish_survey(conv, ctx, Vec::new()));
                }
                None
            }
            DialogueState::AwaitingConfirmation { intent, collected } => {
                let def = self.pack.get(&intent)?;
                // "C'est bon", "that's fine" read as a yes here, not as "that's all".
                let words = u.tokens.join(" ");
                let fine = matches!(
                    words.as_str(),
                    "c est bon"
                        | "oui c est bon"
                        | "ok c est bon"
                        | "c est parfait"
                        | "parfait"
                        | "that s fine"
                        | "that s good"
                        | "fine"
                        | "that works"
                );
                if fine {
                    conv.fallbacks_in_row = 0;
                    return Some(self.advance(conv, def, collected, ctx, true));
                }
                // A guess at "bye" short of certain ("hmm maybe later") declines without hanging up.
                let closing = closing
                    && role != Some(Role::Affirm)
                    && !(role == Some(Role::Goodbye) && u.confidence < 1.0 && !cues.done);
                let later = role == Some(Role::Goodbye) && !closing;
                if cues.drop_flow || later || (closing && role != Some(Role::Thanks)) {
                    conv.state = DialogueState::Listening;
                    let m = self.messages(ctx);
                    if closing {
                        let outcome = self.outcome(conv);
                        let mut said = plain(&m.nothing_changed);
                        said.push(&plain(&m.goodbye));
                        return Some(Decision::say(said).about(&intent).ending(outcome));
                    }
                    return Some(Decision::say(plain(&m.confirm_declined)).about(&intent));
                }
                // "Thanks" is not a yes: nothing was done, and the question stands.
                if role == Some(Role::Thanks) {
                    let m = self.messages(ctx);
                    let mut said = plain(&m.nothing_changed);
                    said.push(&self.confirm_question(def, &collected, ctx));
                    conv.state = DialogueState::AwaitingConfirmation { intent, collected };
                    return Some(
                        Decision::say(said)
                            .about(&def.name)
                            .with_replies(&self.messages(ctx).yes_no),
                    );
                }
                // "No, I meant 5521", "yes, send it to 14 avenue Foch instead": the details change, and
                // the new ones are confirmed.
                let changed = self.changed_details(def, &collected, u);
                if changed != collected && (role != Some(Role::Deny) || cues.correction) {
                    conv.state = DialogueState::Listening;
                    return Some(self.advance(conv, def, changed, ctx, false));
                }
                // "Wait no, don't cancel it!", "j'ai changé d'avis": a no, however it is put (else the
                // question stands, and the next "yes" would do what the customer refused).
                if cues.refuses && role != Some(Role::Affirm) {
                    conv.state = DialogueState::Listening;
                    let m = self.messages(ctx);
                    return Some(Decision::say(plain(&m.confirm_declined)).about(&intent));
                }
                None
            }
            DialogueState::AwaitingEntity {
                intent,
                entity,
                collected,
                attempts,
            } => {
                // "The one being prepared", "the second one" (from the list offered), "celle en
                // retard": the one of the customer's orders that fits, when only one does.
                let asks_order = self
                    .pack
                    .get(&intent)
                    .and_then(|d| d.entities.iter().find(|e| e.name == entity))
                    .is_some_and(|e| e.kind == EntityKind::OrderNumber);
                // "C'est celle qui devait arriver le 1er décembre": the one order due that day.
                const DUE: &[&str] = &[
                    "due",
                    "supposed",
                    "meant",
                    "expected",
                    "arrive",
                    "arriving",
                    "arriver",
                    "devait",
                    "prevue",
                    "attendue",
                    "livree",
                    "delivered",
                    "livrer",
                ];
                let speaks_of_due = u.tokens.iter().any(|t| DUE.contains(&t.as_str()));
                let due_that_day = u
                    .given(EntityKind::Date)
                    .filter(|_| speaks_of_due)
                    .and_then(|d| {
                        let mut due = ctx
                            .customer
                            .orders
                            .iter()
                            // (Its day and month: a past date is read as next year's.)
                            .filter(|o| {
                                o.eta
                                    .as_deref()
                                    .is_some_and(|eta| eta.get(4..) == d.value.get(4..))
                            });
                        match (due.next(), due.next()) {
                            (Some(o), None) => Some(o.id.clone()),
                            _ => None,
                        }
                    });
                if asks_order && named.is_none() {
                    let described = match due_that_day {
                        Some(id) => Described::One(id),
                        None => self.order_described(&u.tokens, ctx, attempts > 0),
                    };
                    if let (Some(def), Described::One(id)) = (self.pack.get(&intent), described) {
                        let mut collected = collected;
                        collected.insert(entity, id);
                        conv.fallbacks_in_row = 0;
                        return Some(self.advance(conv, def, collected, ctx, false));
                    }
                }
                // "And the other one?" to "what's your order number?" (after one that was not found,
                // say) is no "no": the customer's other order, or the question again.
                if cues.other_one && order.is_none() {
                    if let Some(d) =
                        self.other_order_asked(conv, &intent, &entity, &collected, attempts, ctx)
                    {
                        return Some(d);
                    }
                }
                // "Oh well, never mind, goodbye": the goodbye wins.
                if cues.drop_flow && order.is_none() && role == Some(Role::Goodbye) {
                    conv.state = DialogueState::Listening;
                    let goodbye = self.pack.with_role(Role::Goodbye)?;
                    return Some(self.goodbye(conv, goodbye, ctx));
                }
                // "Actually no, don't cancel it, I changed my mind" to "which order?": nothing is
                // done, and the customer hears so.
                let acts = self.pack.get(&intent).is_some_and(|d| d.action.is_some());
                if acts
                    && order.is_none()
                    && role != Some(Role::Affirm)
                    // ("Hold on" while looking for the number, "I no longer have the email": none.)
                    && crate::nlu::discourse::takes_back(&u.tokens, &cues)
                {
                    conv.state = DialogueState::Listening;
                    conv.fallbacks_in_row = 0;
                    return Some(
                        Decision::say(plain(&self.messages(ctx).confirm_declined)).about(&intent),
                    );
                }
                if cues.drop_flow && order.is_none() {
                    conv.state = DialogueState::Listening;
                    return Some(
                        Decision::say(plain(&self.messages(ctx).flow_dropped)).about(&intent),
                    );
                }
                // "Cool", "ok thanks" while the bot waits for the address: no goodbye (only "bye" or
                // "that's all" is one); the question is asked again. "That's it??" is no closing.
                let asks = ctx.text.contains('?');
                let only_thanks = role == Some(Role::Thanks) && !cues.done && u.tokens.len() <= 3;
                if (only_thanks || (asks && role != Some(Role::Goodbye)))
                    && closing
                    && order.is_none()
                    && u.entities.is_empty()
                {
                    if let Some((question, replies)) = self.pending_question(conv, ctx) {
                        conv.fallbacks_in_row = 0;
                        return Some(
                            Decision::say(question)
                                .about(&intent)
                                .with_replies(&replies),
                        );
                    }
                }
                if closing && order.is_none() && u.intent.as_ref().is_none_or(|i| !self.is_topic(i))
                {
                    conv.state = DialogueState::Listening;
                    let goodbye = self.pack.with_role(Role::Goodbye)?;
                    return Some(self.goodbye(conv, goodbye, ctx));
                }
                None
            }
            DialogueState::OfferedHuman | DialogueState::AwaitingRecall { .. }
                if cues.drop_flow && role != Some(Role::Affirm) =>
            {
                conv.state = DialogueState::Listening;
                // "Bon tant pis, ma commande 6620 elle arrive quand ?": the offer lapses and the
                // request is served.
                if order.is_some() || self.is_new_request(u) {
                    return None;
                }
                Some(Decision::say(plain(&self.messages(ctx).flow_dropped)))
            }
            // "Et si elles sont pas là samedi, je fais quoi ?" to the offer of a person: no yes or no
            // but the topic followed up, which is answered; the offer lapses.
            DialogueState::OfferedHuman
                if u.intent.is_none() && (cues.timing || cues.followup || cues.other_one) =>
            {
                conv.state = DialogueState::Listening;
                let d = self.follow_topic(conv, u, ctx, order);
                if d.is_none() {
                    conv.state = DialogueState::OfferedHuman;
                }
                d
            }
            DialogueState::OfferedHuman | DialogueState::AwaitingRecall { .. } => None,
            DialogueState::Listening => self.follow_topic(conv, u, ctx, order),
        }
    }

    /// The collected details of a pending action with what the message changes: an entity of a kind the
    /// intent takes, with another value.
    fn changed_details(&self, def: &Intent, collected: &Collected, u: &Understanding) -> Collected {
        let mut changed = collected.clone();
        for spec in &def.entities {
            if let Some(e) = u.given(spec.kind) {
                changed.insert(spec.name.clone(), e.value.clone());
            }
        }
        changed
    }

    /// The order a customer picks from their orders by what it is ("the delivered one", "the one being
    /// prepared", "celle en retard") or, once the list was offered (`listed`), by its place in it ("the
    /// second one", "la dernière"); in a short message only.
    pub(super) fn order_described(
        &self,
        tokens: &[String],
        ctx: &TurnContext,
        listed: bool,
    ) -> Described {
        let orders = &ctx.customer.orders;
        if orders.len() < 2 || tokens.len() > 10 {
            return Described::Nothing;
        }
        let has = |words: &[&str]| tokens.iter().any(|t| words.contains(&t.as_str()));
        let shown = &orders[..orders.len().min(4)];
        if listed {
            let place = [
                (&["first", "premiere", "premier"][..], 0),
                (&["second", "deuxieme", "seconde"][..], 1),
                (&["third", "troisieme"][..], 2),
                (&["fourth", "quatrieme"][..], 3),
                (&["last", "derniere", "dernier"][..], shown.len() - 1),
            ]
            .iter()
            .find(|(words, _)| has(words))
            .map(|(_, i)| *i);
            if let Some(o) = place.and_then(|i| shown.get(i)) {
                return Described::One(o.id.clone());
            }
        }
        let late = has(&["late", "overdue", "retard"]);
        let labels = &self.messages(ctx).order_status;
        let spaced = format!(" {} ", tokens.join(" "));
        let said = |words: &str| {
            let words = crate::nlu::normalize::normalize(words).tokens.join(" ");
            !words.is_empty() && spaced.contains(&format!(" {words} "))
        };
        let mut fits = orders.iter().filter(|o| {
            if late {
                super::overdue(o, ctx.today)
            } else {
                labels.get(&o.status).is_some_and(|l| said(l)) || said(&o.status.replace('_', " "))
            }
        });
        match (fits.next(), fits.next()) {
            (Some(o), None) => Described::One(o.id.clone()),
            (Some(_), Some(_)) => Described::Several,
            _ => Described::Nothing,
        }
    }

    /// No question pending: a message read in the topic's context.
    fn follow_topic(
        &self,
        conv: &mut Conversation,
        u: &Understanding,
        ctx: &TurnContext,
        order: Option<String>,
    ) -> Option<Decision> {
        // "That's all, goodbye" closes; the dialogue handles it.
        if u.cues.done || u.cues.drop_flow {
            return None;
        }
        let request = u
            .intent
            .as_ref()
            .filter(|i| self.is_topic(i))
            .and_then(|i| self.pack.get(i));
        // "C'est alice.nouvelle@example.com" after asking how to change one's email: the topic's
        // email, given.
        if let (None, Some(email)) = (request, u.given(EntityKind::Email)) {
            let def = conv.topic.as_deref().and_then(|t| self.pack.get(t));
            if let Some((def, spec)) = def.and_then(|d| {
                d.entities
                    .iter()
                    .find(|e| e.kind == EntityKind::Email)
                    .map(|spec| (d, spec))
            }) {
                let mut collected = Collected::new();
                collected.insert(spec.name.clone(), email.value.clone());
                conv.fallbacks_in_row = 0;
                return Some(self.advance(conv, def, collected, ctx, false));
            }
        }
        let topic = conv
            .topic
            .clone()
            .and_then(|t| self.pack.get(&t))
            .filter(|t| t.entities.iter().any(|e| e.kind == EntityKind::OrderNumber));
        let Some(topic) = topic else {
            // A bare order number, no topic that takes one: the intent the pack names for it (where is
            // it).
            if let (Some(order), true) = (&order, request.is_none()) {
                if only_an_order(u) {
                    let def = self
                        .pack
                        .intents
                        .iter()
                        .find(|i| i.default_for == Some(EntityKind::OrderNumber))?;
                    return Some(self.serve_with_order(conv, def, order, ctx, false));
                }
            }
            return None;
        };
        // "Oops wrong one, I meant 3321", "it's 5521" while talking about a refund.
        if let Some(order) = &order {
            let weak_other = request.is_some_and(|r| {
                r.name != topic.name
                    && r.action.is_none()
                    && u.confidence < 1.0
                    && (only_an_order(u) || topic.related.contains(&r.name))
            });
            if request.is_none()
                || weak_other
                || (u.cues.correction && request.is_none_or(|r| r.action.is_none()))
            {
                return Some(self.serve_with_order(conv, topic, order, ctx, false));
            }
            return None;
        }
        let cues = u.cues;
        // A yes, no, thanks or goodbye short of certain, with a follow-up cue, is no new request: "and
        // the other one?" is no "no", "when will that be done" no goodbye.
        let leans = leans_on_topic(u, self.role_of(u));
        let role_guess = u.intent.is_some()
            && request.is_none()
            && u.confidence < 1.0
            && leans
            && !matches!(self.role_of(u), Some(Role::Handoff | Role::Help));
        // A weak guess at another request that leans on the topic ("is there an update at least" is no
        // request to update one's details).
        // A reading the topic names as related, with a follow-up cue ("still nothing on my card" after
        // a refund question), is the topic followed up too.
        let weak_request = request.is_some_and(|r| r.name != topic.name && r.action.is_none())
            && leans
            && (u.confidence < super::NEW_REQUEST
                || request.is_some_and(|r| topic.related.contains(&r.name)));
        if (request.is_some() && !weak_request)
            || (u.intent.is_some() && !role_guess && !weak_request)
        {
            return None;
        }
        // "And the other one?", "no, the other order", "et pour la deuxième ?".
        if cues.other_one || cues.correction {
            if let Some(other) = the_other_order(ctx, &[conv.topic_order.as_deref()]) {
                return Some(self.serve_with_order(conv, topic, &other, ctx, false));
            }
            // Several others: which one?
            let spec = topic
                .entities
                .iter()
                .find(|e| e.kind == EntityKind::OrderNumber)?;
            return self.ask_again_for(conv, topic, spec, Collected::new(), 0, ctx);
        }
        // "When will that be done?", "still nothing", "j'attends depuis dix jours": the topic's next
        // piece of information.
        if cues.timing || cues.followup {
            let order = conv.topic_order.clone();
            return Some(match order {
                Some(order) => self.serve_with_order(conv, topic, &order, ctx, true),
                None => {
                    conv.followup_next = true;
                    self.advance(conv, topic, Collected::new(), ctx, false)
                }
            });
        }
        None
    }

    /// "The other one" while an order number is asked for: served when the customer has one order
    /// besides the one discussed (or given and not found), asked for again otherwise, the attempt not
    /// counted (they answered, without a number). `None` when the question is not an order number.
    fn other_order_asked(
        &self,
        conv: &mut Conversation,
        intent: &str,
        entity: &str,
        collected: &Collected,
        attempts: u32,
        ctx: &TurnContext,
    ) -> Option<Decision> {
        let def = self.pack.get(intent)?;
        let spec = def
            .entities
            .iter()
            .find(|e| e.name == entity && e.kind == EntityKind::OrderNumber)?;
        let discussed = [
            conv.topic_order.as_deref(),
            collected.get(entity).map(String::as_str),
        ];
        if let Some(other) = the_other_order(ctx, &discussed) {
            return Some(self.serve_with_order(conv, def, &other, ctx, false));
        }
        self.ask_again_for(conv, def, spec, collected.clone(), attempts, ctx)
    }

    /// Asks for `spec` of `def` (in the customer's language), and waits for it with what was
    /// collected and the attempts made so far.
    fn ask_again_for(
        &self,
        conv: &mut Conversation,
        def: &Intent,
        spec: &EntitySpec,
        collected: Collected,
        attempts: u32,
        ctx: &TurnContext,
    ) -> Option<Decision> {
        let ask = spec
            .ask
            .get(&ctx.lang)
            .or_else(|| spec.ask.values().next())?;
        let asked = ask.render(&self.lookup(ctx, &collected))?;
        conv.state = DialogueState::AwaitingEntity {
            intent: def.name.clone(),
            entity: spec.name.clone(),
            collected,
            attempts,
        };
        Some(Decision::say(asked).about(&def.name))
    }

    /// Serves `def` about `order` (replacing the topic's order), as a follow-up when `followup`.
    pub(super) fn serve_with_order(
        &self,
        conv: &mut Conversation,
        def: &Intent,
        order: &str,
        ctx: &TurnContext,
        followup: bool,
    ) -> Decision {
        conv.fallbacks_in_row = 0;
        let mut collected = Collected::new();
        if let Some(spec) = def
            .entities
            .iter()
            .find(|e| e.kind == EntityKind::OrderNumber)
        {
            collected.insert(spec.name.clone(), order.to_string());
        }
        conv.topic_order = Some(order.to_string());
        conv.followup_next = followup;
        self.advance(conv, def, collected, ctx, false)
    }
}
