//! Property: whatever a caller says, every SSML and TwiML answer is well-formed XML.

use crate::helpers::{TestBot, assert_well_formed};
use parcours::channel::twilio::twiml;
use parcours::message::{Channel, Inbound};
use proptest::prelude::*;
use std::sync::LazyLock;

/// One trained bot for every case: training per case would dominate the run.
static BOT: LazyLock<TestBot> = LazyLock::new(|| TestBot::new().with_alice());

/// Text built from the characters that break markup, Unicode oddities, and words that reach answers.
fn nasty_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<".to_string()),
        Just(">".to_string()),
        Just("&".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("]]>".to_string()),
        Just("<speak>".to_string()),
        Just("&amp;".to_string()),
        Just("\u{0}".to_string()),
        Just("\u{1b}".to_string()),
        Just("\u{fffe}".to_string()),
        Just("\u{202e}".to_string()),
        Just("🙂".to_string()),
        Just(" order ".to_string()),
        Just(" 4567 ".to_string()),
        Just(" my email is ".to_string()),
        Just("x@y.com".to_string()),
        Just(" tomorrow ".to_string()),
        Just(" où est ma commande ".to_string()),
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_answer_is_well_formed_ssml_and_twiml(texts in prop::collection::vec(nasty_text(), 1..4)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let t = &*BOT;
        rt.block_on(async {
            for text in texts {
                let mut msg = Inbound::text(Channel::Twilio, "+33612345678", text);
                msg.session = Some("CAprop".into());
                let reply = t.bot.handle(msg).await.unwrap();
                assert_well_formed(&reply.ssml);
                assert_well_formed(&twiml(&reply));
            }
        });
    }
}
