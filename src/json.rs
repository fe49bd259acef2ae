//! The JSON a turn writes every time, by hand: a line of the transcript, the conversation's record
//! around its lines, the engine's state of it, its entry in the customer's history, the customer's
//! record when it changes, and the voice reply. serde_json escapes a string one byte at a time and hands every piece, down to a
//! quote, to `io::Write`; here a constant part is one copy, and a string's bytes are looked at eight
//! at a time, copied in runs. The text is serde_json's own, byte for byte (the tests hold them side
//! by side), so either reads what the other wrote; what is rare (a handoff's owner, a float) goes
//! through serde_json itself.

use crate::engine::survey::Step;
use crate::engine::{Conversation, DialogueState};
use crate::store::Contact;
use crate::store::model::{Customer, Order, Owner, Speaker, Touchpoint, Turn};
use serde::Serialize;

/// A string as JSON, quoted and escaped as serde_json does: `"` and `\`, the control characters
/// (`\b \t \n \f \r` by name, the others as `\u00XX`), nothing else.
pub fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Eight bytes at once while none of them needs escaping (most text).
        if let Some(word) = bytes.get(i..i + 8) {
            let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
            if !needs_escape(word) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        if let Some(short) = escape(b) {
            out.extend_from_slice(&bytes[copied..i]);
            match short {
                b'u' => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.extend_from_slice(&[
                        b'\\',
                        b'u',
                        b'0',
                        b'0',
                        HEX[usize::from(b >> 4)],
                        HEX[usize::from(b & 0xf)],
                    ]);
                }
                c => out.extend_from_slice(&[b'\\', c]),
            }
            copied = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[copied..]);
    out.push(b'"');
}

/// Whether any of the eight bytes of `word` is below 0x20, a `"` or a `\` (may say so of a word that
/// has none, never the reverse: it only sends the word to the byte-by-byte path).
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    let zero_in = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    below_space
        | zero_in(word ^ (ONES * u64::from(b'"')))
        | zero_in(word ^ (ONES * u64::from(b'\\')))
        != 0
}

/// How a byte is escaped: the letter after the backslash (`u` for `\u00XX`), or `None`.
fn escape(b: u8) -> Option<u8> {
    match b {
        b'"' => Some(b'"'),
        b'\\' => Some(b'\\'),
        0x08 => Some(b'b'),
        b'\t' => Some(b't'),
        b'\n' => Some(b'n'),
        0x0c => Some(b'f'),
        b'\r' => Some(b'r'),
        0..0x20 => Some(b'u'),
        _ => None,
    }
}

pub fn number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// What serde_json writes of a value: for the fields rare enough not to be worth writing by hand.
pub fn serde(out: &mut Vec<u8>, value: &impl Serialize) -> Result<(), serde_json::Error> {
    serde_json::to_writer(&mut *out, value)
}

fn speaker(s: Speaker) -> &'static [u8] {
    match s {
        Speaker::Customer => b"\"customer\"",
        Speaker::Bot => b"\"bot\"",
        Speaker::Staff => b"\"staff\"",
        Speaker::System => b"\"system\"",
    }
}

/// `"key":` after a field (`,"key":`).
pub fn key(out: &mut Vec<u8>, key: &str) {
    out.push(b',');
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// An array, each item written by `each`.
fn list<T>(
    out: &mut Vec<u8>,
    items: impl IntoIterator<Item = T>,
    mut each: impl FnMut(&mut Vec<u8>, T),
) {
    out.push(b'[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        each(out, item);
    }
    out.push(b']');
}

fn strings<'a>(out: &mut Vec<u8>, items: impl IntoIterator<Item = &'a String>) {
    list(out, items, |out, s| string(out, s));
}

/// A turn, as `serde_json::to_writer` writes it.
pub fn turn(out: &mut Vec<u8>, t: &Turn) -> Result<(), serde_json::Error> {
    // Every field named: one added to `Turn` does not compile here until it is written.
    let Turn {
        at: _,
        speaker: _,
        text: _,
        intent: _,
        confidence: _,
        asr_confidence: _,
        irritants: _,
        author: _,
    } = t;
    out.extend_from_slice(b"{\"at\":");
    number(out, t.at.0);
    key(out, "speaker");
    out.extend_from_slice(speaker(t.speaker));
    key(out, "text");
    string(out, &t.text);
    if let Some(intent) = &t.intent {
        key(out, "intent");
        string(out, intent);
    }
    if let Some(c) = t.confidence {
        key(out, "confidence");
        serde(out, &c)?;
    }
    if let Some(c) = t.asr_confidence {
        key(out, "asr_confidence");
        serde(out, &c)?;
    }
    if !t.irritants.is_empty() {
        key(out, "irritants");
        serde(out, &t.irritants)?;
    }
    if let Some(author) = &t.author {
        key(out, "author");
        string(out, author);
    }
    out.push(b'}');
    Ok(())
}

/// A conversation, as `serde_json::to_writer` writes it.
pub fn touchpoint(out: &mut Vec<u8>, tp: &Touchpoint) -> Result<(), serde_json::Error> {
    // Every field named, as for a turn.
    let Touchpoint {
        id: _,
        customer_id: _,
        channel: _,
        user: _,
        session: _,
        lang: _,
        started_at: _,
        last_at: _,
        ended_at: _,
        turns: _,
        intents: _,
        outcome: _,
        survey: _,
        state: _,
        owner: _,
        outbox: _,
        handled_by: _,
        queued_at: _,
        claimed_at: _,
    } = tp;
    out.extend_from_slice(b"{\"id\":");
    string(out, &tp.id);
    key(out, "customer_id");
    string(out, &tp.customer_id);
    key(out, "channel");
    string(out, tp.channel.as_str());
    key(out, "user");
    string(out, &tp.user);
    if let Some(session) = &tp.session {
        key(out, "session");
        string(out, session);
    }
    key(out, "lang");
    string(out, tp.lang.code());
    key(out, "started_at");
    number(out, tp.started_at.0);
    key(out, "last_at");
    number(out, tp.last_at.0);
    if let Some(at) = tp.ended_at {
        key(out, "ended_at");
        number(out, at.0);
    }
    key(out, "turns");
    out.push(b'[');
    for (i, t) in tp.turns.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        turn(out, t)?;
    }
    out.push(b']');
    key(out, "intents");
    strings(out, &tp.intents);
    if let Some(outcome) = &tp.outcome {
        key(out, "outcome");
        serde(out, outcome)?;
    }
    key(out, "survey");
    string_map(out, &tp.survey);
    key(out, "state");
    out.extend_from_slice(tp.state.json().as_bytes());
    if tp.owner != Owner::Bot {
        key(out, "owner");
        serde(out, &tp.owner)?;
    }
    if !tp.outbox.is_empty() {
        key(out, "outbox");
        strings(out, &tp.outbox);
    }
    if let Some(by) = &tp.handled_by {
        key(out, "handled_by");
        string(out, by);
    }
    if let Some(at) = tp.queued_at {
        key(out, "queued_at");
        number(out, at.0);
    }
    if let Some(at) = tp.claimed_at {
        key(out, "claimed_at");
        number(out, at.0);
    }
    out.push(b'}');
    Ok(())
}

/// An entry of a customer's history (the `tp_customer` index), as `serde_json::to_writer` writes it.
pub fn contact(out: &mut Vec<u8>, c: &Contact) -> Result<(), serde_json::Error> {
    // Every field named, as for a turn.
    let Contact {
        id: _,
        channel: _,
        user: _,
        started_at: _,
        ended_at: _,
        outcome: _,
        intents: _,
        outbox: _,
    } = c;
    out.extend_from_slice(b"{\"id\":");
    string(out, &c.id);
    key(out, "channel");
    string(out, c.channel.as_str());
    key(out, "user");
    string(out, &c.user);
    key(out, "started_at");
    number(out, c.started_at.0);
    if let Some(at) = c.ended_at {
        key(out, "ended_at");
        number(out, at.0);
    }
    if let Some(outcome) = &c.outcome {
        key(out, "outcome");
        serde(out, outcome)?;
    }
    key(out, "intents");
    strings(out, &c.intents);
    key(out, "outbox");
    out.extend_from_slice(if c.outbox { b"true" } else { b"false" });
    out.push(b'}');
    Ok(())
}

/// The separators of an object whose fields may each be left out: a comma before every field but
/// the first written.
struct Fields<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Fields<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Fields { out, first: true }
    }

    /// `"name":`, after a comma unless it is the first field; the value is the caller's to write.
    fn key(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    fn string(&mut self, name: &str, value: &str) {
        string(self.key(name), value);
    }

    fn number(&mut self, name: &str, value: u64) {
        number(self.key(name), value);
    }

    fn bool(&mut self, name: &str, value: bool) {
        let out = self.key(name);
        out.extend_from_slice(if value { b"true" } else { b"false" });
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// A map of strings to strings, as serde_json writes a `BTreeMap<String, String>`.
fn string_map(out: &mut Vec<u8>, map: &std::collections::BTreeMap<String, String>) {
    out.push(b'{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, k);
        out.push(b':');
        string(out, v);
    }
    out.push(b'}');
}

/// The engine's state of a conversation (written at every turn), as `serde_json::to_writer` writes
/// it: the fields at their defaults left out, the dialogue state tagged by its `kind`.
pub fn conversation(out: &mut Vec<u8>, c: &Conversation) -> Result<(), serde_json::Error> {
    // Every field named, as for a turn.
    let Conversation {
        state,
        fallbacks_in_row,
        silences_in_row,
        resolved,
        fallback_turn,
        lang,
        surveyed,
        answered,
        turns,
        unsolved,
        topic,
        topic_order,
        served,
        followup_next,
        acknowledged,
        repeated,
        offered_for_repeat,
        also,
    } = c;
    let mut f = Fields::open(out);
    if *state != DialogueState::Listening {
        dialogue_state(f.key("state"), state);
    }
    for (name, n) in [
        ("fallbacks_in_row", *fallbacks_in_row),
        ("silences_in_row", *silences_in_row),
    ] {
        if n != 0 {
            f.number(name, u64::from(n));
        }
    }
    if *resolved {
        f.bool("resolved", true);
    }
    if *fallback_turn != 0 {
        f.number("fallback_turn", u64::from(*fallback_turn));
    }
    if let Some(lang) = lang {
        f.string("lang", lang.code());
    }
    if *surveyed {
        f.bool("surveyed", true);
    }
    if !answered.is_empty() {
        strings(f.key("answered"), answered);
    }
    if *turns != 0 {
        f.number("turns", u64::from(*turns));
    }
    if *unsolved {
        f.bool("unsolved", true);
    }
    if let Some(topic) = topic {
        f.string("topic", topic);
    }
    if let Some(order) = topic_order {
        f.string("topic_order", order);
    }
    if !served.is_empty() {
        strings(f.key("served"), served);
    }
    for (name, b) in [
        ("followup_next", *followup_next),
        ("acknowledged", *acknowledged),
        ("repeated", *repeated),
        ("offered_for_repeat", *offered_for_repeat),
    ] {
        if b {
            f.bool(name, true);
        }
    }
    if !also.is_empty() {
        strings(f.key("also"), also);
    }
    f.close();
    Ok(())
}

/// Where a dialogue stands, as serde_json writes the internally tagged enum: `kind` first.
fn dialogue_state(out: &mut Vec<u8>, state: &DialogueState) {
    let mut f = Fields::open(out);
    match state {
        DialogueState::Listening => f.string("kind", "listening"),
        DialogueState::AwaitingEntity {
            intent,
            entity,
            collected,
            attempts,
        } => {
            f.string("kind", "awaiting_entity");
            f.string("intent", intent);
            f.string("entity", entity);
            string_map(f.key("collected"), collected);
            f.number("attempts", u64::from(*attempts));
        }
        DialogueState::AwaitingConfirmation { intent, collected } => {
            f.string("kind", "awaiting_confirmation");
            f.string("intent", intent);
            string_map(f.key("collected"), collected);
        }
        DialogueState::OfferedHuman => f.string("kind", "offered_human"),
        DialogueState::AwaitingRecall { intent, order } => {
            f.string("kind", "awaiting_recall");
            f.string("intent", intent);
            if let Some(order) = order {
                f.string("order", order);
            }
        }
        DialogueState::Survey { step, retried } => {
            f.string("kind", "survey");
            f.string(
                "step",
                match step {
                    Step::Solved => "solved",
                    Step::Person => "person",
                    Step::Rating => "rating",
                    Step::Comment => "comment",
                },
            );
            f.bool("retried", *retried);
        }
    }
    f.close();
}

/// A customer's record (written when a survey is asked, an address changed), as
/// `serde_json::to_writer` writes it.
pub fn customer(out: &mut Vec<u8>, c: &Customer) -> Result<(), serde_json::Error> {
    // Every field named, as for a turn.
    let Customer {
        id,
        name,
        email,
        phone,
        loyalty_points,
        orders,
        attributes,
        created_at,
    } = c;
    let mut f = Fields::open(out);
    f.string("id", id);
    for (field, value) in [("name", name), ("email", email), ("phone", phone)] {
        if let Some(v) = value {
            f.string(field, v);
        }
    }
    if let Some(points) = loyalty_points {
        f.number("loyalty_points", *points);
    }
    list(f.key("orders"), orders, order);
    string_map(f.key("attributes"), attributes);
    f.number("created_at", created_at.0);
    f.close();
    Ok(())
}

fn order(out: &mut Vec<u8>, o: &Order) {
    let Order {
        id,
        status,
        eta,
        address,
        previous_status,
        previous_eta,
    } = o;
    let mut f = Fields::open(out);
    f.string("id", id);
    f.string("status", status);
    for (field, value) in [
        ("eta", eta),
        ("address", address),
        ("previous_status", previous_status),
        ("previous_eta", previous_eta),
    ] {
        if let Some(v) = value {
            f.string(field, v);
        }
    }
    f.close();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Channel, Lang};
    use crate::store::model::{Irritant, Outcome, State};
    use crate::time::Timestamp;
    use proptest::prelude::*;

    fn by_hand(s: &str) -> String {
        let mut out = Vec::new();
        string(&mut out, s);
        String::from_utf8(out).expect("UTF-8 in, UTF-8 out")
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut every_control: String = (0u8..0x20).map(char::from).collect();
        every_control.push_str("\u{7f}\"\\/é€😀\u{2028}");
        for s in [
            "",
            "a",
            "\"",
            "\\",
            "12345678",
            "1234567\"",
            "\"1234567",
            "12345678\n",
            "plain text long enough for several words at once",
            "<speak>Commande n° 4567 : livrée « demain » \\ </speak>",
            &every_control,
        ] {
            assert_eq!(by_hand(s), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    proptest! {
        #[test]
        fn any_string_is_escaped_as_serde_json_escapes_it(s in "\\PC*|[\\x00-\\x7f]{0,40}|.{0,40}") {
            prop_assert_eq!(by_hand(&s), serde_json::to_string(&s).unwrap());
        }
    }

    /// What `write` wrote, against what serde_json writes of `value`.
    fn assert_written_as_serde<T: Serialize>(
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), serde_json::Error>,
        value: &T,
    ) {
        let mut out = Vec::new();
        write(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(value).unwrap()
        );
    }

    fn turn_with(speaker: Speaker, text: &str) -> Turn {
        Turn::said(Timestamp(1_764_000_000_123), speaker, text.into())
    }

    #[test]
    fn turns_are_written_as_serde_json_writes_them() {
        let mut full = turn_with(Speaker::Customer, "where is \"my\" order?\n");
        full.intent = Some("order_status".into());
        full.confidence = Some(0.8734);
        full.asr_confidence = Some(f32::NAN);
        full.irritants = vec![Irritant::NegativeSentiment, Irritant::BackendError];
        full.author = Some("Zoé".into());
        let mut tiny = turn_with(Speaker::Staff, "");
        tiny.confidence = Some(1.0);
        for t in [
            full,
            tiny,
            turn_with(Speaker::Bot, "It left on Monday."),
            Turn::system(Timestamp(0), Some("sam"), "taken".into()),
        ] {
            assert_written_as_serde(|out| turn(out, &t), &t);
        }
    }

    #[test]
    fn customers_are_written_as_serde_json_writes_them() {
        let bare = Customer {
            id: "cus_1".into(),
            ..Customer::default()
        };
        let mut full = Customer {
            id: "cus_\"2\"".into(),
            name: Some("Zoé <b>".into()),
            email: Some("z@example.com".into()),
            phone: Some("+33 6 12".into()),
            loyalty_points: Some(120),
            orders: vec![Order {
                id: "4567".into(),
                status: "shipped".into(),
                ..Order::default()
            }],
            attributes: [("last_survey_at".to_string(), "1796624600160".to_string())]
                .into_iter()
                .collect(),
            created_at: Timestamp(1_764_000_000_123),
        };
        full.orders.push(Order {
            id: "1\n2".into(),
            status: "cancelled".into(),
            eta: Some("2026-11-25".into()),
            address: Some("1 rue \"Haute\"".into()),
            previous_status: Some("processing".into()),
            previous_eta: Some("2026-11-24".into()),
        });
        let mut some = bare.clone();
        some.phone = Some("+1555".into());
        some.attributes.insert("tier".into(), "gold".into());
        for c in [bare, full, some] {
            assert_written_as_serde(|out| customer(out, &c), &c);
        }
    }

    #[test]
    fn conversations_are_written_as_serde_json_writes_them() {
        let bare = Touchpoint::new(
            "tp_1f".into(),
            "cu_7".into(),
            Channel::Voice,
            "+33 6 12".into(),
            Timestamp(5),
        );
        let mut full = bare.clone();
        full.session = Some("CA\"x".into());
        full.lang = Lang::Fr;
        full.ended_at = Some(Timestamp(9));
        full.turns = vec![
            turn_with(Speaker::Customer, "bonjour"),
            turn_with(Speaker::Bot, "Bonjour !"),
        ];
        full.intents = vec!["greet".into(), "order_status".into()];
        full.outcome = Some(Outcome::HandedOff);
        full.survey.insert("nps".into(), "9".into());
        full.survey.insert("solved".into(), "yes".into());
        full.state =
            State::of(&serde_json::json!({"slots": {"order": "4567"}, "n": [1, 2]})).unwrap();
        full.owner = Owner::Waiting {
            since: Timestamp(7),
            reason: "human_agent".into(),
            callback: true,
            ticket: false,
            told_position: 3,
            told_at: Timestamp(7),
        };
        full.outbox = vec!["on my way".into()];
        full.handled_by = Some("sam".into());
        full.queued_at = Some(Timestamp(7));
        full.claimed_at = Some(Timestamp(8));
        let mut others = Vec::new();
        for channel in Channel::ALL {
            for lang in Lang::ALL {
                let mut tp = bare.clone();
                tp.channel = channel;
                tp.lang = lang;
                others.push(tp);
            }
        }
        for outcome in [
            Outcome::Resolved,
            Outcome::Abandoned,
            Outcome::HandedOff,
            Outcome::Unresolved,
        ] {
            let mut tp = bare.clone();
            tp.outcome = Some(outcome);
            others.push(tp);
        }
        for tp in [bare, full].into_iter().chain(others) {
            assert_written_as_serde(|out| touchpoint(out, &tp), &tp);
            // And as the history's entry of it, with and without staff replies waiting.
            for outbox in [false, true] {
                let entry = Contact {
                    outbox,
                    ..Contact::from(&tp)
                };
                assert_written_as_serde(|out| contact(out, &entry), &entry);
            }
        }
    }

    #[test]
    fn voice_replies_are_written_as_serde_json_writes_them() {
        use crate::channel::voice::VoiceResponse;
        use crate::handoff::HandoffStatus;
        let plain = VoiceResponse {
            conversation_id: "tp_1f".into(),
            text: "Your order 4567 \"left\" today.\nAnything else?".into(),
            ssml: "<speak>Your order <say-as interpret-as=\"digits\">4567</say-as></speak>".into(),
            end_session: false,
            intent: None,
            handoff: None,
        };
        let handed = VoiceResponse {
            conversation_id: "tp_20".into(),
            text: "Someone will take it.".into(),
            ssml: "<speak>Someone will take it.</speak>".into(),
            end_session: true,
            intent: Some("human_agent".into()),
            handoff: Some(HandoffStatus {
                state: "waiting".into(),
                position: Some(2),
                staff: None,
                reference: "tp_20".into(),
                started: true,
            }),
        };
        for reply in [plain, handed] {
            assert_written_as_serde(
                |out| {
                    *out = reply.to_json()?;
                    Ok(())
                },
                &reply,
            );
        }
    }

    #[test]
    fn every_speaker_is_named_as_serde_names_it() {
        for s in [
            Speaker::Customer,
            Speaker::Bot,
            Speaker::Staff,
            Speaker::System,
        ] {
            assert_eq!(speaker(s), serde_json::to_string(&s).unwrap().as_bytes());
        }
    }
}
